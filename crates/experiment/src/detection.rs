//! The error-detection study: every checking code of xbar-ecc applied to the array each
//! scenario injects, and what output-side codes cannot see (input faults).

use crate::detection_protocol::{
    FaultSpec, InputFault, InputFaultRecord, Setup, detection_suite, input_fault_blindness,
};
use faer::Mat;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{DetectionSpec, ExperimentError, Prepared, Progress, Scenario};

/// One row of `detection.csv`: a code under one scenario's defect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionRow {
    /// Scenario index.
    pub scenario: u32,
    /// Sweep label (defect geometry).
    pub label: String,
    /// Size parameter.
    pub size: Option<f64>,
    /// Coded array.
    pub layer: u32,
    /// Stuck state.
    pub state: String,
    /// `pair` or `device`.
    pub level: String,
    /// The code.
    pub code: String,
    /// Faulty cells on the coded array.
    pub faulty_cells: u32,
    /// Coverage of the coded array (faulty cells / data cells).
    pub coverage: f64,
    /// Input vectors.
    pub vectors: u32,
    /// Vectors with a wrong output.
    pub erroneous: u32,
    /// `detected / erroneous`.
    pub detection_rate: f64,
    /// `corrected / erroneous` (0 for detect-only codes).
    pub correction_rate: f64,
    /// `missed / erroneous`.
    pub miss_rate: f64,
    /// Clean-run alarms per vector.
    pub false_alarm_rate: f64,
    /// Extra array columns.
    pub extra_columns: u32,
    /// Extra values sensed per input.
    pub extra_sensed_outputs: u32,
    /// Extra ADC bits.
    pub extra_adc_bits: f64,
}

/// Inputs of layer `l` in `[0, 1]`: the images for layer 0, the software network's
/// activations scaled by their maximum for later layers.
fn layer_inputs(prep: &Prepared, l: usize, n: usize) -> Mat<f64> {
    let x = prep.data.x.as_ref().subrows(0, n);
    if l == 0 {
        return x.to_owned();
    }
    let acts = prep.mlp().forward_layers(x);
    let a = &acts[l - 1];
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max(a[(i, j)]);
        }
    }
    let m = if m > 0.0 { m } else { 1.0 };
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] / m)
}

/// Runs the detection suite for every scenario (in parallel), keeping the code families of
/// `spec`. Rows come in scenario order, then code order.
pub fn run_detection(
    prep: &Prepared,
    spec: &DetectionSpec,
    scenarios: &[Scenario],
    progress: &dyn Progress,
) -> Result<Vec<DetectionRow>, ExperimentError> {
    let exp = &prep.exp;
    let n = spec.images.min(prep.data.len());
    let inputs: Vec<Mat<f64>> = (0..prep.mlp().layers.len())
        .map(|l| layer_inputs(prep, l, n))
        .collect();
    progress.begin("detect", scenarios.len() as u64);
    let rows: Vec<Result<Vec<DetectionRow>, ExperimentError>> = scenarios
        .par_iter()
        .map(|sc| {
            let l = sc.layers[0];
            let layer = &prep.mlp().layers[l];
            let setup = Setup {
                w: layer.w.as_ref(),
                b: &layer.b,
                x: inputs[l].as_ref(),
                device: exp.device.params,
                variability: exp.variability,
                sigma_read: spec.sigma_read,
                kappa: spec.kappa,
                seed: exp.seed ^ sc.stream,
            };
            let fault = FaultSpec {
                shape: sc.shape.clone(),
                state: sc.state,
                level: sc.level,
            };
            let recs = detection_suite(&setup, &fault, &spec.codes)
                .map_err(|e| ExperimentError::Ecc(e.to_string()))?;
            progress.advance(1);
            Ok(recs
                .into_iter()
                .map(|r| DetectionRow {
                    scenario: sc.index,
                    label: sc.label.clone(),
                    size: sc.size,
                    layer: l as u32,
                    state: sc.state.label(),
                    level: r.level.clone(),
                    coverage: f64::from(r.faulty_cells)
                        / ((layer.w.nrows() + 1) * layer.w.ncols()) as f64,
                    code: r.code,
                    faulty_cells: r.faulty_cells,
                    vectors: r.vectors,
                    erroneous: r.erroneous,
                    detection_rate: r.detection_rate,
                    correction_rate: r.correction_rate,
                    miss_rate: r.miss_rate,
                    false_alarm_rate: r.false_alarm_rate,
                    extra_columns: r.extra_columns,
                    extra_sensed_outputs: r.extra_sensed_outputs,
                    extra_adc_bits: r.extra_adc_bits,
                })
                .collect())
        })
        .collect();
    progress.end();
    let mut out = Vec::new();
    for r in rows {
        out.extend(r?);
    }
    Ok(out)
}

/// Input (DAC) faults on the most used input line of every swept layer: stuck low, stuck high
/// and a +20 mV offset. Output-side codes see a valid codeword and stay silent.
pub fn run_input_faults(
    prep: &Prepared,
    spec: &DetectionSpec,
) -> Result<Vec<(u32, InputFaultRecord)>, ExperimentError> {
    let exp = &prep.exp;
    let n = spec.images.min(prep.data.len());
    let mut layers: Vec<usize> = exp
        .sweeps
        .iter()
        .flat_map(|s| s.layer_sets.iter().map(|l| l[0]))
        .collect();
    layers.sort_unstable();
    layers.dedup();
    let mut out = Vec::new();
    for l in layers {
        let layer = &prep.mlp().layers[l];
        let x = layer_inputs(prep, l, n);
        let setup = Setup {
            w: layer.w.as_ref(),
            b: &layer.b,
            x: x.as_ref(),
            device: exp.device.params,
            variability: exp.variability,
            sigma_read: spec.sigma_read,
            kappa: spec.kappa,
            seed: exp.seed,
        };
        // The most used input line (largest mean input): its faults matter most.
        let line = (0..x.ncols())
            .map(|j| (j, (0..x.nrows()).map(|i| x[(i, j)]).sum::<f64>()))
            .fold((0, f64::MIN), |b, (j, m)| if m > b.1 { (j, m) } else { b })
            .0;
        for fault in [
            InputFault::StuckLow { line },
            InputFault::StuckHigh { line },
            InputFault::Offset { line, volts: 0.02 },
        ] {
            for r in input_fault_blindness(&setup, fault)
                .map_err(|e| ExperimentError::Ecc(e.to_string()))?
            {
                out.push((l as u32, r));
            }
        }
    }
    Ok(out)
}

/// The error-detection study as a [`Study`](crate::Study): one job per scenario, every code
/// family of the spec applied to the scenario's array.
pub struct DetectionStudy<'a> {
    prep: &'a Prepared,
    spec: &'a DetectionSpec,
    scenarios: &'a [Scenario],
}

impl<'a> DetectionStudy<'a> {
    /// The study of `scenarios` on the prepared network.
    pub fn new(
        prep: &'a Prepared,
        spec: &'a DetectionSpec,
        scenarios: &'a [Scenario],
    ) -> DetectionStudy<'a> {
        DetectionStudy {
            prep,
            spec,
            scenarios,
        }
    }
}

impl crate::Study for DetectionStudy<'_> {
    type Job = usize;
    type Output = Vec<DetectionRow>;
    type Scratch = ();

    fn name(&self) -> &'static str {
        "detection"
    }
    fn jobs(&self) -> Vec<usize> {
        (0..self.scenarios.len()).collect()
    }
    fn key(&self, &i: &usize) -> u64 {
        self.scenarios[i].key()
    }
    fn class(&self, &i: &usize) -> u64 {
        self.scenarios[i].layers[0] as u64
    }
    fn scratch(&self) {}
    fn run(&self, &i: &usize, _: &mut ()) -> Result<Vec<DetectionRow>, ExperimentError> {
        run_detection(
            self.prep,
            self.spec,
            std::slice::from_ref(&self.scenarios[i]),
            &crate::NoProgress,
        )
    }
}

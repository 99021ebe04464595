//! The deterministic sweep runner.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use xbar_crossbar::chip::Floorplan;
use xbar_crossbar::{
    AnalogNetwork, Evaluator, FaultLevel, Healthy, LayerFaults, SoftLayer, WireConfig,
    WiredNetwork, Workspace,
};
use xbar_nn::{
    CacheStatus, Dataset, Mlp, Split, argmax_rows, digits, stratified_split, train_cached_status,
};

use crate::{DatasetKind, Driver, Experiment, ExperimentError, Scenario, ScenarioRecord, Study};

/// Receives progress events; the CLI draws bars, tests ignore them.
pub trait Progress: Sync {
    /// A stage with `total` units of work starts.
    fn begin(&self, _stage: &str, _total: u64) {}
    /// `n` units are done.
    fn advance(&self, _n: u64) {}
    /// The stage is over.
    fn end(&self) {}
    /// An informational line (a resumed study, a baseline), for the user.
    fn note(&self, _text: &str) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Wall-clock seconds spent per stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Loading the dataset.
    pub data_s: f64,
    /// Training (or loading the cached weights).
    pub train_s: f64,
    /// Mapping to conductances, calibration, healthy prefix.
    pub program_s: f64,
    /// All scenarios.
    pub infer_s: f64,
    /// Training and testing correctors (0 without a `[correction]` table).
    pub correct_s: f64,
    /// Coding, fine-tuning, programming and repairing (`[crossbar-repair]`; 0 without).
    pub repair_s: f64,
}

/// Accuracies of the healthy software network and circuit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Baseline {
    /// Software network on the test images.
    pub software_test: f64,
    /// Software network on all images.
    pub software_all: f64,
    /// Healthy analog circuit on the test images.
    pub analog_test: f64,
    /// Healthy analog circuit on all images.
    pub analog_all: f64,
    /// Images where the healthy circuit and the software network disagree.
    pub analog_vs_software_disagreements: u32,
    /// Trained weights came from the cache.
    pub weights_from_cache: bool,
    /// The training cache key.
    pub cache_key: String,
    /// SHA-256 of the trained weights the circuit was programmed with (in-tool training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
    /// Comparator gains per layer, in ohms.
    pub r_load_ohms: Vec<f64>,
    /// Conductance per weight unit per layer, in S.
    pub k_siemens: Vec<f64>,
    /// Full-scale range of the tile ADCs per layer, in V (levels span `[-range, range]`);
    /// empty without ADCs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adc_range_volts: Vec<f64>,
    /// The healthy circuit under each wire setting of the experiment (one entry per
    /// setting; the ideal setting repeats the analog numbers).
    pub wires: Vec<WireBaseline>,
}

/// Accuracy of the healthy (defect-free) circuit under one wire setting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct WireBaseline {
    /// Row wire segment resistance, in ohms.
    pub r_row_ohms: f64,
    /// Column wire segment resistance, in ohms.
    pub r_col_ohms: f64,
    /// Healthy circuit with these wires, test images.
    pub analog_test: f64,
    /// Healthy circuit with these wires, all images.
    pub analog_all: f64,
    /// Images whose prediction differs from the ideal-wire circuit's.
    pub flipped_vs_ideal: u32,
}

/// The healthy circuit under one non-ideal wire setting: arrays factorised once and the
/// outputs of every layer, which scenarios reuse up to their first faulty layer.
pub struct WiredHealthy {
    /// The wired network.
    pub net: WiredNetwork,
    /// Output voltages of every layer for all images.
    pub outputs: Vec<Mat<f64>>,
    /// Predictions.
    pub pred: Vec<u8>,
}

/// Everything that is shared by all scenarios of an experiment.
pub struct Prepared {
    /// The validated experiment.
    pub exp: Experiment,
    /// All images.
    pub data: Dataset,
    /// Train/test split.
    pub split: Split,
    /// The trained software network (`None` for an imported one).
    pub mlp: Option<Mlp>,
    /// The software network the circuit implements (the trained MLP or the imported model):
    /// the reference for the healthy circuit.
    pub software: xbar_nn::Network,
    /// The samples that calibrate the comparator gains (the training images).
    pub calibration: Mat<f64>,
    /// The healthy programmed circuit.
    pub net: AnalogNetwork,
    /// Its healthy state on all images (conductances, every layer's input transfers),
    /// computed once and shared by every sweep of the experiment.
    pub healthy: Healthy,
    /// Row voltages of every image (`n x inputs`).
    pub v_in: Mat<f64>,
    /// Predictions of the healthy circuit.
    pub healthy_pred: Vec<u8>,
    /// `is_test[i]`: image `i` is held out.
    pub is_test: Vec<bool>,
    /// Baseline numbers.
    pub baseline: Baseline,
    /// One entry per wire setting: `None` for ideal wires (the fast path), the healthy wired
    /// circuit otherwise.
    pub wired: Vec<Option<WiredHealthy>>,
    /// The layers' tiles on the chip (`[chip]`), `None` without one.
    pub floorplan: Option<Floorplan>,
    /// Stage timings so far.
    pub timings: Timings,
}

fn load(kind: DatasetKind) -> Result<Dataset, ExperimentError> {
    match kind {
        DatasetKind::Digits => Ok(digits()?),
    }
}

/// The software network's layers as the crossbar crate reads them.
pub fn soft_layers(mlp: &Mlp) -> Vec<SoftLayer<'_>> {
    mlp.layers
        .iter()
        .map(|d| SoftLayer {
            w: d.w.as_ref(),
            b: &d.b,
        })
        .collect()
}

pub(crate) fn accuracy(pred: &[u8], labels: &[u8], mask: Option<(&[bool], bool)>) -> f64 {
    let (mut hit, mut n) = (0usize, 0usize);
    for (i, (p, y)) in pred.iter().zip(labels).enumerate() {
        if let Some((m, want)) = mask
            && m[i] != want
        {
            continue;
        }
        n += 1;
        hit += usize::from(p == y);
    }
    if n == 0 { 0.0 } else { hit as f64 / n as f64 }
}

/// Loads the data, trains (or loads) the software network and programs the healthy circuit.
pub fn prepare(
    exp: &Experiment,
    cache_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Prepared, ExperimentError> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let (data, split, mlp, software, calibration, cache_key, from_cache) =
        match &exp.network.imported {
            Some(m) => {
                // Validated and loaded with the experiment: every test sample is evaluated.
                let c = &m.content;
                let n = c.test.len() as u32;
                let split = Split {
                    train: Vec::new(),
                    test: (0..n).collect(),
                };
                timings.data_s = t.elapsed().as_secs_f64();
                (
                    c.test.clone(),
                    split,
                    None,
                    c.network.clone(),
                    c.calibration.clone(),
                    format!("{}-sha256:{}", m.format, m.model.sha256),
                    false,
                )
            }
            None => {
                let (data, split, train_set) = match &exp.network.user_data {
                    // The user's samples, validated and loaded with the experiment: train on
                    // their training split (borrowed), evaluate every test sample.
                    Some(u) => {
                        let c = &u.content;
                        let split = Split {
                            train: Vec::new(),
                            test: (0..c.test.len() as u32).collect(),
                        };
                        (c.test.clone(), split, Cow::Borrowed(&c.train))
                    }
                    None => {
                        let (data, split, train_set) = training_data(exp)?;
                        (data, split, Cow::Owned(train_set))
                    }
                };
                timings.data_s = t.elapsed().as_secs_f64();
                progress.begin("train", 1);
                let t = Instant::now();
                let cache_key = xbar_nn::cache_key(&exp.network.train, &train_set);
                let (report, status) =
                    train_cached_status(&exp.network.train, &train_set, cache_dir)?;
                if let CacheStatus::Replaced { path, reason } = &status {
                    progress.note(&format!(
                        "cached weights {} not used ({reason}): retrained and replaced",
                        path.display()
                    ));
                }
                let from_cache = status == CacheStatus::Cached;
                timings.train_s = t.elapsed().as_secs_f64();
                progress.advance(1);
                progress.end();
                let software = xbar_nn::Network::from(&report.mlp);
                let calibration = match &exp.network.user_data {
                    Some(u) => u.content.calibration.clone(),
                    None => train_set.into_owned().x,
                };
                (
                    data,
                    split,
                    Some(report.mlp),
                    software,
                    calibration,
                    cache_key,
                    from_cache,
                )
            }
        };

    let t = Instant::now();
    let net = program_healthy(exp, mlp.as_ref(), &software, calibration.as_ref())?;
    let v_in = net.input_voltages(data.x.as_ref());
    let healthy = Healthy::new(&net, v_in.as_ref());
    let healthy_pred = {
        let eval = Evaluator::with(&net, &healthy);
        let mut ws = eval.workspace();
        argmax_rows(eval.run(&vec![None; net.layers.len()], &mut ws))
    };
    let mut is_test = vec![false; data.len()];
    for &i in &split.test {
        is_test[i as usize] = true;
    }
    let mut wired = Vec::with_capacity(exp.wires.len());
    let mut wire_base = Vec::with_capacity(exp.wires.len());
    for w in &exp.wires {
        let state = healthy_wired(&net, w, v_in.as_ref())?;
        let pred = state.as_ref().map_or(&healthy_pred, |s| &s.pred);
        wire_base.push(WireBaseline {
            r_row_ohms: w.r_row,
            r_col_ohms: w.r_col,
            analog_test: accuracy(pred, &data.y, Some((&is_test, true))),
            analog_all: accuracy(pred, &data.y, None),
            flipped_vs_ideal: pred
                .iter()
                .zip(&healthy_pred)
                .filter(|(a, b)| a != b)
                .count() as u32,
        });
        wired.push(state);
    }
    timings.program_s = t.elapsed().as_secs_f64();

    let soft_pred = match &mlp {
        Some(m) => m.predict(data.x.as_ref()),
        None => software.predict(data.x.as_ref())?,
    };
    let baseline = Baseline {
        software_test: accuracy(&soft_pred, &data.y, Some((&is_test, true))),
        software_all: accuracy(&soft_pred, &data.y, None),
        analog_test: accuracy(&healthy_pred, &data.y, Some((&is_test, true))),
        analog_all: accuracy(&healthy_pred, &data.y, None),
        analog_vs_software_disagreements: soft_pred
            .iter()
            .zip(&healthy_pred)
            .filter(|(a, b)| a != b)
            .count() as u32,
        weights_from_cache: from_cache,
        cache_key,
        weights_sha256: mlp.as_ref().map(xbar_nn::weights_sha256),
        r_load_ohms: net.layers.iter().map(|l| l.r_load).collect(),
        k_siemens: net.layers.iter().map(|l| l.k).collect(),
        adc_range_volts: net
            .layers
            .iter()
            .filter_map(|l| l.adc.map(|a| a.range))
            .collect(),
        wires: wire_base,
    };
    let floorplan = match &exp.circuit.chip {
        Some(chip) => Some(Floorplan::new(&exp.network.array_shapes(), chip)?),
        None => None,
    };
    Ok(Prepared {
        floorplan,
        exp: exp.clone(),
        data,
        split,
        mlp,
        software,
        calibration,
        net,
        healthy,
        v_in,
        healthy_pred,
        is_test,
        baseline,
        wired,
        timings,
    })
}

/// The in-tool network's data: all images, the train/test split and the training images.
pub(crate) fn training_data(
    exp: &Experiment,
) -> Result<(Dataset, Split, Dataset), ExperimentError> {
    let data = load(exp.network.dataset)?;
    let split = stratified_split(&data.y, exp.network.test_size, exp.network.split_seed)?;
    let train_set = data.select(&split.train);
    Ok((data, split, train_set))
}

/// Programs the healthy circuit of `exp` (the trained MLP's layers, or the imported graph)
/// on the stream every scenario without variability shares.
fn program_healthy(
    exp: &Experiment,
    mlp: Option<&Mlp>,
    software: &xbar_nn::Network,
    calibration: faer::MatRef<'_, f64>,
) -> Result<AnalogNetwork, ExperimentError> {
    let mut rng = ChaCha8Rng::seed_from_u64(exp.seed);
    rng.set_stream(crate::fnv1a64(b"healthy-network"));
    program(exp, mlp, software, calibration, &mut rng)
}

/// Programs the circuit of `exp` drawing variability from `rng`.
pub(crate) fn program(
    exp: &Experiment,
    mlp: Option<&Mlp>,
    software: &xbar_nn::Network,
    calibration: faer::MatRef<'_, f64>,
    rng: &mut ChaCha8Rng,
) -> Result<AnalogNetwork, ExperimentError> {
    Ok(match mlp {
        Some(m) => AnalogNetwork::program(
            exp.device.params,
            &soft_layers(m),
            &exp.circuit,
            Some(calibration),
            &exp.variability,
            rng,
        )?,
        None => AnalogNetwork::program_graph(
            exp.device.params,
            software,
            &exp.circuit,
            Some(calibration),
            &exp.variability,
            rng,
        )?,
    })
}

impl Prepared {
    /// The trained MLP. The studies that call this are validated to run on the in-tool
    /// network only (an imported network is rejected with them), so it is always there.
    pub fn mlp(&self) -> &Mlp {
        self.mlp
            .as_ref()
            .expect("validation allows this study with the in-tool network only")
    }
}

/// The healthy circuit under `wires`, or `None` when the wires are ideal.
fn healthy_wired(
    net: &AnalogNetwork,
    wires: &WireConfig,
    v_in: faer::MatRef<'_, f64>,
) -> Result<Option<WiredHealthy>, ExperimentError> {
    if wires.is_ideal() {
        return Ok(None);
    }
    let wn = WiredNetwork::new(net, wires)?;
    let outputs = wn.forward_all(v_in)?;
    let pred = argmax_rows(outputs.last().expect("at least one layer").as_ref());
    Ok(Some(WiredHealthy {
        net: wn,
        outputs,
        pred,
    }))
}

/// The scenario's random stream: ChaCha8 seeded with the experiment seed, on the stream
/// derived from the scenario's coordinates.
pub fn scenario_rng(seed: u64, scenario: &Scenario) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(scenario.stream);
    rng
}

/// The defect sweep as a [`Study`]: one job per scenario of the grid.
///
/// ```
/// use xbar_experiment::{Driver, Experiment, NoProgress, SweepStudy, expand, prepare};
/// let exp = Experiment::from_toml_str(
///     "name = \"t\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.3]\nlayers = [3]\n",
///     "t.toml",
///     None,
/// )?;
/// let prep = prepare(&exp, None, &NoProgress)?;
/// let grid = expand(&exp);
/// let records = Driver::in_memory(&NoProgress).run(&SweepStudy::new(&prep, &grid))?;
/// assert_eq!(records.len(), 1);
/// assert!(records[0].accuracy < prep.baseline.analog_all);
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
pub struct SweepStudy<'a> {
    prep: &'a Prepared,
    scenarios: &'a [Scenario],
    eval: Evaluator<'a>,
    /// Variability: every scenario re-programs the circuit.
    reprogram: bool,
}

impl<'a> SweepStudy<'a> {
    /// The sweep of `scenarios` on the prepared network (builds the healthy evaluator once).
    pub fn new(prep: &'a Prepared, scenarios: &'a [Scenario]) -> SweepStudy<'a> {
        SweepStudy {
            prep,
            scenarios,
            eval: Evaluator::with(&prep.net, &prep.healthy),
            reprogram: !prep.exp.variability.is_ideal(),
        }
    }

    /// Every scenario's record and last-layer output voltages (`images x classes`, in
    /// volts), in parallel and in scenario order: the circuit samples a post-corrector
    /// learns from. Not journaled (the voltages are large and take seconds to redo).
    pub fn outputs(
        &self,
        progress: &dyn Progress,
    ) -> Result<Vec<(ScenarioRecord, Mat<f64>)>, ExperimentError> {
        progress.begin("sweep", self.scenarios.len() as u64);
        let out: Result<Vec<_>, ExperimentError> = self
            .scenarios
            .par_iter()
            .map_init(
                || self.eval.workspace(),
                |ws, sc| {
                    let (r, v) = self.evaluate(sc, ws, true)?;
                    progress.advance(1);
                    Ok((r, v.expect("outputs were requested")))
                },
            )
            .collect();
        progress.end();
        out
    }

    /// One scenario: its record and, with `keep`, its last-layer output voltages.
    pub fn evaluate(
        &self,
        sc: &Scenario,
        ws: &mut Workspace,
        keep: bool,
    ) -> Result<(ScenarioRecord, Option<Mat<f64>>), ExperimentError> {
        let prep = self.prep;
        let exp = &prep.exp;
        let Drawn {
            fresh,
            faults,
            defective,
            pairs,
            defect_tiles,
        } = self.draw(sc)?;
        let (net, own_eval) = match &fresh {
            Some(f) => (f, Some(Evaluator::new(f, prep.v_in.as_ref()))),
            None => (&prep.net, None),
        };
        let healthy_wired = prep.wired[sc.wire as usize].as_ref();
        let mut own_ws;
        let wired_out: Mat<f64>;
        let volts = if let Some(hw) = healthy_wired {
            // Wire resistance: rebuild only the faulty arrays; reuse the healthy outputs
            // before the first one (unless variability re-programmed all).
            let fresh_wired;
            let (base, prefix) = if own_eval.is_some() {
                fresh_wired = WiredNetwork::new(net, &exp.wires[sc.wire as usize])?;
                (&fresh_wired, None)
            } else {
                (&hw.net, Some(&hw.outputs))
            };
            let mut wn = base.clone();
            for (l, f) in &faults {
                wn = wn.with_faults(*l, f)?;
            }
            let first = match prefix {
                Some(_) => sc.layers.first().copied().unwrap_or(0),
                None => 0,
            };
            let input = match (first, prefix) {
                (0, _) | (_, None) => prep.v_in.as_ref(),
                (f, Some(p)) => p[f - 1].as_ref(),
            };
            let mut outs = wn.forward_all_from(first, input)?;
            wired_out = outs.pop().expect("at least one layer");
            wired_out.as_ref()
        } else {
            let mut gdiff: Vec<Option<Mat<f64>>> = vec![None; net.layers.len()];
            for (l, f) in &faults {
                gdiff[*l] = Some(net.layers[*l].faulty_gdiff(&net.device, f));
            }
            match &own_eval {
                Some(e) => {
                    own_ws = e.workspace();
                    e.run(&gdiff, &mut own_ws)
                }
                None => self.eval.run(&gdiff, ws),
            }
        };
        let out = argmax_rows(volts);
        let kept = keep.then(|| volts.to_owned());
        let record = ScenarioRecord {
            scenario: sc.index,
            shape: sc.kind.clone(),
            label: sc.label.clone(),
            size: sc.size,
            layers: sc.layers.iter().map(|&l| l as u32).collect(),
            state: sc.state.label(),
            level: match sc.level {
                FaultLevel::Pair => "pair".into(),
                FaultLevel::Device => "device".into(),
            },
            repeat: sc.repeat,
            wire_ohms: sc.wire_ohms,
            defective_pairs: defective,
            array_pairs: pairs,
            defect_tiles: defect_tiles.join(" "),
            chip_coverage: prep
                .floorplan
                .as_ref()
                .map(|fp| f64::from(defective) / fp.used_pairs().max(1) as f64),
            coverage: if pairs == 0 {
                0.0
            } else {
                f64::from(defective) / f64::from(pairs)
            },
            accuracy: accuracy(&out, &prep.data.y, None),
            accuracy_test: accuracy(&out, &prep.data.y, Some((&prep.is_test, true))),
            flipped: out
                .iter()
                .zip(healthy_wired.map_or(&prep.healthy_pred, |h| &h.pred))
                .filter(|(a, b)| a != b)
                .count() as u32,
            stream: format!("{:016x}", sc.stream),
        };
        Ok((record, kept))
    }
}

/// What a scenario's random stream gives: the re-programmed circuit (with variability), the
/// stuck devices per injected layer and their counts.
pub struct Drawn {
    /// The circuit programmed for this scenario (`None`: the shared healthy one).
    pub fresh: Option<AnalogNetwork>,
    /// Stuck devices per injected layer, in the scenario's layer order.
    pub faults: Vec<(usize, LayerFaults)>,
    /// Faulty pairs over the injected arrays.
    pub defective: u32,
    /// Pairs in the injected arrays.
    pub pairs: u32,
    /// With a chip: `L<layer>:r<row>c<col>` of every tile holding defects.
    pub defect_tiles: Vec<String>,
}

impl SweepStudy<'_> {
    /// The prepared experiment this sweep runs on.
    pub fn prepared(&self) -> &Prepared {
        self.prep
    }

    /// Draws scenario `sc` from its own stream, in the order every run uses: the circuit
    /// first (with variability), then the tile or die shape, then each layer's mask and
    /// stuck states.
    ///
    /// # Errors
    /// Programming or mask failures.
    pub fn draw(&self, sc: &Scenario) -> Result<Drawn, ExperimentError> {
        let prep = self.prep;
        let exp = &prep.exp;
        let mut rng = scenario_rng(exp.seed, sc);
        // Variability: every scenario programs its own copy of the circuit first.
        let fresh = if self.reprogram {
            Some(program(
                exp,
                prep.mlp.as_ref(),
                &prep.software,
                prep.calibration.as_ref(),
                &mut rng,
            )?)
        } else {
            None
        };
        let net = fresh.as_ref().unwrap_or(&prep.net);
        let mut faults: Vec<(usize, LayerFaults)> = Vec::with_capacity(sc.layers.len());
        let (mut defective, mut pairs) = (0u32, 0u32);
        // Tile and die shapes are drawn once per scenario, before any layer's stuck states.
        let placed = match &prep.floorplan {
            Some(fp) => fp.draw(&sc.shape, sc.placement, &mut rng)?.map(|p| (fp, p)),
            None => None,
        };
        let mut defect_tiles = Vec::new();
        for &l in &sc.layers {
            let layer = &net.layers[l];
            let mask = match &placed {
                Some((fp, p)) => fp.layer_mask(l, p),
                None => sc.shape.mask(layer.rows(), layer.cols(), &mut rng)?,
            };
            if let Some(fp) = &prep.floorplan {
                defect_tiles.extend(
                    fp.defect_tiles(l, &mask)
                        .into_iter()
                        .map(|(r, c)| format!("L{l}:r{r}c{c}")),
                );
            }
            let f = LayerFaults::from_mask(&mask, sc.state, sc.level, &mut rng);
            defective += f.len() as u32;
            pairs += (layer.rows() * layer.cols()) as u32;
            faults.push((l, f));
        }
        Ok(Drawn {
            fresh,
            faults,
            defective,
            pairs,
            defect_tiles,
        })
    }
}

/// Multiply-adds per image of every array: reads x rows (bias row included) x columns.
pub(crate) fn layer_work(net: &AnalogNetwork) -> Vec<usize> {
    net.layers
        .iter()
        .map(|l| l.reads() * l.rows() * l.cols())
        .collect()
}

/// Multiply-adds per image of scenario `sc` on arrays doing `work` each ([`layer_work`]):
/// every layer from its first faulty one on, the healthy prefix being reused.
pub(crate) fn gemm_work(work: &[usize], sc: &Scenario) -> usize {
    let first = sc.layers.first().copied().unwrap_or(0);
    work[first..].iter().sum()
}

impl Study for SweepStudy<'_> {
    type Job = usize;
    type Output = ScenarioRecord;
    type Scratch = Workspace;

    fn name(&self) -> &'static str {
        "sweep"
    }
    fn jobs(&self) -> Vec<usize> {
        (0..self.scenarios.len()).collect()
    }
    fn key(&self, &i: &usize) -> u64 {
        self.scenarios[i].key()
    }
    fn cost(&self, &i: &usize) -> f64 {
        let sc = &self.scenarios[i];
        // GEMM work from the first faulty layer on; wires and variability cost more per
        // scenario (the estimate times one scenario of each sweep and wire setting).
        gemm_work(&layer_work(&self.prep.net), sc) as f64
    }
    fn class(&self, &i: &usize) -> u64 {
        // One timed scenario per sweep and wire setting: shapes, wires and variability
        // differ in cost far more than the GEMM sizes say.
        let sc = &self.scenarios[i];
        (u64::from(sc.sweep) << 32) | u64::from(sc.wire)
    }
    fn scratch(&self) -> Workspace {
        self.eval.workspace()
    }
    fn run(&self, &i: &usize, ws: &mut Workspace) -> Result<ScenarioRecord, ExperimentError> {
        Ok(self.evaluate(&self.scenarios[i], ws, false)?.0)
    }
}

/// Runs scenarios in parallel on the current rayon pool, without a journal. Results come
/// back in the order of `scenarios` and are bit-identical for any thread count: each
/// scenario draws only from its own stream and uses sequential kernels.
pub fn run_scenarios(
    prep: &Prepared,
    scenarios: &[Scenario],
    progress: &dyn Progress,
) -> Result<Vec<ScenarioRecord>, ExperimentError> {
    Driver::in_memory(progress).run(&SweepStudy::new(prep, scenarios))
}

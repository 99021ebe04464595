//! The post-correction study: circuit samples from the sweep, correctors trained on them.

use faer::Mat;
use xbar_correct::{CircuitSamples, ConfigInfo, CorrectionRecord, evaluate, split};

use crate::{CorrectionSpec, ExperimentError, Prepared, Progress, ScenarioRecord};

/// Stacks the sweep's output voltages into circuit samples: one per (scenario, image), the
/// defect type being the sweep's label (150,948 samples for the paper's 84 scenarios).
pub fn circuit_samples(
    prep: &Prepared,
    outputs: Vec<(ScenarioRecord, Mat<f64>)>,
) -> Result<CircuitSamples, ExperimentError> {
    let blocks = outputs
        .into_iter()
        .map(|(r, v)| {
            (
                ConfigInfo {
                    defect: r.label,
                    size: r.size,
                    layers: r.layers,
                    coverage: r.coverage,
                },
                v,
            )
        })
        .collect();
    Ok(CircuitSamples::from_blocks(blocks, &prep.data.y)?)
}

/// Trains and tests every corrector of `spec` under each protocol, in parallel on the current
/// rayon pool. Records come in the order protocol, architecture, training type, test type,
/// configuration; they are identical for any thread count.
pub fn run_correction(
    prep: &Prepared,
    spec: &CorrectionSpec,
    samples: &CircuitSamples,
    progress: &dyn Progress,
) -> Result<Vec<CorrectionRecord>, ExperimentError> {
    let types = samples.defect_types().len();
    progress.begin(
        "correct",
        (spec.protocols.len() * spec.architectures.len() * types) as u64,
    );
    let mut all = Vec::new();
    for protocol in &spec.protocols {
        let splits = split(samples, protocol, &prep.is_test, spec.train.seed)?;
        all.extend(evaluate(
            samples,
            &splits,
            protocol,
            &spec.architectures,
            &spec.train,
            spec.cross,
            &|| progress.advance(1),
        )?);
    }
    progress.end();
    Ok(all)
}

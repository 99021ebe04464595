//! The post-correction study: circuit samples from the sweep, correctors trained on them.

use std::sync::Mutex;

use faer::Mat;
use serde::{Deserialize, Serialize};
use xbar_correct::{CircuitSamples, ConfigInfo, CorrectionRecord, evaluate_resumable, split};

use crate::{Checkpoint, CorrectionSpec, ExperimentError, Prepared, Progress, ScenarioRecord};

/// One trained (and tested) corrector as journaled in `checkpoint-correction.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrectionJob {
    /// Protocol name (`paper`, `by-image`).
    pub protocol: String,
    /// Job index within the protocol: architecture x training type.
    pub job: u32,
    /// Its records.
    pub records: Vec<CorrectionRecord>,
}

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
    run_correction_checkpointed(prep, spec, samples, progress, None, Vec::new())
}

/// [`run_correction`] with a journal: correctors listed in `resumed` (read from a checkpoint
/// of the same configuration) are not trained again, and every newly trained one is appended
/// to `checkpoint` as soon as it is tested. The records are the same as an uninterrupted
/// run's.
pub fn run_correction_checkpointed(
    prep: &Prepared,
    spec: &CorrectionSpec,
    samples: &CircuitSamples,
    progress: &dyn Progress,
    checkpoint: Option<&Checkpoint<CorrectionJob>>,
    resumed: Vec<CorrectionJob>,
) -> Result<Vec<CorrectionRecord>, ExperimentError> {
    let types = samples.defect_types().len();
    let total = spec.protocols.len() * spec.architectures.len() * types;
    progress.begin("correct", (total - resumed.len().min(total)) as u64);
    let failure: Mutex<Option<ExperimentError>> = Mutex::new(None);
    let mut all = Vec::new();
    for protocol in &spec.protocols {
        let name = protocol.name();
        let splits = split(samples, protocol, &prep.is_test, spec.train.seed)?;
        let done = |j: usize| {
            resumed
                .iter()
                .find(|r| r.protocol == name && r.job as usize == j)
                .map(|r| r.records.clone())
        };
        let on_job = |j: usize, records: &[CorrectionRecord]| {
            progress.advance(1);
            if let Some(cp) = checkpoint {
                let job = CorrectionJob {
                    protocol: name.to_string(),
                    job: j as u32,
                    records: records.to_vec(),
                };
                if let Err(e) = cp.append(&job) {
                    failure.lock().expect("error slot").get_or_insert(e);
                }
            }
        };
        all.extend(evaluate_resumable(
            samples,
            &splits,
            protocol,
            &spec.architectures,
            &spec.train,
            spec.cross,
            &done,
            &on_job,
        )?);
    }
    progress.end();
    if let Some(e) = failure.into_inner().expect("error slot") {
        return Err(e);
    }
    Ok(all)
}

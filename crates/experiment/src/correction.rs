//! The post-correction study: circuit samples from the sweep, correctors trained on them.

use faer::Mat;
use xbar_correct::{
    CircuitSamples, ConfigInfo, CorrectionRecord, Protocol, Splits, TestIndex, evaluate_job, split,
};

use crate::{CorrectionSpec, ExperimentError, Prepared, ScenarioRecord, Study, fnv1a64};

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

/// The post-correction study as a [`Study`]: one job per (protocol, corrector architecture,
/// training defect type); each trains a corrector and tests it on every test type
/// (cross-defect) or its own. Its outputs, flattened in job order, are the rows of
/// `correction.csv`.
pub struct CorrectionStudy<'a> {
    spec: &'a CorrectionSpec,
    samples: CircuitSamples,
    splits: Vec<(Protocol, Splits, TestIndex)>,
}

impl<'a> CorrectionStudy<'a> {
    /// Builds the circuit samples from the sweep's output voltages and splits them under
    /// every protocol of `spec`.
    pub fn new(
        prep: &Prepared,
        spec: &'a CorrectionSpec,
        outputs: Vec<(ScenarioRecord, Mat<f64>)>,
    ) -> Result<CorrectionStudy<'a>, ExperimentError> {
        let samples = circuit_samples(prep, outputs)?;
        let mut splits = Vec::with_capacity(spec.protocols.len());
        for p in &spec.protocols {
            let s = split(&samples, p, &prep.is_test, spec.train.seed)?;
            let index = TestIndex::new(&samples, &s);
            splits.push((p.clone(), s, index));
        }
        Ok(CorrectionStudy {
            spec,
            samples,
            splits,
        })
    }

    /// The circuit samples (for `samples.csv`).
    pub fn samples(&self) -> &CircuitSamples {
        &self.samples
    }

    /// Gives the circuit samples back.
    pub fn into_samples(self) -> CircuitSamples {
        self.samples
    }
}

impl Study for CorrectionStudy<'_> {
    /// (protocol, architecture, training type) indices.
    type Job = (usize, usize, usize);
    type Output = Vec<CorrectionRecord>;
    type Scratch = ();

    fn name(&self) -> &'static str {
        "correction"
    }
    fn jobs(&self) -> Vec<(usize, usize, usize)> {
        let mut jobs = Vec::new();
        for (p, (_, s, _)) in self.splits.iter().enumerate() {
            for a in 0..self.spec.architectures.len() {
                for t in 0..s.per_type.len() {
                    jobs.push((p, a, t));
                }
            }
        }
        jobs
    }
    fn key(&self, &(p, a, t): &(usize, usize, usize)) -> u64 {
        let (protocol, s, _) = &self.splits[p];
        fnv1a64(
            format!(
                "{}\u{0}{}\u{0}{}",
                protocol.name(),
                self.spec.architectures[a].name(),
                s.per_type[t].0
            )
            .as_bytes(),
        )
    }
    fn cost(&self, &(p, a, t): &(usize, usize, usize)) -> f64 {
        let train = self.splits[p].1.per_type[t].1.train.len() as f64;
        train * (self.spec.architectures[a].param_count() as f64 + 10.0)
    }
    fn class(&self, &(p, _, _): &(usize, usize, usize)) -> u64 {
        p as u64
    }
    fn scratch(&self) {}
    fn run(
        &self,
        &(p, a, t): &(usize, usize, usize),
        _: &mut (),
    ) -> Result<Vec<CorrectionRecord>, ExperimentError> {
        let (protocol, splits, index) = &self.splits[p];
        Ok(evaluate_job(
            &self.samples,
            splits,
            index,
            protocol,
            &self.spec.architectures[a],
            t,
            &self.spec.train,
            self.spec.cross,
        )?)
    }
}

//! One entry point for every experiment: [`execute`] prepares what the experiment needs and
//! runs its studies through one [`Driver`], returning an [`Outcome`] that a shell (the CLI,
//! a notebook) writes or inspects.

use std::path::PathBuf;
use std::time::Instant;

use crate::detection_protocol::InputFaultRecord;
use serde::Serialize;
use xbar_correct::{CircuitSamples, CorrectionRecord};

use crate::study::Stage;
use crate::{
    Analysis, Baseline, CodedLayerInfo, CorrectionStudy, CrossbarRepairStudy, DetectionRow,
    DetectionStudy, Driver, Experiment, ExperimentError, MnistBaseline, MnistRow, MnistStudy,
    MnistTimings, PhaseRow, PhaseStudy, Progress, RepairRow, ScenarioRecord, Standalone,
    SweepStudy, expand, fingerprint, mnist_rows, prepare, prepare_crossbar_repair, prepare_mnist,
    run_input_faults,
};

/// How to run: where to journal, whether to start over, where trained weights are cached.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Journal folder (the output folder): finished jobs are appended to checkpoint files
    /// there, and a run of the same configuration resumes from them. `None`: no journal.
    pub journal: Option<PathBuf>,
    /// Discard existing journals instead of resuming.
    pub fresh: bool,
    /// Trained-weight cache folder (`None`: always train).
    pub cache_dir: Option<PathBuf>,
}

/// Runs shard `shard` of an experiment (see [`crate::merge`]): the jobs of every study that the
/// shard owns, journaled in `journal` (resuming what is there), then `journal/shard.json`.
/// Preparation (training, programming, coding) runs in every shard; the analyses' inputs
/// that are not journaled (the correction study's circuit samples) are recomputed in each
/// shard, and the preparation stages that are not split (`input-faults`, exports) run at
/// the merge.
///
/// ```
/// use xbar_experiment::{Experiment, ExperimentSource, NoProgress, Shard, execute_shard};
/// let source = ExperimentSource {
///     origin: "t.toml".into(),
///     base: None,
///     toml: "name = \"t\"\n[[sweep]]\nshape = \"rows\"\nsizes = [0.1, 0.2, 0.3]\nlayers = [0]\n".into(),
///     overrides: vec![],
/// };
/// let dir = tempfile::tempdir().unwrap();
/// let m = execute_shard(&source, "1/2".parse()?, dir.path(), None, &NoProgress)?;
/// assert_eq!(m.stages.iter().find(|s| s.name == "sweep").unwrap().owned, Some(1));
/// assert!(dir.path().join("shard.json").exists());
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
pub fn execute_shard(
    source: &crate::ExperimentSource,
    shard: crate::Shard,
    journal: &std::path::Path,
    cache: Option<&std::path::Path>,
    progress: &dyn Progress,
) -> Result<crate::ShardManifest, ExperimentError> {
    let exp = source.load()?;
    let fingerprint = fingerprint(&exp);
    // A manifest left by an earlier run of this folder no longer describes it.
    let stale = journal.join(crate::SHARD_FILE);
    if stale.exists() {
        std::fs::remove_file(&stale).map_err(|source| ExperimentError::Write {
            path: stale.clone(),
            source,
        })?;
    }
    let mut driver = Driver::journaled(journal, &fingerprint, false, progress).sharded(shard);
    match &exp.standalone {
        Some(Standalone::PhaseTransition(spec)) => {
            driver.run_partial(&PhaseStudy::new(exp.seed, spec))?;
        }
        Some(Standalone::MnistRepair(spec)) => {
            let prep = prepare_mnist(exp.seed, spec, cache, progress)?;
            driver.run_partial(&MnistStudy::new(exp.seed, spec, &prep))?;
        }
        None => {
            let prep = prepare(&exp, cache, progress)?;
            let grid = expand(&exp);
            let sweep = SweepStudy::new(&prep, &grid);
            let records = driver.run_partial(&sweep)?;
            for analysis in &exp.analyses {
                match analysis {
                    Analysis::Correction(spec) => {
                        let outputs =
                            driver.stage("correction-samples", || sweep.outputs(progress))?;
                        driver.run_partial(&CorrectionStudy::new(&prep, spec, outputs)?)?;
                    }
                    Analysis::Detection(spec) => {
                        driver.run_partial(&DetectionStudy::new(&prep, spec, &grid))?;
                    }
                    Analysis::CrossbarRepair(spec) => {
                        let coded = driver
                            .stage("code", || prepare_crossbar_repair(&prep, spec, progress))?;
                        driver.run_partial(&CrossbarRepairStudy::with_partial(
                            &prep, spec, &coded, &grid, &records,
                        ))?;
                    }
                }
            }
        }
    }
    let manifest = crate::ShardManifest {
        format: crate::SHARD_FORMAT.into(),
        xbar_version: env!("CARGO_PKG_VERSION").into(),
        fingerprint,
        shard,
        name: exp.name.clone(),
        source: source.clone(),
        stages: driver.stages().to_vec(),
    };
    let json = serde_json::to_string_pretty(&manifest).expect("the manifest serialises");
    crate::checkpoint::write_atomic(&journal.join(crate::SHARD_FILE), json.as_bytes())?;
    Ok(manifest)
}

/// The results of one analysis or standalone study.
#[derive(Debug)]
#[non_exhaustive]
pub enum StudyOutcome {
    /// `[correction]`: one record per (protocol, corrector, train type, test configuration).
    Correction {
        /// The records.
        records: Vec<CorrectionRecord>,
        /// The circuit samples, when the table asks for `samples.csv`.
        samples: Option<CircuitSamples>,
    },
    /// `[detection]`: rows per scenario and code, and the input-fault experiment.
    Detection {
        /// The rows.
        rows: Vec<DetectionRow>,
        /// Input faults per layer (empty unless asked for).
        input_faults: Vec<(u32, InputFaultRecord)>,
    },
    /// `[crossbar-repair]`: the codes and one row per scenario.
    CrossbarRepair {
        /// What coding each layer cost.
        coded: Vec<CodedLayerInfo>,
        /// The rows.
        rows: Vec<RepairRow>,
    },
    /// `[phase-transition]`: one row per (N, K).
    PhaseTransition {
        /// The rows.
        rows: Vec<PhaseRow>,
    },
    /// `[mnist-repair]`: the coded network's baseline and one row per (level, trial).
    MnistRepair {
        /// Accuracy and code before any error.
        baseline: MnistBaseline,
        /// Stage timings.
        timings: MnistTimings,
        /// The rows.
        rows: Vec<MnistRow>,
    },
}

impl StudyOutcome {
    /// The study's table name.
    pub fn name(&self) -> &'static str {
        match self {
            StudyOutcome::Correction { .. } => "correction",
            StudyOutcome::Detection { .. } => "detection",
            StudyOutcome::CrossbarRepair { .. } => "crossbar-repair",
            StudyOutcome::PhaseTransition { .. } => "phase-transition",
            StudyOutcome::MnistRepair { .. } => "mnist-repair",
        }
    }
}

/// What `manifest.json` records about a run: one type for every study kind.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// xbar's version.
    pub xbar_version: &'static str,
    /// What ran: `sweep`, `sweep+correction`, ..., or the standalone study's name.
    pub study: String,
    /// The validated experiment.
    pub experiment: Experiment,
    /// The configuration fingerprint (checkpoints and shards must match it).
    pub fingerprint: String,
    /// Scenarios of the sweep (0 for a standalone study).
    pub scenarios: usize,
    /// Worker threads.
    pub threads: usize,
    /// The healthy network and circuit (sweeps).
    pub baseline: Option<Baseline>,
    /// The coded MNIST network (`[mnist-repair]`).
    pub mnist_baseline: Option<MnistBaseline>,
    /// The layers' tiles on the chip (`[chip]`): tile size, every tile's layer, block and die
    /// position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floorplan: Option<xbar_crossbar::chip::Floorplan>,
    /// Preparation stages and studies, in order, with their job counts and seconds.
    pub stages: Vec<Stage>,
    /// Seconds spent writing outputs (set by the writer).
    pub report_s: f64,
    /// Seconds from the start of the command (set by the shell).
    pub total_s: f64,
    /// The source revision, when the shell knows it.
    pub git_revision: Option<String>,
    /// The experiment file's text, base folder and overrides, for `xbar report` (set by the
    /// shell that read the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::ExperimentSource>,
    /// What coding each layer cost (`[crossbar-repair]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coded_layers: Vec<CodedLayerInfo>,
    /// Stage timings of `[mnist-repair]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnist_timings: Option<MnistTimings>,
    /// Set when the results were merged from this many shards (`xbar merge`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_shards: Option<u32>,
    /// Versions of the numeric dependencies that determine results.
    pub dependencies: &'static [(&'static str, &'static str)],
}

/// Versions of the numeric dependencies that determine results (from Cargo.lock).
pub const DEPENDENCIES: &[(&str, &str)] =
    &[("faer", "0.24"), ("rand_chacha", "0.10"), ("rayon", "1.12")];

/// Everything a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The manifest (its report and total times are filled in by the writer and the shell).
    pub manifest: Manifest,
    /// The sweep's records, one per scenario (empty for a standalone study).
    pub records: Vec<ScenarioRecord>,
    /// The analyses' or the standalone study's results, in the experiment's order.
    pub studies: Vec<StudyOutcome>,
    /// Requested exports: `(file stem, arrays)`, written as `exports/<stem>.npz`.
    pub exports: Vec<(String, Vec<xbar_import::NpyArray>)>,
    /// Checkpoint files to remove once every output is on disk.
    pub checkpoints: Vec<PathBuf>,
}

impl Outcome {
    /// The experiment that ran.
    pub fn experiment(&self) -> &Experiment {
        &self.manifest.experiment
    }

    /// Removes the run's checkpoint files (call it after the outputs are written).
    pub fn remove_checkpoints(&mut self) -> Result<(), ExperimentError> {
        crate::study::remove_files(&mut self.checkpoints)
    }
}

/// Runs an experiment: prepares the network (or the standalone study's data), runs the sweep
/// and every analysis on it through one [`Driver`] (journaled and resumable when
/// `opts.journal` is set), on the current rayon pool.
///
/// ```
/// use xbar_experiment::{Experiment, NoProgress, RunOptions, execute};
/// let exp = Experiment::from_toml_str(
///     "name = \"t\"\n[[sweep]]\nshape = \"rows\"\nsizes = [0.1, 0.2]\nlayers = [0]\n",
///     "t.toml",
///     None,
/// )?;
/// let outcome = execute(&exp, &RunOptions::default(), &NoProgress)?;
/// assert_eq!(outcome.records.len(), 2);
/// assert_eq!(outcome.manifest.study, "sweep");
/// assert!(outcome.manifest.stages.iter().any(|s| s.name == "sweep" && s.jobs == 2));
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
pub fn execute(
    exp: &Experiment,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<Outcome, ExperimentError> {
    let fingerprint = fingerprint(exp);
    let mut driver = match &opts.journal {
        Some(dir) => Driver::journaled(dir, &fingerprint, opts.fresh, progress),
        None => Driver::in_memory(progress),
    };
    let cache = opts.cache_dir.as_deref();
    let mut records = Vec::new();
    let mut studies = Vec::new();
    let mut baseline = None;
    let mut mnist_baseline = None;
    let mut mnist_timings = None;
    let mut coded_layers = Vec::new();
    let mut floorplan = None;
    let mut exports = Vec::new();
    let mut scenarios = 0;
    let study_name;
    match &exp.standalone {
        Some(Standalone::PhaseTransition(spec)) => {
            study_name = "phase-transition".to_string();
            let study = PhaseStudy::new(exp.seed, spec);
            let out = driver.run(&study)?;
            studies.push(StudyOutcome::PhaseTransition {
                rows: study.rows(&out),
            });
        }
        Some(Standalone::MnistRepair(spec)) => {
            study_name = "mnist-repair".to_string();
            let prep = prepare_mnist(exp.seed, spec, cache, progress)?;
            for (name, s) in [
                ("data", prep.timings.data_s),
                ("train", prep.timings.train_s),
                ("code", prep.timings.code_s),
                ("finetune", prep.timings.finetune_s),
            ] {
                driver.record_stage(name, s);
            }
            let b = &prep.baseline;
            progress.note(&format!(
                "baseline {:.2} % test ({}), coded {:.2} % (projection {:.2} %, change {:.1} %)",
                100.0 * b.software_test,
                if b.weights_from_cache {
                    "cached weights".to_string()
                } else {
                    format!("trained in {:.1} s", prep.timings.train_s)
                },
                100.0 * b.coded_test,
                100.0 * b.projected_test,
                100.0 * b.projection_change
            ));
            let t = Instant::now();
            let out = driver.run(&MnistStudy::new(exp.seed, spec, &prep))?;
            let mut timings = prep.timings.clone();
            timings.repair_s = t.elapsed().as_secs_f64();
            let rows = mnist_rows(&mut timings, out);
            mnist_baseline = Some(prep.baseline.clone());
            mnist_timings = Some(timings.clone());
            studies.push(StudyOutcome::MnistRepair {
                baseline: prep.baseline.clone(),
                timings,
                rows,
            });
        }
        None => {
            let prep = prepare(exp, cache, progress)?;
            for (name, s) in [
                ("data", prep.timings.data_s),
                ("train", prep.timings.train_s),
                ("program", prep.timings.program_s),
            ] {
                driver.record_stage(name, s);
            }
            let grid = expand(exp);
            scenarios = grid.len();
            let sweep = SweepStudy::new(&prep, &grid);
            records = driver.run(&sweep)?;
            let mut names = vec!["sweep"];
            for analysis in &exp.analyses {
                names.push(analysis.table());
                studies.push(match analysis {
                    Analysis::Correction(spec) => {
                        // The circuit samples are the sweep's output voltages: too large to
                        // journal, and seconds to redo; the trained correctors are journaled.
                        let outputs =
                            driver.stage("correction-samples", || sweep.outputs(progress))?;
                        let study = CorrectionStudy::new(&prep, spec, outputs)?;
                        let records = driver.run(&study)?.into_iter().flatten().collect();
                        StudyOutcome::Correction {
                            records,
                            samples: spec.export_samples.then(|| study.into_samples()),
                        }
                    }
                    Analysis::Detection(spec) => {
                        let rows = driver
                            .run(&DetectionStudy::new(&prep, spec, &grid))?
                            .into_iter()
                            .flatten()
                            .collect();
                        let input_faults = if spec.input_faults {
                            driver.stage("input-faults", || run_input_faults(&prep, spec))?
                        } else {
                            Vec::new()
                        };
                        StudyOutcome::Detection { rows, input_faults }
                    }
                    Analysis::CrossbarRepair(spec) => {
                        let coded = driver
                            .stage("code", || prepare_crossbar_repair(&prep, spec, progress))?;
                        let rows = driver.run(&CrossbarRepairStudy::new(
                            &prep, spec, &coded, &grid, &records,
                        ))?;
                        let coded: Vec<CodedLayerInfo> =
                            coded.into_iter().map(|c| c.info).collect();
                        coded_layers.clone_from(&coded);
                        StudyOutcome::CrossbarRepair { coded, rows }
                    }
                });
            }
            if !exp.exports.is_empty() {
                exports = driver.stage("export", || {
                    crate::exports(&sweep, &grid, &exp.exports, progress)
                })?;
            }
            study_name = names.join("+");
            baseline = Some(prep.baseline.clone());
            floorplan.clone_from(&prep.floorplan);
        }
    }
    Ok(Outcome {
        manifest: Manifest {
            xbar_version: env!("CARGO_PKG_VERSION"),
            study: study_name,
            experiment: exp.clone(),
            fingerprint,
            scenarios,
            threads: rayon::current_num_threads(),
            baseline,
            mnist_baseline,
            floorplan,
            stages: driver.stages().to_vec(),
            report_s: 0.0,
            total_s: 0.0,
            git_revision: None,
            merged_shards: None,
            source: None,
            coded_layers,
            mnist_timings,
            dependencies: DEPENDENCIES,
        },
        records,
        studies,
        exports,
        checkpoints: driver.checkpoints().to_vec(),
    })
}

//! `xbar report`: a results folder read back into the [`Outcome`] that wrote it, so that its
//! plots and summary can be drawn again (by a newer xbar, or after a merge) without running
//! anything.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;
use xbar_experiment::{
    Analysis, DEPENDENCIES, Manifest, Outcome, Stage, Standalone, StudyOutcome,
    detection_protocol::InputFaultRecord,
};

use crate::csv_read::read_rows;
use crate::{ReportError, Result};

/// Largest manifest or table read back.
const MAX_FILE: u64 = 1 << 32;

fn read_err(path: &Path, message: impl Into<String>) -> ReportError {
    ReportError::Read {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The text of a regular file (not a FIFO or a device) of at most [`MAX_FILE`] bytes.
fn read_text(path: &Path) -> Result<String> {
    let bytes =
        xbar_import::read_regular(path, MAX_FILE).map_err(|e| read_err(path, e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| read_err(path, "not UTF-8 text"))
}

fn rows<T: DeserializeOwned>(dir: &Path, file: &str) -> Result<Vec<T>> {
    let path = dir.join(file);
    let text = read_text(&path)?;
    read_rows(&text, file).map_err(|e| read_err(&path, e))
}

/// A manifest field, deserialised (`null` or absent: the type's default).
fn field<T: DeserializeOwned + Default>(m: &Value, key: &str, path: &Path) -> Result<T> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| read_err(path, format!("manifest key `{key}`: {e}"))),
    }
}

/// One line of `input-faults.csv`.
#[derive(serde::Deserialize)]
struct FaultLine {
    layer: u32,
    code: String,
    fault: String,
    vectors: u32,
    erroneous: u32,
    detected: u32,
    detection_rate: f64,
    max_relative_error: f64,
}

/// Reads the results folder `dir` (written by `xbar run` or `xbar merge`) back into an
/// [`Outcome`]: the experiment from the manifest's recorded source (validated again), the
/// baselines and stages from `manifest.json`, and every row from the CSV files. Exports and
/// circuit samples are left as they are on disk.
///
/// # Errors
/// A missing or unreadable file, a manifest without its source (written by an older xbar),
/// a row that does not read as its type, or an experiment that no longer validates.
pub fn read_outcome(dir: &Path) -> Result<Outcome> {
    let mpath = dir.join("manifest.json");
    let m: Value = serde_json::from_str(&read_text(&mpath)?)
        .map_err(|e| read_err(&mpath, format!("not JSON: {e}")))?;
    let source: Option<xbar_experiment::ExperimentSource> = field(&m, "source", &mpath)?;
    let source = source.ok_or_else(|| {
        read_err(
            &mpath,
            "no `source` (the experiment file's text): written by an older xbar; run the \
             experiment again",
        )
    })?;
    let exp = source.load()?;
    let fingerprint: String = field(&m, "fingerprint", &mpath)?;
    let version: String = field(&m, "xbar_version", &mpath)?;
    if version == env!("CARGO_PKG_VERSION") && xbar_experiment::fingerprint(&exp) != fingerprint {
        return Err(read_err(
            &mpath,
            format!(
                "the run's configuration was {fingerprint}, but {} now reads as {} (an \
                 imported file changed): the results no longer match their inputs",
                source.origin,
                xbar_experiment::fingerprint(&exp)
            ),
        ));
    }
    let mut studies = Vec::new();
    let mut records = Vec::new();
    let baseline = field(&m, "baseline", &mpath)?;
    let mnist_baseline: Option<xbar_experiment::MnistBaseline> =
        field(&m, "mnist_baseline", &mpath)?;
    match &exp.standalone {
        Some(Standalone::PhaseTransition(_)) => studies.push(StudyOutcome::PhaseTransition {
            rows: rows(dir, "phase.csv")?,
        }),
        Some(Standalone::MnistRepair(_)) => studies.push(StudyOutcome::MnistRepair {
            baseline: mnist_baseline.clone().unwrap_or_default(),
            timings: field(&m, "mnist_timings", &mpath)?,
            rows: rows(dir, "mnist-repair.csv")?,
        }),
        None => {
            records = rows(dir, "results.csv")?;
            for a in &exp.analyses {
                studies.push(match a {
                    Analysis::Correction(_) => StudyOutcome::Correction {
                        records: rows(dir, "correction.csv")?,
                        samples: None,
                    },
                    Analysis::Detection(spec) => StudyOutcome::Detection {
                        rows: rows(dir, "detection.csv")?,
                        input_faults: if spec.input_faults {
                            rows::<FaultLine>(dir, "input-faults.csv")?
                                .into_iter()
                                .map(|f| {
                                    (
                                        f.layer,
                                        InputFaultRecord {
                                            code: f.code,
                                            fault: f.fault,
                                            vectors: f.vectors,
                                            erroneous: f.erroneous,
                                            detected: f.detected,
                                            detection_rate: f.detection_rate,
                                            max_relative_error: f.max_relative_error,
                                        },
                                    )
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                    },
                    Analysis::CrossbarRepair(_) => StudyOutcome::CrossbarRepair {
                        coded: field(&m, "coded_layers", &mpath)?,
                        rows: rows(dir, "repair.csv")?,
                    },
                });
            }
        }
    }
    let stages: Vec<Stage> = field(&m, "stages", &mpath)?;
    Ok(Outcome {
        manifest: Manifest {
            xbar_version: env!("CARGO_PKG_VERSION"),
            study: field(&m, "study", &mpath)?,
            fingerprint,
            scenarios: field(&m, "scenarios", &mpath)?,
            threads: field(&m, "threads", &mpath)?,
            baseline,
            mnist_baseline,
            floorplan: field(&m, "floorplan", &mpath)?,
            stages,
            report_s: 0.0,
            total_s: field(&m, "total_s", &mpath)?,
            git_revision: field(&m, "git_revision", &mpath)?,
            merged_shards: field(&m, "merged_shards", &mpath)?,
            source: Some(source),
            coded_layers: field(&m, "coded_layers", &mpath)?,
            mnist_timings: field(&m, "mnist_timings", &mpath)?,
            experiment: exp,
            dependencies: DEPENDENCIES,
        },
        records,
        studies,
        exports: Vec::new(),
        checkpoints: Vec::new(),
    })
}

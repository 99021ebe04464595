//! Checkpoints: finished scenarios survive a killed run, and a restart skips them.
//!
//! `checkpoint.jsonl` in the output folder holds a header line with the experiment's
//! fingerprint, then one line per finished scenario: `<fnv1a64 of the JSON, 16 hex> <JSON>`.
//! Lines are appended (and flushed) as scenarios finish, in any order. When a run starts, a
//! checkpoint with the same fingerprint is resumed: its valid lines are kept, the first torn or
//! corrupt line and everything after it are cut off. A checkpoint of a different configuration
//! is refused rather than mixed in. The final `results.csv` is written from all records sorted
//! by scenario index, so a resumed run produces the same bytes as an uninterrupted one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Experiment, ExperimentError, ScenarioRecord, fnv1a64};

const HEADER: &str = "xbar-checkpoint v1";

/// The fingerprint of everything that determines an experiment's records: the validated
/// configuration (except where the file was read from) and the xbar version.
pub fn fingerprint(exp: &Experiment) -> String {
    let mut e = exp.clone();
    e.origin.clear();
    // Imported files count by content (their SHA-256), not by where they were read from.
    if let Some(m) = e.network.imported.as_mut() {
        m.model.path = Default::default();
        for f in &mut m.data.files {
            f.path = Default::default();
        }
    }
    if let Some(u) = e.network.user_data.as_mut() {
        for f in &mut u.data.files {
            f.path = Default::default();
        }
    }
    let json = serde_json::to_string(&e).unwrap_or_default();
    format!(
        "{:016x}",
        fnv1a64(format!("{}|{json}", env!("CARGO_PKG_VERSION")).as_bytes())
    )
}

/// An open checkpoint file of records `R` (finished scenarios by default; the correction
/// study journals its finished correctors the same way).
#[derive(Debug)]
pub struct Checkpoint<R = ScenarioRecord> {
    path: PathBuf,
    file: Mutex<File>,
    record: PhantomData<fn(R)>,
}

/// What was found when opening a checkpoint.
#[derive(Debug)]
pub struct Resumed<R = ScenarioRecord> {
    /// Records of finished work, in file order.
    pub records: Vec<R>,
    /// Lines dropped because they were torn or corrupt (at most the tail).
    pub dropped_lines: usize,
}

impl<R> Default for Resumed<R> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            dropped_lines: 0,
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExperimentError + '_ {
    move |source| ExperimentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> ExperimentError + '_ {
    move |source| ExperimentError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl Checkpoint<ScenarioRecord> {
    /// Opens (or creates) `dir/checkpoint.jsonl` for `exp`. With `fresh`, an existing
    /// checkpoint is discarded; otherwise a compatible one is resumed and an incompatible one
    /// is an error that says what to do.
    pub fn open(
        dir: &Path,
        exp: &Experiment,
        fresh: bool,
    ) -> Result<(Checkpoint, Resumed), ExperimentError> {
        Self::open_named(dir, "checkpoint.jsonl", &fingerprint(exp), fresh)
    }
}

impl<R: Serialize + DeserializeOwned> Checkpoint<R> {
    /// Opens (or creates) `dir/name` for work identified by `fingerprint`, with the resume
    /// rules of [`Checkpoint::open`].
    pub fn open_named(
        dir: &Path,
        name: &str,
        fingerprint: &str,
        fresh: bool,
    ) -> Result<(Checkpoint<R>, Resumed<R>), ExperimentError> {
        let path = dir.join(name);
        let header = header_line(fingerprint);
        let mut resumed = Resumed::default();
        let mut keep = 0usize; // bytes of the existing file to keep
        if !fresh && path.exists() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let text = String::from_utf8_lossy(&bytes);
            match text.split_inclusive('\n').next() {
                Some(h) if h == header => {
                    keep = h.len();
                    for line in text.split_inclusive('\n').skip(1) {
                        match parse_line(line) {
                            Some(r) => {
                                keep += line.len();
                                resumed.records.push(r);
                            }
                            None => {
                                resumed.dropped_lines =
                                    text.split_inclusive('\n').count() - 1 - resumed.records.len();
                                break;
                            }
                        }
                    }
                }
                Some(h) if h.starts_with(HEADER) => {
                    return Err(ExperimentError::CheckpointMismatch { path });
                }
                _ => keep = 0, // empty or unreadable header: start over
            }
        }
        let file = if keep > 0 {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(write_err(&path))?;
            f.set_len(keep as u64).map_err(write_err(&path))?;
            let mut f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(write_err(&path))?;
            f.flush().map_err(write_err(&path))?;
            f
        } else {
            let mut f = File::create(&path).map_err(write_err(&path))?;
            f.write_all(header.as_bytes()).map_err(write_err(&path))?;
            f.sync_data().map_err(write_err(&path))?;
            f
        };
        Ok((
            Checkpoint {
                path,
                file: Mutex::new(file),
                record: PhantomData,
            },
            resumed,
        ))
    }

    /// Appends one finished record (one `write` call, so a kill tears at most this line).
    pub fn append(&self, record: &impl Serialize) -> Result<(), ExperimentError> {
        let json = serde_json::to_string(record).expect("records serialise");
        let line = format!("{:016x} {json}\n", fnv1a64(json.as_bytes()));
        let mut f = self.file.lock().expect("checkpoint lock");
        f.write_all(line.as_bytes()).map_err(write_err(&self.path))
    }

    /// The run finished and its results are written: the checkpoint is no longer needed.
    pub fn remove(self) -> Result<(), ExperimentError> {
        drop(self.file);
        std::fs::remove_file(&self.path).map_err(write_err(&self.path))
    }
}

fn parse_line<R: DeserializeOwned>(line: &str) -> Option<R> {
    serde_json::from_str(verified_json(line)?).ok()
}

/// The JSON of a whole journal line whose checksum matches (`None`: torn or corrupt).
pub(crate) fn verified_json(line: &str) -> Option<&str> {
    let line = line.strip_suffix('\n')?;
    let (sum, json) = line.split_once(' ')?;
    if sum.len() != 16 || format!("{:016x}", fnv1a64(json.as_bytes())) != sum {
        return None;
    }
    Some(json)
}

/// The first line of a journal of work identified by `id`.
pub(crate) fn header_line(id: &str) -> String {
    format!("{HEADER} {id}\n")
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees the old file or the whole new one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExperimentError> {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(write_err(&tmp))?;
    f.write_all(bytes).map_err(write_err(&tmp))?;
    f.sync_data().map_err(write_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(write_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> ScenarioRecord {
        ScenarioRecord {
            scenario: i,
            shape: "circle".into(),
            label: "circle".into(),
            size: Some(0.1 * f64::from(i)),
            layers: vec![0],
            state: "off".into(),
            level: "pair".into(),
            repeat: 0,
            wire_ohms: 0.0,
            defective_pairs: i,
            array_pairs: 100,
            defect_tiles: String::new(),
            chip_coverage: None,
            coverage: 0.123_456_789_012_345_67,
            accuracy: 1.0 / 3.0,
            accuracy_test: 0.5,
            flipped: 1,
            stream: "00".into(),
        }
    }

    #[test]
    fn resume_keeps_valid_lines_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let exp = Experiment::default_experiment().unwrap();
        let (cp, r) = Checkpoint::open(dir.path(), &exp, false).unwrap();
        assert!(r.records.is_empty());
        for i in 0..3 {
            cp.append(&rec(i)).unwrap();
        }
        drop(cp);
        // A kill in the middle of a write leaves half a line.
        let path = dir.path().join("checkpoint.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"0123456789abcdef {\"scenario\": 3, \"sha")
            .unwrap();
        drop(f);
        let (cp, r) = Checkpoint::open(dir.path(), &exp, false).unwrap();
        assert_eq!(r.records, vec![rec(0), rec(1), rec(2)]);
        assert_eq!(r.dropped_lines, 1);
        cp.append(&rec(3)).unwrap();
        drop(cp);
        let (_, r) = Checkpoint::open(dir.path(), &exp, false).unwrap();
        assert_eq!(r.records.len(), 4);
        assert_eq!(r.dropped_lines, 0);
        // Floats round-trip exactly through the checkpoint.
        assert_eq!(r.records[0].coverage, rec(0).coverage);
        // --fresh starts over.
        let (_, r) = Checkpoint::open(dir.path(), &exp, true).unwrap();
        assert!(r.records.is_empty());
    }

    #[test]
    fn a_failed_write_says_write() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("missing/out.json"), b"{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot write ") && err.contains("out.json"),
            "{err}"
        );
    }

    #[test]
    fn a_changed_configuration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let exp = Experiment::default_experiment().unwrap();
        drop(Checkpoint::open(dir.path(), &exp, false).unwrap());
        let mut other = exp.clone();
        other.seed += 1;
        let err = Checkpoint::open(dir.path(), &other, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("checkpoint.jsonl") && err.contains("--fresh"),
            "{err}"
        );
        // The origin alone does not matter.
        let mut moved = exp.clone();
        moved.origin = "elsewhere.toml".into();
        assert!(Checkpoint::open(dir.path(), &moved, false).is_ok());
    }
}

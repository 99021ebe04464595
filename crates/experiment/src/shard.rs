//! Sharding: one study split over N independent runs (the tasks of a Slurm job array), and
//! the merge that turns their partial folders back into one run's results.
//!
//! A shard runs the jobs that [`partition`] gives it and leaves them in its folder's journals
//! (the same `checkpoint*.jsonl` files an interrupted run resumes from), with a
//! [`ShardManifest`] (`shard.json`) written once every one of its jobs is done. [`merge`]
//! checks that the folders are the N shards of one configuration, each finished, that
//! together they hold every job exactly once, and writes their journals into the output
//! folder; a normal run on that folder then resumes every job and writes results.csv,
//! manifest.json, plots and summary.md exactly as one unsharded run does. The partition is a
//! pure function of the study's jobs, so every shard computes the same one without talking
//! to the others.
//!
//! ```
//! use xbar_experiment::Shard;
//! let s: Shard = "2/7".parse()?;
//! assert_eq!((s.index, s.count), (2, 7));
//! assert!("7/7".parse::<Shard>().is_err());
//! # Ok::<(), xbar_experiment::ExperimentError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::study::Stage;
use crate::{ExperimentError, Study};

/// Shard `index` of `count` (`0 <= index < count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based shard index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

/// Most shards a study may be split into.
pub const MAX_SHARDS: u32 = 100_000;

impl Shard {
    /// Shard `index` of `count`, validated.
    pub fn new(index: u32, count: u32) -> Result<Shard, ExperimentError> {
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(ExperimentError::Shard(format!(
                "--shard {index}/{count}: expected K/N with 1 <= N <= {MAX_SHARDS} and \
                 0 <= K < N (K counts from 0, as Slurm's array task ids do)"
            )));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ExperimentError;
    fn from_str(s: &str) -> Result<Shard, ExperimentError> {
        let bad = || {
            ExperimentError::Shard(format!(
                "--shard {s:?}: expected K/N, e.g. 0/4 for the first of four shards"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse::<u32>().map_err(|_| bad())?;
        let n = n.trim().parse::<u32>().map_err(|_| bad())?;
        Shard::new(k, n)
    }
}

/// The shard that owns each job of `study` when it is split `count` ways.
///
/// Jobs of one [`Study::class`] run the same code at costs proportional to
/// [`Study::cost`]; each class is dealt out on its own, largest cost first, to the shard
/// with the least cost of that class so far (ties: fewest jobs overall, then lowest index).
/// Every shard thus gets about `1/count` of every class, whatever the classes' unknown
/// relative speeds. Deterministic: it depends only on the jobs' classes and costs.
pub fn partition<S: Study>(study: &S, jobs: &[S::Job], count: u32) -> Vec<u32> {
    let n = count.max(1) as usize;
    let mut classes: BTreeMap<u64, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        let cost = study.cost(j);
        let cost = if cost.is_finite() && cost > 0.0 {
            cost
        } else {
            1.0
        };
        classes.entry(study.class(j)).or_default().push((i, cost));
    }
    let mut owner = vec![0u32; jobs.len()];
    let mut total_jobs = vec![0usize; n];
    for members in classes.values_mut() {
        // Largest first; equal costs keep job order (a stable sort).
        members.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut load = vec![0.0f64; n];
        for &(i, cost) in members.iter() {
            let k = (0..n)
                .min_by(|&a, &b| {
                    load[a]
                        .total_cmp(&load[b])
                        .then(total_jobs[a].cmp(&total_jobs[b]))
                        .then(a.cmp(&b))
                })
                .expect("at least one shard");
            load[k] += cost;
            total_jobs[k] += 1;
            owner[i] = k as u32;
        }
    }
    owner
}

/// Where an experiment came from, kept so that a merge rebuilds exactly the configuration
/// the shards ran (even if the file was edited since).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSource {
    /// The file as named (or the built-in default's name).
    pub origin: String,
    /// The folder its relative paths (ONNX, data, masks) resolve against, canonical.
    pub base: Option<PathBuf>,
    /// The file's text.
    pub toml: String,
    /// `--set` overrides, in order.
    pub overrides: Vec<String>,
}

impl ExperimentSource {
    /// Reads an experiment file (`None`: the built-in default) with `--set` overrides; the
    /// base folder is made absolute so that a merge run from elsewhere resolves the same
    /// files.
    pub fn read(path: Option<&Path>, overrides: &[String]) -> Result<Self, ExperimentError> {
        let overrides = overrides.to_vec();
        let Some(p) = path else {
            return Ok(ExperimentSource {
                origin: crate::DEFAULT_EXPERIMENT_ORIGIN.into(),
                base: None,
                toml: crate::DEFAULT_EXPERIMENT_TOML.into(),
                overrides,
            });
        };
        let io = |source| ExperimentError::Io {
            path: p.to_path_buf(),
            source,
        };
        let toml = std::fs::read_to_string(p).map_err(io)?;
        // Canonical, so that every spelling of the path (`f.toml`, `./f.toml`, `../x/f.toml`)
        // resolves the files it names to the same text.
        let base = std::fs::canonicalize(p)
            .map_err(io)?
            .parent()
            .map(Path::to_path_buf);
        Ok(ExperimentSource {
            origin: p.display().to_string(),
            base,
            toml,
            overrides,
        })
    }

    /// Validates the configuration again (reading the imported files it names).
    pub fn load(&self) -> Result<crate::Experiment, ExperimentError> {
        crate::Experiment::from_toml_with(
            &self.toml,
            &self.origin,
            self.base.as_deref(),
            &self.overrides,
        )
    }
}

/// `shard.json`: what a finished shard holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// Format tag, [`SHARD_FORMAT`].
    pub format: String,
    /// xbar's version.
    pub xbar_version: String,
    /// The configuration fingerprint (every shard of one study has the same).
    pub fingerprint: String,
    /// Which shard.
    pub shard: Shard,
    /// The experiment's name.
    pub name: String,
    /// The configuration the shard ran.
    pub source: ExperimentSource,
    /// Per study: its name, job count and the jobs this shard owns.
    pub stages: Vec<Stage>,
}

/// The `format` of `shard.json`.
pub const SHARD_FORMAT: &str = "xbar-shard v1";
/// The file a finished shard writes.
pub const SHARD_FILE: &str = "shard.json";

/// Largest `shard.json` read (it holds a configuration, not results).
const MAX_SHARD_JSON: u64 = 16 << 20;
/// Largest journal read by a merge.
const MAX_JOURNAL: u64 = 64 << 30;

/// What [`merge`] found: the configuration to resume in the output folder.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The shards' manifests, by shard index.
    pub shards: Vec<ShardManifest>,
    /// Jobs written per journal file.
    pub journals: Vec<(String, usize)>,
}

fn shard_err(msg: String) -> ExperimentError {
    ExperimentError::Shard(msg)
}

/// Reads a regular file (not a FIFO or a device) of at most `limit` bytes.
fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ExperimentError> {
    xbar_import::read_regular(path, limit).map_err(|e| shard_err(e.to_string()))
}

/// Reads `dir/shard.json`.
pub fn read_shard(dir: &Path) -> Result<ShardManifest, ExperimentError> {
    let path = dir.join(SHARD_FILE);
    if !path.exists() {
        return Err(shard_err(format!(
            "{}: no {SHARD_FILE}, so not a finished shard (a shard writes it when all its jobs \
             are done; re-run its `xbar run ... --shard K/N --out {}`, which resumes)",
            dir.display(),
            dir.display()
        )));
    }
    let bytes = read_regular(&path, MAX_SHARD_JSON)?;
    let m: ShardManifest = serde_json::from_slice(&bytes)
        .map_err(|e| shard_err(format!("{}: not a shard manifest: {e}", path.display())))?;
    if m.format != SHARD_FORMAT {
        return Err(shard_err(format!(
            "{}: format {:?}, expected {SHARD_FORMAT:?}",
            path.display(),
            m.format
        )));
    }
    Shard::new(m.shard.index, m.shard.count)
        .map_err(|e| shard_err(format!("{}: {e}", path.display())))?;
    Ok(m)
}

/// The head of a journal line: the job's position and content key.
#[derive(Deserialize)]
struct EntryHead {
    i: u32,
    key: String,
}

/// Checks that `dirs` are the finished shards of one configuration, together holding every
/// job exactly once, and writes their journals into `out` (created if needed). A normal run
/// of [`ShardManifest::source`] journaled in `out` then resumes every job.
///
/// # Errors
/// A folder that is not a finished shard, shards of different configurations or shard
/// counts, a shard given twice or missing, a job missing or two shards disagreeing on one,
/// or `out` being one of the shards.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, ExperimentError> {
    if dirs.is_empty() {
        return Err(shard_err(
            "xbar merge: no shard folders given (pass every shard's --out folder)".into(),
        ));
    }
    let mut found: Vec<(PathBuf, ShardManifest)> = Vec::with_capacity(dirs.len());
    for d in dirs {
        found.push((d.clone(), read_shard(d)?));
    }
    let (first_dir, first) = (&found[0].0, found[0].1.clone());
    let n = first.shard.count;
    let mut by_index: Vec<Option<&Path>> = vec![None; n as usize];
    for (d, m) in &found {
        if m.fingerprint != first.fingerprint || m.xbar_version != first.xbar_version {
            return Err(shard_err(format!(
                "{} is shard {} of another configuration (fingerprint {}, xbar {}) than {} \
                 (fingerprint {}, xbar {}): merge only the shards of one run",
                d.display(),
                m.shard,
                m.fingerprint,
                m.xbar_version,
                first_dir.display(),
                first.fingerprint,
                first.xbar_version
            )));
        }
        if m.shard.count != n {
            return Err(shard_err(format!(
                "{} is shard {} but {} is shard {}: all shards must split the study the same \
                 number of ways",
                d.display(),
                m.shard,
                first_dir.display(),
                first.shard
            )));
        }
        if let Some(other) = by_index[m.shard.index as usize] {
            return Err(shard_err(format!(
                "shard {} is given twice: {} and {}",
                m.shard,
                other.display(),
                d.display()
            )));
        }
        by_index[m.shard.index as usize] = Some(d);
    }
    let missing: Vec<String> = (0..n)
        .filter(|&k| by_index[k as usize].is_none())
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return Err(shard_err(format!(
            "{} of {n} shards missing: {shown}{}; pass the folder of every shard",
            missing.len(),
            if missing.len() > 20 { ", ..." } else { "" }
        )));
    }
    let out_abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    for (d, m) in &found {
        if std::path::absolute(d).unwrap_or_else(|_| d.clone()) == out_abs {
            return Err(shard_err(format!(
                "--out {} is the folder of shard {}: merge into a new folder",
                out.display(),
                m.shard
            )));
        }
    }
    found.sort_by_key(|(_, m)| m.shard.index);

    // Every journal is read and checked before the output folder is touched.
    let mut journals = Vec::new();
    let mut texts = Vec::new();
    for stage in first.stages.iter().filter(|s| s.owned.is_some()) {
        let name = crate::study::checkpoint_name(&stage.name);
        let header =
            crate::checkpoint::header_line(&format!("{}/{}", first.fingerprint, stage.name));
        // Job position -> (shard, line).
        let mut lines: Vec<Option<(u32, String)>> = vec![None; stage.jobs];
        for (d, m) in &found {
            let Some(own) = m.stages.iter().find(|s| s.name == stage.name) else {
                return Err(shard_err(format!(
                    "{}: shard {} has no {} study, which shard {} has",
                    d.display(),
                    m.shard,
                    stage.name,
                    first.shard
                )));
            };
            if own.jobs != stage.jobs {
                return Err(shard_err(format!(
                    "{}: shard {} counts {} jobs in the {} study, shard {} counts {}",
                    d.display(),
                    m.shard,
                    own.jobs,
                    stage.name,
                    first.shard,
                    stage.jobs
                )));
            }
            let path = d.join(&name);
            if own.owned == Some(0) && !path.exists() {
                continue;
            }
            let bytes = read_regular(&path, MAX_JOURNAL)?;
            let text = String::from_utf8_lossy(&bytes);
            let mut it = text.split_inclusive('\n');
            if it.next() != Some(header.as_str()) {
                return Err(shard_err(format!(
                    "{}: not the journal of this configuration's {} study",
                    path.display(),
                    stage.name
                )));
            }
            for line in it {
                let Some(json) = crate::checkpoint::verified_json(line) else {
                    // A torn tail: the shard did not finish writing it (and its manifest
                    // says it finished, so the coverage check below names what is missing).
                    break;
                };
                let head: EntryHead = serde_json::from_str(json).map_err(|e| {
                    shard_err(format!(
                        "{}: a journal line without a job: {e}",
                        path.display()
                    ))
                })?;
                let i = head.i as usize;
                if i >= stage.jobs || head.key.len() != 16 {
                    return Err(shard_err(format!(
                        "{}: job {} is outside the study's {} jobs",
                        path.display(),
                        head.i,
                        stage.jobs
                    )));
                }
                match &lines[i] {
                    None => lines[i] = Some((m.shard.index, line.to_string())),
                    Some((_, l)) if l == line => {}
                    Some((k, _)) => {
                        return Err(shard_err(format!(
                            "shards {k}/{n} and {} disagree on job {i} of the {} study: they \
                             did not run the same program (rebuild and re-run both)",
                            m.shard, stage.name
                        )));
                    }
                }
            }
        }
        let absent: Vec<usize> = (0..stage.jobs).filter(|&i| lines[i].is_none()).collect();
        if !absent.is_empty() {
            return Err(shard_err(format!(
                "the {} study's jobs {:?}{} ({} of {}) are in no shard's journal: a shard \
                 folder was changed after it finished; re-run the shards that own them",
                stage.name,
                &absent[..absent.len().min(10)],
                if absent.len() > 10 { " ..." } else { "" },
                absent.len(),
                stage.jobs
            )));
        }
        let mut text = String::with_capacity(header.len() + 256 * stage.jobs);
        text.push_str(&header);
        for (_, l) in lines.into_iter().flatten() {
            text.push_str(&l);
        }
        texts.push((name.clone(), text));
        journals.push((name, stage.jobs));
    }
    std::fs::create_dir_all(out).map_err(|source| ExperimentError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    for (name, text) in &texts {
        crate::checkpoint::write_atomic(&out.join(name), text.as_bytes())?;
    }
    Ok(Merged {
        shards: found.into_iter().map(|(_, m)| m).collect(),
        journals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Costs(Vec<(u64, f64)>);
    impl Study for Costs {
        type Job = usize;
        type Output = f64;
        type Scratch = ();
        fn name(&self) -> &'static str {
            "costs"
        }
        fn jobs(&self) -> Vec<usize> {
            (0..self.0.len()).collect()
        }
        fn key(&self, &i: &usize) -> u64 {
            i as u64
        }
        fn cost(&self, &i: &usize) -> f64 {
            self.0[i].1
        }
        fn class(&self, &i: &usize) -> u64 {
            self.0[i].0
        }
        fn scratch(&self) {}
        fn run(&self, &i: &usize, _: &mut ()) -> Result<f64, ExperimentError> {
            Ok(self.0[i].1)
        }
    }

    #[test]
    fn shard_parsing_names_the_valid_range() {
        assert_eq!(
            "0/1".parse::<Shard>().unwrap(),
            Shard { index: 0, count: 1 }
        );
        for bad in ["3", "1/0", "4/4", "-1/3", "a/b", "1/3/4", "0/1000000"] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_class_is_split_evenly_by_cost() {
        // Class 0: 12 cheap jobs; class 1: 3 jobs 100x dearer, with one huge one.
        let mut jobs: Vec<(u64, f64)> = (0..12).map(|i| (0, 1.0 + f64::from(i % 3))).collect();
        jobs.extend([(1, 100.0), (1, 100.0), (1, 400.0)]);
        let s = Costs(jobs.clone());
        let owner = partition(&s, &s.jobs(), 3);
        assert_eq!(owner, partition(&s, &s.jobs(), 3), "deterministic");
        for class in [0u64, 1] {
            let loads: Vec<f64> = (0..3)
                .map(|k| {
                    jobs.iter()
                        .zip(&owner)
                        .filter(|((c, _), o)| *c == class && **o == k)
                        .map(|((_, w), _)| w)
                        .sum()
                })
                .collect();
            let total: f64 = loads.iter().sum();
            // Largest-first greedy: no shard above its share by more than the largest job.
            let largest = jobs
                .iter()
                .filter(|(c, _)| *c == class)
                .map(|(_, w)| *w)
                .fold(0.0, f64::max);
            for l in &loads {
                assert!(*l <= total / 3.0 + largest, "class {class}: {loads:?}");
            }
            if class == 0 {
                assert_eq!(loads, vec![8.0, 8.0, 8.0]);
            }
        }
        // The three dear jobs land on three different shards.
        let mut dear: Vec<u32> = owner[12..].to_vec();
        dear.sort_unstable();
        assert_eq!(dear, vec![0, 1, 2]);
    }

    #[test]
    fn more_shards_than_jobs_leaves_some_empty() {
        let s = Costs(vec![(0, 1.0); 3]);
        let owner = partition(&s, &s.jobs(), 7);
        let mut o = owner.clone();
        o.sort_unstable();
        o.dedup();
        assert_eq!(o.len(), 3, "{owner:?}");
    }
}

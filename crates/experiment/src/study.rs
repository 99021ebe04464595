//! The study abstraction and its driver.
//!
//! Every kind of study (the defect sweep, the post-correction study, the error-detection
//! study, crossbar repair, the phase transition, MNIST repair) implements one trait,
//! [`Study`]: the list of its jobs, a content key per job, a relative cost, and how one job
//! runs. The [`Driver`] owns everything else, once for every study kind: iteration order,
//! parallelism (rayon, on the caller's pool), progress (and a note when it resumes), the
//! checkpoint journal and resume, and timings. A study never loops over its own jobs and never touches files.
//!
//! The contract that makes results reproducible: a job's output is a pure function of the
//! study (built from the validated experiment) and the job. The driver returns outputs in job
//! order, whatever the thread count, and whatever part of them was read back from a journal.
//!
//! ```
//! use xbar_experiment::{Driver, ExperimentError, NoProgress, Study};
//!
//! /// Squares of 0..n, one job each.
//! struct Squares(u64);
//! impl Study for Squares {
//!     type Job = u64;
//!     type Output = u64;
//!     type Scratch = ();
//!     fn name(&self) -> &'static str { "squares" }
//!     fn jobs(&self) -> Vec<u64> { (0..self.0).collect() }
//!     fn key(&self, job: &u64) -> u64 { *job }
//!     fn scratch(&self) {}
//!     fn run(&self, job: &u64, _: &mut ()) -> Result<u64, ExperimentError> { Ok(job * job) }
//! }
//!
//! let dir = std::env::temp_dir().join(format!("xbar-study-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let mut driver = Driver::journaled(&dir, "fingerprint-of-the-config", false, &NoProgress);
//! assert_eq!(driver.run(&Squares(5))?, vec![0, 1, 4, 9, 16]);
//! assert_eq!(driver.stages()[0].jobs, 5);
//! // A second driver on the same folder resumes: nothing is computed again.
//! let mut again = Driver::journaled(&dir, "fingerprint-of-the-config", false, &NoProgress);
//! assert_eq!(again.run(&Squares(5))?, vec![0, 1, 4, 9, 16]);
//! assert_eq!(again.stages()[0].resumed, 5);
//! again.remove_checkpoints()?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), ExperimentError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Checkpoint, ExperimentError, Progress, Shard, partition};

/// One kind of study: its jobs and how one job runs.
///
/// Implementations hold everything their jobs share (the prepared network, the scenario
/// grid, trained codes, ...), built once before the driver runs them.
pub trait Study: Sync {
    /// One unit of work (a scenario, a corrector, a decoding instance, ...).
    type Job: Sync;
    /// What one job produces; it is journaled in the checkpoint, so it must survive a JSON
    /// round trip exactly (floats do).
    type Output: Serialize + DeserializeOwned + Send;
    /// Per-thread scratch memory, made once per worker and reused by its jobs.
    type Scratch: Send;

    /// Short name: the progress stage, the checkpoint file (`checkpoint-<name>.jsonl`) and
    /// the timings entry.
    fn name(&self) -> &'static str;
    /// The jobs, in the order of the results.
    fn jobs(&self) -> Vec<Self::Job>;
    /// A content key of the job (not its position): a journal entry is reused only when the
    /// job at its position still has this key.
    fn key(&self, job: &Self::Job) -> u64;
    /// Relative cost of a job (any unit; only ratios within a class are used).
    fn cost(&self, _job: &Self::Job) -> f64 {
        1.0
    }
    /// Jobs of one class run the same code path at costs proportional to [`Study::cost`]:
    /// [`estimate`] times one job per class.
    fn class(&self, _job: &Self::Job) -> u64 {
        0
    }
    /// Fresh scratch memory for one worker.
    fn scratch(&self) -> Self::Scratch;
    /// Runs one job. Must not depend on which thread runs it or on other jobs.
    fn run(
        &self,
        job: &Self::Job,
        scratch: &mut Self::Scratch,
    ) -> Result<Self::Output, ExperimentError>;
}

/// What the driver did for one study (or preparation stage): recorded in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Study or stage name.
    pub name: String,
    /// Jobs in the study (0 for a preparation stage).
    pub jobs: usize,
    /// Jobs read back from a checkpoint instead of run.
    pub resumed: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// In a sharded run: the jobs this shard owns (`None`: an unsharded run owns them all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<usize>,
}

/// A journal line: the job's position, its content key and its output.
#[derive(Serialize, Deserialize)]
struct Entry<O> {
    /// Position in the job list.
    i: u32,
    /// [`Study::key`], 16 hex digits.
    key: String,
    /// The output.
    out: O,
}

/// Runs studies: order, parallelism, progress, checkpoints and timings.
pub struct Driver<'a> {
    journal: Option<(PathBuf, String, bool)>,
    shard: Option<Shard>,
    progress: &'a dyn Progress,
    stages: Vec<Stage>,
    checkpoints: Vec<PathBuf>,
}

impl<'a> Driver<'a> {
    /// A driver that keeps no journal (tests, notebooks, `xbar check`).
    pub fn in_memory(progress: &'a dyn Progress) -> Driver<'a> {
        Driver {
            journal: None,
            shard: None,
            progress,
            stages: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    /// A driver that journals every finished job in `dir/checkpoint-<study>.jsonl` and
    /// resumes from such files when they belong to `fingerprint` (the configuration); with
    /// `fresh`, existing journals are discarded.
    pub fn journaled(
        dir: &Path,
        fingerprint: &str,
        fresh: bool,
        progress: &'a dyn Progress,
    ) -> Driver<'a> {
        Driver {
            journal: Some((dir.to_path_buf(), fingerprint.to_string(), fresh)),
            ..Driver::in_memory(progress)
        }
    }

    /// Makes this driver run only the jobs that `shard` owns ([`crate::partition`]); the
    /// others are left out of [`Driver::run_partial`]'s outputs, and [`Driver::run`] refuses
    /// to return an incomplete study.
    pub fn sharded(mut self, shard: Shard) -> Driver<'a> {
        self.shard = Some(shard);
        self
    }

    /// The shard this driver runs, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// Records a preparation stage (training, programming, coding) in the timings.
    pub fn record_stage(&mut self, name: &str, seconds: f64) {
        self.stages.push(Stage {
            name: name.to_string(),
            jobs: 0,
            resumed: 0,
            seconds,
            owned: None,
        });
    }

    /// Times `f` as a preparation stage.
    pub fn stage<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<T, ExperimentError>,
    ) -> Result<T, ExperimentError> {
        let t = Instant::now();
        let out = f()?;
        self.record_stage(name, t.elapsed().as_secs_f64());
        Ok(out)
    }

    /// Stages so far, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The checkpoint files this driver opened.
    pub fn checkpoints(&self) -> &[PathBuf] {
        &self.checkpoints
    }

    /// Removes the checkpoint files: call it once every output is on disk.
    pub fn remove_checkpoints(&mut self) -> Result<(), ExperimentError> {
        remove_files(&mut self.checkpoints)
    }

    /// Runs every job of `study` that is not already in its journal, in parallel on the
    /// current rayon pool, journaling each output as soon as it exists; returns all outputs
    /// in job order.
    pub fn run<S: Study>(&mut self, study: &S) -> Result<Vec<S::Output>, ExperimentError> {
        let outputs = self.run_partial(study)?;
        if outputs.iter().any(Option::is_none) {
            return Err(ExperimentError::Shard(format!(
                "the {} study needs every job of the study before it, but this run is shard {}; \
                 merge the shards first (`xbar merge`)",
                study.name(),
                self.shard.map_or_else(String::new, |s| s.to_string())
            )));
        }
        Ok(outputs.into_iter().flatten().collect())
    }

    /// [`Driver::run`] for a sharded driver: the outputs of the jobs this shard owns (and of
    /// any job already in the journal), `None` for the others. Unsharded, every entry is
    /// `Some`.
    pub fn run_partial<S: Study>(
        &mut self,
        study: &S,
    ) -> Result<Vec<Option<S::Output>>, ExperimentError> {
        let t = Instant::now();
        let jobs = study.jobs();
        let owner = self.shard.map(|s| partition(study, &jobs, s.count));
        let keys: Vec<u64> = jobs.iter().map(|j| study.key(j)).collect();
        let mut slots: Vec<Option<S::Output>> = (0..jobs.len()).map(|_| None).collect();
        let checkpoint = match &self.journal {
            None => None,
            Some((dir, fingerprint, fresh)) => {
                let name = checkpoint_name(study.name());
                let (cp, resumed) = Checkpoint::<Entry<S::Output>>::open_named(
                    dir,
                    &name,
                    &format!("{fingerprint}/{}", study.name()),
                    *fresh,
                )?;
                let mut reused = 0usize;
                for e in resumed.records {
                    let i = e.i as usize;
                    if i < jobs.len() && format!("{:016x}", keys[i]) == e.key && slots[i].is_none()
                    {
                        slots[i] = Some(e.out);
                        reused += 1;
                    }
                }
                if reused > 0 || resumed.dropped_lines > 0 {
                    self.progress.note(&format!(
                        "resuming {}: {reused} of {} jobs already done{}",
                        study.name(),
                        jobs.len(),
                        if resumed.dropped_lines > 0 {
                            format!(" ({} torn checkpoint line dropped)", resumed.dropped_lines)
                        } else {
                            String::new()
                        }
                    ));
                }
                self.checkpoints.push(dir.join(&name));
                Some(cp)
            }
        };
        let resumed = slots.iter().filter(|s| s.is_some()).count();
        let mine = |i: usize| match (&owner, self.shard) {
            (Some(o), Some(s)) => o[i] == s.index,
            _ => true,
        };
        let owned = (0..jobs.len()).filter(|&i| mine(i)).count();
        let todo: Vec<usize> = (0..jobs.len())
            .filter(|&i| slots[i].is_none() && mine(i))
            .collect();
        let progress = self.progress;
        progress.begin(study.name(), todo.len() as u64);
        let failure: Mutex<Option<ExperimentError>> = Mutex::new(None);
        let done: Vec<(usize, S::Output)> = todo
            .par_iter()
            .map_init(
                || study.scratch(),
                |scratch, &i| {
                    if failure.lock().expect("error slot").is_some() {
                        return None;
                    }
                    let out = study.run(&jobs[i], scratch).and_then(|out| {
                        if let Some(cp) = &checkpoint {
                            cp.append(&Entry {
                                i: i as u32,
                                key: format!("{:016x}", keys[i]),
                                out: &out,
                            })?;
                        }
                        Ok(out)
                    });
                    progress.advance(1);
                    match out {
                        Ok(o) => Some((i, o)),
                        Err(e) => {
                            failure.lock().expect("error slot").get_or_insert(e);
                            None
                        }
                    }
                },
            )
            .flatten()
            .collect();
        progress.end();
        if let Some(e) = failure.into_inner().expect("error slot") {
            return Err(e);
        }
        for (i, o) in done {
            slots[i] = Some(o);
        }
        self.stages.push(Stage {
            name: study.name().to_string(),
            jobs: jobs.len(),
            resumed,
            seconds: t.elapsed().as_secs_f64(),
            owned: self.shard.map(|_| owned),
        });
        Ok(slots)
    }
}

/// Removes (and forgets) the files in `paths`; files already gone are fine.
pub(crate) fn remove_files(paths: &mut Vec<PathBuf>) -> Result<(), ExperimentError> {
    for p in paths.drain(..) {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ExperimentError::Write { path: p, source }),
        }
    }
    Ok(())
}

/// The journal file of a study: the sweep keeps the historical `checkpoint.jsonl`.
pub(crate) fn checkpoint_name(study: &str) -> String {
    if study == "sweep" {
        "checkpoint.jsonl".into()
    } else {
        format!("checkpoint-{study}.jsonl")
    }
}

/// Estimates the wall time of a whole study on `threads` workers from a few timed jobs: the
/// first job of each [`Study::class`] (at most `max_samples` classes; the others get the
/// mean rate), scaled by the cost of every job. Returns `(seconds, jobs timed)`.
pub fn estimate<S: Study>(
    study: &S,
    threads: usize,
    max_samples: usize,
) -> Result<(f64, usize), ExperimentError> {
    let jobs = study.jobs();
    if jobs.is_empty() {
        return Ok((0.0, 0));
    }
    // (class, first job, total cost of the class)
    let mut classes: Vec<(u64, usize, f64)> = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        let (c, cost) = (study.class(j), study.cost(j).max(1e-12));
        match classes.iter_mut().find(|x| x.0 == c) {
            Some(x) => x.2 += cost,
            None => classes.push((c, i, cost)),
        }
    }
    let mut scratch = study.scratch();
    let mut rates: Vec<Option<f64>> = vec![None; classes.len()];
    for (k, &(_, i, _)) in classes.iter().enumerate().take(max_samples.max(1)) {
        let t = Instant::now();
        study.run(&jobs[i], &mut scratch)?;
        rates[k] = Some(t.elapsed().as_secs_f64() / study.cost(&jobs[i]).max(1e-12));
    }
    let timed: Vec<f64> = rates.iter().flatten().copied().collect();
    let mean = timed.iter().sum::<f64>() / timed.len() as f64;
    let total: f64 = classes
        .iter()
        .zip(&rates)
        .map(|(c, r)| c.2 * r.unwrap_or(mean))
        .sum();
    let lanes = threads.max(1).min(jobs.len()) as f64;
    Ok((total / lanes, timed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count<'c> {
        n: u64,
        ran: &'c AtomicUsize,
        fail_at: Option<u64>,
    }
    impl Study for Count<'_> {
        type Job = u64;
        type Output = f64;
        type Scratch = Vec<f64>;
        fn name(&self) -> &'static str {
            "count"
        }
        fn jobs(&self) -> Vec<u64> {
            (0..self.n).collect()
        }
        fn key(&self, job: &u64) -> u64 {
            job.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        }
        fn scratch(&self) -> Vec<f64> {
            Vec::with_capacity(4)
        }
        fn run(&self, job: &u64, s: &mut Vec<f64>) -> Result<f64, ExperimentError> {
            if self.fail_at == Some(*job) {
                return Err(ExperimentError::Ecc(format!("job {job} failed")));
            }
            self.ran.fetch_add(1, Ordering::Relaxed);
            s.clear();
            s.push((*job as f64).sqrt());
            Ok(s[0] / 3.0)
        }
    }

    #[test]
    fn outputs_come_in_job_order_for_any_thread_count() {
        let ran = AtomicUsize::new(0);
        let study = Count {
            n: 200,
            ran: &ran,
            fail_at: None,
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| Driver::in_memory(&NoProgress).run(&study).unwrap());
        let four = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap()
            .install(|| Driver::in_memory(&NoProgress).run(&study).unwrap());
        assert_eq!(one, four);
        assert_eq!(one[49], 7.0 / 3.0);
    }

    #[test]
    fn a_failed_run_resumes_without_redoing_finished_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let ran = AtomicUsize::new(0);
        let failing = Count {
            n: 50,
            ran: &ran,
            fail_at: Some(30),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let err = pool
            .install(|| Driver::journaled(dir.path(), "fp", false, &NoProgress).run(&failing))
            .unwrap_err();
        assert!(err.to_string().contains("job 30 failed"), "{err}");
        let first = ran.load(Ordering::Relaxed);
        assert!(first >= 30, "{first}");
        let ran2 = AtomicUsize::new(0);
        let ok = Count {
            n: 50,
            ran: &ran2,
            fail_at: None,
        };
        let mut d = Driver::journaled(dir.path(), "fp", false, &NoProgress);
        let out = d.run(&ok).unwrap();
        assert_eq!(out.len(), 50);
        assert_eq!(ran2.load(Ordering::Relaxed), 50 - first);
        assert_eq!(d.stages()[0].resumed, first);
        // Same outputs as a run from scratch.
        let ran3 = AtomicUsize::new(0);
        let fresh = Count {
            n: 50,
            ran: &ran3,
            fail_at: None,
        };
        assert_eq!(
            Driver::journaled(dir.path(), "fp", true, &NoProgress)
                .run(&fresh)
                .unwrap(),
            out
        );
        assert_eq!(ran3.load(Ordering::Relaxed), 50);
        d.remove_checkpoints().unwrap();
        assert!(!dir.path().join("checkpoint-count.jsonl").exists());
    }

    #[test]
    fn shards_run_disjoint_parts_that_cover_the_study() {
        let ran = AtomicUsize::new(0);
        let s = Count {
            n: 23,
            ran: &ran,
            fail_at: None,
        };
        let all = Driver::in_memory(&NoProgress).run(&s).unwrap();
        ran.store(0, Ordering::Relaxed);
        let mut merged: Vec<Option<f64>> = vec![None; 23];
        for k in 0..5 {
            let mut d = Driver::in_memory(&NoProgress).sharded(Shard::new(k, 5).unwrap());
            let part = d.run_partial(&s).unwrap();
            assert_eq!(d.stages()[0].owned, Some(part.iter().flatten().count()));
            for (i, o) in part.into_iter().enumerate() {
                if let Some(o) = o {
                    assert!(merged[i].replace(o).is_none(), "job {i} in two shards");
                }
            }
            // A sharded driver does not pretend to have the whole study.
            let err = Driver::in_memory(&NoProgress)
                .sharded(Shard::new(k, 5).unwrap())
                .run(&s)
                .unwrap_err();
            assert!(err.to_string().contains("xbar merge"), "{err}");
        }
        // Each shard ran its jobs twice (run_partial, then the refused run): 2 x 23 in all.
        assert_eq!(ran.load(Ordering::Relaxed), 2 * 23);
        let merged: Vec<f64> = merged.into_iter().map(Option::unwrap).collect();
        assert_eq!(merged, all);
    }

    #[test]
    fn another_configuration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ran = AtomicUsize::new(0);
        let s = Count {
            n: 3,
            ran: &ran,
            fail_at: None,
        };
        Driver::journaled(dir.path(), "a", false, &NoProgress)
            .run(&s)
            .unwrap();
        let err = Driver::journaled(dir.path(), "b", false, &NoProgress)
            .run(&s)
            .unwrap_err();
        assert!(err.to_string().contains("--fresh"), "{err}");
    }

    #[test]
    fn estimates_scale_with_cost() {
        let ran = AtomicUsize::new(0);
        let s = Count {
            n: 10,
            ran: &ran,
            fail_at: None,
        };
        let (secs, timed) = estimate(&s, 2, 3).unwrap();
        assert_eq!(timed, 1); // every job has the same cost
        assert!(secs >= 0.0 && secs.is_finite());
    }
}

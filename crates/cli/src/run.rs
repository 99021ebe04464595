//! `xbar run` and `xbar check`: parse, call the library, print.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use xbar_experiment::{
    Experiment, ExperimentSource, Progress, RunOptions, Shard, StudyOutcome, crossing_50, execute,
};

use crate::progress::Bars;

/// Loads the experiment file (or the built-in default) with `--set` overrides.
pub(crate) fn load(file: Option<&Path>, overrides: &[String]) -> Result<Experiment> {
    Ok(Experiment::load(file, overrides)?)
}

/// Loads an experiment whose sweeps a command draws or exports: standalone studies (no
/// sweeps) are refused with a message.
pub(crate) fn load_sweeps(file: Option<&Path>) -> Result<Experiment> {
    let exp = load(file, &[])?;
    if let Some(study) = exp.standalone() {
        anyhow::bail!(
            "{}: a standalone [{study}] study has no network sweeps to show; use `xbar run` on it",
            exp.origin
        );
    }
    Ok(exp)
}

/// The training cache folder: flag, then `$XBAR_CACHE_DIR`, then `.xbar-cache` next to `out`.
pub(crate) fn cache_dir(flag: Option<PathBuf>, out: &Path) -> PathBuf {
    flag.or_else(|| std::env::var_os("XBAR_CACHE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| out.parent().unwrap_or(Path::new(".")).join(".xbar-cache"))
}

/// A rayon pool with the requested number of threads (0 or none: all cores).
pub(crate) fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let n = threads.unwrap_or(0);
    if n > 1024 {
        anyhow::bail!("--threads {n}: expected 1..=1024 (or omit it to use every core)");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .context("cannot start the worker threads")
}

/// Checks that the output folder can be created and written, before any work is done.
pub(crate) fn ensure_writable(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create output folder {}", out.display()))?;
    let probe = out.join(".xbar-write-probe");
    std::fs::write(&probe, b"")
        .with_context(|| format!("output folder {} is not writable", out.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Takes the output folder's advisory lock (`OUT/.xbar-lock`, with the holder's pid in it) for
/// as long as the returned file lives, so that a second run writing into the same folder is
/// refused instead of mixing its files with the first's. The lock is released by the system
/// when the process ends, however it ends; the small file stays.
pub(crate) fn lock_out(out: &Path) -> Result<std::fs::File> {
    use std::io::{Read as _, Seek as _};
    let path = out.join(".xbar-lock");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot write the lock file {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = f.take(64).read_to_string(&mut holder);
            anyhow::bail!(
                "{} is in use by another xbar process ({}): wait for it to finish, or choose \
                 another --out folder",
                out.display(),
                match holder.trim() {
                    "" => "pid unknown".to_string(),
                    pid => format!("pid {pid}"),
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|()| writeln!(f, "{}", std::process::id()))
        .with_context(|| format!("cannot write the lock file {}", path.display()))?;
    remove_stale_temps(out);
    Ok(f)
}

/// Removes the temporary files an atomic write leaves when its process is killed between
/// creating and renaming them (`.<name>.<pid>.<n>.tmp`, `.<name>.tmp-<pid>`), in the output
/// folder and its `plots/` and `exports/`. Only called with the folder's lock held, so no
/// other xbar process is writing them. Best effort: what cannot be removed stays.
fn remove_stale_temps(out: &Path) {
    for dir in [out.to_path_buf(), out.join("plots"), out.join("exports")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let temp = name.starts_with('.') && (name.ends_with(".tmp") || name.contains(".tmp-"));
            if temp && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A study's error with the file that asked for it (a bad MNIST file names the study too).
fn in_context(exp: &Experiment, e: xbar_experiment::ExperimentError) -> anyhow::Error {
    match exp.mnist_repair() {
        Some(m) => anyhow::Error::new(e).context(format!(
            "{}: [mnist-repair] with the MNIST folder {}",
            exp.origin,
            m.mnist_dir.display()
        )),
        None => e.into(),
    }
}

/// What `xbar run` was asked.
pub(crate) struct RunArgs {
    pub(crate) file: Option<PathBuf>,
    pub(crate) set: Vec<String>,
    pub(crate) out: Option<PathBuf>,
    pub(crate) threads: Option<usize>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) fresh: bool,
    pub(crate) quiet: bool,
    /// `--shard K/N`: run only this shard's jobs.
    pub(crate) shard: Option<String>,
}

pub(crate) fn run(args: RunArgs) -> Result<()> {
    let t0 = Instant::now();
    let shard = match &args.shard {
        Some(s) => Some(s.parse::<Shard>()?),
        None => None,
    };
    // Read through the same path as a merge, so both validate the same configuration.
    let source = ExperimentSource::read(args.file.as_deref(), &args.set)?;
    let exp = source.load()?;
    let out = args.out.unwrap_or_else(|| match shard {
        Some(s) => PathBuf::from("results")
            .join(&exp.name)
            .join("shards")
            .join(s.index.to_string()),
        None => PathBuf::from("results").join(&exp.name),
    });
    let pool = pool(args.threads)?;
    if let Some(s) = shard {
        if args.fresh {
            anyhow::bail!(
                "--fresh with --shard: delete the shard's folder {} instead",
                out.display()
            );
        }
        ensure_writable(&out)?;
        let _lock = lock_out(&out)?;
        let bars = Bars::new(args.quiet);
        bars.note(&format!(
            "xbar: {} shard {s} -> {}",
            exp.name,
            out.display()
        ));
        let cache = cache_dir(args.cache_dir, &out);
        let m = pool
            .install(|| xbar_experiment::execute_shard(&source, s, &out, Some(&cache), &bars))
            .map_err(|e| in_context(&exp, e))?;
        if !args.quiet {
            for st in m.stages.iter().filter(|st| st.owned.is_some()) {
                errln!(
                    "  {:<18} {:>9.3} s ({} of {} jobs{})",
                    st.name,
                    st.seconds,
                    st.owned.unwrap_or(0),
                    st.jobs,
                    if st.resumed > 0 {
                        format!(", {} resumed", st.resumed)
                    } else {
                        String::new()
                    }
                );
            }
            errln!(
                "  shard {s} done in {:.2} s; merge every shard with `xbar merge DIR... --out DIR`",
                t0.elapsed().as_secs_f64()
            );
        }
        return Ok(());
    }
    ensure_writable(&out)?;
    let _lock = lock_out(&out)?;
    let bars = Bars::new(args.quiet);
    bars.note(&format!(
        "xbar: {} ({}) -> {}",
        exp.name,
        match exp.standalone() {
            Some(s) => s.to_string(),
            None => format!("{} scenarios", exp.scenario_count()),
        },
        out.display()
    ));
    let opts = RunOptions {
        journal: Some(out.clone()),
        fresh: args.fresh,
        cache_dir: Some(cache_dir(args.cache_dir, &out)),
    };
    finish(
        &exp, &source, &opts, &pool, &bars, &out, t0, args.quiet, None,
    )
}

/// Runs `exp` journaled in `out` (resuming what is there), writes every output and prints
/// the timings: the end of `xbar run` and of `xbar merge`.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's settings, passed through once"
)]
pub(crate) fn finish(
    exp: &Experiment,
    source: &ExperimentSource,
    opts: &RunOptions,
    pool: &rayon::ThreadPool,
    bars: &Bars,
    out: &Path,
    t0: Instant,
    quiet: bool,
    merged_shards: Option<u32>,
) -> Result<()> {
    let mut outcome = pool
        .install(|| execute(exp, opts, bars))
        .map_err(|e| in_context(exp, e))?;
    outcome.manifest.git_revision = git_revision();
    outcome.manifest.merged_shards = merged_shards;
    outcome.manifest.source = Some(source.clone());
    outcome.manifest.total_s = t0.elapsed().as_secs_f64();
    let written = xbar_report::write_outcome(out, &mut outcome)?;
    // Every output is on disk: the journals have done their job.
    outcome.remove_checkpoints()?;
    if quiet {
        return Ok(());
    }
    if let Some(b) = &outcome.manifest.baseline {
        errln!(
            "software accuracy {:.2} % (test), healthy circuit {:.2} % (test) / {:.2} % (all images){}",
            100.0 * b.software_test,
            100.0 * b.analog_test,
            100.0 * b.analog_all,
            if b.weights_from_cache {
                ", weights from cache"
            } else {
                ""
            }
        );
    }
    for study in &outcome.studies {
        if let (StudyOutcome::PhaseTransition { rows }, Some(spec)) =
            (study, exp.phase_transition())
        {
            for &n in &spec.unknowns {
                errln!(
                    "N = {n}: 50 % point {} (predicted D(s, N) = {:.1})",
                    crossing_50(rows, n as u32)
                        .map_or("not crossed".into(), |c| format!("K = {c:.1}")),
                    xbar_correct::repair::statistical_dimension(spec.errors, n)
                );
            }
        }
    }
    for s in &outcome.manifest.stages {
        let jobs = match (s.jobs, s.resumed) {
            (0, _) => String::new(),
            (n, 0) => format!(" ({n} jobs)"),
            (n, r) => format!(" ({n} jobs, {r} resumed)"),
        };
        errln!("  {:<18} {:>9.3} s{jobs}", s.name, s.seconds);
    }
    errln!("  total {:.2} s", t0.elapsed().as_secs_f64());
    for w in written {
        errln!("  wrote {}", w.display());
    }
    Ok(())
}

pub(crate) fn check(file: &Path, set: &[String]) -> Result<()> {
    let exp = load(Some(file), set)?;
    let cache = cache_dir(None, &PathBuf::from("results").join(&exp.name));
    // Estimating reads every input a run reads (MNIST files, cached weights), so a file that
    // `run` would refuse fails here first.
    let plan = xbar_experiment::plan(&exp, Some(&cache), &xbar_experiment::NoProgress)
        .map_err(|e| in_context(&exp, e))?;
    outln!("{}: ok", file.display());
    for o in &exp.overrides {
        outln!("  --set:     {o}");
    }
    write!(std::io::stdout(), "{}", xbar_experiment::describe(&exp))?;
    let mut total = 0.0;
    for e in &plan {
        total += e.seconds.unwrap_or(0.0);
        outln!(
            "  estimate:  {:<16} {:>6} job(s)  {}  ({})",
            e.name,
            e.jobs,
            e.seconds
                .map_or("  not timed".into(), |s| format!("{s:>9.2} s")),
            e.basis
        );
    }
    outln!("  estimated total: {total:.1} s plus the untimed studies");
    Ok(())
}

//! `xbar merge` and `xbar slurm`: a study split over a Slurm job array and put back together.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use xbar_experiment::{ExperimentSource, Progress, RunOptions, fingerprint};

use crate::progress::Bars;
use crate::run::{cache_dir, ensure_writable, finish, lock_out, pool};

/// What `xbar merge` was asked.
pub(crate) struct MergeArgs {
    pub(crate) dirs: Vec<PathBuf>,
    pub(crate) out: PathBuf,
    pub(crate) threads: Option<usize>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) quiet: bool,
}

pub(crate) fn merge(args: MergeArgs) -> Result<()> {
    let t0 = Instant::now();
    let pool = pool(args.threads)?;
    // Every check on the shards runs before the output folder is touched.
    let shards = args
        .dirs
        .iter()
        .map(|d| xbar_experiment::read_shard(d))
        .collect::<Result<Vec<_>, _>>()?;
    let first = shards
        .first()
        .context("xbar merge: no shard folders given")?;
    let exp = first.source.load().with_context(|| {
        format!(
            "the configuration that shard {} ran ({}) no longer validates",
            first.shard, first.source.origin
        )
    })?;
    if fingerprint(&exp) != first.fingerprint {
        anyhow::bail!(
            "the shards ran configuration {} but {} now reads as {} (an imported file changed, \
             or another xbar version): re-run the shards",
            first.fingerprint,
            first.source.origin,
            fingerprint(&exp)
        );
    }
    let merged = xbar_experiment::merge(&args.dirs, &args.out)?;
    ensure_writable(&args.out)?;
    let _lock = lock_out(&args.out)?;
    let n = first.shard.count;
    let bars = Bars::new(args.quiet);
    bars.note(&format!(
        "xbar: merging {} ({n} shards: {}) -> {}",
        exp.name,
        merged
            .journals
            .iter()
            .map(|(f, j)| format!("{j} jobs in {f}"))
            .collect::<Vec<_>>()
            .join(", "),
        args.out.display()
    ));
    let opts = RunOptions {
        journal: Some(args.out.clone()),
        fresh: false,
        cache_dir: Some(cache_dir(args.cache_dir, &args.out)),
    };
    finish(
        &exp,
        &first.source,
        &opts,
        &pool,
        &bars,
        &args.out,
        t0,
        args.quiet,
        Some(n),
    )
}

pub(crate) fn report(dir: &Path, quiet: bool) -> Result<()> {
    let t0 = Instant::now();
    let mut outcome = xbar_report::read_outcome(dir)?;
    let _lock = lock_out(dir)?;
    let written = xbar_report::write_outcome(dir, &mut outcome)?;
    if !quiet {
        errln!(
            "xbar: re-drew {} from its results in {:.2} s",
            dir.display(),
            t0.elapsed().as_secs_f64()
        );
        for w in written {
            errln!("  wrote {}", w.display());
        }
    }
    Ok(())
}

/// What `xbar slurm` was asked.
pub(crate) struct SlurmArgs {
    pub(crate) file: PathBuf,
    pub(crate) set: Vec<String>,
    pub(crate) shards: u32,
    pub(crate) out: Option<PathBuf>,
    pub(crate) partition: Option<String>,
    pub(crate) time: Option<String>,
    pub(crate) cpus: u32,
    pub(crate) mem: Option<String>,
}

/// A word for a POSIX shell: single-quoted, with `'` written as `'\''`.
fn sh(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn abs(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
}

/// A Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
fn valid_time(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let num = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(num) && !parts.is_empty() && parts.len() <= 3 && parts.iter().all(|p| num(p))
}

/// A Slurm name (partition): letters, digits, `-`, `_`, `.` and `,` (a list).
fn valid_name(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 200
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,".contains(&b))
}

pub(crate) fn slurm(args: SlurmArgs) -> Result<()> {
    let source = ExperimentSource::read(Some(&args.file), &args.set)?;
    let exp = source.load()?;
    if args.shards == 0 || args.shards > xbar_experiment::MAX_SHARDS {
        anyhow::bail!(
            "--shards {}: expected 1..={}",
            args.shards,
            xbar_experiment::MAX_SHARDS
        );
    }
    if args.cpus == 0 || args.cpus > 1024 {
        anyhow::bail!("--cpus {}: expected 1..=1024 CPUs per shard", args.cpus);
    }
    if let Some(t) = &args.time
        && !valid_time(t)
    {
        anyhow::bail!(
            "--time {t:?}: expected a Slurm time limit (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)"
        );
    }
    if let Some(p) = &args.partition
        && !valid_name(p)
    {
        anyhow::bail!("--partition {p:?}: expected a partition name (letters, digits, - _ .)");
    }
    if let Some(m) = &args.mem
        && !(m.len() <= 12
            && m.trim_end_matches(['K', 'M', 'G', 'T'])
                .bytes()
                .all(|b| b.is_ascii_digit())
            && m.as_bytes().first().is_some_and(u8::is_ascii_digit))
    {
        anyhow::bail!("--mem {m:?}: expected a Slurm memory size such as 4G or 500M");
    }
    let out = abs(&args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&exp.name)))?;
    let file = abs(&args.file)?;
    let xbar = std::env::current_exe().context("cannot find the xbar executable's path")?;
    let slurm_dir = out.join("slurm");
    std::fs::create_dir_all(slurm_dir.join("logs"))
        .with_context(|| format!("cannot create {}", slurm_dir.display()))?;
    let sets: String = args
        .set
        .iter()
        .map(|s| format!(" --set {}", sh(s)))
        .collect();
    let n = args.shards;
    let mut common = String::new();
    if let Some(p) = &args.partition {
        let _ = writeln!(common, "#SBATCH --partition={p}");
    }
    if let Some(t) = &args.time {
        let _ = writeln!(common, "#SBATCH --time={t}");
    }
    if let Some(m) = &args.mem {
        let _ = writeln!(common, "#SBATCH --mem={m}");
    }
    let (xq, fq, oq) = (
        sh(&xbar.display().to_string()),
        sh(&file.display().to_string()),
        sh(&out.display().to_string()),
    );
    let logs = slurm_dir.join("logs");
    let array = format!(
        "#!/bin/bash\n\
         # Written by `xbar slurm`: shard $SLURM_ARRAY_TASK_ID of {n} of {name}.\n\
         # Re-submit one failed task with: sbatch --array=K {this}\n\
         #SBATCH --job-name=xbar-{name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={logs}/shard-%a.log\n\
         {common}\
         set -euo pipefail\n\
         exec {xq} --quiet run {fq}{sets} --shard \"$SLURM_ARRAY_TASK_ID/{n}\" \\\n  \
         --threads \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\" --out {oq}/shards/\"$SLURM_ARRAY_TASK_ID\"\n",
        name = exp.name,
        this = sh(&slurm_dir.join("array.sbatch").display().to_string()),
        last = n - 1,
        cpus = args.cpus,
        logs = logs.display(),
    );
    let shard_dirs: String = (0..n).map(|k| format!(" {oq}/shards/{k}")).collect();
    let merge = format!(
        "#!/bin/bash\n\
         # Written by `xbar slurm`: merges the {n} shards of {name} into {outd}.\n\
         #SBATCH --job-name=xbar-{name}-merge\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={logs}/merge.log\n\
         {common}\
         set -euo pipefail\n\
         exec {xq} merge{shard_dirs} --out {oq} --threads \"${{SLURM_CPUS_PER_TASK:-{cpus}}}\"\n",
        name = exp.name,
        outd = out.display(),
        cpus = args.cpus,
        logs = logs.display(),
    );
    let submit = format!(
        "#!/bin/bash\n\
         # Written by `xbar slurm`: submits the {n} shards of {name} and the merge that waits for them.\n\
         set -euo pipefail\n\
         cd {sd}\n\
         array=$(sbatch --parsable array.sbatch)\n\
         array=${{array%%;*}}\n\
         merge=$(sbatch --parsable --dependency=afterok:\"$array\" merge.sbatch)\n\
         merge=${{merge%%;*}}\n\
         echo \"submitted shards as job $array (array 0-{last}) and the merge as job $merge\"\n\
         echo \"results: {outd}  (logs: {logs})\"\n",
        name = exp.name,
        sd = sh(&slurm_dir.display().to_string()),
        last = n - 1,
        outd = out.display(),
        logs = logs.display(),
    );
    let written = [
        ("array.sbatch", array),
        ("merge.sbatch", merge),
        ("submit.sh", submit),
    ];
    for (f, text) in &written {
        let path = slurm_dir.join(f);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    outln!(
        "{}: {} split into {n} shard(s) of {} CPU(s) each, merged into {}",
        args.file.display(),
        exp.name,
        args.cpus,
        out.display()
    );
    outln!("  wrote {}", slurm_dir.join("array.sbatch").display());
    outln!("  wrote {}", slurm_dir.join("merge.sbatch").display());
    outln!("  wrote {}", slurm_dir.join("submit.sh").display());
    outln!(
        "submit with:  bash {}",
        sh(&slurm_dir.join("submit.sh").display().to_string())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_quotes_and_spaces() {
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }

    #[test]
    fn slurm_times_and_names() {
        for ok in ["30", "10:00", "1:00:00", "2-00", "2-12:30:00"] {
            assert!(valid_time(ok), "{ok}");
        }
        for bad in ["", "1h", "1:2:3:4", "--x", "1;rm"] {
            assert!(!valid_time(bad), "{bad}");
        }
        assert!(valid_name("gpu_a100,debug"));
        assert!(!valid_name("x y") && !valid_name("$(id)"));
    }
}

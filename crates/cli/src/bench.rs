//! `xbar bench`: thin printing over [`xbar_experiment::bench`], where the measurements live.

use std::path::PathBuf;

use anyhow::Result;
use xbar_experiment::bench::{corrector_bench, repair_bench, sweep_bench};
use xbar_experiment::{Experiment, NoProgress, expand, prepare};

/// The default experiment (or `file`) prepared in a pool of `threads`, then `f` on it in
/// that pool.
fn on_default<T>(
    threads: Option<usize>,
    cache: Option<PathBuf>,
    file: Option<&std::path::Path>,
    f: impl FnOnce(&xbar_experiment::Prepared) -> Result<T> + Send,
) -> Result<T>
where
    T: Send,
{
    let exp = match file {
        Some(p) => Experiment::load(Some(p), &[])?,
        None => Experiment::default_experiment()?,
    };
    let cache = crate::run::cache_dir(cache, &PathBuf::from("results").join(&exp.name));
    crate::run::pool(threads)?.install(|| f(&prepare(&exp, Some(&cache), &NoProgress)?))
}

/// `xbar bench generation`: the default sweep (or `file`'s) against a bare GEMM of the same
/// useful flops.
pub(crate) fn bench(
    threads: Option<usize>,
    repeats: usize,
    cache: Option<PathBuf>,
    file: Option<PathBuf>,
) -> Result<()> {
    let b = on_default(threads, cache, file.as_deref(), |prep| {
        Ok(sweep_bench(prep, &expand(&prep.exp), repeats)?)
    })?;
    outln!("{b}");
    Ok(())
}

/// `xbar bench corrector`: MLP(10, 10) on every defect type's pooled training samples (the
/// paper protocol, ~104k samples), timed, with its test accuracy; optionally exports the exact
/// data so scikit-learn can be timed on it (scripts/bench-corrector.sh).
pub(crate) fn corrector(
    threads: Option<usize>,
    epochs: u32,
    export: Option<PathBuf>,
    cache: Option<PathBuf>,
) -> Result<()> {
    let b = on_default(threads, cache, None, |prep| {
        Ok(corrector_bench(prep, &expand(&prep.exp), epochs)?)
    })?;
    outln!("{b}");
    if let Some(dir) = export {
        std::fs::create_dir_all(&dir)?;
        xbar_report::write_atomic(&dir.join("train.csv"), b.csv(&b.train).as_bytes())?;
        xbar_report::write_atomic(&dir.join("test.csv"), b.csv(&b.test).as_bytes())?;
        xbar_report::write_json_atomic(&dir.join("xbar.json"), &b.json())?;
        outln!("  exported to {}", dir.display());
    }
    Ok(())
}

/// `xbar bench repair`: the repair decoders on 256x14 groups of the paper's code at the
/// recovery threshold; optionally exports instance 0's LP for HiGHS (scripts/bench-repair.sh).
pub(crate) fn repair(
    threads: Option<usize>,
    s: usize,
    trials: usize,
    clarabel_trials: usize,
    repeats: usize,
    export: Option<PathBuf>,
) -> Result<()> {
    let pool = crate::run::pool(threads)?;
    let b = pool.install(|| repair_bench(s, trials, clarabel_trials, repeats))?;
    outln!("{b}");
    if let Some(dir) = export {
        xbar_report::write_json_atomic(&dir.join("xbar.json"), &b.export(&dir)?)?;
        outln!(
            "  exported instance 0 (LP and our timings on it) to {}",
            dir.display()
        );
    }
    Ok(())
}

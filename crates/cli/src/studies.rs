//! `xbar run` and `xbar check` for the standalone repair studies (`[phase-transition]`,
//! `[mnist-repair]`), and the outputs of `[crossbar-repair]`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use xbar_correct::repair::{decode_with, gaussian_instance, statistical_dimension};
use xbar_experiment::{
    CodedLayerInfo, Experiment, MnistBaseline, MnistRepairSpec, MnistTimings, PhaseRow,
    PhaseTransitionSpec, RepairRow, crossing_50, prepare_mnist, run_mnist_repair,
    run_phase_transition,
};

use crate::progress::Bars;
use crate::run::{
    DEPENDENCIES, Summary, cache_dir, ensure_writable, git_revision, pool, write_study,
};

/// `manifest.json` of a standalone study.
#[derive(Serialize)]
struct StudyManifest<'a, B: Serialize, T: Serialize> {
    xbar_version: &'static str,
    study: &'static str,
    experiment: &'a Experiment,
    threads: usize,
    baseline: Option<B>,
    timings: T,
    report_s: f64,
    total_s: f64,
    git_revision: Option<String>,
    dependencies: &'static [(&'static str, &'static str)],
}

#[derive(Serialize)]
struct PhaseTimings {
    decode_s: f64,
    /// 50 % crossing per N beside the prediction.
    crossings: Vec<(u32, f64, Option<f64>)>,
}

/// Runs a standalone study; `t0` is when the command started.
pub(crate) fn run_standalone(
    exp: &Experiment,
    out: Option<PathBuf>,
    threads: Option<usize>,
    cache: Option<PathBuf>,
    quiet: bool,
    t0: Instant,
) -> Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from("results").join(&exp.name));
    ensure_writable(&out)?;
    let cache = cache_dir(cache, &out);
    let pool = pool(threads)?;
    let bars = Bars::new(quiet);
    let study = exp.standalone().unwrap_or("study");
    let mut written = Vec::new();
    if let Some(spec) = &exp.phase_transition {
        if !quiet {
            eprintln!(
                "xbar: {} (phase transition: {} points x {} trials = {} instances) -> {}",
                exp.name,
                spec.points(),
                spec.trials,
                spec.instances(),
                out.display()
            );
        }
        let t = Instant::now();
        let rows = pool.install(|| run_phase_transition(exp.seed, spec, &bars))?;
        let decode_s = t.elapsed().as_secs_f64();
        let t_report = Instant::now();
        written.extend(write_phase(&out, exp, spec, &rows)?);
        let crossings = spec
            .unknowns
            .iter()
            .map(|&n| {
                (
                    n as u32,
                    statistical_dimension(spec.errors, n),
                    crossing_50(&rows, n as u32),
                )
            })
            .collect::<Vec<_>>();
        if !quiet {
            for (n, d, c) in &crossings {
                eprintln!(
                    "N = {n}: 50 % point {} (predicted D(s, N) = {d:.1})",
                    c.map_or("not crossed".into(), |c| format!("K = {c:.1}"))
                );
            }
            eprintln!(
                "{} instances in {decode_s:.2} s, total {:.2} s",
                spec.instances(),
                t0.elapsed().as_secs_f64()
            );
        }
        let manifest = StudyManifest::<(), _> {
            xbar_version: env!("CARGO_PKG_VERSION"),
            study,
            experiment: exp,
            threads: pool.current_num_threads(),
            baseline: None,
            timings: PhaseTimings {
                decode_s,
                crossings,
            },
            report_s: t_report.elapsed().as_secs_f64(),
            total_s: t0.elapsed().as_secs_f64(),
            git_revision: git_revision(),
            dependencies: DEPENDENCIES,
        };
        xbar_report::write_json_atomic(&out.join("manifest.json"), &manifest)?;
    } else if let Some(spec) = &exp.mnist_repair {
        if !quiet {
            eprintln!(
                "xbar: {} (MNIST repair: {} levels x {} trials) -> {}",
                exp.name,
                spec.errors.len(),
                spec.trials,
                out.display()
            );
        }
        let (base, timings, rows) = pool.install(|| -> Result<_> {
            let mut prep = prepare_mnist(exp.seed, spec, Some(&cache), &bars)
                .with_context(|| mnist_context(exp, spec))?;
            if !quiet {
                let b = &prep.baseline;
                eprintln!(
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
                );
            }
            let rows = run_mnist_repair(exp.seed, spec, &mut prep, &bars)?;
            Ok((prep.baseline, prep.timings, rows))
        })?;
        let t_report = Instant::now();
        written.extend(write_mnist(&out, exp, spec, &base, &rows)?);
        if !quiet {
            eprintln!(
                "{} runs in {:.2} s (train {:.2} s, code {:.2} s), total {:.2} s",
                rows.len(),
                timings.repair_s,
                timings.train_s,
                timings.code_s,
                t0.elapsed().as_secs_f64()
            );
        }
        let manifest = StudyManifest::<&MnistBaseline, &MnistTimings> {
            xbar_version: env!("CARGO_PKG_VERSION"),
            study,
            experiment: exp,
            threads: pool.current_num_threads(),
            baseline: Some(&base),
            timings: &timings,
            report_s: t_report.elapsed().as_secs_f64(),
            total_s: t0.elapsed().as_secs_f64(),
            git_revision: git_revision(),
            dependencies: DEPENDENCIES,
        };
        xbar_report::write_json_atomic(&out.join("manifest.json"), &manifest)?;
    }
    if !quiet {
        for w in written
            .iter()
            .chain(std::iter::once(&out.join("manifest.json")))
        {
            eprintln!("  wrote {}", w.display());
        }
    }
    Ok(())
}

fn mnist_context(exp: &Experiment, spec: &MnistRepairSpec) -> String {
    format!(
        "{}: [mnist-repair] with the MNIST folder {}",
        exp.origin,
        spec.mnist_dir.display()
    )
}

fn write_phase(
    out: &Path,
    exp: &Experiment,
    spec: &PhaseTransitionSpec,
    rows: &[PhaseRow],
) -> Result<Vec<PathBuf>> {
    write_study(
        out,
        "phase.csv",
        rows,
        xbar_report::repair::phase_figures(rows),
        Summary::Replace(xbar_report::repair::phase_summary(exp, spec, rows)),
    )
}

fn write_mnist(
    out: &Path,
    exp: &Experiment,
    spec: &MnistRepairSpec,
    base: &MnistBaseline,
    rows: &[xbar_experiment::MnistRow],
) -> Result<Vec<PathBuf>> {
    write_study(
        out,
        "mnist-repair.csv",
        rows,
        xbar_report::repair::mnist_figures(base, rows),
        Summary::Replace(xbar_report::repair::mnist_summary(exp, spec, base, rows)),
    )
}

/// Writes `repair.csv`, its plot, and appends to `summary.md` (crossbar repair).
pub(crate) fn write_crossbar(
    out: &Path,
    exp: &Experiment,
    coded: &[CodedLayerInfo],
    rows: &[RepairRow],
) -> Result<Vec<PathBuf>> {
    let Some(spec) = &exp.crossbar_repair else {
        return Ok(Vec::new());
    };
    write_study(
        out,
        "repair.csv",
        rows,
        xbar_report::repair::crossbar_figures(rows),
        Summary::Append(xbar_report::repair::crossbar_summary(spec, coded, rows)),
    )
}

/// `xbar check` of a standalone study: the resolved table, its size and an estimate.
pub(crate) fn check_standalone(file: &Path, exp: &Experiment) -> Result<()> {
    // Read the MNIST files first: a truncated or corrupt file fails the check.
    let mnist = match &exp.mnist_repair {
        Some(m) => {
            let t = Instant::now();
            let (train, _) =
                xbar_nn::mnist::load_mnist(&m.mnist_dir).with_context(|| mnist_context(exp, m))?;
            Some((train, t.elapsed().as_secs_f64()))
        }
        None => None,
    };
    outln!("{}: ok", file.display());
    outln!("  name:      {}", exp.name);
    if let Some(p) = &exp.phase_transition {
        outln!(
            "  study:     phase transition, decoder {}, s = {} errors, {} trials per point",
            p.decoder.name(),
            p.errors,
            p.trials
        );
        for &n in &p.unknowns {
            outln!(
                "  N = {n}:  predicted 50 % point D(s, N) = {:.1}; checks K {:?}",
                statistical_dimension(p.errors, n),
                p.ks(n)
            );
        }
        outln!(
            "  size:      {} points x {} trials = {} instances",
            p.points(),
            p.trials,
            p.instances()
        );
        // A rough estimate: one instance at the smallest N near its prediction, scaled by
        // K^2 x N for the others (K x N per homotopy step, steps growing with K).
        let near = |n: usize| {
            let d = statistical_dimension(p.errors, n);
            p.ks(n)
                .into_iter()
                .min_by(|a, b| (*a as f64 - d).abs().total_cmp(&(*b as f64 - d).abs()))
                .unwrap_or(1)
        };
        let n0 = p.unknowns.iter().copied().min().unwrap_or(10);
        let k0 = near(n0);
        let t = Instant::now();
        let inst = gaussian_instance(k0, n0, p.errors, 1);
        let (method, cfg) = p.decoder.phase_config(k0);
        decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg)?;
        let t0 = t.elapsed().as_secs_f64();
        let est: f64 = p
            .unknowns
            .iter()
            .map(|&n| {
                let k = near(n) as f64 / k0 as f64;
                let scale = k * k * n as f64 / n0 as f64;
                t0 * scale * (p.ks(n).len() * p.trials) as f64
            })
            .sum();
        let threads = rayon::current_num_threads().max(1) as f64;
        outln!(
            "  estimated run time: roughly {:.0} s on {threads} threads (one instance at N = {n0}, K = {k0} took {:.3} s; scaled by K^2 x N)",
            est / threads,
            t0
        );
    }
    if let (Some(m), Some((train, read_s))) = (&exp.mnist_repair, mnist) {
        outln!(
            "  study:     MNIST repair, 784-256-10, {} training / {} test images, {} epochs",
            m.train_images,
            m.test_images,
            m.train.epochs
        );
        outln!(
            "  code:      {} groups of {} inputs x 256, K = {} Gaussian + {} output check(s) per input = {} constraints per group",
            m.groups,
            m.group_inputs,
            m.type1_per_group,
            m.output_checks,
            m.constraints_per_group()
        );
        outln!(
            "  errors:    {:?} weight errors x N(0, {}), {} trials each; {} datapath error(s) x N(0, {}) per image; decoder {}",
            m.errors,
            m.error_std,
            m.trials,
            m.datapath_errors,
            m.datapath_std,
            m.decoder.name()
        );
        outln!(
            "  data:      {} ({} training images available, read in {read_s:.1} s)",
            m.mnist_dir.display(),
            train.len(),
        );
        let train = if m.train_images < train.len() {
            train.select(&(0..m.train_images as u32).collect::<Vec<_>>())
        } else {
            train
        };
        let cache = cache_dir(None, &PathBuf::from("results").join(&exp.name));
        let key = xbar_nn::cache_key(&m.train, &train);
        let cached = xbar_nn::cache::cache_path(&cache, &key).is_file();
        outln!(
            "  training:  {}",
            if cached {
                format!("cached in {}", cache.display())
            } else {
                "not cached: trained on the first run (see docs/reproduction.md for times)".into()
            }
        );
        // Decoding cost of one group at the mean number of errors of the largest level.
        let top = m.errors.iter().copied().max().unwrap_or(0);
        let per_group = top.div_ceil(m.groups.max(1)).max(1);
        let p_checks = m.constraints_per_group();
        let n_g = m.group_inputs * xbar_experiment::MNIST_HIDDEN;
        let inst = gaussian_instance(p_checks, n_g, per_group, 1);
        let (method, cfg) = m.decoder.repair_config(m.design_errors);
        let t = Instant::now();
        decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg)?;
        let per = t.elapsed().as_secs_f64();
        let threads = rayon::current_num_threads().max(1) as f64;
        outln!(
            "  estimated decoding: {:.1} ms per group with {per_group} errors; about {:.0} s for all levels and trials on {threads} threads (plus datapath checks and accuracies)",
            1e3 * per,
            per * (m.groups * m.runs()) as f64 / threads
        );
    }
    Ok(())
}

//! `xbar run` and `xbar check`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use xbar_correct::{CircuitSamples, CorrectionRecord};
use xbar_experiment::{
    Baseline, Checkpoint, CorrectionJob, Experiment, ScenarioRecord, Timings, circuit_samples,
    expand, fingerprint, prepare, prepare_crossbar_repair, run_correction_checkpointed,
    run_crossbar_repair, run_detection, run_input_faults, run_scenarios_checkpointed,
    run_scenarios_with_outputs,
};

use crate::progress::Bars;

/// Loads the experiment file, or the built-in default.
pub(crate) fn load(file: Option<&Path>) -> Result<Experiment> {
    Ok(match file {
        Some(f) => Experiment::from_file(f)?,
        None => Experiment::default_experiment()?,
    })
}

/// Loads an experiment whose sweeps a command draws or exports: standalone studies (no
/// sweeps) are refused with a message.
pub(crate) fn load_sweeps(file: Option<&Path>) -> Result<Experiment> {
    let exp = load(file)?;
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

/// What `manifest.json` records about a run.
#[derive(Serialize)]
struct Manifest<'a> {
    xbar_version: &'static str,
    experiment: &'a Experiment,
    scenarios: usize,
    threads: usize,
    baseline: &'a Baseline,
    timings: &'a Timings,
    report_s: f64,
    total_s: f64,
    git_revision: Option<String>,
    dependencies: &'static [(&'static str, &'static str)],
}

/// Versions of the numeric dependencies that determine results (from Cargo.lock).
pub(crate) const DEPENDENCIES: &[(&str, &str)] =
    &[("faer", "0.24"), ("rand_chacha", "0.10"), ("rayon", "1.12")];

pub(crate) fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(crate) fn run(
    file: Option<&Path>,
    out: Option<PathBuf>,
    threads: Option<usize>,
    cache: Option<PathBuf>,
    fresh: bool,
    quiet: bool,
) -> Result<()> {
    let t0 = Instant::now();
    let exp = load(file)?;
    if exp.standalone().is_some() {
        return crate::studies::run_standalone(&exp, out, threads, cache, quiet, t0);
    }
    let out = out.unwrap_or_else(|| PathBuf::from("results").join(&exp.name));
    ensure_writable(&out)?;
    let cache = cache_dir(cache, &out);
    let pool = pool(threads)?;
    let bars = Bars::new(quiet);
    let scenarios = expand(&exp);
    if !quiet {
        eprintln!(
            "xbar: {} ({} scenarios) -> {}",
            exp.name,
            scenarios.len(),
            out.display()
        );
    }
    let (prep, records, correction, checkpoint, correction_cp, detection, repair) =
        pool.install(|| -> Result<_> {
            let mut prep = prepare(&exp, Some(&cache), &bars)?;
            let t = Instant::now();
            let (records, correction, checkpoint, correction_cp) = match &exp.correction {
                None => {
                    // Resume from a checkpoint left by an interrupted run of the same configuration.
                    let (checkpoint, resumed) = Checkpoint::open(&out, &exp, fresh)?;
                    let mut done: Vec<ScenarioRecord> = resumed
                        .records
                        .into_iter()
                        .filter(|r| {
                            scenarios
                                .get(r.scenario as usize)
                                .is_some_and(|s| format!("{:016x}", s.stream) == r.stream)
                        })
                        .collect();
                    done.sort_by_key(|r| r.scenario);
                    done.dedup_by_key(|r| r.scenario);
                    let todo: Vec<_> = scenarios
                        .iter()
                        .filter(|s| done.binary_search_by_key(&s.index, |r| r.scenario).is_err())
                        .cloned()
                        .collect();
                    if !quiet && !done.is_empty() {
                        eprintln!(
                            "resuming: {} of {} scenarios already done{}",
                            done.len(),
                            scenarios.len(),
                            if resumed.dropped_lines > 0 {
                                format!(" ({} torn checkpoint line dropped)", resumed.dropped_lines)
                            } else {
                                String::new()
                            }
                        );
                    }
                    let mut records = run_scenarios_checkpointed(&prep, &todo, &bars, &checkpoint)?;
                    records.extend(done);
                    records.sort_by_key(|r| r.scenario);
                    (records, None, Some(checkpoint), None)
                }
                Some(spec) => {
                    let outputs = run_scenarios_with_outputs(&prep, &scenarios, &bars)?;
                    let records: Vec<ScenarioRecord> =
                        outputs.iter().map(|(r, _)| r.clone()).collect();
                    prep.timings.infer_s = t.elapsed().as_secs_f64();
                    let samples = circuit_samples(&prep, outputs)?;
                    let t = Instant::now();
                    // The sweep takes seconds and is simply redone; trained correctors are
                    // journaled, so a killed study resumes without training them again.
                    let (cp, resumed) = Checkpoint::<CorrectionJob>::open_named(
                        &out,
                        "checkpoint-correction.jsonl",
                        &fingerprint(&exp),
                        fresh,
                    )?;
                    if !quiet && !resumed.records.is_empty() {
                        eprintln!(
                            "resuming: {} trained corrector(s) found in {}",
                            resumed.records.len(),
                            out.join("checkpoint-correction.jsonl").display()
                        );
                    }
                    let corr = run_correction_checkpointed(
                        &prep,
                        spec,
                        &samples,
                        &bars,
                        Some(&cp),
                        resumed.records,
                    )?;
                    prep.timings.correct_s = t.elapsed().as_secs_f64();
                    (records, Some((samples, corr)), None, Some(cp))
                }
            };
            if correction.is_none() {
                prep.timings.infer_s = t.elapsed().as_secs_f64();
            }
            let repair = match &exp.crossbar_repair {
                Some(spec) => {
                    let t = Instant::now();
                    let coded = prepare_crossbar_repair(&prep, spec, &bars)?;
                    let rows =
                        run_crossbar_repair(&prep, spec, &coded, &scenarios, &records, &bars)?;
                    prep.timings.repair_s = t.elapsed().as_secs_f64();
                    Some((coded.into_iter().map(|c| c.info).collect::<Vec<_>>(), rows))
                }
                None => None,
            };
            let detection = match &exp.detection {
                Some(spec) => {
                    let t = Instant::now();
                    let rows = run_detection(&prep, spec, &scenarios, &bars)?;
                    let input = if spec.input_faults {
                        run_input_faults(&prep, spec)?
                    } else {
                        Vec::new()
                    };
                    prep.timings.correct_s = t.elapsed().as_secs_f64();
                    Some((rows, input))
                }
                None => None,
            };
            Ok((
                prep,
                records,
                correction,
                checkpoint,
                correction_cp,
                detection,
                repair,
            ))
        })?;
    let t_report = Instant::now();
    let mut written = crate::run::write_outputs(&out, &exp, &prep.baseline, &records)?;
    if let Some((samples, corr)) = &correction {
        written.extend(write_correction(&out, &exp, samples, corr)?);
    }
    if let Some((rows, input)) = &detection {
        written.extend(write_detection(&out, rows, input)?);
    }
    if let Some((coded, rows)) = &repair {
        written.extend(crate::studies::write_crossbar(&out, &exp, coded, rows)?);
    }
    let manifest = Manifest {
        xbar_version: env!("CARGO_PKG_VERSION"),
        experiment: &exp,
        scenarios: records.len(),
        threads: pool.current_num_threads(),
        baseline: &prep.baseline,
        timings: &prep.timings,
        report_s: t_report.elapsed().as_secs_f64(),
        total_s: t0.elapsed().as_secs_f64(),
        git_revision: git_revision(),
        dependencies: DEPENDENCIES,
    };
    xbar_report::write_json_atomic(&out.join("manifest.json"), &manifest)?;
    // Every output is on disk: the checkpoint has done its job.
    if let Some(cp) = checkpoint {
        cp.remove()?;
    }
    if let Some(cp) = correction_cp {
        cp.remove()?;
    }
    if !quiet {
        let b = &prep.baseline;
        eprintln!(
            "software accuracy {:.2} % (test), healthy circuit {:.2} % (test) / {:.2} % (all {} images)",
            100.0 * b.software_test,
            100.0 * b.analog_test,
            100.0 * b.analog_all,
            prep.data.len()
        );
        eprintln!(
            "{} scenarios in {:.3} s (train {:.2} s{}), total {:.2} s",
            records.len(),
            prep.timings.infer_s,
            prep.timings.train_s,
            if b.weights_from_cache { ", cached" } else { "" },
            t0.elapsed().as_secs_f64()
        );
        for w in written
            .iter()
            .chain(std::iter::once(&out.join("manifest.json")))
        {
            eprintln!("  wrote {}", w.display());
        }
    }
    Ok(())
}

/// What a study contributes to `summary.md`.
pub(crate) enum Summary {
    /// The whole file (a sweep or a standalone study).
    Replace(String),
    /// A section after the sweep's summary.
    Append(String),
}

/// Writes `out/csv` from `rows` (atomically), renders `figs` into `out/plots/`, and writes or
/// extends `summary.md`; returns the paths written.
pub(crate) fn write_study<R: serde::Serialize>(
    out: &Path,
    csv: &str,
    rows: &[R],
    figs: Vec<(String, xbar_report::Figure)>,
    summary: Summary,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let csv = out.join(csv);
    xbar_report::write_csv_atomic(&csv, rows)?;
    written.push(csv);
    std::fs::create_dir_all(out.join("plots"))?;
    for (stem, fig) in figs {
        written.extend(xbar_report::render_figure(
            &fig,
            &out.join("plots").join(stem),
        )?);
    }
    let path = out.join("summary.md");
    match summary {
        Summary::Replace(text) => {
            xbar_report::write_atomic(&path, text.as_bytes())?;
            written.push(path);
        }
        Summary::Append(section) => {
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&section);
            xbar_report::write_atomic(&path, text.as_bytes())?;
        }
    }
    Ok(written)
}

/// Writes `results.csv`, the plots and `summary.md`; returns the paths written.
pub(crate) fn write_outputs(
    out: &Path,
    exp: &Experiment,
    baseline: &Baseline,
    records: &[ScenarioRecord],
) -> Result<Vec<PathBuf>> {
    write_study(
        out,
        "results.csv",
        records,
        xbar_report::sensitivity::figures(exp, baseline, records),
        Summary::Replace(xbar_report::sensitivity::summary(exp, baseline, records)),
    )
}

/// Writes `correction.csv`, its plots, `samples.csv` when asked, and appends to `summary.md`.
fn write_correction(
    out: &Path,
    exp: &Experiment,
    samples: &CircuitSamples,
    records: &[CorrectionRecord],
) -> Result<Vec<PathBuf>> {
    let mut written = write_study(
        out,
        "correction.csv",
        records,
        xbar_report::correction::figures(records),
        Summary::Append(xbar_report::correction::summary(exp, records)),
    )?;
    if let Some((stem, grid)) = xbar_report::correction::heatmaps(records) {
        written.extend(xbar_report::render_heatmaps(
            &grid,
            &out.join("plots").join(stem),
        )?);
    }
    if exp.correction.as_ref().is_some_and(|c| c.export_samples) {
        let path = out.join("samples.csv");
        let mut buf = String::with_capacity(samples.len() * 120);
        let classes = samples.v.ncols();
        buf.push_str(
            &(0..classes)
                .map(|j| format!("v{j}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        buf.push_str(",label,defect,size,layers,image\n");
        for i in 0..samples.len() {
            use std::fmt::Write as _;
            for j in 0..classes {
                let _ = write!(buf, "{},", samples.v[(i, j)]);
            }
            let c = &samples.configs[samples.config[i] as usize];
            let _ = writeln!(
                buf,
                "{},{},{},{},{}",
                samples.label[i],
                c.defect,
                c.size.map_or(String::new(), |v| v.to_string()),
                c.layers,
                samples.image[i]
            );
        }
        xbar_report::write_atomic(&path, buf.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `detection.csv`, `input-faults.csv`, their plots, and appends to `summary.md`.
fn write_detection(
    out: &Path,
    rows: &[xbar_experiment::DetectionRow],
    input: &[(u32, xbar_ecc::experiments::InputFaultRecord)],
) -> Result<Vec<PathBuf>> {
    let mut written = write_study(
        out,
        "detection.csv",
        rows,
        xbar_report::detection::figures(rows),
        Summary::Append(xbar_report::detection::summary(rows, input)),
    )?;
    if !input.is_empty() {
        let path = out.join("input-faults.csv");
        let mut buf = String::from(
            "layer,code,fault,vectors,erroneous,detected,detection_rate,max_relative_error\n",
        );
        for (l, r) in input {
            buf.push_str(&format!(
                "{l},{},{},{},{},{},{},{}\n",
                r.code,
                r.fault,
                r.vectors,
                r.erroneous,
                r.detected,
                r.detection_rate,
                r.max_relative_error
            ));
        }
        xbar_report::write_atomic(&path, buf.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

pub(crate) fn check(file: &Path) -> Result<()> {
    let exp = Experiment::from_file(file)?;
    if exp.standalone().is_some() {
        return crate::studies::check_standalone(file, &exp);
    }
    let grid = expand(&exp);
    outln!("{}: ok", file.display());
    outln!("  name:      {}", exp.name);
    outln!(
        "  device:    {} ({:?} read)",
        exp.device.name,
        exp.device.params.iv
    );
    outln!(
        "  network:   {:?} on {:?}, {} test images",
        exp.network.sizes,
        exp.network.dataset,
        exp.network.test_size
    );
    for (k, s) in exp.sweeps.iter().enumerate() {
        let sizes: Vec<String> = s
            .shapes
            .iter()
            .map(|x| x.size.map_or("-".into(), |v| v.to_string()))
            .collect();
        outln!(
            "  sweep[{k}]: {} sizes [{}] x layer sets {:?} x states {:?} x {} repeat(s), {:?} level",
            s.kind,
            sizes.join(", "),
            s.layer_sets,
            s.states.iter().map(|s| s.label()).collect::<Vec<_>>(),
            s.repeats,
            s.level
        );
    }
    let c = &exp.circuit;
    outln!(
        "  circuit:   v-in-max {} V, v-bias {} V, r-load {:?}, rail {}, mapping {:?}",
        c.v_in_max,
        c.v_bias,
        c.r_load,
        c.rail.map_or("none".into(), |r| format!("{r} V")),
        c.mapping
    );
    for (k, w) in exp.wires.iter().enumerate() {
        outln!(
            "  wires[{k}]:  {}",
            if w.is_ideal() {
                "ideal (0 ohm, infinite op-amp gain)".to_string()
            } else {
                format!(
                    "row {} ohm, column {} ohm per segment, source {} ohm, comparator input {} ohm, op-amp gain {}",
                    w.r_row,
                    w.r_col,
                    w.r_source,
                    w.r_in,
                    w.op_amp_gain.map_or("infinite".into(), |a| a.to_string())
                )
            }
        );
    }
    outln!("  scenarios: {}", grid.len());
    if let Some(c) = &exp.correction {
        let types = exp
            .sweeps
            .iter()
            .map(|s| s.label.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        outln!(
            "  correction: {} architecture(s) x {} training type(s) x {} protocol(s) = {} correctors ({})",
            c.architectures.len(),
            types,
            c.protocols.len(),
            c.architectures.len() * types * c.protocols.len(),
            if c.cross {
                "each tested on every type"
            } else {
                "each tested on its own type"
            }
        );
    }
    if let Some(r) = &exp.crossbar_repair {
        outln!(
            "  crossbar-repair: decoder {}, {} design stuck pairs per group, {} fine-tuning epochs per coded network",
            r.decoder.name(),
            r.design_errors,
            r.finetune_epochs
        );
        for c in &r.codes {
            outln!(
                "    layer {}: {} x {} pairs, {} group(s) of up to {} rows, K = {} Gaussian + {} column-sum checks per group",
                c.layer,
                c.rows,
                c.cols,
                c.groups,
                c.group_rows,
                c.type1_per_group,
                c.group_rows
            );
        }
    }
    // Estimate from one timed scenario per sweep and wire setting (the network is trained or
    // loaded first).
    let cache = cache_dir(None, &PathBuf::from("results").join(&exp.name));
    let prep = prepare(&exp, Some(&cache), &xbar_experiment::NoProgress)?;
    let mut sample: Vec<_> = Vec::new();
    for s in &grid {
        if !sample
            .iter()
            .any(|x: &xbar_experiment::Scenario| x.sweep == s.sweep && x.wire == s.wire)
        {
            sample.push(s.clone());
        }
    }
    let t = Instant::now();
    xbar_experiment::run_scenarios(&prep, &sample, &xbar_experiment::NoProgress)?;
    let per = t.elapsed().as_secs_f64() / sample.len().max(1) as f64;
    let threads = rayon::current_num_threads().max(1) as f64;
    outln!(
        "  estimated sweep time: {:.1} s on {} threads ({:.1} ms per scenario){}",
        prep.timings.program_s + per * grid.len() as f64 / threads,
        threads,
        1e3 * per,
        if exp.correction.is_some() {
            "; correctors add seconds to minutes (see docs/reproduction.md)"
        } else {
            ""
        }
    );
    Ok(())
}

//! One writer for every run: the CSV files, plots, `summary.md` and `manifest.json` of an
//! [`Outcome`], whatever studies it holds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use xbar_experiment::{Outcome, StudyOutcome};

use crate::{Figure, Result, render_figure, render_heatmaps, write_atomic, write_csv_atomic};

/// Writes `dir/csv` from `rows` (atomically), renders `figs` into `dir/plots/`, and appends
/// `section` to `summary`; returns the paths written.
fn write_study<R: serde::Serialize>(
    dir: &Path,
    csv: &str,
    rows: &[R],
    figs: Vec<(String, Figure)>,
    summary: &mut String,
    section: String,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let path = dir.join(csv);
    write_csv_atomic(&path, rows)?;
    written.push(path);
    for (stem, fig) in figs {
        written.extend(render_figure(&fig, &dir.join("plots").join(stem))?);
    }
    summary.push_str(&section);
    Ok(written)
}

/// Writes everything `outcome` holds into `dir`: `results.csv` (a sweep), one CSV per
/// analysis or standalone study, their plots under `plots/`, `summary.md` and, last,
/// `manifest.json` (with the writing time recorded). Every file is replaced atomically.
/// Returns the paths written, the manifest last.
///
/// ```no_run
/// use xbar_experiment::{Experiment, NoProgress, RunOptions, execute};
/// let exp = Experiment::default_experiment()?;
/// let mut outcome = execute(&exp, &RunOptions::default(), &NoProgress)?;
/// let files = xbar_report::write_outcome(std::path::Path::new("results/demo"), &mut outcome)?;
/// assert!(files.iter().any(|f| f.ends_with("results.csv")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_outcome(dir: &Path, outcome: &mut Outcome) -> Result<Vec<PathBuf>> {
    let t = Instant::now();
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|source| crate::ReportError::Io {
        path: plots.clone(),
        source,
    })?;
    let exp = outcome.manifest.experiment.clone();
    let mut written = Vec::new();
    let mut summary = String::new();
    if let Some(baseline) = &outcome.manifest.baseline {
        written.extend(write_study(
            dir,
            "results.csv",
            &outcome.records,
            crate::sensitivity::figures(&exp, baseline, &outcome.records),
            &mut summary,
            crate::sensitivity::summary(&exp, baseline, &outcome.records),
        )?);
    }
    for study in &outcome.studies {
        match study {
            StudyOutcome::Correction { records, samples } => {
                written.extend(write_study(
                    dir,
                    "correction.csv",
                    records,
                    crate::correction::figures(records),
                    &mut summary,
                    crate::correction::summary(&exp, records),
                )?);
                if let Some((stem, grid)) = crate::correction::heatmaps(records) {
                    written.extend(render_heatmaps(&grid, &dir.join("plots").join(stem))?);
                }
                if let Some(samples) = samples {
                    let path = dir.join("samples.csv");
                    write_atomic(&path, samples_csv(samples).as_bytes())?;
                    written.push(path);
                }
            }
            StudyOutcome::Detection { rows, input_faults } => {
                written.extend(write_study(
                    dir,
                    "detection.csv",
                    rows,
                    crate::detection::figures(rows),
                    &mut summary,
                    crate::detection::summary(rows, input_faults),
                )?);
                if !input_faults.is_empty() {
                    let path = dir.join("input-faults.csv");
                    let mut buf = String::from(
                        "layer,code,fault,vectors,erroneous,detected,detection_rate,max_relative_error\n",
                    );
                    for (l, r) in input_faults {
                        let _ = writeln!(
                            buf,
                            "{l},{},{},{},{},{},{},{}",
                            r.code,
                            r.fault,
                            r.vectors,
                            r.erroneous,
                            r.detected,
                            r.detection_rate,
                            r.max_relative_error
                        );
                    }
                    write_atomic(&path, buf.as_bytes())?;
                    written.push(path);
                }
            }
            StudyOutcome::CrossbarRepair { coded, rows } => {
                if let Some(spec) = exp.crossbar_repair() {
                    written.extend(write_study(
                        dir,
                        "repair.csv",
                        rows,
                        crate::repair::crossbar_figures(rows),
                        &mut summary,
                        crate::repair::crossbar_summary(spec, coded, rows),
                    )?);
                }
            }
            StudyOutcome::PhaseTransition { rows } => {
                if let Some(spec) = exp.phase_transition() {
                    written.extend(write_study(
                        dir,
                        "phase.csv",
                        rows,
                        crate::repair::phase_figures(rows),
                        &mut summary,
                        crate::repair::phase_summary(&exp, spec, rows),
                    )?);
                }
            }
            StudyOutcome::MnistRepair {
                baseline,
                timings: _,
                rows,
            } => {
                if let Some(spec) = exp.mnist_repair() {
                    written.extend(write_study(
                        dir,
                        "mnist-repair.csv",
                        rows,
                        crate::repair::mnist_figures(baseline, rows),
                        &mut summary,
                        crate::repair::mnist_summary(&exp, spec, baseline, rows),
                    )?);
                }
            }
            _ => {}
        }
    }
    let path = dir.join("summary.md");
    write_atomic(&path, summary.as_bytes())?;
    written.push(path);
    outcome.manifest.report_s = t.elapsed().as_secs_f64();
    let path = dir.join("manifest.json");
    crate::write_json_atomic(&path, &outcome.manifest)?;
    written.push(path);
    Ok(written)
}

/// `samples.csv`: the circuit samples a corrector learns from, one line per (scenario, image).
fn samples_csv(samples: &xbar_correct::CircuitSamples) -> String {
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
    buf
}

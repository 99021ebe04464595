//! One writer for every run: the CSV files, plots, `summary.md` and `manifest.json` of an
//! [`Outcome`], whatever studies it holds.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use xbar_experiment::{Outcome, StudyOutcome};

use crate::{Figure, HeatmapGrid, ReportError, Result, render_figure, render_heatmaps};
use crate::{correction, detection, repair, sensitivity, write_atomic, write_csv_atomic};

/// The files written so far and the summary being assembled.
struct Writer<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
    summary: String,
}

impl Writer<'_> {
    /// Writes `dir/name` from `bytes` (atomically).
    fn file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        write_atomic(&path, bytes)?;
        self.written.push(path);
        Ok(())
    }

    /// Writes `dir/csv` from `rows`, renders `figs` and `maps` into `dir/plots/`, and appends
    /// `section` to the summary.
    fn study<R: serde::Serialize>(
        &mut self,
        (csv, rows): (&str, &[R]),
        figs: Vec<(String, Figure)>,
        maps: Option<(String, HeatmapGrid)>,
        section: String,
    ) -> Result<()> {
        let path = self.dir.join(csv);
        write_csv_atomic(&path, rows)?;
        self.written.push(path);
        let plot = |stem: &str| self.dir.join("plots").join(stem);
        for (stem, fig) in figs {
            self.written.extend(render_figure(&fig, &plot(&stem))?);
        }
        if let Some((stem, grid)) = maps {
            self.written.extend(render_heatmaps(&grid, &plot(&stem))?);
        }
        self.summary.push_str(&section);
        Ok(())
    }
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
    let path = dir.join("plots");
    std::fs::create_dir_all(&path).map_err(|source| ReportError::Io { path, source })?;
    let exp = outcome.manifest.experiment.clone();
    let mut w = Writer {
        dir,
        written: Vec::new(),
        summary: String::new(),
    };
    if let Some(b) = &outcome.manifest.baseline {
        let r = &outcome.records;
        let (figs, text) = (
            sensitivity::figures(&exp, b, r),
            sensitivity::summary(&exp, b, r),
        );
        if !outcome.exports.is_empty() {
            let path = dir.join("exports");
            std::fs::create_dir_all(&path).map_err(|source| ReportError::Io { path, source })?;
        }
        for (stem, arrays) in &outcome.exports {
            let bytes = xbar_import::npz_bytes(arrays)
                .map_err(|e| ReportError::invalid(format!("export {stem}: {e}")))?;
            w.file(&format!("exports/{stem}.npz"), &bytes)?;
        }
        let chip = outcome
            .manifest
            .floorplan
            .as_ref()
            .map(|fp| ("floorplan".to_string(), sensitivity::floorplan_map(fp)));
        w.study(("results.csv", r), figs, chip, text)?;
    }
    for study in &outcome.studies {
        match study {
            StudyOutcome::Correction {
                records: r,
                samples,
            } => {
                let (figs, maps) = (correction::figures(r), correction::heatmaps(r));
                w.study(
                    ("correction.csv", r),
                    figs,
                    maps,
                    correction::summary(&exp, r),
                )?;
                if let Some(samples) = samples {
                    w.file("samples.csv", samples_csv(samples).as_bytes())?;
                }
            }
            StudyOutcome::Detection {
                rows,
                input_faults: faults,
            } => {
                let text = detection::summary(rows, faults);
                w.study(
                    ("detection.csv", rows),
                    detection::figures(rows),
                    None,
                    text,
                )?;
                if !faults.is_empty() {
                    let mut buf = String::from(
                        "layer,code,fault,vectors,erroneous,detected,detection_rate,max_relative_error\n",
                    );
                    for (l, r) in faults {
                        let (code, fault, vectors, erroneous) =
                            (&r.code, &r.fault, r.vectors, r.erroneous);
                        let (detected, rate, err) =
                            (r.detected, r.detection_rate, r.max_relative_error);
                        let _ = writeln!(
                            buf,
                            "{l},{code},{fault},{vectors},{erroneous},{detected},{rate},{err}"
                        );
                    }
                    w.file("input-faults.csv", buf.as_bytes())?;
                }
            }
            StudyOutcome::CrossbarRepair { coded, rows } => {
                if let Some(spec) = exp.crossbar_repair() {
                    let text = repair::crossbar_summary(spec, coded, rows);
                    w.study(
                        ("repair.csv", rows),
                        repair::crossbar_figures(rows),
                        None,
                        text,
                    )?;
                }
            }
            StudyOutcome::PhaseTransition { rows } => {
                if let Some(spec) = exp.phase_transition() {
                    let text = repair::phase_summary(&exp, spec, rows);
                    w.study(("phase.csv", rows), repair::phase_figures(rows), None, text)?;
                }
            }
            StudyOutcome::MnistRepair {
                baseline: b, rows, ..
            } => {
                if let Some(spec) = exp.mnist_repair() {
                    let text = repair::mnist_summary(&exp, spec, b, rows);
                    w.study(
                        ("mnist-repair.csv", rows),
                        repair::mnist_figures(b, rows),
                        None,
                        text,
                    )?;
                }
            }
            _ => {}
        }
    }
    let summary = std::mem::take(&mut w.summary);
    w.file("summary.md", summary.as_bytes())?;
    outcome.manifest.report_s = t.elapsed().as_secs_f64();
    let path = dir.join("manifest.json");
    crate::write_json_atomic(&path, &outcome.manifest)?;
    w.written.push(path);
    Ok(w.written)
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
            "{},{},{},\"{:?}\",{}",
            samples.label[i],
            c.defect,
            c.size.map_or(String::new(), |v| v.to_string()),
            c.layers,
            samples.image[i]
        );
    }
    buf
}

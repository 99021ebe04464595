//! Outputs of the real-number-code repair studies (Li, Cho, Jin & Xu): the phase transition
//! (their Fig. 2), the MNIST repair (their Fig. 1) and the crossbar repair of the digits
//! network's stuck pairs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use xbar_experiment::{
    CodedLayerInfo, CrossbarRepairSpec, Experiment, MnistBaseline, MnistRepairSpec, MnistRow,
    PhaseRow, PhaseTransitionSpec, RepairRow, crossing_50,
};

use crate::stats::{by_size, mean, unique};
use crate::{Figure, MdTable, Panel, Series};

fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.2} %", 100.0 * x)
    }
}

fn unknowns(rows: &[PhaseRow]) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::new();
    for r in rows {
        if !v.contains(&r.unknowns) {
            v.push(r.unknowns);
        }
    }
    v
}

/// The phase-transition figure: success rate versus the number of checks `K`, one line per
/// `N`, and the prediction `D(s, N)` as a dashed vertical segment in the same colour.
pub(crate) fn phase_figures(rows: &[PhaseRow]) -> Vec<(String, Figure)> {
    let ns = unknowns(rows);
    let mut series: Vec<Series> = Vec::new();
    let mut predictions: Vec<Series> = Vec::new();
    for (i, &n) in ns.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.unknowns == n)
            .map(|r| (f64::from(r.constraints), r.rate))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let first = rows.iter().find(|r| r.unknowns == n);
        let (s, d) = first.map_or((0, f64::NAN), |r| (r.errors, r.predicted_d));
        series.push(Series {
            style: Some(i),
            ..Series::new(format!("N = {n}"), pts)
        });
        let label = format!("D({s}, {n}) = {d:.0}");
        predictions.push(Series::new(label, vec![(d, 0.0), (d, 1.0)]).reference(i));
    }
    series.extend(predictions);
    let s = rows.first().map_or(0, |r| r.errors);
    let trials = rows.first().map_or(0, |r| r.trials);
    vec![(
        "phase-transition".into(),
        Figure {
            title: format!("L1 recovery of s = {s} errors ({trials} trials per point)"),
            panels: vec![Panel {
                title: String::new(),
                x_label: "number of checks K".into(),
                y_label: "success rate".into(),
                x_range: None,
                y_range: Some((0.0, 1.0)),
                series,
                hline: None,
            }],
            columns: 1,
            panel_size: (720, 460),
        },
    )]
}

/// Markdown for `phase.csv`: the 50 % crossing per `N` beside `D(s, N)`, then every point.
pub(crate) fn phase_summary(
    exp: &Experiment,
    spec: &PhaseTransitionSpec,
    rows: &[PhaseRow],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", exp.name);
    if !exp.description.is_empty() {
        let _ = writeln!(s, "{}\n", exp.description);
    }
    let _ = writeln!(
        s,
        "L1 decoding of an s-sparse error (s = {}, N(0, 1) values) from K Gaussian checks (M is K x N, \
         i.i.d. N(0, 1/K)); decoder `{}`; {} instances per point; success when \
         ||e_hat - e||_2 <= 1e-4 max(1, ||e||_2). The prediction is the statistical dimension D(s, N) of the \
         L1 descent cone (reference/ecc-math.md A.7): success should cross 50 % there.\n",
        spec.errors,
        spec.decoder.name(),
        spec.trials
    );
    let mut t = MdTable::new(&[
        "N",
        "predicted D(s, N)",
        "measured 50 % point",
        "difference",
        "difference / sqrt(N)",
        "K for >= 95 %",
    ]);
    for n in unknowns(rows) {
        let d = rows
            .iter()
            .find(|r| r.unknowns == n)
            .map_or(f64::NAN, |r| r.predicted_d);
        let c = crossing_50(rows, n);
        let k95 = rows
            .iter()
            .filter(|r| r.unknowns == n && r.rate >= 0.95)
            .map(|r| r.constraints)
            .min();
        t.row(vec![
            n.to_string(),
            format!("{d:.1}"),
            c.map_or("not crossed in the swept range".into(), |c| {
                format!("{c:.1}")
            }),
            c.map_or("-".into(), |c| format!("{:+.1}", c - d)),
            c.map_or("-".into(), |c| {
                format!("{:+.2}", (c - d) / f64::from(n).sqrt())
            }),
            k95.map_or("-".into(), |k| k.to_string()),
        ]);
    }
    s.push_str(&t.render());
    let _ = writeln!(s, "\n## Every point\n");
    let mut t = MdTable::new(&["N", "K", "successes", "rate", "median decode (ms)"]);
    for r in rows {
        t.row(vec![
            r.unknowns.to_string(),
            r.constraints.to_string(),
            format!("{} / {}", r.successes, r.trials),
            format!("{:.2}", r.rate),
            format!("{:.2}", r.median_decode_ms),
        ]);
    }
    s.push_str(&t.render());
    let _ = writeln!(
        s,
        "\nFiles: `phase.csv`, `plots/phase-transition.svg` / `.png`, `manifest.json`."
    );
    s
}

/// Mean of `f` over the rows of each error level, in level order: `(level, mean)`.
fn by_level(rows: &[MnistRow], f: impl Fn(&MnistRow) -> f64) -> Vec<(f64, f64)> {
    let mut m: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for r in rows {
        m.entry(r.errors).or_default().push(f(r));
    }
    m.into_iter()
        .map(|(e, v)| (f64::from(e), mean(v.into_iter())))
        .collect()
}

/// The MNIST figure (the paper's Fig. 1): mean test accuracy versus the number of weight
/// errors with and without correction; and the share of groups and images repaired.
pub(crate) fn mnist_figures(base: &MnistBaseline, rows: &[MnistRow]) -> Vec<(String, Figure)> {
    let acc = |f: fn(&MnistRow) -> f64| {
        by_level(rows, f)
            .into_iter()
            .map(|(x, y)| (x, 100.0 * y))
            .collect::<Vec<_>>()
    };
    let trials = rows.iter().map(|r| r.trial).max().map_or(0, |t| t + 1);
    let accuracy = Panel {
        title: "Test accuracy".into(),
        x_label: "weight errors in W (of 200,704)".into(),
        y_label: "test accuracy (%)".into(),
        x_range: None,
        y_range: None,
        series: vec![
            Series::new("with correction", acc(|r| r.accuracy_repaired)),
            Series::new(
                "memory correction only",
                acc(|r| r.accuracy_memory_repaired),
            ),
            Series::new("without correction", acc(|r| r.accuracy_faulty)).dashed(),
        ],
        hline: Some((100.0 * base.coded_test, "coded network, no errors".into())),
    };
    let share = |f: fn(&MnistRow) -> f64| {
        by_level(rows, f)
            .into_iter()
            .map(|(x, y)| (x, 100.0 * y))
            .collect::<Vec<_>>()
    };
    let groups = Panel {
        title: "What the decoders did".into(),
        x_label: "weight errors in W (of 200,704)".into(),
        y_label: "share (%)".into(),
        x_range: None,
        y_range: Some((0.0, 100.0)),
        series: vec![
            Series::new(
                "groups with errors repaired",
                share(|r| {
                    if r.groups_with_errors == 0 {
                        1.0
                    } else {
                        f64::from(r.recovered) / f64::from(r.groups_with_errors)
                    }
                }),
            ),
            Series::new(
                "images with datapath error corrected",
                share(|r| r.datapath_corrected),
            ),
            Series::new(
                "images flagged by the checks",
                share(|r| r.datapath_detected),
            )
            .dashed(),
        ],
        hline: None,
    };
    vec![(
        "mnist-repair".into(),
        Figure {
            title: format!(
                "MNIST 784-256-10, first layer coded: mean of {trials} trials per level"
            ),
            panels: vec![accuracy, groups],
            columns: 2,
            panel_size: (560, 420),
        },
    )]
}

/// Markdown for the MNIST study.
pub(crate) fn mnist_summary(
    exp: &Experiment,
    spec: &MnistRepairSpec,
    base: &MnistBaseline,
    rows: &[MnistRow],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", exp.name);
    if !exp.description.is_empty() {
        let _ = writeln!(s, "{}\n", exp.description);
    }
    let _ = writeln!(s, "## Network and code\n");
    let mut t = MdTable::new(&["", "value"]);
    t.row(vec![
        "network".into(),
        format!(
            "784-256-10, {} training / {} test images, Adam {} epochs (batch {}, lr {}, L2 {})",
            base.train_images,
            base.test_images,
            spec.train.epochs,
            spec.train.batch_size,
            spec.train.learning_rate,
            spec.train.l2
        ),
    ]);
    t.row(vec![
        "baseline test accuracy".into(),
        format!(
            "{} (the paper: {}, {})",
            pct(base.software_test),
            crate::reference::paper().mnist.baseline_test,
            crate::reference::paper().mnist.source
        ),
    ]);
    t.row(vec![
        "code".into(),
        format!(
            "{} groups of {} inputs x 256; K = {} Gaussian + {} output check(s) x {} inputs = {} constraints per group; rate {:.3}",
            base.groups,
            spec.group_inputs,
            base.type1_per_group,
            base.output_checks,
            spec.group_inputs,
            base.constraints_per_group,
            base.rate
        ),
    ]);
    t.row(vec![
        "projection".into(),
        format!(
            "relative change {:.1} %; test accuracy {} after projection, {} coded{}",
            100.0 * base.projection_change,
            pct(base.projected_test),
            pct(base.coded_test),
            if spec.finetune_epochs > 0 {
                format!(" (after {} fine-tuning epochs)", spec.finetune_epochs)
            } else {
                String::new()
            }
        ),
    ]);
    t.row(vec![
        "coded weights".into(),
        format!(
            "RMS {:.4}, max |w| {:.3}; errors N(0, {}) on W, datapath {} x N(0, {}) per image",
            base.weight_rms,
            base.weight_max,
            spec.error_std,
            spec.datapath_errors,
            spec.datapath_std
        ),
    ]);
    t.row(vec![
        "decoder".into(),
        format!(
            "`{}`, design bound {} errors per group",
            spec.decoder.name(),
            spec.design_errors
        ),
    ]);
    s.push_str(&t.render());
    let _ = writeln!(s, "\n## Accuracy versus weight errors (mean over trials)\n");
    let mut t = MdTable::new(&[
        "weight errors",
        "per group (mean / max)",
        "without correction",
        "memory corrected",
        "with correction",
        "groups repaired / partial / uncorrectable",
        "miscorrected groups",
        "errors left",
        "datapath corrected",
    ]);
    let levels: Vec<u32> = {
        let mut v: Vec<u32> = rows.iter().map(|r| r.errors).collect();
        v.dedup();
        v
    };
    for e in levels {
        let rs: Vec<&MnistRow> = rows.iter().filter(|r| r.errors == e).collect();
        let m = |f: &dyn Fn(&MnistRow) -> f64| mean(rs.iter().map(|r| f(r)));
        let sum = |f: &dyn Fn(&MnistRow) -> u32| rs.iter().map(|r| f(r)).sum::<u32>();
        t.row(vec![
            e.to_string(),
            format!(
                "{:.2} / {}",
                f64::from(e) / f64::from(base.groups.max(1)),
                rs.iter().map(|r| r.max_group_errors).max().unwrap_or(0)
            ),
            pct(m(&|r| r.accuracy_faulty)),
            pct(m(&|r| r.accuracy_memory_repaired)),
            pct(m(&|r| r.accuracy_repaired)),
            format!(
                "{} / {} / {}",
                sum(&|r| r.recovered),
                sum(&|r| r.partial),
                sum(&|r| r.uncorrectable)
            ),
            sum(&|r| r.miscorrected).to_string(),
            format!("{:.1}", m(&|r| f64::from(r.errors_left))),
            pct(m(&|r| r.datapath_corrected)),
        ]);
    }
    s.push_str(&t.render());
    let recovered: u32 = rows.iter().map(|r| r.recovered).sum();
    let by = |f: fn(&MnistRow) -> u32| rows.iter().map(f).sum::<u32>();
    let _ = writeln!(
        s,
        "\nCertified groups by decoder: single error {}, OMP {}, homotopy {}, Clarabel {} (of {recovered}). \
         Group counts are totals over all trials of a level; only certified corrections are applied.",
        by(|r| r.by_single_error),
        by(|r| r.by_omp),
        by(|r| r.by_homotopy),
        by(|r| r.by_clarabel)
    );
    let _ = writeln!(
        s,
        "\nFiles: `mnist-repair.csv` (one row per level and trial), `plots/mnist-repair.svg` / `.png`, `manifest.json`."
    );
    s
}

/// Mean of accuracies per size of one (label, layer) panel: `(coverage %, accuracy %)`.
fn curve(rows: &[&RepairRow], f: fn(&RepairRow) -> f64) -> Vec<(f64, f64)> {
    by_size(rows.iter().map(|r| (r.size, r.coverage, f(r))))
}

/// The crossbar-repair figure: accuracy versus coverage per geometry (and layer), faulty,
/// L1-repaired and erasure-repaired, the uncoded network's faulty accuracy dashed.
pub(crate) fn crossbar_figures(rows: &[RepairRow]) -> Vec<(String, Figure)> {
    let labels = unique(rows.iter().map(|r| &r.label));
    let mut layers: Vec<u32> = rows.iter().map(|r| r.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    let mut panels = Vec::new();
    for label in &labels {
        for &l in &layers {
            let rs: Vec<&RepairRow> = rows
                .iter()
                .filter(|r| &r.label == label && r.layer == l)
                .collect();
            if rs.is_empty() {
                continue;
            }
            // Zoom on the data, in steps of 5 %, so that one-image differences near the top
            // stay visible while panels remain comparable.
            let lowest = rs
                .iter()
                .flat_map(|r| {
                    [
                        r.accuracy_faulty,
                        r.accuracy_lp,
                        r.accuracy_erasure,
                        r.accuracy_uncoded_faulty,
                        r.accuracy_healthy,
                    ]
                })
                .filter(|v| v.is_finite())
                .fold(1.0f64, f64::min);
            let y_lo = ((100.0 * lowest - 1.0) / 5.0).floor().max(0.0) * 5.0;
            panels.push(Panel {
                title: if layers.len() > 1 {
                    format!("{label}, layer {l}")
                } else {
                    label.clone()
                },
                x_label: "defect coverage of the coded array (%)".into(),
                y_label: "accuracy, all images (%)".into(),
                x_range: None,
                y_range: Some((y_lo, 100.5)),
                series: vec![
                    Series::new("faulty", curve(&rs, |r| r.accuracy_faulty)),
                    Series::new("L1-repaired (blind)", curve(&rs, |r| r.accuracy_lp)),
                    Series::new(
                        "erasure-repaired (map known)",
                        curve(&rs, |r| r.accuracy_erasure),
                    ),
                    Series::new(
                        "uncoded network, faulty",
                        curve(&rs, |r| r.accuracy_uncoded_faulty),
                    )
                    .dashed(),
                ],
                hline: Some((
                    100.0 * rs[0].accuracy_healthy,
                    "healthy coded circuit".into(),
                )),
            });
        }
    }
    let columns = panels.len().clamp(1, 3);
    vec![(
        "crossbar-repair".into(),
        Figure {
            title: "Stuck pairs repaired through the real-number code (digital y -= E_hat x)"
                .into(),
            panels,
            columns,
            panel_size: (500, 380),
        },
    )]
}

/// Markdown appended to `summary.md` by the crossbar-repair study.
pub(crate) fn crossbar_summary(
    spec: &CrossbarRepairSpec,
    coded: &[CodedLayerInfo],
    rows: &[RepairRow],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Crossbar repair through the real-number code\n");
    let _ = writeln!(
        s,
        "Each injected array carries a code (`[W; b]`, groups of rows, K Gaussian checks designed for {} stuck pairs \
         per group plus a column-sum check per row), the network is fine-tuned on it ({} epochs) and programmed. \
         Stuck pairs hold (G+ - G-)/k; the difference to the coded weight is the memory error. The stuck cells cannot \
         be re-written: the repair is a digital term y -= E_hat x after the array. Blind: decoder `{}` per group; \
         erasure: least squares on the known defect map. Only certified corrections are applied.\n",
        spec.design_errors,
        spec.finetune_epochs,
        spec.decoder.name()
    );
    let mut t = MdTable::new(&[
        "layer",
        "array",
        "groups x rows",
        "K + column sums",
        "rate",
        "coded software (test)",
        "healthy coded circuit (all)",
    ]);
    for c in coded {
        t.row(vec![
            c.layer.to_string(),
            format!("{} x {}", c.rows, c.cols),
            format!("{} x {}", c.groups, c.group_rows),
            format!("{} + {}", c.type1_per_group, c.group_rows),
            format!("{:.3}", c.rate),
            pct(c.software_test),
            pct(c.analog_all),
        ]);
    }
    s.push_str(&t.render());
    let _ = writeln!(s, "\nPer scenario (accuracy on all images):\n");
    let mut t = MdTable::new(&[
        "geometry",
        "size",
        "layer",
        "faulty pairs (coverage)",
        "uncoded faulty",
        "coded faulty",
        "L1-repaired",
        "erasure-repaired",
        "L1 groups rec. / part. / unc.",
        "erasure groups rec. / part. / unc.",
    ]);
    for r in rows {
        t.row(vec![
            r.label.clone(),
            r.size.map_or("-".into(), |v| v.to_string()),
            r.layer.to_string(),
            format!("{} ({:.2} %)", r.defective_pairs, 100.0 * r.coverage),
            pct(r.accuracy_uncoded_faulty),
            pct(r.accuracy_faulty),
            pct(r.accuracy_lp),
            pct(r.accuracy_erasure),
            format!(
                "{} / {} / {}",
                r.lp_recovered, r.lp_partial, r.lp_uncorrectable
            ),
            format!(
                "{} / {} / {}",
                r.erasure_recovered, r.erasure_partial, r.erasure_uncorrectable
            ),
        ]);
    }
    s.push_str(&t.render());
    let _ = writeln!(
        s,
        "\nFiles: `repair.csv`, `plots/crossbar-repair.svg` / `.png`."
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_figure_draws_each_prediction_in_its_curve_colour() {
        let row = |unknowns, constraints| PhaseRow {
            unknowns,
            constraints,
            errors: 5,
            trials: 2,
            successes: 1,
            rate: 0.5,
            predicted_d: f64::from(unknowns) / 10.0,
            median_decode_ms: 1.0,
        };
        let rows = [row(100, 5), row(100, 20), row(400, 30), row(400, 60)];
        let (_, fig) = &phase_figures(&rows)[0];
        let labels: Vec<(&str, Option<usize>)> = fig.panels[0]
            .series
            .iter()
            .map(|s| (s.label.as_str(), s.style))
            .collect();
        assert_eq!(
            labels,
            [
                ("N = 100", Some(0)),
                ("N = 400", Some(1)),
                ("D(5, 100) = 10", Some(0)),
                ("D(5, 400) = 40", Some(1))
            ]
        );
    }
}

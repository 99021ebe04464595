//! Outputs of the real-number-code repair studies (Li, Cho, Jin & Xu): the phase transition
//! (their Fig. 2), the MNIST repair (their Fig. 1) and the crossbar repair of the digits
//! network's stuck pairs.

use xbar_experiment::{
    CodedLayerInfo, CrossbarRepairSpec, Experiment, MnistBaseline, MnistRepairSpec, MnistRow,
    PhaseRow, PhaseTransitionSpec, RepairRow, crossing_50,
};

use crate::stats::{by_size, mean, pct_n, slash, sums, title, unique};
use crate::{Figure, MdTable, Panel, Series};

/// Percentages with two decimals, as the repair studies print them.
fn pct(x: f64) -> String {
    pct_n(x, 2)
}

/// The phase-transition figure: success rate versus the number of checks `K`, one line per
/// `N`, and the prediction `D(s, N)` as a dashed vertical segment in the same colour.
pub(crate) fn phase_figures(rows: &[PhaseRow]) -> Vec<(String, Figure)> {
    let ns = unique(rows.iter().map(|r| r.unknowns));
    let mut series: Vec<Series> = Vec::new();
    let mut predictions: Vec<Series> = Vec::new();
    for (i, &n) in ns.iter().enumerate() {
        let rs = rows.iter().filter(|r| r.unknowns == n);
        let mut pts: Vec<(f64, f64)> = rs.map(|r| (f64::from(r.constraints), r.rate)).collect();
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
    let (s, trials) = rows.first().map_or((0, 0), |r| (r.errors, r.trials));
    let title = format!("L1 recovery of s = {s} errors ({trials} trials per point)");
    let panel = Panel::new("", "number of checks K", "success rate", series).with_y(0.0, 1.0);
    vec![(
        "phase-transition".into(),
        Figure::new(title, vec![panel], 1, (720, 460)),
    )]
}

/// Markdown for `phase.csv`: the 50 % crossing per `N` beside `D(s, N)`, then every point.
pub(crate) fn phase_summary(
    exp: &Experiment,
    spec: &PhaseTransitionSpec,
    rows: &[PhaseRow],
) -> String {
    let mut s = title(exp);
    s += &format!(
        "L1 decoding of an s-sparse error (s = {}, N(0, 1) values) from K Gaussian checks (M is K x N, \
         i.i.d. N(0, 1/K)); decoder `{}`; {} instances per point; success when \
         ||e_hat - e||_2 <= 1e-4 max(1, ||e||_2). The prediction is the statistical dimension D(s, N) of the \
         L1 descent cone (reference/ecc-math.md A.7): success should cross 50 % there.\n\n",
        spec.errors,
        spec.decoder.name(),
        spec.trials
    );
    let per_n = unique(rows.iter().map(|r| r.unknowns))
        .into_iter()
        .map(|n| {
            let d = rows
                .iter()
                .find(|r| r.unknowns == n)
                .map_or(f64::NAN, |r| r.predicted_d);
            let k95 = rows
                .iter()
                .filter(|r| r.unknowns == n && r.rate >= 0.95)
                .map(|r| r.constraints)
                .min();
            (n, d, crossing_50(rows, n), k95)
        });
    let diff = |c: Option<f64>, f: &dyn Fn(f64) -> String| c.map_or("-".into(), f);
    s += &MdTable::cols(
        per_n,
        &[
            ("N", &|r| r.0.to_string()),
            ("predicted D(s, N)", &|r| format!("{:.1}", r.1)),
            ("measured 50 % point", &|r| {
                r.2.map_or("not crossed in the swept range".into(), |c| {
                    format!("{c:.1}")
                })
            }),
            ("difference", &|r| {
                diff(r.2, &|c| format!("{:+.1}", c - r.1))
            }),
            ("difference / sqrt(N)", &|r| {
                diff(r.2, &|c| {
                    format!("{:+.2}", (c - r.1) / f64::from(r.0).sqrt())
                })
            }),
            ("K for >= 95 %", &|r| {
                r.3.map_or("-".into(), |k| k.to_string())
            }),
        ],
    );
    s += "\n## Every point\n\n";
    s += &MdTable::cols(
        rows,
        &[
            ("N", &|r| r.unknowns.to_string()),
            ("K", &|r| r.constraints.to_string()),
            ("successes", &|r| format!("{} / {}", r.successes, r.trials)),
            ("rate", &|r| format!("{:.2}", r.rate)),
            ("median decode (ms)", &|r| {
                format!("{:.2}", r.median_decode_ms)
            }),
        ],
    );
    s + "\nFiles: `phase.csv`, `plots/phase-transition.svg` / `.png`, `manifest.json`.\n"
}

/// The share of a row's groups with errors that were repaired (1 when none had errors).
fn repaired_share(r: &MnistRow) -> f64 {
    match r.groups_with_errors {
        0 => 1.0,
        g => f64::from(r.recovered) / f64::from(g),
    }
}

/// The MNIST figure (the paper's Fig. 1): mean test accuracy versus the number of weight
/// errors with and without correction; and the share of groups and images repaired.
pub(crate) fn mnist_figures(base: &MnistBaseline, rows: &[MnistRow]) -> Vec<(String, Figure)> {
    // Mean of `f` (in %) per error level, in level order.
    let line = |label: &str, f: fn(&MnistRow) -> f64| {
        let levels = sums(rows.iter().map(|r| (r.errors, [f(r)])));
        let pts = levels
            .into_iter()
            .map(|(e, [v], n)| (f64::from(e), 100.0 * (v / n)));
        Series::new(label, pts.collect())
    };
    let trials = rows.iter().map(|r| r.trial).max().map_or(0, |t| t + 1);
    let x = "weight errors in W (of 200,704)";
    let accuracy = vec![
        line("with correction", |r| r.accuracy_repaired),
        line("memory correction only", |r| r.accuracy_memory_repaired),
        line("without correction", |r| r.accuracy_faulty).dashed(),
    ];
    let groups = vec![
        line("groups with errors repaired", repaired_share),
        line("images with datapath error corrected", |r| {
            r.datapath_corrected
        }),
        line("images flagged by the checks", |r| r.datapath_detected).dashed(),
    ];
    let panels = vec![
        Panel::new("Test accuracy", x, "test accuracy (%)", accuracy)
            .with_hline(100.0 * base.coded_test, "coded network, no errors"),
        Panel::new("What the decoders did", x, "share (%)", groups).with_y(0.0, 100.0),
    ];
    let title = format!("MNIST 784-256-10, first layer coded: mean of {trials} trials per level");
    vec![(
        "mnist-repair".into(),
        Figure::new(title, panels, 2, (560, 420)),
    )]
}

/// Markdown for the MNIST study.
pub(crate) fn mnist_summary(
    exp: &Experiment,
    spec: &MnistRepairSpec,
    base: &MnistBaseline,
    rows: &[MnistRow],
) -> String {
    let (paper, t, k) = (
        &crate::reference::paper().mnist,
        &spec.train,
        spec.group_inputs,
    );
    let finetune = match spec.finetune_epochs {
        0 => String::new(),
        e => format!(" (after {e} fine-tuning epochs)"),
    };
    let facts = [
        (
            "network",
            format!(
                "784-256-10, {} training / {} test images, Adam {} epochs (batch {}, lr {}, L2 {})",
                base.train_images, base.test_images, t.epochs, t.batch_size, t.learning_rate, t.l2
            ),
        ),
        (
            "baseline test accuracy",
            format!(
                "{} (the paper: {}, {})",
                pct(base.software_test),
                paper.baseline_test,
                paper.source
            ),
        ),
        (
            "code",
            format!(
                "{} groups of {k} inputs x 256; K = {} Gaussian + {} output check(s) x {k} inputs = {} constraints \
                 per group; rate {:.3}",
                base.groups,
                base.type1_per_group,
                base.output_checks,
                base.constraints_per_group,
                base.rate
            ),
        ),
        (
            "projection",
            format!(
                "relative change {:.1} %; test accuracy {} after projection, {} coded{finetune}",
                100.0 * base.projection_change,
                pct(base.projected_test),
                pct(base.coded_test)
            ),
        ),
        (
            "coded weights",
            format!(
                "RMS {:.4}, max |w| {:.3}; errors N(0, {}) on W, datapath {} x N(0, {}) per image",
                base.weight_rms,
                base.weight_max,
                spec.error_std,
                spec.datapath_errors,
                spec.datapath_std
            ),
        ),
        (
            "decoder",
            format!(
                "`{}`, design bound {} errors per group",
                spec.decoder.name(),
                spec.design_errors
            ),
        ),
    ];
    let mut s = title(exp) + "## Network and code\n\n";
    s += &MdTable::of(
        &["", "value"],
        facts.into_iter().map(|(k, v)| vec![k.to_string(), v]),
    );
    s += "\n## Accuracy versus weight errors (mean over trials)\n\n";
    let levels = unique(rows.iter().map(|r| r.errors));
    let level = |e: u32| rows.iter().filter(move |r| r.errors == e);
    let m = |e: u32, f: fn(&MnistRow) -> f64| mean(level(e).map(f));
    let sum = |e: u32, f: fn(&MnistRow) -> u32| level(e).map(f).sum::<u32>();
    let per_group = |e: u32| f64::from(e) / f64::from(base.groups.max(1));
    s += &MdTable::cols(
        levels,
        &[
            ("weight errors", &|e| e.to_string()),
            ("per group (mean / max)", &|e| {
                let max = level(*e).map(|r| r.max_group_errors).max().unwrap_or(0);
                format!("{:.2} / {max}", per_group(*e))
            }),
            ("without correction", &|e| pct(m(*e, |r| r.accuracy_faulty))),
            ("memory corrected", &|e| {
                pct(m(*e, |r| r.accuracy_memory_repaired))
            }),
            ("with correction", &|e| pct(m(*e, |r| r.accuracy_repaired))),
            ("groups repaired / partial / uncorrectable", &|e| {
                slash(&[
                    sum(*e, |r| r.recovered),
                    sum(*e, |r| r.partial),
                    sum(*e, |r| r.uncorrectable),
                ])
            }),
            ("miscorrected groups", &|e| {
                sum(*e, |r| r.miscorrected).to_string()
            }),
            ("errors left", &|e| {
                format!("{:.1}", m(*e, |r| f64::from(r.errors_left)))
            }),
            ("datapath corrected", &|e| {
                pct(m(*e, |r| r.datapath_corrected))
            }),
        ],
    );
    let by = |f: fn(&MnistRow) -> u32| rows.iter().map(f).sum::<u32>();
    s += &format!(
        "\nCertified groups by decoder: single error {}, OMP {}, homotopy {}, Clarabel {} (of {}). \
         Group counts are totals over all trials of a level; only certified corrections are applied.\n",
        by(|r| r.by_single_error),
        by(|r| r.by_omp),
        by(|r| r.by_homotopy),
        by(|r| r.by_clarabel),
        by(|r| r.recovered)
    );
    s + "\nFiles: `mnist-repair.csv` (one row per level and trial), `plots/mnist-repair.svg` / `.png`, \
         `manifest.json`.\n"
}

/// The crossbar-repair figure: accuracy versus coverage per geometry (and layer), faulty,
/// L1-repaired and erasure-repaired, the uncoded network's faulty accuracy dashed.
pub(crate) fn crossbar_figures(rows: &[RepairRow]) -> Vec<(String, Figure)> {
    let mut layers: Vec<u32> = rows.iter().map(|r| r.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    let mut panels = Vec::new();
    for label in unique(rows.iter().map(|r| r.label.as_str())) {
        for &l in &layers {
            let rs: Vec<&RepairRow> = rows
                .iter()
                .filter(|r| r.label == label && r.layer == l)
                .collect();
            if rs.is_empty() {
                continue;
            }
            let curve = |name: &str, f: fn(&RepairRow) -> f64| {
                Series::new(name, by_size(rs.iter().map(|r| (r.size, r.coverage, f(r)))))
            };
            // Zoom on the data, in steps of 5 %, so that one-image differences near the top
            // stay visible while panels remain comparable.
            let lowest = rs
                .iter()
                .flat_map(|r| {
                    let (a, b) = (r.accuracy_faulty, r.accuracy_lp);
                    [
                        a,
                        b,
                        r.accuracy_erasure,
                        r.accuracy_uncoded_faulty,
                        r.accuracy_healthy,
                    ]
                })
                .filter(|v| v.is_finite())
                .fold(1.0f64, f64::min);
            let y_lo = ((100.0 * lowest - 1.0) / 5.0).floor().max(0.0) * 5.0;
            let title = if layers.len() > 1 {
                format!("{label}, layer {l}")
            } else {
                label.to_string()
            };
            let series = vec![
                curve("faulty", |r| r.accuracy_faulty),
                curve("L1-repaired (blind)", |r| r.accuracy_lp),
                curve("erasure-repaired (map known)", |r| r.accuracy_erasure),
                curve("uncoded network, faulty", |r| r.accuracy_uncoded_faulty).dashed(),
            ];
            let panel = Panel::new(
                &title,
                "defect coverage of the coded array (%)",
                "accuracy, all images (%)",
                series,
            );
            let healthy = 100.0 * rs[0].accuracy_healthy;
            panels.push(
                panel
                    .with_y(y_lo, 100.5)
                    .with_hline(healthy, "healthy coded circuit"),
            );
        }
    }
    let title = "Stuck pairs repaired through the real-number code (digital y -= E_hat x)";
    let columns = panels.len().clamp(1, 3);
    vec![(
        "crossbar-repair".into(),
        Figure::new(title, panels, columns, (500, 380)),
    )]
}

/// Markdown appended to `summary.md` by the crossbar-repair study.
pub(crate) fn crossbar_summary(
    spec: &CrossbarRepairSpec,
    coded: &[CodedLayerInfo],
    rows: &[RepairRow],
) -> String {
    let mut s = format!(
        "\n## Crossbar repair through the real-number code\n\n\
         Each injected array carries a code (`[W; b]`, groups of rows, K Gaussian checks designed for {} stuck pairs \
         per group plus a column-sum check per row), the network is fine-tuned on it ({} epochs) and programmed. \
         Stuck pairs hold (G+ - G-)/k; the difference to the coded weight is the memory error. The stuck cells cannot \
         be re-written: the repair is a digital term y -= E_hat x after the array. Blind: decoder `{}` per group; \
         erasure: least squares on the known defect map. Only certified corrections are applied.\n\n",
        spec.design_errors,
        spec.finetune_epochs,
        spec.decoder.name()
    );
    s += &MdTable::cols(
        coded,
        &[
            ("layer", &|c| c.layer.to_string()),
            ("array", &|c| format!("{} x {}", c.rows, c.cols)),
            ("groups x rows", &|c| {
                format!("{} x {}", c.groups, c.group_rows)
            }),
            ("K + column sums", &|c| {
                format!("{} + {}", c.type1_per_group, c.group_rows)
            }),
            ("rate", &|c| format!("{:.3}", c.rate)),
            ("coded software (test)", &|c| pct(c.software_test)),
            ("healthy coded circuit (all)", &|c| pct(c.analog_all)),
        ],
    );
    s += "\nPer scenario (accuracy on all images):\n\n";
    s += &MdTable::cols(
        rows,
        &[
            ("geometry", &|r| r.label.clone()),
            ("size", &|r| r.size.map_or("-".into(), |v| v.to_string())),
            ("layer", &|r| r.layer.to_string()),
            ("faulty pairs (coverage)", &|r| {
                format!("{} ({:.2} %)", r.defective_pairs, 100.0 * r.coverage)
            }),
            ("uncoded faulty", &|r| pct(r.accuracy_uncoded_faulty)),
            ("coded faulty", &|r| pct(r.accuracy_faulty)),
            ("L1-repaired", &|r| pct(r.accuracy_lp)),
            ("erasure-repaired", &|r| pct(r.accuracy_erasure)),
            ("L1 groups rec. / part. / unc.", &|r| {
                slash(&[r.lp_recovered, r.lp_partial, r.lp_uncorrectable])
            }),
            ("erasure groups rec. / part. / unc.", &|r| {
                slash(&[
                    r.erasure_recovered,
                    r.erasure_partial,
                    r.erasure_uncorrectable,
                ])
            }),
        ],
    );
    s + "\nFiles: `repair.csv`, `plots/crossbar-repair.svg` / `.png`.\n"
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

//! Accuracy-versus-severity outputs of a defect sweep (Sawal & Wong 2025, Fig. 4 style).
//!
//! One panel per defect geometry (and stuck state / fault level when several were swept), one
//! line per injected layer set, repeats averaged. The summary places the worst layer of each
//! geometry beside the paper's statement.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use xbar_experiment::{Baseline, Experiment, ScenarioRecord};

use crate::{Figure, MdTable, Panel, Series};

/// Mean accuracy and coverage of one (panel, layer set, size) cell over its repeats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    /// Size parameter.
    pub size: Option<f64>,
    /// Mean coverage (fraction).
    pub coverage: f64,
    /// Mean defective pairs.
    pub pairs: f64,
    /// Mean accuracy on all images (fraction).
    pub accuracy: f64,
    /// Mean accuracy on the test images (fraction).
    pub accuracy_test: f64,
    /// Number of repeats averaged.
    pub n: u32,
}

/// Records grouped as panel -> layer set -> points sorted by coverage.
pub type Grouped = BTreeMap<String, BTreeMap<String, Vec<Point>>>;

fn panel_key(r: &ScenarioRecord, multi: bool) -> String {
    if multi {
        format!("{} (stuck-{}, {} level)", r.label, r.state, r.level)
    } else {
        r.label.clone()
    }
}

/// Groups records by panel and layer set, averaging repeats, in the experiment's shape order.
pub fn group(records: &[ScenarioRecord]) -> Grouped {
    let mut combos: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.state.clone(), r.level.clone()))
        .collect();
    combos.sort();
    combos.dedup();
    let multi = combos.len() > 1;
    // panel -> layers -> size bits -> accumulated point
    let mut acc: BTreeMap<String, BTreeMap<String, BTreeMap<u64, Point>>> = BTreeMap::new();
    for r in records {
        let p = acc
            .entry(panel_key(r, multi))
            .or_default()
            .entry(r.layers.clone())
            .or_default()
            .entry(r.size.map_or(u64::MAX, f64::to_bits))
            .or_insert_with(|| Point {
                size: r.size,
                ..Point::default()
            });
        p.coverage += r.coverage;
        p.pairs += f64::from(r.defective_pairs);
        p.accuracy += r.accuracy;
        p.accuracy_test += r.accuracy_test;
        p.n += 1;
    }
    acc.into_iter()
        .map(|(panel, lines)| {
            let lines = lines
                .into_iter()
                .map(|(layers, pts)| {
                    let mut v: Vec<Point> = pts
                        .into_values()
                        .map(|mut p| {
                            let n = f64::from(p.n);
                            p.coverage /= n;
                            p.pairs /= n;
                            p.accuracy /= n;
                            p.accuracy_test /= n;
                            p
                        })
                        .collect();
                    v.sort_by(|a, b| a.coverage.total_cmp(&b.coverage));
                    (layers, v)
                })
                .collect();
            (panel, lines)
        })
        .collect()
}

/// Panels in the order shapes first appear in the records (the experiment file's order).
fn ordered_panels(records: &[ScenarioRecord], grouped: &Grouped) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for r in records {
        for k in grouped.keys() {
            if (k == &r.label || k.starts_with(&format!("{} (", r.label))) && !order.contains(k) {
                order.push(k.clone());
            }
        }
    }
    order
}

fn layer_label(layers: &str) -> String {
    if layers.contains('+') {
        format!("layers {layers}")
    } else {
        format!("layer {layers}")
    }
}

/// The figures of a sweep: `(file stem, figure)` pairs.
pub fn figures(
    exp: &Experiment,
    baseline: &Baseline,
    records: &[ScenarioRecord],
) -> Vec<(String, Figure)> {
    let grouped = group(records);
    let order = ordered_panels(records, &grouped);
    let reference = (
        100.0 * baseline.analog_all,
        format!("healthy circuit {:.1} %", 100.0 * baseline.analog_all),
    );
    let make = |x_of: &dyn Fn(&Point) -> f64, x_label: &str| -> Vec<Panel> {
        order
            .iter()
            .map(|panel| {
                let series = grouped[panel]
                    .iter()
                    .map(|(layers, pts)| {
                        Series::new(
                            layer_label(layers),
                            pts.iter().map(|p| (x_of(p), 100.0 * p.accuracy)).collect(),
                        )
                    })
                    .collect();
                Panel {
                    title: panel.clone(),
                    x_label: x_label.to_string(),
                    y_label: "accuracy, all images (%)".into(),
                    x_range: None,
                    y_range: Some((0.0, 100.0)),
                    series,
                    hline: Some(reference.clone()),
                }
            })
            .collect()
    };
    let columns = order.len().clamp(1, 3);
    let title = format!(
        "{}: accuracy vs defect severity ({} images, per injected layer)",
        exp.name,
        exp.network.dataset.samples()
    );
    vec![
        (
            "accuracy-vs-coverage".to_string(),
            Figure {
                title: title.clone(),
                panels: make(&|p| 100.0 * p.coverage, "defective pairs in the array (%)"),
                columns,
                panel_size: (520, 380),
            },
        ),
        (
            "accuracy-vs-pairs".to_string(),
            Figure {
                title,
                panels: make(&|p| p.pairs, "defective pairs (count)"),
                columns,
                panel_size: (520, 380),
            },
        ),
    ]
}

/// What Sawal & Wong (2025, section III.C) say about the most sensitive layer.
pub fn paper_worst_layer(shape: &str) -> Option<&'static str> {
    match shape {
        "circle" | "rows" => Some("output layer (3) steepest"),
        "ring" | "circle-complement" => Some("first layer (0) most severe"),
        _ => None,
    }
}

/// The Markdown summary of a sweep.
pub fn summary(exp: &Experiment, baseline: &Baseline, records: &[ScenarioRecord]) -> String {
    let grouped = group(records);
    let order = ordered_panels(records, &grouped);
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", exp.name);
    if !exp.description.is_empty() {
        let _ = writeln!(s, "{}\n", exp.description);
    }
    let _ = writeln!(
        s,
        "Source: `{}`; seed {}; device `{}` ({:?} read); network {:?}; {} scenarios.\n",
        exp.origin,
        exp.seed,
        exp.device.name,
        exp.device.params.iv,
        exp.network.sizes,
        records.len()
    );
    let _ = writeln!(s, "## Baseline\n");
    let mut t = MdTable::new(&["", "test images", "all images"]);
    t.row(vec![
        "software network".into(),
        pct(baseline.software_test),
        pct(baseline.software_all),
    ]);
    t.row(vec![
        "healthy analog circuit".into(),
        pct(baseline.analog_test),
        pct(baseline.analog_all),
    ]);
    s.push_str(&t.render());
    let _ = writeln!(
        s,
        "\nThe healthy circuit disagrees with the software network on {} of {} images (sinh read distortion; 0 with a linear read). R_load per layer: {} ohm.\n",
        baseline.analog_vs_software_disagreements,
        exp.network.dataset.samples(),
        baseline
            .r_load_ohms
            .iter()
            .map(|r| format!("{r:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let _ = writeln!(s, "## Most sensitive layer per geometry\n");
    let _ = writeln!(
        s,
        "Three readings of \"most sensitive\": the lowest mean accuracy over the swept sizes; the steepest loss per \
         defective pair (the paper's severity axis, which favours small arrays); the steepest loss per unit of \
         coverage (which compares arrays of different sizes fairly). Losses are measured from the healthy circuit.\n"
    );
    let mut t = MdTable::new(&[
        "geometry",
        "mean accuracy per layer",
        "lowest mean",
        "steepest per pair",
        "steepest per coverage",
        "paper (Sawal & Wong 2025)",
    ]);
    let base = baseline.analog_all;
    for panel in &order {
        let lines = &grouped[panel];
        let stat = |f: &dyn Fn(&Point) -> f64| -> Vec<(String, f64)> {
            lines
                .iter()
                .map(|(l, pts)| {
                    (
                        l.clone(),
                        pts.iter().map(f).sum::<f64>() / pts.len().max(1) as f64,
                    )
                })
                .collect()
        };
        let means = stat(&|p| p.accuracy);
        let per_pair = stat(&|p| {
            if p.pairs > 0.0 {
                (base - p.accuracy) / p.pairs
            } else {
                0.0
            }
        });
        let per_cov = stat(&|p| {
            if p.coverage > 0.0 {
                (base - p.accuracy) / p.coverage
            } else {
                0.0
            }
        });
        let arg = |v: &[(String, f64)], lowest: bool| {
            let pick = if lowest {
                v.iter().min_by(|a, b| a.1.total_cmp(&b.1))
            } else {
                v.iter().max_by(|a, b| a.1.total_cmp(&b.1))
            };
            pick.map(|(l, _)| layer_label(l)).unwrap_or_default()
        };
        let shape = lines
            .keys()
            .next()
            .and_then(|_| {
                records
                    .iter()
                    .find(|r| panel == &r.label || panel.starts_with(&format!("{} (", r.label)))
            })
            .map_or("", |r| r.shape.as_str());
        t.row(vec![
            panel.clone(),
            means
                .iter()
                .map(|(l, m)| format!("L{l}: {}", pct(*m)))
                .collect::<Vec<_>>()
                .join(", "),
            arg(&means, true),
            arg(&per_pair, false),
            arg(&per_cov, false),
            paper_worst_layer(shape).unwrap_or("-").into(),
        ]);
    }
    s.push_str(&t.render());

    let _ = writeln!(s, "\n## Accuracy per geometry, size and layer\n");
    let _ = writeln!(
        s,
        "Each cell: accuracy on all images (coverage of the injected array).\n"
    );
    for panel in &order {
        let lines = &grouped[panel];
        let _ = writeln!(s, "### {panel}\n");
        let mut headers = vec!["size".to_string()];
        headers.extend(lines.keys().map(|l| layer_label(l)));
        let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut t = MdTable::new(&hdr);
        let mut sizes: Vec<Option<f64>> = lines
            .values()
            .flat_map(|v| v.iter().map(|p| p.size))
            .collect();
        sizes.sort_by(|a, b| a.unwrap_or(f64::NAN).total_cmp(&b.unwrap_or(f64::NAN)));
        sizes.dedup();
        for size in sizes {
            let mut row = vec![size.map_or("-".into(), |v| v.to_string())];
            for pts in lines.values() {
                row.push(pts.iter().find(|p| p.size == size).map_or("-".into(), |p| {
                    format!("{} ({})", pct(p.accuracy), pct(p.coverage))
                }));
            }
            t.row(row);
        }
        s.push_str(&t.render());
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "Plots: `plots/accuracy-vs-coverage.svg` and `plots/accuracy-vs-pairs.svg` (PNG beside them)."
    );
    s
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(label: &str, size: f64, layers: &str, repeat: u32, acc: f64) -> ScenarioRecord {
        ScenarioRecord {
            scenario: 0,
            shape: "circle".into(),
            label: label.into(),
            size: Some(size),
            layers: layers.into(),
            state: "off".into(),
            level: "pair".into(),
            repeat,
            defective_pairs: 10,
            array_pairs: 100,
            coverage: 0.1,
            accuracy: acc,
            accuracy_test: acc,
            flipped: 0,
            stream: String::new(),
        }
    }

    #[test]
    fn sweeps_of_one_shape_stay_apart_and_repeats_average() {
        let records = vec![
            rec("circle", 0.1, "0", 0, 0.8),
            rec("circle", 0.1, "0", 1, 0.6),
            rec("circle @ (0.2, 0.8)", 0.1, "0", 0, 0.9),
        ];
        let g = group(&records);
        assert_eq!(g.len(), 2);
        let p = &g["circle"]["0"];
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].n, 2);
        assert!((p[0].accuracy - 0.7).abs() < 1e-12);
        assert_eq!(g["circle @ (0.2, 0.8)"]["0"][0].accuracy, 0.9);
        assert_eq!(
            ordered_panels(&records, &g),
            vec!["circle".to_string(), "circle @ (0.2, 0.8)".to_string()]
        );
    }
}

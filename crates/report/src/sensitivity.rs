//! Accuracy-versus-severity outputs of a defect sweep (Sawal & Wong 2025, Fig. 4 style).
//!
//! One panel per defect geometry (and stuck state / fault level when several were swept), one
//! line per injected layer set, repeats averaged. The summary places the worst layer of each
//! geometry beside the paper's statement.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use xbar_experiment::{Baseline, Experiment, ScenarioRecord};

use crate::{Figure, MdTable, Panel, Series};

/// Means of one (panel, line, size or wire setting) cell over its repeats.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Point {
    /// Size parameter.
    pub(crate) size: Option<f64>,
    /// Wire segment resistance, in ohms.
    pub(crate) ohms: f64,
    /// Mean coverage (fraction).
    pub(crate) coverage: f64,
    /// Mean defective pairs.
    pub(crate) pairs: f64,
    /// Mean accuracy on all images (fraction).
    pub(crate) accuracy: f64,
    /// Number of repeats averaged.
    pub(crate) n: u32,
}

/// Points grouped as panel -> line -> points.
pub(crate) type Grouped = BTreeMap<String, BTreeMap<String, Vec<Point>>>;

/// Averages records per (panel, line, point key); each line's points are sorted by `order`.
fn average(
    records: &[ScenarioRecord],
    key: impl Fn(&ScenarioRecord) -> (String, String, u64),
    order: fn(&Point) -> f64,
) -> Grouped {
    let mut acc: BTreeMap<String, BTreeMap<String, BTreeMap<u64, Point>>> = BTreeMap::new();
    for r in records {
        let (panel, line, k) = key(r);
        let p = acc
            .entry(panel)
            .or_default()
            .entry(line)
            .or_default()
            .entry(k)
            .or_default();
        (p.size, p.ohms, p.n) = (r.size, r.wire_ohms, p.n + 1);
        p.coverage += r.coverage;
        p.pairs += f64::from(r.defective_pairs);
        p.accuracy += r.accuracy;
    }
    let mean = |mut p: Point| {
        let n = f64::from(p.n);
        (p.coverage, p.pairs, p.accuracy) = (p.coverage / n, p.pairs / n, p.accuracy / n);
        p
    };
    let line = |pts: BTreeMap<u64, Point>| {
        let mut v: Vec<Point> = pts.into_values().map(mean).collect();
        v.sort_by(|a, b| order(a).total_cmp(&order(b)));
        v
    };
    let lines = |l: BTreeMap<String, _>| l.into_iter().map(|(k, pts)| (k, line(pts))).collect();
    acc.into_iter()
        .map(|(panel, l)| (panel, lines(l)))
        .collect()
}

fn panel_key(r: &ScenarioRecord, multi: bool, wires: bool) -> String {
    let mut parts = Vec::new();
    if multi {
        parts.push(format!("stuck-{}, {} level", r.state, r.level));
    }
    if wires {
        parts.push(format!("{} ohm wires", r.wire_ohms));
    }
    if parts.is_empty() {
        r.label.clone()
    } else {
        format!("{} ({})", r.label, parts.join(", "))
    }
}

/// True when the records hold more than one stuck state or fault level.
fn multi_combo(records: &[ScenarioRecord]) -> bool {
    let mut combos: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.state.as_str(), r.level.as_str()))
        .collect();
    combos.sort_unstable();
    combos.dedup();
    combos.len() > 1
}

/// The distinct wire segment resistances, ascending.
pub(crate) fn wire_values(records: &[ScenarioRecord]) -> Vec<f64> {
    let mut v: Vec<f64> = records.iter().map(|r| r.wire_ohms).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// Groups records by panel and layer set, averaging repeats; points sorted by coverage.
pub(crate) fn group(records: &[ScenarioRecord]) -> Grouped {
    let (multi, wires) = (multi_combo(records), wire_values(records).len() > 1);
    let key = |r: &ScenarioRecord| {
        let size = r.size.map_or(u64::MAX, f64::to_bits);
        (panel_key(r, multi, wires), r.layers.clone(), size)
    };
    average(records, key, |p| p.coverage)
}

/// Groups records for the accuracy-versus-wire-resistance view: panel (geometry, and
/// state/level when several) -> line (layer set, and size when a panel has several) ->
/// points sorted by wire resistance.
pub(crate) fn group_by_wire(records: &[ScenarioRecord]) -> Grouped {
    let multi = multi_combo(records);
    let mut sizes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in records {
        let v = sizes.entry(panel_key(r, multi, false)).or_default();
        let bits = r.size.map_or(u64::MAX, f64::to_bits);
        if !v.contains(&bits) {
            v.push(bits);
        }
    }
    let key = |r: &ScenarioRecord| {
        let panel = panel_key(r, multi, false);
        let line = match (sizes[&panel].len() > 1, r.size) {
            (true, Some(sz)) => format!("{}, size {sz}", layer_label(&r.layers)),
            _ => layer_label(&r.layers),
        };
        (panel, line, r.wire_ohms.to_bits())
    };
    average(records, key, |p| p.ohms)
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
pub(crate) fn figures(
    exp: &Experiment,
    baseline: &Baseline,
    records: &[ScenarioRecord],
) -> Vec<(String, Figure)> {
    let grouped = group(records);
    let order = ordered_panels(records, &grouped);
    // The healthy reference of each panel: the circuit under that panel's wires.
    let (multi, wired) = (multi_combo(records), wire_values(records).len() > 1);
    let reference = |panel: &str| {
        let ohms = records
            .iter()
            .find(|r| panel_key(r, multi, wired) == panel)
            .map_or(0.0, |r| r.wire_ohms);
        let acc = baseline
            .wires
            .iter()
            .find(|w| w.r_row_ohms == ohms)
            .map_or(baseline.analog_all, |w| w.analog_all);
        (100.0 * acc, format!("healthy circuit {:.1} %", 100.0 * acc))
    };
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
                    hline: Some(reference(panel)),
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
    let mut figs = Vec::new();
    if wire_values(records).len() > 1 {
        figs.push((
            "accuracy-vs-wire".to_string(),
            wire_figure(exp, baseline, records),
        ));
    }
    // Without a severity axis (one size per geometry) the coverage views carry nothing.
    if grouped
        .values()
        .flat_map(|l| l.values())
        .all(|pts| pts.len() < 2)
        && !figs.is_empty()
    {
        return figs;
    }
    figs.extend([
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
    ]);
    figs
}

/// Accuracy versus wire segment resistance: one panel per geometry, one line per injected
/// layer, and the healthy circuit under the same wires as a dashed reference.
fn wire_figure(exp: &Experiment, baseline: &Baseline, records: &[ScenarioRecord]) -> Figure {
    let grouped = group_by_wire(records);
    let order = ordered_panels(records, &grouped);
    let mut healthy: Vec<(f64, f64)> = baseline
        .wires
        .iter()
        .map(|w| (w.r_row_ohms, 100.0 * w.analog_all))
        .collect();
    healthy.sort_by(|a, b| a.0.total_cmp(&b.0));
    let panels = order
        .iter()
        .map(|panel| {
            let mut series: Vec<Series> = grouped[panel]
                .iter()
                .map(|(line, pts)| {
                    Series::new(
                        line.clone(),
                        pts.iter().map(|p| (p.ohms, 100.0 * p.accuracy)).collect(),
                    )
                })
                .collect();
            series.push(Series::new("no defect", healthy.clone()).dashed());
            Panel {
                title: panel.clone(),
                x_label: "wire resistance per cell segment (ohm)".into(),
                y_label: "accuracy, all images (%)".into(),
                x_range: None,
                y_range: Some((0.0, 100.0)),
                series,
                hline: None,
            }
        })
        .collect::<Vec<_>>();
    Figure {
        title: format!(
            "{}: accuracy vs wire resistance ({} images, {:?} read)",
            exp.name,
            exp.network.dataset.samples(),
            exp.device.params.iv
        ),
        columns: panels.len().clamp(1, 3),
        panels,
        panel_size: (520, 380),
    }
}

/// The Markdown summary of a sweep.
pub(crate) fn summary(exp: &Experiment, baseline: &Baseline, records: &[ScenarioRecord]) -> String {
    let grouped = group(records);
    let order = ordered_panels(records, &grouped);
    let paper = &crate::reference::paper().sensitivity;
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

    if baseline.wires.len() > 1 || baseline.wires.iter().any(|w| w.r_row_ohms > 0.0) {
        s.push_str(&wire_summary(baseline, records));
    }

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
        &format!("paper ({})", paper.source),
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
            paper
                .worst_layer
                .get(shape)
                .map_or("-".into(), Clone::clone),
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

/// The wire-resistance section of the summary: the healthy circuit per setting, then each
/// geometry's accuracy per setting and layer.
fn wire_summary(baseline: &Baseline, records: &[ScenarioRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Wire resistance (IR drop)\n");
    let _ = writeln!(
        s,
        "Row and column wires are solved by nodal analysis; every wire setting sees the same defect draws. \
         Healthy circuit under each setting:\n"
    );
    let mut t = MdTable::new(&[
        "row / column ohm per segment",
        "test images",
        "all images",
        "predictions changed by the wires",
    ]);
    for w in &baseline.wires {
        t.row(vec![
            format!("{} / {}", w.r_row_ohms, w.r_col_ohms),
            pct(w.analog_test),
            pct(w.analog_all),
            w.flipped_vs_ideal.to_string(),
        ]);
    }
    s.push_str(&t.render());
    s.push('\n');
    let grouped = group_by_wire(records);
    let ohms = wire_values(records);
    if ohms.len() > 1 {
        let _ = writeln!(
            s,
            "Accuracy on all images per geometry, line and wire setting:\n"
        );
        let mut headers = vec!["geometry".to_string(), "line".to_string()];
        headers.extend(ohms.iter().map(|o| format!("{o} ohm")));
        let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut t = MdTable::new(&hdr);
        for panel in ordered_panels(records, &grouped) {
            for (line, pts) in &grouped[&panel] {
                let mut row = vec![panel.clone(), line.clone()];
                row.extend(ohms.iter().map(|o| {
                    pts.iter()
                        .find(|p| p.ohms == *o)
                        .map_or("-".into(), |p| pct(p.accuracy))
                }));
                t.row(row);
            }
        }
        s.push_str(&t.render());
        let _ = writeln!(s, "\nPlot: `plots/accuracy-vs-wire.svg`.\n");
    }
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
            wire_ohms: 0.0,
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

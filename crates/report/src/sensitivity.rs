//! Accuracy-versus-severity outputs of a defect sweep (Sawal & Wong 2025, Fig. 4 style).
//!
//! One panel per defect geometry (and stuck state / fault level when several were swept), one
//! line per injected layer set, repeats averaged. The summary places the worst layer of each
//! geometry beside the paper's statement.

use std::collections::BTreeMap;

use xbar_experiment::{Baseline, Experiment, ScenarioRecord};

use crate::stats::{pct, title, unique};
use crate::{ColorScale, Heatmap, HeatmapGrid};
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
    /// Mean coverage of the whole chip (fraction), with a chip.
    pub(crate) chip_coverage: Option<f64>,
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
        if let Some(c) = r.chip_coverage {
            p.chip_coverage = Some(p.chip_coverage.unwrap_or(0.0) + c);
        }
        p.pairs += f64::from(r.defective_pairs);
        p.accuracy += r.accuracy;
    }
    let mean = |mut p: Point| {
        let n = f64::from(p.n);
        (p.coverage, p.pairs, p.accuracy) = (p.coverage / n, p.pairs / n, p.accuracy / n);
        p.chip_coverage = p.chip_coverage.map(|c| c / n);
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

/// The panel of a record: its geometry, with the stuck state and level and the wires when
/// several were swept.
fn panel_key(r: &ScenarioRecord, multi: bool, wires: bool) -> String {
    let combo = multi.then(|| format!("stuck-{}, {} level", r.state, r.level));
    let parts: Vec<String> = combo
        .into_iter()
        .chain(wires.then(|| format!("{} ohm wires", r.wire_ohms)))
        .collect();
    match parts.is_empty() {
        true => r.label.clone(),
        false => format!("{} ({})", r.label, parts.join(", ")),
    }
}

/// True when the records hold more than one stuck state or fault level.
fn multi_combo(records: &[ScenarioRecord]) -> bool {
    unique(records.iter().map(|r| (&r.state, &r.level))).len() > 1
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
        (panel_key(r, multi, wires), join_layers(&r.layers), size)
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
        v.push(r.size.map_or(u64::MAX, f64::to_bits));
    }
    sizes
        .values_mut()
        .for_each(|v| *v = unique(v.iter().copied()));
    let key = |r: &ScenarioRecord| {
        let panel = panel_key(r, multi, false);
        let line = match (sizes[&panel].len() > 1, r.size) {
            (true, Some(sz)) => format!("{}, size {sz}", layer_label(&join_layers(&r.layers))),
            _ => layer_label(&join_layers(&r.layers)),
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

/// `[0, 3]` as `0+3`, the form in figure legends and tables.
pub(crate) fn join_layers(layers: &[u32]) -> String {
    let text: Vec<String> = layers.iter().map(u32::to_string).collect();
    text.join("+")
}

/// `layer 0` or `layers 0+3`, from the joined form.
fn layer_label(layers: &str) -> String {
    let plural = if layers.contains('+') { "s" } else { "" };
    format!("layer{plural} {layers}")
}

const ACCURACY: &str = "accuracy, all images (%)";

/// One panel per geometry (in `order`), one line per key of `grouped` named by `line`:
/// accuracy (%) against `x`.
fn panels(
    g: &Grouped,
    order: &[String],
    x: fn(&Point) -> f64,
    x_label: &str,
    line: fn(&str) -> String,
) -> Vec<Panel> {
    let series = |p: &String| {
        let curve = |(l, pts): (&String, &Vec<Point>)| {
            Series::new(
                line(l),
                pts.iter().map(|q| (x(q), 100.0 * q.accuracy)).collect(),
            )
        };
        g[p].iter().map(curve).collect()
    };
    order
        .iter()
        .map(|p| Panel::new(p, x_label, ACCURACY, series(p)).with_y(0.0, 100.0))
        .collect()
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
    let reference = |mut p: Panel| {
        let r = records
            .iter()
            .find(|r| panel_key(r, multi, wired) == p.title);
        let ohms = r.map_or(0.0, |r| r.wire_ohms);
        let w = baseline.wires.iter().find(|w| w.r_row_ohms == ohms);
        let acc = w.map_or(baseline.analog_all, |w| w.analog_all);
        p.hline = Some((100.0 * acc, format!("healthy circuit {:.1} %", 100.0 * acc)));
        p
    };
    let make = |x: fn(&Point) -> f64, x_label: &str| {
        let panels = panels(&grouped, &order, x, x_label, layer_label)
            .into_iter()
            .map(reference);
        let samples = exp.network.samples();
        let title = format!(
            "{}: accuracy vs defect severity ({samples} images, per injected layer)",
            exp.name
        );
        Figure::new(title, panels.collect(), order.len().clamp(1, 3), (520, 380))
    };
    let mut figs = Vec::new();
    if wired {
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
    figs.push((
        "accuracy-vs-coverage".into(),
        make(|p| 100.0 * p.coverage, "defective pairs in the array (%)"),
    ));
    figs.push((
        "accuracy-vs-pairs".into(),
        make(|p| p.pairs, "defective pairs (count)"),
    ));
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
    let mut panels = panels(
        &grouped,
        &order,
        |p| p.ohms,
        "wire resistance per cell segment (ohm)",
        str::to_string,
    );
    for p in &mut panels {
        p.series
            .push(Series::new("no defect", healthy.clone()).dashed());
    }
    let (samples, iv) = (exp.network.samples(), exp.device.params.iv);
    let title = format!(
        "{}: accuracy vs wire resistance ({samples} images, {iv:?} read)",
        exp.name
    );
    Figure::new(title, panels, order.len().clamp(1, 3), (520, 380))
}

/// The Markdown summary of a sweep.
pub(crate) fn summary(exp: &Experiment, baseline: &Baseline, records: &[ScenarioRecord]) -> String {
    let grouped = group(records);
    let order = ordered_panels(records, &grouped);
    let paper = &crate::reference::paper().sensitivity;
    let b = baseline;
    let mut s = title(exp);
    s += &format!(
        "Source: `{}`; seed {}; device `{}` ({:?} read); network {}; {} scenarios.\n\n## Baseline\n\n",
        exp.origin,
        exp.seed,
        exp.device.name,
        exp.device.params.iv,
        match &exp.network.imported {
            None => format!("{:?}", exp.network.sizes),
            Some(m) => format!(
                "`{}` ({}, SHA-256 `{}`), {} arrays, {} test samples",
                m.model.path.file_name().map_or_else(
                    || m.model.path.display().to_string(),
                    |f| f.to_string_lossy().into_owned()
                ),
                m.format.to_uppercase(),
                &m.model.sha256[..16],
                m.arrays.len(),
                m.data.test_samples
            ),
        },
        records.len()
    );
    s += &MdTable::of(
        &["", "test images", "all images"],
        [
            vec![
                "software network".into(),
                pct(b.software_test),
                pct(b.software_all),
            ],
            vec![
                "healthy analog circuit".into(),
                pct(b.analog_test),
                pct(b.analog_all),
            ],
        ],
    );
    let loads: Vec<String> = b.r_load_ohms.iter().map(|r| format!("{r:.1}")).collect();
    s += &format!(
        "\nThe healthy circuit disagrees with the software network on {} of {} images (sinh read distortion; 0 with \
         a linear read). R_load per layer: {} ohm.\n\n",
        b.analog_vs_software_disagreements,
        exp.network.samples(),
        loads.join(", ")
    );
    if b.wires.len() > 1 || b.wires.iter().any(|w| w.r_row_ohms > 0.0) {
        s += &wire_summary(baseline, records);
    }
    s += "## Most sensitive layer per geometry\n\n\
          Three readings of \"most sensitive\": the lowest mean accuracy over the swept sizes; the steepest loss per \
          defective pair (the paper's severity axis, which favours small arrays); the steepest loss per unit of \
          coverage (which compares arrays of different sizes fairly). Losses are measured from the healthy circuit.\n\n";
    let base = b.analog_all;
    let loss = |per: f64, acc: f64| if per > 0.0 { (base - acc) / per } else { 0.0 };
    let rows = order.iter().map(|panel| {
        let lines = &grouped[panel];
        // Per line: the mean of `f` over its points.
        let stat = |f: &dyn Fn(&Point) -> f64| -> Vec<(&String, f64)> {
            let m = |pts: &Vec<Point>| pts.iter().map(f).sum::<f64>() / pts.len().max(1) as f64;
            lines.iter().map(|(l, pts)| (l, m(pts))).collect()
        };
        let means = stat(&|p| p.accuracy);
        let arg = |v: &[(&String, f64)], lowest: bool| {
            let cmp = |a: &&(&String, f64), b: &&(&String, f64)| a.1.total_cmp(&b.1);
            let pick = if lowest {
                v.iter().min_by(cmp)
            } else {
                v.iter().max_by(cmp)
            };
            pick.map(|(l, _)| layer_label(l)).unwrap_or_default()
        };
        let shape = records
            .iter()
            .find(|r| panel == &r.label || panel.starts_with(&format!("{} (", r.label)))
            .map_or("", |r| r.shape.as_str());
        let per_layer: Vec<String> = means
            .iter()
            .map(|(l, m)| format!("L{l}: {}", pct(*m)))
            .collect();
        vec![
            panel.clone(),
            per_layer.join(", "),
            arg(&means, true),
            arg(&stat(&|p| loss(p.pairs, p.accuracy)), false),
            arg(&stat(&|p| loss(p.coverage, p.accuracy)), false),
            paper
                .worst_layer
                .get(shape)
                .map_or("-".into(), Clone::clone),
        ]
    });
    // The paper's statements are about its own network: no column for an imported one.
    let imported = exp.network.imported.is_some();
    let rows = rows.map(|mut r| {
        if imported {
            r.pop();
        }
        r
    });
    let paper_col = format!("paper ({})", paper.source);
    let hdr = [
        "geometry",
        "mean accuracy per layer",
        "lowest mean",
        "steepest per pair",
        "steepest per coverage",
    ];
    let paper_hdr: &[&str] = if imported { &[] } else { &[paper_col.as_str()] };
    s += &MdTable::of(&[&hdr[..], paper_hdr].concat(), rows);

    s += "\n## Accuracy per geometry, size and layer\n\n\
          Each cell: accuracy on all images (coverage of the injected array; with a chip, also of \
          the whole chip).\n\n";
    for panel in &order {
        let lines = &grouped[panel];
        let mut sizes: Vec<Option<f64>> = lines
            .values()
            .flat_map(|v| v.iter().map(|p| p.size))
            .collect();
        sizes.sort_by(|a, b| a.unwrap_or(f64::NAN).total_cmp(&b.unwrap_or(f64::NAN)));
        sizes.dedup();
        let cell = |pts: &Vec<Point>, size| {
            let p = pts.iter().find(|p| p.size == size);
            p.map_or("-".into(), |p| match p.chip_coverage {
                Some(c) => format!("{} ({}; chip {})", pct(p.accuracy), pct(p.coverage), pct(c)),
                None => format!("{} ({})", pct(p.accuracy), pct(p.coverage)),
            })
        };
        let rows = sizes.into_iter().map(|size| {
            let first = size.map_or("-".into(), |v| v.to_string());
            std::iter::once(first)
                .chain(lines.values().map(|pts| cell(pts, size)))
                .collect()
        });
        let hdr = std::iter::once("size".into()).chain(lines.keys().map(|l| layer_label(l)));
        s += &format!(
            "### {panel}\n\n{}\n",
            MdTable::of(&hdr.collect::<Vec<String>>(), rows)
        );
    }
    s + "Plots: `plots/accuracy-vs-coverage.svg` and `plots/accuracy-vs-pairs.svg` (PNG beside them).\n"
}

/// The wire-resistance section of the summary: the healthy circuit per setting, then each
/// geometry's accuracy per setting and layer.
fn wire_summary(baseline: &Baseline, records: &[ScenarioRecord]) -> String {
    let mut s = "## Wire resistance (IR drop)\n\n\
         Row and column wires are solved by nodal analysis; every wire setting sees the same defect draws. \
         Healthy circuit under each setting:\n\n"
        .to_string();
    s += &MdTable::cols(
        &baseline.wires,
        &[
            ("row / column ohm per segment", &|w| {
                format!("{} / {}", w.r_row_ohms, w.r_col_ohms)
            }),
            ("test images", &|w| pct(w.analog_test)),
            ("all images", &|w| pct(w.analog_all)),
            ("predictions changed by the wires", &|w| {
                w.flipped_vs_ideal.to_string()
            }),
        ],
    );
    s.push('\n');
    let grouped = group_by_wire(records);
    let ohms = wire_values(records);
    if ohms.len() > 1 {
        s += "Accuracy on all images per geometry, line and wire setting:\n\n";
        let rows = ordered_panels(records, &grouped)
            .into_iter()
            .flat_map(|panel| {
                let cell = |pts: &Vec<Point>, o: f64| {
                    pts.iter()
                        .find(|p| p.ohms == o)
                        .map_or("-".into(), |p| pct(p.accuracy))
                };
                let lines = grouped[&panel].iter();
                lines
                    .map(|(line, pts)| {
                        [panel.clone(), line.clone()]
                            .into_iter()
                            .chain(ohms.iter().map(|o| cell(pts, *o)))
                            .collect()
                    })
                    .collect::<Vec<Vec<String>>>()
            });
        let hdr = ["geometry".to_string(), "line".into()]
            .into_iter()
            .chain(ohms.iter().map(|o| format!("{o} ohm")));
        s += &MdTable::of(&hdr.collect::<Vec<_>>(), rows);
        s += "\nPlot: `plots/accuracy-vs-wire.svg`.\n\n";
    }
    s
}

/// The chip's floorplan as a picture: the die's tile grid, every used cell coloured by the
/// layer it holds, unused cells grey, each layer's blocks outlined. Large dies are shown at
/// one cell per `b x b` pairs (`b` chosen so that neither side exceeds 512 cells).
pub(crate) fn floorplan_map(fp: &xbar_crossbar::chip::Floorplan) -> HeatmapGrid {
    let (tr, tc) = fp.chip.tile_pairs();
    let (rows, cols) = (fp.grid_rows * tr, fp.grid_cols * tc);
    let b = rows.max(cols).div_ceil(512).max(1);
    let (mr, mc) = (rows.div_ceil(b), cols.div_ceil(b));
    let mut values = vec![f64::NAN; mr * mc];
    for t in &fp.tiles {
        let (r0, c0) = (t.grid_row * tr, t.grid_col * tc);
        for i in (0..t.rows).step_by(b) {
            for j in (0..t.cols).step_by(b) {
                values[((r0 + i) / b) * mc + (c0 + j) / b] = t.layer as f64;
            }
        }
    }
    let outline = values.iter().map(|v| v.is_finite()).collect();
    let pct = 100.0 * fp.utilisation();
    HeatmapGrid {
        title: format!(
            "floorplan: {} tiles ({} x {} devices), {} x {} grid, {pct:.0} % used",
            fp.tiles.len(),
            fp.chip.array[0],
            fp.chip.array[1],
            fp.grid_rows,
            fp.grid_cols
        ),
        panels: vec![Heatmap {
            title: if b > 1 {
                format!("one cell = {b} x {b} pairs; grey: unused")
            } else {
                "one cell = one pair; grey: unused".into()
            },
            rows: mr,
            cols: mc,
            values,
            scale: ColorScale::Sequential,
            log10: false,
            colorbar_label: "layer".into(),
            x_label: "die column (pairs)".into(),
            y_label: "die row (array rows)".into(),
            col_names: Vec::new(),
            row_names: Vec::new(),
            outline: Some(outline),
            annotations: Vec::new(),
        }],
        columns: 1,
        cell_px: if mr.max(mc) <= 128 { 3 } else { 1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(label: &str, size: f64, layers: &[u32], repeat: u32, acc: f64) -> ScenarioRecord {
        ScenarioRecord {
            scenario: 0,
            shape: "circle".into(),
            label: label.into(),
            size: Some(size),
            layers: layers.to_vec(),
            state: "off".into(),
            level: "pair".into(),
            repeat,
            wire_ohms: 0.0,
            defective_pairs: 10,
            array_pairs: 100,
            defect_tiles: String::new(),
            chip_coverage: None,
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
            rec("circle", 0.1, &[0], 0, 0.8),
            rec("circle", 0.1, &[0], 1, 0.6),
            rec("circle @ (0.2, 0.8)", 0.1, &[0], 0, 0.9),
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

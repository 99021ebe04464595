//! Renders sample figures for visual inspection.
//!
//! `cargo run -p xbar-report --example gallery [OUT_DIR]` (default `/tmp/report-look`)
//! writes `lines`, `accuracy`, `heatmaps` and `mask` (each `.svg` and `.png`).

use std::path::PathBuf;

use xbar_report::{
    ColorScale, Figure, Heatmap, HeatmapGrid, Panel, Series, render_figure, render_heatmaps,
};

/// Small deterministic generator so the example needs no extra crates.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn accuracy_panel(title: &str, k: f64, rng: &mut Lcg) -> Panel {
    let rates: Vec<f64> = (0..=10).map(|i| f64::from(i) * 0.02).collect();
    let curve = |slope: f64, rng: &mut Lcg| -> Vec<(f64, f64)> {
        rates
            .iter()
            .map(|&r| {
                (
                    r,
                    (0.97 - slope * k * r * (1.0 + 0.2 * rng.next())).clamp(0.1, 1.0),
                )
            })
            .collect()
    };
    Panel {
        title: title.into(),
        x_label: "defect rate".into(),
        y_label: "test accuracy".into(),
        x_range: None,
        y_range: Some((0.0, 1.0)),
        series: vec![
            Series::new("no correction", curve(3.5, rng)),
            Series::new("row redundancy", curve(1.6, rng)),
            Series::new("ECC (Hamming)", curve(0.8, rng)).dashed(),
            Series::new("ECC + remap", curve(0.3, rng)),
        ],
        hline: Some((0.97, "software".into())),
    }
}

fn main() -> xbar_report::Result<()> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("/tmp/report-look"), PathBuf::from);
    let mut rng = Lcg(42);

    let mut nan_panel = accuracy_panel("Stuck-at-1 (with failed runs)", 1.3, &mut rng);
    for s in &mut nan_panel.series {
        s.points[4].1 = f64::NAN;
        s.points[7].0 = f64::INFINITY;
    }
    let dense: Vec<(f64, f64)> = (0..400)
        .map(|i| {
            let t = f64::from(i) / 40.0;
            (t, (t * 1.3).sin() * (-t / 6.0).exp())
        })
        .collect();
    let dense_panel = Panel {
        title: "Dense series, auto range".into(),
        x_label: "time (µs)".into(),
        y_label: "I (A)".into(),
        series: vec![
            Series::new("cell (0,0)", dense.clone()),
            Series::new(
                "cell (0,1)",
                dense.iter().map(|&(x, y)| (x, 0.7 * y + 0.1)).collect(),
            ),
            Series::new(
                "cell (1,0)",
                dense.iter().map(|&(x, y)| (x, -0.5 * y)).collect(),
            )
            .dashed(),
            Series::new("constant", dense.iter().map(|&(x, _)| (x, 0.05)).collect()),
        ],
        ..Panel::default()
    };
    let degenerate = Panel {
        title: "Degenerate data".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: vec![
            Series::new("single point", vec![(2.0, 3.0)]),
            Series::new("all NaN", vec![(f64::NAN, 1.0), (1.0, f64::NAN)]),
            Series::new("empty", vec![]),
            Series::new("tiny values", vec![(1.0, 3.0 + 1e-7), (3.0, 3.0 - 1e-7)]),
        ],
        ..Panel::default()
    };
    let empty = Panel {
        title: "Empty panel".into(),
        x_label: "defect rate".into(),
        y_label: "accuracy".into(),
        hline: Some((0.97, "software".into())),
        ..Panel::default()
    };
    let fig = Figure {
        title: "Accuracy under device defects (MNIST, 65 x 50 crossbars)".into(),
        panels: vec![
            accuracy_panel("Stuck-at-0", 1.0, &mut rng),
            accuracy_panel("Stuck-at-1", 1.8, &mut rng),
            nan_panel,
            dense_panel,
            degenerate,
            empty,
        ],
        columns: 3,
        panel_size: (480, 360),
    };
    let t = std::time::Instant::now();
    let mut files = render_figure(&fig, &out.join("lines"))?;
    let t_lines = t.elapsed();

    // Same labels in every panel: one shared legend under the title.
    let mut nan_panel = accuracy_panel("Stuck-at-1, failed runs", 1.3, &mut rng);
    nan_panel.series[0].points[3].1 = f64::NAN;
    let shared = Figure {
        title: "Accuracy vs defect rate".into(),
        panels: vec![
            accuracy_panel("SA0, 1 layer", 1.0, &mut rng),
            accuracy_panel("SA0, 2 layers", 1.4, &mut rng),
            accuracy_panel("SA1, 1 layer", 1.8, &mut rng),
            nan_panel,
            accuracy_panel("Drift", 0.6, &mut rng),
            Panel {
                title: "Not run yet".into(),
                x_label: "defect rate".into(),
                y_label: "test accuracy".into(),
                ..Panel::default()
            },
        ],
        columns: 3,
        panel_size: (420, 320),
    };
    files.extend(render_figure(&shared, &out.join("accuracy"))?);

    // Heat maps: conductance (log scale, outlined defects), current contributions.
    let (rows, cols) = (65, 50);
    let mut g = Vec::with_capacity(rows * cols);
    let mut outline = Vec::with_capacity(rows * cols);
    let mut contrib = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let defect = (r * 7 + c * 13) % 41 == 0 || (c == 17 && (20..30).contains(&r));
            let lg = -5.0 + 2.0 * rng.next();
            let v = if defect {
                if r % 2 == 0 { 1e-3 } else { 1e-5 }
            } else {
                10f64.powf(lg)
            };
            g.push(v);
            outline.push(defect);
            let s = ((r as f64 / 9.0).sin() + (c as f64 / 7.0).cos()) * 2e-6;
            contrib.push(if r == 3 && c == 4 { f64::NAN } else { s });
        }
    }
    let grid = HeatmapGrid {
        title: "Crossbar 0, layer 1".into(),
        panels: vec![
            Heatmap {
                title: "Conductance".into(),
                rows,
                cols,
                values: g,
                scale: ColorScale::Sequential,
                log10: true,
                colorbar_label: "conductance (S)".into(),
                x_label: "column".into(),
                y_label: "row".into(),
                col_names: Vec::new(),
                row_names: Vec::new(),
                outline: Some(outline.clone()),
                annotations: vec!["outlined: stuck cells (2.9 %)".into()],
            },
            Heatmap {
                title: "Current contribution".into(),
                rows,
                cols,
                values: contrib,
                scale: ColorScale::Diverging,
                log10: false,
                colorbar_label: "current (A)".into(),
                x_label: "column".into(),
                y_label: "row".into(),
                col_names: Vec::new(),
                row_names: Vec::new(),
                outline: None,
                annotations: vec!["true 6, predicted 7".into()],
            },
        ],
        columns: 2,
        cell_px: 8,
    };
    let t = std::time::Instant::now();
    let maps = render_heatmaps(&grid, &out.join("heatmaps"))?;
    let t_maps = t.elapsed();

    let mask = HeatmapGrid {
        title: String::new(),
        panels: vec![
            Heatmap {
                title: "Defect mask".into(),
                rows,
                cols,
                values: outline.iter().map(|&d| f64::from(u8::from(d))).collect(),
                scale: ColorScale::Sequential,
                colorbar_label: "defective".into(),
                x_label: "column".into(),
                y_label: "row".into(),
                ..Heatmap::default()
            },
            Heatmap {
                title: "Tiny 3 x 4, constant".into(),
                rows: 3,
                cols: 4,
                values: vec![2.0; 12],
                scale: ColorScale::Sequential,
                colorbar_label: "value".into(),
                ..Heatmap::default()
            },
        ],
        columns: 0,
        cell_px: 6,
    };
    let masks = render_heatmaps(&mask, &out.join("mask"))?;

    #[allow(clippy::print_stdout)]
    {
        for f in files.iter().chain(&maps).chain(&masks) {
            println!("{}", f.display());
        }
        println!("line figure: {t_lines:?}, heat maps: {t_maps:?}");
    }
    Ok(())
}

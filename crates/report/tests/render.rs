//! Figures and heat maps: the SVG holds the text, the PNG is that SVG rasterised, no text
//! leaves the canvas, and degenerate or invalid input is handled.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use resvg::{tiny_skia, usvg};
use xbar_report::{
    ColorScale, Figure, Heatmap, HeatmapGrid, Panel, ReportError, Series, render_figure,
    render_heatmaps,
};

/// The SVG parsed with the crate's font: every text run with its bounding box on the page.
fn texts(svg: &str) -> (usvg::Size, Vec<(String, usvg::Rect)>) {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(include_bytes!("../assets/DejaVuSans.ttf").to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    let opt = usvg::Options {
        fontdb: Arc::new(db),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt).unwrap();
    fn walk(g: &usvg::Group, out: &mut Vec<(String, usvg::Rect)>) {
        for n in g.children() {
            match n {
                usvg::Node::Group(g) => walk(g, out),
                usvg::Node::Text(t) => {
                    let s: String = t.chunks().iter().map(|c| c.text().to_string()).collect();
                    out.push((s, t.abs_bounding_box()));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(tree.root(), &mut out);
    (tree.size(), out)
}

/// Checks both files of `stem` and returns the SVG text and the decoded PNG: sizes agree,
/// no text lies (even partly) outside the canvas, no temp files are left.
fn check_outputs(files: &[PathBuf], stem: &Path) -> (String, tiny_skia::Pixmap) {
    let with = |ext: &str| PathBuf::from(format!("{}{ext}", stem.display()));
    assert_eq!(files, [with(".svg"), with(".png")]);
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "non-finite coordinates"
    );
    let png = tiny_skia::Pixmap::decode_png(&fs::read(&files[1]).unwrap()).unwrap();
    let (size, texts) = texts(&svg);
    assert_eq!(
        (png.width(), png.height()),
        (size.width() as u32, size.height() as u32)
    );
    for (t, b) in &texts {
        let inside = b.left() >= -0.5 && b.top() >= -0.5;
        let inside = inside && b.right() <= size.width() + 0.5 && b.bottom() <= size.height() + 0.5;
        assert!(inside, "`{t}` at {b:?} leaves the {size:?} canvas");
    }
    for e in fs::read_dir(stem.parent().unwrap()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "leftover {name}");
    }
    (svg, png)
}

/// Number of `<text>` elements whose content is exactly `s`.
fn count_text(svg: &str, s: &str) -> usize {
    svg.matches(&format!(">\n{s}\n</text>")).count() + svg.matches(&format!(">{s}</text>")).count()
}

fn rgb(png: &tiny_skia::Pixmap, x: u32, y: u32) -> [u8; 3] {
    let p = png.pixel(x, y).unwrap();
    [p.red(), p.green(), p.blue()]
}

fn accuracy_series(k: f64) -> Vec<Series> {
    let xs: Vec<f64> = (0..=10).map(|i| f64::from(i) * 0.01).collect();
    (0..4)
        .map(|s| {
            let slope = k * f64::from(4 - s);
            let series = Series::new(
                format!("method {s}"),
                xs.iter().map(|&x| (x, 0.97 - slope * x)).collect(),
            );
            if s == 2 { series.dashed() } else { series }
        })
        .collect()
}

fn panel(title: &str, series: Vec<Series>) -> Panel {
    Panel {
        title: title.into(),
        x_label: "defect rate".into(),
        y_label: "accuracy".into(),
        series,
        hline: Some((0.97, "software".into())),
        ..Panel::default()
    }
}

#[test]
fn six_panels_share_one_legend_and_keep_every_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut panels: Vec<Panel> = (0..5)
        .map(|i| panel(&format!("case {i}"), accuracy_series(1.0 + f64::from(i))))
        .collect();
    for s in &mut panels[1].series {
        s.points[3].1 = f64::NAN;
        s.points[8] = (f64::INFINITY, f64::NEG_INFINITY);
    }
    panels[2].y_range = Some((0.0, 1.0));
    panels.push(panel("empty", Vec::new()));
    let fig = Figure {
        title: "Six panels".into(),
        panels,
        columns: 3,
        panel_size: (420, 320),
    };
    let stem = dir.path().join("out/six");
    let files = render_figure(&fig, &stem).unwrap();
    let (svg, png) = check_outputs(&files, &stem);
    assert_eq!(png.width(), 3 * 420);
    assert!(png.height() > 2 * 320);
    for t in ["Six panels", "case 0", "case 4", "empty", "no data"] {
        assert_eq!(count_text(&svg, t), 1, "{t}");
    }
    assert_eq!(count_text(&svg, "defect rate"), 6, "x label in every panel");
    for t in ["method 0", "method 3", "software"] {
        assert_eq!(count_text(&svg, t), 1, "one shared legend entry for {t}");
    }
    // Re-rendering overwrites in place.
    assert_eq!(render_figure(&fig, &stem).unwrap(), files);
}

#[test]
fn same_label_same_colour_across_panels_and_distinct_colours_within() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = panel("b", accuracy_series(2.0));
    b.series.reverse();
    let fig = Figure {
        title: String::new(),
        panels: vec![panel("a", accuracy_series(1.0)), b],
        columns: 0,
        panel_size: (400, 300),
    };
    let stem = dir.path().join("two");
    let (svg, _) = check_outputs(&render_figure(&fig, &stem).unwrap(), &stem);
    // The Okabe-Ito colours of the first four slots each stroke lines in both panels.
    for c in ["#0072B2", "#D55E00", "#009E73", "#CC79A7"] {
        assert!(svg.matches(&format!("stroke=\"{c}\"")).count() >= 3, "{c}");
    }
}

#[test]
fn a_single_panel_keeps_its_whole_title() {
    let dir = tempfile::tempdir().unwrap();
    let title = "L1 recovery of s = 100 errors (100 trials per point)";
    let p = Panel {
        series: vec![Series::new("N = 1000", vec![(100.0, 0.0), (900.0, 1.0)])],
        ..panel("", vec![])
    };
    let fig = Figure {
        title: title.into(),
        panels: vec![p],
        columns: 1,
        panel_size: (460, 360),
    };
    let stem = dir.path().join("one");
    let (svg, _) = check_outputs(&render_figure(&fig, &stem).unwrap(), &stem);
    assert_eq!(
        count_text(&svg, title),
        1,
        "the title is neither cut nor shortened"
    );
}

#[test]
fn degenerate_series_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<Series>> = vec![
        vec![Series::new("single", vec![(1.0, 2.0)])],
        vec![Series::new(
            "constant",
            vec![(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)],
        )],
        vec![Series::new("same x", vec![(3.0, 1.0), (3.0, 2.0)])],
        vec![Series::new("all nan", vec![(f64::NAN, f64::NAN); 3])],
        vec![Series::new("empty", vec![])],
        vec![Series::new("huge", vec![(0.0, 1e300), (1.0, -1e300)])],
        vec![Series::new("tiny", vec![(0.0, 1e-12), (1e-9, 2e-12)])],
        vec![Series::new("", vec![(0.0, 1.0), (1.0, 0.0)])],
    ];
    for (i, series) in cases.into_iter().enumerate() {
        let mut p = panel(&format!("case {i}"), series);
        p.hline = (i % 2 == 1).then(|| (f64::NAN, "nan line".into()));
        let fig = Figure {
            title: format!("case {i}"),
            panels: vec![p],
            columns: 1,
            panel_size: (360, 280),
        };
        let stem = dir.path().join(format!("case{i}"));
        let files = render_figure(&fig, &stem).unwrap_or_else(|e| panic!("case {i}: {e}"));
        check_outputs(&files, &stem);
    }
}

#[test]
fn invalid_figures_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = Figure {
        title: "t".into(),
        panels: vec![panel("p", accuracy_series(1.0))],
        columns: 1,
        panel_size: (400, 300),
    };
    let mut inverted = base.clone();
    inverted.panels[0].y_range = Some((1.0, 0.0));
    for (name, fig) in [
        (
            "no panels",
            Figure {
                panels: vec![],
                ..base.clone()
            },
        ),
        (
            "tiny",
            Figure {
                panel_size: (40, 30),
                ..base.clone()
            },
        ),
        (
            "too large",
            Figure {
                panel_size: (20_000, 300),
                ..base.clone()
            },
        ),
        ("inverted", inverted),
    ] {
        match render_figure(&fig, &dir.path().join("bad")) {
            Err(ReportError::InvalidFigure { what }) => assert!(!what.is_empty()),
            other => panic!("{name}: expected InvalidFigure, got {other:?}"),
        }
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn stem_with_dot_keeps_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let fig = Figure {
        title: "v".into(),
        panels: vec![panel("p", accuracy_series(1.0))],
        columns: 1,
        panel_size: (300, 200),
    };
    let files = render_figure(&fig, &dir.path().join("fig.v2")).unwrap();
    assert_eq!(
        files,
        [dir.path().join("fig.v2.svg"), dir.path().join("fig.v2.png")]
    );
}

#[test]
fn long_text_is_shortened_not_clipped() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a very long label that is much wider than any panel could ever show in one line "
        .repeat(3);
    let series = (0..12)
        .map(|i| Series::new(format!("{long}{i}"), vec![(0.0, f64::from(i)), (1.0, 0.5)]))
        .collect();
    let p = Panel {
        title: long.clone(),
        x_label: long.clone(),
        y_label: long.clone(),
        series,
        hline: Some((3.0, long.clone())),
        ..Panel::default()
    };
    let fig = Figure {
        title: long.clone(),
        panels: vec![p],
        columns: 1,
        panel_size: (320, 240),
    };
    let stem = dir.path().join("long");
    let (svg, png) = check_outputs(&render_figure(&fig, &stem).unwrap(), &stem);
    assert!(png.width() <= 480, "{}", png.width());
    assert!(svg.contains('\u{2026}'), "long text gets an ellipsis");
    let grid = HeatmapGrid {
        title: long.clone(),
        panels: vec![Heatmap {
            title: long.clone(),
            rows: 2,
            cols: 2,
            values: vec![1.0, 2.0, 3.0, 4.0],
            colorbar_label: long.clone(),
            annotations: vec![long.clone(); 3],
            ..Heatmap::default()
        }],
        columns: 1,
        cell_px: 8,
    };
    let stem = dir.path().join("long-map");
    check_outputs(&render_heatmaps(&grid, &stem).unwrap(), &stem);
}

fn conductance_map(rows: usize, cols: usize) -> Heatmap {
    Heatmap {
        title: "Conductance".into(),
        rows,
        cols,
        values: (0..rows * cols)
            .map(|i| 1e-5 * 10f64.powf(2.0 * ((i * 7919) % 1000) as f64 / 999.0))
            .collect(),
        log10: true,
        colorbar_label: "conductance (S)".into(),
        x_label: "column".into(),
        y_label: "row".into(),
        outline: Some((0..rows * cols).map(|i| i % 37 == 0).collect()),
        annotations: vec!["true 6, predicted 7".into()],
        ..Heatmap::default()
    }
}

#[test]
fn log_heatmap_65x50_with_outline_and_colour_bar() {
    let dir = tempfile::tempdir().unwrap();
    let grid = HeatmapGrid {
        title: "Crossbar".into(),
        panels: vec![conductance_map(65, 50)],
        columns: 1,
        cell_px: 8,
    };
    let stem = dir.path().join("cond");
    let (svg, png) = check_outputs(&render_heatmaps(&grid, &stem).unwrap(), &stem);
    assert!(png.width() > 50 * 8 && png.height() > 65 * 8);
    for t in [
        "1e-5",
        "1e-4",
        "1e-3",
        "conductance (S)",
        "true 6, predicted 7",
        "Crossbar",
        "row",
        "column",
    ] {
        assert_eq!(count_text(&svg, t), 1, "{t}");
    }
}

#[test]
fn rows_are_drawn_top_to_bottom_in_viridis() {
    // Row 0 is 1, everything else 0: row 0 is viridis' yellow end, the rest its purple end.
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (10, 10);
    let values = (0..rows * cols)
        .map(|i| f64::from(u8::from(i < cols)))
        .collect();
    let grid = HeatmapGrid {
        title: String::new(),
        panels: vec![Heatmap {
            rows,
            cols,
            values,
            ..Heatmap::default()
        }],
        columns: 1,
        cell_px: 12,
    };
    let stem = dir.path().join("order");
    let (_, png) = check_outputs(&render_heatmaps(&grid, &stem).unwrap(), &stem);
    let yellow = |p: [u8; 3]| p[0] > 230 && p[1] > 210 && p[2] < 60;
    let purple = |p: [u8; 3]| p[0] < 80 && p[1] < 10 && p[2] > 70;
    // The map is the leftmost column of pixels with a purple run (the bar is further right).
    let x = (0..png.width())
        .find(|&x| {
            (0..png.height())
                .filter(|&y| purple(rgb(&png, x, y)))
                .count()
                > 60
        })
        .unwrap();
    let first =
        |f: &dyn Fn([u8; 3]) -> bool| (0..png.height()).find(|&y| f(rgb(&png, x + 2, y))).unwrap();
    let (y_yellow, y_purple) = (first(&yellow), first(&purple));
    assert!(
        y_purple >= y_yellow + 10,
        "one row of yellow cells on top ({y_yellow}, {y_purple})"
    );
}

#[test]
fn diverging_map_is_symmetric_and_names_its_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (2, 3);
    let values = vec![-2.0, 0.0, 1.0, f64::NAN, 0.5, -0.5];
    let names: Vec<String> = ["circle", "ring", "circle-complement"]
        .map(String::from)
        .to_vec();
    let map = Heatmap {
        rows,
        cols,
        values,
        scale: ColorScale::Diverging,
        col_names: names.clone(),
        row_names: names[..2].to_vec(),
        colorbar_label: "gain (pp)".into(),
        ..Heatmap::default()
    };
    let grid = HeatmapGrid {
        title: "Cross".into(),
        panels: vec![map],
        columns: 1,
        cell_px: 40,
    };
    let stem = dir.path().join("div");
    let (svg, png) = check_outputs(&render_heatmaps(&grid, &stem).unwrap(), &stem);
    for t in ["circle-complement", "ring", "-2", "2", "0"] {
        assert!(count_text(&svg, t) >= 1, "{t}");
    }
    assert_eq!(
        count_text(&svg, "circle-complement"),
        1,
        "only columns carry it"
    );
    let mut colours = (false, false, false);
    for y in 0..png.height() {
        for x in 0..png.width() {
            let [r, g, b] = rgb(&png, x, y);
            colours.0 |= b > 150 && r < 60;
            colours.1 |= r > 200 && g < 170 && b < 150;
            colours.2 |= r == 175 && g == 175 && b == 175;
        }
    }
    assert_eq!(
        colours,
        (true, true, true),
        "blue, red and the grey of the NaN cell"
    );
}

#[test]
fn degenerate_heatmaps() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        vec![3.0; 12],
        vec![0.0; 12],
        vec![f64::NAN; 12],
        vec![-1.0; 12],
    ];
    for (i, values) in cases.into_iter().enumerate() {
        for scale in [ColorScale::Sequential, ColorScale::Diverging] {
            for log10 in [false, true] {
                let map = Heatmap {
                    title: format!("{i}"),
                    rows: 3,
                    cols: 4,
                    values: values.clone(),
                    scale,
                    log10,
                    ..Heatmap::default()
                };
                let grid = HeatmapGrid {
                    title: String::new(),
                    panels: vec![map],
                    columns: 0,
                    cell_px: 1,
                };
                let stem = dir.path().join(format!("deg{i}{log10}{scale:?}"));
                let files = render_heatmaps(&grid, &stem)
                    .unwrap_or_else(|e| panic!("{i} {scale:?} {log10}: {e}"));
                check_outputs(&files, &stem);
            }
        }
    }
}

#[test]
fn invalid_heatmaps_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = conductance_map(4, 5);
    let mut mismatched = good.clone();
    mismatched.values.pop();
    let bad_outline = Heatmap {
        outline: Some(vec![true; 3]),
        ..good.clone()
    };
    let zero = Heatmap {
        rows: 0,
        values: vec![],
        ..good.clone()
    };
    let overflow = Heatmap {
        rows: usize::MAX,
        cols: 2,
        values: vec![],
        ..good.clone()
    };
    let grid = |panels: Vec<Heatmap>, cell_px: u32| HeatmapGrid {
        title: String::new(),
        panels,
        columns: 1,
        cell_px,
    };
    for (name, g) in [
        ("mismatched", grid(vec![good.clone(), mismatched], 8)),
        ("outline", grid(vec![bad_outline], 8)),
        ("zero size", grid(vec![zero], 8)),
        ("overflow", grid(vec![overflow], 8)),
        ("no panels", grid(vec![], 8)),
        ("zero cell", grid(vec![good.clone()], 0)),
        ("too large", grid(vec![conductance_map(2000, 2000)], 16)),
    ] {
        match render_heatmaps(&g, &dir.path().join("bad")) {
            Err(ReportError::InvalidFigure { what }) => assert!(!what.is_empty()),
            other => panic!("{name}: expected InvalidFigure, got {other:?}"),
        }
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

//! Figures and heat maps: output validity and degenerate input.

use std::fs;
use std::path::{Path, PathBuf};

use xbar_report::{
    ColorScale, Figure, Heatmap, HeatmapGrid, Panel, ReportError, Series, render_figure,
    render_heatmaps,
};

/// Decoded RGB8 image.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y * self.width + x) as usize * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Number of clearly dark pixels (text, frames, markers) in a rectangle.
    fn dark_in(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
        let mut n = 0;
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                let [r, g, b] = self.pixel(x, y);
                if u32::from(r) + u32::from(g) + u32::from(b) < 3 * 110 {
                    n += 1;
                }
            }
        }
        n
    }
}

fn decode_png(path: &Path) -> Image {
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "PNG magic in {}",
        path.display()
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgb: buf,
    }
}

/// Checks the SVG is well-formed enough and returns its (width, height).
fn check_svg(path: &Path) -> (u32, u32) {
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("<svg") || text.starts_with("<?xml"),
        "{}",
        &text[..40.min(text.len())]
    );
    assert!(text.trim_end().ends_with("</svg>"));
    assert!(
        !text.contains("NaN") && !text.contains("inf"),
        "non-finite coordinates in SVG"
    );
    let attr = |name: &str| -> u32 {
        let start = text.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + text[start..].find('"').unwrap();
        text[start..end].parse().unwrap()
    };
    (attr("width"), attr("height"))
}

/// Checks both outputs and returns the decoded PNG.
fn check_outputs(files: &[PathBuf], stem: &Path) -> Image {
    let svg = PathBuf::from(format!("{}.svg", stem.display()));
    let png = PathBuf::from(format!("{}.png", stem.display()));
    assert_eq!(files, [svg.clone(), png.clone()]);
    let (w, h) = check_svg(&svg);
    let img = decode_png(&png);
    assert_eq!((img.width, img.height), (w, h), "SVG and PNG sizes agree");
    // No temp files left next to the outputs.
    for e in fs::read_dir(stem.parent().unwrap()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "leftover {name}");
    }
    img
}

fn accuracy_series(k: f64) -> Vec<Series> {
    let xs: Vec<f64> = (0..=10).map(|i| f64::from(i) * 0.01).collect();
    (0..4)
        .map(|s| {
            let slope = k * f64::from(4 - s);
            let pts = xs.iter().map(|&x| (x, 0.97 - slope * x)).collect();
            let series = Series::new(format!("method {s}"), pts);
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
fn grid_of_six_panels_with_nan_and_empty_panel() {
    let dir = tempfile::tempdir().unwrap();
    let mut panels: Vec<Panel> = (0..5)
        .map(|i| panel(&format!("case {i}"), accuracy_series(1.0 + f64::from(i))))
        .collect();
    for s in &mut panels[1].series {
        s.points[3].1 = f64::NAN;
        s.points[6].0 = f64::NAN;
        s.points[8] = (f64::INFINITY, f64::NEG_INFINITY);
    }
    panels[2].y_range = Some((0.0, 1.0));
    panels[3].x_range = Some((0.02, 0.05)); // clips most of the data
    panels.push(panel("empty", Vec::new()));
    let fig = Figure {
        title: "Six panels".into(),
        panels,
        columns: 3,
        panel_size: (420, 320),
    };
    let stem = dir.path().join("out/six");
    let files = render_figure(&fig, &stem).unwrap();
    let img = check_outputs(&files, &stem);
    assert_eq!(img.width, 3 * 420);
    assert!(img.height > 2 * 320);
    // Title text is drawn (dark pixels around the top centre).
    assert!(img.dark_in(img.width / 2 - 60, 0, img.width / 2 + 60, 40) > 50);
    // Every panel has drawn something dark (frame, ticks, text).
    let top = img.height - 2 * 320;
    for i in 0..6 {
        let (x, y) = ((i % 3) * 420, top + (i / 3) * 320);
        assert!(img.dark_in(x, y, x + 420, y + 320) > 500, "panel {i}");
    }
    // Re-rendering overwrites in place.
    let again = render_figure(&fig, &stem).unwrap();
    assert_eq!(again, files);
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert!(svg.contains("no data"));
    assert!(svg.contains("method 3"));
}

#[test]
fn per_panel_legends_when_labels_differ() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = panel("a", accuracy_series(1.0));
    a.series[0].label = "only here".into();
    let b = panel("b", accuracy_series(2.0));
    let fig = Figure {
        title: String::new(),
        panels: vec![a, b],
        columns: 0,
        panel_size: (400, 300),
    };
    let stem = dir.path().join("two");
    let files = render_figure(&fig, &stem).unwrap();
    check_outputs(&files, &stem);
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert_eq!(
        svg.matches(">\nsoftware\n<").count(),
        2,
        "one legend per panel"
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
        vec![Series::new("zero", vec![(0.0, 0.0)])],
        vec![Series::new("huge", vec![(0.0, 1e300), (1.0, -1e300)])],
        vec![Series::new("tiny", vec![(0.0, 1e-12), (1e-9, 2e-12)])],
        vec![Series::new("", vec![(0.0, 1.0), (1.0, 0.0)])],
    ];
    for (i, series) in cases.into_iter().enumerate() {
        let mut p = panel(&format!("case {i}"), series);
        p.hline = if i % 2 == 0 {
            None
        } else {
            Some((f64::NAN, "nan line".into()))
        };
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
    let stem = dir.path().join("bad");
    let base = Figure {
        title: "t".into(),
        panels: vec![panel("p", accuracy_series(1.0))],
        columns: 1,
        panel_size: (400, 300),
    };
    let no_panels = Figure {
        panels: vec![],
        ..base.clone()
    };
    let tiny = Figure {
        panel_size: (40, 30),
        ..base.clone()
    };
    let zero = Figure {
        panel_size: (0, 0),
        ..base.clone()
    };
    let mut bad_range = base.clone();
    bad_range.panels[0].y_range = Some((1.0, 1.0));
    let mut nan_range = base.clone();
    nan_range.panels[0].x_range = Some((f64::NAN, 1.0));
    let huge = Figure {
        panels: vec![panel("p", vec![]); 400],
        columns: 1,
        ..base.clone()
    };
    for (name, fig) in [
        ("no panels", no_panels),
        ("tiny", tiny),
        ("zero", zero),
        ("bad range", bad_range),
        ("nan range", nan_range),
        ("huge", huge),
    ] {
        match render_figure(&fig, &stem) {
            Err(ReportError::InvalidFigure { what }) => assert!(!what.is_empty()),
            other => panic!("{name}: expected InvalidFigure, got {other:?}"),
        }
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written on error"
    );
}

#[test]
fn stem_with_dot_keeps_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("fig.v2");
    let fig = Figure {
        title: String::new(),
        panels: vec![panel("p", accuracy_series(1.0))],
        columns: 1,
        panel_size: (300, 240),
    };
    let files = render_figure(&fig, &stem).unwrap();
    assert_eq!(files[0], dir.path().join("fig.v2.svg"));
    assert_eq!(files[1], dir.path().join("fig.v2.png"));
}

fn conductance_map(rows: usize, cols: usize) -> Heatmap {
    let values: Vec<f64> = (0..rows * cols)
        .map(|i| 1e-5 * 10f64.powf(2.0 * ((i * 7919) % 1000) as f64 / 999.0))
        .collect();
    let outline = (0..rows * cols).map(|i| i % 37 == 0).collect();
    Heatmap {
        title: "Conductance".into(),
        rows,
        cols,
        values,
        scale: ColorScale::Sequential,
        log10: true,
        colorbar_label: "conductance (S)".into(),
        x_label: "column".into(),
        y_label: "row".into(),
        outline: Some(outline),
        annotations: vec!["true 6, predicted 7".into()],
    }
}

#[test]
fn log_heatmap_65x50_with_outline() {
    let dir = tempfile::tempdir().unwrap();
    let grid = HeatmapGrid {
        title: "Crossbar".into(),
        panels: vec![conductance_map(65, 50)],
        columns: 1,
        cell_px: 8,
    };
    let stem = dir.path().join("cond");
    let files = render_heatmaps(&grid, &stem).unwrap();
    let img = check_outputs(&files, &stem);
    assert!(img.width > 50 * 8 && img.height > 65 * 8);
    let svg = fs::read_to_string(&files[0]).unwrap();
    for label in [
        "1e-5",
        "1e-4",
        "1e-3",
        "conductance (S)",
        "true 6, predicted 7",
    ] {
        assert!(svg.contains(label), "missing {label}");
    }
}

#[test]
fn rows_are_drawn_top_to_bottom() {
    // Row 0 is 1, everything else 0: with a sequential map row 0 is the bright end.
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (10, 10);
    let mut values = vec![0.0; rows * cols];
    for v in values.iter_mut().take(cols) {
        *v = 1.0;
    }
    let grid = HeatmapGrid {
        title: String::new(),
        panels: vec![Heatmap {
            rows,
            cols,
            values,
            ..Heatmap::default()
        }],
        columns: 1,
        cell_px: 10,
    };
    let stem = dir.path().join("order");
    let files = render_heatmaps(&grid, &stem).unwrap();
    let img = check_outputs(&files, &stem);
    // Find the map: the first row (from the top) containing a bright yellow pixel must
    // be above the first dark purple one.
    let is_yellow = |p: [u8; 3]| p[0] > 200 && p[1] > 200 && p[2] < 80;
    let is_purple = |p: [u8; 3]| p[0] < 90 && p[1] < 20 && p[2] > 60;
    let first = |f: &dyn Fn([u8; 3]) -> bool| {
        (0..img.height)
            .find(|&y| (0..img.width).any(|x| f(img.pixel(x, y))))
            .unwrap()
    };
    let (yellow, purple) = (first(&is_yellow), first(&is_purple));
    assert!(
        yellow < purple,
        "row 0 at the top (yellow {yellow}, purple {purple})"
    );
    assert!(purple - yellow >= 9, "one full row of cells above");
}

#[test]
fn diverging_map_with_negative_values_and_nan() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (20, 30);
    let values: Vec<f64> = (0..rows * cols)
        .map(|i| match i {
            5 => f64::NAN,
            6 => f64::INFINITY,
            7 => f64::NEG_INFINITY,
            _ => ((i % cols) as f64 - 15.0) * 1e-6,
        })
        .collect();
    let grid = HeatmapGrid {
        title: "Currents".into(),
        panels: vec![
            Heatmap {
                title: "contribution".into(),
                rows,
                cols,
                values: values.clone(),
                scale: ColorScale::Diverging,
                colorbar_label: "current (A)".into(),
                ..Heatmap::default()
            },
            Heatmap {
                title: "mask".into(),
                rows,
                cols,
                values: values
                    .iter()
                    .map(|v| f64::from(u8::from(*v > 0.0)))
                    .collect(),
                scale: ColorScale::Binary,
                colorbar_label: "stuck".into(),
                ..Heatmap::default()
            },
        ],
        columns: 2,
        cell_px: 6,
    };
    let stem = dir.path().join("div");
    let files = render_heatmaps(&grid, &stem).unwrap();
    let img = check_outputs(&files, &stem);
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert!(
        svg.contains("\u{2212}1e-5") || svg.contains("\u{2212}1.5e-5"),
        "negative tick labels"
    );
    assert!(svg.contains("n/a"), "grey swatch for non-finite cells");
    // Both blue-ish and red-ish cells are present.
    let mut blue = false;
    let mut red = false;
    for y in 0..img.height {
        for x in 0..img.width {
            let [r, g, b] = img.pixel(x, y);
            blue |= b > 150 && r < 80 && g < 130;
            red |= r > 150 && g < 60 && b < 70;
        }
    }
    assert!(blue && red);
}

#[test]
fn degenerate_heatmaps() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        vec![3.0; 12],
        vec![0.0; 12],
        vec![f64::NAN; 12],
        vec![-1.0; 12],
        (0..12)
            .map(|i| if i % 2 == 0 { f64::INFINITY } else { 1e-4 })
            .collect(),
    ];
    for (i, values) in cases.into_iter().enumerate() {
        for scale in [
            ColorScale::Sequential,
            ColorScale::Diverging,
            ColorScale::Binary,
        ] {
            for log10 in [false, true] {
                let grid = HeatmapGrid {
                    title: String::new(),
                    panels: vec![Heatmap {
                        title: format!("{i}"),
                        rows: 3,
                        cols: 4,
                        values: values.clone(),
                        scale,
                        log10,
                        ..Heatmap::default()
                    }],
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
    let stem = dir.path().join("bad");
    let good = conductance_map(4, 5);
    let mut mismatched = good.clone();
    mismatched.values.pop();
    let mut bad_outline = good.clone();
    bad_outline.outline = Some(vec![true; 3]);
    let zero = Heatmap {
        rows: 0,
        cols: 5,
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
        match render_heatmaps(&g, &stem) {
            Err(ReportError::InvalidFigure { what }) => assert!(!what.is_empty()),
            other => panic!("{name}: expected InvalidFigure, got {other:?}"),
        }
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn rendering_is_fast() {
    // Generous bound (debug build, shared CI machine); release renders in a few ms.
    let dir = tempfile::tempdir().unwrap();
    let fig = Figure {
        title: "speed".into(),
        panels: (0..6)
            .map(|i| panel(&format!("{i}"), accuracy_series(1.0)))
            .collect(),
        columns: 3,
        panel_size: (400, 300),
    };
    let t = std::time::Instant::now();
    render_figure(&fig, &dir.path().join("speed")).unwrap();
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
}

#[test]
fn long_text_and_many_series_still_render() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a very long label that is much wider than any panel could ever show in one line "
        .repeat(3);
    let series: Vec<Series> = (0..12)
        .map(|i| {
            Series::new(
                format!("{long}{i}"),
                vec![(0.0, f64::from(i)), (1.0, f64::from(i) + 0.5)],
            )
        })
        .collect();
    let fig = Figure {
        title: long.clone(),
        panels: vec![Panel {
            title: long.clone(),
            x_label: long.clone(),
            y_label: long.clone(),
            series,
            hline: Some((3.0, long.clone())),
            ..Panel::default()
        }],
        columns: 1,
        panel_size: (320, 240),
    };
    let stem = dir.path().join("long");
    let files = render_figure(&fig, &stem).unwrap();
    let img = check_outputs(&files, &stem);
    assert_eq!(img.width, 320);
    let svg = fs::read_to_string(&files[0]).unwrap();
    assert!(
        svg.contains('\u{2026}'),
        "long text is shortened with an ellipsis"
    );

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
    let files = render_heatmaps(&grid, &stem).unwrap();
    let img = check_outputs(&files, &stem);
    assert!(img.width < 1000, "{}", img.width);
}

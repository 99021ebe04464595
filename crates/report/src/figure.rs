//! Line figures: a grid of panels, each with several series.

use std::path::{Path, PathBuf};

use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{DrawingBackend, FontTransform};

use crate::axis::{format_ticks, linear_ticks};
use crate::canvas::{Anchor, DrawResult, Painter, Rgba, Scene, TEXT, TEXT_SOFT, render_scene};
use crate::error::{ReportError, Result};
use crate::font::{fit_text, text_width};

/// One curve of a [`Panel`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend label; an empty label keeps the series out of the legend.
    pub label: String,
    /// `(x, y)` points, sorted by x by the caller. Points with a non-finite coordinate
    /// are skipped and break the line (the curve shows a gap there).
    pub points: Vec<(f64, f64)>,
    /// Draw the connecting line dashed instead of solid.
    pub dashed: bool,
}

impl Series {
    /// A solid series with the given label and points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            dashed: false,
        }
    }

    /// The same series drawn with a dashed line.
    #[must_use]
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// One panel (axes) of a [`Figure`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    /// Title drawn above the panel (may be empty).
    pub title: String,
    /// X axis label (may be empty).
    pub x_label: String,
    /// Y axis label (may be empty).
    pub y_label: String,
    /// Fixed x range `(min, max)`; `None` fits the data with a small margin. Data outside
    /// a fixed range is clipped.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range `(min, max)`; `None` fits the data (and `hline`) with a small margin.
    pub y_range: Option<(f64, f64)>,
    /// The curves; each gets its own colour and marker shape.
    pub series: Vec<Series>,
    /// Optional horizontal reference line `(y, label)`, e.g. the software accuracy;
    /// drawn dashed grey and listed in the legend when the label is not empty.
    pub hline: Option<(f64, String)>,
}

/// A figure: a title and a grid of [`Panel`]s of equal size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figure {
    /// Figure title drawn on top (may be empty).
    pub title: String,
    /// Panels, filled into the grid row by row.
    pub panels: Vec<Panel>,
    /// Number of grid columns; `0` picks about `sqrt(panels)`. More columns than panels
    /// are reduced to the panel count.
    pub columns: usize,
    /// Size of one panel in pixels `(width, height)`, e.g. `(480, 360)`; at least
    /// about `(160, 130)` so the plot area is not empty.
    pub panel_size: (u32, u32),
}

/// Figure title em size (px).
pub(crate) const FIG_TITLE_EM: f64 = 25.0;
/// Panel title em size (px).
pub(crate) const PANEL_TITLE_EM: f64 = 21.0;
/// Axis label em size (px).
pub(crate) const AXIS_EM: f64 = 17.0;
/// Tick label em size (px).
pub(crate) const TICK_EM: f64 = 14.0;
/// Legend text em size (px).
const LEGEND_EM: f64 = 14.0;
/// Outer padding of a panel (px).
const PAD: f64 = 10.0;
/// Tick mark length (px).
pub(crate) const TICK_LEN: i32 = 5;

const FRAME: Rgba = Rgba::rgb(70, 70, 70);
const GRID: Rgba = Rgba::rgb(228, 228, 228);
const HLINE: Rgba = Rgba::rgb(80, 80, 80);

/// Colour-blind-friendly series colours (Okabe & Ito), dark enough on white.
const PALETTE: [Rgba; 8] = [
    Rgba::rgb(0, 114, 178),
    Rgba::rgb(213, 94, 0),
    Rgba::rgb(0, 158, 115),
    Rgba::rgb(204, 121, 167),
    Rgba::rgb(230, 159, 0),
    Rgba::rgb(86, 180, 233),
    Rgba::rgb(0, 0, 0),
    Rgba::rgb(140, 86, 75),
];

/// Marker shapes, distinct in greyscale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Cross,
    Plus,
    Ring,
}

const MARKERS: [Marker; 8] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
    Marker::Cross,
    Marker::Plus,
    Marker::Ring,
];

/// Minimum distance between two markers of one series (px); denser data gets a
/// marker only every so often.
const MARKER_GAP: f64 = 22.0;

fn series_style(i: usize) -> (Rgba, Marker) {
    (
        PALETTE[i % PALETTE.len()],
        MARKERS[(i + i / MARKERS.len()) % MARKERS.len()],
    )
}

/// Everything needed to paint one panel, computed (and validated) up front.
struct PanelPlan {
    /// Panel origin.
    ox: i32,
    oy: i32,
    pw: i32,
    /// Plot rectangle `[x0, x1) x [y0, y1)`.
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
    title: String,
    x_label: String,
    y_label: String,
    /// `(pixel x, label)`.
    x_ticks: Vec<(i32, String)>,
    /// `(pixel y, label)`.
    y_ticks: Vec<(i32, String)>,
    /// Left edge of the y axis label column.
    y_label_x: i32,
    /// Top of the x axis label.
    x_label_y: i32,
    lines: Vec<SeriesPlan>,
    hline: Option<(i32, String)>,
    no_data: bool,
    legend: Option<LegendPlan>,
    /// The inside legend could not avoid covering data.
    legend_covers_data: bool,
}

struct SeriesPlan {
    color: Rgba,
    marker: Marker,
    /// Polylines to stroke (already clipped and dashed).
    strokes: Vec<Vec<(i32, i32)>>,
    markers: Vec<(i32, i32)>,
}

#[derive(Clone, PartialEq)]
struct LegendEntry {
    label: String,
    color: Rgba,
    marker: Option<Marker>,
    dashed: bool,
}

/// A boxed legend (one entry per row) inside or beside a plot.
struct LegendPlan {
    x: i32,
    y: i32,
    w: i32,
    h: i32,
    entries: Vec<LegendEntry>,
}

/// Where a panel puts its legend.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LegendMode {
    /// In the plot corner covering the fewest data points.
    Inside,
    /// To the right of the plot (the plot gets narrower).
    Right,
    /// Not drawn (the figure has a shared legend).
    Hidden,
}

/// A legend shared by all panels: rows of entries under the figure title.
struct SharedLegend {
    /// Rows of `(x, entry)`; `y` is the row's centre line.
    rows: Vec<(i32, Vec<(i32, LegendEntry)>)>,
}

const LEGEND_ROW: i32 = 20;
const LEGEND_PAD: i32 = 7;
const LEGEND_SAMPLE: i32 = 30;

struct FigurePlan {
    width: u32,
    height: u32,
    title: String,
    shared: Option<SharedLegend>,
    panels: Vec<PanelPlan>,
}

/// Renders `fig` to `<stem>.svg` and `<stem>.png` and returns both paths (SVG first).
///
/// `.svg`/`.png` are appended to `stem` (an existing dot in the file name is kept).
/// Axis ranges left as `None` are fitted to the data with a 5 % margin; a panel without
/// any finite point shows a "no data" note. Each series gets a distinct colour *and*
/// marker shape, so the figure also reads in greyscale; every point gets a marker,
/// except in dense series (points closer than 10 px on average), which get one about
/// every 22 px. When all panels use the same legend entries (same labels in the
/// same order) and there are several panels, one shared legend is drawn under the
/// figure title. Otherwise each panel has its own legend: inside the plot, on a
/// semi-transparent white box, in the corner (or edge middle) that covers no data, or
/// to the right of the plot if every such place would cover data. Both files are
/// written atomically (temporary file + rename).
///
/// # Errors
/// [`ReportError::InvalidFigure`] for a figure without panels, a too small
/// `panel_size`, a fixed range that is not finite or has `min >= max`, or data whose
/// range overflows; [`ReportError::Io`]/[`ReportError::Plot`] if writing fails.
pub fn render_figure(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>> {
    let plan = plan_figure(fig)?;
    render_scene(&plan, stem)
}

fn grid_shape(n: usize, columns: usize) -> (usize, usize) {
    let cols = if columns == 0 {
        (n as f64).sqrt().ceil().max(1.0) as usize
    } else {
        columns.min(n).max(1)
    };
    (cols, n.div_ceil(cols))
}

fn plan_figure(fig: &Figure) -> Result<FigurePlan> {
    if fig.panels.is_empty() {
        return Err(ReportError::invalid("figure has no panels"));
    }
    let (pw, ph) = fig.panel_size;
    let (cols, rows) = grid_shape(fig.panels.len(), fig.columns);
    let width = u64::from(pw) * cols as u64;
    let too_big = || {
        ReportError::invalid(format!(
            "figure of {cols} x {rows} panels of {pw} x {ph} px is too large"
        ))
    };
    let width = u32::try_from(width).map_err(|_| too_big())?;
    let mut top = if fig.title.is_empty() {
        4
    } else {
        (FIG_TITLE_EM * 1.25 + 12.0).round() as i32
    };
    let max_label = f64::from(pw) * 0.55;
    let entries: Vec<Vec<LegendEntry>> = fig
        .panels
        .iter()
        .map(|p| panel_entries(p, max_label))
        .collect();
    let shared = shared_entries(&entries).map(|master| {
        let (legend, h) = plan_shared_legend(master, width as i32, top);
        top += h;
        legend
    });
    let height = u64::from(top as u32) + u64::from(ph) * rows as u64;
    let height = u32::try_from(height).map_err(|_| too_big())?;
    crate::canvas::check_size(width, height)?;
    let mut panels = Vec::with_capacity(fig.panels.len());
    for (i, (panel, entries)) in fig.panels.iter().zip(entries).enumerate() {
        let (c, r) = (i % cols, i / cols);
        let ox = (c as u32 * pw) as i32;
        let oy = top + (r as u32 * ph) as i32;
        let with_context = |e: ReportError| match e {
            ReportError::InvalidFigure { what } => {
                ReportError::invalid(format!("panel {i} ({:?}): {what}", panel.title))
            }
            other => other,
        };
        let geom = PanelGeom {
            ox,
            oy,
            pw: pw as i32,
            ph: ph as i32,
        };
        let mode = if shared.is_some() {
            LegendMode::Hidden
        } else {
            LegendMode::Inside
        };
        let mut plan = plan_panel(panel, geom, entries.clone(), mode).map_err(with_context)?;
        if plan.legend_covers_data {
            // Beside the plot, unless that would squeeze the plot too much.
            if let Ok(right) = plan_panel(panel, geom, entries, LegendMode::Right)
                && 2 * (right.x1 - right.x0) >= plan.x1 - plan.x0
            {
                plan = right;
            }
        }
        panels.push(plan);
    }
    Ok(FigurePlan {
        width,
        height,
        title: fit_text(&fig.title, FIG_TITLE_EM, f64::from(width) - 20.0).into_owned(),
        shared,
        panels,
    })
}

/// Legend entries of a panel, in drawing order (series, then the reference line).
fn panel_entries(panel: &Panel, max_label: f64) -> Vec<LegendEntry> {
    let mut out: Vec<LegendEntry> = panel
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.label.is_empty())
        .map(|(i, s)| {
            let (color, marker) = series_style(i);
            LegendEntry {
                label: fit_text(&s.label, LEGEND_EM, max_label).into_owned(),
                color,
                marker: Some(marker),
                dashed: s.dashed,
            }
        })
        .collect();
    if let Some((y, label)) = &panel.hline {
        let visible = y.is_finite() && panel.y_range.is_none_or(|(lo, hi)| *y >= lo && *y <= hi);
        if visible && !label.is_empty() {
            out.push(LegendEntry {
                label: fit_text(label, LEGEND_EM, max_label).into_owned(),
                color: HLINE,
                marker: None,
                dashed: true,
            });
        }
    }
    out
}

/// The entries of a shared legend, if there are several panels and every panel's
/// entries also appear (with the same style) in the panel with the most entries.
fn shared_entries(entries: &[Vec<LegendEntry>]) -> Option<&[LegendEntry]> {
    if entries.len() < 2 {
        return None;
    }
    let master = entries.iter().max_by_key(|e| e.len())?;
    if master.is_empty() {
        return None;
    }
    entries
        .iter()
        .all(|e| e.iter().all(|x| master.contains(x)))
        .then_some(master.as_slice())
}

/// Lays the shared legend out in centred rows starting at `top`; returns it and its height.
fn plan_shared_legend(entries: &[LegendEntry], width: i32, top: i32) -> (SharedLegend, i32) {
    let max_w = (width - 40).max(100);
    let item_w =
        |e: &LegendEntry| LEGEND_SAMPLE + 6 + text_width(&e.label, LEGEND_EM).ceil() as i32;
    let gap = 24;
    let mut rows: Vec<Vec<(i32, LegendEntry)>> = vec![Vec::new()];
    let mut row_w = 0;
    for e in entries {
        let w = item_w(e);
        if row_w > 0 && row_w + gap + w > max_w {
            rows.push(Vec::new());
            row_w = 0;
        }
        let x = if row_w == 0 { 0 } else { row_w + gap };
        if let Some(row) = rows.last_mut() {
            row.push((x, e.clone()));
        }
        row_w = x + w;
    }
    let row_h = LEGEND_ROW + 4;
    let mut out = Vec::with_capacity(rows.len());
    for (k, row) in rows.into_iter().enumerate() {
        let w = row.last().map_or(0, |(x, e)| x + item_w(e));
        let x0 = (width - w) / 2;
        let cy = top + row_h * k as i32 + row_h / 2;
        out.push((cy, row.into_iter().map(|(x, e)| (x0 + x, e)).collect()));
    }
    let h = row_h * out.len() as i32 + 6;
    (SharedLegend { rows: out }, h)
}

/// Position and size of a panel in the figure.
#[derive(Clone, Copy)]
struct PanelGeom {
    ox: i32,
    oy: i32,
    pw: i32,
    ph: i32,
}

fn check_range(r: (f64, f64), axis: &str) -> Result<(f64, f64)> {
    if r.0.is_finite() && r.1.is_finite() && r.0 < r.1 {
        Ok(r)
    } else {
        Err(ReportError::invalid(format!(
            "{axis} range ({}, {}) must be finite with min < max",
            r.0, r.1
        )))
    }
}

/// Fits `[lo, hi]` with a 5 % margin; widens a degenerate (single value) range.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        let m = span * 0.05;
        (lo - m, hi + m)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, lo + d)
    }
}

fn finite_point(p: (f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

fn plan_panel(
    panel: &Panel,
    geom: PanelGeom,
    entries: Vec<LegendEntry>,
    mode: LegendMode,
) -> Result<PanelPlan> {
    let PanelGeom { ox, oy, pw, ph } = geom;
    // ---- ranges
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    let mut any = false;
    for s in &panel.series {
        for &p in s.points.iter().filter(|p| finite_point(**p)) {
            any = true;
            xmin = xmin.min(p.0);
            xmax = xmax.max(p.0);
            ymin = ymin.min(p.1);
            ymax = ymax.max(p.1);
        }
    }
    let hline_y = panel.hline.as_ref().map(|h| h.0).filter(|y| y.is_finite());
    let (xlo, xhi) = match panel.x_range {
        Some(r) => check_range(r, "x")?,
        None if any => padded(xmin, xmax),
        None => (0.0, 1.0),
    };
    let (ylo, yhi) = match panel.y_range {
        Some(r) => check_range(r, "y")?,
        None => {
            let (mut lo, mut hi) = if any {
                (ymin, ymax)
            } else {
                (f64::INFINITY, f64::NEG_INFINITY)
            };
            if let Some(h) = hline_y {
                lo = lo.min(h);
                hi = hi.max(h);
            }
            if lo.is_finite() {
                padded(lo, hi)
            } else {
                (0.0, 1.0)
            }
        }
    };
    if !((xhi - xlo).is_finite() && (yhi - ylo).is_finite()) {
        return Err(ReportError::invalid("data range is too large to plot"));
    }

    // ---- vertical layout
    let title_h = if panel.title.is_empty() {
        0.0
    } else {
        PANEL_TITLE_EM * 1.2 + 4.0
    };
    let top = f64::from(oy) + PAD + title_h + TICK_EM * 0.6;
    let x_label_h = if panel.x_label.is_empty() {
        0.0
    } else {
        AXIS_EM * 1.05 + 6.0
    };
    let bottom = f64::from(TICK_LEN) + 4.0 + TICK_EM * 1.05 + x_label_h + PAD;
    let y0 = top.round() as i32;
    let y1 = (f64::from(oy + ph) - bottom).round() as i32;
    if y1 - y0 < 30 {
        return Err(ReportError::invalid(format!(
            "panel height {ph} px is too small"
        )));
    }
    let plot_h = f64::from(y1 - y0);
    let y_target = ((plot_h / 45.0) as usize).clamp(2, 8);
    let (yt, ystep) = linear_ticks(ylo, yhi, y_target);
    let y_labels = format_ticks(&yt, ystep);
    let ytick_w = y_labels
        .iter()
        .map(|l| text_width(l, TICK_EM))
        .fold(0.0, f64::max);

    // ---- horizontal layout
    let y_label_w = if panel.y_label.is_empty() {
        0.0
    } else {
        AXIS_EM * 1.05 + 8.0
    };
    let left = PAD + y_label_w + ytick_w + 6.0 + f64::from(TICK_LEN);
    let x0 = (f64::from(ox) + left).round() as i32;
    let legend_size = legend_box_size(&entries);
    let right_legend = if mode == LegendMode::Right {
        legend_size.0 + 12
    } else {
        0
    };
    let x1 = ox + pw - (PAD + 12.0) as i32 - right_legend;
    if x1 - x0 < 30 {
        return Err(ReportError::invalid(format!(
            "panel width {pw} px is too small"
        )));
    }
    let plot_w = f64::from(x1 - x0);
    let mut x_target = ((plot_w / 90.0) as usize).clamp(2, 8);
    let (xt, x_labels) = loop {
        let (xt, xstep) = linear_ticks(xlo, xhi, x_target);
        let labels = format_ticks(&xt, xstep);
        let widest = labels
            .iter()
            .map(|l| text_width(l, TICK_EM))
            .fold(0.0, f64::max);
        let spacing = xstep / (xhi - xlo) * plot_w;
        if widest + 12.0 <= spacing || x_target <= 2 {
            break (xt, labels);
        }
        x_target -= 1;
    };

    let map = Mapper {
        xlo,
        xhi,
        ylo,
        yhi,
        x0: f64::from(x0),
        x1: f64::from(x1),
        y0: f64::from(y0),
        y1: f64::from(y1),
    };
    let x_ticks = xt
        .iter()
        .zip(x_labels)
        .map(|(&v, l)| (map.x(v).round() as i32, l))
        .collect();
    let y_ticks = yt
        .iter()
        .zip(y_labels)
        .map(|(&v, l)| (map.y(v).round() as i32, l))
        .collect();

    // ---- series geometry
    let mut lines = Vec::with_capacity(panel.series.len());
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    for (i, s) in panel.series.iter().enumerate() {
        let (color, marker) = series_style(i);
        pieces.clear();
        let mut markers = Vec::new();
        build_pieces(&s.points, &map, &mut pieces, &mut markers);
        for piece in &pieces {
            sample_polyline(piece, &mut samples);
        }
        for &(mx, my) in &markers {
            for _ in 0..4 {
                samples.push((f64::from(mx), f64::from(my)));
            }
        }
        let strokes = if s.dashed {
            let mut out = Vec::new();
            for piece in &pieces {
                dash(piece, 9.0, 5.0, &mut out);
            }
            out
        } else {
            pieces.iter().map(|p| to_pixels(p)).collect()
        };
        lines.push(SeriesPlan {
            color,
            marker,
            strokes: strokes.into_iter().filter(|p| p.len() >= 2).collect(),
            markers,
        });
    }
    let hline = match (&panel.hline, hline_y) {
        (Some((_, label)), Some(y)) if y >= ylo && y <= yhi => {
            let py = map.y(y).round() as i32;
            let mut x = f64::from(x0);
            while x < f64::from(x1) {
                samples.push((x, f64::from(py)));
                x += 3.0;
            }
            Some((py, label.clone()))
        }
        _ => None,
    };
    let (legend, legend_covers_data) = match mode {
        _ if entries.is_empty() => (None, false),
        LegendMode::Hidden => (None, false),
        LegendMode::Inside => {
            let (l, covered) = place_legend(entries, legend_size, &samples, (x0, y0, x1, y1));
            (Some(l), covered)
        }
        LegendMode::Right => {
            let (w, h) = legend_size;
            (
                Some(LegendPlan {
                    x: x1 + 12,
                    y: y0,
                    w,
                    h,
                    entries,
                }),
                false,
            )
        }
    };

    let y_label_x = (f64::from(ox) + PAD).round() as i32;
    let x_label_y = (f64::from(oy + ph) - PAD - AXIS_EM * 1.05).round() as i32;
    Ok(PanelPlan {
        ox,
        oy,
        pw,
        x0,
        y0,
        x1,
        y1,
        title: fit_text(&panel.title, PANEL_TITLE_EM, f64::from(pw) - 16.0).into_owned(),
        x_label: fit_text(&panel.x_label, AXIS_EM, f64::from(x1 - x0) + 40.0).into_owned(),
        y_label: fit_text(&panel.y_label, AXIS_EM, f64::from(y1 - y0) + 20.0).into_owned(),
        x_ticks,
        y_ticks,
        y_label_x,
        x_label_y,
        lines,
        hline,
        no_data: !any,
        legend,
        legend_covers_data,
    })
}

/// Data-to-pixel mapping of one panel.
struct Mapper {
    xlo: f64,
    xhi: f64,
    ylo: f64,
    yhi: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Mapper {
    fn x(&self, x: f64) -> f64 {
        self.x0 + (x - self.xlo) / (self.xhi - self.xlo) * (self.x1 - self.x0)
    }
    fn y(&self, y: f64) -> f64 {
        self.y1 - (y - self.ylo) / (self.yhi - self.ylo) * (self.y1 - self.y0)
    }
    fn inside(&self, p: (f64, f64)) -> bool {
        p.0 >= self.x0 - 0.5 && p.0 <= self.x1 + 0.5 && p.1 >= self.y0 - 0.5 && p.1 <= self.y1 + 0.5
    }
}

/// Clips segment `a -> b` to the plot rectangle (Liang-Barsky).
fn clip(a: (f64, f64), b: (f64, f64), m: &Mapper) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - m.x0),
        (dx, m.x1 - a.0),
        (-dy, a.1 - m.y0),
        (dy, m.y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// Splits a series into clipped pixel polylines (breaking at non-finite points) and
/// picks marker positions.
fn build_pieces(
    points: &[(f64, f64)],
    m: &Mapper,
    pieces: &mut Vec<Vec<(f64, f64)>>,
    markers: &mut Vec<(i32, i32)>,
) {
    // Sparse series (e.g. a sweep of a dozen settings) get a marker on every point;
    // dense ones only every MARKER_GAP pixels.
    let finite = points.iter().filter(|p| finite_point(**p)).count();
    let gap = if (m.x1 - m.x0) / finite.max(1) as f64 >= 10.0 {
        0.0
    } else {
        MARKER_GAP
    };
    let mut prev: Option<(f64, f64)> = None;
    let mut open = false;
    let mut last_marker: Option<(f64, f64)> = None;
    for &p in points {
        let q = (m.x(p.0), m.y(p.1));
        if !(finite_point(p) && finite_point(q)) {
            prev = None;
            open = false;
            continue;
        }
        if m.inside(q) {
            let far = last_marker.is_none_or(|l: (f64, f64)| (l.0 - q.0).hypot(l.1 - q.1) >= gap);
            if far {
                markers.push((q.0.round() as i32, q.1.round() as i32));
                last_marker = Some(q);
            }
        }
        if let Some(a) = prev {
            match clip(a, q, m) {
                Some((ca, cb)) => {
                    let continues = open && ca == a;
                    if !continues {
                        pieces.push(vec![ca]);
                    }
                    if let Some(piece) = pieces.last_mut() {
                        piece.push(cb);
                    }
                    open = cb == q;
                }
                None => open = false,
            }
        }
        prev = Some(q);
    }
}

/// Rounds a polyline to pixels, dropping repeated points.
fn to_pixels(piece: &[(f64, f64)]) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(piece.len());
    for &(x, y) in piece {
        let p = (x.round() as i32, y.round() as i32);
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    if out.len() == 1 {
        out.push(out[0]);
    }
    out
}

/// Cuts a polyline into dashes of length `on` separated by gaps of length `off`.
fn dash(piece: &[(f64, f64)], on: f64, off: f64, out: &mut Vec<Vec<(i32, i32)>>) {
    if piece.len() < 2 {
        return;
    }
    let mut drawing = true;
    let mut left = on;
    let mut cur: Vec<(f64, f64)> = vec![piece[0]];
    for w in piece.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        let mut t = 0.0;
        while len - t > left {
            t += left;
            let p = (a.0 + (b.0 - a.0) * t / len, a.1 + (b.1 - a.1) * t / len);
            if drawing {
                cur.push(p);
                out.push(to_pixels(&cur));
                cur.clear();
            } else {
                cur.push(p);
            }
            drawing = !drawing;
            left = if drawing { on } else { off };
        }
        left -= len - t;
        if drawing {
            cur.push(b);
        }
    }
    if drawing && cur.len() >= 2 {
        out.push(to_pixels(&cur));
    }
}

/// Points every ~3 px along a polyline, for legend placement.
fn sample_polyline(piece: &[(f64, f64)], out: &mut Vec<(f64, f64)>) {
    for w in piece.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        let n = (len / 3.0).ceil().max(1.0) as usize;
        for k in 0..n {
            let t = k as f64 / n as f64;
            out.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
    }
    if let Some(&last) = piece.last() {
        out.push(last);
    }
}

/// Width and height of a boxed legend.
fn legend_box_size(entries: &[LegendEntry]) -> (i32, i32) {
    let text_w = entries
        .iter()
        .map(|e| text_width(&e.label, LEGEND_EM))
        .fold(0.0, f64::max);
    let w = LEGEND_PAD * 2 + LEGEND_SAMPLE + 6 + text_w.ceil() as i32;
    let h = LEGEND_PAD * 2 + LEGEND_ROW * entries.len() as i32 - 4;
    (w, h)
}

/// Puts the legend in the place inside the plot that covers the fewest data samples;
/// returns it and whether it still covers some.
fn place_legend(
    entries: Vec<LegendEntry>,
    (w, h): (i32, i32),
    samples: &[(f64, f64)],
    (x0, y0, x1, y1): (i32, i32, i32, i32),
) -> (LegendPlan, bool) {
    let inset = 8;
    let (l, r) = (x0 + inset, x1 - inset - w);
    let (t, b) = (y0 + inset, y1 - inset - h);
    let (cx, cy) = ((x0 + x1 - w) / 2, (y0 + y1 - h) / 2);
    let candidates = [
        (r, t),
        (l, t),
        (r, b),
        (l, b),
        (r, cy),
        (l, cy),
        (cx, t),
        (cx, b),
    ];
    let fits = w + 2 * inset <= x1 - x0 && h + 2 * inset <= y1 - y0;
    let score = |&(x, y): &(i32, i32)| {
        let (bx0, by0) = (f64::from(x) - 3.0, f64::from(y) - 3.0);
        let (bx1, by1) = (f64::from(x + w) + 3.0, f64::from(y + h) + 3.0);
        samples
            .iter()
            .filter(|p| p.0 >= bx0 && p.0 <= bx1 && p.1 >= by0 && p.1 <= by1)
            .count()
    };
    let mut best = candidates[0];
    let mut best_score = usize::MAX;
    for c in &candidates {
        let s = score(c);
        if s < best_score {
            best_score = s;
            best = *c;
        }
        if s == 0 {
            break;
        }
    }
    let legend = LegendPlan {
        x: best.0,
        y: best.1,
        w,
        h,
        entries,
    };
    (legend, best_score > 0 || !fits)
}

fn draw_marker<DB: DrawingBackend>(
    p: &mut Painter<'_, DB>,
    m: Marker,
    (x, y): (i32, i32),
    c: Rgba,
) -> DrawResult<DB>
where
    DB::ErrorType: 'static,
{
    match m {
        Marker::Circle => p.circle((x, y), 4, c, true, 1),
        Marker::Square => p.rect(x - 4, y - 4, x + 4, y + 4, c),
        Marker::TriangleUp => p.polygon(&[(x, y - 5), (x + 5, y + 4), (x - 5, y + 4)], c),
        Marker::Diamond => p.polygon(&[(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)], c),
        Marker::TriangleDown => p.polygon(&[(x, y + 5), (x + 5, y - 4), (x - 5, y - 4)], c),
        Marker::Cross => {
            p.polyline(&[(x - 4, y - 4), (x + 4, y + 4)], 2, c)?;
            p.polyline(&[(x - 4, y + 4), (x + 4, y - 4)], 2, c)
        }
        Marker::Plus => {
            p.rect(x - 5, y - 1, x + 5, y + 1, c)?;
            p.rect(x - 1, y - 5, x + 1, y + 5, c)
        }
        Marker::Ring => p.circle((x, y), 4, c, false, 2),
    }
}

fn dashed_hline<DB: DrawingBackend>(
    p: &mut Painter<'_, DB>,
    x0: i32,
    x1: i32,
    y: i32,
    c: Rgba,
) -> DrawResult<DB>
where
    DB::ErrorType: 'static,
{
    let mut x = x0;
    while x < x1 {
        let e = (x + 7).min(x1);
        p.polyline(&[(x, y), (e, y)], 2, c)?;
        x += 11;
    }
    Ok(())
}

impl PanelPlan {
    fn paint<DB: DrawingBackend>(&self, p: &mut Painter<'_, DB>) -> DrawResult<DB>
    where
        DB::ErrorType: 'static,
    {
        let (x0, y0, x1, y1) = (self.x0, self.y0, self.x1, self.y1);
        // Title, centred on the plot area but kept inside the panel.
        if !self.title.is_empty() {
            let tw = text_width(&self.title, PANEL_TITLE_EM);
            let half = (tw / 2.0).ceil() as i32;
            let cx = ((x0 + x1) / 2).clamp(
                self.ox + half + 4,
                (self.ox + self.pw - half - 4).max(self.ox + half + 4),
            );
            p.text(
                &self.title,
                (cx, self.oy + PAD as i32),
                PANEL_TITLE_EM,
                TEXT,
                Anchor(HPos::Center, VPos::Top),
                FontTransform::None,
            )?;
        }
        // Grid.
        for &(x, _) in &self.x_ticks {
            if x > x0 && x < x1 - 1 {
                p.rect(x, y0 + 1, x + 1, y1 - 1, GRID)?;
            }
        }
        for &(y, _) in &self.y_ticks {
            if y > y0 && y < y1 - 1 {
                p.rect(x0 + 1, y, x1 - 1, y + 1, GRID)?;
            }
        }
        // Ticks and labels.
        for (x, label) in &self.x_ticks {
            p.rect(*x, y1, x + 1, y1 + TICK_LEN, FRAME)?;
            p.text(
                label,
                (*x, y1 + TICK_LEN + 3),
                TICK_EM,
                TEXT,
                Anchor(HPos::Center, VPos::Top),
                FontTransform::None,
            )?;
        }
        for (y, label) in &self.y_ticks {
            p.rect(x0 - TICK_LEN, *y, x0, y + 1, FRAME)?;
            p.text(
                label,
                (x0 - TICK_LEN - 4, *y),
                TICK_EM,
                TEXT,
                Anchor(HPos::Right, VPos::Center),
                FontTransform::None,
            )?;
        }
        // Axis labels.
        p.text(
            &self.x_label,
            ((x0 + x1) / 2, self.x_label_y),
            AXIS_EM,
            TEXT,
            Anchor(HPos::Center, VPos::Top),
            FontTransform::None,
        )?;
        p.text(
            &self.y_label,
            (self.y_label_x, (y0 + y1) / 2),
            AXIS_EM,
            TEXT,
            Anchor(HPos::Center, VPos::Top),
            FontTransform::Rotate270,
        )?;
        // Reference line, then data (lines below markers).
        if let Some((y, _)) = &self.hline {
            dashed_hline(p, x0 + 1, x1 - 1, *y, HLINE)?;
        }
        for s in &self.lines {
            for stroke in &s.strokes {
                p.polyline(stroke, 2, s.color)?;
            }
        }
        for s in &self.lines {
            for &m in &s.markers {
                draw_marker(p, s.marker, m, s.color)?;
            }
        }
        if self.no_data {
            let w = (text_width("no data", AXIS_EM) / 2.0).ceil() as i32 + 6;
            let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
            p.rect(cx - w, cy - 13, cx + w, cy + 13, Rgba::rgb(255, 255, 255))?;
            p.text(
                "no data",
                ((x0 + x1) / 2, (y0 + y1) / 2),
                AXIS_EM,
                TEXT_SOFT,
                Anchor(HPos::Center, VPos::Center),
                FontTransform::None,
            )?;
        }
        // Frame on top of the data so clipped lines end cleanly.
        p.frame(x0 - 1, y0 - 1, x1 + 1, y1 + 1, 1, FRAME)?;
        if let Some(l) = &self.legend {
            paint_legend(p, l)?;
        }
        Ok(())
    }
}

fn paint_legend<DB: DrawingBackend>(p: &mut Painter<'_, DB>, l: &LegendPlan) -> DrawResult<DB>
where
    DB::ErrorType: 'static,
{
    p.rect(
        l.x,
        l.y,
        l.x + l.w,
        l.y + l.h,
        Rgba::rgb(255, 255, 255).alpha(0.85),
    )?;
    p.frame(l.x, l.y, l.x + l.w, l.y + l.h, 1, Rgba::rgb(190, 190, 190))?;
    for (k, e) in l.entries.iter().enumerate() {
        let cy = l.y + LEGEND_PAD + LEGEND_ROW * k as i32 + LEGEND_ROW / 2 - 2;
        paint_entry(p, e, l.x + LEGEND_PAD, cy)?;
    }
    Ok(())
}

/// One legend entry (line sample, marker, label) starting at `x`, centred on `cy`.
fn paint_entry<DB: DrawingBackend>(
    p: &mut Painter<'_, DB>,
    e: &LegendEntry,
    x: i32,
    cy: i32,
) -> DrawResult<DB>
where
    DB::ErrorType: 'static,
{
    let (sx0, sx1) = (x, x + LEGEND_SAMPLE);
    if e.dashed {
        for (a, b) in [(sx0, sx0 + 8), (sx0 + 11, sx0 + 19), (sx0 + 22, sx1)] {
            p.polyline(&[(a, cy), (b, cy)], 2, e.color)?;
        }
    } else {
        p.polyline(&[(sx0, cy), (sx1, cy)], 2, e.color)?;
    }
    if let Some(m) = e.marker {
        draw_marker(p, m, ((sx0 + sx1) / 2, cy), e.color)?;
    }
    p.text(
        &e.label,
        (sx1 + 6, cy),
        LEGEND_EM,
        TEXT,
        Anchor(HPos::Left, VPos::Center),
        FontTransform::None,
    )
}

impl Scene for FigurePlan {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn paint<DB: DrawingBackend>(&self, p: &mut Painter<'_, DB>) -> DrawResult<DB>
    where
        DB::ErrorType: 'static,
    {
        crate::canvas::paint_title(p, &self.title, self.width)?;
        if let Some(shared) = &self.shared {
            for (cy, row) in &shared.rows {
                for (x, e) in row {
                    paint_entry(p, e, *x, *cy)?;
                }
            }
        }
        for panel in &self.panels {
            panel.paint(p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_cover_about_the_on_fraction() {
        let mut out = Vec::new();
        dash(
            &[(0.0, 0.0), (100.0, 0.0), (100.0, 40.0)],
            9.0,
            5.0,
            &mut out,
        );
        let total: f64 = out
            .iter()
            .map(|d| {
                d.windows(2)
                    .map(|w| f64::from((w[1].0 - w[0].0).abs() + (w[1].1 - w[0].1).abs()))
                    .sum::<f64>()
            })
            .sum();
        assert!((total - 140.0 * 9.0 / 14.0).abs() < 12.0, "{total}");
    }

    #[test]
    fn pieces_break_at_nan_and_clip() {
        let m = Mapper {
            xlo: 0.0,
            xhi: 10.0,
            ylo: 0.0,
            yhi: 10.0,
            x0: 0.0,
            x1: 100.0,
            y0: 0.0,
            y1: 100.0,
        };
        let pts = [
            (0.0, 5.0),
            (2.0, 5.0),
            (3.0, f64::NAN),
            (4.0, 5.0),
            (6.0, 5.0),
            (8.0, 20.0),
            (9.0, 5.0),
        ];
        let mut pieces = Vec::new();
        let mut markers = Vec::new();
        build_pieces(&pts, &m, &mut pieces, &mut markers);
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        assert!(pieces.iter().flatten().all(|p| m.inside(*p)));
        assert_eq!(markers.len(), 5);
    }

    #[test]
    fn grid_shapes() {
        assert_eq!(grid_shape(6, 3), (3, 2));
        assert_eq!(grid_shape(5, 0), (3, 2));
        assert_eq!(grid_shape(2, 9), (2, 1));
        assert_eq!(grid_shape(1, 0), (1, 1));
    }
}

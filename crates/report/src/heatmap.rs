//! Heat maps of 2-D arrays (crossbar conductances, defect masks, per-cell currents).

use std::path::{Path, PathBuf};

use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{DrawingBackend, FontTransform};

use crate::axis::{format_ticks, linear_ticks, log_ticks};
use crate::canvas::{
    Anchor, DrawResult, Painter, Rgba, Scene, TEXT, TEXT_SOFT, check_size, render_scene,
};
use crate::error::{ReportError, Result};
use crate::figure::{AXIS_EM, FIG_TITLE_EM, PANEL_TITLE_EM, TICK_EM, TICK_LEN};
use crate::font::{fit_text, text_width};

/// How values are mapped to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorScale {
    /// Perceptually uniform dark-purple to yellow (viridis-like), from the smallest to
    /// the largest finite value.
    #[default]
    Sequential,
    /// Blue - white - red, symmetric around 0 (white is 0, the limits are
    /// `±max|value|`); for signed quantities such as current contributions.
    Diverging,
    /// A mask: 0 is white, any other finite value is dark. `log10` is ignored.
    Binary,
}

/// One heat map panel: a `rows x cols` array drawn as coloured cells with a colour bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heatmap {
    /// Panel title (may be empty).
    pub title: String,
    /// Number of rows (drawn top to bottom, row 0 at the top).
    pub rows: usize,
    /// Number of columns (drawn left to right, column 0 at the left).
    pub cols: usize,
    /// Row-major values, `rows * cols` of them. Non-finite values (and, with `log10`,
    /// values `<= 0`) are drawn grey and ignored for the colour range.
    pub values: Vec<f64>,
    /// Colour mapping.
    pub scale: ColorScale,
    /// Colour by `log10(value)` (e.g. conductances); colour bar ticks are still shown in
    /// real units (`1e-5`, `1e-4`, ...).
    pub log10: bool,
    /// Label of the colour bar, e.g. `"conductance (S)"`.
    pub colorbar_label: String,
    /// X axis label, e.g. `"column"`.
    pub x_label: String,
    /// Y axis label, e.g. `"row"`.
    pub y_label: String,
    /// Cells to mark (e.g. those hit by a defect), row-major, `rows * cols` entries:
    /// each marked cell gets a diagonal hatch line and each marked region an outline.
    pub outline: Option<Vec<bool>>,
    /// Short text lines shown under the title, e.g. `"true 6, predicted 7"`.
    pub annotations: Vec<String>,
}

/// A grid of [`Heatmap`] panels with a common title.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeatmapGrid {
    /// Figure title (may be empty).
    pub title: String,
    /// Panels, filled into the grid row by row; panels may have different shapes.
    pub panels: Vec<Heatmap>,
    /// Number of grid columns; `0` picks about `sqrt(panels)`.
    pub columns: usize,
    /// Pixel size of one array cell, e.g. `8`.
    pub cell_px: u32,
}

const PAD: f64 = 10.0;
const ANN_EM: f64 = 15.5;
/// Widest title or annotation a panel grows to fit (px).
const MAX_TEXT_W: f64 = 900.0;
const BAR_GAP: i32 = 16;
const BAR_W: i32 = 16;
const MIN_BAR_H: i32 = 140;
/// Side of a mask swatch (px).
const SWATCH: i32 = 16;
const FRAME: Rgba = Rgba::rgb(70, 70, 70);
const NAN_COLOR: Rgba = Rgba::rgb(175, 175, 175);
const MASK_DARK: Rgba = Rgba::rgb(35, 35, 35);

/// Viridis-like stops (9 samples of the perceptually uniform map).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2d, 0x7b),
    (0x3b, 0x52, 0x8b),
    (0x2c, 0x72, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x28, 0xae, 0x80),
    (0x5e, 0xc9, 0x62),
    (0xad, 0xdc, 0x30),
    (0xfd, 0xe7, 0x25),
];

/// Blue - white - red diverging stops.
const DIVERGING: [(u8, u8, u8); 7] = [
    (0x21, 0x66, 0xac),
    (0x67, 0xa9, 0xcf),
    (0xd1, 0xe5, 0xf0),
    (0xf7, 0xf7, 0xf7),
    (0xfd, 0xdb, 0xc7),
    (0xef, 0x8a, 0x62),
    (0xb2, 0x18, 0x2b),
];

/// Linear interpolation in a list of colour stops; `t` in `[0, 1]`.
fn interpolate(stops: &[(u8, u8, u8)], t: f64) -> Rgba {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |p: u8, q: u8| (f64::from(p) + (f64::from(q) - f64::from(p)) * f).round() as u8;
    Rgba::rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Resolved colour mapping of one panel.
#[derive(Debug, Clone, Copy)]
struct ColorMap {
    scale: ColorScale,
    log10: bool,
    /// Range in transformed (possibly log10) units.
    lo: f64,
    hi: f64,
}

impl ColorMap {
    fn transform(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            None
        } else if self.log10 && self.scale != ColorScale::Binary {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }

    fn of_transformed(&self, t: f64) -> Rgba {
        match self.scale {
            ColorScale::Binary => {
                if t != 0.0 {
                    MASK_DARK
                } else {
                    Rgba::rgb(255, 255, 255)
                }
            }
            ColorScale::Sequential => interpolate(&VIRIDIS, (t - self.lo) / (self.hi - self.lo)),
            ColorScale::Diverging => interpolate(&DIVERGING, (t - self.lo) / (self.hi - self.lo)),
        }
    }

    fn color(&self, v: f64) -> Rgba {
        self.transform(v)
            .map_or(NAN_COLOR, |t| self.of_transformed(t))
    }

    fn outline_color(&self) -> Rgba {
        match self.scale {
            ColorScale::Sequential | ColorScale::Binary => Rgba::rgb(235, 20, 45),
            ColorScale::Diverging => Rgba::rgb(0, 0, 0),
        }
    }
}

/// Colour bar: a gradient (or two swatches for masks) with ticks.
struct BarPlan {
    x: i32,
    y: i32,
    h: i32,
    /// One colour per pixel row, top to bottom (empty for masks).
    gradient: Vec<Rgba>,
    /// Mask swatches (dark on top, white below).
    binary: bool,
    /// `(pixel y, label)`.
    ticks: Vec<(i32, String)>,
    /// Unlabelled minor ticks (log scale: 2..9 x 10^k).
    minor: Vec<i32>,
    label: String,
    label_x: i32,
    /// NaN swatch top-left corner, if any cell is grey.
    nan_swatch: Option<(i32, i32)>,
}

struct HeatPlan {
    title: String,
    annotations: Vec<String>,
    /// Panel origin and width.
    ox: i32,
    oy: i32,
    pw: i32,
    /// Map origin (top-left of cell (0, 0)).
    mx: i32,
    my: i32,
    rows: usize,
    cols: usize,
    cell: i32,
    colors: Vec<Rgba>,
    outline: Option<Vec<bool>>,
    outline_color: Rgba,
    x_ticks: Vec<(i32, String)>,
    y_ticks: Vec<(i32, String)>,
    x_label: String,
    y_label: String,
    x_label_y: i32,
    y_label_x: i32,
    bar: BarPlan,
}

struct GridPlan {
    width: u32,
    height: u32,
    title: String,
    panels: Vec<HeatPlan>,
}

/// Renders a grid of heat maps to `<stem>.svg` and `<stem>.png` and returns both paths
/// (SVG first).
///
/// Every panel has a colour bar with tick labels in real units (for `log10` maps,
/// decade ticks such as `1e-5`, `1e-4`); rows are drawn top to bottom (row 0 at the
/// top) and column 0 at the left, as a crossbar array is usually drawn. Non-finite
/// cells are grey (a grey `n/a` swatch then appears under the colour bar). Both files
/// are written atomically.
///
/// # Errors
/// [`ReportError::InvalidFigure`] if there are no panels, `cell_px` is 0, a panel has
/// zero rows or columns, `values` or `outline` does not have `rows * cols` entries, or
/// the image would be too large; [`ReportError::Io`]/[`ReportError::Plot`] if writing
/// fails.
pub fn render_heatmaps(grid: &HeatmapGrid, stem: &Path) -> Result<Vec<PathBuf>> {
    let plan = plan_grid(grid)?;
    render_scene(&plan, stem)
}

fn plan_grid(grid: &HeatmapGrid) -> Result<GridPlan> {
    if grid.panels.is_empty() {
        return Err(ReportError::invalid("heat map grid has no panels"));
    }
    if grid.cell_px == 0 {
        return Err(ReportError::invalid("cell_px must be at least 1"));
    }
    if grid.cell_px > 256 {
        return Err(ReportError::invalid(format!(
            "cell_px {} is larger than 256",
            grid.cell_px
        )));
    }
    for (i, h) in grid.panels.iter().enumerate() {
        validate(h).map_err(|what| {
            ReportError::invalid(format!("heat map {i} ({:?}): {what}", h.title))
        })?;
    }
    let n = grid.panels.len();
    let cols = if grid.columns == 0 {
        (n as f64).sqrt().ceil().max(1.0) as usize
    } else {
        grid.columns.min(n).max(1)
    };
    let rows = n.div_ceil(cols);
    let title_h = if grid.title.is_empty() {
        4
    } else {
        (FIG_TITLE_EM * 1.25 + 12.0).round() as i32
    };
    // First pass: sizes of each panel at the origin.
    let mut plans = Vec::with_capacity(n);
    for h in &grid.panels {
        plans.push(plan_panel(h, grid.cell_px as i32)?);
    }
    let cell_w = plans.iter().map(|(_, w, _)| *w).max().unwrap_or(0);
    let cell_h = plans.iter().map(|(_, _, h)| *h).max().unwrap_or(0);
    let width = i64::from(cell_w) * cols as i64;
    let height = i64::from(title_h) + i64::from(cell_h) * rows as i64;
    if width > i64::from(crate::canvas::MAX_SIDE) || height > i64::from(crate::canvas::MAX_SIDE) {
        return Err(ReportError::invalid(format!(
            "heat map grid of {width} x {height} px is too large"
        )));
    }
    let (width, height) = (width as u32, height as u32);
    check_size(width, height)?;
    let panels = plans
        .into_iter()
        .enumerate()
        .map(|(i, (mut p, w, _))| {
            let dx = (i % cols) as i32 * cell_w + (cell_w - w) / 2;
            let dy = title_h + (i / cols) as i32 * cell_h;
            p.shift(dx, dy);
            p
        })
        .collect();
    Ok(GridPlan {
        width,
        height,
        title: grid.title.clone(),
        panels,
    })
}

fn validate(h: &Heatmap) -> std::result::Result<(), String> {
    if h.rows == 0 || h.cols == 0 {
        return Err(format!("size {} x {} is empty", h.rows, h.cols));
    }
    let n = h
        .rows
        .checked_mul(h.cols)
        .ok_or_else(|| format!("size {} x {} overflows", h.rows, h.cols))?;
    if h.rows > 4096 || h.cols > 4096 {
        return Err(format!(
            "size {} x {} is too large (at most 4096 per side)",
            h.rows, h.cols
        ));
    }
    if h.values.len() != n {
        return Err(format!(
            "values has {} entries, expected rows * cols = {} * {} = {n}",
            h.values.len(),
            h.rows,
            h.cols
        ));
    }
    if let Some(o) = h.outline.as_ref().filter(|o| o.len() != n) {
        return Err(format!(
            "outline has {} entries, expected rows * cols = {n}",
            o.len()
        ));
    }
    Ok(())
}

/// Smallest step in 1, 2, 5, 10, 20, 50, ... whose pixel spacing is at least `min_px`.
fn index_step(cell: i32, min_px: f64) -> usize {
    let mut base = 1usize;
    loop {
        for m in [1, 2, 5] {
            let s = base * m;
            if s as f64 * f64::from(cell) >= min_px || s >= 1_000_000 {
                return s;
            }
        }
        base *= 10;
    }
}

fn resolve_map(h: &Heatmap) -> (ColorMap, bool) {
    let mut cm = ColorMap {
        scale: h.scale,
        log10: h.log10 && h.scale != ColorScale::Binary,
        lo: 0.0,
        hi: 1.0,
    };
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut any_nan = false;
    for &v in &h.values {
        match cm.transform(v) {
            Some(t) => {
                lo = lo.min(t);
                hi = hi.max(t);
            }
            None => any_nan = true,
        }
    }
    match h.scale {
        ColorScale::Binary => {}
        ColorScale::Sequential => {
            if lo.is_finite() {
                if hi > lo && (hi - lo).is_finite() {
                    (cm.lo, cm.hi) = (lo, hi);
                } else if cm.log10 {
                    (cm.lo, cm.hi) = (lo - 0.5, lo + 0.5);
                } else {
                    let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
                    (cm.lo, cm.hi) = (lo - d, lo + d);
                }
            }
        }
        ColorScale::Diverging => {
            let m = if lo.is_finite() {
                lo.abs().max(hi.abs())
            } else {
                1.0
            };
            let m = if m > 0.0 && m.is_finite() { m } else { 1.0 };
            (cm.lo, cm.hi) = (-m, m);
        }
    }
    (cm, any_nan)
}

/// Plans one panel at origin (0, 0); returns the plan and its width and height.
fn plan_panel(h: &Heatmap, cell: i32) -> Result<(HeatPlan, i32, i32)> {
    let (cm, any_nan) = resolve_map(h);
    let colors: Vec<Rgba> = h.values.iter().map(|&v| cm.color(v)).collect();
    let map_w = h.cols as i32 * cell;
    let map_h = h.rows as i32 * cell;

    // Vertical layout.
    let title_h = if h.title.is_empty() {
        0.0
    } else {
        PANEL_TITLE_EM * 1.2 + 4.0
    };
    let ann_h = h.annotations.len() as f64 * ANN_EM * 1.3;
    let head_gap = if title_h > 0.0 || ann_h > 0.0 {
        6.0
    } else {
        0.0
    };
    let my = (PAD + title_h + ann_h + head_gap + TICK_EM * 0.5).round() as i32;

    // Index ticks.
    let y_step = index_step(cell, TICK_EM * 1.4);
    let y_ticks_v: Vec<usize> = (0..h.rows).step_by(y_step).collect();
    let widest_col = text_width(&(h.cols - 1).to_string(), TICK_EM);
    let x_step = index_step(cell, widest_col + 12.0);
    let x_ticks_v: Vec<usize> = (0..h.cols).step_by(x_step).collect();
    let ytw = y_ticks_v
        .iter()
        .map(|r| text_width(&r.to_string(), TICK_EM))
        .fold(0.0, f64::max);

    let y_label_w = if h.y_label.is_empty() {
        0.0
    } else {
        AXIS_EM * 1.05 + 8.0
    };
    let mx = (PAD + y_label_w + ytw + 4.0 + f64::from(TICK_LEN)).round() as i32;
    let x_label_h = if h.x_label.is_empty() {
        0.0
    } else {
        AXIS_EM * 1.05 + 6.0
    };
    let below_map = f64::from(TICK_LEN) + 3.0 + TICK_EM * 1.05 + x_label_h + PAD;

    let half = cell / 2;
    let x_ticks = x_ticks_v
        .iter()
        .map(|&c| (mx + c as i32 * cell + half, c.to_string()))
        .collect();
    let y_ticks = y_ticks_v
        .iter()
        .map(|&r| (my + r as i32 * cell + half, r.to_string()))
        .collect();

    // Colour bar.
    let bar_x = mx + map_w + BAR_GAP;
    let binary = cm.scale == ColorScale::Binary;
    // A mask gets two swatches under a horizontal heading instead of a gradient.
    let heading_h = if binary && !h.colorbar_label.is_empty() {
        24
    } else {
        0
    };
    let bar_h = if binary {
        heading_h + 2 * SWATCH + 8
    } else {
        map_h.max(MIN_BAR_H)
    };
    let bar_y = my;
    let (gradient, ticks, minor) = plan_bar(&cm, bar_y + heading_h, bar_h - heading_h);
    let tick_w = ticks
        .iter()
        .map(|(_, l)| text_width(l, TICK_EM))
        .fold(0.0, f64::max)
        .max(if any_nan {
            text_width("n/a", TICK_EM)
        } else {
            0.0
        });
    let label_x = (f64::from(bar_x + BAR_W + 4 + 3) + tick_w + 8.0).round() as i32;
    let cb_label_w = if h.colorbar_label.is_empty() || binary {
        0.0
    } else {
        AXIS_EM * 1.05
    };
    let nan_h = if any_nan { 26 } else { 0 };
    let nan_swatch = any_nan.then_some((bar_x, bar_y + bar_h + 10));

    let cb_label = if binary {
        fit_text(&h.colorbar_label, TICK_EM, 300.0)
    } else {
        fit_text(&h.colorbar_label, AXIS_EM, f64::from(bar_h) + 20.0)
    };
    let heading_w = if binary {
        text_width(&cb_label, TICK_EM)
    } else {
        0.0
    };
    let content_w = (f64::from(label_x) + cb_label_w + PAD)
        .max(f64::from(bar_x) + heading_w + PAD)
        .ceil() as i32;
    let title_w = text_width(&h.title, PANEL_TITLE_EM);
    let ann_w = h
        .annotations
        .iter()
        .map(|a| text_width(a, ANN_EM))
        .fold(0.0, f64::max);
    // Titles may widen the panel, up to a limit; longer text is shortened.
    let pw = content_w.max((title_w.max(ann_w).min(MAX_TEXT_W) + 2.0 * PAD).ceil() as i32);
    let text_room = f64::from(pw) - 2.0 * PAD;
    let ph = (f64::from(my) + f64::from(map_h) + below_map)
        .max(f64::from(bar_y + bar_h + nan_h) + PAD)
        .ceil() as i32;

    let plan = HeatPlan {
        title: fit_text(&h.title, PANEL_TITLE_EM, text_room).into_owned(),
        annotations: h
            .annotations
            .iter()
            .map(|a| fit_text(a, ANN_EM, text_room).into_owned())
            .collect(),
        ox: 0,
        oy: 0,
        pw,
        mx,
        my,
        rows: h.rows,
        cols: h.cols,
        cell,
        colors,
        outline: h.outline.clone(),
        outline_color: cm.outline_color(),
        x_ticks,
        y_ticks,
        x_label: fit_text(&h.x_label, AXIS_EM, f64::from(map_w) + 60.0).into_owned(),
        y_label: fit_text(&h.y_label, AXIS_EM, f64::from(map_h) + 40.0).into_owned(),
        x_label_y: (f64::from(my + map_h + TICK_LEN) + 3.0 + TICK_EM * 1.05 + 6.0).round() as i32,
        y_label_x: PAD as i32,
        bar: BarPlan {
            x: bar_x,
            y: bar_y,
            h: bar_h,
            gradient,
            binary,
            ticks,
            minor,
            label: cb_label.into_owned(),
            label_x,
            nan_swatch,
        },
    };
    Ok((plan, pw, ph))
}

type BarParts = (Vec<Rgba>, Vec<(i32, String)>, Vec<i32>);

/// Gradient, labelled ticks and minor ticks of a colour bar occupying `[y, y + h)`.
fn plan_bar(cm: &ColorMap, y: i32, h: i32) -> BarParts {
    if cm.scale == ColorScale::Binary {
        let c = SWATCH / 2;
        let ticks = vec![
            (y + c, "1".to_owned()),
            (y + SWATCH + 8 + c, "0".to_owned()),
        ];
        return (Vec::new(), ticks, Vec::new());
    }
    let (lo, hi) = (cm.lo, cm.hi);
    let gradient = (0..h)
        .map(|k| {
            let t = hi - (f64::from(k) + 0.5) / f64::from(h) * (hi - lo);
            cm.of_transformed(t)
        })
        .collect();
    let target = ((f64::from(h) / 45.0) as usize).clamp(2, 8);
    let to_px = |t: f64| (f64::from(y + h) - (t - lo) / (hi - lo) * f64::from(h)).round() as i32;
    let mut minor = Vec::new();
    let ticks = if cm.log10 {
        let major = log_ticks(lo, hi, target);
        // Minor ticks at 2..9 x 10^k when the labels are whole decades and not too many.
        let whole_decades = major.iter().all(|(t, _)| (t - t.round()).abs() < 1e-9);
        if whole_decades && hi - lo <= 8.0 {
            for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
                for m in 2..=9 {
                    let t = (m as f64).log10() + k as f64;
                    if t > lo && t < hi {
                        minor.push(to_px(t));
                    }
                }
            }
        }
        major.into_iter().map(|(t, l)| (to_px(t), l)).collect()
    } else {
        let (t, step) = linear_ticks(lo, hi, target);
        let labels = format_ticks(&t, step);
        t.iter().zip(labels).map(|(&v, l)| (to_px(v), l)).collect()
    };
    (gradient, ticks, minor)
}

impl HeatPlan {
    fn shift(&mut self, dx: i32, dy: i32) {
        self.ox += dx;
        self.oy += dy;
        self.mx += dx;
        self.my += dy;
        for t in &mut self.x_ticks {
            t.0 += dx;
        }
        for t in &mut self.y_ticks {
            t.0 += dy;
        }
        self.x_label_y += dy;
        self.y_label_x += dx;
        let b = &mut self.bar;
        b.x += dx;
        b.y += dy;
        b.label_x += dx;
        for t in &mut b.ticks {
            t.0 += dy;
        }
        for t in &mut b.minor {
            *t += dy;
        }
        if let Some(s) = &mut b.nan_swatch {
            s.0 += dx;
            s.1 += dy;
        }
    }

    fn paint<DB: DrawingBackend>(&self, p: &mut Painter<'_, DB>) -> DrawResult<DB>
    where
        DB::ErrorType: 'static,
    {
        let c = self.cell;
        let (mx, my) = (self.mx, self.my);
        let map_w = self.cols as i32 * c;
        let map_h = self.rows as i32 * c;

        // Title and annotations, centred over the map but kept inside the panel.
        let centre = |w: f64| {
            let half = (w / 2.0).ceil() as i32;
            (mx + map_w / 2).clamp(
                self.ox + half + 4,
                (self.ox + self.pw - half - 4).max(self.ox + half + 4),
            )
        };
        let mut y = self.oy + PAD as i32;
        if !self.title.is_empty() {
            let cx = centre(text_width(&self.title, PANEL_TITLE_EM));
            p.text(
                &self.title,
                (cx, y),
                PANEL_TITLE_EM,
                TEXT,
                Anchor(HPos::Center, VPos::Top),
                FontTransform::None,
            )?;
            y += (PANEL_TITLE_EM * 1.2 + 4.0) as i32;
        }
        for (k, a) in self.annotations.iter().enumerate() {
            let cx = centre(text_width(a, ANN_EM));
            let ay = y + (k as f64 * ANN_EM * 1.3).round() as i32;
            p.text(
                a,
                (cx, ay),
                ANN_EM,
                TEXT_SOFT,
                Anchor(HPos::Center, VPos::Top),
                FontTransform::None,
            )?;
        }

        // Cells, merging horizontal runs of equal colour (keeps the SVG small).
        for r in 0..self.rows {
            let row = &self.colors[r * self.cols..(r + 1) * self.cols];
            let mut start = 0;
            while start < self.cols {
                let mut end = start + 1;
                while end < self.cols && row[end] == row[start] {
                    end += 1;
                }
                let y0 = my + r as i32 * c;
                p.rect(
                    mx + start as i32 * c,
                    y0,
                    mx + end as i32 * c,
                    y0 + c,
                    row[start],
                )?;
                start = end;
            }
        }
        if let Some(mask) = &self.outline {
            self.paint_outline(p, mask)?;
        }
        p.frame(mx - 1, my - 1, mx + map_w + 1, my + map_h + 1, 1, FRAME)?;

        // Index ticks.
        for (x, l) in &self.x_ticks {
            p.rect(*x, my + map_h + 1, x + 1, my + map_h + 1 + TICK_LEN, FRAME)?;
            p.text(
                l,
                (*x, my + map_h + TICK_LEN + 3),
                TICK_EM,
                TEXT,
                Anchor(HPos::Center, VPos::Top),
                FontTransform::None,
            )?;
        }
        for (yy, l) in &self.y_ticks {
            p.rect(mx - 1 - TICK_LEN, *yy, mx - 1, yy + 1, FRAME)?;
            p.text(
                l,
                (mx - TICK_LEN - 4, *yy),
                TICK_EM,
                TEXT,
                Anchor(HPos::Right, VPos::Center),
                FontTransform::None,
            )?;
        }
        p.text(
            &self.x_label,
            (mx + map_w / 2, self.x_label_y),
            AXIS_EM,
            TEXT,
            Anchor(HPos::Center, VPos::Top),
            FontTransform::None,
        )?;
        p.text(
            &self.y_label,
            (self.y_label_x, my + map_h / 2),
            AXIS_EM,
            TEXT,
            Anchor(HPos::Center, VPos::Top),
            FontTransform::Rotate270,
        )?;
        self.paint_bar(p)
    }

    fn paint_outline<DB: DrawingBackend>(
        &self,
        p: &mut Painter<'_, DB>,
        mask: &[bool],
    ) -> DrawResult<DB>
    where
        DB::ErrorType: 'static,
    {
        let c = self.cell;
        let lw = (c / 4).clamp(1, 3);
        let col = self.outline_color;
        let at = |r: usize, k: usize| mask[r * self.cols + k];
        for r in 0..self.rows {
            for k in 0..self.cols {
                if !at(r, k) {
                    continue;
                }
                let (x, y) = (self.mx + k as i32 * c, self.my + r as i32 * c);
                if c >= 5 {
                    p.polyline(&[(x, y + c), (x + c, y)], 1, col)?;
                }
                if r == 0 || !at(r - 1, k) {
                    p.rect(x, y, x + c, y + lw, col)?;
                }
                if r + 1 == self.rows || !at(r + 1, k) {
                    p.rect(x, y + c - lw, x + c, y + c, col)?;
                }
                if k == 0 || !at(r, k - 1) {
                    p.rect(x, y, x + lw, y + c, col)?;
                }
                if k + 1 == self.cols || !at(r, k + 1) {
                    p.rect(x + c - lw, y, x + c, y + c, col)?;
                }
            }
        }
        Ok(())
    }

    fn paint_bar<DB: DrawingBackend>(&self, p: &mut Painter<'_, DB>) -> DrawResult<DB>
    where
        DB::ErrorType: 'static,
    {
        let b = &self.bar;
        if b.binary {
            let mut y = b.y;
            if !b.label.is_empty() {
                p.text(
                    &b.label,
                    (b.x, y),
                    TICK_EM,
                    TEXT,
                    Anchor(HPos::Left, VPos::Top),
                    FontTransform::None,
                )?;
                y += 24;
            }
            for (k, c) in [MASK_DARK, Rgba::rgb(255, 255, 255)]
                .into_iter()
                .enumerate()
            {
                let sy = y + k as i32 * (SWATCH + 8);
                p.rect(b.x, sy, b.x + BAR_W, sy + SWATCH, c)?;
                p.frame(b.x - 1, sy - 1, b.x + BAR_W + 1, sy + SWATCH + 1, 1, FRAME)?;
            }
            for (y, l) in &b.ticks {
                p.text(
                    l,
                    (b.x + BAR_W + 8, *y),
                    TICK_EM,
                    TEXT,
                    Anchor(HPos::Left, VPos::Center),
                    FontTransform::None,
                )?;
            }
        } else {
            // Merge rows of equal colour.
            let mut k = 0;
            while k < b.gradient.len() {
                let mut e = k + 1;
                while e < b.gradient.len() && b.gradient[e] == b.gradient[k] {
                    e += 1;
                }
                p.rect(
                    b.x,
                    b.y + k as i32,
                    b.x + BAR_W,
                    b.y + e as i32,
                    b.gradient[k],
                )?;
                k = e;
            }
            p.frame(b.x - 1, b.y - 1, b.x + BAR_W + 1, b.y + b.h + 1, 1, FRAME)?;
            for y in &b.minor {
                p.rect(b.x + BAR_W + 1, *y, b.x + BAR_W + 1 + 2, y + 1, FRAME)?;
            }
            for (y, l) in &b.ticks {
                p.rect(b.x + BAR_W + 1, *y, b.x + BAR_W + 1 + 4, y + 1, FRAME)?;
                p.text(
                    l,
                    (b.x + BAR_W + 8, *y),
                    TICK_EM,
                    TEXT,
                    Anchor(HPos::Left, VPos::Center),
                    FontTransform::None,
                )?;
            }
            p.text(
                &b.label,
                (b.label_x, b.y + b.h / 2),
                AXIS_EM,
                TEXT,
                Anchor(HPos::Center, VPos::Top),
                FontTransform::Rotate270,
            )?;
        }
        if let Some((sx, sy)) = b.nan_swatch {
            p.rect(sx, sy, sx + BAR_W, sy + 14, NAN_COLOR)?;
            p.frame(sx - 1, sy - 1, sx + BAR_W + 1, sy + 15, 1, FRAME)?;
            p.text(
                "n/a",
                (sx + BAR_W + 8, sy + 7),
                TICK_EM,
                TEXT,
                Anchor(HPos::Left, VPos::Center),
                FontTransform::None,
            )?;
        }
        Ok(())
    }
}

impl Scene for GridPlan {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn paint<DB: DrawingBackend>(&self, p: &mut Painter<'_, DB>) -> DrawResult<DB>
    where
        DB::ErrorType: 'static,
    {
        crate::canvas::paint_title(p, &self.title, self.width)?;
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
    fn interpolation_hits_stops() {
        assert_eq!(interpolate(&VIRIDIS, 0.0), Rgba::rgb(0x44, 0x01, 0x54));
        assert_eq!(interpolate(&VIRIDIS, 1.0), Rgba::rgb(0xfd, 0xe7, 0x25));
        assert_eq!(interpolate(&DIVERGING, 0.5), Rgba::rgb(0xf7, 0xf7, 0xf7));
        assert_eq!(interpolate(&VIRIDIS, f64::NAN), Rgba::rgb(0x44, 0x01, 0x54));
    }

    #[test]
    fn index_steps() {
        assert_eq!(index_step(8, 19.6), 5);
        assert_eq!(index_step(8, 30.0), 5);
        assert_eq!(index_step(1, 30.0), 50);
        assert_eq!(index_step(40, 10.0), 1);
    }

    #[test]
    fn diverging_is_symmetric() {
        let h = Heatmap {
            rows: 1,
            cols: 3,
            values: vec![-2.0, 0.5, f64::INFINITY],
            scale: ColorScale::Diverging,
            ..Heatmap::default()
        };
        let (cm, nan) = resolve_map(&h);
        assert!(nan);
        assert_eq!((cm.lo, cm.hi), (-2.0, 2.0));
        assert_eq!(cm.color(0.0), Rgba::rgb(0xf7, 0xf7, 0xf7));
        assert_eq!(cm.color(f64::NAN), NAN_COLOR);
    }
}

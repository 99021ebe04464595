//! Heat maps of 2-D arrays (conductances, defect masks, per-cell currents) with colour bars.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::colors::colormaps::{DerivedColorMap, ViridisRGB};
use plotters::style::text_anchor::HPos;

use crate::error::{ReportError, Result};
use crate::plot::{
    INK, LABEL_PX, Msg, PANEL_TITLE_PX, TICK_PX, TITLE_PX, figure_title, fit, font, grid, label,
    number, save, text_width,
};

/// How values are mapped to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorScale {
    /// Viridis (perceptually uniform, colour-blind safe; plotters' tabulation of
    /// matplotlib's map), from the smallest to the largest finite value.
    #[default]
    Sequential,
    /// Blue - white - red (ColorBrewer RdBu), symmetric around 0; for signed quantities.
    Diverging,
}

/// One heat map panel: a `rows x cols` array drawn as coloured cells with a colour bar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heatmap {
    /// Panel title (may be empty).
    pub title: String,
    /// Number of rows (row 0 at the top).
    pub rows: usize,
    /// Number of columns (column 0 at the left).
    pub cols: usize,
    /// Row-major values, `rows * cols`; non-finite ones (and, with `log10`, those `<= 0`)
    /// are grey and left out of the colour range.
    pub values: Vec<f64>,
    /// Colour mapping.
    pub scale: ColorScale,
    /// Colour by `log10(value)`; the colour bar is labelled in real units.
    pub log10: bool,
    /// Label of the colour bar, e.g. `"G+ (S)"`.
    pub colorbar_label: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Names of the columns as tick labels (empty: column indices).
    pub col_names: Vec<String>,
    /// Names of the rows as tick labels (empty: row indices).
    pub row_names: Vec<String>,
    /// Cells to outline (e.g. those hit by a defect), row-major, `rows * cols` entries.
    pub outline: Option<Vec<bool>>,
    /// Short lines under the title, e.g. `"true 6, predicted 7"`.
    pub annotations: Vec<String>,
}

/// A grid of [`Heatmap`] panels with a common title.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeatmapGrid {
    /// Figure title (may be empty).
    pub title: String,
    /// Panels, row by row; they may have different shapes.
    pub panels: Vec<Heatmap>,
    /// Grid columns; `0` picks about `sqrt(panels)`.
    pub columns: usize,
    /// Pixel size of one array cell.
    pub cell_px: u32,
}

const NAN_GREY: RGBColor = RGBColor(175, 175, 175);
/// Left of a map: tick labels and the rotated y label.
const LEFT: u32 = 76;
/// Under a map: tick labels and the x label.
const BELOW: u32 = 56;
/// Right of a map: the colour bar with its ticks and label.
const BAR_ZONE: u32 = 150;
const MIN_MAP_H: u32 = 150;

/// The colour range of a panel in transformed units, and the transform.
struct Scale {
    kind: ColorScale,
    log10: bool,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn of(h: &Heatmap) -> Self {
        let t = |v: f64| {
            if h.log10 {
                (v > 0.0).then(|| v.log10())
            } else {
                Some(v)
            }
        };
        let vals = h
            .values
            .iter()
            .filter(|v| v.is_finite())
            .filter_map(|&v| t(v));
        let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = match h.scale {
            ColorScale::Diverging => {
                let m = lo.abs().max(hi.abs());
                if m.is_finite() && m > 0.0 {
                    (-m, m)
                } else {
                    (-1.0, 1.0)
                }
            }
            ColorScale::Sequential if !lo.is_finite() => (0.0, 1.0),
            ColorScale::Sequential if lo == hi => (lo - 0.5, hi + 0.5),
            ColorScale::Sequential => (lo, hi),
        };
        Self {
            kind: h.scale,
            log10: h.log10,
            lo,
            hi,
        }
    }

    /// Colour of a transformed value.
    fn color_t(&self, t: f64) -> RGBColor {
        match self.kind {
            ColorScale::Sequential => ViridisRGB.get_color_normalized(t, self.lo, self.hi),
            ColorScale::Diverging => DerivedColorMap::new(&[
                RGBColor(0x21, 0x66, 0xac),
                RGBColor(0x67, 0xa9, 0xcf),
                RGBColor(0xd1, 0xe5, 0xf0),
                RGBColor(0xf7, 0xf7, 0xf7),
                RGBColor(0xfd, 0xdb, 0xc7),
                RGBColor(0xef, 0x8a, 0x62),
                RGBColor(0xb2, 0x18, 0x2b),
            ])
            .get_color_normalized(t.clamp(self.lo, self.hi), self.lo, self.hi),
        }
    }

    fn color(&self, v: f64) -> RGBColor {
        match (v.is_finite(), self.log10) {
            (true, false) => self.color_t(v),
            (true, true) if v > 0.0 => self.color_t(v.log10()),
            _ => NAN_GREY,
        }
    }

    /// A colour-bar tick label for transformed value `t` (log maps: powers of ten only
    /// when the range spans two decades or more).
    fn tick(&self, t: f64) -> String {
        if self.log10 && self.hi - self.lo >= 2.0 {
            return if (t - t.round()).abs() < 1e-9 {
                format!("1e{}", t.round())
            } else {
                String::new()
            };
        }
        number(if self.log10 { 10f64.powf(t) } else { t })
    }
}

/// Tick label of cell index `v`: the name when given, else the index; off-cell ticks empty.
fn cell_tick(v: f64, n: usize, names: &[String]) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 || i >= n as f64 {
        return String::new();
    }
    names
        .get(i as usize)
        .cloned()
        .unwrap_or_else(|| format!("{i}"))
}

fn validate(g: &HeatmapGrid) -> Result<()> {
    if g.panels.is_empty() || g.cell_px == 0 {
        return Err(ReportError::invalid(
            "a heat map grid needs panels and cell_px > 0",
        ));
    }
    for h in &g.panels {
        let n = h.rows.checked_mul(h.cols).filter(|&n| n > 0);
        if n != Some(h.values.len())
            || h.outline
                .as_ref()
                .is_some_and(|o| o.len() != h.values.len())
        {
            return Err(ReportError::invalid(format!(
                "heat map `{}`: {} x {} cells but {} values",
                h.title,
                h.rows,
                h.cols,
                h.values.len()
            )));
        }
    }
    Ok(())
}

/// Pixel layout of a panel: map width and height, header height (title and annotations)
/// and the width left of the map (tick labels and y label).
#[derive(Clone, Copy)]
struct Layout {
    map_w: u32,
    map_h: u32,
    header: u32,
    left: u32,
}

impl Layout {
    fn of(h: &Heatmap, cell: u32) -> Self {
        let widest = |names: &[String]| names.iter().map(|n| text_width(n, TICK_PX) as u32).max();
        let cell_w = widest(&h.col_names).map_or(cell, |w| cell.max(w + 12));
        Self {
            map_w: (h.cols as u32).saturating_mul(cell_w),
            map_h: (h.rows as u32).saturating_mul(cell),
            header: 30 + 22 * h.annotations.len() as u32,
            left: widest(&h.row_names).map_or(LEFT, |w| LEFT.max(w + 44)),
        }
    }
}

/// Renders `grid` to `<stem>.svg` and `<stem>.png` (rasterised from the SVG); returns both
/// paths. Every panel has its own colour bar; outlined cells get a black-and-white border
/// around each marked region, visible on any colour.
///
/// # Errors
/// [`ReportError::InvalidFigure`] for no panels, `cell_px == 0`, a value or outline count
/// that does not match `rows * cols`, or a too large image; [`ReportError::Plot`] or
/// [`ReportError::Io`] when drawing or writing fails.
pub fn render_heatmaps(g: &HeatmapGrid, stem: &Path) -> Result<Vec<PathBuf>> {
    validate(g)?;
    let (rows, cols) = grid(g.panels.len(), g.columns);
    let sizes: Vec<_> = g.panels.iter().map(|h| Layout::of(h, g.cell_px)).collect();
    let text_w = |h: &Heatmap| {
        let lines = h.annotations.iter().map(|a| text_width(a, TICK_PX + 1.0));
        lines.fold(text_width(&h.title, PANEL_TITLE_PX), f64::max) as u32 + 30
    };
    let slot_w = g
        .panels
        .iter()
        .zip(&sizes)
        .map(|(h, s)| (s.left + s.map_w + BAR_ZONE + 16).max(text_w(h)));
    let slot_w = slot_w.max().unwrap_or(1).min(1600);
    let slot_h = sizes
        .iter()
        .map(|s| s.header + s.map_h.max(MIN_MAP_H) + BELOW + 10)
        .max()
        .unwrap_or(1);
    let title_h = if g.title.is_empty() { 0 } else { 46 };
    let width = slot_w.saturating_mul(cols as u32);
    let width = width.max((text_width(&g.title, TITLE_PX) as u32 + 40).min(width * 3 / 2));
    let height = slot_h.saturating_mul(rows as u32).saturating_add(title_h);
    save(stem, (width, height), |root| {
        figure_title(root, &g.title, width)?;
        let body = root.split_vertically(title_h).1;
        for ((h, s), area) in g
            .panels
            .iter()
            .zip(&sizes)
            .zip(body.split_evenly((rows, cols)))
        {
            draw_panel(&area, h, *s, slot_w)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &crate::plot::Area<'_>,
    h: &Heatmap,
    Layout {
        map_w,
        map_h,
        header,
        left: left_w,
    }: Layout,
    slot_w: u32,
) -> std::result::Result<(), String> {
    let center = slot_w as i32 / 2;
    let max_w = f64::from(slot_w) - 16.0;
    label(
        area,
        &fit(&h.title, PANEL_TITLE_PX, max_w),
        (center, 6),
        font(PANEL_TITLE_PX),
        HPos::Center,
    )?;
    for (i, a) in h.annotations.iter().enumerate() {
        let at = (center, 32 + 22 * i as i32);
        label(
            area,
            &fit(a, TICK_PX + 1.0, max_w),
            at,
            font(TICK_PX + 1.0),
            HPos::Center,
        )?;
    }
    // The map, centred in its slot together with its colour bar.
    let left = (slot_w.saturating_sub(left_w + map_w + BAR_ZONE) / 2).max(8) as i32;
    let top = header as i32 + (map_h.max(MIN_MAP_H) - map_h) as i32 / 2;
    let sub = area
        .clone()
        .shrink((left, top), (left_w + map_w, map_h + BELOW));
    let (r, c) = (h.rows as f64, h.cols as f64);
    let mut chart = ChartBuilder::on(&sub)
        .x_label_area_size(BELOW)
        .y_label_area_size(left_w)
        .build_cartesian_2d(-0.5..c - 0.5, r - 0.5..-0.5)
        .msg()?;
    let (xf, yf) = (
        |v: &f64| cell_tick(*v, h.cols, &h.col_names),
        |v: &f64| cell_tick(*v, h.rows, &h.row_names),
    );
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(fit(&h.x_label, LABEL_PX, f64::from(map_w + LEFT) - 10.0))
        .y_desc(fit(&h.y_label, LABEL_PX, f64::from(map_h.max(40)) + 40.0))
        .x_labels(h.cols.min((map_w / 44).max(2) as usize))
        .y_labels(h.rows.min((map_h / 26).max(2) as usize))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(font(TICK_PX))
        .axis_desc_style(font(LABEL_PX))
        .axis_style(INK)
        .draw()
        .msg()?;
    let scale = Scale::of(h);
    let cells = h.values.iter().enumerate().map(|(i, &v)| {
        let (y, x) = ((i / h.cols) as f64, (i % h.cols) as f64);
        Rectangle::new(
            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
            scale.color(v).filled(),
        )
    });
    chart.draw_series(cells).msg()?;
    if let Some(mask) = &h.outline {
        let edges = outline_edges(mask, h.rows, h.cols);
        for (style, w) in [(BLACK, 3), (WHITE, 1)] {
            let lines = edges
                .iter()
                .map(|seg| PathElement::new(seg.to_vec(), style.stroke_width(w)));
            chart.draw_series(lines).msg()?;
        }
    }
    // The colour bar: a narrow chart right of the map, labelled on its right.
    let bar_h = map_h.clamp(MIN_MAP_H, 420);
    let bar_top = header as i32 + (map_h.max(MIN_MAP_H) - bar_h) as i32 / 2;
    let bar_area = area.clone().shrink(
        (left + (left_w + map_w) as i32 + 18, bar_top),
        (110, bar_h + 10),
    );
    let mut bar = ChartBuilder::on(&bar_area)
        .margin_top(5)
        .margin_bottom(5)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, scale.lo..scale.hi)
        .msg()?;
    let tick = |t: &f64| scale.tick(*t);
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(8)
        .y_label_formatter(&tick)
        .label_style(font(TICK_PX))
        .axis_style(INK)
        .draw()
        .msg()?;
    let steps = 96;
    let strips = (0..steps).map(|i| {
        let (a, b) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
        let (ya, yb) = (
            scale.lo + a * (scale.hi - scale.lo),
            scale.lo + b * (scale.hi - scale.lo),
        );
        Rectangle::new(
            [(0.0, ya), (1.0, yb)],
            scale.color_t((ya + yb) / 2.0).filled(),
        )
    });
    bar.draw_series(strips).msg()?;
    bar.draw_series([Rectangle::new(
        [(0.0, scale.lo), (1.0, scale.hi)],
        INK.stroke_width(1),
    )])
    .msg()?;
    let style = font(LABEL_PX).transform(FontTransform::Rotate90);
    let at = (
        left + (left_w + map_w) as i32 + 18 + 40 + 70 + 4,
        bar_top + bar_h as i32 / 2,
    );
    let text = fit(&h.colorbar_label, LABEL_PX, f64::from(bar_h));
    area.draw(&Text::new(
        text,
        at,
        style.pos(plotters::style::text_anchor::Pos::new(
            HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        )),
    ))
    .msg()
}

/// The border segments of the marked regions, in cell coordinates.
fn outline_edges(mask: &[bool], rows: usize, cols: usize) -> Vec<[(f64, f64); 2]> {
    let at = |r: isize, c: isize| {
        r >= 0
            && c >= 0
            && (r as usize) < rows
            && (c as usize) < cols
            && mask[r as usize * cols + c as usize]
    };
    let mut out = Vec::new();
    for i in (0..mask.len()).filter(|&i| mask[i]) {
        let (r, c) = ((i / cols) as isize, (i % cols) as isize);
        let (x, y) = (c as f64, r as f64);
        let sides = [
            (at(r - 1, c), [(x - 0.5, y - 0.5), (x + 0.5, y - 0.5)]),
            (at(r + 1, c), [(x - 0.5, y + 0.5), (x + 0.5, y + 0.5)]),
            (at(r, c - 1), [(x - 0.5, y - 0.5), (x - 0.5, y + 0.5)]),
            (at(r, c + 1), [(x + 0.5, y - 0.5), (x + 0.5, y + 0.5)]),
        ];
        out.extend(sides.into_iter().filter(|s| !s.0).map(|s| s.1));
    }
    out
}

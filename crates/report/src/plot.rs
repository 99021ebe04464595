//! Line figures through plotters' chart API: an SVG string first, the PNG rasterised from it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use resvg::{tiny_skia, usvg};

use crate::error::{ReportError, Result};
use crate::write_atomic;

/// The embedded DejaVu Sans (see `assets/README.md`): the only font figures use.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name in the SVG; it resolves to DejaVu Sans here and in viewers without it
/// to their own sans-serif font.
pub(crate) const FAMILY: &str = "sans-serif";
/// Largest image side (px).
const MAX_SIDE: u32 = 16_384;

/// Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008), yellow left out
/// (too light on white) and black last.
pub(crate) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];
/// Text and frame colour.
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
const REFERENCE: RGBColor = RGBColor(90, 90, 90);

/// One curve of a [`Panel`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label; an empty label keeps the series out of the legend.
    pub label: String,
    /// `(x, y)` points in drawing order; a non-finite coordinate breaks the line (a gap).
    pub points: Vec<(f64, f64)>,
    /// Draw the line dashed.
    pub dashed: bool,
    /// Draw a marker at each point (the marker shape follows the colour).
    pub markers: bool,
    /// Colour and marker slot; `None` gives each distinct label of a figure its own slot.
    pub style: Option<usize>,
}

impl Series {
    /// A solid line with markers.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        let (label, markers, dashed, style) = (label.into(), true, false, None);
        Self {
            label,
            points,
            dashed,
            markers,
            style,
        }
    }

    /// The same series drawn dashed.
    #[must_use]
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// The same series as a dashed reference line without markers, in colour slot `slot`.
    #[must_use]
    pub fn reference(mut self, slot: usize) -> Self {
        (self.dashed, self.markers, self.style) = (true, false, Some(slot));
        self
    }
}

/// One panel (axes) of a [`Figure`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    /// Title above the panel (may be empty).
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Fixed x range; `None` fits the data.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; `None` fits the data and `hline`.
    pub y_range: Option<(f64, f64)>,
    /// The curves.
    pub series: Vec<Series>,
    /// A dashed grey horizontal reference `(y, legend label)`.
    pub hline: Option<(f64, String)>,
}

impl Panel {
    /// A panel with a title, axis labels and curves; ranges fit the data, no reference line.
    pub fn new(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Self {
        let (title, x_label, y_label) = (title.into(), x_label.into(), y_label.into());
        Self {
            title,
            x_label,
            y_label,
            series,
            ..Self::default()
        }
    }

    /// The same panel with the y range fixed to `lo..hi`.
    #[must_use]
    pub fn with_y(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// The same panel with a dashed grey reference line at `y`, labelled `label`.
    #[must_use]
    pub fn with_hline(mut self, y: f64, label: impl Into<String>) -> Self {
        self.hline = Some((y, label.into()));
        self
    }
}

/// A figure: a title, one shared legend and a grid of equally sized [`Panel`]s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figure {
    /// Figure title (may be empty).
    pub title: String,
    /// Panels, row by row.
    pub panels: Vec<Panel>,
    /// Grid columns; `0` picks about `sqrt(panels)`.
    pub columns: usize,
    /// Size of one panel in pixels, at least `(200, 160)`.
    pub panel_size: (u32, u32),
}

impl Figure {
    /// A figure of `panels` in `columns` columns (`0`: about `sqrt(panels)`), each panel
    /// `panel_size` pixels.
    pub fn new(
        title: impl Into<String>,
        panels: Vec<Panel>,
        columns: usize,
        panel_size: (u32, u32),
    ) -> Self {
        let title = title.into();
        Self {
            title,
            panels,
            columns,
            panel_size,
        }
    }
}

/// Drawing errors as text, the form [`save`]'s drawing closures report them in.
pub(crate) trait Msg<T> {
    /// The error as its message.
    fn msg(self) -> std::result::Result<T, String>;
}

impl<T, E: ToString> Msg<T> for std::result::Result<T, E> {
    fn msg(self) -> std::result::Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A drawing area in pixels.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Text sizes (px in the SVG and the PNG).
pub(crate) const TITLE_PX: f64 = 22.0;
pub(crate) const PANEL_TITLE_PX: f64 = 18.0;
pub(crate) const LABEL_PX: f64 = 16.0;
pub(crate) const TICK_PX: f64 = 14.0;

/// A text style of `px` pixels (plotters writes `font-size = size / 1.24` into the SVG).
pub(crate) fn font(px: f64) -> TextStyle<'static> {
    (FAMILY, px * 1.24).into_font().color(&INK)
}

/// Width of `text` at `px` pixels (measured on the embedded font).
pub(crate) fn text_width(text: &str, px: f64) -> f64 {
    fonts();
    font(px)
        .font
        .box_size(text)
        .map_or(0.6 * px * text.len() as f64, |(w, _)| f64::from(w))
}

/// `text`, shortened with an ellipsis until it is at most `max` pixels wide.
pub(crate) fn fit(text: &str, px: f64, max: f64) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut out = text.to_string();
    while text_width(&out, px) > max && !chars.is_empty() {
        chars.pop();
        out = format!("{}…", chars.iter().collect::<String>().trim_end());
    }
    out
}

/// Registers the font with plotters and returns the font database resvg uses.
fn fonts() -> &'static Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        // Cannot fail on the embedded font; a failure would only make text widths estimates.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    })
}

/// Rasterises an SVG document to PNG bytes at its own size.
pub(crate) fn svg_to_png(svg: &str) -> std::result::Result<Vec<u8>, String> {
    let opt = usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: fonts().clone(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt).msg()?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("no {}x{} image", size.width(), size.height()))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().msg()
}

/// Checks the image size, draws with `draw` into an SVG string, and writes `<stem>.svg`
/// and the PNG rasterised from that SVG, `<stem>.png`.
pub(crate) fn save(
    stem: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> std::result::Result<(), String>,
) -> Result<Vec<PathBuf>> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(ReportError::invalid(format!(
            "image size {w}x{h} outside 1..={MAX_SIDE}"
        )));
    }
    let with = |ext: &str| {
        let mut s = stem.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (svg_path, png_path) = (with(".svg"), with(".png"));
    let plot_err = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| ReportError::Plot { path, message }
    };
    fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).msg().map_err(plot_err(&svg_path))?;
        draw(&root).map_err(plot_err(&svg_path))?;
        root.present().msg().map_err(plot_err(&svg_path))?;
    }
    let png = svg_to_png(&svg).map_err(plot_err(&png_path))?;
    write_atomic(&svg_path, svg.as_bytes())?;
    write_atomic(&png_path, &png)?;
    Ok(vec![svg_path, png_path])
}

/// A compact number: 3 significant digits, exponent form when very large or small.
pub(crate) fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    if !(1e-2..1e4).contains(&v.abs()) {
        return format!("{v:.1e}");
    }
    let s = format!(
        "{v:.*}",
        (2 - v.abs().log10().floor() as i32).max(0) as usize
    );
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').into()
    } else {
        s
    }
}

/// Grid shape `(rows, columns)` for `n` panels.
pub(crate) fn grid(n: usize, columns: usize) -> (usize, usize) {
    let n = n.max(1);
    let c = if columns == 0 {
        (n as f64).sqrt().ceil() as usize
    } else {
        columns.min(n)
    };
    (n.div_ceil(c), c)
}

/// Draws `text` at `(x, y)` with the given anchor.
pub(crate) fn label(
    area: &Area<'_>,
    text: &str,
    (x, y): (i32, i32),
    style: TextStyle<'static>,
    h: HPos,
) -> std::result::Result<(), String> {
    let style = style.pos(Pos::new(h, VPos::Top));
    area.draw(&Text::new(text.to_string(), (x, y), style)).msg()
}

/// Draws a figure's title centred at the top of a `width`-pixel canvas, shortened with an
/// ellipsis if it still does not fit.
pub(crate) fn figure_title(
    root: &Area<'_>,
    title: &str,
    width: u32,
) -> std::result::Result<(), String> {
    let title = fit(title, TITLE_PX, f64::from(width) - 20.0);
    label(
        root,
        &title,
        (width as i32 / 2, 10),
        font(TITLE_PX),
        HPos::Center,
    )
}

/// A legend entry: label, colour slot (`None`: the grey reference), dashed, marker.
type Entry = (String, Option<usize>, bool, bool);

fn color(slot: Option<usize>) -> RGBColor {
    slot.map_or(REFERENCE, |s| PALETTE[s % PALETTE.len()])
}

/// Draws marker `slot` (shape and colour) centred at pixel `at` of `area`, so that series
/// stay apart in grey too.
fn marker(area: &Area<'_>, slot: usize, at: (i32, i32)) -> std::result::Result<(), String> {
    let c = color(Some(slot));
    let (fill, line) = (c.filled(), c.stroke_width(2));
    let p = |pts: &[(i32, i32)]| {
        Polygon::new(
            pts.iter()
                .map(|d| (at.0 + d.0, at.1 + d.1))
                .collect::<Vec<_>>(),
            fill,
        )
    };
    let r = match slot % 7 {
        0 => area.draw(&Circle::new(at, 4, fill)),
        1 => area.draw(&Rectangle::new(
            [(at.0 - 4, at.1 - 4), (at.0 + 4, at.1 + 4)],
            fill,
        )),
        2 => area.draw(&p(&[(0, -5), (5, 4), (-5, 4)])),
        3 => area.draw(&p(&[(0, -5), (5, 0), (0, 5), (-5, 0)])),
        4 => area.draw(&p(&[(0, 5), (5, -4), (-5, -4)])),
        5 => area.draw(&Cross::new(at, 4, line)),
        _ => area.draw(&Circle::new(at, 4, line)),
    };
    r.msg()
}

/// The line sample and marker of a legend entry, 30 px wide from `(x, y)` (vertical centre).
fn legend_sample(
    area: &Area<'_>,
    (label, slot, dashed, markers): &Entry,
    (x, y): (i32, i32),
) -> std::result::Result<(), String> {
    let style = color(*slot).stroke_width(2);
    let dashes: Vec<(i32, i32)> = if *dashed {
        vec![(0, 8), (12, 20), (24, 30)]
    } else {
        vec![(0, 30)]
    };
    for (a, b) in dashes {
        area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], style))
            .msg()?;
    }
    if let (Some(s), true) = (slot, markers) {
        marker(area, *s, (x + 15, y))?;
    }
    label_mid(area, label, (x + 38, y))
}

fn label_mid(area: &Area<'_>, text: &str, at: (i32, i32)) -> std::result::Result<(), String> {
    let style = font(LABEL_PX).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(text.to_string(), at, style)).msg()
}

/// Lays out legend entries in centred rows no wider than `width`: `(x offset, y row)` each,
/// and the number of rows.
fn legend_layout(entries: &[Entry], width: f64) -> (Vec<(f64, usize)>, usize) {
    let widths: Vec<f64> = entries
        .iter()
        .map(|e| 38.0 + text_width(&e.0, LABEL_PX) + 24.0)
        .collect();
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0.0;
    for (i, w) in widths.iter().enumerate() {
        if used + w > width && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            used = 0.0;
        }
        used += w;
        if let Some(r) = rows.last_mut() {
            r.push(i);
        }
    }
    let mut pos = vec![(0.0, 0); entries.len()];
    for (r, row) in rows.iter().enumerate() {
        let total: f64 = row.iter().map(|&i| widths[i]).sum::<f64>() - 24.0;
        let mut x = ((width - total) / 2.0).max(0.0);
        for &i in row {
            pos[i] = (x, r);
            x += widths[i];
        }
    }
    (pos, if entries.is_empty() { 0 } else { rows.len() })
}

/// `(lo, hi)` covering `values` (and `fixed` when given), with a margin of 4 %.
fn range(fixed: Option<(f64, f64)>, values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = fixed
        .filter(|(a, b)| a.is_finite() && b.is_finite() && a < b)
        .unwrap_or_else(|| {
            values
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                })
        });
    match (lo.is_finite(), lo < hi) {
        (false, _) => (0.0, 1.0),
        (true, false) => (
            lo - 0.5f64.max(lo.abs() * 0.1),
            hi + 0.5f64.max(hi.abs() * 0.1),
        ),
        (true, true) => (lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo)),
    }
}

/// Validates `fig` and returns its legend entries (one per distinct label, hline last).
fn entries(fig: &Figure) -> Result<Vec<Entry>> {
    if fig.panels.is_empty() {
        return Err(ReportError::invalid("a figure needs at least one panel"));
    }
    if fig.panel_size.0 < 200 || fig.panel_size.1 < 160 {
        return Err(ReportError::invalid(format!(
            "panel size {:?} below (200, 160)",
            fig.panel_size
        )));
    }
    let mut out: Vec<Entry> = Vec::new();
    let mut refs: Vec<Entry> = Vec::new();
    for p in &fig.panels {
        if let Some((a, b)) = p
            .x_range
            .into_iter()
            .chain(p.y_range)
            .find(|(a, b)| a.partial_cmp(b) != Some(std::cmp::Ordering::Less))
        {
            return Err(ReportError::invalid(format!(
                "range ({a}, {b}) of panel `{}`",
                p.title
            )));
        }
        for s in &p.series {
            if !s.label.is_empty() && !out.iter().any(|e| e.0 == s.label) {
                out.push((
                    s.label.clone(),
                    Some(s.style.unwrap_or(out.len())),
                    s.dashed,
                    s.markers,
                ));
            }
        }
        if let Some((_, l)) = p.hline.as_ref().filter(|(_, l)| !l.is_empty())
            && !refs.iter().any(|e| &e.0 == l)
        {
            refs.push((l.clone(), None, true, false));
        }
    }
    out.extend(refs);
    Ok(out)
}

/// Renders `fig` to `<stem>.svg` and `<stem>.png` (rasterised from the SVG); returns both
/// paths. Every distinct series label gets one colour and marker across all panels, and
/// one legend under the title lists them all.
///
/// # Errors
/// [`ReportError::InvalidFigure`] for no panels, too small panels, empty or inverted
/// ranges or too large images; [`ReportError::Plot`] or [`ReportError::Io`] when drawing
/// or writing fails.
pub fn render_figure(fig: &Figure, stem: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = entries(fig)?;
    let slots: Vec<(String, Option<usize>)> = entries.iter().map(|e| (e.0.clone(), e.1)).collect();
    let (rows, cols) = grid(fig.panels.len(), fig.columns);
    let (pw, ph) = fig.panel_size;
    let width = pw.saturating_mul(cols as u32);
    // A title wider than the panels widens the figure, up to half as wide again.
    let width = width.max((text_width(&fig.title, TITLE_PX) as u32 + 40).min(width * 3 / 2));
    for e in &mut entries {
        e.0 = fit(&e.0, LABEL_PX, f64::from(width) - 110.0);
    }
    let (pos, legend_rows) = legend_layout(&entries, f64::from(width) - 40.0);
    let title_h = if fig.title.is_empty() { 10 } else { 44 };
    let legend_h = 26 * legend_rows as u32 + 8 * u32::from(legend_rows > 0);
    let height = (title_h + legend_h).saturating_add(ph.saturating_mul(rows as u32));
    let slot = |s: &Series| {
        s.style
            .or_else(|| slots.iter().find(|e| e.0 == s.label).and_then(|e| e.1))
            .unwrap_or(0)
    };
    save(stem, (width, height), |root| {
        figure_title(root, &fig.title, width)?;
        for (e, &(x, r)) in entries.iter().zip(&pos) {
            legend_sample(
                root,
                e,
                (20 + x as i32, (title_h + 13 + 26 * r as u32) as i32),
            )?;
        }
        let body = root.split_vertically(title_h + legend_h).1;
        for (p, area) in fig.panels.iter().zip(body.split_evenly((rows, cols))) {
            draw_panel(&area, p, &slot, pw)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &Area<'_>,
    p: &Panel,
    slot: &dyn Fn(&Series) -> usize,
    pw: u32,
) -> std::result::Result<(), String> {
    let pts = || p.series.iter().flat_map(|s| s.points.iter().copied());
    let xr = range(p.x_range, pts().map(|q| q.0));
    let yr = range(
        p.y_range,
        pts()
            .filter(|q| q.0.is_finite())
            .map(|q| q.1)
            .chain(p.hline.as_ref().map(|h| h.0)),
    );
    let title = fit(&p.title, PANEL_TITLE_PX, f64::from(pw) - 20.0);
    let mut builder = ChartBuilder::on(area);
    builder.margin(10).margin_right(22);
    if !title.is_empty() {
        builder.caption(title, font(PANEL_TITLE_PX));
    }
    let mut chart = builder
        .x_label_area_size(50)
        .y_label_area_size(72)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .msg()?;
    chart
        .configure_mesh()
        .x_desc(fit(&p.x_label, LABEL_PX, f64::from(pw) - 100.0))
        .y_desc(fit(
            &p.y_label,
            LABEL_PX,
            f64::from(area.dim_in_pixel().1) - 90.0,
        ))
        .label_style(font(TICK_PX))
        .axis_desc_style(font(LABEL_PX))
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .axis_style(INK)
        .draw()
        .msg()?;
    if let Some((y, _)) = &p.hline {
        let line = DashedLineSeries::new([(xr.0, *y), (xr.1, *y)], 8, 5, REFERENCE.stroke_width(2));
        chart.draw_series(line).msg()?;
    }
    for s in &p.series {
        let k = slot(s);
        let style = color(Some(k)).stroke_width(2);
        let inside = |q: &&(f64, f64)| q.0.is_finite() && q.1.is_finite();
        for run in s.points.split(|q| !inside(&q)).filter(|r| r.len() > 1) {
            if s.dashed {
                chart
                    .draw_series(DashedLineSeries::new(run.iter().copied(), 8, 5, style))
                    .msg()?;
            } else {
                chart
                    .draw_series(LineSeries::new(run.iter().copied(), style))
                    .msg()?;
            }
        }
        if s.markers {
            let pa = chart.plotting_area();
            let (area, (x0, y0)) = (pa.strip_coord_spec(), pa.get_base_pixel());
            for q in s
                .points
                .iter()
                .filter(inside)
                .filter(|q| in_range(**q, xr, yr))
            {
                let (x, y) = pa.map_coordinate(q);
                marker(&area, k, (x - x0, y - y0))?;
            }
        }
    }
    if pts().all(|q| !q.0.is_finite() || !q.1.is_finite()) {
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let at = (w as i32 / 2, h as i32 / 2 - 10);
        label(
            &chart.plotting_area().strip_coord_spec(),
            "no data",
            at,
            font(LABEL_PX),
            HPos::Center,
        )?;
    }
    Ok(())
}

fn in_range((x, y): (f64, f64), xr: (f64, f64), yr: (f64, f64)) -> bool {
    (xr.0..=xr.1).contains(&x) && (yr.0..=yr.1).contains(&y)
}

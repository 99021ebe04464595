//! Drawing plumbing shared by all figures.
//!
//! Figures are painted through [`Painter`], generic over a plotters
//! [`DrawingBackend`]. The SVG file comes from plotters' `SVGBackend`; the PNG file
//! comes from [`Raster`], a small anti-aliased RGB rasteriser of this crate that uses
//! the same geometry conventions as SVG (a coordinate is a pixel *edge*, pixel `(i, j)`
//! covers `[i, i+1] x [j, j+1]`) and renders text with the embedded font at the same
//! em size and baseline the SVG file asks for, so both files look alike.

use std::path::{Path, PathBuf};

use plotters::prelude::SVGBackend;
use plotters_backend::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontFamily, FontStyle, FontTransform,
};

use crate::error::{ReportError, Result};
use crate::font;
use crate::io::write_atomic;

/// Largest accepted image side in pixels.
pub(crate) const MAX_SIDE: u32 = 16_384;
/// Largest accepted image area in pixels.
pub(crate) const MAX_PIXELS: u64 = 32 * 1024 * 1024;

/// Result of a drawing call on backend `DB`.
pub(crate) type DrawResult<DB> =
    std::result::Result<(), DrawingErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// An sRGB colour with opacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rgba {
    pub(crate) r: u8,
    pub(crate) g: u8,
    pub(crate) b: u8,
    pub(crate) a: f64,
}

impl Rgba {
    pub(crate) const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b, a: 1.0 }
    }
    pub(crate) const fn alpha(self, a: f64) -> Self {
        Self { a, ..self }
    }
    fn backend(self) -> BackendColor {
        BackendColor {
            alpha: self.a,
            rgb: (self.r, self.g, self.b),
        }
    }
}

pub(crate) const WHITE: Rgba = Rgba::rgb(255, 255, 255);
pub(crate) const TEXT: Rgba = Rgba::rgb(25, 25, 25);
pub(crate) const TEXT_SOFT: Rgba = Rgba::rgb(85, 85, 85);

/// A stroke/fill style for the backend.
struct Stroke {
    color: BackendColor,
    width: u32,
}

impl BackendStyle for Stroke {
    fn color(&self) -> BackendColor {
        self.color
    }
    fn stroke_width(&self) -> u32 {
        self.width
    }
}

/// Text style handed to the backends: the size is an em size in pixels.
struct TextSpec {
    em: f64,
    color: BackendColor,
    anchor: Pos,
    transform: FontTransform,
}

/// Error type of [`TextSpec`] (the embedded font never fails to load once checked).
#[derive(Debug)]
pub(crate) struct NoFont;

impl std::fmt::Display for NoFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the embedded font is unavailable")
    }
}

impl std::error::Error for NoFont {}

/// plotters' SVG backend writes `font-size = size / 1.24`; this undoes it.
const SVG_SIZE_FACTOR: f64 = 1.24;

impl BackendTextStyle for TextSpec {
    type FontError = NoFont;

    fn color(&self) -> BackendColor {
        self.color
    }
    fn size(&self) -> f64 {
        // Nudge the product so that the SVG backend's division gives back exactly `em`
        // (keeps `font-size="14"` instead of `14.000000000000002` in the file).
        let mut s = self.em * SVG_SIZE_FACTOR;
        for _ in 0..4 {
            let back = s / SVG_SIZE_FACTOR;
            if back == self.em {
                break;
            }
            s = if back > self.em {
                s.next_down()
            } else {
                s.next_up()
            };
        }
        s
    }
    fn transform(&self) -> FontTransform {
        self.transform.clone()
    }
    fn style(&self) -> FontStyle {
        FontStyle::Normal
    }
    fn anchor(&self) -> Pos {
        self.anchor
    }
    fn family(&self) -> FontFamily<'_> {
        FontFamily::Name(font::SVG_FONT_FAMILY)
    }
    fn layout_box(&self, text: &str) -> std::result::Result<((i32, i32), (i32, i32)), NoFont> {
        let w = font::text_width(text, self.em).ceil() as i32;
        Ok(((0, 0), (w, self.em.ceil() as i32)))
    }
    fn draw<E, F: FnMut(i32, i32, BackendColor) -> std::result::Result<(), E>>(
        &self,
        text: &str,
        pos: BackendCoord,
        mut draw: F,
    ) -> std::result::Result<std::result::Result<(), E>, NoFont> {
        // Only used by backends that rely on plotters' default text path: pos is the
        // top-left corner of the layout box.
        let mut result = Ok(());
        let baseline = f64::from(pos.1) + font::TOP_BASELINE_EM * self.em;
        font::rasterize(text, self.em, f64::from(pos.0), baseline, |x, y, c| {
            if result.is_ok() {
                result = draw(x, y, self.color.mix(f64::from(c)));
            }
        });
        Ok(result)
    }
}

/// Baseline offset (from the anchor point, in the text's own frame) for a vertical
/// anchor, mirroring the `dy` values of the SVG backend.
fn baseline_offset(v: VPos, em: f64) -> f64 {
    match v {
        VPos::Top => font::TOP_BASELINE_EM * em,
        VPos::Center => font::HALF_EX_EM * em,
        VPos::Bottom => -font::HALF_EX_EM * em,
    }
}

/// The error type of [`Raster`]; it never fails, but the trait needs one.
#[derive(Debug)]
pub(crate) struct RasterError;

impl std::fmt::Display for RasterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("raster backend error")
    }
}

impl std::error::Error for RasterError {}

/// An anti-aliased RGB8 raster canvas implementing plotters' `DrawingBackend`.
pub(crate) struct Raster {
    width: u32,
    height: u32,
    buf: Vec<u8>,
    /// Canvas-sized coverage scratch buffer for strokes and polygons (all zero between
    /// uses; allocated on first use).
    cov: Vec<f32>,
    /// Per row, the touched column range `[min, max]` of `cov`.
    spans: Vec<(i32, i32)>,
    /// Scratch point buffer.
    pts: Vec<(f64, f64)>,
    /// Rasterised glyphs, reused for repeated text.
    glyphs: font::GlyphCache,
}

/// A pixel rectangle `[x0, x1) x [y0, y1)` clamped to the canvas.
#[derive(Clone, Copy)]
struct PixBox {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl PixBox {
    fn is_empty(self) -> bool {
        self.x1 <= self.x0 || self.y1 <= self.y0
    }
}

impl Raster {
    /// A white canvas of the given size.
    pub(crate) fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            buf: vec![255; width as usize * height as usize * 3],
            cov: Vec::new(),
            spans: Vec::new(),
            pts: Vec::new(),
            glyphs: font::GlyphCache::default(),
        }
    }

    /// Encodes the canvas as an 8-bit RGB PNG.
    pub(crate) fn encode_png(&self) -> std::result::Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::with_capacity(self.buf.len() / 8 + 1024);
        {
            let mut enc = png::Encoder::new(&mut out, self.width, self.height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            enc.set_filter(png::FilterType::Paeth);
            let mut writer = enc.write_header()?;
            writer.write_image_data(&self.buf)?;
            writer.finish()?;
        }
        Ok(out)
    }

    /// The raw RGB8 pixels, row-major.
    #[cfg(test)]
    pub(crate) fn pixels(&self) -> &[u8] {
        &self.buf
    }

    /// Box `[x0, x1) x [y0, y1)` (floats, any order) grown to whole pixels and clamped.
    fn pix_box(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> PixBox {
        let clamp_x = |v: f64| v.clamp(0.0, f64::from(self.width)) as i32;
        let clamp_y = |v: f64| v.clamp(0.0, f64::from(self.height)) as i32;
        PixBox {
            x0: clamp_x(x0.min(x1).floor()),
            y0: clamp_y(y0.min(y1).floor()),
            x1: clamp_x(x0.max(x1).ceil()),
            y1: clamp_y(y0.max(y1).ceil()),
        }
    }

    #[inline]
    fn blend(&mut self, x: i32, y: i32, c: BackendColor, cov: f64) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 {
            return;
        }
        // Opacity as an integer weight in 0..=256.
        let a = ((c.alpha * cov).clamp(0.0, 1.0) * 256.0) as u32;
        if a == 0 {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        let src = [c.rgb.0, c.rgb.1, c.rgb.2];
        if a >= 256 {
            self.buf[i..i + 3].copy_from_slice(&src);
        } else {
            for (d, s) in self.buf[i..i + 3].iter_mut().zip(src) {
                *d = ((u32::from(*d) * (256 - a) + u32::from(s) * a + 128) >> 8) as u8;
            }
        }
    }

    fn fill_box(&mut self, bx: PixBox, c: BackendColor) {
        if bx.is_empty() || c.alpha <= 0.0 {
            return;
        }
        if c.alpha >= 1.0 {
            let w = self.width as usize;
            let px = [c.rgb.0, c.rgb.1, c.rgb.2];
            for y in bx.y0..bx.y1 {
                let row = y as usize * w;
                for chunk in self.buf[(row + bx.x0 as usize) * 3..(row + bx.x1 as usize) * 3]
                    .chunks_exact_mut(3)
                {
                    chunk.copy_from_slice(&px);
                }
            }
        } else {
            for y in bx.y0..bx.y1 {
                for x in bx.x0..bx.x1 {
                    self.blend(x, y, c, 1.0);
                }
            }
        }
    }

    /// Makes sure the canvas-sized coverage buffer (kept all-zero between uses) and
    /// the per-row touched spans exist.
    fn ensure_cov(&mut self) {
        let n = self.width as usize * self.height as usize;
        if self.cov.len() != n {
            self.cov = vec![0.0; n];
            self.spans = vec![(i32::MAX, i32::MIN); self.height as usize];
        }
    }

    /// Adds coverage at a pixel inside the canvas (`max` for strokes, `+` for fills).
    #[inline]
    fn touch(&mut self, x: i32, y: i32, v: f32, accumulate: bool) {
        let idx = y as usize * self.width as usize + x as usize;
        let cell = &mut self.cov[idx];
        if accumulate {
            *cell += v;
        } else if v > *cell {
            *cell = v;
        } else {
            return;
        }
        let span = &mut self.spans[y as usize];
        span.0 = span.0.min(x);
        span.1 = span.1.max(x);
    }

    /// Blends the accumulated coverage of rows `y0..y1` with colour `c` and clears it.
    fn flush_cov(&mut self, y0: i32, y1: i32, c: BackendColor) {
        let w = self.width as usize;
        for y in y0.max(0)..y1.min(self.height as i32) {
            let (a, b) = std::mem::replace(&mut self.spans[y as usize], (i32::MAX, i32::MIN));
            for x in a..=b {
                let idx = y as usize * w + x as usize;
                let v = std::mem::take(&mut self.cov[idx]);
                if v > 0.0 {
                    self.blend(x, y, c, f64::from(v.min(1.0)));
                }
            }
        }
    }

    /// Anti-aliased polyline of the points in `self.pts` (round joins and caps).
    fn stroke_pts(&mut self, width: f64, c: BackendColor) {
        if self.pts.len() < 2 || width <= 0.0 || c.alpha <= 0.0 {
            return;
        }
        let r = width / 2.0;
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(x, y) in &self.pts {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let bx = self.pix_box(x0 - r - 1.0, y0 - r - 1.0, x1 + r + 1.0, y1 + r + 1.0);
        if bx.is_empty() {
            return;
        }
        self.ensure_cov();
        for k in 1..self.pts.len() {
            let (ax, ay) = self.pts[k - 1];
            let (bx_, by) = self.pts[k];
            let sb = self.pix_box(
                ax.min(bx_) - r - 1.0,
                ay.min(by) - r - 1.0,
                ax.max(bx_) + r + 1.0,
                ay.max(by) + r + 1.0,
            );
            let (dx, dy) = (bx_ - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            // Per row, only pixels near the segment can be covered: around the x where
            // the segment crosses the (clamped) row, within a half-width that also
            // covers the round caps.
            let slope = if dy.abs() > 1e-9 {
                dx / dy
            } else {
                f64::INFINITY
            };
            let half = (r + 0.5) * (1.0 + slope.abs()) + 1.0;
            let (ylo, yhi) = (ay.min(by), ay.max(by));
            for py in sb.y0.max(bx.y0)..sb.y1.min(bx.y1) {
                let cy = f64::from(py) + 0.5;
                let (mut px0, mut px1) = (sb.x0, sb.x1);
                if half.is_finite() {
                    let xs = ax + (cy.clamp(ylo, yhi) - ay) * slope;
                    px0 = px0.max((xs - half).floor() as i32);
                    px1 = px1.min((xs + half).ceil() as i32 + 1);
                }
                for px in px0.max(bx.x0)..px1.min(bx.x1) {
                    let cx = f64::from(px) + 0.5;
                    let t = if len2 > 0.0 {
                        (((cx - ax) * dx + (cy - ay) * dy) / len2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let (qx, qy) = (ax + t * dx - cx, ay + t * dy - cy);
                    let d = (qx * qx + qy * qy).sqrt();
                    let v = (r + 0.5 - d).clamp(0.0, 1.0) as f32;
                    if v > 0.0 {
                        self.touch(px, py, v, false);
                    }
                }
            }
        }
        self.flush_cov(bx.y0, bx.y1, c);
    }

    /// Anti-aliased even-odd polygon fill of the points in `self.pts`: exact horizontal
    /// coverage, 4 sub-scanlines per pixel row.
    fn fill_pts(&mut self, c: BackendColor) {
        const SUB: usize = 4;
        let n = self.pts.len();
        if n < 3 || c.alpha <= 0.0 {
            return;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(x, y) in &self.pts {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let bx = self.pix_box(x0, y0, x1, y1);
        if bx.is_empty() {
            return;
        }
        self.ensure_cov();
        let mut xs: Vec<f64> = Vec::with_capacity(8);
        for py in bx.y0..bx.y1 {
            for s in 0..SUB {
                let sy = f64::from(py) + (s as f64 + 0.5) / SUB as f64;
                xs.clear();
                for k in 0..n {
                    let (ax, ay) = self.pts[k];
                    let (bx_, by) = self.pts[(k + 1) % n];
                    if (ay <= sy && by > sy) || (by <= sy && ay > sy) {
                        xs.push(ax + (sy - ay) / (by - ay) * (bx_ - ax));
                    }
                }
                xs.sort_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    let (l, r) = (pair[0].max(f64::from(bx.x0)), pair[1].min(f64::from(bx.x1)));
                    if r <= l {
                        continue;
                    }
                    let (il, ir) = (l.floor() as i32, (r.ceil() as i32).min(bx.x1));
                    for px in il.max(bx.x0)..ir {
                        let lo = l.max(f64::from(px));
                        let hi = r.min(f64::from(px) + 1.0);
                        if hi > lo {
                            self.touch(px, py, ((hi - lo) / SUB as f64) as f32, true);
                        }
                    }
                }
            }
        }
        self.flush_cov(bx.y0, bx.y1, c);
    }

    fn circle(&mut self, cx: f64, cy: f64, radius: f64, c: BackendColor, fill: bool, sw: f64) {
        let ext = radius + sw / 2.0 + 1.0;
        let bx = self.pix_box(cx - ext, cy - ext, cx + ext, cy + ext);
        for py in bx.y0..bx.y1 {
            for px in bx.x0..bx.x1 {
                let (dx, dy) = (f64::from(px) + 0.5 - cx, f64::from(py) + 0.5 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                let v = if fill {
                    (radius + 0.5 - d).clamp(0.0, 1.0)
                } else {
                    (sw / 2.0 + 0.5 - (d - radius).abs()).clamp(0.0, 1.0)
                };
                if v > 0.0 {
                    self.blend(px, py, c, v);
                }
            }
        }
    }
}

impl DrawingBackend for Raster {
    type ErrorType = RasterError;

    fn get_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn ensure_prepared(&mut self) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        Ok(())
    }

    fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        Ok(())
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        self.blend(point.0, point.1, color, 1.0);
        Ok(())
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        self.pts.clear();
        self.pts.push((f64::from(from.0), f64::from(from.1)));
        self.pts.push((f64::from(to.0), f64::from(to.1)));
        self.stroke_pts(f64::from(style.stroke_width()), style.color());
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        let (x0, y0) = (f64::from(upper_left.0), f64::from(upper_left.1));
        let (x1, y1) = (f64::from(bottom_right.0), f64::from(bottom_right.1));
        if fill {
            let bx = self.pix_box(x0, y0, x1, y1);
            self.fill_box(bx, style.color());
        } else {
            self.pts.clear();
            self.pts
                .extend([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]);
            self.stroke_pts(f64::from(style.stroke_width()), style.color());
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        self.pts.clear();
        self.pts
            .extend(path.into_iter().map(|(x, y)| (f64::from(x), f64::from(y))));
        self.stroke_pts(f64::from(style.stroke_width()), style.color());
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        self.circle(
            f64::from(center.0),
            f64::from(center.1),
            f64::from(radius),
            style.color(),
            fill,
            f64::from(style.stroke_width()),
        );
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        self.pts.clear();
        self.pts
            .extend(vert.into_iter().map(|(x, y)| (f64::from(x), f64::from(y))));
        self.fill_pts(style.color());
        Ok(())
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> std::result::Result<(), DrawingErrorKind<RasterError>> {
        let color = style.color();
        if color.alpha <= 0.0 || text.is_empty() {
            return Ok(());
        }
        let em = style.size() / SVG_SIZE_FACTOR;
        let anchor = style.anchor();
        let width = font::text_width(text, em);
        let lx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let base = baseline_offset(anchor.v_pos, em);
        let (ax, ay) = pos;
        let transform = style.transform();
        let mut cache = std::mem::take(&mut self.glyphs);
        cache.rasterize(text, em, lx, base, |x, y, c| {
            // (x, y) is a pixel of the text's own frame relative to the anchor; rotate
            // it the way SVG's rotate(angle, ax, ay) does.
            let (sx, sy) = match transform {
                FontTransform::Rotate90 => (ax - y - 1, ay + x),
                FontTransform::Rotate180 => (ax - x - 1, ay - y - 1),
                FontTransform::Rotate270 => (ax + y, ay - x - 1),
                _ => (ax + x, ay + y),
            };
            self.blend(sx, sy, color, f64::from(c));
        });
        self.glyphs = cache;
        Ok(())
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<RasterError>> {
        let em = style.size() / SVG_SIZE_FACTOR;
        Ok((font::text_width(text, em).ceil() as u32, em.ceil() as u32))
    }
}

/// Horizontal/vertical text placement relative to the anchor point.
#[derive(Clone, Copy)]
pub(crate) struct Anchor(pub(crate) HPos, pub(crate) VPos);

/// Thin, backend-generic drawing helper working in pixel coordinates.
pub(crate) struct Painter<'a, DB: DrawingBackend> {
    db: &'a mut DB,
}

impl<'a, DB: DrawingBackend> Painter<'a, DB>
where
    DB::ErrorType: 'static,
{
    pub(crate) fn new(db: &'a mut DB) -> Self {
        Self { db }
    }

    /// Filled rectangle `[x0, x1) x [y0, y1)`.
    pub(crate) fn rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, c: Rgba) -> DrawResult<DB> {
        if x1 <= x0 || y1 <= y0 || c.a <= 0.0 {
            return Ok(());
        }
        self.db.draw_rect(
            (x0, y0),
            (x1, y1),
            &Stroke {
                color: c.backend(),
                width: 0,
            },
            true,
        )
    }

    /// Rectangle outline of thickness `t` drawn just inside `[x0, x1) x [y0, y1)`.
    pub(crate) fn frame(
        &mut self,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        t: i32,
        c: Rgba,
    ) -> DrawResult<DB> {
        self.rect(x0, y0, x1, y0 + t, c)?;
        self.rect(x0, y1 - t, x1, y1, c)?;
        self.rect(x0, y0 + t, x0 + t, y1 - t, c)?;
        self.rect(x1 - t, y0 + t, x1, y1 - t, c)
    }

    /// Polyline (at least two points) of the given width.
    pub(crate) fn polyline(&mut self, pts: &[(i32, i32)], width: u32, c: Rgba) -> DrawResult<DB> {
        if pts.len() < 2 || c.a <= 0.0 {
            return Ok(());
        }
        self.db.draw_path(
            pts.iter().copied(),
            &Stroke {
                color: c.backend(),
                width,
            },
        )
    }

    /// Filled polygon.
    pub(crate) fn polygon(&mut self, pts: &[(i32, i32)], c: Rgba) -> DrawResult<DB> {
        if pts.len() < 3 {
            return Ok(());
        }
        self.db.fill_polygon(
            pts.iter().copied(),
            &Stroke {
                color: c.backend(),
                width: 1,
            },
        )
    }

    /// Circle, filled or as a ring of width `width`.
    pub(crate) fn circle(
        &mut self,
        center: (i32, i32),
        radius: u32,
        c: Rgba,
        fill: bool,
        width: u32,
    ) -> DrawResult<DB> {
        self.db.draw_circle(
            center,
            radius,
            &Stroke {
                color: c.backend(),
                width,
            },
            fill,
        )
    }

    /// One line of text at an em size of `em` pixels.
    pub(crate) fn text(
        &mut self,
        s: &str,
        at: (i32, i32),
        em: f64,
        c: Rgba,
        anchor: Anchor,
        transform: FontTransform,
    ) -> DrawResult<DB> {
        if s.is_empty() {
            return Ok(());
        }
        self.db.draw_text(
            s,
            &TextSpec {
                em,
                color: c.backend(),
                anchor: Pos::new(anchor.0, anchor.1),
                transform,
            },
            at,
        )
    }
}

/// Something that can paint itself onto any backend at a fixed pixel size.
pub(crate) trait Scene {
    /// Canvas size in pixels.
    fn size(&self) -> (u32, u32);
    /// Paints the scene; the canvas starts out white.
    fn paint<DB: DrawingBackend>(&self, p: &mut Painter<'_, DB>) -> DrawResult<DB>
    where
        DB::ErrorType: 'static;
}

/// `stem` with `.ext` appended (not replacing any dot already in the file name).
pub(crate) fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Checks an image size against the limits.
pub(crate) fn check_size(w: u32, h: u32) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(ReportError::invalid(format!(
            "image size {w} x {h} is empty"
        )));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ReportError::invalid(format!(
            "image size {w} x {h} exceeds the limit ({MAX_SIDE} px per side, {MAX_PIXELS} px in all)"
        )));
    }
    Ok(())
}

fn plot_err<E: std::error::Error + Send + Sync>(
    path: &Path,
    e: DrawingErrorKind<E>,
) -> ReportError {
    ReportError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Paints `scene` into the SVG and PNG bytes (no file output).
pub(crate) fn paint_both<S: Scene>(scene: &S, stem: &Path) -> Result<(String, Raster)> {
    font::register_fonts()?;
    let (w, h) = scene.size();
    check_size(w, h)?;
    let svg_path = with_suffix(stem, "svg");
    let mut svg = String::with_capacity(64 * 1024);
    {
        let mut backend = SVGBackend::with_string(&mut svg, (w, h));
        let mut p = Painter::new(&mut backend);
        p.rect(0, 0, w as i32, h as i32, WHITE)
            .and_then(|()| scene.paint(&mut p))
            .map_err(|e| plot_err(&svg_path, e))?;
        backend.present().map_err(|e| plot_err(&svg_path, e))?;
    }
    let png_path = with_suffix(stem, "png");
    let mut raster = Raster::new(w, h);
    scene
        .paint(&mut Painter::new(&mut raster))
        .map_err(|e| plot_err(&png_path, e))?;
    Ok((svg, raster))
}

/// Renders `scene` to `stem.svg` and `stem.png` (each written atomically).
pub(crate) fn render_scene<S: Scene>(scene: &S, stem: &Path) -> Result<Vec<PathBuf>> {
    let (svg, raster) = paint_both(scene, stem)?;
    let svg_path = with_suffix(stem, "svg");
    let png_path = with_suffix(stem, "png");
    let png = raster.encode_png().map_err(|e| ReportError::Plot {
        path: png_path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&svg_path, svg.as_bytes())?;
    write_atomic(&png_path, &png)?;
    Ok(vec![svg_path, png_path])
}

/// Draws a figure's title centred at the top (nothing for an empty title).
pub(crate) fn paint_title<DB: DrawingBackend>(
    p: &mut Painter<'_, DB>,
    title: &str,
    width: u32,
) -> DrawResult<DB>
where
    DB::ErrorType: 'static,
{
    if title.is_empty() {
        return Ok(());
    }
    p.text(
        title,
        (width as i32 / 2, 10),
        crate::figure::FIG_TITLE_EM,
        TEXT,
        Anchor(HPos::Center, VPos::Top),
        FontTransform::None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounding box of pixels darker than mid-grey.
    fn dark_box(r: &Raster) -> Option<(u32, u32, u32, u32)> {
        let px = r.pixels();
        let mut bb: Option<(u32, u32, u32, u32)> = None;
        for y in 0..r.height {
            for x in 0..r.width {
                let i = (y * r.width + x) as usize * 3;
                if u32::from(px[i]) + u32::from(px[i + 1]) + u32::from(px[i + 2]) < 3 * 128 {
                    bb = Some(match bb {
                        None => (x, y, x, y),
                        Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
                    });
                }
            }
        }
        bb
    }

    #[test]
    fn text_is_rasterised_at_the_anchor() {
        let mut r = Raster::new(200, 60);
        let mut p = Painter::new(&mut r);
        p.text(
            "Hello",
            (10, 10),
            20.0,
            TEXT,
            Anchor(HPos::Left, VPos::Top),
            FontTransform::None,
        )
        .unwrap();
        let (x0, y0, x1, y1) = dark_box(&r).expect("text drawn");
        // Cap height of DejaVu is ~0.73 em; top-anchored caps start near the anchor.
        assert!((10..=13).contains(&x0), "{x0}");
        assert!((9..=13).contains(&y0), "{y0}");
        assert!((24..=28).contains(&y1), "{y1}");
        let w = f64::from(x1 - x0);
        assert!((w - font::text_width("Hello", 20.0)).abs() < 6.0, "{w}");
    }

    #[test]
    fn rotated_text_runs_upwards() {
        let mut r = Raster::new(60, 200);
        let mut p = Painter::new(&mut r);
        p.text(
            "Hello",
            (20, 100),
            20.0,
            TEXT,
            Anchor(HPos::Center, VPos::Top),
            FontTransform::Rotate270,
        )
        .unwrap();
        let (x0, y0, x1, y1) = dark_box(&r).expect("text drawn");
        assert!(y1 - y0 > 2 * (x1 - x0), "vertical: {x0} {y0} {x1} {y1}");
        assert!(x0 >= 19, "text lies right of the anchor: {x0}");
        assert!(y0 < 100 && y1 > 100, "centred on the anchor");
    }

    #[test]
    fn strokes_and_polygons_are_antialiased() {
        let mut r = Raster::new(40, 40);
        let mut p = Painter::new(&mut r);
        p.polyline(&[(2, 2), (37, 20)], 2, Rgba::rgb(0, 0, 0))
            .unwrap();
        p.polygon(&[(5, 30), (15, 25), (10, 38)], Rgba::rgb(0, 0, 0))
            .unwrap();
        p.circle((30, 32), 4, Rgba::rgb(0, 0, 0), true, 1).unwrap();
        let px = r.pixels();
        let grey = px
            .chunks_exact(3)
            .filter(|c| c[0] > 30 && c[0] < 220)
            .count();
        let black = px.chunks_exact(3).filter(|c| c[0] <= 30).count();
        assert!(grey > 20 && black > 40, "grey {grey}, black {black}");
    }

    #[test]
    fn fills_respect_bounds_and_alpha() {
        let mut r = Raster::new(10, 10);
        let mut p = Painter::new(&mut r);
        p.rect(-5, -5, 3, 3, Rgba::rgb(0, 0, 0)).unwrap();
        p.rect(5, 5, 50, 50, Rgba::rgb(0, 0, 0).alpha(0.5)).unwrap();
        p.polyline(&[(-100, -100), (100, 100)], 3, Rgba::rgb(0, 0, 0))
            .unwrap();
        let px = r.pixels();
        assert_eq!(&px[0..3], &[0, 0, 0]);
        let i = (9 * 10 + 5) * 3;
        assert!((120..=136).contains(&px[i]), "{}", px[i]);
        assert!(!r.encode_png().unwrap().is_empty());
    }

    #[test]
    fn svg_font_size_is_exact() {
        let t = TextSpec {
            em: 14.0,
            color: TEXT.backend(),
            anchor: Pos::new(HPos::Left, VPos::Top),
            transform: FontTransform::None,
        };
        assert_eq!(t.size() / SVG_SIZE_FACTOR, 14.0);
    }

    #[test]
    fn suffix_is_appended() {
        assert_eq!(
            with_suffix(Path::new("a/b.c"), "svg"),
            PathBuf::from("a/b.c.svg")
        );
    }
}

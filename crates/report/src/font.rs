//! The embedded DejaVu Sans font: registration with plotters, text measurement and
//! glyph rasterisation for the PNG output.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};

use crate::error::{ReportError, Result};

/// The embedded font file (DejaVu Sans 2.37, Bitstream Vera licence; see `assets/`).
pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The plotters font family under which [`register_fonts`] registers the embedded font.
pub const FONT_FAMILY: &str = "sans-serif";

/// Font-family list written into SVG files: the embedded font first (so viewers that
/// have it match the PNG), then common fallbacks.
pub(crate) const SVG_FONT_FAMILY: &str =
    "DejaVu Sans, Bitstream Vera Sans, Arial, Helvetica, sans-serif";

/// Half the x-height of DejaVu Sans in em (`sxHeight` 1120 / 2048 units), used to
/// mirror how the SVG backend centres text (`dy="0.5ex"`).
pub(crate) const HALF_EX_EM: f64 = 0.5 * 1120.0 / 2048.0;
/// Baseline offset of top-anchored text, as written by the SVG backend (`dy="0.76em"`).
pub(crate) const TOP_BASELINE_EM: f64 = 0.76;

static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// The parsed embedded font (parsed once).
pub(crate) fn font() -> Option<&'static FontRef<'static>> {
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
}

/// Registers the embedded DejaVu Sans with plotters as family [`FONT_FAMILY`]
/// (`"sans-serif"`), style Normal.
///
/// The renderers of this crate call it themselves; call it yourself only if you draw
/// with plotters directly (e.g. `("sans-serif", 20).into_font()`) in a build that uses
/// plotters' `ab_glyph` text backend. Safe to call any number of times from any thread;
/// registration happens once.
///
/// # Errors
/// [`ReportError::Font`] if the embedded font cannot be parsed (never expected).
pub fn register_fonts() -> Result<()> {
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(
                FONT_FAMILY,
                plotters::style::FontStyle::Normal,
                FONT_BYTES,
            )
            .map_err(|_| "the embedded DejaVu Sans font is not a valid font file".to_owned())
        })
        .clone()
        .map_err(|message| ReportError::Font { message })?;
    font().map(|_| ()).ok_or_else(|| ReportError::Font {
        message: "the embedded DejaVu Sans font cannot be parsed".to_owned(),
    })
}

/// The ab_glyph scale that makes one em `em` pixels tall.
fn scale_for_em(f: &FontRef<'static>, em: f64) -> PxScale {
    let upem = f.units_per_em().unwrap_or(2048.0);
    PxScale::from((em as f32) * f.height_unscaled() / upem)
}

/// Advance width of `text` in pixels at an em size of `em` pixels (with kerning).
pub(crate) fn text_width(text: &str, em: f64) -> f64 {
    let Some(f) = font() else {
        return 0.6 * em * text.chars().count() as f64;
    };
    let sf = f.as_scaled(scale_for_em(f, em));
    let mut w = 0.0f32;
    let mut prev: Option<GlyphId> = None;
    for ch in text.chars() {
        let id = sf.glyph_id(ch);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    f64::from(w)
}

/// `text`, shortened with a trailing ellipsis if it is wider than `max_w` pixels.
pub(crate) fn fit_text(text: &str, em: f64, max_w: f64) -> Cow<'_, str> {
    if text_width(text, em) <= max_w {
        return Cow::Borrowed(text);
    }
    let mut cand = String::with_capacity(text.len() + 3);
    for (i, _) in text.char_indices().rev() {
        cand.clear();
        cand.push_str(text[..i].trim_end());
        cand.push('\u{2026}');
        if text_width(&cand, em) <= max_w {
            return Cow::Owned(cand);
        }
    }
    Cow::Borrowed("\u{2026}")
}

/// Rasterises `text` with its baseline starting at (`x`, `baseline`) in a local,
/// unrotated frame, calling `put(px, py, coverage)` for every covered pixel.
pub(crate) fn rasterize(
    text: &str,
    em: f64,
    x: f64,
    baseline: f64,
    mut put: impl FnMut(i32, i32, f32),
) {
    let Some(f) = font() else { return };
    let scale = scale_for_em(f, em);
    let sf = f.as_scaled(scale);
    let mut pen = x as f32;
    let mut prev: Option<GlyphId> = None;
    for ch in text.chars() {
        let id = sf.glyph_id(ch);
        if let Some(p) = prev {
            pen += sf.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, point(pen, baseline as f32));
        if let Some(outlined) = f.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            let (bx, by) = (b.min.x as i32, b.min.y as i32);
            outlined.draw(|gx, gy, c| {
                if c > 0.0 {
                    put(bx + gx as i32, by + gy as i32, c.min(1.0));
                }
            });
        }
        pen += sf.h_advance(id);
        prev = Some(id);
    }
}

/// Sub-pixel positions per pixel used by [`GlyphCache`].
const SUBPIXEL: f32 = 4.0;

/// Coverage of one glyph rasterised at a given size and sub-pixel offset.
struct CachedGlyph {
    /// Offset of the bitmap's top-left pixel from the integer pen position.
    x0: i32,
    y0: i32,
    width: usize,
    cov: Vec<f32>,
}

/// Rasterised glyphs keyed by (glyph, em size, sub-pixel x, sub-pixel y); positions are
/// quantised to a quarter pixel, which is invisible at text sizes.
#[derive(Default)]
pub(crate) struct GlyphCache {
    map: HashMap<(u16, u32, u8, u8), CachedGlyph>,
}

impl GlyphCache {
    /// Like [`rasterize`], reusing glyph bitmaps across calls.
    pub(crate) fn rasterize(
        &mut self,
        text: &str,
        em: f64,
        x: f64,
        baseline: f64,
        mut put: impl FnMut(i32, i32, f32),
    ) {
        let Some(f) = font() else { return };
        let scale = scale_for_em(f, em);
        let sf = f.as_scaled(scale);
        let em_key = (em as f32).to_bits();
        let split = |v: f32| {
            let mut i = v.floor();
            let mut q = ((v - i) * SUBPIXEL).round();
            if q >= SUBPIXEL {
                i += 1.0;
                q = 0.0;
            }
            (i as i32, q as u8)
        };
        let (iy, qy) = split(baseline as f32);
        let mut pen = x as f32;
        let mut prev: Option<GlyphId> = None;
        for ch in text.chars() {
            let id = sf.glyph_id(ch);
            if let Some(p) = prev {
                pen += sf.kern(p, id);
            }
            let (ix, qx) = split(pen);
            let g = self.map.entry((id.0, em_key, qx, qy)).or_insert_with(|| {
                let pos = point(f32::from(qx) / SUBPIXEL, f32::from(qy) / SUBPIXEL);
                match f.outline_glyph(id.with_scale_and_position(scale, pos)) {
                    Some(o) => {
                        let b = o.px_bounds();
                        let width = b.width() as usize;
                        let mut cov = vec![0.0; width * b.height() as usize];
                        o.draw(|gx, gy, c| {
                            if let Some(v) = cov.get_mut(gy as usize * width + gx as usize) {
                                *v = c.min(1.0);
                            }
                        });
                        CachedGlyph {
                            x0: b.min.x as i32,
                            y0: b.min.y as i32,
                            width,
                            cov,
                        }
                    }
                    None => CachedGlyph {
                        x0: 0,
                        y0: 0,
                        width: 0,
                        cov: Vec::new(),
                    },
                }
            });
            if g.width > 0 {
                for (k, &c) in g.cov.iter().enumerate() {
                    if c > 0.0 {
                        put(
                            ix + g.x0 + (k % g.width) as i32,
                            iy + g.y0 + (k / g.width) as i32,
                            c,
                        );
                    }
                }
            }
            pen += sf.h_advance(id);
            prev = Some(id);
        }
    }
}

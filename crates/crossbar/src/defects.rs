//! Spatial defect geometries on an array grid, and the masks they produce.
//!
//! The grid has `R` rows (inputs, bias row included) and `C` columns (logical outputs).
//! Cell `(i, j)` has its centre at `(i + 0.5, j + 0.5)`; a shape's centre is given as a
//! fraction of the array, `(0.5, 0.5)` being the middle, and radii are fractions of
//! `D = min(R, C)`, as in Sawal & Wong (2025): `circle { r = 0.5 }` has a diameter equal to the
//! smaller array side. Coverage is always the counted fraction of masked cells.

use std::sync::Arc;

use rand::{Rng, RngExt};
use serde::Serialize;

use crate::CrossbarError;

/// Size of a row or column band: a fraction of the lines, or an explicit count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum LineSize {
    /// `count = max(1, round(fraction * lines))`.
    Fraction(f64),
    /// An explicit number of lines (clamped to the array).
    Count(u32),
}

impl LineSize {
    /// Number of lines out of `lines`.
    pub fn count(&self, lines: usize) -> usize {
        match *self {
            LineSize::Fraction(f) => ((f * lines as f64).round() as usize).max(1).min(lines),
            LineSize::Count(n) => (n as usize).min(lines),
        }
    }
}

/// A user-supplied mask (e.g. a wafer-test map) and how to fit it onto an array.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaskFile {
    /// Where it was read from (for messages and manifests).
    pub origin: String,
    /// Rows of the mask as read.
    pub rows: usize,
    /// Columns of the mask as read.
    pub cols: usize,
    /// Row-major cells, `true` = defective.
    pub cells: Vec<bool>,
    /// Resample to the array size with nearest neighbour when the sizes differ.
    pub resample: bool,
}

/// A defect geometry.
///
/// ```
/// use xbar_crossbar::{Shape, Center};
/// let circle = Shape::Circle { r: 0.1, center: Center::MIDDLE };
/// let mask = circle.mask(65, 50, &mut rand_chacha::ChaCha8Rng::from_seed([0; 32]))?;
/// // r = 0.1 of D = 50 is a 5-cell radius: 78 cells of 3250.
/// assert_eq!(mask.count(), 78);
/// # use rand::SeedableRng;
/// # Ok::<(), xbar_crossbar::CrossbarError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Shape {
    /// Solid disc: `dist <= r * D`.
    Circle {
        /// Radius as a fraction of `D`.
        r: f64,
        /// Centre.
        center: Center,
    },
    /// Annulus: `inner * D < dist <= outer * D`.
    Ring {
        /// Inner radius as a fraction of `D`.
        inner: f64,
        /// Outer radius as a fraction of `D` (the paper: 0.5).
        outer: f64,
        /// Centre.
        center: Center,
    },
    /// Everything outside a disc: `dist > r * D` (only the core works).
    CircleComplement {
        /// Radius of the working core as a fraction of `D`.
        r: f64,
        /// Centre.
        center: Center,
    },
    /// A contiguous band of rows, centred (or at `center.row`).
    Rows {
        /// How many rows.
        size: LineSize,
        /// Centre (only `row` is used).
        center: Center,
    },
    /// A contiguous band of columns, centred (or at `center.col`).
    Columns {
        /// How many columns.
        size: LineSize,
        /// Centre (only `col` is used).
        center: Center,
    },
    /// Cells with `(i + j + phase)` even.
    Checkerboard {
        /// 0 or 1: which diagonal family is defective.
        phase: u8,
    },
    /// Each cell independently defective with probability `p`.
    Random {
        /// Probability per cell.
        p: f64,
    },
    /// `count` discs of radius `radius * D` at uniformly random centres.
    Clusters {
        /// Number of discs.
        count: u32,
        /// Radius of each disc as a fraction of `D`.
        radius: f64,
    },
    /// A mask read from a CSV or PNG file.
    File(Arc<MaskFile>),
}

/// Centre of a shape as fractions of the array height and width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Center {
    /// Row position in `[0, 1]` (0 = top edge).
    pub row: f64,
    /// Column position in `[0, 1]` (0 = left edge).
    pub col: f64,
}

impl Center {
    /// The middle of the array.
    pub const MIDDLE: Center = Center { row: 0.5, col: 0.5 };
}

/// A boolean map over the array grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row-major cells, `true` = defective.
    pub cells: Vec<bool>,
}

impl Mask {
    /// An all-healthy mask.
    pub fn empty(rows: usize, cols: usize) -> Mask {
        Mask {
            rows,
            cols,
            cells: vec![false; rows * cols],
        }
    }

    /// Whether cell `(i, j)` is defective.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> bool {
        self.cells[i * self.cols + j]
    }

    /// Number of defective cells.
    pub fn count(&self) -> usize {
        self.cells.iter().filter(|&&c| c).count()
    }

    /// Fraction of defective cells.
    pub fn coverage(&self) -> f64 {
        if self.cells.is_empty() {
            0.0
        } else {
            self.count() as f64 / self.cells.len() as f64
        }
    }

    /// Cell-wise union.
    pub fn union_with(&mut self, other: &Mask) {
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            *a |= *b;
        }
    }
}

impl Shape {
    /// A fixed binary encoding of the geometry: a variant tag, then its parameters as
    /// little-endian bit patterns; a mask file by its size, resample flag and cells (never
    /// its path). Scenario stream seeds hash these bytes, so they depend neither on text
    /// formatting nor on how a file's path was spelled.
    ///
    /// ```
    /// use xbar_crossbar::{Center, Shape};
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// Shape::Circle { r: 0.1, center: Center::MIDDLE }.encode(&mut a);
    /// Shape::Circle { r: 0.2, center: Center::MIDDLE }.encode(&mut b);
    /// assert_ne!(a, b);
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) {
        let f = |out: &mut Vec<u8>, v: f64| out.extend_from_slice(&v.to_bits().to_le_bytes());
        let c = |out: &mut Vec<u8>, c: &Center| {
            out.extend_from_slice(&c.row.to_bits().to_le_bytes());
            out.extend_from_slice(&c.col.to_bits().to_le_bytes());
        };
        let line = |out: &mut Vec<u8>, s: &LineSize| match *s {
            LineSize::Fraction(x) => {
                out.push(0);
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            LineSize::Count(n) => {
                out.push(1);
                out.extend_from_slice(&u64::from(n).to_le_bytes());
            }
        };
        match self {
            Shape::Circle { r, center } => {
                out.push(1);
                f(out, *r);
                c(out, center);
            }
            Shape::Ring {
                inner,
                outer,
                center,
            } => {
                out.push(2);
                f(out, *inner);
                f(out, *outer);
                c(out, center);
            }
            Shape::CircleComplement { r, center } => {
                out.push(3);
                f(out, *r);
                c(out, center);
            }
            Shape::Rows { size, center } => {
                out.push(4);
                line(out, size);
                c(out, center);
            }
            Shape::Columns { size, center } => {
                out.push(5);
                line(out, size);
                c(out, center);
            }
            Shape::Checkerboard { phase } => {
                out.push(6);
                out.push(*phase);
            }
            Shape::Random { p } => {
                out.push(7);
                f(out, *p);
            }
            Shape::Clusters { count, radius } => {
                out.push(8);
                out.extend_from_slice(&u64::from(*count).to_le_bytes());
                f(out, *radius);
            }
            Shape::File(m) => {
                out.push(9);
                out.extend_from_slice(&(m.rows as u64).to_le_bytes());
                out.extend_from_slice(&(m.cols as u64).to_le_bytes());
                out.push(u8::from(m.resample));
                // Cells packed 8 per byte, row-major.
                for chunk in m.cells.chunks(8) {
                    out.push(
                        chunk
                            .iter()
                            .enumerate()
                            .fold(0u8, |b, (k, &on)| b | (u8::from(on) << k)),
                    );
                }
            }
        }
    }

    /// A short kebab-case name of the geometry kind (used in results).
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Circle { .. } => "circle",
            Shape::Ring { .. } => "ring",
            Shape::CircleComplement { .. } => "circle-complement",
            Shape::Rows { .. } => "rows",
            Shape::Columns { .. } => "columns",
            Shape::Checkerboard { .. } => "checkerboard",
            Shape::Random { .. } => "random",
            Shape::Clusters { .. } => "clusters",
            Shape::File(_) => "mask-file",
        }
    }

    /// Builds the mask on an `rows x cols` grid. Random shapes draw from `rng` (cells in
    /// row-major order, cluster centres in order), so a seeded stream gives the same mask.
    pub fn mask<R: Rng + ?Sized>(
        &self,
        rows: usize,
        cols: usize,
        rng: &mut R,
    ) -> Result<Mask, CrossbarError> {
        let mut m = Mask::empty(rows, cols);
        if rows == 0 || cols == 0 {
            return Ok(m);
        }
        let d = rows.min(cols) as f64;
        let dist = |c: &Center, i: usize, j: usize| {
            let dy = i as f64 + 0.5 - c.row * rows as f64;
            let dx = j as f64 + 0.5 - c.col * cols as f64;
            (dy * dy + dx * dx).sqrt()
        };
        match self {
            Shape::Circle { r, center } => fill(&mut m, |i, j| dist(center, i, j) <= r * d),
            Shape::Ring {
                inner,
                outer,
                center,
            } => fill(&mut m, |i, j| {
                let x = dist(center, i, j);
                x > inner * d && x <= outer * d
            }),
            Shape::CircleComplement { r, center } => {
                fill(&mut m, |i, j| dist(center, i, j) > r * d)
            }
            Shape::Rows { size, center } => {
                let (lo, hi) = band(size.count(rows), rows, center.row);
                fill(&mut m, |i, _| i >= lo && i < hi);
            }
            Shape::Columns { size, center } => {
                let (lo, hi) = band(size.count(cols), cols, center.col);
                fill(&mut m, |_, j| j >= lo && j < hi);
            }
            Shape::Checkerboard { phase } => {
                fill(&mut m, |i, j| (i + j + *phase as usize).is_multiple_of(2))
            }
            Shape::Random { p } => {
                for c in m.cells.iter_mut() {
                    *c = rng.random::<f64>() < *p;
                }
            }
            Shape::Clusters { count, radius } => {
                for _ in 0..*count {
                    let center = Center {
                        row: rng.random::<f64>(),
                        col: rng.random::<f64>(),
                    };
                    let mut disc = Mask::empty(rows, cols);
                    fill(&mut disc, |i, j| dist(&center, i, j) <= radius * d);
                    m.union_with(&disc);
                }
            }
            Shape::File(f) => {
                if f.rows == rows && f.cols == cols {
                    m.cells.clone_from(&f.cells);
                } else if f.resample && f.rows > 0 && f.cols > 0 {
                    fill(&mut m, |i, j| {
                        let si = ((i as f64 + 0.5) * f.rows as f64 / rows as f64) as usize;
                        let sj = ((j as f64 + 0.5) * f.cols as f64 / cols as f64) as usize;
                        f.cells[si.min(f.rows - 1) * f.cols + sj.min(f.cols - 1)]
                    });
                } else {
                    return Err(CrossbarError::MaskSize {
                        origin: f.origin.clone(),
                        mask: (f.rows, f.cols),
                        array: (rows, cols),
                    });
                }
            }
        }
        Ok(m)
    }
}

fn fill(m: &mut Mask, f: impl Fn(usize, usize) -> bool) {
    let cols = m.cols;
    for (k, c) in m.cells.iter_mut().enumerate() {
        *c = f(k / cols, k % cols);
    }
}

/// A band of `count` lines centred at `frac * lines`, kept inside `[0, lines)`.
fn band(count: usize, lines: usize, frac: f64) -> (usize, usize) {
    let centre = frac * lines as f64;
    let lo = (centre - count as f64 / 2.0).round().max(0.0) as usize;
    let lo = lo.min(lines - count);
    (lo, lo + count)
}

/// Parses a mask from CSV text: one array row per line, cells `0`/`1` (also `.`/`#`)
/// separated by commas, semicolons or whitespace. Blank lines and lines starting with `#`
/// followed by a space are skipped.
pub fn parse_mask_csv(text: &str, origin: &str, resample: bool) -> Result<MaskFile, CrossbarError> {
    let mut cells = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    for (ln, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("# ") || t == "#" {
            continue;
        }
        let mut n = 0;
        for tok in t
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let v = match tok {
                "0" | "." | "false" => false,
                "1" | "#" | "x" | "X" | "true" => true,
                other => {
                    return Err(CrossbarError::MaskParse {
                        origin: origin.to_string(),
                        message: format!(
                            "line {}: cell {} is `{other}`; expected 0 or 1",
                            ln + 1,
                            n + 1
                        ),
                    });
                }
            };
            cells.push(v);
            n += 1;
        }
        match cols {
            None => cols = Some(n),
            Some(c) if c != n => {
                return Err(CrossbarError::MaskParse {
                    origin: origin.to_string(),
                    message: format!("line {}: {n} cells, but the first row has {c}", ln + 1),
                });
            }
            _ => {}
        }
        rows += 1;
    }
    let cols = cols.unwrap_or(0);
    if rows == 0 || cols == 0 {
        return Err(CrossbarError::MaskParse {
            origin: origin.to_string(),
            message: "the mask is empty".into(),
        });
    }
    Ok(MaskFile {
        origin: origin.to_string(),
        rows,
        cols,
        cells,
        resample,
    })
}

/// Decodes a PNG mask: a pixel is defective when it is dark (luma below one half of full
/// scale, after alpha is ignored). Any bit depth and colour type is accepted.
pub fn parse_mask_png(
    bytes: &[u8],
    origin: &str,
    resample: bool,
) -> Result<MaskFile, CrossbarError> {
    let err = |message: String| CrossbarError::MaskParse {
        origin: origin.to_string(),
        message,
    };
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| err(format!("not a readable PNG: {e}")))?;
    let size = reader.output_buffer_size();
    if size > 256 << 20 {
        return Err(err(format!("PNG too large ({size} bytes decoded)")));
    }
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| err(format!("not a readable PNG: {e}")))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(err("indexed PNG could not be expanded".into())),
    };
    let mut cells = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &buf[y * info.line_size..];
        for x in 0..w {
            let px = &row[x * channels..];
            let luma = if channels >= 3 {
                0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2])
            } else {
                f64::from(px[0])
            };
            cells.push(luma < 128.0);
        }
    }
    if w == 0 || h == 0 {
        return Err(err("the image is empty".into()));
    }
    Ok(MaskFile {
        origin: origin.to_string(),
        rows: h,
        cols: w,
        cells,
        resample,
    })
}

/// Reads a mask file by extension (`.csv`/`.txt` or `.png`).
pub fn read_mask_file(path: &std::path::Path, resample: bool) -> Result<MaskFile, CrossbarError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CrossbarError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => parse_mask_png(&bytes, &origin, resample),
        "csv" | "txt" => {
            let text = String::from_utf8(bytes).map_err(|_| CrossbarError::MaskParse {
                origin: origin.clone(),
                message: "not UTF-8 text".into(),
            })?;
            parse_mask_csv(&text, &origin, resample)
        }
        _ => Err(CrossbarError::MaskParse {
            origin,
            message: format!("unknown mask extension `{ext}`; expected .csv, .txt or .png"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(3)
    }

    #[test]
    fn circle_ring_complement_partition_the_array() {
        let c = Center::MIDDLE;
        let circle = Shape::Circle { r: 0.3, center: c }
            .mask(65, 50, &mut rng())
            .unwrap();
        let comp = Shape::CircleComplement { r: 0.3, center: c }
            .mask(65, 50, &mut rng())
            .unwrap();
        assert_eq!(circle.count() + comp.count(), 65 * 50);
        for k in 0..circle.cells.len() {
            assert_ne!(circle.cells[k], comp.cells[k]);
        }
        let ring = Shape::Ring {
            inner: 0.3,
            outer: 0.5,
            center: c,
        }
        .mask(65, 50, &mut rng())
        .unwrap();
        let big = Shape::Circle { r: 0.5, center: c }
            .mask(65, 50, &mut rng())
            .unwrap();
        assert_eq!(ring.count(), big.count() - circle.count());
    }

    #[test]
    fn circle_coverage_is_close_to_geometry() {
        // r = 0.4 on 65x50: area pi (20)^2 = 1256.6 of 3250 = 38.7 %.
        let m = Shape::Circle {
            r: 0.4,
            center: Center::MIDDLE,
        }
        .mask(65, 50, &mut rng())
        .unwrap();
        assert!((m.coverage() - 0.3867).abs() < 0.01, "{}", m.coverage());
    }

    #[test]
    fn bands_follow_the_paper_counts() {
        // Fractions 0.05..0.2 give 1..13 rows over the digits network's arrays.
        assert_eq!(LineSize::Fraction(0.2).count(65), 13);
        assert_eq!(LineSize::Fraction(0.05).count(9), 1);
        assert_eq!(LineSize::Fraction(0.2).count(50), 10);
        let m = Shape::Rows {
            size: LineSize::Count(4),
            center: Center::MIDDLE,
        }
        .mask(10, 3, &mut rng())
        .unwrap();
        let rows: Vec<usize> = (0..10).filter(|&i| m.get(i, 0)).collect();
        assert_eq!(rows, vec![3, 4, 5, 6]);
        let m = Shape::Columns {
            size: LineSize::Count(3),
            center: Center { row: 0.5, col: 1.0 },
        }
        .mask(2, 10, &mut rng())
        .unwrap();
        assert_eq!(
            (0..10).filter(|&j| m.get(0, j)).collect::<Vec<_>>(),
            vec![7, 8, 9]
        );
    }

    #[test]
    fn checkerboard_is_half() {
        let m = Shape::Checkerboard { phase: 0 }
            .mask(65, 50, &mut rng())
            .unwrap();
        assert_eq!(m.count(), 1625);
        assert!(m.get(0, 0) && !m.get(0, 1));
    }

    #[test]
    fn random_shapes_are_seeded() {
        let s = Shape::Random { p: 0.3 };
        let a = s.mask(40, 40, &mut rng()).unwrap();
        let b = s.mask(40, 40, &mut rng()).unwrap();
        assert_eq!(a, b);
        assert!((a.coverage() - 0.3).abs() < 0.05);
        let c = Shape::Clusters {
            count: 3,
            radius: 0.1,
        }
        .mask(40, 40, &mut rng())
        .unwrap();
        assert!(c.count() > 0 && c.count() < 3 * 60);
    }

    #[test]
    fn mask_files_parse_and_resample() {
        let f = parse_mask_csv("1,0,0\n0,1,0\n", "m.csv", false).unwrap();
        assert_eq!((f.rows, f.cols), (2, 3));
        let s = Shape::File(Arc::new(f.clone()));
        assert_eq!(s.mask(2, 3, &mut rng()).unwrap().count(), 2);
        assert!(matches!(
            s.mask(4, 6, &mut rng()),
            Err(CrossbarError::MaskSize { .. })
        ));
        let r = Shape::File(Arc::new(MaskFile {
            resample: true,
            ..f
        }));
        assert_eq!(r.mask(4, 6, &mut rng()).unwrap().count(), 8);
        assert!(parse_mask_csv("1,0\n1\n", "m.csv", false).is_err());
        assert!(
            parse_mask_csv("1,2\n", "m.csv", false)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(parse_mask_png(b"not a png", "m.png", false).is_err());
    }

    #[test]
    fn png_mask_round_trip() {
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, 3, 2);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0, 255, 255, 255, 0, 255]).unwrap();
        }
        let f = parse_mask_png(&bytes, "m.png", false).unwrap();
        assert_eq!((f.rows, f.cols), (2, 3));
        assert_eq!(f.cells, vec![true, false, false, false, true, false]);
    }
}

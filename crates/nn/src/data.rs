//! Data sets: the [`Dataset`] container and the embedded UCI 8x8 digits.
//!
//! The digits come from `data/digits.csv.gz` (see `data/README.md` in this crate for provenance
//! and licence), compiled into the library with `include_bytes!`, so nothing is read at run time.

use std::io::Read;

use faer::Mat;

use crate::error::{NnError, Result};

/// Largest pixel value of the digits data; pixels are divided by it, so features lie in `[0, 1]`.
pub const DIGITS_PIXEL_MAX: f64 = 16.0;

/// Number of pixels (features) per digits image: 8 x 8.
pub const DIGITS_FEATURES: usize = 64;

/// Number of classes of the digits data (labels 0..=9).
pub const DIGITS_CLASSES: usize = 10;

/// Number of images in the embedded digits data.
pub const DIGITS_SAMPLES: usize = 1797;

/// The gzip-compressed CSV, embedded.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Largest uncompressed size accepted by [`parse_digits_csv_gz`] (guards against gzip bombs).
const MAX_UNCOMPRESSED: u64 = 64 << 20;

/// Longest field value quoted in an error message.
const MAX_QUOTED: usize = 40;

/// A labelled data set for classification.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, `n x d`, one sample per row.
    pub x: Mat<f64>,
    /// Class label of every row, each `< n_classes`.
    pub y: Vec<u8>,
    /// Number of classes (labels are `0..n_classes`).
    pub n_classes: usize,
}

impl Dataset {
    /// Builds a data set, checked with [`Dataset::check`].
    pub fn new(x: Mat<f64>, y: Vec<u8>, n_classes: usize) -> Result<Dataset> {
        let data = Dataset { x, y, n_classes };
        data.check()?;
        Ok(data)
    }

    /// Checks the invariants the fields cannot enforce: one label per row of `x`, every label
    /// below `n_classes`, `n_classes` in `1..=256` (labels are `u8`), every feature finite.
    pub fn check(&self) -> Result<()> {
        if self.y.len() != self.x.nrows() {
            return Err(NnError::ShapeMismatch {
                what: "labels (one per row of x)".into(),
                expected: self.x.nrows(),
                got: self.y.len(),
            });
        }
        if self.n_classes == 0 || self.n_classes > 256 {
            return Err(NnError::Dataset {
                what: format!("n_classes = {}, allowed 1..=256", self.n_classes),
            });
        }
        if let Some((i, &l)) = self
            .y
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= self.n_classes)
        {
            return Err(NnError::Dataset {
                what: format!(
                    "label {l} of row {i} is not below n_classes = {}",
                    self.n_classes
                ),
            });
        }
        for j in 0..self.x.ncols() {
            if let Some(i) = self.x.col_as_slice(j).iter().position(|v| !v.is_finite()) {
                return Err(NnError::Dataset {
                    what: format!("feature ({i}, {j}) = {} is not finite", self.x[(i, j)]),
                });
            }
        }
        Ok(())
    }

    /// Number of samples (rows).
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// Number of features (columns of `x`).
    pub fn n_features(&self) -> usize {
        self.x.ncols()
    }

    /// The samples at the given row indices, in the given order (repeats allowed).
    ///
    /// # Panics
    /// If an index is `>= self.len()`.
    pub fn select(&self, idx: &[u32]) -> Dataset {
        let rows: Vec<usize> = idx.iter().map(|&i| i as usize).collect();
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.len()) {
            panic!(
                "Dataset::select: index {bad} out of range for {} rows",
                self.len()
            );
        }
        let x = Mat::from_fn(rows.len(), self.n_features(), |i, j| self.x[(rows[i], j)]);
        let y = rows.iter().map(|&r| self.y[r]).collect();
        Dataset {
            x,
            y,
            n_classes: self.n_classes,
        }
    }

    /// The `(train, test)` data sets of a [`crate::Split`].
    ///
    /// # Panics
    /// If the split refers to rows this data set does not have.
    pub fn split(&self, split: &crate::Split) -> (Dataset, Dataset) {
        (self.select(&split.train), self.select(&split.test))
    }

    /// Number of samples of every class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes];
        for &l in &self.y {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// A 64-bit fingerprint of the contents, used in cache keys.
    ///
    /// It is FNV-1a (64-bit) over, in order: the row count, the column count and `n_classes`
    /// (each as a little-endian `u64`), the IEEE-754 bit pattern of every entry of `x` in
    /// row-major order (little-endian `u64`), then the labels (one byte each). Only integer
    /// operations and fixed byte orders are involved, so the value is the same on every
    /// platform and every run. It depends on exact bits: `0.0` and `-0.0` differ.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv64::new();
        h.write_u64(self.len() as u64);
        h.write_u64(self.n_features() as u64);
        h.write_u64(self.n_classes as u64);
        for i in 0..self.len() {
            for j in 0..self.n_features() {
                h.write_u64(self.x[(i, j)].to_bits());
            }
        }
        h.write(&self.y);
        h.finish()
    }
}

/// FNV-1a, 64 bit, of `bytes`: a small, stable, platform-independent hash (not
/// cryptographic) for seeds, stream ids and cache keys; the one copy in the workspace.
///
/// ```
/// assert_eq!(xbar_nn::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(xbar_nn::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv64::new();
    h.write(bytes);
    h.finish()
}

/// FNV-1a, 64-bit, incremental: a tiny, stable, platform-independent hash (not cryptographic).
#[derive(Clone, Debug)]
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(crate) fn new() -> Fnv64 {
        Fnv64(Self::OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    pub(crate) fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// The embedded UCI 8x8 digits: 1797 samples, 64 features (pixel counts 0..16 divided by
/// [`DIGITS_PIXEL_MAX`], so in `[0, 1]`, row-major image order), labels 0..9, 10 classes.
///
/// Decompresses and parses the embedded file on every call (a few milliseconds).
pub fn digits() -> Result<Dataset> {
    let data = parse_digits_csv_gz(DIGITS_CSV_GZ)?;
    if data.len() != DIGITS_SAMPLES {
        return Err(NnError::ShapeMismatch {
            what: "embedded digits rows".into(),
            expected: DIGITS_SAMPLES,
            got: data.len(),
        });
    }
    Ok(data)
}

/// Parses the gzip-compressed digits CSV (see [`parse_digits_csv`] for the text format).
///
/// Corrupt gzip data and more than 64 MiB of uncompressed text are errors, never panics.
pub fn parse_digits_csv_gz(bytes: &[u8]) -> Result<Dataset> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_UNCOMPRESSED + 1)
        .read_to_end(&mut text)
        .map_err(|e| NnError::Dataset {
            what: format!("gzip decoding failed: {e}"),
        })?;
    if text.len() as u64 > MAX_UNCOMPRESSED {
        return Err(NnError::Dataset {
            what: format!("uncompressed digits CSV exceeds {MAX_UNCOMPRESSED} bytes"),
        });
    }
    parse_digits_csv(&text)
}

/// Parses the digits CSV text.
///
/// Format: no header; one sample per line, lines ended by `\n` (a `\r` before it is accepted);
/// 65 comma-separated non-negative decimal integers per line: 64 pixels `0..=16` in row-major
/// order, then the label `0..=9`. A final newline is optional; empty lines are not allowed.
/// Pixels are divided by [`DIGITS_PIXEL_MAX`]. The result has 10 classes.
///
/// Any malformed input gives an [`NnError::Csv`] naming the 1-based line and column and the bad
/// value (or [`NnError::Dataset`] for input with no lines); the function never panics.
pub fn parse_digits_csv(bytes: &[u8]) -> Result<Dataset> {
    const FIELDS: usize = DIGITS_FEATURES + 1;
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Err(NnError::Dataset {
            what: "digits CSV is empty".into(),
        });
    }
    let mut pixels: Vec<f64> = Vec::new();
    let mut labels: Vec<u8> = Vec::new();
    for (li, raw_line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = li + 1;
        let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        let csv_err = |column: usize, value: &[u8], problem: String| NnError::Csv {
            line: line_no,
            column,
            value: quote(value),
            problem,
        };
        if line.is_empty() {
            return Err(csv_err(1, b"", "empty line".into()));
        }
        let mut n_fields = 0;
        for (ci, field) in line.split(|&b| b == b',').enumerate() {
            let column = ci + 1;
            n_fields = column;
            if column > FIELDS {
                return Err(csv_err(
                    column,
                    field,
                    format!("too many fields: expected {FIELDS}"),
                ));
            }
            let is_label = column == FIELDS;
            let max = if is_label { 9 } else { 16 };
            let what = if is_label { "label" } else { "pixel" };
            let v = parse_small_uint(field).ok_or_else(|| {
                csv_err(
                    column,
                    field,
                    format!("{what} is not a non-negative integer"),
                )
            })?;
            if v > max {
                return Err(csv_err(
                    column,
                    field,
                    format!("{what} out of range 0..={max}"),
                ));
            }
            if is_label {
                labels.push(v as u8);
            } else {
                pixels.push(f64::from(v) / DIGITS_PIXEL_MAX);
            }
        }
        if n_fields < FIELDS {
            return Err(csv_err(
                n_fields + 1,
                b"",
                format!("line ends after {n_fields} of {FIELDS} fields"),
            ));
        }
    }
    let n = labels.len();
    let x = Mat::from_fn(n, DIGITS_FEATURES, |i, j| pixels[i * DIGITS_FEATURES + j]);
    Ok(Dataset {
        x,
        y: labels,
        n_classes: DIGITS_CLASSES,
    })
}

/// Parses ASCII decimal digits only (1 to 9 of them, so it cannot overflow).
fn parse_small_uint(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 9 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        field
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

/// A field as text for an error message: lossy UTF-8, at most [`MAX_QUOTED`] characters.
fn quote(field: &[u8]) -> String {
    let text = String::from_utf8_lossy(field);
    let mut out: String = text.chars().take(MAX_QUOTED).collect();
    if text.chars().count() > MAX_QUOTED {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pixel: &str, label: &str) -> String {
        let mut fields = vec!["0".to_string(); DIGITS_FEATURES];
        fields[3] = pixel.to_string();
        fields.push(label.to_string());
        fields.join(",")
    }

    fn err_text(bytes: &[u8]) -> String {
        match parse_digits_csv(bytes) {
            Ok(d) => panic!("expected an error, parsed {} rows", d.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn embedded_digits_shape_counts_first_row() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.n_features(), 64);
        assert_eq!(d.n_classes, 10);
        assert_eq!(
            d.class_counts(),
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert_eq!(d.y[0], 0);
        let first: [u32; 64] = [
            0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4,
            12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10,
            12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
        ];
        for (j, &p) in first.iter().enumerate() {
            assert_eq!(d.x[(0, j)], f64::from(p) / DIGITS_PIXEL_MAX);
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for j in 0..d.n_features() {
            for &v in d.x.col_as_slice(j) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn parses_small_valid_input() {
        let text = format!("{}\r\n{}", line("16", "9"), line("7", "0"));
        let d = parse_digits_csv(text.as_bytes()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.y, [9, 0]);
        assert_eq!(d.x[(0, 3)], 1.0);
        assert_eq!(d.x[(1, 3)], 7.0 / 16.0);
    }

    #[test]
    fn truncated_line_is_an_error_with_line_number() {
        let full = line("1", "2");
        let cut = &full[..full.len() - 6];
        let text = format!("{full}\n{cut}\n");
        let msg = err_text(text.as_bytes());
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("fields"), "{msg}");
    }

    #[test]
    fn non_integer_is_an_error() {
        let text = format!(
            "{}\n{}\n{}",
            line("1", "2"),
            line("1", "2"),
            line("3.5", "2")
        );
        let msg = err_text(text.as_bytes());
        assert!(msg.contains("line 3, column 4"), "{msg}");
        assert!(msg.contains("\"3.5\""), "{msg}");
        let msg = err_text(line("-1", "2").as_bytes());
        assert!(msg.contains("line 1, column 4"), "{msg}");
        let msg = err_text(line("", "2").as_bytes());
        assert!(msg.contains("line 1, column 4"), "{msg}");
    }

    #[test]
    fn out_of_range_pixel_is_an_error() {
        let msg = err_text(line("17", "2").as_bytes());
        assert!(msg.contains("line 1, column 4"), "{msg}");
        assert!(msg.contains("0..=16"), "{msg}");
        assert!(msg.contains("\"17\""), "{msg}");
        // Huge values must not overflow.
        let msg = err_text(line("99999999999999999999999", "2").as_bytes());
        assert!(msg.contains("line 1, column 4"), "{msg}");
    }

    #[test]
    fn bad_label_is_an_error() {
        let text = format!("{}\n{}", line("1", "2"), line("1", "10"));
        let msg = err_text(text.as_bytes());
        assert!(msg.contains("line 2, column 65"), "{msg}");
        assert!(msg.contains("label"), "{msg}");
        let msg = err_text(line("1", "x").as_bytes());
        assert!(msg.contains("line 1, column 65"), "{msg}");
    }

    #[test]
    fn wrong_column_count_is_an_error() {
        let too_many = format!("{},0", line("1", "2"));
        let msg = err_text(too_many.as_bytes());
        assert!(msg.contains("line 1, column 66"), "{msg}");
        let too_few = "1,2,3";
        let msg = err_text(too_few.as_bytes());
        assert!(msg.contains("line 1, column 4"), "{msg}");
        assert!(msg.contains("after 3 of 65"), "{msg}");
    }

    #[test]
    fn empty_inputs_and_lines_are_errors() {
        assert!(parse_digits_csv(b"").is_err());
        assert!(parse_digits_csv(b"\n").is_err());
        let text = format!("{}\n\n{}", line("1", "2"), line("1", "2"));
        assert!(err_text(text.as_bytes()).contains("line 2"));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x1234_5678_u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    b"0123456789,\n\r.-x\xff"[(state >> 59) as usize % 17]
                })
                .collect();
            let _ = parse_digits_csv(&bytes);
            let _ = parse_digits_csv_gz(&bytes);
        }
        assert!(parse_digits_csv_gz(b"not gzip").is_err());
        assert!(parse_digits_csv_gz(&DIGITS_CSV_GZ[..1000]).is_err());
    }

    #[test]
    fn select_and_fingerprint() {
        let d = digits().unwrap();
        let s = d.select(&[5, 0, 5]);
        assert_eq!(s.len(), 3);
        assert_eq!(s.y, [d.y[5], d.y[0], d.y[5]]);
        for j in 0..64 {
            assert_eq!(s.x[(1, j)], d.x[(0, j)]);
        }
        assert_eq!(d.fingerprint(), digits().unwrap().fingerprint());
        assert_ne!(d.fingerprint(), s.fingerprint());
        let mut e = d.clone();
        e.x[(100, 10)] += 1.0 / 16.0;
        assert_ne!(d.fingerprint(), e.fingerprint());
        let mut e = d.clone();
        e.y[17] = (e.y[17] + 1) % 10;
        assert_ne!(d.fingerprint(), e.fingerprint());
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        let mut h = Fnv64::new();
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut h = Fnv64::new();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn new_checks_labels_and_shapes() {
        let x = Mat::<f64>::zeros(2, 3);
        assert!(Dataset::new(x.clone(), vec![0, 1], 2).is_ok());
        assert!(Dataset::new(x.clone(), vec![0], 2).is_err());
        assert!(Dataset::new(x.clone(), vec![0, 2], 2).is_err());
        let mut bad = x;
        bad[(1, 1)] = f64::NAN;
        assert!(Dataset::new(bad, vec![0, 1], 2).is_err());
    }
}

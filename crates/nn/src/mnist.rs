//! MNIST in its original IDX format (LeCun, Cortes and Burges), read from `data/mnist/`.
//!
//! The four gzip files are shipped in the repository's `data/mnist/` (see its README for the
//! source and licence); they are read at run time, not embedded. Images become rows of 784
//! pixels in `[0, 1]` (byte / 255, row-major), labels 0..9.

use std::io::Read;
use std::path::{Path, PathBuf};

use faer::Mat;

use crate::{Dataset, NnError, Result};

/// File names of the training and test images and labels, as distributed.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Pixels per image (28 x 28).
pub const MNIST_PIXELS: usize = 784;

/// Largest accepted uncompressed file (the training images are 47 MB).
const MAX_BYTES: u64 = 64 << 20;

fn bad(path: &Path, what: impl Into<String>) -> NnError {
    NnError::Dataset {
        what: format!("{}: {}", path.display(), what.into()),
    }
}

fn read_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .take(MAX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            bad(
                path,
                format!("gzip decoding failed ({e}); the file is truncated or corrupt"),
            )
        })?;
    if out.len() as u64 > MAX_BYTES {
        return Err(bad(
            path,
            format!("more than {MAX_BYTES} bytes uncompressed"),
        ));
    }
    Ok(out)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The element type of an IDX file (the third byte of its magic number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxType {
    /// 0x08: unsigned byte.
    U8,
    /// 0x09: signed byte.
    I8,
    /// 0x0B: 16-bit signed integer, big-endian.
    I16,
    /// 0x0C: 32-bit signed integer, big-endian.
    I32,
    /// 0x0D: 32-bit float, big-endian.
    F32,
    /// 0x0E: 64-bit float, big-endian.
    F64,
}

impl IdxType {
    /// Bytes per element.
    pub fn width(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
}

/// An IDX array (any element type, any rank), its values converted to `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions, as in the header.
    pub dims: Vec<usize>,
    /// The element type.
    pub elem: IdxType,
    /// The values, row-major.
    pub data: Vec<f64>,
}

/// Checks an IDX header (magic `0 0 type rank`, then `rank` big-endian u32 dimensions) against
/// the size of `b`; returns the dimensions, the element type and where the data starts.
///
/// The claimed dimensions are checked against the bytes present, so nothing is allocated for a
/// header that lies.
pub fn parse_idx_header(b: &[u8], path: &Path) -> Result<(Vec<usize>, IdxType, usize)> {
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Err(bad(path, "not an IDX file (magic 0x0000TTRR expected)"));
    }
    let elem = match b[2] {
        0x08 => IdxType::U8,
        0x09 => IdxType::I8,
        0x0B => IdxType::I16,
        0x0C => IdxType::I32,
        0x0D => IdxType::F32,
        0x0E => IdxType::F64,
        t => {
            return Err(bad(
                path,
                format!("IDX element type 0x{t:02x} is not one of 08 09 0B 0C 0D 0E"),
            ));
        }
    };
    let rank = usize::from(b[3]);
    let start = 4 + 4 * rank;
    if rank == 0 || b.len() < start {
        return Err(bad(
            path,
            format!("IDX header of rank {rank} is truncated or empty"),
        ));
    }
    let dims: Vec<usize> = (0..rank).map(|k| be_u32(b, 4 + 4 * k) as usize).collect();
    let need = dims
        .iter()
        .try_fold(elem.width(), |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_add(start));
    if need != Some(b.len()) {
        return Err(bad(
            path,
            format!(
                "{} bytes, but dimensions {dims:?} of {}-byte values need {} (truncated?)",
                b.len(),
                elem.width(),
                need.map_or_else(
                    || "more than can be addressed".to_string(),
                    |n| n.to_string()
                )
            ),
        ));
    }
    Ok((dims, elem, start))
}

/// Parses an IDX file of any element type and rank.
///
/// ```
/// let f = [0, 0, 0x0B, 1, 0, 0, 0, 2, 0xff, 0xfe, 0, 7];
/// let a = xbar_nn::mnist::parse_idx(&f, "x".as_ref())?;
/// assert_eq!((a.dims, a.data), (vec![2], vec![-2.0, 7.0]));
/// assert!(xbar_nn::mnist::parse_idx(&f[..11], "x".as_ref()).is_err());
/// # Ok::<(), xbar_nn::NnError>(())
/// ```
pub fn parse_idx(b: &[u8], path: &Path) -> Result<IdxArray> {
    let (dims, elem, start) = parse_idx_header(b, path)?;
    let data = b[start..]
        .chunks_exact(elem.width())
        .map(|c| match elem {
            IdxType::U8 => f64::from(c[0]),
            IdxType::I8 => f64::from(c[0] as i8),
            IdxType::I16 => f64::from(i16::from_be_bytes([c[0], c[1]])),
            IdxType::I32 => f64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            IdxType::F32 => f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            IdxType::F64 => f64::from_be_bytes(c.try_into().expect("8-byte chunk")),
        })
        .collect();
    Ok(IdxArray { dims, elem, data })
}

/// Parses an IDX image file (magic 0x00000803: count, rows, columns, then bytes).
///
/// ```
/// let mut f = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28];
/// f.extend(std::iter::repeat(255u8).take(784));
/// let x = xbar_nn::mnist::parse_idx_images(&f, std::path::Path::new("x")).unwrap();
/// assert_eq!((x.nrows(), x.ncols(), x[(0, 5)]), (1, 784, 1.0));
/// assert!(xbar_nn::mnist::parse_idx_images(&f[..100], std::path::Path::new("x")).is_err());
/// ```
pub fn parse_idx_images(b: &[u8], path: &Path) -> Result<Mat<f64>> {
    if b.len() < 4 || b[..4] != [0, 0, 8, 3] {
        return Err(bad(
            path,
            "not an IDX image file (magic 0x00000803 expected)",
        ));
    }
    let (dims, _, start) = parse_idx_header(b, path)?;
    let (n, r, c) = (dims[0], dims[1], dims[2]);
    if r * c != MNIST_PIXELS {
        return Err(bad(path, format!("images are {r}x{c}, expected 28x28")));
    }
    let px = &b[start..];
    Ok(Mat::from_fn(n, MNIST_PIXELS, |i, j| {
        f64::from(px[i * MNIST_PIXELS + j]) / 255.0
    }))
}

/// Parses an IDX label file (magic 0x00000801: count, then one byte 0..9 per label).
pub fn parse_idx_labels(b: &[u8], path: &Path) -> Result<Vec<u8>> {
    if b.len() < 4 || b[..4] != [0, 0, 8, 1] {
        return Err(bad(
            path,
            "not an IDX label file (magic 0x00000801 expected)",
        ));
    }
    let (_, _, start) = parse_idx_header(b, path)?;
    let y = b[start..].to_vec();
    if let Some(i) = y.iter().position(|&l| l > 9) {
        return Err(bad(
            path,
            format!("label {} at index {i} is not a digit 0..9", y[i]),
        ));
    }
    Ok(y)
}

/// Reads MNIST from `dir`: `(training set, test set)`, 60,000 and 10,000 images.
///
/// Every problem (a missing file, a truncated or corrupt gzip, a wrong header, a count that
/// does not match the other file) is an error naming the file.
pub fn load_mnist(dir: &Path) -> Result<(Dataset, Dataset)> {
    let files: Vec<PathBuf> = MNIST_FILES.iter().map(|f| dir.join(f)).collect();
    let set = |img: &Path, lab: &Path| -> Result<Dataset> {
        let x = parse_idx_images(&read_gz(img)?, img)?;
        let y = parse_idx_labels(&read_gz(lab)?, lab)?;
        if x.nrows() != y.len() {
            return Err(bad(
                lab,
                format!(
                    "{} labels for {} images in {}",
                    y.len(),
                    x.nrows(),
                    img.display()
                ),
            ));
        }
        Dataset::new(x, y, 10)
    };
    Ok((set(&files[0], &files[1])?, set(&files[2], &files[3])?))
}

/// Finds `data/mnist` (holding the training images) in `start` or one of its ancestors.
pub fn find_mnist_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|a| a.join("data").join("mnist"))
        .find(|d| d.join(MNIST_FILES[0]).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_counts_and_labels_are_checked() {
        let p = Path::new("f");
        assert!(parse_idx_images(&[0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28], p).is_err());
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
        img.extend(vec![0u8; 784 * 2 - 1]);
        let e = parse_idx_images(&img, p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        img.push(51);
        let x = parse_idx_images(&img, p).unwrap();
        assert_eq!(x[(1, 783)], 0.2);
        assert!(parse_idx_labels(&[0, 0, 8, 1, 0, 0, 0, 2, 3, 10], p).is_err());
        assert_eq!(
            parse_idx_labels(&[0, 0, 8, 1, 0, 0, 0, 2, 3, 9], p).unwrap(),
            [3, 9]
        );
    }
}

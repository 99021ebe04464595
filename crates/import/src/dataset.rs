//! The user's data: NPZ, IDX and CSV files as [`xbar_nn::Dataset`]s with their sample shape.

use std::path::Path;

use faer::Mat;
use serde::{Deserialize, Serialize};
use xbar_nn::{Dataset, Shape};

use crate::error::{ImportError, Result};
use crate::file::{MAX_DATA_BYTES, gunzip, is_gzip, read_regular};
use crate::npz::{Array, Kind, Npz};
use xbar_nn::mnist::IdxType;

/// How 8-bit unsigned features are scaled; other types are used as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ByteScale {
    /// Divide by 255, giving `[0, 1]` (as xbar's MNIST reader does; the default).
    #[default]
    UnitInterval,
    /// Keep `0..=255`.
    Raw,
}

/// Options of the data set loaders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DataOptions {
    /// Number of classes; labels must lie in `0..n_classes`. `None`: the largest label + 1.
    pub n_classes: Option<usize>,
    /// Scaling of `uint8` features.
    #[serde(default)]
    pub byte_scale: ByteScale,
}

/// A loaded data set: test (and optionally training) samples and their shape.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedData {
    /// Training samples, when the file has them.
    pub train: Option<Dataset>,
    /// Test samples.
    pub test: Dataset,
    /// Shape of one sample (features are flattened row-major in the data sets).
    pub sample_shape: Shape,
}

/// An array of numbers read from a file, converted to `f64`, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f64>,
}

/// Reads one array `key` of an NPZ file (float, integer or bool dtypes).
///
/// ```
/// let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mnist-mlp-expected.npz");
/// let a = xbar_import::read_npz_array(p.as_ref(), "logits")?;
/// assert_eq!(a.shape, [256, 10]);
/// assert!(xbar_import::read_npz_array(p.as_ref(), "nope").unwrap_err().to_string().contains("logits"));
/// # Ok::<(), xbar_import::ImportError>(())
/// ```
pub fn read_npz_array(path: &Path, key: &str) -> Result<NdArray> {
    let bytes = read_regular(path, MAX_DATA_BYTES)?;
    let a = Npz::new(&bytes, path)?.array(key, MAX_DATA_BYTES)?;
    Ok(NdArray {
        shape: a.shape,
        data: a.data,
    })
}

/// Reads a data set from an NPZ file with `x_test` and `y_test`, and optionally `x_train` and
/// `y_train` (both or neither).
///
/// Features: float32, float64 or any integer type, `N x F`, `N x H x W` (one channel) or
/// `N x C x H x W`; `uint8` is scaled per [`DataOptions::byte_scale`]. Labels: any integer
/// dtype, `N` values (or `N x 1`) in `0..n_classes`. Training and test samples must have the same
/// shape.
pub fn load_npz_dataset(path: &Path, opts: &DataOptions) -> Result<LoadedData> {
    let bytes = read_regular(path, MAX_DATA_BYTES)?;
    let mut npz = Npz::new(&bytes, path)?;
    let has_train = (npz.contains("x_train"), npz.contains("y_train"));
    if has_train.0 != has_train.1 {
        return Err(ImportError::File {
            path: path.to_path_buf(),
            what: format!(
                "has {} but not {}; give both or neither",
                if has_train.0 { "x_train" } else { "y_train" },
                if has_train.0 { "y_train" } else { "x_train" }
            ),
        });
    }
    let mut part = |x: &str, y: &str| -> Result<(Mat<f64>, Vec<usize>, Shape)> {
        let xa = npz.array(x, MAX_DATA_BYTES)?;
        let ya = npz.array(y, MAX_DATA_BYTES)?;
        let (m, shape) = features(xa, path, x, opts.byte_scale)?;
        let labels = labels(&ya, path, y, x, m.nrows())?;
        Ok((m, labels, shape))
    };
    let test = part("x_test", "y_test")?;
    let train = if has_train.0 {
        Some(part("x_train", "y_train")?)
    } else {
        None
    };
    if let Some(tr) = &train
        && tr.2 != test.2
    {
        return Err(ImportError::Array {
            path: path.to_path_buf(),
            key: "x_train".into(),
            what: format!("samples have shape {} but x_test's are {}", tr.2, test.2),
        });
    }
    let all: Vec<(&str, &[usize])> = std::iter::once(("y_test", test.1.as_slice()))
        .chain(train.as_ref().map(|t| ("y_train", t.1.as_slice())))
        .collect();
    let n_classes = classes(path, &all, opts.n_classes)?;
    let sample_shape = test.2;
    let make = |(x, y, _): (Mat<f64>, Vec<usize>, Shape)| {
        Dataset::new(x, y.into_iter().map(|l| l as u8).collect(), n_classes).map_err(|source| {
            ImportError::Nn {
                path: path.to_path_buf(),
                source,
            }
        })
    };
    Ok(LoadedData {
        train: train.map(make).transpose()?,
        test: make(test)?,
        sample_shape,
    })
}

/// Reads a data set from an IDX image file and an IDX label file (each gzip-compressed or
/// raw), e.g. MNIST's `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`.
///
/// Images may be `N x H x W` (one channel), `N x C x H x W` or `N x F`; labels `N` integers.
///
/// ```
/// let d = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");
/// let data = xbar_import::load_idx_dataset(
///     format!("{d}/t10k-images-idx3-ubyte.gz").as_ref(),
///     format!("{d}/t10k-labels-idx1-ubyte.gz").as_ref(),
///     &Default::default(),
/// )?;
/// assert_eq!((data.len(), data.n_features(), data.n_classes), (10000, 784, 10));
/// # Ok::<(), xbar_import::ImportError>(())
/// ```
pub fn load_idx_dataset(images: &Path, labels_path: &Path, opts: &DataOptions) -> Result<Dataset> {
    Ok(load_idx(images, labels_path, opts)?.0)
}

/// As [`load_idx_dataset`], with the sample shape.
pub fn load_idx(images: &Path, labels_path: &Path, opts: &DataOptions) -> Result<(Dataset, Shape)> {
    let read = |p: &Path| -> Result<xbar_nn::mnist::IdxArray> {
        let raw = read_regular(p, MAX_DATA_BYTES)?;
        let bytes = if is_gzip(&raw) {
            gunzip(&raw, p, MAX_DATA_BYTES)?
        } else {
            raw
        };
        xbar_nn::mnist::parse_idx(&bytes, p).map_err(|source| ImportError::Nn {
            path: p.to_path_buf(),
            source,
        })
    };
    let xi = read(images)?;
    let yi = read(labels_path)?;
    let key = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let xa = Array {
        shape: xi.dims,
        data: xi.data,
        kind: match xi.elem {
            IdxType::U8 => Kind::Uint,
            IdxType::I8 | IdxType::I16 | IdxType::I32 => Kind::Int,
            IdxType::F32 | IdxType::F64 => Kind::Float,
        },
        descr: format!("IDX {:?}", xi.elem),
    };
    let (x, shape) = features(xa, images, &key(images), opts.byte_scale)?;
    let ya = Array {
        shape: yi.dims,
        data: yi.data,
        kind: if matches!(yi.elem, IdxType::F32 | IdxType::F64) {
            Kind::Float
        } else {
            Kind::Int
        },
        descr: format!("IDX {:?}", yi.elem),
    };
    let y = labels(&ya, labels_path, &key(labels_path), &key(images), x.nrows())?;
    let n = classes(labels_path, &[(&key(labels_path), &y)], opts.n_classes)?;
    let data = Dataset::new(x, y.into_iter().map(|l| l as u8).collect(), n).map_err(|source| {
        ImportError::Nn {
            path: images.to_path_buf(),
            source,
        }
    })?;
    Ok((data, shape))
}

/// Reads a CSV data set (optionally gzip-compressed): one sample per line, numeric features,
/// the integer label in the last column. A first line that is not numeric is a header and is
/// skipped.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("d.csv");
/// std::fs::write(&p, "a,b,label\n0.5,1,0\n2,3,1\n")?;
/// let (data, shape) = xbar_import::load_csv_dataset(&p, &Default::default())?;
/// assert_eq!((data.len(), data.n_classes, data.x[(1, 0)]), (2, 2, 2.0));
/// assert_eq!(shape, xbar_nn::Shape::Flat { features: 2 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_csv_dataset(path: &Path, opts: &DataOptions) -> Result<(Dataset, Shape)> {
    let raw = read_regular(path, MAX_DATA_BYTES)?;
    let bytes = if is_gzip(&raw) {
        gunzip(&raw, path, MAX_DATA_BYTES)?
    } else {
        raw
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| ImportError::File {
        path: path.to_path_buf(),
        what: format!("not UTF-8 text ({e})"),
    })?;
    let err = |line: usize, what: String| ImportError::File {
        path: path.to_path_buf(),
        what: format!("line {line}: {what}"),
    };
    let mut values: Vec<f64> = Vec::new();
    let mut y: Vec<usize> = Vec::new();
    let mut width: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Vec<Option<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        if width.is_none() && parsed.iter().any(Option::is_none) {
            continue; // a header
        }
        if fields.len() < 2 {
            return Err(err(i + 1, "needs at least one feature and a label".into()));
        }
        match width {
            None => width = Some(fields.len()),
            Some(w) if w != fields.len() => {
                return Err(err(
                    i + 1,
                    format!("has {} fields, the first data line has {w}", fields.len()),
                ));
            }
            _ => {}
        }
        for (j, v) in parsed.iter().enumerate() {
            let v = v.filter(|v| v.is_finite()).ok_or_else(|| {
                err(
                    i + 1,
                    format!("column {}: {:?} is not a finite number", j + 1, fields[j]),
                )
            })?;
            if j + 1 == fields.len() {
                if v < 0.0 || v.fract() != 0.0 || v > 255.0 {
                    return Err(err(
                        i + 1,
                        format!("label {:?} is not an integer in 0..256", fields[j]),
                    ));
                }
                y.push(v as usize);
            } else {
                values.push(v);
            }
        }
    }
    let Some(w) = width else {
        return Err(ImportError::File {
            path: path.to_path_buf(),
            what: "no data lines".into(),
        });
    };
    let f = w - 1;
    let x = Mat::from_fn(y.len(), f, |i, j| values[i * f + j]);
    let n = classes(path, &[("label column", &y)], opts.n_classes)?;
    let data = Dataset::new(x, y.into_iter().map(|l| l as u8).collect(), n).map_err(|source| {
        ImportError::Nn {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok((data, Shape::Flat { features: f }))
}

/// Features as a matrix (one sample per row) plus the sample shape.
fn features(a: Array, path: &Path, key: &str, scale: ByteScale) -> Result<(Mat<f64>, Shape)> {
    let err = |what: String| ImportError::Array {
        path: path.to_path_buf(),
        key: key.to_string(),
        what,
    };
    let shape = match a.shape[..] {
        [_, f] => Shape::Flat { features: f },
        [_, h, w] => Shape::Image {
            channels: 1,
            height: h,
            width: w,
        },
        [_, c, h, w] => Shape::Image {
            channels: c,
            height: h,
            width: w,
        },
        _ => {
            return Err(err(format!(
                "has shape {:?}; supported: N x F, N x H x W or N x C x H x W",
                a.shape
            )));
        }
    };
    let n = a.shape[0];
    let d = shape.len();
    if n == 0 || d == 0 {
        return Err(err(format!(
            "has shape {:?}: no samples or no features",
            a.shape
        )));
    }
    if a.kind == Kind::Bool {
        return Err(err(format!(
            "dtype {} (bool) is not a feature type",
            a.descr
        )));
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(err(format!(
            "value {} at row {}, feature {} is not finite",
            a.data[i],
            i / d,
            i % d
        )));
    }
    let bytes = a.descr.ends_with("u1") || a.descr == "IDX U8";
    let k = if bytes && scale == ByteScale::UnitInterval {
        1.0 / 255.0
    } else {
        1.0
    };
    Ok((Mat::from_fn(n, d, |i, j| a.data[i * d + j] * k), shape))
}

/// Integer labels, one per sample of `x_key`.
fn labels(a: &Array, path: &Path, key: &str, x_key: &str, rows: usize) -> Result<Vec<usize>> {
    let err = |what: String| ImportError::Array {
        path: path.to_path_buf(),
        key: key.to_string(),
        what,
    };
    if !matches!(a.kind, Kind::Int | Kind::Uint) {
        return Err(err(format!(
            "dtype {} is not an integer type; labels must be integers",
            a.descr
        )));
    }
    let n = match a.shape[..] {
        [n] | [n, 1] => n,
        _ => {
            return Err(err(format!(
                "has shape {:?}; labels must be N or N x 1",
                a.shape
            )));
        }
    };
    if n != rows {
        return Err(err(format!("has {n} labels but {x_key} has {rows} rows")));
    }
    a.data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (0.0..256.0).contains(&v) {
                Ok(v as usize)
            } else {
                Err(err(format!("label {v} at row {i} is outside 0..256")))
            }
        })
        .collect()
}

/// The number of classes: given (then every label must be below it) or the largest label + 1.
fn classes(path: &Path, parts: &[(&str, &[usize])], given: Option<usize>) -> Result<usize> {
    let n = match given {
        Some(n) if (1..=256).contains(&n) => n,
        Some(n) => {
            return Err(ImportError::File {
                path: path.to_path_buf(),
                what: format!("n_classes = {n} is outside 1..=256"),
            });
        }
        None => parts
            .iter()
            .flat_map(|(_, y)| y.iter())
            .max()
            .map_or(1, |&m| m + 1),
    };
    for (key, y) in parts {
        if let Some(i) = y.iter().position(|&l| l >= n) {
            return Err(ImportError::Array {
                path: path.to_path_buf(),
                key: (*key).to_string(),
                what: format!("label {} at row {i} is outside 0..{n}", y[i]),
            });
        }
    }
    Ok(n)
}

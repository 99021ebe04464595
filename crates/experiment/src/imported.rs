//! The user's own network and data: `[network] onnx` and `[dataset]`.
//!
//! Validation reads the files once (regular files only, size-limited, through `xbar-import`),
//! checks the model against the data (sample size, classes) and keeps the loaded content with
//! the experiment, so that `xbar check` catches everything `xbar run` would and a run uses
//! exactly the bytes that were validated. What the manifest and the resume fingerprint see is
//! the content's SHA-256, never a path's spelling.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use faer::Mat;
use serde::Serialize;
use sha2::{Digest, Sha256};
use xbar_crossbar::{ArrayStage, Wiring, array_stages};
use xbar_device::Issues;
use xbar_import::{DataOptions, LoadedData, MAX_DATA_BYTES, MAX_MODEL_BYTES, read_regular};
use xbar_nn::Dataset;
use xbar_nn::graph::{Layer, Network, Shape};

use crate::raw::RawDataset;

/// Default number of calibration samples (`[dataset] calibration-size`).
pub const DEFAULT_CALIBRATION: usize = 2000;

/// A file the experiment read: where, and what it held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileRef {
    /// The path as resolved against the experiment's folder (not part of the fingerprint).
    pub path: PathBuf,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One array stage of an imported network, for `xbar check` and the manifest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArrayInfo {
    /// `dense` or `conv2d`.
    pub kind: &'static str,
    /// Array rows (inputs + bias row) and logical columns (outputs).
    pub rows: usize,
    /// Logical columns.
    pub cols: usize,
    /// Array reads per image (1 for dense, output positions for a convolution).
    pub reads: usize,
    /// The layers without weights that follow it (`relu`, `max-pool`, ...).
    pub then: Vec<&'static str>,
    /// Kernel `[kh, kw]` of a convolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<[usize; 2]>,
}

/// Where an imported network comes from: `[network] onnx`, or `[network] npz` with the
/// layer list that names its arrays.
#[derive(Clone, Debug)]
pub(crate) enum ModelSource<'a> {
    /// An ONNX file.
    Onnx(&'a str),
    /// An NPZ file and the layers built from its arrays.
    Npz(&'a str, xbar_import::NetworkSpec),
}

impl ModelSource<'_> {
    /// The experiment key that names the file.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            ModelSource::Onnx(_) => "network.onnx",
            ModelSource::Npz(..) => "network.npz",
        }
    }

    fn file(&self) -> &str {
        match self {
            ModelSource::Onnx(f) | ModelSource::Npz(f, _) => f,
        }
    }
}

/// A validated imported network with its data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportedNetwork {
    /// The model file (ONNX, or NPZ weights).
    pub model: FileRef,
    /// `onnx` or `npz`.
    pub format: &'static str,
    /// With NPZ weights: the input shape and layer list that built the network (part of the
    /// fingerprint: the same file read another way is another network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<xbar_import::NetworkSpec>,
    /// Shape of one input sample.
    pub input: Shape,
    /// Number of outputs (classes).
    pub outputs: usize,
    /// Weights plus biases.
    pub parameters: usize,
    /// The arrays, input to output.
    pub arrays: Vec<ArrayInfo>,
    /// The data set.
    pub data: ImportedData,
    /// The loaded model and samples (not serialised: the hashes stand for them).
    #[serde(skip)]
    pub content: Arc<ImportedContent>,
}

/// The data set of an imported network, as validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportedData {
    /// `npz`, `idx` or `csv`.
    pub format: &'static str,
    /// The files read, test files first.
    pub files: Vec<FileRef>,
    /// Test samples used (after `test-limit`).
    pub test_samples: usize,
    /// Training samples in the files (0 when there are none).
    pub train_samples: usize,
    /// Calibration samples used (training samples when there are, else test samples).
    pub calibration_samples: usize,
    /// Where the calibration samples come from: `train` or `test`.
    pub calibration_from: &'static str,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
    /// The input value driven at `v-in-max`.
    pub input_max: f64,
    /// Where `input_max` comes from: `given`, `train` or `test` (the largest |x|).
    pub input_max_from: &'static str,
}

/// What the files held: the network, the test samples and the calibration samples.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedContent {
    /// The network.
    pub network: Network,
    /// Test samples (features flattened to the network's input length).
    pub test: Dataset,
    /// Calibration samples (`calibration_samples x features`).
    pub calibration: Mat<f64>,
}

impl ImportedNetwork {
    /// Array shapes `(rows incl. bias, columns)`, input to output.
    pub fn array_shapes(&self) -> Vec<(usize, usize)> {
        self.arrays.iter().map(|a| (a.rows, a.cols)).collect()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An import error's message without the leading path (the issue names the key and the
/// file as written already).
fn message(path: &Path, e: &xbar_import::ImportError) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix)
        .map_or(text.clone(), str::to_string)
}

/// Reads `path` (a regular file of at most `limit` bytes) and records its hash.
fn file_ref(path: &Path, limit: u64) -> Result<(FileRef, Vec<u8>), String> {
    let bytes = read_regular(path, limit).map_err(|e| message(path, &e))?;
    Ok((
        FileRef {
            path: path.to_path_buf(),
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        },
        bytes,
    ))
}

/// The arrays a network maps to ([`xbar_crossbar::array_stages`], which programming uses).
fn arrays_of(net: &Network, stages: &[ArrayStage]) -> Vec<ArrayInfo> {
    stages
        .iter()
        .map(|st| {
            let (kind, rows, cols, kernel) = match &net.layers[st.layer] {
                Layer::Dense(d) => ("dense", d.inputs() + 1, d.outputs(), None),
                Layer::Conv2d(c) => (
                    "conv2d",
                    c.weight.nrows() + 1,
                    c.out_channels(),
                    Some(c.kernel),
                ),
                _ => unreachable!("stages start at layers with weights"),
            };
            ArrayInfo {
                kind,
                rows,
                cols,
                reads: match &st.wiring {
                    Wiring::Dense => 1,
                    Wiring::Conv(w) => w.positions(),
                },
                then: st
                    .rectify
                    .then_some("relu")
                    .into_iter()
                    .chain(st.post.iter().map(|p| p.layer.kind()))
                    .collect(),
                kernel,
            }
        })
        .collect()
}

/// Validates `[network] onnx` with `[dataset]`, pushing every problem to `is` (keys
/// `network.onnx` and `dataset.*`). `base` is the experiment file's folder. Returns the
/// model's array shapes when the model could be read (so the sweeps can still be checked
/// against them when the data cannot), and the imported network when everything could.
pub(crate) fn validate_imported(
    source: &ModelSource<'_>,
    data: Option<&RawDataset>,
    base: &Path,
    is: &mut Issues,
) -> (Option<Vec<(usize, usize)>>, Option<ImportedNetwork>) {
    let mut arrays = None;
    let full = validate_all(source, data, base, is, &mut arrays);
    (arrays, full)
}

fn validate_all(
    source: &ModelSource<'_>,
    data: Option<&RawDataset>,
    base: &Path,
    is: &mut Issues,
    arrays: &mut Option<Vec<(usize, usize)>>,
) -> Option<ImportedNetwork> {
    let (key, file) = (source.key(), source.file());
    let (model_format, model_layers) = match source {
        ModelSource::Onnx(_) => ("onnx", None),
        ModelSource::Npz(_, spec) => ("npz", Some(spec.clone())),
    };
    let model_path = base.join(file);
    let model = match file_ref(&model_path, MAX_MODEL_BYTES).and_then(|(f, bytes)| {
        match source {
            ModelSource::Onnx(_) => {
                xbar_import::parse_onnx(&bytes, &model_path).map(|m| (f, m.network))
            }
            ModelSource::Npz(_, spec) => {
                xbar_import::parse_npz_network(spec, &bytes, &model_path).map(|n| (f, n))
            }
        }
        .map_err(|e| message(&model_path, &e))
    }) {
        Ok(m) => Some(m),
        Err(e) => {
            is.push(
                key,
                file,
                match source {
                    ModelSource::Onnx(_) => format!("an ONNX model xbar can import; this one: {e}"),
                    ModelSource::Npz(..) => format!(
                        "an NPZ file holding the arrays network.layers names; this one: {e}"
                    ),
                },
            );
            None
        }
    };
    let stages = match model.as_ref().map(|(_, m)| array_stages(m)) {
        Some(Ok(s)) => {
            let net = &model.as_ref().expect("matched Some").1;
            *arrays = Some(
                arrays_of(net, &s)
                    .iter()
                    .map(|a| (a.rows, a.cols))
                    .collect(),
            );
            Some(s)
        }
        Some(Err(e)) => {
            is.push(key, file, e.to_string());
            None
        }
        None => None,
    };
    let Some(d) = data else {
        is.push(
            "dataset",
            "(missing)",
            "a [dataset] table (npz, idx or csv) for the imported network",
        );
        return None;
    };
    let loaded = load_data(d, base, is);
    let ((model_ref, network), (format, files, loaded), stages) = (model?, loaded?, stages?);
    let outputs = network.output_shape().map_or(0, |s| s.len());
    let shaped = shape_data(
        d,
        loaded,
        Target {
            input: Some(network.input),
            outputs: Some(outputs),
            need_train: false,
        },
        is,
    )?;
    let (data, content) = (shaped.info(format, files), shaped);
    Some(ImportedNetwork {
        model: model_ref,
        format: model_format,
        layers: model_layers,
        input: network.input,
        outputs,
        parameters: network.param_count(),
        arrays: arrays_of(&network, &stages),
        data,
        content: Arc::new(ImportedContent {
            network,
            test: content.test,
            calibration: content.calibration,
        }),
    })
}

/// What the data must fit: the network's input shape and outputs (`None`: taken from the
/// data, for a network xbar trains on it) and whether a training split is required.
struct Target {
    input: Option<Shape>,
    outputs: Option<usize>,
    need_train: bool,
}

/// `[dataset]` checked against its network and cut to what a run uses.
struct Shaped {
    train: Option<Dataset>,
    test: Dataset,
    calibration: Mat<f64>,
    sample_shape: Shape,
    classes: usize,
    input_max: f64,
    input_max_from: &'static str,
    calibration_from: &'static str,
}

impl Shaped {
    fn info(&self, format: &'static str, files: Vec<FileRef>) -> ImportedData {
        ImportedData {
            format,
            files,
            test_samples: self.test.len(),
            train_samples: self.train.as_ref().map_or(0, Dataset::len),
            calibration_samples: self.calibration.nrows(),
            calibration_from: self.calibration_from,
            classes: self.classes,
            input_max: self.input_max,
            input_max_from: self.input_max_from,
        }
    }
}

/// Checks loaded data against `target` (sample size, labels, test-limit, calibration size,
/// input range), pushing every problem to `is` with its key.
fn shape_data(
    d: &RawDataset,
    loaded: LoadedData,
    target: Target,
    is: &mut Issues,
) -> Option<Shaped> {
    let LoadedData {
        train,
        test,
        sample_shape,
    } = loaded;
    let mut ok = true;
    if let Some(input) = target.input
        && sample_shape.len() != input.len()
    {
        is.push(
            "dataset",
            format!(
                "samples of shape {sample_shape} ({} values)",
                sample_shape.len()
            ),
            format!(
                "samples of the network's input shape {input} ({} values)",
                input.len()
            ),
        );
        ok = false;
    }
    let labels = test
        .n_classes
        .max(train.as_ref().map_or(0, |t| t.n_classes));
    let classes = target.outputs.unwrap_or(labels);
    if labels > classes {
        is.push(
            "dataset",
            format!("labels up to {}", labels - 1),
            format!("labels in 0..{classes} (the network has {classes} outputs)"),
        );
        ok = false;
    }
    if target.need_train && train.is_none() {
        is.push(
            "dataset",
            "(no training samples)",
            "x_train and y_train in the npz (or train-idx / train-csv) to train the in-tool \
             network on",
        );
        ok = false;
    }
    if target.outputs.is_none() && classes < 2 {
        is.push(
            "dataset",
            format!("{classes} class(es)"),
            "labels of at least 2 classes to train a classifier",
        );
        ok = false;
    }
    let limit = d.test_limit.map(|v| v as usize);
    if let Some(n) = limit
        && (n == 0 || n > test.len())
    {
        is.push(
            "dataset.test-limit",
            n,
            format!(
                "an integer in [1, {}] (the test samples in the file)",
                test.len()
            ),
        );
        ok = false;
    }
    let calibration_size = d
        .calibration_size
        .map_or(DEFAULT_CALIBRATION, |v| v as usize);
    if calibration_size == 0 {
        is.push("dataset.calibration-size", 0, "an integer >= 1");
        ok = false;
    }
    if let Some(m) = d.input_max {
        is.check_range("dataset.input-max", m, 0.0, 1e12, true);
    }
    let train_limit = d.train_limit.map(|v| v as usize);
    if let Some(n) = train_limit {
        let have = train.as_ref().map_or(0, Dataset::len);
        if n == 0 || n > have {
            is.push(
                "dataset.train-limit",
                n,
                if have == 0 {
                    "nothing: the data set has no training samples".to_string()
                } else {
                    format!("an integer in [1, {have}] (the training samples in the file)")
                },
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let first = |d: Dataset, n: Option<usize>| match n {
        Some(n) if n < d.len() => d.select(&(0..n as u32).collect::<Vec<_>>()),
        _ => d,
    };
    let test = first(test, limit);
    let train = train.map(|t| first(t, train_limit));
    let source = train.as_ref().unwrap_or(&test);
    let abs_max = source
        .x
        .col_iter()
        .flat_map(|c| c.iter().copied())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let from = if train.is_some() { "train" } else { "test" };
    let (input_max, input_max_from) = match d.input_max {
        Some(m) => (m, "given"),
        None if abs_max > 0.0 => (abs_max, from),
        None => {
            is.push(
                "dataset.input-max",
                "(from the samples: all zero)",
                "a positive value (the samples are all zero)",
            );
            return None;
        }
    };
    let n_cal = calibration_size.min(source.len());
    let calibration = source.x.as_ref().subrows(0, n_cal).to_owned();
    let test = Dataset {
        n_classes: classes,
        ..test
    };
    let train = train.map(|t| Dataset {
        n_classes: classes,
        ..t
    });
    Some(Shaped {
        train,
        test,
        calibration,
        sample_shape,
        classes,
        input_max,
        input_max_from,
        calibration_from: from,
    })
}

/// `[dataset]` without a model file: the user's samples, for the MLP xbar trains on their
/// training split (`network.hidden`, the training keys) and evaluates on their test split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserData {
    /// Shape of one input sample.
    pub input: Shape,
    /// The data set (its `input_max` scaled every feature to `[-1, 1]` for training).
    pub data: ImportedData,
    /// The samples (not serialised: the hashes stand for them).
    #[serde(skip)]
    pub content: Arc<UserContent>,
}

/// The samples of [`UserData`], every feature divided by the data's `input_max`.
#[derive(Clone, Debug, PartialEq)]
pub struct UserContent {
    /// Training samples.
    pub train: Dataset,
    /// Test samples.
    pub test: Dataset,
    /// Calibration samples (the first training samples).
    pub calibration: Mat<f64>,
}

/// Validates `[dataset]` for the in-tool network (no `onnx` / `npz`): the files, a training
/// split, labels of at least two classes, and the options; every problem is pushed to `is`.
pub(crate) fn validate_user_data(d: &RawDataset, base: &Path, is: &mut Issues) -> Option<UserData> {
    let (format, files, loaded) = load_data(d, base, is)?;
    let shaped = shape_data(
        d,
        loaded,
        Target {
            input: None,
            outputs: None,
            need_train: true,
        },
        is,
    )?;
    let info = shaped.info(format, files);
    let scale = 1.0 / shaped.input_max;
    let scaled = |x: &Mat<f64>| Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] * scale);
    let train = shaped.train.expect("required above");
    Some(UserData {
        input: shaped.sample_shape,
        data: info,
        content: Arc::new(UserContent {
            train: Dataset {
                x: scaled(&train.x),
                ..train
            },
            test: Dataset {
                x: scaled(&shaped.test.x),
                ..shaped.test
            },
            calibration: scaled(&shaped.calibration),
        }),
    })
}

type Loaded = (&'static str, Vec<FileRef>, LoadedData);

/// Reads the data files of `[dataset]` (exactly one of npz, idx, csv).
fn load_data(d: &RawDataset, base: &Path, is: &mut Issues) -> Option<Loaded> {
    let given: Vec<&str> = [
        d.npz.as_ref().map(|_| "npz"),
        d.idx.as_ref().map(|_| "idx"),
        d.csv.as_ref().map(|_| "csv"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        is.push(
            "dataset",
            if given.is_empty() {
                "(no data file)".to_string()
            } else {
                given.join(" and ")
            },
            "exactly one of npz, idx or csv",
        );
        return None;
    }
    if d.train_idx.is_some() && d.idx.is_none() {
        is.push(
            "dataset.train-idx",
            "(without idx)",
            "train-idx together with idx",
        );
        return None;
    }
    if d.train_csv.is_some() && d.csv.is_none() {
        is.push(
            "dataset.train-csv",
            "(without csv)",
            "train-csv together with csv",
        );
        return None;
    }
    let opts = DataOptions::default();
    let mut files = Vec::new();
    let mut hash = |key: &str, rel: &str, is: &mut Issues| -> Option<PathBuf> {
        let p = base.join(rel);
        match file_ref(&p, MAX_DATA_BYTES) {
            Ok((f, _)) => {
                files.push(f);
                Some(p)
            }
            Err(e) => {
                is.push(
                    format!("dataset.{key}"),
                    rel,
                    format!("a readable data file; this one: {e}"),
                );
                None
            }
        }
    };
    let fail = |key: &str, rel: &str, e: xbar_import::ImportError, is: &mut Issues| {
        is.push(
            format!("dataset.{key}"),
            rel,
            format!(
                "a data set xbar can read; this one: {}",
                message(&base.join(rel), &e)
            ),
        );
    };
    if let Some(rel) = &d.npz {
        let p = hash("npz", rel, is)?;
        return match xbar_import::load_npz_dataset(&p, &opts) {
            Ok(l) => Some(("npz", files, l)),
            Err(e) => {
                fail("npz", rel, e, is);
                None
            }
        };
    }
    if let Some([imgs, labels]) = &d.idx {
        let (pi, pl) = (hash("idx", imgs, is)?, hash("idx", labels, is)?);
        let test = match xbar_import::load_idx(&pi, &pl, &opts) {
            Ok(t) => t,
            Err(e) => {
                fail("idx", imgs, e, is);
                return None;
            }
        };
        let train = match &d.train_idx {
            None => None,
            Some([ti, tl]) => {
                let (pi, pl) = (hash("train-idx", ti, is)?, hash("train-idx", tl, is)?);
                match xbar_import::load_idx(&pi, &pl, &opts) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        fail("train-idx", ti, e, is);
                        return None;
                    }
                }
            }
        };
        return pair("idx", files, test, train, is);
    }
    let rel = d.csv.as_ref().expect("one of the three is set");
    let p = hash("csv", rel, is)?;
    let test = match xbar_import::load_csv_dataset(&p, &opts) {
        Ok(t) => t,
        Err(e) => {
            fail("csv", rel, e, is);
            return None;
        }
    };
    let train = match &d.train_csv {
        None => None,
        Some(tr) => {
            let p = hash("train-csv", tr, is)?;
            match xbar_import::load_csv_dataset(&p, &opts) {
                Ok(t) => Some(t),
                Err(e) => {
                    fail("train-csv", tr, e, is);
                    return None;
                }
            }
        }
    };
    pair("csv", files, test, train, is)
}

/// Test and training sets read from separate files: same sample shape, one class count.
fn pair(
    format: &'static str,
    files: Vec<FileRef>,
    (test, shape): (Dataset, Shape),
    train: Option<(Dataset, Shape)>,
    is: &mut Issues,
) -> Option<Loaded> {
    if let Some((_, ts)) = &train
        && ts.len() != shape.len()
    {
        is.push(
            format!("dataset.train-{format}"),
            format!("samples of shape {ts}"),
            format!("the test samples' shape {shape}"),
        );
        return None;
    }
    let classes = test
        .n_classes
        .max(train.as_ref().map_or(0, |t| t.0.n_classes));
    let test = Dataset {
        n_classes: classes,
        ..test
    };
    Some((
        format,
        files,
        LoadedData {
            train: train.map(|(t, _)| Dataset {
                n_classes: classes,
                ..t
            }),
            test,
            sample_shape: shape,
        },
    ))
}

//! NPZ weights without a graph: a list of layer specs names the arrays of each layer.

use std::path::Path;

use faer::Mat;
use serde::{Deserialize, Serialize};
use xbar_nn::Dense;
use xbar_nn::graph::{Conv2d, Layer, Network, Pool, Shape};

use crate::error::{ImportError, Result};
use crate::file::{MAX_MODEL_BYTES, read_regular};
use crate::npz::{Array, Npz};

/// A network described as layer specs over the arrays of an NPZ file (e.g. a PyTorch
/// `state_dict` saved with `numpy.savez`). A plain serde structure that an experiment file can
/// embed:
///
/// ```toml
/// input = { kind = "flat", features = 784 }
/// layers = [
///   { kind = "dense", weight = "fc1.weight", bias = "fc1.bias", transpose = true },
///   { kind = "relu" },
///   { kind = "dense", weight = "fc2.weight", bias = "fc2.bias", transpose = true },
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NetworkSpec {
    /// Shape of one input sample.
    pub input: Shape,
    /// The layers, input side first.
    pub layers: Vec<LayerSpec>,
    /// Whether the model ends in a softmax (recorded, not applied; see
    /// [`xbar_nn::Network::softmax_output`]).
    #[serde(default)]
    pub softmax_output: bool,
}

/// One layer of a [`NetworkSpec`]; array fields name NPZ members (without `.npy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected: `x W + b`.
    Dense {
        /// The weight matrix: `[inputs, outputs]`, or `[outputs, inputs]` with `transpose`.
        weight: String,
        /// The bias (`[outputs]`); zero if absent.
        #[serde(default)]
        bias: Option<String>,
        /// True when the weight is stored `[outputs, inputs]` (PyTorch `nn.Linear`); false for
        /// `[inputs, outputs]` (Keras `Dense`).
        #[serde(default)]
        transpose: bool,
    },
    /// 2-D convolution; the weight is `[out, in, kh, kw]` (PyTorch and ONNX order).
    Conv2d {
        /// The kernel array.
        weight: String,
        /// The bias (`[out]`); zero if absent.
        #[serde(default)]
        bias: Option<String>,
        /// Strides `[sh, sw]`, default `[1, 1]`.
        #[serde(default = "ones")]
        stride: [usize; 2],
        /// Zero padding `[top, left, bottom, right]`, default none.
        #[serde(default)]
        pads: [usize; 4],
    },
    /// Inference batch normalisation, folded into the conv or dense layer just before it.
    BatchNorm {
        /// Scale (gamma), one per channel.
        scale: String,
        /// Shift (beta), one per channel.
        bias: String,
        /// Running mean.
        mean: String,
        /// Running variance.
        var: String,
        /// Added to the variance; default 1e-5.
        #[serde(default = "default_eps")]
        epsilon: f64,
    },
    /// `max(x, 0)`.
    Relu,
    /// Max pooling.
    MaxPool {
        /// Window `[kh, kw]`.
        kernel: [usize; 2],
        /// Strides; default: the window.
        #[serde(default)]
        stride: Option<[usize; 2]>,
        /// Padding `[top, left, bottom, right]`, default none.
        #[serde(default)]
        pads: [usize; 4],
    },
    /// Average pooling.
    AvgPool {
        /// Window `[kh, kw]`.
        kernel: [usize; 2],
        /// Strides; default: the window.
        #[serde(default)]
        stride: Option<[usize; 2]>,
        /// Padding `[top, left, bottom, right]`, default none.
        #[serde(default)]
        pads: [usize; 4],
        /// Whether padded positions count in the divisor; default false.
        #[serde(default)]
        count_include_pad: bool,
    },
    /// Mean over height and width per channel.
    GlobalAvgPool,
    /// `C x H x W -> [C*H*W]`.
    Flatten,
}

fn ones() -> [usize; 2] {
    [1, 1]
}

fn default_eps() -> f64 {
    1e-5
}

impl LayerSpec {
    /// The spec's kind as written in files, e.g. "dense".
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::BatchNorm { .. } => "batch-norm",
            LayerSpec::Relu => "relu",
            LayerSpec::MaxPool { .. } => "max-pool",
            LayerSpec::AvgPool { .. } => "avg-pool",
            LayerSpec::GlobalAvgPool => "global-avg-pool",
            LayerSpec::Flatten => "flatten",
        }
    }
}

/// Builds the network of `spec` from the arrays of the NPZ file `path` (float or integer
/// dtypes), then validates it.
///
/// ```
/// use xbar_import::{LayerSpec, NetworkSpec, load_npz_network};
/// let spec: NetworkSpec = serde_json::from_str(r#"{
///     "input": {"kind": "image", "channels": 1, "height": 6, "width": 6},
///     "layers": [
///         {"kind": "conv2d", "weight": "conv.w", "bias": "conv.b", "pads": [1, 1, 1, 1]},
///         {"kind": "batch-norm", "scale": "bn.g", "bias": "bn.b", "mean": "bn.m", "var": "bn.v"},
///         {"kind": "relu"}, {"kind": "max-pool", "kernel": [2, 2]}, {"kind": "flatten"},
///         {"kind": "dense", "weight": "fc1.w", "bias": "fc1.b", "transpose": true},
///         {"kind": "relu"}, {"kind": "dense", "weight": "fc2.w"}
///     ]}"#)?;
/// let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny-weights.npz");
/// let net = load_npz_network(&spec, p.as_ref())?;
/// assert_eq!(net.output_shape()?.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_npz_network(spec: &NetworkSpec, path: &Path) -> Result<Network> {
    let bytes = read_regular(path, MAX_MODEL_BYTES)?;
    parse_npz_network(spec, &bytes, path)
}

/// As [`load_npz_network`] on the bytes of an NPZ file already read (`path` names it in
/// errors).
///
/// # Errors
/// A file that is not an NPZ archive, a missing array, a shape that does not fit the layer
/// spec (naming the layer's index and kind), or an invalid network.
pub fn parse_npz_network(spec: &NetworkSpec, bytes: &[u8], path: &Path) -> Result<Network> {
    let mut npz = Npz::new(bytes, path)?;
    let mut layers: Vec<Layer> = Vec::with_capacity(spec.layers.len());
    for (index, ls) in spec.layers.iter().enumerate() {
        let err = |what: String| ImportError::Spec {
            path: path.to_path_buf(),
            index,
            kind: ls.kind(),
            what,
        };
        let mut get = |key: &str| npz.array(key, MAX_MODEL_BYTES);
        let layer = match ls {
            LayerSpec::Dense {
                weight,
                bias,
                transpose,
            } => {
                let w = get(weight)?;
                let [r, c] = w.shape[..] else {
                    return Err(err(format!(
                        "weight {weight:?} has shape {:?}; a 2-D matrix is required",
                        w.shape
                    )));
                };
                let m = if *transpose {
                    Mat::from_fn(c, r, |i, j| w.data[j * c + i])
                } else {
                    Mat::from_fn(r, c, |i, j| w.data[i * c + j])
                };
                let b = vector(bias.as_deref().map(&mut get).transpose()?, m.ncols(), &err)?;
                Layer::Dense(Dense { w: m, b })
            }
            LayerSpec::Conv2d {
                weight,
                bias,
                stride,
                pads,
            } => {
                let w = get(weight)?;
                let [m, c, kh, kw] = w.shape[..] else {
                    return Err(err(format!(
                        "weight {weight:?} has shape {:?}; [out, in, kh, kw] is required",
                        w.shape
                    )));
                };
                let b = vector(bias.as_deref().map(&mut get).transpose()?, m, &err)?;
                Layer::Conv2d(
                    Conv2d::from_mckk(&w.data, m, c, [kh, kw], b, *stride, *pads)
                        .map_err(|e| err(e.to_string()))?,
                )
            }
            LayerSpec::BatchNorm {
                scale,
                bias,
                mean,
                var,
                epsilon,
            } => {
                let arrays = [get(scale)?, get(bias)?, get(mean)?, get(var)?];
                let v: Vec<&[f64]> = arrays.iter().map(|a| a.data.as_slice()).collect();
                crate::fold::batch_norm(layers.last_mut(), [v[0], v[1], v[2], v[3]], *epsilon)
                    .map_err(err)?;
                continue;
            }
            LayerSpec::Relu => Layer::Relu,
            LayerSpec::MaxPool {
                kernel,
                stride,
                pads,
            } => Layer::MaxPool(Pool {
                kernel: *kernel,
                stride: stride.unwrap_or(*kernel),
                pads: *pads,
            }),
            LayerSpec::AvgPool {
                kernel,
                stride,
                pads,
                count_include_pad,
            } => Layer::AvgPool {
                pool: Pool {
                    kernel: *kernel,
                    stride: stride.unwrap_or(*kernel),
                    pads: *pads,
                },
                count_include_pad: *count_include_pad,
            },
            LayerSpec::GlobalAvgPool => Layer::GlobalAvgPool,
            LayerSpec::Flatten => Layer::Flatten,
        };
        layers.push(layer);
    }
    let net = Network {
        input: spec.input,
        layers,
        softmax_output: spec.softmax_output,
    };
    net.validate().map_err(|source| ImportError::Nn {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(net)
}

/// A bias vector of `n` values (all ones-dimensions but one allowed), or zeros when absent.
fn vector(a: Option<Array>, n: usize, err: &dyn Fn(String) -> ImportError) -> Result<Vec<f64>> {
    match a {
        None => Ok(vec![0.0; n]),
        Some(a) if a.data.len() == n && a.shape.iter().filter(|&&d| d != 1).count() <= 1 => {
            Ok(a.data)
        }
        Some(a) => Err(err(format!(
            "bias has shape {:?}, expected {n} values",
            a.shape
        ))),
    }
}

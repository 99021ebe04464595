//! Feed-forward networks beyond the dense MLP: convolutions, pooling, flattening.
//!
//! A [`Network`] is a validated chain of [`Layer`]s applied to one input of a fixed
//! [`Shape`]. It is the typed description that imported models (ONNX, NPZ weights) become and
//! that the crossbar mapper reads; its [`Network::forward`] in `f64` is the reference (oracle)
//! against which analog results are compared.
//!
//! # Data layout
//!
//! A batch is a matrix with one sample per row. A sample of shape `C x H x W` is stored
//! row-major (`NCHW` per sample: index `(c * H + y) * W + x`), a flat sample as its features in
//! order. Flattening is therefore free: [`Layer::Flatten`] changes the shape, not the data.
//!
//! # Semantics (ONNX operator spec, opset 13+)
//!
//! - Dense: `out = x w + b`, `w` is `inputs x outputs` (as [`Dense`] of the MLP).
//! - Conv2d: `out[m, oy, ox] = b[m] + sum_{c,ky,kx} W[m, c, ky, kx] *
//!   in[c, oy*sh + ky - pad_top, ox*sw + kx - pad_left]` (zero outside the input), with output
//!   size `floor((H + pad_top + pad_bottom - kh) / sh) + 1` (and likewise for the width).
//!   The weight is stored unrolled, as the crossbar holds it: a `(C*kh*kw) x M` matrix whose
//!   row `(c*kh + ky)*kw + kx` is kernel tap `(c, ky, kx)` (the ONNX `[M, C, kh, kw]` tensor
//!   reshaped to `M x (C*kh*kw)` and transposed). The reference computes it by im2col and one
//!   GEMM per chunk of samples.
//! - MaxPool: the largest input in each window; padded positions never win.
//! - AvgPool: the window mean; padded positions count as zeros when `count_include_pad`, else
//!   the divisor is the number of real inputs in the window.
//! - GlobalAvgPool: the mean over `H x W` per channel, giving `C x 1 x 1`.
//! - Relu: `max(x, 0)` elementwise (NaN stays NaN).
//!
//! Only `ceil_mode = 0`, dilation 1 and one group are represented; importers reject the rest.
//!
//! # Example
//!
//! ```
//! use faer::Mat;
//! use xbar_nn::graph::{Conv2d, Layer, Network, Pool, Shape};
//!
//! // One 3x3 all-ones kernel over a 1x4x4 image, then a 2x2 max pool, flatten.
//! let conv = Conv2d {
//!     weight: Mat::from_fn(9, 1, |_, _| 1.0),
//!     bias: vec![0.0],
//!     in_channels: 1,
//!     kernel: [3, 3],
//!     stride: [1, 1],
//!     pads: [1, 1, 1, 1],
//! };
//! let net = Network {
//!     input: Shape::Image { channels: 1, height: 4, width: 4 },
//!     layers: vec![
//!         Layer::Conv2d(conv),
//!         Layer::MaxPool(Pool { kernel: [2, 2], stride: [2, 2], pads: [0; 4] }),
//!         Layer::Flatten,
//!     ],
//!     softmax_output: false,
//! };
//! let shapes = net.validate()?;
//! assert_eq!(shapes[1], Shape::Image { channels: 1, height: 2, width: 2 });
//! let x = Mat::from_fn(1, 16, |_, _| 1.0);
//! let y = net.forward(x.as_ref())?;
//! assert_eq!((y.nrows(), y.ncols()), (1, 4));
//! assert_eq!(y[(0, 0)], 9.0); // an interior 3x3 sum of ones
//! # Ok::<(), xbar_nn::NnError>(())
//! ```

use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{NnError, Result};
use crate::mlp::{Dense, Mlp, argmax_rows};

/// The shape of one sample (the batch dimension is not part of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum Shape {
    /// A vector of `features` values.
    Flat {
        /// Number of values.
        features: usize,
    },
    /// An image of `channels x height x width` values, stored row-major.
    Image {
        /// Number of channels (`C`).
        channels: usize,
        /// Number of rows (`H`).
        height: usize,
        /// Number of columns (`W`).
        width: usize,
    },
}

impl Shape {
    /// Number of values of one sample (`features`, or `C * H * W`; saturating on overflow).
    ///
    /// ```
    /// use xbar_nn::graph::Shape;
    /// assert_eq!(Shape::Image { channels: 1, height: 28, width: 28 }.len(), 784);
    /// assert_eq!(Shape::Flat { features: 10 }.len(), 10);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        match *self {
            Shape::Flat { features } => features,
            Shape::Image {
                channels,
                height,
                width,
            } => channels.saturating_mul(height).saturating_mul(width),
        }
    }

    /// The dimensions as a list: `[features]` or `[C, H, W]`.
    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Flat { features } => vec![features],
            Shape::Image {
                channels,
                height,
                width,
            } => vec![channels, height, width],
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Shape::Flat { features } => write!(f, "[{features}]"),
            Shape::Image {
                channels,
                height,
                width,
            } => write!(f, "[{channels} x {height} x {width}]"),
        }
    }
}

/// A 2-D convolution with one group and dilation 1 (see the module docs for the layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// The unrolled kernels, `(in_channels * kh * kw) x out_channels`; row
    /// `(c * kh + ky) * kw + kx` holds tap `(c, ky, kx)` of every output channel.
    pub weight: Mat<f64>,
    /// One bias per output channel.
    pub bias: Vec<f64>,
    /// Number of input channels (`C`).
    pub in_channels: usize,
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]`, each at least 1.
    pub stride: [usize; 2],
    /// Zero padding `[top, left, bottom, right]` (the ONNX `pads` order).
    pub pads: [usize; 4],
}

impl Conv2d {
    /// Number of output channels (columns of `weight`).
    pub fn out_channels(&self) -> usize {
        self.weight.ncols()
    }

    /// Builds a convolution from an ONNX-ordered kernel tensor `[M, C, kh, kw]` given as a flat
    /// row-major slice.
    ///
    /// ```
    /// use xbar_nn::graph::Conv2d;
    /// // Two output channels, one input channel, 1x2 kernels.
    /// let c = Conv2d::from_mckk(&[1.0, 2.0, 3.0, 4.0], 2, 1, [1, 2], vec![0.0; 2], [1, 1], [0; 4])?;
    /// assert_eq!((c.weight[(0, 1)], c.weight[(1, 0)]), (3.0, 2.0));
    /// # Ok::<(), xbar_nn::NnError>(())
    /// ```
    pub fn from_mckk(
        w: &[f64],
        out_channels: usize,
        in_channels: usize,
        kernel: [usize; 2],
        bias: Vec<f64>,
        stride: [usize; 2],
        pads: [usize; 4],
    ) -> Result<Conv2d> {
        let k = in_channels
            .checked_mul(kernel[0])
            .and_then(|v| v.checked_mul(kernel[1]))
            .ok_or_else(|| NnError::Model {
                what: format!("conv kernel {in_channels} x {kernel:?} overflows"),
            })?;
        let want = k.checked_mul(out_channels).ok_or_else(|| NnError::Model {
            what: format!("conv weight {out_channels} x {k} overflows"),
        })?;
        if w.len() != want {
            return Err(NnError::ShapeMismatch {
                what: format!(
                    "conv weight count ({out_channels} x {in_channels} x {} x {})",
                    kernel[0], kernel[1]
                ),
                expected: want,
                got: w.len(),
            });
        }
        Ok(Conv2d {
            weight: Mat::from_fn(k, out_channels, |r, m| w[m * k + r]),
            bias,
            in_channels,
            kernel,
            stride,
            pads,
        })
    }
}

/// Window geometry of a pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Pool {
    /// Window size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]`, each at least 1.
    pub stride: [usize; 2],
    /// Padding `[top, left, bottom, right]`, each smaller than the window along its axis (so
    /// every window holds at least one real input).
    pub pads: [usize; 4],
}

/// One layer of a [`Network`]: a closed set.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Fully connected, on a flat input: `x w + b`.
    Dense(Dense),
    /// 2-D convolution on an image.
    Conv2d(Conv2d),
    /// `max(x, 0)` elementwise, any shape.
    Relu,
    /// Max pooling on an image.
    MaxPool(Pool),
    /// Average pooling on an image.
    AvgPool {
        /// The window geometry.
        pool: Pool,
        /// Whether padded positions count in the divisor (ONNX `count_include_pad`).
        count_include_pad: bool,
    },
    /// Mean over height and width per channel: `C x H x W -> C x 1 x 1`.
    GlobalAvgPool,
    /// `C x H x W -> [C*H*W]`; no data movement.
    Flatten,
}

impl Layer {
    /// A short lower-case name for messages: "dense", "conv2d", "relu", ...
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Conv2d(_) => "conv2d",
            Layer::Relu => "relu",
            Layer::MaxPool(_) => "max-pool",
            Layer::AvgPool { .. } => "avg-pool",
            Layer::GlobalAvgPool => "global-avg-pool",
            Layer::Flatten => "flatten",
        }
    }

    /// Number of weights plus biases (0 for layers without parameters).
    pub fn param_count(&self) -> usize {
        match self {
            Layer::Dense(d) => d.w.nrows() * d.w.ncols() + d.b.len(),
            Layer::Conv2d(c) => c.weight.nrows() * c.weight.ncols() + c.bias.len(),
            _ => 0,
        }
    }

    /// The output shape for an input of shape `input`, or what is wrong (without the layer
    /// index, which [`Network::validate`] adds).
    fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        match self {
            Layer::Dense(d) => {
                let Shape::Flat { features } = input else {
                    return Err(format!(
                        "needs a flat input but gets {input}; add a flatten layer before it"
                    ));
                };
                if d.inputs() != features {
                    return Err(format!(
                        "has {} inputs but the previous layer gives {features} values",
                        d.inputs()
                    ));
                }
                if d.b.len() != d.outputs() {
                    return Err(format!(
                        "has {} outputs but {} biases",
                        d.outputs(),
                        d.b.len()
                    ));
                }
                Ok(Shape::Flat {
                    features: d.outputs(),
                })
            }
            Layer::Conv2d(c) => {
                let (channels, height, width) = image(input)?;
                if c.in_channels != channels {
                    return Err(format!(
                        "expects {} input channels but gets {input}",
                        c.in_channels
                    ));
                }
                let taps = c.in_channels * c.kernel[0] * c.kernel[1];
                if c.weight.nrows() != taps {
                    return Err(format!(
                        "weight has {} rows, expected in_channels * kh * kw = {} * {} * {} = {taps}",
                        c.weight.nrows(),
                        c.in_channels,
                        c.kernel[0],
                        c.kernel[1]
                    ));
                }
                if c.out_channels() == 0 {
                    return Err("has no output channels".into());
                }
                if c.bias.len() != c.out_channels() {
                    return Err(format!(
                        "has {} output channels but {} biases",
                        c.out_channels(),
                        c.bias.len()
                    ));
                }
                let (oh, ow) = window_out(height, width, c.kernel, c.stride, c.pads, false)?;
                Ok(Shape::Image {
                    channels: c.out_channels(),
                    height: oh,
                    width: ow,
                })
            }
            Layer::Relu => Ok(input),
            Layer::MaxPool(p) | Layer::AvgPool { pool: p, .. } => {
                let (channels, height, width) = image(input)?;
                let (oh, ow) = window_out(height, width, p.kernel, p.stride, p.pads, true)?;
                Ok(Shape::Image {
                    channels,
                    height: oh,
                    width: ow,
                })
            }
            Layer::GlobalAvgPool => {
                let (channels, _, _) = image(input)?;
                Ok(Shape::Image {
                    channels,
                    height: 1,
                    width: 1,
                })
            }
            Layer::Flatten => Ok(Shape::Flat {
                features: input.len(),
            }),
        }
    }
}

fn image(input: Shape) -> std::result::Result<(usize, usize, usize), String> {
    match input {
        Shape::Image {
            channels,
            height,
            width,
        } => Ok((channels, height, width)),
        Shape::Flat { .. } => Err(format!("needs an image input (C x H x W) but gets {input}")),
    }
}

/// Output size of a sliding window (ceil_mode = 0). `pool`: pads must be below the kernel.
fn window_out(
    height: usize,
    width: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    pool: bool,
) -> std::result::Result<(usize, usize), String> {
    if kernel.contains(&0) {
        return Err(format!("kernel {kernel:?} has a zero size"));
    }
    if stride.contains(&0) {
        return Err(format!(
            "stride {stride:?} has a zero entry (allowed: 1 or more)"
        ));
    }
    if pool
        && (pads[0] >= kernel[0]
            || pads[2] >= kernel[0]
            || pads[1] >= kernel[1]
            || pads[3] >= kernel[1])
    {
        return Err(format!(
            "pads {pads:?} must each be smaller than the kernel {kernel:?} along their axis"
        ));
    }
    let axis = |n: usize, k: usize, s: usize, a: usize, b: usize, name: &str| {
        let padded = n.saturating_add(a).saturating_add(b);
        if padded < k {
            return Err(format!(
                "kernel {k} is larger than the padded {name} {padded} ({n} + pads {a} + {b})"
            ));
        }
        Ok((padded - k) / s + 1)
    };
    Ok((
        axis(height, kernel[0], stride[0], pads[0], pads[2], "height")?,
        axis(width, kernel[1], stride[1], pads[1], pads[3], "width")?,
    ))
}

/// A feed-forward network: `layers` applied in order to samples of shape `input`.
///
/// A plain data structure: build it, then [`Network::validate`] (which every method that
/// computes calls first).
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Shape of one input sample.
    pub input: Shape,
    /// The layers, input side first.
    pub layers: Vec<Layer>,
    /// Whether the source model ended with a softmax. It is not applied: the outputs of
    /// [`Network::forward`] are the logits, and argmax is the same either way.
    pub softmax_output: bool,
}

/// Largest number of im2col entries built at once (32 MiB of `f64`).
const IM2COL_CHUNK: usize = 1 << 22;

impl Network {
    /// Checks every layer against the shape it receives and returns each layer's output
    /// shape (one per layer, in order). The error names the layer index and kind.
    ///
    /// An empty network is an error; the input must have at least one value.
    pub fn validate(&self) -> Result<Vec<Shape>> {
        if self.layers.is_empty() {
            return Err(NnError::Model {
                what: "the network has no layers".into(),
            });
        }
        if self.input.len() == 0 {
            return Err(NnError::Model {
                what: format!("input shape {} has no values", self.input),
            });
        }
        let mut shape = self.input;
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.iter().enumerate() {
            shape = layer.output_shape(shape).map_err(|what| NnError::Layer {
                index: k,
                kind: layer.kind(),
                what,
            })?;
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// Shape of the network's output (validates first).
    pub fn output_shape(&self) -> Result<Shape> {
        Ok(*self
            .validate()?
            .last()
            .expect("validate rejects an empty network"))
    }

    /// Number of weights plus biases over all layers.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
    }

    /// The output (logits) for a batch `x`, one sample per row (`n x input.len()`).
    ///
    /// Validates the network and the width of `x` first. Sequential and deterministic.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.forward_each(x, |_, _| {})
    }

    /// The output of every layer for a batch `x` (one matrix per layer, in order).
    pub fn forward_layers(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        let mut outs = Vec::with_capacity(self.layers.len());
        let last = self.forward_each(x, |_, out| outs.push(out.clone()))?;
        outs.push(last);
        Ok(outs)
    }

    /// Runs the layers, showing every output but the last to `sink`, and returns the last.
    fn forward_each(
        &self,
        x: MatRef<'_, f64>,
        mut sink: impl FnMut(usize, &Mat<f64>),
    ) -> Result<Mat<f64>> {
        let shapes = self.validate()?;
        if x.ncols() != self.input.len() {
            return Err(NnError::ShapeMismatch {
                what: format!("network input columns (shape {})", self.input),
                expected: self.input.len(),
                got: x.ncols(),
            });
        }
        let mut shape = self.input;
        let mut cur: Option<Mat<f64>> = None;
        for (k, layer) in self.layers.iter().enumerate() {
            if let Some(prev) = &cur {
                sink(k - 1, prev);
            }
            let input = cur.as_ref().map_or(x, Mat::as_ref);
            let out = apply(layer, shape, shapes[k], input);
            shape = shapes[k];
            cur = Some(out);
        }
        Ok(cur.expect("validate rejects an empty network"))
    }

    /// Predicted class of every row of `x` ([`argmax_rows`] of the output).
    ///
    /// Fails when the network is invalid, `x` has the wrong width, or the output has more
    /// than 256 values (labels are `u8`).
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Vec<u8>> {
        let out = self.forward(x)?;
        if out.ncols() > 256 {
            return Err(NnError::Model {
                what: format!("{} outputs do not fit u8 labels (at most 256)", out.ncols()),
            });
        }
        Ok(argmax_rows(out.as_ref()))
    }

    /// Fraction of `data` classified correctly, in `[0, 1]` (0 for an empty data set).
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        if data.is_empty() {
            return Ok(0.0);
        }
        let pred = self.predict(data.x.as_ref())?;
        let correct = pred.iter().zip(&data.y).filter(|(p, y)| p == y).count();
        Ok(correct as f64 / data.len() as f64)
    }
}

impl From<&Mlp> for Network {
    /// The MLP as a network: dense layers with a ReLU between consecutive ones, raw logits out.
    ///
    /// ```
    /// use xbar_nn::{Mlp, graph::Network};
    /// let mlp = Mlp::new_he(&[4, 3, 2], 0);
    /// let net = Network::from(&mlp);
    /// let x = faer::Mat::from_fn(5, 4, |i, j| (i + j) as f64 / 7.0);
    /// assert_eq!(net.forward(x.as_ref())?, mlp.forward(x.as_ref()));
    /// # Ok::<(), xbar_nn::NnError>(())
    /// ```
    fn from(mlp: &Mlp) -> Network {
        let mut layers = Vec::with_capacity(2 * mlp.layers.len());
        for (k, d) in mlp.layers.iter().enumerate() {
            if k > 0 {
                layers.push(Layer::Relu);
            }
            layers.push(Layer::Dense(d.clone()));
        }
        Network {
            input: Shape::Flat {
                features: mlp.n_inputs(),
            },
            layers,
            softmax_output: false,
        }
    }
}

/// Applies one (validated) layer to a batch.
fn apply(layer: &Layer, in_shape: Shape, out_shape: Shape, x: MatRef<'_, f64>) -> Mat<f64> {
    let n = x.nrows();
    match layer {
        Layer::Dense(d) => {
            let mut out = Mat::<f64>::zeros(n, d.outputs());
            d.forward_into(x, &mut out, false);
            out
        }
        Layer::Conv2d(c) => conv2d(c, in_shape, out_shape, x),
        _ => {
            let mut out = Mat::<f64>::zeros(n, out_shape.len());
            layer
                .apply_fixed_into(in_shape, out_shape, x, out.as_mut())
                .expect("a layer without weights");
            out
        }
    }
}

impl Layer {
    /// Applies a layer without weights (ReLU, pooling, flatten) to a batch `x` of samples of
    /// shape `input`, writing `out` (`x.nrows() x output.len()`). No allocation: this is the
    /// step the crossbar's periphery (rectifiers, pooling circuits) runs between arrays.
    ///
    /// `output` must be the shape [`Network::validate`] gives for `input`. Dense and Conv2d
    /// layers (which need an array) are an error.
    ///
    /// ```
    /// use faer::Mat;
    /// use xbar_nn::graph::{Layer, Pool, Shape};
    /// let pool = Layer::MaxPool(Pool { kernel: [2, 2], stride: [2, 2], pads: [0; 4] });
    /// let input = Shape::Image { channels: 1, height: 2, width: 2 };
    /// let output = Shape::Image { channels: 1, height: 1, width: 1 };
    /// let x = Mat::from_fn(1, 4, |_, j| j as f64);
    /// let mut out = Mat::zeros(1, 1);
    /// pool.apply_fixed_into(input, output, x.as_ref(), out.as_mut())?;
    /// assert_eq!(out[(0, 0)], 3.0);
    /// # Ok::<(), xbar_nn::NnError>(())
    /// ```
    pub fn apply_fixed_into(
        &self,
        input: Shape,
        output: Shape,
        x: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
    ) -> Result<()> {
        if x.ncols() != input.len() || out.ncols() != output.len() || out.nrows() != x.nrows() {
            return Err(NnError::ShapeMismatch {
                what: format!("{} layer buffers ({input} -> {output})", self.kind()),
                expected: x.nrows() * output.len(),
                got: out.nrows() * out.ncols(),
            });
        }
        match self {
            Layer::Dense(_) | Layer::Conv2d(_) => {
                return Err(NnError::Model {
                    what: format!("a {} layer has weights; it runs on an array", self.kind()),
                });
            }
            Layer::Relu => {
                for j in 0..x.ncols() {
                    for (o, &v) in out.as_mut().col_mut(j).iter_mut().zip(x.col(j).iter()) {
                        *o = if v < 0.0 { 0.0 } else { v };
                    }
                }
            }
            Layer::Flatten => out.copy_from(x),
            Layer::MaxPool(p) => pool_into(p, None, input, output, x, out),
            Layer::AvgPool {
                pool: p,
                count_include_pad,
            } => pool_into(p, Some(*count_include_pad), input, output, x, out),
            Layer::GlobalAvgPool => {
                let (ch, h, w) = dims3(input);
                let hw = h * w;
                for c in 0..ch {
                    let mut dst = out.as_mut().col_mut(c);
                    dst.fill(0.0);
                    for p in 0..hw {
                        for (d, &v) in dst.as_mut().iter_mut().zip(x.col(c * hw + p).iter()) {
                            *d += v;
                        }
                    }
                    for d in dst.iter_mut() {
                        *d /= hw as f64;
                    }
                }
            }
        }
        Ok(())
    }
}

fn dims3(s: Shape) -> (usize, usize, usize) {
    match s {
        Shape::Image {
            channels,
            height,
            width,
        } => (channels, height, width),
        Shape::Flat { features } => (features, 1, 1),
    }
}

/// The sliding windows of a convolution on one input shape: what turns an image into the
/// rows of an unrolled-kernel array (im2col), and the array's outputs back into an image.
///
/// Patch rows are position-major: patch `p = oy * ow + ox` of sample `s` (of a chunk of
/// `rows` samples) is row `p * rows + s` of the patch matrix, so that with the column-major
/// batches of this crate both im2col and col2im move whole contiguous columns. Column
/// `(c * kh + ky) * kw + kx` of a patch is input pixel `(c, oy*sh + ky - pad_top, ox*sw + kx -
/// pad_left)`, zero outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Windows {
    /// Input `(channels, height, width)`.
    pub input: (usize, usize, usize),
    /// Output `(height, width)`.
    pub output: (usize, usize),
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Strides `[sh, sw]`.
    pub stride: [usize; 2],
    /// Padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl Windows {
    /// The windows of convolution `c` on `input` (an image whose channel count matches `c`).
    ///
    /// ```
    /// use xbar_nn::graph::{Conv2d, Shape, Windows};
    /// let c = Conv2d::from_mckk(&[1.0; 18], 2, 1, [3, 3], vec![0.0; 2], [1, 1], [0; 4])?;
    /// let w = Windows::of(&c, Shape::Image { channels: 1, height: 5, width: 4 })?;
    /// assert_eq!((w.output, w.positions(), w.taps()), ((3, 2), 6, 9));
    /// # Ok::<(), xbar_nn::NnError>(())
    /// ```
    pub fn of(c: &Conv2d, input: Shape) -> Result<Windows> {
        let out = Layer::Conv2d(c.clone())
            .output_shape(input)
            .map_err(|what| NnError::Model { what })?;
        let (_, oh, ow) = dims3(out);
        Ok(Windows {
            input: dims3(input),
            output: (oh, ow),
            kernel: c.kernel,
            stride: c.stride,
            pads: c.pads,
        })
    }

    /// Output positions per sample (`oh * ow`): array reads per image.
    pub fn positions(&self) -> usize {
        self.output.0 * self.output.1
    }

    /// Values per patch (`C * kh * kw`): the array's input rows, bias excluded.
    pub fn taps(&self) -> usize {
        self.input.0 * self.kernel[0] * self.kernel[1]
    }

    /// Writes the patches of the samples `x` (`rows x C*H*W`) into `patches`
    /// (`(positions * rows) x taps`, overwritten entirely). No allocation.
    pub fn im2col(&self, x: MatRef<'_, f64>, mut patches: MatMut<'_, f64>) {
        let (ch, h, w) = self.input;
        let (oh, ow) = self.output;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let (pt, pl) = (self.pads[0], self.pads[1]);
        let rows = x.nrows();
        debug_assert_eq!(patches.nrows(), rows * oh * ow);
        debug_assert_eq!(patches.ncols(), self.taps());
        for ci in 0..ch {
            for ky in 0..kh {
                for kx in 0..kw {
                    let mut col = patches.as_mut().col_mut((ci * kh + ky) * kw + kx);
                    for oy in 0..oh {
                        // Input row iy = oy*sh + ky - pt; outside [0, h) reads zero.
                        let iy = (oy * sh + ky).wrapping_sub(pt);
                        for ox in 0..ow {
                            let ix = (ox * sw + kx).wrapping_sub(pl);
                            let p = oy * ow + ox;
                            let mut dst = col.as_mut().subrows_mut(p * rows, rows);
                            if iy < h && ix < w {
                                dst.copy_from(x.col((ci * h + iy) * w + ix));
                            } else {
                                dst.fill(0.0);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves per-position outputs `y` (`(positions * rows) x M`, position-major as
    /// [`Windows::im2col`] makes them) into images `out` (`rows x M*positions`,
    /// channel-major as everywhere in this module).
    pub fn col2im(&self, y: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let ohw = self.positions();
        let rows = out.nrows();
        for m in 0..y.ncols() {
            for p in 0..ohw {
                out.as_mut()
                    .col_mut(m * ohw + p)
                    .copy_from(y.col(m).subrows(p * rows, rows));
            }
        }
    }
}

/// Convolution by im2col: patches `(samples * OH * OW) x (C * kh * kw)` times the unrolled
/// weight, in chunks of samples so the patch matrix stays below [`IM2COL_CHUNK`] entries.
fn conv2d(c: &Conv2d, in_shape: Shape, out_shape: Shape, x: MatRef<'_, f64>) -> Mat<f64> {
    let (m, oh, ow) = dims3(out_shape);
    let win = Windows {
        input: dims3(in_shape),
        output: (oh, ow),
        kernel: c.kernel,
        stride: c.stride,
        pads: c.pads,
    };
    let n = x.nrows();
    let (ohw, taps) = (win.positions(), win.taps());
    let mut out = Mat::<f64>::zeros(n, m * ohw);
    let per_chunk = (IM2COL_CHUNK / (ohw * taps).max(1)).max(1);
    let mut patches = Mat::<f64>::zeros(per_chunk.min(n) * ohw, taps);
    let mut y = Mat::<f64>::zeros(per_chunk.min(n) * ohw, m);
    let mut start = 0;
    while start < n {
        let rows = per_chunk.min(n - start);
        let mut pt = patches.as_mut().subrows_mut(0, rows * ohw);
        win.im2col(x.subrows(start, rows), pt.as_mut());
        let mut yt = y.as_mut().subrows_mut(0, rows * ohw);
        faer::linalg::matmul::matmul(
            yt.as_mut(),
            Accum::Replace,
            pt.as_ref(),
            c.weight.as_ref(),
            1.0,
            Par::Seq,
        );
        for (mo, &b) in c.bias.iter().enumerate() {
            for v in yt.as_mut().col_mut(mo).iter_mut() {
                *v += b;
            }
        }
        win.col2im(yt.as_ref(), out.as_mut().subrows_mut(start, rows));
        start += rows;
    }
    out
}

/// Max pooling (`avg = None`) or average pooling (`avg = Some(count_include_pad)`), one
/// output column at a time over all samples (contiguous columns).
fn pool_into(
    p: &Pool,
    avg: Option<bool>,
    in_shape: Shape,
    out_shape: Shape,
    x: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
) {
    let (ch, h, w) = dims3(in_shape);
    let (_, oh, ow) = dims3(out_shape);
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let (pt, pl) = (p.pads[0], p.pads[1]);
    for c in 0..ch {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut dst = out.as_mut().col_mut((c * oh + oy) * ow + ox);
                dst.fill(if avg.is_some() {
                    0.0
                } else {
                    f64::NEG_INFINITY
                });
                let mut real = 0usize;
                for ky in 0..kh {
                    let iy = (oy * sh + ky).wrapping_sub(pt);
                    if iy >= h {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * sw + kx).wrapping_sub(pl);
                        if ix >= w {
                            continue;
                        }
                        real += 1;
                        let src = x.col((c * h + iy) * w + ix);
                        match avg {
                            // A NaN input wins and stays (NaN > best and best > NaN are false).
                            None => {
                                for (b, &v) in dst.as_mut().iter_mut().zip(src.iter()) {
                                    if v > *b || v.is_nan() {
                                        *b = v;
                                    }
                                }
                            }
                            Some(_) => {
                                for (b, &v) in dst.as_mut().iter_mut().zip(src.iter()) {
                                    *b += v;
                                }
                            }
                        }
                    }
                }
                let div = match avg {
                    None => continue,
                    Some(true) => (kh * kw) as f64,
                    Some(false) => real as f64,
                };
                for b in dst.iter_mut() {
                    *b /= div;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic pseudo-random value in [-1, 1).
    fn val(i: usize) -> f64 {
        let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        (h as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
    }

    /// Direct-loop convolution straight from the ONNX formula, on the `[M, C, kh, kw]` kernel.
    #[allow(clippy::too_many_arguments)]
    fn conv_direct(
        x: &[f64],
        (ch, h, w): (usize, usize, usize),
        wt: &[f64],
        m: usize,
        [kh, kw]: [usize; 2],
        b: &[f64],
        [sh, sw]: [usize; 2],
        pads: [usize; 4],
    ) -> Vec<f64> {
        let oh = (h + pads[0] + pads[2] - kh) / sh + 1;
        let ow = (w + pads[1] + pads[3] - kw) / sw + 1;
        let mut out = vec![0.0; m * oh * ow];
        for mo in 0..m {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b[mo];
                    for c in 0..ch {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sh + ky) as isize - pads[0] as isize;
                                let ix = (ox * sw + kx) as isize - pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                s += wt[((mo * ch + c) * kh + ky) * kw + kx]
                                    * x[(c * h + iy as usize) * w + ix as usize];
                            }
                        }
                    }
                    out[(mo * oh + oy) * ow + ox] = s;
                }
            }
        }
        out
    }

    #[test]
    fn conv_im2col_equals_direct_loops() {
        // Odd sizes, asymmetric pads and strides, several channels and samples.
        let (ch, h, w, m) = (3, 7, 6, 4);
        let (kernel, stride, pads) = ([3, 2], [2, 1], [1, 0, 2, 1]);
        let wt: Vec<f64> = (0..m * ch * kernel[0] * kernel[1]).map(val).collect();
        let b: Vec<f64> = (0..m).map(|i| val(1000 + i)).collect();
        let conv = Conv2d::from_mckk(&wt, m, ch, kernel, b.clone(), stride, pads).unwrap();
        let net = Network {
            input: Shape::Image {
                channels: ch,
                height: h,
                width: w,
            },
            layers: vec![Layer::Conv2d(conv)],
            softmax_output: false,
        };
        let n = 5;
        let x = Mat::from_fn(n, ch * h * w, |i, j| val(7 * i * 1000 + j));
        let y = net.forward(x.as_ref()).unwrap();
        for i in 0..n {
            let xi: Vec<f64> = (0..ch * h * w).map(|j| x[(i, j)]).collect();
            let want = conv_direct(&xi, (ch, h, w), &wt, m, kernel, &b, stride, pads);
            assert_eq!(y.ncols(), want.len());
            for (j, &v) in want.iter().enumerate() {
                assert!(
                    (y[(i, j)] - v).abs() < 1e-12,
                    "({i}, {j}): {} vs {v}",
                    y[(i, j)]
                );
            }
        }
        assert_eq!(
            net.output_shape().unwrap(),
            Shape::Image {
                channels: m,
                height: 4,
                width: 6
            }
        );
    }

    #[test]
    fn conv_chunks_give_the_same_result() {
        // Enough samples that the im2col matrix is built in several chunks.
        let conv = Conv2d::from_mckk(
            &(0..2 * 9).map(val).collect::<Vec<_>>(),
            2,
            1,
            [3, 3],
            vec![0.5, -0.5],
            [1, 1],
            [1; 4],
        )
        .unwrap();
        let shape = Shape::Image {
            channels: 1,
            height: 64,
            width: 64,
        };
        let net = Network {
            input: shape,
            layers: vec![Layer::Conv2d(conv)],
            softmax_output: false,
        };
        let n = IM2COL_CHUNK / (64 * 64 * 9) + 3;
        let x = Mat::from_fn(n, 4096, |i, j| val(i * 4096 + j));
        let all = net.forward(x.as_ref()).unwrap();
        let last = net.forward(x.as_ref().subrows(n - 1, 1)).unwrap();
        for j in 0..all.ncols() {
            assert_eq!(all[(n - 1, j)], last[(0, j)]);
        }
    }

    #[test]
    fn pooling_with_padding() {
        // One 1x3x3 image 1..9; 2x2 windows, stride 2, pads 1 on every side -> 2x2 output.
        let shape = Shape::Image {
            channels: 1,
            height: 3,
            width: 3,
        };
        let p = Pool {
            kernel: [2, 2],
            stride: [2, 2],
            pads: [1, 1, 1, 1],
        };
        let x = Mat::from_fn(1, 9, |_, j| (j + 1) as f64 - 5.0); // -4..4
        let run = |layer: Layer| {
            let net = Network {
                input: shape,
                layers: vec![layer],
                softmax_output: false,
            };
            let y = net.forward(x.as_ref()).unwrap();
            (0..4).map(|j| y[(0, j)]).collect::<Vec<_>>()
        };
        // Windows: {-4}, {-3,-2}, {-1,2}, {0,1,3,4}; padded cells never win a max even
        // when every real value is negative.
        assert_eq!(run(Layer::MaxPool(p)), [-4.0, -2.0, 2.0, 4.0]);
        assert_eq!(
            run(Layer::AvgPool {
                pool: p,
                count_include_pad: false
            }),
            [-4.0, -2.5, 0.5, 2.0]
        );
        assert_eq!(
            run(Layer::AvgPool {
                pool: p,
                count_include_pad: true
            }),
            [-1.0, -1.25, 0.25, 2.0]
        );
    }

    #[test]
    fn global_pool_relu_flatten_dense() {
        let net = Network {
            input: Shape::Image {
                channels: 2,
                height: 2,
                width: 2,
            },
            layers: vec![
                Layer::Relu,
                Layer::GlobalAvgPool,
                Layer::Flatten,
                Layer::Dense(Dense {
                    w: Mat::from_fn(2, 1, |i, _| [1.0, 10.0][i]),
                    b: vec![0.5],
                }),
            ],
            softmax_output: true,
        };
        let x = Mat::from_fn(1, 8, |_, j| [1.0, -1.0, 3.0, 0.0, 2.0, 2.0, -8.0, 4.0][j]);
        let outs = net.forward_layers(x.as_ref()).unwrap();
        assert_eq!(outs[1].ncols(), 2);
        assert_eq!((outs[1][(0, 0)], outs[1][(0, 1)]), (1.0, 2.0));
        assert_eq!(outs[3][(0, 0)], 21.5);
        assert_eq!(net.predict(x.as_ref()).unwrap(), [0]);
    }

    #[test]
    fn shape_errors_name_the_layer() {
        let img = Shape::Image {
            channels: 1,
            height: 4,
            width: 4,
        };
        let dense = Layer::Dense(Dense {
            w: Mat::zeros(16, 2),
            b: vec![0.0; 2],
        });
        let err = |input, layers| {
            Network {
                input,
                layers,
                softmax_output: false,
            }
            .validate()
            .unwrap_err()
            .to_string()
        };
        let e = err(img, vec![Layer::Relu, dense.clone()]);
        assert!(
            e.contains("layer 1 (dense)") && e.contains("flatten"),
            "{e}"
        );
        let e = err(
            img,
            vec![
                Layer::Flatten,
                Layer::Flatten,
                Layer::MaxPool(Pool {
                    kernel: [2, 2],
                    stride: [2, 2],
                    pads: [0; 4],
                }),
            ],
        );
        assert!(
            e.contains("layer 2 (max-pool)") && e.contains("image"),
            "{e}"
        );
        let conv = |k: usize, stride: usize, cin: usize| {
            Layer::Conv2d(Conv2d {
                weight: Mat::zeros(cin * k * k, 1),
                bias: vec![0.0],
                in_channels: cin,
                kernel: [k, k],
                stride: [stride, stride],
                pads: [0; 4],
            })
        };
        let e = err(img, vec![conv(5, 1, 1)]);
        assert!(
            e.contains("layer 0 (conv2d)") && e.contains("larger"),
            "{e}"
        );
        assert!(err(img, vec![conv(3, 0, 1)]).contains("stride"));
        assert!(err(img, vec![conv(3, 1, 2)]).contains("input channels"));
        let e = err(
            img,
            vec![Layer::MaxPool(Pool {
                kernel: [2, 2],
                stride: [1, 1],
                pads: [2, 0, 0, 0],
            })],
        );
        assert!(e.contains("pads"), "{e}");
        let e = err(
            img,
            vec![
                Layer::Flatten,
                Layer::Dense(Dense {
                    w: Mat::zeros(15, 2),
                    b: vec![0.0; 2],
                }),
            ],
        );
        assert!(e.contains("15 inputs") && e.contains("16"), "{e}");
        assert!(err(img, vec![]).contains("no layers"));
        // Wrong batch width.
        let net = Network {
            input: img,
            layers: vec![Layer::Flatten, dense],
            softmax_output: false,
        };
        assert!(net.forward(Mat::zeros(1, 15).as_ref()).is_err());
        assert_eq!(net.forward(Mat::zeros(3, 16).as_ref()).unwrap().nrows(), 3);
    }

    #[test]
    fn mlp_conversion_matches_mlp_forward() {
        let mlp = Mlp::new_he(&[6, 5, 4, 3], 9);
        let net = Network::from(&mlp);
        assert_eq!(net.layers.len(), 5);
        assert_eq!(net.param_count(), mlp.param_count());
        let x = Mat::from_fn(7, 6, |i, j| val(i * 6 + j));
        assert_eq!(net.forward(x.as_ref()).unwrap(), mlp.forward(x.as_ref()));
        assert_eq!(
            net.forward_layers(x.as_ref()).unwrap()[3],
            mlp.forward_layers(x.as_ref())[1]
        );
    }
}

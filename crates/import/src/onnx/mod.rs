//! ONNX models: a linear chain of supported operators becomes an [`xbar_nn::Network`].
//!
//! Operator semantics follow the ONNX operator specification (<https://onnx.ai/onnx/operators/>);
//! the attributes and defaults cited beside each operator below are the spec's.
//!
//! | ONNX | becomes | accepted attributes |
//! | --- | --- | --- |
//! | Gemm | dense | `alpha`, `beta`, `transA = 0`, `transB` |
//! | MatMul (+ Add) | dense (the Add is its bias) | - |
//! | Conv | conv2d | 2-D, `strides`, `pads`, `auto_pad` NOTSET/VALID, `group = 1`, `dilations` 1 |
//! | Relu | relu | - |
//! | MaxPool | max-pool | `kernel_shape`, `strides`, `pads`, `auto_pad` NOTSET/VALID, `ceil_mode = 0`, `dilations` 1, `storage_order = 0` |
//! | AveragePool | avg-pool | as MaxPool, plus `count_include_pad` |
//! | GlobalAveragePool | global-avg-pool | - |
//! | Flatten | flatten | `axis = 1` |
//! | Reshape | flatten | a shape of `[N, -1]` or equivalent (`[0, -1]`, `[-1, C*H*W]`) |
//! | BatchNormalization | folded into the preceding Conv/Gemm/MatMul | `epsilon`, `training_mode = 0` |
//! | Softmax | recorded in `softmax_output` (final node only) | `axis` 1 or -1 |
//! | Identity, Dropout | nothing (inference no-ops) | - |
//! | Constant | a tensor for the nodes after it | `value` |
//!
//! Initializers may be float32 (`raw_data` little-endian or `float_data`) or float64; integer
//! tensors are read where an integer is expected (Reshape's shape). The graph must be a chain:
//! every node reads the previous node's output plus initializers or constants.

#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod proto;

use std::collections::HashMap;
use std::path::Path;

use faer::Mat;
use prost::Message;
use xbar_nn::Dense;
use xbar_nn::graph::{Conv2d, Layer, Network, Pool, Shape};

use crate::error::{ImportError, Result};
use crate::file::{MAX_MODEL_BYTES, read_regular};
use proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

/// An imported ONNX model: the network and what the file says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxModel {
    /// The network (validated).
    pub network: Network,
    /// Name of the graph input.
    pub input_name: String,
    /// Name of the graph output.
    pub output_name: String,
    /// `producer_name` of the model (may be empty).
    pub producer: String,
    /// Opset version of the default ONNX domain.
    pub opset: i64,
}

/// The operators this importer accepts, for error messages.
pub const SUPPORTED_OPS: &str = "Gemm, MatMul, Add (bias after MatMul/Gemm/Conv), Conv, Relu, \
    MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape (to [N, -1]), BatchNormalization \
    (after Conv/Gemm/MatMul), Softmax (last node), Identity, Dropout, Constant";

/// Reads an ONNX model file (a regular file of at most [`MAX_MODEL_BYTES`]).
///
/// ```
/// let dir = env!("CARGO_MANIFEST_DIR");
/// let m = xbar_import::load_onnx(format!("{dir}/../../models/mnist-mlp.onnx").as_ref())?;
/// assert_eq!(m.network.output_shape()?.len(), 10);
/// assert!(m.network.softmax_output);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_onnx(path: &Path) -> Result<OnnxModel> {
    let bytes = read_regular(path, MAX_MODEL_BYTES)?;
    parse_onnx(&bytes, path)
}

/// Imports an ONNX model from its bytes; `path` is used in messages only.
///
/// ```
/// let e = xbar_import::parse_onnx(b"not a model", "m.onnx".as_ref()).unwrap_err();
/// assert!(e.to_string().contains("m.onnx"));
/// ```
pub fn parse_onnx(bytes: &[u8], path: &Path) -> Result<OnnxModel> {
    let file_err = |what: String| ImportError::File {
        path: path.to_path_buf(),
        what,
    };
    let model = ModelProto::decode(bytes).map_err(|e| {
        file_err(format!(
            "not a readable ONNX model: protobuf decoding failed ({e}); the file is truncated \
             or not ONNX"
        ))
    })?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| file_err("the model has no graph (an empty or non-ONNX file?)".into()))?;
    if model.ir_version.unwrap_or(0) <= 0 {
        return Err(file_err(format!(
            "ir_version {} is not a valid ONNX IR version (an ONNX file has 1 or more)",
            model.ir_version.unwrap_or(0)
        )));
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| file_err("no opset_import for the default ONNX domain".into()))?;
    let mut importer = Importer {
        path,
        graph,
        opset,
        consts: HashMap::new(),
    };
    let (network, input_name, output_name) = importer.run()?;
    Ok(OnnxModel {
        network,
        input_name,
        output_name,
        producer: model.producer_name.clone().unwrap_or_default(),
        opset,
    })
}

/// A decoded tensor: dimensions and values as `f64` (integers exactly up to 2^53).
#[derive(Clone, Debug)]
struct Tensor {
    dims: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    fn len(&self) -> usize {
        self.data.len()
    }
}

// ONNX TensorProto.DataType codes (onnx.proto).
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// Decodes a tensor's numbers; `what` names it in errors.
fn decode_tensor(t: &TensorProto, path: &Path, key: &str) -> Result<Tensor> {
    let err = |what: String| ImportError::Array {
        path: path.to_path_buf(),
        key: key.to_string(),
        what,
    };
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(err(
            "stored as external data (a separate file); save the model with its weights inside"
                .into(),
        ));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut count: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d).map_err(|_| err(format!("negative dimension {d}")))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| err(format!("dimensions {:?} overflow", t.dims)))?;
        dims.push(d);
    }
    let dtype = t.data_type.unwrap_or(0);
    let raw = t.raw_data.as_deref();
    let width = match dtype {
        FLOAT | INT32 => 4,
        INT64 | DOUBLE => 8,
        other => {
            return Err(err(format!(
                "data type {other} is not supported (float32 = 1, float64 = 11, int32 = 6, \
                 int64 = 7)"
            )));
        }
    };
    let data: Vec<f64> = if let Some(raw) = raw {
        // Check the claimed size against the bytes present before allocating anything.
        if count.checked_mul(width) != Some(raw.len()) {
            return Err(err(format!(
                "raw_data has {} bytes, dimensions {:?} of {width}-byte values need {}",
                raw.len(),
                t.dims,
                count.saturating_mul(width)
            )));
        }
        let chunks = raw.chunks_exact(width);
        match dtype {
            FLOAT => chunks
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            INT32 => chunks
                .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            INT64 => chunks
                .map(|c| i64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f64)
                .collect(),
            _ => chunks
                .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")))
                .collect(),
        }
    } else {
        let (n, v): (usize, Vec<f64>) = match dtype {
            FLOAT => (
                t.float_data.len(),
                t.float_data.iter().map(|&v| f64::from(v)).collect(),
            ),
            INT32 => (
                t.int32_data.len(),
                t.int32_data.iter().map(|&v| f64::from(v)).collect(),
            ),
            INT64 => (
                t.int64_data.len(),
                t.int64_data.iter().map(|&v| v as f64).collect(),
            ),
            _ => (t.double_data.len(), t.double_data.clone()),
        };
        if n != count {
            return Err(err(format!(
                "has {n} values but dimensions {:?} need {count}",
                t.dims
            )));
        }
        v
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(err(format!(
            "value {} at flat index {i} is not finite",
            data[i]
        )));
    }
    Ok(Tensor { dims, data })
}

/// How one node's output continues the chain.
enum Step {
    /// A new layer.
    Layer(Layer),
    /// Nothing to add (Identity, Dropout), or the node modified the last layer (bias, BN).
    Nothing,
}

struct Importer<'a> {
    path: &'a Path,
    graph: &'a GraphProto,
    opset: i64,
    /// Initializers and Constant outputs, decoded on first use.
    consts: HashMap<String, Tensor>,
}

/// A node's label for messages: `#index "name" (OpType)`.
fn label(k: usize, node: &NodeProto) -> String {
    let op = node.op_type.as_deref().unwrap_or("?");
    match node.name.as_deref() {
        Some(name) if !name.is_empty() => format!("#{k} {name:?} ({op})"),
        _ => format!("#{k} ({op})"),
    }
}

impl Importer<'_> {
    fn file_err(&self, what: String) -> ImportError {
        ImportError::File {
            path: self.path.to_path_buf(),
            what,
        }
    }

    fn run(&mut self) -> Result<(Network, String, String)> {
        let init_names: HashMap<&str, &TensorProto> = self
            .graph
            .initializer
            .iter()
            .map(|t| (t.name.as_deref().unwrap_or(""), t))
            .collect();
        // Inputs that are not initializers (older exporters list weights as inputs too).
        let inputs: Vec<_> = self
            .graph
            .input
            .iter()
            .filter(|i| !init_names.contains_key(i.name.as_deref().unwrap_or("")))
            .collect();
        if inputs.len() != 1 {
            return Err(self.file_err(format!(
                "the graph has {} data inputs ({}); exactly one is supported",
                inputs.len(),
                inputs
                    .iter()
                    .map(|i| format!("{:?}", i.name.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if self.graph.output.len() != 1 {
            return Err(self.file_err(format!(
                "the graph has {} outputs; exactly one is supported",
                self.graph.output.len()
            )));
        }
        let input_name = inputs[0].name.clone().unwrap_or_default();
        let output_name = self.graph.output[0].name.clone().unwrap_or_default();
        let input = self.input_shape(inputs[0])?;
        for (name, t) in &init_names {
            let decoded = decode_tensor(t, self.path, name)?;
            self.consts.insert((*name).to_string(), decoded);
        }

        let mut net = Network {
            input,
            layers: Vec::new(),
            softmax_output: false,
        };
        let mut current = input_name.clone();
        let mut shape = input;
        let nodes = &self.graph.node;
        for (k, node) in nodes.iter().enumerate() {
            let node_err = |what: String| ImportError::Node {
                path: self.path.to_path_buf(),
                node: label(k, node),
                what,
            };
            if !matches!(node.domain.as_deref(), None | Some("") | Some("ai.onnx")) {
                return Err(node_err(format!(
                    "operator domain {:?} is not supported (only the default ONNX domain)",
                    node.domain.as_deref().unwrap_or("")
                )));
            }
            let op = node.op_type.as_deref().unwrap_or("");
            if op == "Constant" {
                self.constant(node).map_err(node_err)?;
                continue;
            }
            // The chain: exactly one non-constant input, and it is the previous output.
            let data: Vec<&String> = node
                .input
                .iter()
                .filter(|i| !i.is_empty() && !self.consts.contains_key(*i))
                .collect();
            if data.len() != 1 || *data[0] != current {
                return Err(node_err(format!(
                    "reads {} (not constants) but only a linear chain is supported: each node must \
                     read exactly the previous node's output {current:?} plus initializers \
                     (branches, skip connections and multiple inputs are not supported)",
                    if data.is_empty() {
                        "no tensor".to_string()
                    } else {
                        data.iter()
                            .map(|d| format!("{d:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )));
            }
            let is_last = k + 1 == nodes.len();
            let step = self
                .node(node, op, shape, &mut net, is_last)
                .map_err(node_err)?;
            if let Step::Layer(layer) = step {
                net.layers.push(layer);
            }
            if !net.layers.is_empty() {
                shape = *net
                    .validate()
                    .map_err(|e| node_err(format!("gives an invalid network: {e}")))?
                    .last()
                    .expect("a non-empty network has shapes");
            }
            current = node
                .output
                .first()
                .filter(|o| !o.is_empty())
                .cloned()
                .ok_or_else(|| node_err("has no output".into()))?;
            // Extra outputs (Dropout's mask, BatchNormalization's running statistics) must
            // not be read later; the chain check above rejects any node that does.
        }
        if current != output_name {
            return Err(self.file_err(format!(
                "the chain ends in {current:?} but the graph output is {output_name:?}"
            )));
        }
        net.validate().map_err(|source| ImportError::Nn {
            path: self.path.to_path_buf(),
            source,
        })?;
        self.check_output_shape(&net)?;
        Ok((net, input_name, output_name))
    }

    /// The sample shape of the graph input: `[N, F]` or `[N, C, H, W]` with a free batch.
    fn input_shape(&self, vi: &proto::ValueInfoProto) -> Result<Shape> {
        let name = vi.name.as_deref().unwrap_or("");
        let dims = static_dims(vi).ok_or_else(|| {
            self.file_err(format!(
                "input {name:?} has no tensor shape; xbar needs [N, features] or [N, C, H, W]"
            ))
        })?;
        let fixed = |d: &Option<i64>, i: usize| match d {
            Some(v) if *v > 0 => Ok(*v as usize),
            _ => Err(self.file_err(format!(
                "input {name:?} dimension {i} is not a fixed positive size ({d:?}); only the \
                 batch dimension (0) may be symbolic"
            ))),
        };
        match dims.len() {
            2 => Ok(Shape::Flat {
                features: fixed(&dims[1], 1)?,
            }),
            4 => Ok(Shape::Image {
                channels: fixed(&dims[1], 1)?,
                height: fixed(&dims[2], 2)?,
                width: fixed(&dims[3], 3)?,
            }),
            r => Err(self.file_err(format!(
                "input {name:?} has rank {r}; supported: 2 ([N, features]) or 4 ([N, C, H, W])"
            ))),
        }
    }

    fn check_output_shape(&self, net: &Network) -> Result<()> {
        let out = net.output_shape().map_err(|source| ImportError::Nn {
            path: self.path.to_path_buf(),
            source,
        })?;
        if let Some(dims) = static_dims(&self.graph.output[0]) {
            let declared: Vec<Option<i64>> = dims.into_iter().skip(1).collect();
            let ours = out.dims();
            let agrees = declared.len() == ours.len()
                && declared
                    .iter()
                    .zip(&ours)
                    .all(|(d, &o)| d.is_none_or(|d| d == o as i64));
            let flat_agrees = declared.len() == 1 && declared[0] == Some(out.len() as i64);
            if !(agrees || flat_agrees) {
                return Err(self.file_err(format!(
                    "the graph output is declared as [N, {declared:?}] but the imported network \
                     gives {out}"
                )));
            }
        }
        Ok(())
    }

    fn constant(&mut self, node: &NodeProto) -> std::result::Result<(), String> {
        let out = node.output.first().cloned().unwrap_or_default();
        let attr = node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some("value"))
            .and_then(|a| a.t.as_ref())
            .ok_or("Constant is supported only with a tensor `value` attribute")?;
        let t = decode_tensor(attr, self.path, &out).map_err(|e| e.to_string())?;
        self.consts.insert(out, t);
        Ok(())
    }

    /// The constant input `i` of a node (an initializer or a Constant's output).
    fn input_const(
        &self,
        node: &NodeProto,
        i: usize,
        what: &str,
    ) -> std::result::Result<&Tensor, String> {
        let name = node
            .input
            .get(i)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("input {i} ({what}) is missing"))?;
        self.consts.get(name).ok_or_else(|| {
            format!("input {i} ({what}) {name:?} must be an initializer or a Constant")
        })
    }

    fn node(
        &self,
        node: &NodeProto,
        op: &str,
        shape: Shape,
        net: &mut Network,
        is_last: bool,
    ) -> std::result::Result<Step, String> {
        let attrs = Attrs::new(node)?;
        match op {
            // Gemm: Y = alpha * A' B' + beta * C (spec "Gemm").
            "Gemm" => {
                attrs.only(&["alpha", "beta", "transA", "transB"])?;
                let alpha = attrs.float("alpha", 1.0)?;
                let beta = attrs.float("beta", 1.0)?;
                if attrs.int("transA", 0)? != 0 {
                    return Err(
                        "attribute transA = 1 is not supported (supported: 0; the data \
                                is the first input)"
                            .into(),
                    );
                }
                let trans_b = match attrs.int("transB", 0)? {
                    0 => false,
                    1 => true,
                    v => return Err(format!("attribute transB = {v}; supported: 0 or 1")),
                };
                let b = self.input_const(node, 1, "B")?;
                let mut dense = matrix(b, trans_b, "B")?;
                scale(&mut dense.w, alpha);
                if let Some(c) = node.input.get(2).filter(|n| !n.is_empty()) {
                    let c = self
                        .consts
                        .get(c)
                        .ok_or_else(|| format!("input 2 (C) {c:?} must be an initializer"))?;
                    dense.b = broadcast_bias(c, dense.outputs(), 0)?;
                    dense.b.iter_mut().for_each(|v| *v *= beta);
                }
                flat_input(shape, op)?;
                Ok(Step::Layer(Layer::Dense(dense)))
            }
            // MatMul: the data times a constant 2-D matrix [inputs, outputs] (spec "MatMul").
            "MatMul" => {
                attrs.only(&[])?;
                let b = self.input_const(node, 1, "B")?;
                flat_input(shape, op)?;
                Ok(Step::Layer(Layer::Dense(matrix(b, false, "B")?)))
            }
            // Add: accepted as the bias of the layer just before it (spec "Add", broadcasting).
            "Add" => {
                attrs.only(&[])?;
                if node.input.len() != 2 {
                    return Err(format!("has {} inputs, expected 2", node.input.len()));
                }
                // The chain check made one input the data; the other is a constant.
                let c = self
                    .consts
                    .get(&node.input[1])
                    .or_else(|| self.consts.get(&node.input[0]))
                    .ok_or("one input must be an initializer or a Constant")?;
                match net.layers.last_mut() {
                    Some(Layer::Dense(d)) => {
                        let add = broadcast_bias(c, d.outputs(), 0)?;
                        d.b.iter_mut().zip(add).for_each(|(b, a)| *b += a);
                    }
                    Some(Layer::Conv2d(conv)) => {
                        let add = broadcast_bias(c, conv.out_channels(), 2)?;
                        conv.bias.iter_mut().zip(add).for_each(|(b, a)| *b += a);
                    }
                    other => {
                        return Err(format!(
                            "Add is supported only as the bias of the MatMul/Gemm/Conv just \
                             before it; here it follows {}",
                            other.map_or("the graph input", |l| l.kind())
                        ));
                    }
                }
                Ok(Step::Nothing)
            }
            // Conv (spec "Conv"): W is [M, C/group, kh, kw].
            "Conv" => {
                attrs.only(&[
                    "auto_pad",
                    "dilations",
                    "group",
                    "kernel_shape",
                    "pads",
                    "strides",
                ])?;
                let group = attrs.int("group", 1)?;
                if group != 1 {
                    return Err(format!(
                        "attribute group = {group} is not supported (supported: 1; grouped and \
                         depthwise convolutions cannot be mapped yet)"
                    ));
                }
                let w = self.input_const(node, 1, "W")?;
                if w.dims.len() != 4 {
                    return Err(format!(
                        "weight has dimensions {:?}; only 2-D convolutions ([M, C, kh, kw]) are \
                         supported",
                        w.dims
                    ));
                }
                let (m, c, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3]);
                let window = Window::read(&attrs, [kh, kw], false)?;
                let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
                    Some(_) => {
                        let b = self.input_const(node, 2, "B")?;
                        if b.dims != [m] {
                            return Err(format!(
                                "bias B has dimensions {:?}, expected [{m}]",
                                b.dims
                            ));
                        }
                        b.data.clone()
                    }
                    None => vec![0.0; m],
                };
                let conv =
                    Conv2d::from_mckk(&w.data, m, c, [kh, kw], bias, window.stride, window.pads)
                        .map_err(|e| e.to_string())?;
                Ok(Step::Layer(Layer::Conv2d(conv)))
            }
            "Relu" => {
                attrs.only(&[])?;
                Ok(Step::Layer(Layer::Relu))
            }
            // MaxPool / AveragePool (spec): ceil_mode 0 and dilation 1 only.
            "MaxPool" | "AveragePool" => {
                let max = op == "MaxPool";
                let mut allowed = vec![
                    "auto_pad",
                    "ceil_mode",
                    "dilations",
                    "kernel_shape",
                    "pads",
                    "strides",
                ];
                if max {
                    allowed.push("storage_order");
                    if node.output.get(1).is_some_and(|o| !o.is_empty()) {
                        return Err("the Indices output is not supported".into());
                    }
                } else {
                    allowed.push("count_include_pad");
                }
                attrs.only(&allowed)?;
                let kernel = attrs
                    .ints("kernel_shape")?
                    .ok_or("attribute kernel_shape is required")?;
                let kernel = pair(&kernel, "kernel_shape")?;
                if attrs.int("ceil_mode", 0)? != 0 {
                    return Err("attribute ceil_mode = 1 is not supported (supported: 0)".into());
                }
                if attrs.int("storage_order", 0)? != 0 {
                    return Err(
                        "attribute storage_order = 1 is not supported (supported: 0)".into(),
                    );
                }
                let window = Window::read(&attrs, kernel, true)?;
                let pool = Pool {
                    kernel,
                    stride: window.stride,
                    pads: window.pads,
                };
                if max {
                    Ok(Step::Layer(Layer::MaxPool(pool)))
                } else {
                    let count_include_pad = match attrs.int("count_include_pad", 0)? {
                        0 => false,
                        1 => true,
                        v => {
                            return Err(format!(
                                "attribute count_include_pad = {v}; supported: 0 or 1"
                            ));
                        }
                    };
                    Ok(Step::Layer(Layer::AvgPool {
                        pool,
                        count_include_pad,
                    }))
                }
            }
            "GlobalAveragePool" => {
                attrs.only(&[])?;
                Ok(Step::Layer(Layer::GlobalAvgPool))
            }
            // Flatten (spec): [d0..d(axis-1), rest]; only the batch stays in front.
            "Flatten" => {
                attrs.only(&["axis"])?;
                let rank = shape.dims().len() as i64 + 1;
                let axis = attrs.int("axis", 1)?;
                if axis != 1 && axis + rank != 1 {
                    return Err(format!(
                        "attribute axis = {axis} is not supported (supported: 1, or {} for this \
                         rank-{rank} input: flatten everything but the batch)",
                        1 - rank
                    ));
                }
                Ok(Step::Layer(Layer::Flatten))
            }
            // Reshape (spec): only to [N, -1] or an equivalent.
            "Reshape" => {
                attrs.only(&["allowzero"])?;
                let target = self.input_const(node, 1, "shape")?;
                let t: Vec<i64> = target.data.iter().map(|&v| v as i64).collect();
                let len = shape.len() as i64;
                let allowzero = attrs.int("allowzero", 0)? != 0;
                let ok = t.len() == 2
                    && ((t[0] == 0 && !allowzero) || t[0] == -1)
                    && (t[1] == -1 || t[1] == len)
                    && !(t[0] == -1 && t[1] == -1);
                if !ok {
                    return Err(format!(
                        "shape {t:?} is not supported: only flattening to [N, -1] ([0, -1], \
                         [-1, {len}] or [0, {len}] for this {shape} input)"
                    ));
                }
                Ok(Step::Layer(Layer::Flatten))
            }
            // BatchNormalization (spec, inference): y = scale (x - mean) / sqrt(var + eps) + B.
            "BatchNormalization" => {
                attrs.only(&["epsilon", "momentum", "training_mode", "spatial"])?;
                if attrs.int("training_mode", 0)? != 0 {
                    return Err(
                        "attribute training_mode = 1 is not supported (inference only)".into(),
                    );
                }
                if attrs.int("spatial", 1)? != 1 {
                    return Err("attribute spatial = 0 is not supported (supported: 1)".into());
                }
                let eps = attrs.float("epsilon", 1e-5)?;
                let names = ["scale", "B", "input_mean", "input_var"];
                let mut p = Vec::with_capacity(4);
                for (i, name) in names.iter().enumerate() {
                    p.push(self.input_const(node, i + 1, name)?);
                }
                let p: Vec<&[f64]> = p.iter().map(|t| t.data.as_slice()).collect();
                crate::fold::batch_norm(net.layers.last_mut(), [p[0], p[1], p[2], p[3]], eps)?;
                Ok(Step::Nothing)
            }
            // Softmax (spec): monotone per row, so argmax is unchanged; recorded, not applied.
            "Softmax" => {
                attrs.only(&["axis"])?;
                if !is_last {
                    return Err("Softmax is supported only as the last node".into());
                }
                let default = if self.opset >= 13 { -1 } else { 1 };
                let axis = attrs.int("axis", default)?;
                if !matches!(shape, Shape::Flat { .. }) || !(axis == 1 || axis == -1) {
                    return Err(format!(
                        "Softmax over axis {axis} of a {shape} tensor is not supported \
                         (supported: axis 1 or -1 of [N, classes])"
                    ));
                }
                net.softmax_output = true;
                Ok(Step::Nothing)
            }
            "Identity" => Ok(Step::Nothing),
            "Dropout" => {
                attrs.only(&["ratio", "seed", "is_test"])?;
                if let Some(mode) = node.input.get(2).filter(|n| !n.is_empty()) {
                    let m = self
                        .consts
                        .get(mode)
                        .ok_or("training_mode must be a constant")?;
                    if m.data.iter().any(|&v| v != 0.0) {
                        return Err("training_mode = true is not supported (inference only)".into());
                    }
                }
                Ok(Step::Nothing)
            }
            other => Err(format!(
                "operator {other:?} is not supported; supported operators: {SUPPORTED_OPS}"
            )),
        }
    }
}

/// The declared dims of a value (None for a symbolic or missing dimension), if it is a tensor
/// with a shape.
fn static_dims(vi: &proto::ValueInfoProto) -> Option<Vec<Option<i64>>> {
    use proto::tensor_shape_proto::dimension::Value;
    use proto::type_proto::Value as T;
    let Some(T::TensorType(t)) = vi.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    Some(
        t.shape
            .as_ref()?
            .dim
            .iter()
            .map(|d| match d.value {
                Some(Value::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect(),
    )
}

fn flat_input(shape: Shape, op: &str) -> std::result::Result<(), String> {
    match shape {
        Shape::Flat { .. } => Ok(()),
        Shape::Image { .. } => Err(format!(
            "{op} on a {shape} tensor is not supported; flatten it first (Flatten, or Reshape \
             to [N, -1])"
        )),
    }
}

/// A 2-D constant as a dense layer's weight (`inputs x outputs`), transposed if `trans`.
fn matrix(t: &Tensor, trans: bool, what: &str) -> std::result::Result<Dense, String> {
    if t.dims.len() != 2 {
        return Err(format!(
            "{what} has dimensions {:?}; a 2-D matrix is required",
            t.dims
        ));
    }
    let (r, c) = (t.dims[0], t.dims[1]);
    let w = if trans {
        Mat::from_fn(c, r, |i, j| t.data[j * c + i])
    } else {
        Mat::from_fn(r, c, |i, j| t.data[i * c + j])
    };
    let outputs = w.ncols();
    Ok(Dense {
        w,
        b: vec![0.0; outputs],
    })
}

fn scale(w: &mut Mat<f64>, k: f64) {
    if k != 1.0 {
        for j in 0..w.ncols() {
            w.col_as_slice_mut(j).iter_mut().for_each(|v| *v *= k);
        }
    }
}

/// A bias of `n` values from a constant added to an output of `n` features (then
/// `trailing = 0`) or `n` channels of an image (`trailing = 2`): by numpy broadcasting its
/// dimensions must be `[n]` followed by `trailing` ones, after any leading ones; a single value
/// is broadcast to all.
fn broadcast_bias(t: &Tensor, n: usize, trailing: usize) -> std::result::Result<Vec<f64>, String> {
    if t.len() == 1 {
        return Ok(vec![t.data[0]; n]);
    }
    let lead = t.dims.len().saturating_sub(1 + trailing);
    let ok = t.dims.len() > trailing
        && t.dims[..lead].iter().all(|&d| d == 1)
        && t.dims[lead] == n
        && t.dims[lead + 1..].iter().all(|&d| d == 1);
    if ok {
        Ok(t.data.clone())
    } else {
        let want: Vec<usize> = std::iter::once(n)
            .chain(std::iter::repeat_n(1, trailing))
            .collect();
        Err(format!(
            "bias of dimensions {:?} does not broadcast to {n} outputs (expected {want:?})",
            t.dims
        ))
    }
}

fn pair(v: &[i64], what: &str) -> std::result::Result<[usize; 2], String> {
    match v {
        [a, b] if *a > 0 && *b > 0 => Ok([*a as usize, *b as usize]),
        _ => Err(format!(
            "attribute {what} = {v:?}; two positive values are required (2-D only)"
        )),
    }
}

/// Strides and pads of a sliding window (Conv, MaxPool, AveragePool).
struct Window {
    stride: [usize; 2],
    pads: [usize; 4],
}

impl Window {
    fn read(
        attrs: &Attrs<'_>,
        kernel: [usize; 2],
        pool: bool,
    ) -> std::result::Result<Window, String> {
        if let Some(k) = attrs.ints("kernel_shape")?
            && pair(&k, "kernel_shape")? != kernel
        {
            return Err(format!(
                "attribute kernel_shape = {k:?} disagrees with the {} {kernel:?}",
                if pool { "window" } else { "weight's" }
            ));
        }
        if let Some(d) = attrs.ints("dilations")?
            && d.iter().any(|&v| v != 1)
        {
            return Err(format!(
                "attribute dilations = {d:?} is not supported (supported: 1)"
            ));
        }
        let stride = match attrs.ints("strides")? {
            Some(s) => pair(&s, "strides")?,
            None => [1, 1],
        };
        let auto = attrs.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
        let pads = match auto.as_str() {
            "NOTSET" => match attrs.ints("pads")? {
                None => [0; 4],
                Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                    [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
                }
                Some(p) => {
                    return Err(format!(
                        "attribute pads = {p:?}; four non-negative values are required \
                         [top, left, bottom, right]"
                    ));
                }
            },
            "VALID" => [0; 4],
            other => {
                return Err(format!(
                    "attribute auto_pad = {other:?} is not supported (supported: NOTSET with \
                     explicit pads, or VALID)"
                ));
            }
        };
        Ok(Window { stride, pads })
    }
}

/// A node's attributes by name.
struct Attrs<'a> {
    op: &'a str,
    map: HashMap<&'a str, &'a AttributeProto>,
}

impl<'a> Attrs<'a> {
    fn new(node: &'a NodeProto) -> std::result::Result<Attrs<'a>, String> {
        let mut map = HashMap::new();
        for a in &node.attribute {
            let name = a.name.as_deref().unwrap_or("");
            if a.ref_attr_name.is_some() {
                return Err(format!(
                    "attribute {name} refers to a function attribute; not supported"
                ));
            }
            map.insert(name, a);
        }
        Ok(Attrs {
            op: node.op_type.as_deref().unwrap_or(""),
            map,
        })
    }

    /// Rejects attributes outside `allowed`.
    fn only(&self, allowed: &[&str]) -> std::result::Result<(), String> {
        let mut names: Vec<&&str> = self.map.keys().collect();
        names.sort();
        if let Some(bad) = names.into_iter().find(|n| !allowed.contains(n)) {
            return Err(format!(
                "attribute {bad:?} of {} is not supported (supported: {})",
                self.op,
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
        Ok(())
    }

    fn int(&self, name: &str, default: i64) -> std::result::Result<i64, String> {
        Ok(self.map.get(name).and_then(|a| a.i).unwrap_or(default))
    }

    fn float(&self, name: &str, default: f64) -> std::result::Result<f64, String> {
        let v = self
            .map
            .get(name)
            .and_then(|a| a.f)
            .map_or(default, f64::from);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("attribute {name} = {v} is not finite"))
        }
    }

    fn ints(&self, name: &str) -> std::result::Result<Option<Vec<i64>>, String> {
        Ok(self.map.get(name).map(|a| a.ints.clone()))
    }

    fn string(&self, name: &str) -> std::result::Result<Option<String>, String> {
        self.map
            .get(name)
            .map(|a| {
                String::from_utf8(a.s.clone().unwrap_or_default())
                    .map_err(|_| format!("attribute {name} is not UTF-8"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::proto::{
        AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto,
    };
    use prost::Message;

    fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
        use tensor_shape_proto::{Dimension, dimension::Value};
        let dim = std::iter::once(Value::DimParam("N".into()))
            .chain(dims.iter().map(|&d| Value::DimValue(d)))
            .map(|v| Dimension {
                value: Some(v),
                ..Default::default()
            })
            .collect();
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(1),
                    shape: Some(TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn tensor(name: &str, dims: &[i64], data: Vec<f64>) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(11),
            double_data: data,
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: Some(op.into()),
            name: Some(format!("{op}-node")),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            i: Some(v),
            r#type: Some(2),
            ..Default::default()
        }
    }

    /// A [N, 2] -> [N, 2] model of `nodes` reading "x", writing "y"; float64 weights "w"
    /// (identity), "b" (zeros), "s" (reshape target [0, -1]) and batch-norm vectors.
    fn import(nodes: Vec<NodeProto>) -> Result<super::OnnxModel, String> {
        let ones = vec![1.0, 1.0];
        let m = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            }],
            graph: Some(GraphProto {
                node: nodes,
                initializer: vec![
                    tensor("w", &[2, 2], vec![1.0, 0.0, 0.0, 1.0]),
                    tensor("b", &[2], vec![0.0, 0.0]),
                    tensor("s", &[2], vec![0.0, -1.0]),
                    tensor("one", &[2], ones),
                ],
                input: vec![value("x", &[2])],
                output: vec![value("y", &[2])],
                ..Default::default()
            }),
            ..Default::default()
        };
        super::parse_onnx(&m.encode_to_vec(), "t.onnx".as_ref()).map_err(|e| e.to_string())
    }

    #[test]
    fn float64_weights_and_a_folded_batch_norm_import() {
        let m = import(vec![
            node("Gemm", &["x", "w", "b"], "h", vec![]),
            node(
                "BatchNormalization",
                &["h", "one", "b", "b", "one"],
                "y",
                vec![],
            ),
        ])
        .unwrap();
        assert_eq!(m.network.layers.len(), 1);
        let xbar_nn::Layer::Dense(d) = &m.network.layers[0] else {
            panic!("dense expected")
        };
        // scale 1 / sqrt(1 + 1e-5) on the identity.
        assert!((d.w[(0, 0)] - 1.0 / (1.0f64 + 1e-5).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn unsupported_forms_are_named() {
        let err = |nodes| import(nodes).unwrap_err();
        let e = err(vec![node(
            "Gemm",
            &["x", "w", "b"],
            "y",
            vec![int("transA", 1)],
        )]);
        assert!(
            e.contains("\"Gemm-node\" (Gemm)") && e.contains("transA = 1"),
            "{e}"
        );
        let e = err(vec![
            node("Relu", &["x"], "r", vec![]),
            node(
                "BatchNormalization",
                &["r", "one", "b", "b", "one"],
                "y",
                vec![],
            ),
        ]);
        assert!(e.contains("follows relu"), "{e}");
        let e = err(vec![
            node("Softmax", &["x"], "p", vec![]),
            node("Relu", &["p"], "y", vec![]),
        ]);
        assert!(e.contains("only as the last node"), "{e}");
        let e = err(vec![node(
            "Gemm",
            &["x", "w", "b"],
            "y",
            vec![int("unknown", 1)],
        )]);
        assert!(e.contains("attribute \"unknown\""), "{e}");
        let e = err(vec![node("Relu", &["x"], "z", vec![])]);
        assert!(e.contains("ends in \"z\"") && e.contains("\"y\""), "{e}");
        let e = err(vec![node("Add", &["x", "b"], "y", vec![])]);
        assert!(e.contains("bias of the MatMul/Gemm/Conv"), "{e}");
        // Reshape to [0, -1] of a flat input is a flatten; the output is then 2 wide.
        assert!(import(vec![node("Reshape", &["x", "s"], "y", vec![])]).is_ok());
    }

    #[test]
    fn generated_code_matches_the_vendored_proto() {
        // scripts/onnx-proto-gen writes the proto's FNV-1a hash into proto.rs; a changed
        // onnx.proto without regenerated code fails here.
        let proto = include_bytes!("../../proto/onnx.proto");
        let code = include_str!("proto.rs");
        let want = format!("onnx.proto FNV-1a 64: {:016x}", xbar_nn::fnv1a64(proto));
        assert!(code.contains(&want), "regenerate proto.rs: {want}");
    }
}

//! Bring your own network and data to xbar.
//!
//! - **Networks**: ONNX files exported from PyTorch, Keras (tf2onnx) or by hand
//!   ([`load_onnx`]), restricted to a linear chain of the operators listed in [`onnx`]; or NPZ
//!   weights plus a list of layer specs ([`NetworkSpec`], [`load_npz_network`]). Both give an
//!   [`xbar_nn::Network`], whose `f64` forward pass is the reference for the crossbar.
//! - **Data**: NPZ (`x_test`, `y_test`, optional `x_train`, `y_train`), IDX pairs (gzip or
//!   raw) and CSV (last column the label), as an [`xbar_nn::Dataset`] plus the original sample
//!   shape ([`LoadedData`]).
//!
//! Every file is opened as a regular file (FIFOs, devices and directories are refused) and
//! read with a size limit; claimed dimensions are checked against the bytes present before
//! anything is allocated. Errors name the file, the node, array or row, the offending value and
//! what is accepted.
//!
//! # Example
//!
//! ```
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
//! let model = xbar_import::load_onnx(format!("{root}/models/mnist-lenet.onnx").as_ref())?;
//! let kinds: Vec<_> = model.network.layers.iter().map(|l| l.kind()).collect();
//! assert_eq!(kinds[..4], ["conv2d", "relu", "max-pool", "conv2d"]); // BatchNormalization folded
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dataset;
pub mod error;
pub mod file;
mod fold;
mod npz;
pub mod onnx;
pub mod reference;
pub mod weights;

pub use dataset::{
    ByteScale, DataOptions, LoadedData, NdArray, load_csv_dataset, load_idx, load_idx_dataset,
    load_npz_dataset, read_npz_array,
};
pub use error::{ImportError, Result};
pub use file::{MAX_DATA_BYTES, MAX_MODEL_BYTES, read_regular};
pub use npz::{NpyArray, NpyData, npz_bytes};
pub use onnx::{OnnxModel, load_onnx, parse_onnx};
pub use weights::{LayerSpec, NetworkSpec, load_npz_network, parse_npz_network};

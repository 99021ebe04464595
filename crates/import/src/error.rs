//! The crate's error type.

use std::path::PathBuf;

use xbar_nn::NnError;

/// Everything that can go wrong while importing a network or a data set.
///
/// Every variant names the file concerned and, where there is one, the node, array or layer
/// spec, the offending value and what is accepted, so a message can be acted on directly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Opening or reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The path names something other than a regular file (a directory, a FIFO, a device).
    #[error("{}: is {kind}, not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead, e.g. "a FIFO (named pipe)".
        kind: &'static str,
    },

    /// The file (or its decompressed content) exceeds the size limit.
    #[error("{}: larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },

    /// The file as a whole cannot be used (not ONNX, no graph, a graph that is not a chain...).
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the values involved.
        what: String,
    },

    /// One node of an ONNX graph cannot be imported.
    #[error("{}: node {node}: {what}", path.display())]
    Node {
        /// The model file.
        path: PathBuf,
        /// The node: its index, name (if any) and op_type, e.g. `#3 "conv1" (Conv)`.
        node: String,
        /// What is wrong and what is supported.
        what: String,
    },

    /// One array (an NPZ member, an ONNX initializer, an IDX file's content) is unusable.
    #[error("{}: array {key:?}: {what}", path.display())]
    Array {
        /// The file.
        path: PathBuf,
        /// The array's name, e.g. "x_test" or "fc1.weight".
        key: String,
        /// What is wrong, with the values and the valid range.
        what: String,
    },

    /// One entry of an NPZ network spec is unusable.
    #[error("{}: layer spec {index} ({kind}): {what}", path.display())]
    Spec {
        /// The NPZ file the spec refers to.
        path: PathBuf,
        /// 0-based position in the spec list.
        index: usize,
        /// The spec's kind, e.g. "dense".
        kind: &'static str,
        /// What is wrong.
        what: String,
    },

    /// The imported network or data set failed xbar-nn's own checks.
    #[error("{}: {source}", path.display())]
    Nn {
        /// The file it was imported from.
        path: PathBuf,
        /// The underlying error (it names the layer or the row).
        #[source]
        source: NnError,
    },
}

/// The crate's result alias.
pub type Result<T> = std::result::Result<T, ImportError>;

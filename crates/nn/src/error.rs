//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `xbar-nn`.
///
/// Every variant carries the offending value or location, so a message can be acted on without a
/// debugger. Numerical outcomes (a loss that diverged, a low accuracy) are not errors: they are
/// reported in [`crate::TrainReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// A data set is unusable as a whole (empty, wrong number of rows, labels out of range).
    #[error("dataset: {what}")]
    Dataset {
        /// What is wrong, with the offending numbers.
        what: String,
    },

    /// A field of the digits CSV could not be accepted.
    ///
    /// `line` and `column` are 1-based; `value` is the raw field (shortened to at most
    /// 40 characters, non-UTF-8 bytes replaced) or empty when the field is missing.
    #[error("digits CSV line {line}, column {column}: {problem} (value {value:?})")]
    Csv {
        /// 1-based line number in the uncompressed text.
        line: usize,
        /// 1-based column (field) number; one past the last field for a line that is too short.
        column: usize,
        /// The offending field as text (possibly shortened), empty if missing.
        value: String,
        /// What is wrong with it and what was expected.
        problem: String,
    },

    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// JSON could not be parsed into the expected structure.
    #[error("JSON ({context}): {source}")]
    Json {
        /// What was being read, e.g. "MLP".
        context: &'static str,
        /// The underlying serde_json error.
        #[source]
        source: serde_json::Error,
    },

    /// Two sizes that must agree do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// Which quantity, e.g. "layer 1 inputs".
        what: String,
        /// The size required.
        expected: usize,
        /// The size found.
        got: usize,
    },

    /// One layer of a [`crate::graph::Network`] does not fit the shape it receives.
    #[error("layer {index} ({kind}): {what}")]
    Layer {
        /// 0-based position of the layer in the network.
        index: usize,
        /// The layer kind, e.g. "conv2d".
        kind: &'static str,
        /// What is wrong, with the shapes involved.
        what: String,
    },

    /// A stored model is structurally invalid (wrong format tag, unsupported version, no layers).
    #[error("model: {what}")]
    Model {
        /// What is wrong.
        what: String,
    },

    /// A configuration value is outside its allowed range.
    #[error("invalid {key} = {value}: allowed {allowed}")]
    InvalidConfig {
        /// The configuration key, e.g. "learning_rate".
        key: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// The allowed range or set, in words.
        allowed: &'static str,
    },

    /// Several configuration problems at once (each is an [`NnError::InvalidConfig`]).
    #[error("{} configuration problems: {}", problems.len(), join(problems))]
    InvalidConfigs {
        /// Every problem found, in field order.
        problems: Vec<NnError>,
    },
}

fn join(errors: &[NnError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The crate's result alias.
pub type Result<T> = std::result::Result<T, NnError>;

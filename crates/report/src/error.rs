//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while writing a report artefact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file-system operation failed.
    #[error("I/O error on {}: {source}", .path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Drawing or encoding a plot failed.
    #[error("cannot render {}: {message}", .path.display())]
    Plot {
        /// The output file that was being produced.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The figure description cannot be drawn (size mismatch, zero size, bad range, ...).
    #[error("invalid figure: {what}")]
    InvalidFigure {
        /// What is wrong with the description.
        what: String,
    },
    /// Serialising rows to CSV failed.
    #[error("CSV error for {}: {source}", .path.display())]
    Csv {
        /// The CSV file that was being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: csv::Error,
    },
    /// A results folder cannot be read back (`xbar report`).
    #[error("{}: {message}", .path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The experiment a results folder records no longer validates.
    #[error(transparent)]
    Experiment(#[from] xbar_experiment::ExperimentError),
    /// Serialising a value to JSON failed.
    #[error("JSON error for {}: {source}", .path.display())]
    Json {
        /// The JSON file that was being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, ReportError>;

impl ReportError {
    /// Shorthand for an [`ReportError::InvalidFigure`] error.
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Self::InvalidFigure { what: what.into() }
    }
}

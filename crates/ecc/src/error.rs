//! The crate's error type.

/// Errors of the ecc crate: bad parameters or shapes. Decoding outcomes are never errors; they
/// are [`crate::abft::Decision`] values or counts in the experiment records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EccError {
    /// A parameter outside its valid range.
    #[error("invalid {name} = {value}: expected {allowed}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// The offending value, as text.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// Inconsistent matrix or vector shapes.
    #[error("shape mismatch: {what}")]
    Shape {
        /// What did not fit.
        what: String,
    },
    /// The stacked constraints of a group are (numerically) linearly dependent.
    #[error(
        "group {group}: constraints are linearly dependent (|R_ii| = {r_min:e} against max {r_max:e})"
    )]
    DependentConstraints {
        /// Group index.
        group: usize,
        /// Smallest `|R_ii|` of the thin QR factor.
        r_min: f64,
        /// Largest `|R_ii|`.
        r_max: f64,
    },
    /// An error of the crossbar crate (programming an array).
    #[error(transparent)]
    Crossbar(#[from] xbar_crossbar::CrossbarError),
    /// An error of the nn crate (training data, network shapes).
    #[error(transparent)]
    Nn(#[from] xbar_nn::NnError),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, EccError>;

/// Shorthand for an [`EccError::InvalidParameter`].
pub fn invalid(
    name: &'static str,
    value: impl std::fmt::Display,
    allowed: impl Into<String>,
) -> EccError {
    EccError::InvalidParameter {
        name,
        value: value.to_string(),
        allowed: allowed.into(),
    }
}

//! # xbar-device: one HfOx ReRAM cell
//!
//! The read regime of the Stanford RRAM compact model v1.0.0 (Jiang & Wong 2014):
//!
//! ```text
//! I(g, V) = I0 exp(-g/g0) sinh(V/V0)       static I-V, g = tunnelling gap
//! G(g)    = (I0/V0) exp(-g/g0)              small-signal conductance
//! g(G)    = g0 ln(I0 / (V0 G))              gap for a target conductance
//! I       = G(g) f(V),  f(V) = V0 sinh(V/V0)   (or f(V) = V with the linear option)
//! ```
//!
//! Stuck-on pins the gap at `gap_min` (1.797316 mS with the defaults), stuck-off at `gap_max`
//! (4.455101 uS). Optional static variability adds a Gaussian gap offset (a lognormal
//! conductance) and conductance quantisation. Below about 1 V the gap does not move, so
//! inference treats it as frozen (the switching dynamics are documented in `docs/model.md`).
//!
//! ```
//! use xbar_device::{DeviceCard, Stuck};
//! let card = DeviceCard::builtin("hfox-stanford")?;
//! let d = card.params;
//! let g_on = d.conductance(d.stuck_gap(Stuck::On));
//! assert!((g_on - 1.797316e-3).abs() < 1e-9);
//! // Reading at 0.1 V: sinh makes the chord conductance 2.7 % larger than G.
//! assert!((d.current(d.gap_min, 0.1) / (0.1 * g_on) - 1.0269).abs() < 1e-3);
//! # Ok::<(), xbar_device::DeviceError>(())
//! ```

mod card;
mod issues;
mod model;
mod variability;

pub use card::{BUILTIN_CARDS, DEFAULT_CARD_TOML, DeviceCard, LINEAR_CARD_TOML, RawCard, RawModel};
pub use issues::{Issue, Issues, fmt_f64, line_col};
pub use model::{DeviceParams, IvModel, SINH_SERIES_MAX, Stuck, sinh, sinh_series};
pub use variability::Variability;

use std::path::PathBuf;

/// Errors of the device crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The card is not valid TOML or has unknown or mistyped keys.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// File (or `builtin:<name>`).
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The card parsed but some values are out of range.
    #[error("{file}: invalid device card:\n{issues}")]
    Invalid {
        /// File (or `builtin:<name>`).
        file: String,
        /// Every problem found.
        issues: Issues,
    },
    /// The card file could not be read.
    #[error("cannot read device card {}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A built-in card name that does not exist.
    #[error(
        "unknown built-in device card `{name}` (built-in cards: {builtin}; or give a path to a .toml file)"
    )]
    UnknownCard {
        /// The requested name.
        name: String,
        /// The names that exist.
        builtin: String,
    },
}

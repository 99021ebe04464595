//! # xbar-ecc: error-detecting and -correcting codes on crossbar arrays (not implemented yet)
//!
//! This crate is reserved for the codes of `DESIGN.md` section 3.5: real-number weight codes,
//! the Tao-Hartmann-Han additions-only ABFT codes and AN codes. Nothing is implemented yet and
//! no part of xbar relies on it; the work is tracked as its own issue.

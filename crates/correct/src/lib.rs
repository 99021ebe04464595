//! # xbar-correct: repair of faulty arrays (not implemented yet)
//!
//! This crate is reserved for `DESIGN.md` section 3.6: L1/LP decoding of weight errors and the
//! MLP post-corrector of Sawal & Wong (2025). Nothing is implemented yet and no part of xbar
//! relies on it; the work is tracked as its own issues.

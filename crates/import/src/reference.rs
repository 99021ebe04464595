//! The independent reference for imported models: onnxruntime, run by the committed script
//! `scripts/models/ort_expected.py` under a Python named by `XBAR_PYTHON`. The tests of every
//! crate that compares with it use these two calls, so the environment contract (set
//! `XBAR_PYTHON`, or skip with a message; `XBAR_REQUIRE_PYTHON=1` makes a missing Python a
//! failure, as in CI) lives once.

use std::ffi::OsString;
use std::path::Path;

use crate::{NdArray, read_npz_array};

/// The Python for live reference runs (`XBAR_PYTHON`), or `None` after printing that `what`
/// is skipped.
///
/// # Panics
/// When `XBAR_REQUIRE_PYTHON=1` and `XBAR_PYTHON` is not set (a required reference must not
/// be skipped silently).
#[allow(clippy::print_stderr)]
pub fn python_or_skip(what: &str) -> Option<OsString> {
    let python = std::env::var_os("XBAR_PYTHON").filter(|p| !p.is_empty());
    let required = std::env::var("XBAR_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    if python.is_none() {
        assert!(
            !required,
            "XBAR_REQUIRE_PYTHON=1 but XBAR_PYTHON is not set ({what})"
        );
        eprintln!("skipped: {what} (set XBAR_PYTHON to a python with numpy, onnx and onnxruntime)");
    }
    python
}

/// onnxruntime's logits (`count x classes`) of `model` on MNIST test images
/// `offset..offset + count`, computed by `root/scripts/models/ort_expected.py` with `python`
/// into a file of `dir`.
///
/// # Errors
/// The script failing, or its output not being readable.
pub fn onnxruntime_logits(
    python: &OsString,
    root: &Path,
    model: &str,
    count: usize,
    offset: usize,
    dir: &Path,
) -> Result<NdArray, String> {
    let out = dir.join(format!("{model}.npz"));
    let status = std::process::Command::new(python)
        .arg(root.join("scripts/models/ort_expected.py"))
        .arg(root.join("models").join(model))
        .arg(&out)
        .args([
            "--count",
            &count.to_string(),
            "--offset",
            &offset.to_string(),
        ])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            return Err(format!(
                "running {python:?} scripts/models/ort_expected.py failed: {other:?}"
            ));
        }
    }
    read_npz_array(&out, "logits").map_err(|e| e.to_string())
}

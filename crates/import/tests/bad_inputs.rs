//! Bad inputs give clear errors that name the file and the reason (fixtures made by
//! `scripts/models/make_bad_fixtures.py`).

use std::path::{Path, PathBuf};

use xbar_import::{DataOptions, load_idx_dataset, load_npz_dataset, load_onnx};

fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bad")
        .join(name)
}

/// The error message of importing fixture `name`, which must name the file.
fn onnx_error(name: &str) -> String {
    let e = load_onnx(&bad(name)).unwrap_err().to_string();
    assert!(e.contains(name), "{e}");
    e
}

fn has(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "missing {p:?} in: {e}");
    }
}

#[test]
fn truncated_onnx() {
    has(&onnx_error("truncated.onnx"), &["truncated", "protobuf"]);
}

#[test]
fn not_onnx() {
    let e = onnx_error("not-onnx.onnx");
    assert!(
        e.contains("not ONNX") || e.contains("no graph") || e.contains("not a readable"),
        "{e}"
    );
}

#[test]
fn unsupported_operator_names_the_node() {
    has(
        &onnx_error("tanh.onnx"),
        &["#1 \"act\" (Tanh)", "not supported", "Gemm"],
    );
}

#[test]
fn grouped_convolution() {
    has(
        &onnx_error("conv-group2.onnx"),
        &["\"grouped\" (Conv)", "group = 2", "supported: 1"],
    );
}

#[test]
fn branching_graph() {
    has(
        &onnx_error("branch.onnx"),
        &["\"skip\" (Gemm)", "linear chain"],
    );
}

#[test]
fn rows_mismatch() {
    let e = load_npz_dataset(&bad("rows-mismatch.npz"), &DataOptions::default())
        .unwrap_err()
        .to_string();
    has(
        &e,
        &[
            "rows-mismatch.npz",
            "y_test",
            "9 labels",
            "x_test has 10 rows",
        ],
    );
}

#[test]
fn label_out_of_range() {
    let opts = DataOptions {
        n_classes: Some(10),
        ..DataOptions::default()
    };
    let e = load_npz_dataset(&bad("label-range.npz"), &opts)
        .unwrap_err()
        .to_string();
    has(
        &e,
        &["label-range.npz", "y_test", "label 12 at row 7", "0..10"],
    );
    // Without n_classes the largest label sets it.
    let d = load_npz_dataset(&bad("label-range.npz"), &DataOptions::default()).unwrap();
    assert_eq!(d.test.n_classes, 13);
}

#[test]
fn huge_claimed_dimensions_are_refused_before_allocating() {
    let e = load_npz_dataset(&bad("huge-dim.npz"), &DataOptions::default())
        .unwrap_err()
        .to_string();
    has(&e, &["huge-dim.npz", "x_test", "1000000000", "holds 16"]);
    let e = load_idx_dataset(
        &bad("huge-dim.idx"),
        &bad("huge-dim.idx"),
        &DataOptions::default(),
    )
    .unwrap_err()
    .to_string();
    has(&e, &["huge-dim.idx", "2147483648", "truncated"]);
}

#[test]
fn missing_file_and_directory() {
    let e = load_onnx(&bad("absent.onnx")).unwrap_err().to_string();
    has(&e, &["absent.onnx"]);
    let e = load_npz_dataset(&bad(""), &DataOptions::default())
        .unwrap_err()
        .to_string();
    has(&e, &["directory", "not a regular file"]);
}

#[cfg(unix)]
#[test]
fn fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.onnx");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let e = load_onnx(&fifo).unwrap_err().to_string();
    has(&e, &["pipe.onnx", "FIFO", "not a regular file"]);
    let e = load_npz_dataset(&fifo, &DataOptions::default())
        .unwrap_err()
        .to_string();
    has(&e, &["FIFO"]);
}

//! The imported MNIST models' reference forward (f64) against onnxruntime (f32).
//!
//! Committed fixtures (`tests/data/*-expected.npz`, made by `scripts/models/ort_expected.py`
//! on the first 256 test images) make this run without Python. The live test runs onnxruntime
//! on 2,000 more images when `XBAR_PYTHON` names a Python with numpy, onnx and onnxruntime; it
//! says "skipped" without it, and fails without it when `XBAR_REQUIRE_PYTHON=1`.

use std::path::{Path, PathBuf};

use faer::Mat;
use xbar_import::{NdArray, load_idx_dataset, load_onnx, read_npz_array};
use xbar_nn::{Dataset, argmax_rows};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mnist_test() -> Dataset {
    let d = root().join("data/mnist");
    load_idx_dataset(
        &d.join("t10k-images-idx3-ubyte.gz"),
        &d.join("t10k-labels-idx1-ubyte.gz"),
        &Default::default(),
    )
    .unwrap()
}

/// Compares our logits for test images `offset..offset+count` with onnxruntime's.
///
/// Tolerance: `|ours - ort| <= 1e-5 * max(1, max_j |ort_j|)` per sample (relative 1e-5 of the
/// sample's logit scale: an f32 model against an f64 forward), and identical argmax.
fn compare(model: &str, data: &Dataset, expected: &NdArray, offset: usize) {
    let net = load_onnx(&root().join("models").join(model))
        .unwrap()
        .network;
    let count = expected.shape[0];
    let classes = expected.shape[1];
    let x = data.x.as_ref().subrows(offset, count);
    let ours = net.forward(x).unwrap();
    assert_eq!((ours.nrows(), ours.ncols()), (count, classes));
    let ort = Mat::from_fn(count, classes, |i, j| expected.data[i * classes + j]);
    let mut worst = 0.0f64;
    for i in 0..count {
        let scale = (0..classes).map(|j| ort[(i, j)].abs()).fold(1.0, f64::max);
        for j in 0..classes {
            let rel = (ours[(i, j)] - ort[(i, j)]).abs() / scale;
            worst = worst.max(rel);
            assert!(
                rel <= 1e-5,
                "{model} image {}: logit {j} {} vs onnxruntime {} (relative {rel:e})",
                offset + i,
                ours[(i, j)],
                ort[(i, j)]
            );
        }
    }
    assert_eq!(
        argmax_rows(ours.as_ref()),
        argmax_rows(ort.as_ref()),
        "{model}: argmax differs"
    );
    assert!(worst < 1e-5, "{model}: worst relative difference {worst:e}");
}

#[test]
fn mlp_matches_onnxruntime_fixture() {
    let e = read_npz_array(
        &root().join("crates/import/tests/data/mnist-mlp-expected.npz"),
        "logits",
    )
    .unwrap();
    compare("mnist-mlp.onnx", &mnist_test(), &e, 0);
}

#[test]
fn lenet_matches_onnxruntime_fixture() {
    let e = read_npz_array(
        &root().join("crates/import/tests/data/mnist-lenet-expected.npz"),
        "logits",
    )
    .unwrap();
    compare("mnist-lenet.onnx", &mnist_test(), &e, 0);
}

#[test]
fn models_reach_their_documented_accuracy() {
    let data = mnist_test();
    let sub = data.select(&(0..2000).collect::<Vec<u32>>());
    for (model, min) in [("mnist-mlp.onnx", 0.96), ("mnist-lenet.onnx", 0.97)] {
        let net = load_onnx(&root().join("models").join(model))
            .unwrap()
            .network;
        let acc = net.accuracy(&sub).unwrap();
        assert!(
            acc >= min,
            "{model}: accuracy {acc} on the first 2000 test images"
        );
    }
}

#[test]
fn live_onnxruntime_on_more_images() {
    let Some(python) =
        xbar_import::reference::python_or_skip("live onnxruntime comparison on 2,000 images")
    else {
        return;
    };
    let data = mnist_test();
    let dir = tempfile::tempdir().unwrap();
    for model in ["mnist-mlp.onnx", "mnist-lenet.onnx"] {
        let e = xbar_import::reference::onnxruntime_logits(
            &python,
            &root(),
            model,
            2000,
            256,
            dir.path(),
        )
        .unwrap();
        assert_eq!(e.shape[0], 2000);
        compare(model, &data, &e, 256);
    }
}

#[test]
fn operator_forms_match_onnxruntime() {
    // tests/data/ops.onnx: VALID conv + bias Add, padded average pool (count_include_pad),
    // asymmetric max pool, global pool, Identity, Constant-shaped Reshape, Gemm alpha/beta.
    let dir = root().join("crates/import/tests/data");
    let model = load_onnx(&dir.join("ops.onnx")).unwrap();
    let kinds: Vec<_> = model.network.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(
        kinds,
        [
            "conv2d",
            "relu",
            "avg-pool",
            "max-pool",
            "global-avg-pool",
            "flatten",
            "dense"
        ]
    );
    let x = read_npz_array(&dir.join("ops-expected.npz"), "x").unwrap();
    let e = read_npz_array(&dir.join("ops-expected.npz"), "logits").unwrap();
    let xm = Mat::from_fn(5, 243, |i, j| x.data[i * 243 + j]);
    let y = model.network.forward(xm.as_ref()).unwrap();
    for i in 0..5 {
        for j in 0..5 {
            let want = e.data[i * 5 + j];
            assert!(
                (y[(i, j)] - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{i},{j}: {} vs {want}",
                y[(i, j)]
            );
        }
    }
}

//! NPZ weights plus layer specs (the TOML form an experiment file can embed) against a NumPy
//! reference computed by `scripts/models/make_bad_fixtures.py` (tiny-weights.npz).

use std::path::{Path, PathBuf};

use faer::Mat;
use xbar_import::{NetworkSpec, load_npz_network, read_npz_array};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-weights.npz")
}

const SPEC: &str = r#"
input = { kind = "image", channels = 1, height = 6, width = 6 }
layers = [
  { kind = "conv2d", weight = "conv.w", bias = "conv.b", pads = [1, 1, 1, 1] },
  { kind = "batch-norm", scale = "bn.g", bias = "bn.b", mean = "bn.m", var = "bn.v" },
  { kind = "relu" },
  { kind = "max-pool", kernel = [2, 2] },
  { kind = "flatten" },
  { kind = "dense", weight = "fc1.w", bias = "fc1.b", transpose = true },
  { kind = "relu" },
  { kind = "dense", weight = "fc2.w" },
]
"#;

#[test]
fn tiny_network_matches_numpy() {
    let spec: NetworkSpec = toml::from_str(SPEC).unwrap();
    let net = load_npz_network(&spec, &fixture()).unwrap();
    assert_eq!(net.layers.len(), 7, "batch norm is folded");
    let x = read_npz_array(&fixture(), "x").unwrap();
    let want = read_npz_array(&fixture(), "expected").unwrap();
    let xm = Mat::from_fn(3, 36, |i, j| x.data[i * 36 + j]);
    let y = net.forward(xm.as_ref()).unwrap();
    for i in 0..3 {
        for j in 0..2 {
            let w = want.data[i * 2 + j];
            assert!(
                (y[(i, j)] - w).abs() < 1e-12 * w.abs().max(1.0),
                "{i},{j}: {} vs {w}",
                y[(i, j)]
            );
        }
    }
}

#[test]
fn spec_errors_name_the_spec_and_array() {
    let spec: NetworkSpec = toml::from_str(&SPEC.replace("\"fc1.b\"", "\"fc1.bias\"")).unwrap();
    let e = load_npz_network(&spec, &fixture()).unwrap_err().to_string();
    assert!(
        e.contains("tiny-weights.npz") && e.contains("fc1.bias") && e.contains("fc1.b,"),
        "{e}"
    );

    // Batch norm after a ReLU cannot be folded.
    let moved = SPEC.replace(
        "  { kind = \"relu\" },\n  { kind = \"max-pool\"",
        "  { kind = \"relu\" },\n  { kind = \"batch-norm\", scale = \"bn.g\", bias = \"bn.b\", mean = \"bn.m\", var = \"bn.v\" },\n  { kind = \"max-pool\"",
    );
    let spec: NetworkSpec = toml::from_str(&moved).unwrap();
    let e = load_npz_network(&spec, &fixture()).unwrap_err().to_string();
    assert!(
        e.contains("layer spec 3 (batch-norm)") && e.contains("follows relu"),
        "{e}"
    );

    // Without transpose the PyTorch-layout weight no longer fits: a shape error naming the layer.
    let spec: NetworkSpec =
        toml::from_str(&SPEC.replace("transpose = true", "transpose = false")).unwrap();
    let e = load_npz_network(&spec, &fixture()).unwrap_err().to_string();
    assert!(e.contains("dense") && e.contains("18"), "{e}");

    // Unknown keys are refused by the spec itself.
    assert!(
        toml::from_str::<NetworkSpec>(&SPEC.replace("pads = [1, 1, 1, 1]", "padding = 1")).is_err()
    );
}

//! `xbar run` on an imported ONNX network and the user's data, tiled on a chip with die-level
//! defects: outputs, provenance (SHA-256 of the model and data, floorplan) and the content
//! fingerprint (a moved copy of the same model resumes; different weights under the same name
//! never look the same).

use std::path::Path;
use std::process::Command;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn experiment(model: &Path) -> String {
    let mnist = root().join("data/mnist");
    format!(
        r#"
name = "own"
[network]
onnx = "{}"
[dataset]
idx = ["{}", "{}"]
test-limit = 200
calibration-size = 200
[chip]
array = [128, 128]
[[sweep]]
shape = "circle"
sizes = [0.5]
layers = [0, 1, 2]
placement = "die"
states = ["on"]
"#,
        model.display(),
        mnist.join("t10k-images-idx3-ubyte.gz").display(),
        mnist.join("t10k-labels-idx1-ubyte.gz").display(),
    )
}

fn run(dir: &Path, model: &Path, out: &str) -> serde_json::Value {
    let exp = dir.join(format!("{out}.toml"));
    std::fs::write(&exp, experiment(model)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xbar"))
        .current_dir(dir)
        .args(["run", exp.to_str().unwrap(), "--out", out, "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.join(out).join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        dir.join(out)
            .join("plots/accuracy-vs-coverage.png")
            .is_file()
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("manifest.json")).unwrap())
        .unwrap()
}

#[test]
fn an_imported_mlp_runs_on_tiles_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::create_dir(&a).unwrap();
    let model = a.join("model.onnx");
    std::fs::copy(root().join("models/mnist-mlp.onnx"), &model).unwrap();
    let m1 = run(dir.path(), &model, "first");
    let imported = &m1["experiment"]["network"]["imported"];
    let sha = imported["onnx"]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        imported["arrays"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["rows"].as_u64().unwrap(), a["cols"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [(785, 256), (257, 128), (129, 10)]
    );
    let files = imported["data"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|f| f["sha256"].as_str().unwrap().len() == 64)
    );
    assert_eq!(imported["data"]["test_samples"], 200);
    // The floorplan: 785 x 256 pairs on 128 x 64-pair tiles = 7 x 4 tiles for layer 0.
    let tiles = m1["floorplan"]["tiles"].as_array().unwrap();
    assert_eq!(
        tiles.iter().filter(|t| t["layer"] == 0).count(),
        7 * 4,
        "{}",
        m1["floorplan"]
    );

    // The same bytes elsewhere: the same fingerprint and the same results.
    let b = dir.path().join("b");
    std::fs::create_dir(&b).unwrap();
    let moved = b.join("renamed.onnx");
    std::fs::copy(&model, &moved).unwrap();
    let m2 = run(dir.path(), &moved, "second");
    assert_eq!(m1["fingerprint"], m2["fingerprint"]);
    let csv = |o: &str| std::fs::read_to_string(dir.path().join(o).join("results.csv")).unwrap();
    assert_eq!(csv("first"), csv("second"));

    // Other weights under the first name: another hash and fingerprint.
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    // The middle of the file lies in the first layer's weights (784 x 256 float32, ~80 % of
    // the bytes): flipping a bit there changes one weight, not the protobuf structure.
    bytes[n / 2] ^= 0x01;
    std::fs::write(&model, &bytes).unwrap();
    let m3 = run(dir.path(), &model, "third");
    assert_ne!(
        m3["experiment"]["network"]["imported"]["onnx"]["sha256"],
        sha
    );
    assert_ne!(m1["fingerprint"], m3["fingerprint"]);
}

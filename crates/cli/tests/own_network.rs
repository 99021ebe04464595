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
export = ["conductances", "masks", "predictions", "split"]
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
    let sha = imported["model"]["sha256"].as_str().unwrap();
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
        m3["experiment"]["network"]["imported"]["model"]["sha256"],
        sha
    );
    assert_ne!(m1["fingerprint"], m3["fingerprint"]);
}

/// The exports of the first run: shapes, the masks against the counted defects, the
/// predictions against the accuracies, and (with `XBAR_PYTHON`) NumPy reading them.
#[test]
fn exports_are_numpy_files_that_match_the_results() {
    use xbar_import::read_npz_array;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::copy(root().join("models/mnist-mlp.onnx"), &model).unwrap();
    run(dir.path(), &model, "x");
    let ex = dir.path().join("x/exports");
    let g = read_npz_array(&ex.join("conductances.npz"), "L0_g_plus").unwrap();
    assert_eq!(g.shape, [785, 256]);
    let t = read_npz_array(&ex.join("conductances.npz"), "L0_r0c1_g_minus").unwrap();
    assert_eq!(t.shape, [128, 64]);
    let split = read_npz_array(&ex.join("split.npz"), "test").unwrap();
    assert_eq!(split.data, (0..200).map(f64::from).collect::<Vec<_>>());
    let labels = read_npz_array(&ex.join("split.npz"), "labels").unwrap();
    let mut rdr = csv::Reader::from_path(dir.path().join("x/results.csv")).unwrap();
    let head = rdr.headers().unwrap().clone();
    let col =
        |r: &csv::StringRecord, k: &str| r[head.iter().position(|h| h == k).unwrap()].to_string();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let (s, layers) = (col(&rec, "scenario"), col(&rec, "layers"));
        let l = layers.trim_matches(|c| c == '[' || c == ']');
        let plus = read_npz_array(&ex.join("masks.npz"), &format!("s{s}_L{l}_plus")).unwrap();
        let minus = read_npz_array(&ex.join("masks.npz"), &format!("s{s}_L{l}_minus")).unwrap();
        let stuck = plus
            .data
            .iter()
            .zip(&minus.data)
            .filter(|(p, m)| **p != 0.0 || **m != 0.0)
            .count();
        assert_eq!(
            stuck.to_string(),
            col(&rec, "defective_pairs"),
            "scenario {s}"
        );
        let pred = read_npz_array(&ex.join("predictions.npz"), &format!("s{s}_pred")).unwrap();
        let hits = pred
            .data
            .iter()
            .zip(&labels.data)
            .filter(|(p, y)| p == y)
            .count();
        let acc: f64 = col(&rec, "accuracy").parse().unwrap();
        assert_eq!(hits as f64 / 200.0, acc, "scenario {s}");
    }
    let Some(python) = xbar_import::reference::python_or_skip("numpy reading the exports") else {
        return;
    };
    let script = "import numpy as np, sys\n\
        c = np.load(sys.argv[1] + '/conductances.npz')\n\
        m = np.load(sys.argv[1] + '/masks.npz')\n\
        p = np.load(sys.argv[1] + '/predictions.npz')\n\
        print(c['L0_g_plus'].shape, c['L0_g_plus'].dtype, m['s0_L0_plus'].dtype, \
        int((m['s0_L0_plus'] != 0).sum()), p['s0_volts'].shape, float(c['L0_g_plus'][3, 5]))\n";
    let o = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&ex)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plus = read_npz_array(&ex.join("masks.npz"), "s0_L0_plus").unwrap();
    let n_plus = plus.data.iter().filter(|v| **v != 0.0).count();
    let want = format!(
        "(785, 256) float64 int8 {n_plus} (200, 10) {:?}\n",
        g.data[3 * 256 + 5]
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
}

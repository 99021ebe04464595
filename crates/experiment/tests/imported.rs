//! Imported ONNX networks (the MNIST MLP and the LeNet conv net) through the experiment
//! pipeline: with linear reads, unity comparator gains, no rails and ideal wires, the healthy
//! circuit's output voltages are `v_in_max` times onnxruntime's logits, and its predictions
//! are onnxruntime's, on every test image.
//!
//! The committed fixtures (`crates/import/tests/data/*-expected.npz`, the first 256 test
//! images) run without Python; the live test runs onnxruntime on all 10,000 MNIST test images
//! when `XBAR_PYTHON` is set (skipped with a message otherwise, required in CI with
//! `XBAR_REQUIRE_PYTHON=1`).

use std::path::{Path, PathBuf};

use faer::Mat;
use xbar_experiment::{Driver, Experiment, NoProgress, SweepStudy, expand, prepare};
use xbar_import::{NdArray, read_npz_array};
use xbar_nn::argmax_rows;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An experiment on `model` with the linear card and unity gains; `extra` adds TOML.
fn linear(model: &str, extra: &str) -> Experiment {
    let text = format!(
        r#"
name = "imported"
[device]
card = "hfox-linear"
[circuit]
r-load = "unity"
[network]
onnx = "models/{model}"
[dataset]
idx = ["data/mnist/t10k-images-idx3-ubyte.gz", "data/mnist/t10k-labels-idx1-ubyte.gz"]
{extra}
[[sweep]]
shape = "circle"
sizes = [0.3]
layers = [0]
"#
    );
    Experiment::from_toml_str(&text, "imported.toml", Some(&root())).unwrap()
}

/// The healthy circuit's volts / v_in_max against onnxruntime's logits `expected` for test
/// images `0..count`: `|ours - ort| <= 1e-5 max(1, max_j |ort_j|)` per image (f64 circuit vs
/// f32 model) and the same argmax on every image.
fn compare(exp: &Experiment, expected: &NdArray) {
    let prep = prepare(exp, None, &NoProgress).unwrap();
    let (count, classes) = (expected.shape[0], expected.shape[1]);
    assert_eq!(prep.data.len(), count);
    let volts = prep.net.forward(prep.v_in.as_ref());
    let ort = Mat::from_fn(count, classes, |i, j| expected.data[i * classes + j]);
    let v = exp.circuit.v_in_max;
    for i in 0..count {
        let scale = (0..classes).map(|j| ort[(i, j)].abs()).fold(1.0, f64::max);
        for j in 0..classes {
            let ours = volts[(i, j)] / v;
            let rel = (ours - ort[(i, j)]).abs() / scale;
            assert!(
                rel <= 1e-5,
                "image {i}: output {j} {ours} vs onnxruntime {} (relative {rel:e})",
                ort[(i, j)]
            );
        }
    }
    assert_eq!(prep.healthy_pred, argmax_rows(ort.as_ref()));
    // The software reference and the circuit agree on every image.
    assert_eq!(prep.baseline.analog_vs_software_disagreements, 0);
    assert_eq!(prep.baseline.analog_all, prep.baseline.software_all);
}

#[test]
fn linear_circuit_of_the_imported_lenet_gives_onnxruntime_logits() {
    let e = read_npz_array(
        &root().join("crates/import/tests/data/mnist-lenet-expected.npz"),
        "logits",
    )
    .unwrap();
    let exp = linear("mnist-lenet.onnx", "test-limit = 256\n");
    compare(&exp, &e);
}

#[test]
fn linear_circuit_of_the_imported_mlp_gives_onnxruntime_logits() {
    let e = read_npz_array(
        &root().join("crates/import/tests/data/mnist-mlp-expected.npz"),
        "logits",
    )
    .unwrap();
    let exp = linear("mnist-mlp.onnx", "test-limit = 256\n");
    compare(&exp, &e);
}

#[test]
fn live_onnxruntime_on_every_test_image() {
    let Some(python) = xbar_import::reference::python_or_skip(
        "imported networks vs onnxruntime on all 10,000 test images",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for model in ["mnist-mlp.onnx", "mnist-lenet.onnx"] {
        let e = xbar_import::reference::onnxruntime_logits(
            &python,
            &root(),
            model,
            10_000,
            0,
            dir.path(),
        )
        .unwrap();
        assert_eq!(e.shape[0], 10_000);
        compare(&linear(model, ""), &e);
    }
}

/// Tiles and die-level defects on the imported conv net: a circle drawn across the whole die
/// hits the tiles it covers (and only those layers' arrays), and a run is deterministic.
#[test]
fn die_level_defects_on_the_tiled_lenet() {
    let text = r#"
name = "lenet-die"
[network]
onnx = "models/mnist-lenet.onnx"
[dataset]
idx = ["data/mnist/t10k-images-idx3-ubyte.gz", "data/mnist/t10k-labels-idx1-ubyte.gz"]
test-limit = 300
calibration-size = 300
[chip]
array = [128, 128]
[[sweep]]
shape = "circle"
sizes = [0.6]
layers = [0, 1, 2, 3, 4]
placement = "die"
states = ["on"]
"#;
    let exp = Experiment::from_toml_str(text, "die.toml", Some(&root())).unwrap();
    let m = exp.network.imported.as_ref().unwrap();
    assert_eq!(m.data.input_max, 1.0);
    assert_eq!(m.data.calibration_from, "test");
    let prep = prepare(&exp, None, &NoProgress).unwrap();
    assert!(prep.floorplan.is_some());
    // The healthy sinh circuit stays close to the software network.
    assert!(prep.baseline.analog_test > 0.95, "{:?}", prep.baseline);
    let grid = expand(&exp);
    let run = || {
        Driver::in_memory(&NoProgress)
            .run(&SweepStudy::new(&prep, &grid))
            .unwrap()
    };
    let records = run();
    assert_eq!(records.len(), 5);
    // Some layer's tiles lie under the circle and lose accuracy; every record counts pairs.
    assert!(records.iter().all(|r| r.array_pairs > 0));
    assert!(records.iter().any(|r| r.defective_pairs > 0));
    // The tiles holding defects are listed exactly when there are defects, on the die grid
    // of the floorplan, for the injected layer.
    let fp = prep.floorplan.as_ref().unwrap();
    for r in &records {
        assert_eq!(r.defect_tiles.is_empty(), r.defective_pairs == 0, "{r:?}");
        for t in r.defect_tiles.split_whitespace() {
            let l = r.layers[0];
            let rc = t.strip_prefix(&format!("L{l}:r")).unwrap();
            let (gr, gc) = rc.split_once('c').unwrap();
            let (gr, gc): (usize, usize) = (gr.parse().unwrap(), gc.parse().unwrap());
            assert!(
                fp.layer_tiles(l as usize)
                    .any(|t| (t.grid_row, t.grid_col) == (gr, gc)),
                "{t} is not a tile of layer {l}"
            );
        }
    }
    assert!(
        records
            .iter()
            .any(|r| r.accuracy < prep.baseline.analog_all - 0.05),
        "{records:?}"
    );
    let again = run();
    for (a, b) in records.iter().zip(&again) {
        assert_eq!(a.accuracy.to_bits(), b.accuracy.to_bits());
        assert_eq!(a.defective_pairs, b.defective_pairs);
    }
}

/// `[network] npz` with a layer list: the MNIST MLP's weights saved PyTorch-style (`[out, in]`,
/// `transpose = true`) build the same network as its ONNX file, so the programmed circuit
/// gives the same bits on every test image; the manifest says `npz` and records the layers.
/// Missing or misnamed pieces are errors naming the key.
#[test]
fn npz_weights_with_a_layer_list_build_the_onnx_network() {
    use xbar_import::{NpyArray, NpyData, npz_bytes};
    use xbar_nn::graph::{Layer, Shape};
    let onnx = xbar_import::load_onnx(&root().join("models/mnist-mlp.onnx")).unwrap();
    let mut arrays = Vec::new();
    let mut layers = Vec::new();
    for (k, layer) in onnx.network.layers.iter().enumerate() {
        match layer {
            Layer::Dense(d) => {
                let (i, o) = (d.w.nrows(), d.w.ncols());
                arrays.push(NpyArray {
                    name: format!("fc{k}.weight"),
                    shape: vec![o, i],
                    data: NpyData::F64((0..o * i).map(|x| d.w[(x % i, x / i)]).collect()),
                });
                arrays.push(NpyArray {
                    name: format!("fc{k}.bias"),
                    shape: vec![o],
                    data: NpyData::F64(d.b.clone()),
                });
                layers.push(format!(
                    "{{ kind = \"dense\", weight = \"fc{k}.weight\", bias = \"fc{k}.bias\", transpose = true }}"
                ));
            }
            Layer::Relu => layers.push("{ kind = \"relu\" }".into()),
            Layer::Flatten => layers.push("{ kind = \"flatten\" }".into()),
            other => panic!("the MLP has a {}", other.kind()),
        }
    }
    let input = match onnx.network.input {
        Shape::Flat { features } => format!("[{features}]"),
        Shape::Image {
            channels,
            height,
            width,
        } => format!("[{channels}, {height}, {width}]"),
    };
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("mlp-weights.npz");
    std::fs::write(&npz, npz_bytes(&arrays).unwrap()).unwrap();
    let text = |network: &str| {
        format!(
            "name = \"npz\"\n[device]\ncard = \"hfox-linear\"\n[circuit]\nr-load = \"unity\"\n\
             [network]\n{network}\n[dataset]\nidx = [\"data/mnist/t10k-images-idx3-ubyte.gz\", \
             \"data/mnist/t10k-labels-idx1-ubyte.gz\"]\ntest-limit = 500\n\
             [[sweep]]\nshape = \"circle\"\nsizes = [0.3]\nlayers = [0]\n"
        )
    };
    let from_npz = format!(
        "npz = {:?}\ninput = {input}\nlayers = [\n  {}\n]",
        npz.display().to_string(),
        layers.join(",\n  ")
    );
    let a = Experiment::from_toml_str(&text(&from_npz), "npz.toml", Some(&root())).unwrap();
    let b = Experiment::from_toml_str(
        &text("onnx = \"models/mnist-mlp.onnx\""),
        "onnx.toml",
        Some(&root()),
    )
    .unwrap();
    let m = a.network.imported.as_ref().unwrap();
    assert_eq!(m.format, "npz");
    assert_eq!(m.layers.as_ref().unwrap().layers.len(), layers.len());
    let (pa, pb) = (
        prepare(&a, None, &NoProgress).unwrap(),
        prepare(&b, None, &NoProgress).unwrap(),
    );
    assert_eq!(pa.v_in, pb.v_in);
    assert_eq!(
        pa.net.forward(pa.v_in.as_ref()),
        pb.net.forward(pb.v_in.as_ref())
    );

    let invalid = |network: &str| match Experiment::from_toml_str(
        &text(network),
        "bad.toml",
        Some(&root()),
    ) {
        Ok(_) => panic!("accepted: {network}"),
        Err(e) => e.to_string(),
    };
    let npz_line = format!("npz = {:?}", npz.display().to_string());
    let e = invalid(&npz_line);
    assert!(
        e.contains("network.input") && e.contains("network.layers") && e.contains("(missing)"),
        "{e}"
    );
    let e = invalid(&from_npz.replace("fc1.weight\"", "fc9.weight\""));
    assert!(e.contains("network.npz") && e.contains("fc9.weight"), "{e}");
    let e = invalid(&format!("{from_npz}\nonnx = \"models/mnist-mlp.onnx\""));
    assert!(e.contains("not both"), "{e}");
    let e = invalid("onnx = \"models/mnist-mlp.onnx\"\ninput = [784]");
    assert!(
        e.contains("network.input") && e.contains("without network.npz"),
        "{e}"
    );
}

//! With the linear I-V law and no rails, the analog network is the software network up to a
//! positive gain per layer, so every prediction must agree, on every image.

use xbar_experiment::{Experiment, NoProgress, prepare};
use xbar_nn::argmax_rows;

#[test]
fn linear_analog_network_predicts_exactly_like_software_on_all_1797_images() {
    let text = r#"
        name = "ideal"
        [device]
        card = "hfox-linear"
        [[sweep]]
        shape = "circle"
        sizes = [0.1]
        layers = [0]
    "#;
    let exp = Experiment::from_toml_str(text, "ideal.toml", None).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let prep = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    assert_eq!(prep.data.len(), 1797);
    let soft = prep.mlp().predict(prep.data.x.as_ref());
    let analog = argmax_rows(prep.net.forward(prep.v_in.as_ref()).as_ref());
    let differ: Vec<usize> = (0..soft.len()).filter(|&i| soft[i] != analog[i]).collect();
    assert!(
        differ.is_empty(),
        "images where analog != software: {differ:?}"
    );
    assert_eq!(prep.baseline.analog_vs_software_disagreements, 0);
    // The paper's software accuracy is 96.67 % on 180 test images; ours must be >= 96 %.
    assert!(
        prep.baseline.software_test >= 0.96,
        "{}",
        prep.baseline.software_test
    );
    // The output layer is the software logits times a positive gain.
    let logits = prep.mlp().forward(prep.data.x.as_ref());
    let v = prep.net.forward(prep.v_in.as_ref());
    let gain = v[(0, 0)] / logits[(0, 0)];
    assert!(gain > 0.0);
    for i in (0..1797).step_by(97) {
        for j in 0..10 {
            assert!(
                (v[(i, j)] - gain * logits[(i, j)]).abs()
                    < 1e-9 * gain.max(1.0) * (1.0 + logits[(i, j)].abs())
            );
        }
    }
}

#[test]
fn sinh_network_stays_close_to_software() {
    let text = "name = \"sinh\"\n[[sweep]]\nshape = \"checkerboard\"\nlayers = [3]\n";
    let exp = Experiment::from_toml_str(text, "sinh.toml", None).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let prep = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    // At 0.1 V the sinh pre-distortion is ~3 %: a handful of close calls may flip, no more.
    assert!(
        prep.baseline.analog_vs_software_disagreements <= 20,
        "{:?}",
        prep.baseline
    );
    assert!(prep.baseline.analog_test >= 0.93);
}

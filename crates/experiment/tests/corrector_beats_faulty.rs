//! A trained MLP(10, 10) corrector must beat the faulty circuit on held-out images for a
//! severe circle defect in the output layer (Sawal & Wong 2025, section V).

use xbar_experiment::{
    Experiment, NoProgress, circuit_samples, expand, prepare, run_correction,
    run_scenarios_with_outputs,
};

#[test]
fn corrector_beats_a_severe_output_layer_circle_on_unseen_images() {
    let text = r#"
        name = "corrector-test"
        [[sweep]]
        shape = "circle"
        sizes = [0.2, 0.3, 0.4]
        layers = [3]
        [correction]
        architectures = [[10, 10]]
        protocols = ["by-image"]
        cross = false
        epochs = 60
    "#;
    let exp = Experiment::from_toml_str(text, "corrector-test.toml", None).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let prep = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    let outputs = run_scenarios_with_outputs(&prep, &expand(&exp), &NoProgress).unwrap();
    let samples = circuit_samples(&prep, outputs).unwrap();
    assert_eq!(samples.len(), 3 * 1797);
    let spec = exp.correction.as_ref().unwrap();
    let records = run_correction(&prep, spec, &samples, &NoProgress).unwrap();
    assert_eq!(records.len(), 3);
    let severe = records.iter().find(|r| r.size == Some(0.4)).unwrap();
    // Only the 180 test images, which neither the software network nor the corrector saw.
    assert_eq!(severe.n_test, 180);
    assert!(severe.faulty_accuracy < 0.7, "{severe:?}");
    assert!(
        severe.corrected_accuracy > severe.faulty_accuracy + 0.15,
        "{severe:?}"
    );
    // Deterministic: the same records again.
    assert_eq!(
        run_correction(&prep, spec, &samples, &NoProgress).unwrap(),
        records
    );
}

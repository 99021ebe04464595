//! A trained MLP(10, 10) corrector must beat the faulty circuit on held-out images for a
//! severe circle defect in the output layer (Sawal & Wong 2025, section V).

use xbar_experiment::{
    CorrectionStudy, Driver, Experiment, NoProgress, SweepStudy, expand, prepare,
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
    let grid = expand(&exp);
    let outputs = SweepStudy::new(&prep, &grid).outputs(&NoProgress).unwrap();
    let spec = exp.correction().unwrap();
    let study = CorrectionStudy::new(&prep, spec, outputs).unwrap();
    assert_eq!(study.samples().len(), 3 * 1797);
    let run = || -> Vec<_> {
        Driver::in_memory(&NoProgress)
            .run(&study)
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    };
    let records = run();
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
    assert_eq!(run(), records);
}

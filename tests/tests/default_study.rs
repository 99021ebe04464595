//! The default study end to end through the library crates.

use xbar_experiment::{Experiment, NoProgress, expand, prepare, run_scenarios};

#[test]
fn default_study_has_the_papers_grid_and_on_equals_off_at_pair_level() {
    let exp = Experiment::default_experiment().unwrap();
    let grid = expand(&exp);
    assert_eq!(grid.len(), 84);
    assert_eq!(grid.len() * 1797, 150_948);
    let cache = tempfile::tempdir().unwrap();
    let prep = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    let off = run_scenarios(&prep, &grid, &NoProgress).unwrap();

    // Same grid, stuck-on: in the ideal circuit a pair-level fault zeroes the weight either way.
    let text = xbar_experiment::DEFAULT_EXPERIMENT_TOML
        .replace("shape = \"", "states = [\"on\"]\nshape = \"");
    let on_exp = Experiment::from_toml_str(&text, "on.toml", None).unwrap();
    let on_grid = expand(&on_exp);
    let on = run_scenarios(&prep, &on_grid, &NoProgress).unwrap();
    assert_eq!(on.len(), 84);
    for (a, b) in off.iter().zip(&on) {
        assert_eq!(
            (a.shape.as_str(), a.size, &a.layers),
            (b.shape.as_str(), b.size, &b.layers)
        );
        assert_eq!(b.state, "on");
        assert_eq!(
            a.accuracy, b.accuracy,
            "{} {:?} layers {:?}",
            a.shape, a.size, a.layers
        );
        assert_eq!(a.defective_pairs, b.defective_pairs);
    }

    // Coverage is the counted fraction, and the array sizes are the paper's.
    let pairs = [3250, 1020, 168, 90];
    for r in &off {
        assert_eq!(r.layers.len(), 1);
        assert_eq!(r.array_pairs, pairs[r.layers[0] as usize]);
        assert_eq!(
            r.coverage,
            f64::from(r.defective_pairs) / f64::from(r.array_pairs)
        );
        assert!(r.accuracy <= 1.0 && r.accuracy >= 0.0);
    }
    // Larger circles never help in layer 0 of this network (a sanity check on the geometry).
    let circle0: Vec<f64> = off
        .iter()
        .filter(|r| r.shape == "circle" && r.layers == [0])
        .map(|r| r.accuracy)
        .collect();
    assert_eq!(circle0.len(), 4);
    assert!(
        circle0.windows(2).all(|w| w[1] <= w[0] + 1e-12),
        "{circle0:?}"
    );
    assert!(
        circle0[3] < 0.6,
        "a 0.4-radius circle in layer 0 should hurt: {circle0:?}"
    );
}

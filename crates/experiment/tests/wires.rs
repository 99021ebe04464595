//! The wire-resistance sweep dimension: ideal settings reproduce the ideal path bit for bit,
//! resistive wires cost accuracy, and they make pair-level stuck-on and stuck-off differ.

use xbar_experiment::{Experiment, ExperimentError, NoProgress, expand, prepare, run_scenarios};

fn experiment(wires: &str) -> Experiment {
    let text = format!(
        r#"
        name = "wires"
        [device]
        card = "hfox-stanford"
        iv = "linear"
        {wires}
        [[sweep]]
        shape = "circle"
        sizes = [0.3]
        layers = [2, 3]
        states = ["off", "on"]
        "#
    );
    Experiment::from_toml_str(&text, "wires.toml", None).unwrap()
}

#[test]
fn zero_ohm_setting_matches_the_ideal_path_and_wires_separate_on_from_off() {
    let cache = tempfile::tempdir().unwrap();
    let plain = experiment("");
    let swept = experiment("[wires]\nsegment-ohms = [0.0, 2.0]");
    assert_eq!(swept.scenario_count(), 2 * plain.scenario_count());
    let grid_plain = expand(&plain);
    let grid = expand(&swept);
    // Every wire setting sees the same defect draws.
    for (a, b) in grid[..4].iter().zip(&grid[4..]) {
        assert_eq!(a.stream, b.stream);
        assert_eq!((a.wire, b.wire), (0, 1));
    }

    let p0 = prepare(&plain, Some(cache.path()), &NoProgress).unwrap();
    let r0 = run_scenarios(&p0, &grid_plain, &NoProgress).unwrap();
    let p = prepare(&swept, Some(cache.path()), &NoProgress).unwrap();
    assert!(p.wired[0].is_none() && p.wired[1].is_some());
    assert_eq!(p.baseline.wires.len(), 2);
    assert_eq!(p.baseline.wires[0].analog_all, p.baseline.analog_all);
    assert_eq!(p.baseline.wires[0].flipped_vs_ideal, 0);
    // 2 ohm per segment costs the healthy circuit accuracy (about 12 points on digits).
    assert!(
        p.baseline.wires[1].analog_all < p.baseline.analog_all - 0.02,
        "{:?}",
        p.baseline.wires
    );
    let r = run_scenarios(&p, &grid, &NoProgress).unwrap();
    for (a, b) in r0.iter().zip(&r[..4]) {
        assert_eq!(a.accuracy, b.accuracy);
        assert_eq!(a.flipped, b.flipped);
        assert_eq!(b.wire_ohms, 0.0);
    }
    // Order within a setting: layer, then state (off, on).
    let (off2, on2, off3, on3) = (&r[0], &r[1], &r[2], &r[3]);
    assert_eq!(
        off2.accuracy, on2.accuracy,
        "ideal wires: on == off at pair level"
    );
    assert_eq!(off3.accuracy, on3.accuracy);
    let (woff2, won2) = (&r[4], &r[5]);
    assert_eq!(woff2.wire_ohms, 2.0);
    assert_ne!(
        woff2.accuracy, won2.accuracy,
        "with wires, stuck-on pairs draw current and must differ from stuck-off"
    );
    assert!(won2.accuracy < off2.accuracy);
}

#[test]
fn wire_values_are_validated_all_at_once() {
    let text = r#"
        name = "bad-wires"
        [wires]
        segment-ohms = [1.0, -2.0, 1.0]
        r-row-ohms = 1.0
        r-in-ohms = nan
        [circuit]
        op-amp-gain = 0.5
        [[sweep]]
        shape = "circle"
    "#;
    let err = Experiment::from_toml_str(text, "bad.toml", None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ExperimentError::Invalid { .. }));
    for needle in [
        "bad.toml",
        "wires.segment-ohms[1]",
        "wires.segment-ohms[2]",
        "wires.segment-ohms",
        "wires.r-in-ohms",
        "circuit.op-amp-gain",
    ] {
        assert!(msg.contains(needle), "{needle} missing from: {msg}");
    }
    let text = r#"
        name = "wires-and-detection"
        [wires]
        r-row-ohms = 1.0
        [detection]
        [[sweep]]
        shape = "circle"
        layers = [0]
    "#;
    let msg = Experiment::from_toml_str(text, "d.toml", None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("ideal wires with [detection]"), "{msg}");
}

#[test]
fn finite_op_amp_gain_alone_takes_the_nodal_path() {
    let exp = experiment("[circuit]\nop-amp-gain = 1e4");
    assert!(exp.has_wires());
    let cache = tempfile::tempdir().unwrap();
    let p = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    assert!(p.wired[0].is_some());
    // A gain of 1e4 changes each comparator gain by 1e-4 relative: no prediction moves.
    assert_eq!(p.baseline.wires[0].flipped_vs_ideal, 0);
}

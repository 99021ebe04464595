//! `[chip]`: layers on fixed-size tiles, defects placed on tiles or across the die, checked
//! end to end through the library against the logical-array model.

#![allow(clippy::print_stdout)] // the tests report measured effects with --nocapture

use xbar_experiment::{
    Experiment, ExperimentError, NoProgress, ScenarioRecord, expand, prepare, run_scenarios,
};

fn run(text: &str) -> (xbar_experiment::Prepared, Vec<ScenarioRecord>) {
    let exp = Experiment::from_toml_str(text, "chip.toml", None).expect("valid");
    let prep = prepare(&exp, None, &NoProgress).expect("prepare");
    let recs = run_scenarios(&prep, &expand(&exp), &NoProgress).expect("run");
    (prep, recs)
}

fn invalid(text: &str) -> String {
    match Experiment::from_toml_str(text, "bad.toml", None) {
        Err(e @ ExperimentError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("expected a validation error, got {e}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

const SWEEP: &str = r#"
[[sweep]]
shape = "circle"
sizes = [0.3]
layers = [0, 3]
[[sweep]]
shape = "random"
sizes = [0.2]
layers = [1]
states = ["mixed"]
level = "device"
"#;

#[test]
fn a_chip_with_layer_placement_changes_nothing() {
    let (_, plain) = run(&format!("name = \"plain\"\n{SWEEP}"));
    let (prep, mut chip) = run(&format!(
        "name = \"plain\"\n[chip]\narray = [32, 32]\n{SWEEP}"
    ));
    let plan = prep.floorplan.expect("a floorplan");
    // The chip run also names the tiles its defects fall on; nothing else changes.
    for r in &mut chip {
        assert!(!r.defect_tiles.is_empty(), "{r:?}");
        for t in r.defect_tiles.split_whitespace() {
            assert!(t.starts_with(&format!("L{}:r", r.layers[0])), "{t}");
        }
        r.defect_tiles.clear();
        // ... and its coverage of the whole chip: 65x50 + 51x20 + 21x8 + 9x10 used pairs.
        let used = f64::from(65 * 50 + 51 * 20 + 21 * 8 + 9 * 10);
        assert_eq!(r.chip_coverage, Some(f64::from(r.defective_pairs) / used));
        r.chip_coverage = None;
    }
    assert_eq!(plain, chip);
    // 65 x 50 pairs on 32 x 16-pair tiles: 3 row blocks x 4 column blocks.
    assert_eq!(plan.layer_tiles(0).count(), 12);
}

#[test]
fn a_tile_the_size_of_the_layer_reproduces_the_layer_mask() {
    // Layer 3 (8 hidden + bias -> 10 outputs) is 9 x 10 pairs: one 9 x 20-device tile holds
    // it exactly.
    let layer = "name = \"t\"\n[[sweep]]\nshape = \"ring\"\nsizes = [0.2]\nlayers = [3]\n";
    let tile = format!("{layer}placement = \"tile\"\n[chip]\narray = [9, 20]\n");
    let (_, a) = run(layer);
    let (_, b) = run(&tile);
    assert_eq!(a[0].defective_pairs, b[0].defective_pairs);
    assert!(a[0].defective_pairs > 0);
    assert_eq!(a[0].accuracy, b[0].accuracy);
    assert_ne!(
        a[0].stream, b[0].stream,
        "a placed shape has its own stream"
    );
}

#[test]
fn tile_placement_repeats_the_shape_on_every_tile() {
    // Layer 0 (65 x 50 pairs) on 13 x 10-pair tiles: exactly 5 x 5 full tiles, so a tile
    // shape covers 25 times its own cell count.
    let text = "name = \"t\"\n[chip]\narray = [13, 20]\n[[sweep]]\nshape = \"rows\"\ncounts = [2]\n\
                layers = [0]\nplacement = \"tile\"\n";
    let (prep, recs) = run(text);
    assert_eq!(prep.floorplan.unwrap().layer_tiles(0).count(), 25);
    assert_eq!(recs[0].defective_pairs, 25 * 2 * 10);
    assert_eq!(recs[0].array_pairs, 65 * 50);
}

#[test]
fn a_die_circle_crosses_tiles_and_spares_far_layers() {
    // 8 x 8-pair tiles (16 device columns): 63 + 21 + 3 + 4 = 91 tiles on a 10 x 10 grid. A
    // small disc in the middle of the die lands on the tiles placed there, not on all layers.
    let text = "name = \"d\"\n[chip]\narray = [8, 16]\n[[sweep]]\nshape = \"circle\"\nsizes = [0.15]\n\
                placement = \"die\"\n";
    let (prep, recs) = run(text);
    let plan = prep.floorplan.unwrap();
    assert_eq!(
        (plan.tiles.len(), plan.grid_rows, plan.grid_cols),
        (91, 10, 10)
    );
    assert_eq!(recs.len(), 4);
    let hit: Vec<bool> = recs.iter().map(|r| r.defective_pairs > 0).collect();
    assert!(
        hit.iter().any(|&h| h) && !hit.iter().all(|&h| h),
        "{hit:?}\n{plan}"
    );
    // What each layer lost is exactly what the die mask put on its tiles.
    let total: u32 = recs.iter().map(|r| r.defective_pairs).sum();
    // Coverage per chip: the layers' shares of one die circle add up to its coverage of the
    // chip's used pairs.
    let chip: f64 = recs.iter().map(|r| r.chip_coverage.unwrap()).sum();
    assert!((chip - f64::from(total) / plan.used_pairs() as f64).abs() < 1e-12);
    let radius = 0.15 * (plan.grid_rows * 8).min(plan.grid_cols * 8) as f64;
    let disc = std::f64::consts::PI * radius * radius;
    assert!(f64::from(total) <= disc * 1.2, "{total} > disc {disc}");
    // Deterministic: the same file gives the same records.
    assert_eq!(run(text).1, recs);
}

#[test]
fn bad_chips_and_placements_are_named() {
    let e = invalid("name = \"x\"\n[chip]\narray = [64, 63]\n[[sweep]]\nshape = \"circle\"\n");
    assert!(
        e.contains("chip.array[1]") && e.contains("63") && e.contains("even"),
        "{e}"
    );
    let e = invalid("name = \"x\"\n[chip]\narray = [1, 64]\n[[sweep]]\nshape = \"circle\"\n");
    assert!(
        e.contains("chip.array[0]") && e.contains("[2, 65536]"),
        "{e}"
    );
    let e = invalid("name = \"x\"\n[chip]\n[[sweep]]\nshape = \"circle\"\n");
    assert!(e.contains("chip.array") && e.contains("missing"), "{e}");
    let e = invalid("name = \"x\"\n[[sweep]]\nshape = \"circle\"\nplacement = \"die\"\n");
    assert!(
        e.contains("sweep[0].placement") && e.contains("[chip]"),
        "{e}"
    );
    // A finite op-amp gain on row-split tiles (65 rows on 64-row tiles) without ADCs.
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\n[circuit]\nop-amp-gain = 1e4\n[[sweep]]\nshape = \"circle\"\n",
    );
    assert!(
        e.contains("circuit.op-amp-gain")
            && e.contains("array 0 (65 rows)")
            && e.contains("adc-bits"),
        "{e}"
    );
    // ... is fine with ADCs, or with tiles that hold every layer's rows.
    for ok in ["[66, 64]\nadc-bits = 6", "[80, 64]"] {
        let text = format!(
            "name = \"x\"\n[chip]\narray = {ok}\n[circuit]\nop-amp-gain = 1e4\n[[sweep]]\nshape = \"circle\"\n"
        );
        Experiment::from_toml_str(&text, "ok.toml", None).expect(&text);
    }
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\nadc-bits = 0\n[[sweep]]\nshape = \"circle\"\n",
    );
    assert!(e.contains("chip.adc-bits") && e.contains("[1, 24]"), "{e}");
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\nadc-bits = 4\nadc-range = -1.0\n[[sweep]]\nshape = \"circle\"\n",
    );
    assert!(e.contains("chip.adc-range") && e.contains("-1"), "{e}");
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\nadc-range = \"calibrated\"\n[[sweep]]\nshape = \"circle\"\n",
    );
    assert!(
        e.contains("chip.adc-range") && e.contains("only with chip.adc-bits"),
        "{e}"
    );
    let e = Experiment::from_toml_str(
        "name = \"x\"\n[chip]\narray = [64, 64]\nadc-bits = 4\nadc-range = \"auto\"\n[[sweep]]\nshape = \"circle\"\n",
        "bad.toml",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("bad.toml:5:13") && e.contains("\"calibrated\" or a range in volts"),
        "{e}"
    );
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\nadc-bits = 4\n[crossbar-repair]\n[[sweep]]\nshape = \"circle\"\nlayers = [0]\n",
    );
    assert!(
        e.contains("chip.adc-bits") && e.contains("[crossbar-repair]"),
        "{e}"
    );
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\n[detection]\n[[sweep]]\nshape = \"circle\"\nlayers = [0]\nplacement = \"tile\"\n",
    );
    assert!(
        e.contains("sweep[0].placement") && e.contains("[detection]"),
        "{e}"
    );
}

#[test]
fn the_manifest_records_the_floorplan() {
    let text = "name = \"m\"\n[chip]\narray = [64, 64]\n[[sweep]]\nshape = \"circle\"\nsizes = [0.2]\n\
                layers = [0]\nplacement = \"die\"\n";
    let exp = Experiment::from_toml_str(text, "m.toml", None).unwrap();
    let out = xbar_experiment::execute(&exp, &Default::default(), &NoProgress).unwrap();
    let json = serde_json::to_value(&out.manifest).unwrap();
    assert_eq!(
        json["experiment"]["circuit"]["chip"]["array"],
        serde_json::json!([64, 64])
    );
    let plan = &json["floorplan"];
    // 65 x 50 pairs on 64 x 32-pair tiles: 2 x 2 tiles; layers 1-3 fit one tile each.
    assert_eq!(plan["tiles"].as_array().unwrap().len(), 4 + 1 + 1 + 1);
    assert_eq!(plan["tiles"][3]["layer"], 0);
    assert_eq!(plan["tiles"][3]["row0"], 64);
    assert_eq!(plan["tiles"][3]["col0"], 32);
    // Without a chip the manifest has no floorplan key.
    let plain = Experiment::from_toml_str(
        "name = \"p\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.2]\nlayers = [0]\n",
        "p.toml",
        None,
    )
    .unwrap();
    let out = xbar_experiment::execute(&plain, &Default::default(), &NoProgress).unwrap();
    assert!(
        serde_json::to_value(&out.manifest)
            .unwrap()
            .get("floorplan")
            .is_none()
    );
}

/// ADCs on the tile outputs: 8 bits keep the healthy accuracy of the analog periphery, 2 bits
/// lose most of it; the manifest records each layer's calibrated range; the sweep runs its
/// scenarios through the converters (a defect costs accuracy on top).
#[test]
fn adcs_on_tile_outputs() {
    let base = "name = \"a\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.4]\nlayers = [0]\n";
    let (analog, _) = run(&format!("{base}[chip]\narray = [32, 32]\n"));
    let analog = analog.baseline.analog_all;
    let mut acc = Vec::new();
    for bits in [8, 2] {
        let (prep, recs) = run(&format!(
            "{base}[chip]\narray = [32, 32]\nadc-bits = {bits}\n"
        ));
        let b = &prep.baseline;
        assert_eq!(b.adc_range_volts.len(), 4);
        assert!(
            b.adc_range_volts.iter().all(|&r| r > 0.0 && r <= 0.2),
            "{:?}",
            b.adc_range_volts
        );
        assert!(
            recs[0].accuracy < b.analog_all,
            "{} vs {}",
            recs[0].accuracy,
            b.analog_all
        );
        acc.push(b.analog_all);
    }
    println!(
        "healthy accuracy: analog {analog:.4}, 8-bit ADC {:.4}, 2-bit {:.4}",
        acc[0], acc[1]
    );
    assert!(
        (acc[0] - analog).abs() < 0.01,
        "8 bits: {} vs analog {analog}",
        acc[0]
    );
    assert!(
        acc[1] < analog - 0.2,
        "2 bits: {} vs analog {analog}",
        acc[1]
    );
}

/// IR drop per physical tile: shorter wires on 16 x 16 tiles lose less than whole arrays
/// under the same segment resistance, and a defect on a tiled layer runs through the wired
/// sweep.
#[test]
fn wires_are_solved_per_tile() {
    let base = "name = \"w\"\n[device]\niv = \"linear\"\n[wires]\nsegment-ohms = [0, 5]\n\
                [[sweep]]\nshape = \"circle\"\nsizes = [0.3]\nlayers = [0]\n";
    let (whole, _) = run(base);
    let (tiled, recs) = run(&format!("{base}[chip]\narray = [16, 16]\n"));
    let acc = |p: &xbar_experiment::Prepared| {
        p.baseline
            .wires
            .iter()
            .map(|w| w.analog_all)
            .collect::<Vec<_>>()
    };
    let (w, t) = (acc(&whole), acc(&tiled));
    println!("healthy accuracy at 0 / 5 ohm: whole arrays {w:?}, 16 x 16 tiles {t:?}");
    assert_eq!(w[0], t[0]);
    // Measured: 26.5 % on whole arrays, 99.7 % on tiles (linear cells, 5 ohm per segment).
    assert!(t[1] > w[1] + 0.3, "tiles {t:?} vs whole arrays {w:?}");
    assert_eq!(recs.len(), 2);
    assert!(recs[1].accuracy < t[1], "{recs:?}");
}

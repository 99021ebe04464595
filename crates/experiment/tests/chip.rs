//! `[chip]`: layers on fixed-size tiles, defects placed on tiles or across the die, checked
//! end to end through the library against the logical-array model.

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
    let e = invalid(
        "name = \"x\"\n[chip]\narray = [64, 64]\n[wires]\nr-row-ohms = 1.0\n[[sweep]]\nshape = \"circle\"\n",
    );
    assert!(
        e.contains("wires") && e.contains("per physical tile"),
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
        json["experiment"]["chip"]["array"],
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

//! The real-number-code repair studies: validation of `[phase-transition]`, `[mnist-repair]`
//! and `[crossbar-repair]`, and small end-to-end runs of each through the library.

use std::path::{Path, PathBuf};

use xbar_experiment::{
    CodedNetwork, CrossbarRepairSpec, CrossbarRepairStudy, Driver, Experiment, ExperimentError,
    NoProgress, PhaseRow, Prepared, RepairRow, Scenario, ScenarioRecord, crossing_50, expand,
    prepare, prepare_crossbar_repair, prepare_mnist, run_mnist_repair, run_phase_transition,
    run_scenarios,
};

fn run_crossbar_repair(
    prep: &Prepared,
    spec: &CrossbarRepairSpec,
    coded: &[CodedNetwork],
    scenarios: &[Scenario],
    records: &[ScenarioRecord],
) -> Result<Vec<RepairRow>, ExperimentError> {
    Driver::in_memory(&NoProgress).run(&CrossbarRepairStudy::new(
        prep, spec, coded, scenarios, records,
    ))
}

fn invalid(text: &str) -> String {
    invalid_in(text, None)
}

fn invalid_in(text: &str, base: Option<&Path>) -> String {
    match Experiment::from_toml_str(text, "bad.toml", base) {
        Err(e @ ExperimentError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("expected a validation error, got {e}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

fn has_all(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "missing {p:?} in:\n{msg}");
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn bad_phase_transition_values_are_all_reported() {
    let msg = invalid(
        r#"
name = "p"
[phase-transition]
unknowns = [5, 400, 400]
errors = 0
constraints = [0, 500]
trials = 0
"#,
    );
    has_all(
        &msg,
        &[
            "phase-transition.unknowns[0]",
            "phase-transition.unknowns[2]",
            "distinct values",
            "phase-transition.errors",
            "phase-transition.constraints[0]",
            "phase-transition.constraints[1]",
            "phase-transition.trials",
        ],
    );
    let msg = invalid(
        "name = \"p\"\n[phase-transition]\nunknowns = [400]\nerrors = 10\nconstraints = [50]\noffsets = [0, -500]\n",
    );
    has_all(
        &msg,
        &[
            "phase-transition.offsets",
            "either `constraints`",
            "phase-transition.offsets[1]",
            "in [1, 400]",
        ],
    );
    let msg = invalid(
        "name = \"p\"\n[phase-transition]\nunknowns = [100000]\nerrors = 10\nconstraints = [1000]\n",
    );
    has_all(&msg, &["phase-transition.constraints[0]", "400 MB"]);
}

#[test]
fn standalone_studies_refuse_sweeps_and_circuit_tables() {
    let msg = invalid(
        r#"
name = "p"
[phase-transition]
[network]
hidden = [10]
[detection]
[[sweep]]
shape = "circle"
"#,
    );
    has_all(
        &msg,
        &[
            "no [[sweep]] with [phase-transition]",
            "`network`",
            "`detection`",
            "standalone study",
        ],
    );
    let msg = invalid("name = \"p\"\n[phase-transition]\n[mnist-repair]\nmnist-dir = \".\"\n");
    has_all(&msg, &["one standalone study per file"]);
    let msg = invalid("name = \"p\"\n");
    has_all(
        &msg,
        &["at least one [[sweep]] table", "[phase-transition]"],
    );
    // A valid standalone file has no scenarios and validates.
    let exp = Experiment::from_toml_str(
        "name = \"p\"\n[phase-transition]\nunknowns = [400]\nerrors = 10\nconstraints = [40]\n",
        "ok.toml",
        None,
    )
    .unwrap();
    assert_eq!(exp.scenario_count(), 0);
    assert!(expand(&exp).is_empty());
    assert_eq!(exp.standalone(), Some("phase-transition"));
}

#[test]
fn bad_mnist_repair_values_are_all_reported() {
    let msg = invalid(
        r#"
name = "m"
[mnist-repair]
mnist-dir = "no/such/folder"
train-images = 5
test-images = 20000
epochs = 0
learning-rate = 0.0
group-inputs = 0
output-checks = 100
errors = [10, 300000]
error-std = -1.0
trials = 0
datapath-errors = 300
datapath-std = nan
finetune-epochs = 1000
"#,
    );
    has_all(
        &msg,
        &[
            "mnist-repair.mnist-dir",
            "folder not found",
            "mnist-repair.train-images",
            "mnist-repair.test-images",
            "mnist-repair.epochs",
            "mnist-repair.learning-rate",
            "mnist-repair.group-inputs",
            "mnist-repair.output-checks",
            "mnist-repair.errors[1]",
            "mnist-repair.error-std",
            "mnist-repair.trials",
            "mnist-repair.datapath-errors",
            "mnist-repair.datapath-std",
            "mnist-repair.finetune-epochs",
        ],
    );
    // Too many checks for the groups.
    let msg = invalid_in(
        "name = \"m\"\n[mnist-repair]\nmnist-dir = \"data/mnist\"\ngroup-inputs = 1\ntype1-per-group = 250\noutput-checks = 8\n",
        Some(&repo()),
    );
    has_all(
        &msg,
        &[
            "mnist-repair.type1-per-group",
            "fewer constraints than weights",
        ],
    );
    // A folder without the files names what is missing.
    let dir = tempfile::tempdir().unwrap();
    let msg = invalid_in(
        "name = \"m\"\n[mnist-repair]\nmnist-dir = \".\"\n",
        Some(dir.path()),
    );
    has_all(
        &msg,
        &[
            "mnist-repair.mnist-dir",
            "missing: train-images-idx3-ubyte.gz",
        ],
    );
    // The default folder is found upwards from the file.
    let exp = Experiment::from_toml_str(
        "name = \"m\"\n[mnist-repair]\n",
        "ok.toml",
        Some(&repo().join("experiments/rnecc")),
    )
    .unwrap();
    let spec = exp.mnist_repair().unwrap().clone();
    assert!(spec.mnist_dir.ends_with("data/mnist"));
    assert_eq!((spec.groups, spec.type1_per_group), (56, 110));
    assert_eq!(spec.constraints_per_group(), 110 + 16 * 14);
}

#[test]
fn bad_crossbar_repair_values_are_all_reported() {
    let msg = invalid(
        r#"
name = "c"
[crossbar-repair]
group-rows = 0
design-errors = 0
finetune-epochs = 5000
[correction]
[device]
sigma-gap-nm = 0.05
[[sweep]]
shape = "circle"
layer-sets = [[0, 3]]
"#,
    );
    has_all(
        &msg,
        &[
            "crossbar-repair.group-rows",
            "crossbar-repair.design-errors",
            "crossbar-repair.finetune-epochs",
            "sweep[0].layer-sets",
            "single layers with [crossbar-repair]",
            "no programming variability",
        ],
    );
    // A design the smallest array cannot hold.
    let msg = invalid(
        "name = \"c\"\n[crossbar-repair]\ndesign-errors = 60\n[[sweep]]\nshape = \"circle\"\nlayers = [3]\n",
    );
    has_all(&msg, &["crossbar-repair.design-errors", "layer 3"]);
    let exp = Experiment::from_toml_str(
        "name = \"c\"\n[crossbar-repair]\n[[sweep]]\nshape = \"circle\"\n",
        "ok.toml",
        None,
    )
    .unwrap();
    let spec = exp.crossbar_repair().unwrap().clone();
    let l0 = spec.code(0).unwrap();
    assert_eq!((l0.groups, l0.group_rows, l0.type1_per_group), (5, 13, 60));
    let l2 = spec.code(2).unwrap();
    assert_eq!((l2.groups, l2.group_rows, l2.rows_of(1)), (2, 11, 10));
}

fn phase_exp(seed: u64) -> Experiment {
    Experiment::from_toml_str(
        &format!(
            "name = \"p\"\nseed = {seed}\n[phase-transition]\nunknowns = [400]\nerrors = 10\n\
             constraints = [20, 30, 40, 50, 60, 70, 80, 90]\ntrials = 10\n"
        ),
        "p.toml",
        None,
    )
    .unwrap()
}

fn without_time(rows: &[PhaseRow]) -> Vec<PhaseRow> {
    rows.iter()
        .map(|r| PhaseRow {
            median_decode_ms: 0.0,
            ..r.clone()
        })
        .collect()
}

#[test]
fn phase_transition_rises_from_0_to_1_across_the_prediction() {
    let exp = phase_exp(3);
    let spec = exp.phase_transition().unwrap();
    let rows = run_phase_transition(exp.seed, spec, &NoProgress).unwrap();
    assert_eq!(rows.len(), 8);
    let d = rows[0].predicted_d;
    assert!((d - 49.2).abs() < 0.1, "{d}");
    for r in &rows {
        if f64::from(r.constraints) <= d - 15.0 {
            assert_eq!(r.rate, 0.0, "K = {}", r.constraints);
        }
        if f64::from(r.constraints) >= d + 25.0 {
            assert_eq!(r.rate, 1.0, "K = {}", r.constraints);
        }
    }
    // Rising overall (a point may dip by a trial or two from sampling).
    for w in rows.windows(2) {
        assert!(w[1].rate >= w[0].rate - 0.2, "{rows:?}");
    }
    let c = crossing_50(&rows, 400).expect("crosses 50 %");
    assert!((c - d).abs() < 12.0, "crossing {c} vs D {d}");
    // Deterministic for any thread count (but for the timing column).
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let again = one
        .install(|| run_phase_transition(exp.seed, spec, &NoProgress))
        .unwrap();
    assert_eq!(without_time(&rows), without_time(&again));
    let other = phase_exp(4);
    let rows4 = run_phase_transition(other.seed, spec, &NoProgress).unwrap();
    assert_ne!(without_time(&rows), without_time(&rows4));
}

#[test]
fn other_decoders_run_and_omp_needs_no_more_than_n() {
    let exp = Experiment::from_toml_str(
        "name = \"p\"\n[phase-transition]\nunknowns = [200]\nerrors = 4\noffsets = [-10, 30]\ntrials = 4\ndecoder = \"cascade\"\n",
        "p.toml",
        None,
    )
    .unwrap();
    let spec = exp.phase_transition().unwrap().clone();
    assert_eq!(spec.ks(200).len(), 2);
    let rows = run_phase_transition(1, &spec, &NoProgress).unwrap();
    assert_eq!(rows[1].rate, 1.0, "{rows:?}");
}

const CROSSBAR: &str = r#"
name = "c"
seed = 11
[crossbar-repair]
[[sweep]]
shape = "random"
sizes = [0.003, 0.006, 0.012]
layers = [0, 3]
repeats = 2
[[sweep]]
shape = "random"
label = "device stuck-on"
sizes = [0.006]
layers = [0]
states = ["on"]
level = "device"
"#;

#[test]
fn crossbar_repair_restores_the_coded_circuit() {
    let cache = tempfile::tempdir().unwrap();
    let exp = Experiment::from_toml_str(CROSSBAR, "c.toml", None).unwrap();
    let spec = exp.crossbar_repair().unwrap().clone();
    let prep = prepare(&exp, Some(cache.path()), &NoProgress).unwrap();
    let scenarios = expand(&exp);
    let records = run_scenarios(&prep, &scenarios, &NoProgress).unwrap();
    let coded = prepare_crossbar_repair(&prep, &spec, &NoProgress).unwrap();
    assert_eq!(coded.len(), 2);
    for c in &coded {
        assert!(c.info.analog_all > 0.95, "{:?}", c.info);
    }
    let rows = run_crossbar_repair(&prep, &spec, &coded, &scenarios, &records).unwrap();
    assert_eq!(rows.len(), scenarios.len());
    let one_image = 1.0 / 1797.0 + 1e-12;
    let (mut faulty, mut lp, mut er) = (0.0, 0.0, 0.0);
    let mut full = 0;
    for r in &rows {
        assert_eq!(r.lp_miscorrected, 0, "{r:?}");
        // Every group certified: the healthy circuit is back, exactly. (A stuck pattern can
        // flip a borderline image either way, so the healthy circuit may sit one image below
        // the faulty one. A partial repair, some groups fixed and others not, can move the
        // accuracy either way; only the mean is compared then.)
        if r.lp_recovered == r.groups_with_errors {
            full += 1;
            assert_eq!(r.lp_errors_left, 0);
            assert_eq!(r.accuracy_lp, r.accuracy_healthy, "{r:?}");
            assert!(r.accuracy_lp >= r.accuracy_faulty - one_image, "{r:?}");
        }
        if r.erasure_recovered == r.groups_with_errors {
            assert_eq!(r.erasure_errors_left, 0);
            assert_eq!(r.accuracy_erasure, r.accuracy_healthy, "{r:?}");
            assert!(r.accuracy_erasure >= r.accuracy_faulty - one_image, "{r:?}");
        }
        faulty += r.accuracy_faulty;
        lp += r.accuracy_lp;
        er += r.accuracy_erasure;
    }
    assert!(lp > faulty && er > faulty, "{faulty} {lp} {er}");
    assert!(
        full >= rows.len() / 2,
        "{full} of {} fully repaired",
        rows.len()
    );
    // Same seed, same rows, for any thread count.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let again = one
        .install(|| run_crossbar_repair(&prep, &spec, &coded, &scenarios, &records))
        .unwrap();
    assert_eq!(rows, again);
}

#[test]
fn a_single_stuck_pair_is_repaired_back_to_the_healthy_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    // One stuck pair in the output array (9 x 10) and one in the first array (65 x 50).
    let mask = |rows: usize, cols: usize, at: (usize, usize)| -> String {
        (0..rows)
            .map(|i| {
                (0..cols)
                    .map(|j| if (i, j) == at { "1" } else { "0" })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(dir.path().join("one3.csv"), mask(9, 10, (3, 4))).unwrap();
    std::fs::write(dir.path().join("one0.csv"), mask(65, 50, (30, 20))).unwrap();
    let text = r#"
name = "one"
[crossbar-repair]
[[sweep]]
shape = "mask"
file = "one3.csv"
layers = [3]
[[sweep]]
shape = "mask"
label = "one device stuck-on"
file = "one3.csv"
layers = [3]
states = ["on"]
level = "device"
[[sweep]]
shape = "mask"
label = "one pair, layer 0"
file = "one0.csv"
layers = [0]
"#;
    let exp = Experiment::from_toml_str(text, "one.toml", Some(dir.path())).unwrap();
    let spec = exp.crossbar_repair().unwrap().clone();
    let prep = prepare(&exp, Some(&dir.path().join("cache")), &NoProgress).unwrap();
    let scenarios = expand(&exp);
    let records = run_scenarios(&prep, &scenarios, &NoProgress).unwrap();
    let coded = prepare_crossbar_repair(&prep, &spec, &NoProgress).unwrap();
    let rows = run_crossbar_repair(&prep, &spec, &coded, &scenarios, &records).unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!((r.defective_pairs, r.weight_errors), (1, 1), "{r:?}");
        assert_eq!((r.lp_recovered, r.lp_single_error), (1, 1), "{r:?}");
        assert_eq!((r.lp_errors_left, r.erasure_errors_left), (0, 0), "{r:?}");
        assert_eq!(r.accuracy_lp, r.accuracy_healthy, "{r:?}");
        assert_eq!(r.accuracy_erasure, r.accuracy_healthy, "{r:?}");
    }
    // A device stuck-on in the output layer does real damage before the repair.
    assert!(
        rows[1].accuracy_faulty < rows[1].accuracy_healthy,
        "{:?}",
        rows[1]
    );
}

#[test]
fn mnist_repair_on_a_small_subset() {
    let cache = tempfile::tempdir().unwrap();
    let text = r#"
name = "m"
seed = 5
[mnist-repair]
train-images = 2000
test-images = 500
epochs = 3
design-errors = 6
output-checks = 4
datapath-errors = 1
errors = [0, 60]
trials = 2
"#;
    let exp =
        Experiment::from_toml_str(text, "m.toml", Some(&repo().join("experiments/rnecc"))).unwrap();
    let spec = exp.mnist_repair().unwrap().clone();
    assert_eq!(
        (spec.groups, spec.constraints_per_group()),
        (56, 83 + 4 * 14)
    );
    let mut prep = prepare_mnist(exp.seed, &spec, Some(cache.path()), &NoProgress).unwrap();
    let b = prep.baseline.clone();
    assert!(b.software_test > 0.8, "{b:?}");
    assert!(b.coded_test > 0.75 && b.projection_change > 0.0, "{b:?}");
    let rows = run_mnist_repair(exp.seed, &spec, &mut prep, &NoProgress).unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        // Certified memory corrections are exact; a single datapath error is located by
        // L = 4 output checks.
        assert_eq!(r.miscorrected, 0, "{r:?}");
        assert_eq!(
            r.recovered + r.partial + r.uncorrectable,
            r.groups_with_errors
        );
        assert_eq!(r.datapath_detected, 1.0, "{r:?}");
        assert!(r.datapath_corrected > 0.9, "{r:?}");
        assert!(r.accuracy_repaired >= r.accuracy_faulty, "{r:?}");
        if r.errors > 0 {
            assert!(r.accuracy_repaired > r.accuracy_faulty, "{r:?}");
        }
        if r.recovered == r.groups_with_errors {
            assert_eq!(r.errors_left, 0);
            assert!(
                (r.accuracy_repaired - b.coded_test).abs() <= 0.02,
                "{r:?} vs {b:?}"
            );
        }
    }
    assert_eq!(rows[0].groups_with_errors, 0);
    assert!(rows[2].groups_with_errors > 0);
    // Deterministic: the same seed gives the same rows on one thread.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let again = one
        .install(|| run_mnist_repair(exp.seed, &spec, &mut prep, &NoProgress))
        .unwrap();
    assert_eq!(rows, again);
}

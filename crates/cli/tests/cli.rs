#![allow(
    clippy::print_stdout,
    reason = "a skipped ngspice check says so visibly"
)]
//! End-to-end tests of the `xbar` binary: outputs, determinism and bad input.

use std::process::Command;

mod common;
use common::{repo, run_with_threads, stderr, write, xbar};

const TINY: &str = r#"
name = "tiny"
seed = 7
[[sweep]]
shape = "circle"
sizes = [0.2, 0.4]
layers = [0, 3]
[[sweep]]
shape = "random"
sizes = [0.3]
layers = [1]
states = ["on", "mixed"]
level = "device"
repeats = 2
"#;

/// Runs `xbar` on an experiment file expected to be rejected; returns stderr.
fn rejected(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.toml", text);
    let o = xbar(&["check", f.to_str().unwrap()], dir.path());
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "stderr: {e}");
    assert!(e.contains("bad.toml"), "error must name the file: {e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn every_shipped_experiment_validates_and_the_default_has_84_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let exps = repo().join("experiments");
    let mut n = 0;
    for entry in std::fs::read_dir(&exps).unwrap() {
        let sub = entry.unwrap().path();
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "toml") {
                // Imported networks: validate everything, but time the estimate on a few
                // samples (this is a debug build).
                let text = std::fs::read_to_string(&f).unwrap();
                let imported = text.contains("[dataset]");
                let few = [
                    "--set",
                    "dataset.test-limit=100",
                    "--set",
                    "dataset.calibration-size=100",
                ];
                let mut args = vec!["check", f.to_str().unwrap()];
                if imported {
                    args.extend(few);
                }
                // An in-tool network trained on MNIST: a few training samples for the
                // one-epoch estimate.
                if text.contains("train-idx") {
                    args.extend(["--set", "dataset.train-limit=500"]);
                }
                let o = xbar(&args, dir.path());
                assert!(o.status.success(), "{}: {}", f.display(), stderr(&o));
                n += 1;
            }
        }
    }
    assert!(n >= 1);
    let o = xbar(
        &[
            "check",
            repo()
                .join("experiments/sawal2025/layer-sensitivity.toml")
                .to_str()
                .unwrap(),
        ],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("scenarios: 84"));
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = rejected("name = \"x\"\n[circuit]\nv-in-maxx = 0.1\n[[sweep]]\nshape = \"circle\"\n");
    assert!(
        e.contains("bad.toml:3:") && e.contains("v-in-maxx") && e.contains("v-in-max"),
        "{e}"
    );
}

#[test]
fn negative_radius_names_key_and_range() {
    let e = rejected("name = \"x\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.1, -0.2]\n");
    assert!(
        e.contains("sweep[0].sizes[1]") && e.contains("-0.2") && e.contains("(0, 1.5]"),
        "{e}"
    );
}

#[test]
fn layer_beyond_the_network_names_the_valid_layers() {
    let e = rejected("name = \"x\"\n[[sweep]]\nshape = \"rows\"\nlayers = [7]\n");
    assert!(
        e.contains("sweep[0].layers[0]") && e.contains("= 7") && e.contains("0..=3"),
        "{e}"
    );
}

#[test]
fn nan_voltage_is_rejected() {
    let e = rejected("name = \"x\"\n[circuit]\nv-in-max = nan\n[[sweep]]\nshape = \"circle\"\n");
    assert!(
        e.contains("circuit.v-in-max") && e.contains("NaN") && e.contains("(0, 1]"),
        "{e}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let e = rejected(
        "name = \"x y\"\n[device]\nsigma-gap-nm = -1\n[circuit]\nrail-volts = 0\n[[sweep]]\nshape = \"circle\"\nsizes = [-0.1]\n[[sweep]]\nshape = \"ring\"\nsizes = [0.6]\n",
    );
    for key in [
        "`name`",
        "device.sigma-gap-nm",
        "circuit.rail-volts",
        "sweep[0].sizes[0]",
        "sweep[1].sizes[0]",
    ] {
        assert!(e.contains(key), "missing {key} in: {e}");
    }
    assert!(e.contains("5 problems"), "{e}");
}

#[test]
fn a_closed_choice_lists_the_allowed_values_at_its_position() {
    for (text, pos, want) in [
        (
            "name = \"x\"\n[[sweep]]\nshape = \"blob\"\n",
            "bad.toml:3:9",
            "`circle`, `ring`, `circle-complement`",
        ),
        (
            "name = \"x\"\n[[sweep]]\nshape = \"ring\"\nstates = [\"off\", \"sideways\"]\n",
            "bad.toml:4:18",
            "`off`, `on`, `mixed`",
        ),
        (
            "name = \"x\"\n[circuit]\nr-load = \"auto\"\n[[sweep]]\nshape = \"ring\"\n",
            "bad.toml:3:10",
            "\"calibrated\", \"unity\" or a list of ohms per layer",
        ),
        (
            "name = \"x\"\n[phase-transition]\ndecoder = \"magic\"\n",
            "bad.toml:3:11",
            "`l1`, `omp`, `cascade`, `clarabel`",
        ),
    ] {
        let e = rejected(text);
        assert!(
            e.contains(pos) && e.contains(want),
            "want {pos} and {want} in: {e}"
        );
    }
}

#[test]
fn wrong_type_and_syntax_errors_have_positions() {
    let e = rejected("name = \"x\"\nseed = \"seven\"\n[[sweep]]\nshape = \"circle\"\n");
    assert!(e.contains("bad.toml:2:"), "{e}");
    let e = rejected("name = \"x\n");
    assert!(e.contains("bad.toml:1:"), "{e}");
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let o = xbar(&["check", "no/such/file.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/file.toml"), "{}", stderr(&o));
    let e = rejected(
        "name = \"x\"\n[device]\ncard = \"missing-card.toml\"\n[[sweep]]\nshape = \"mask\"\nfile = \"nope.png\"\n",
    );
    assert!(
        e.contains("device.card") && e.contains("missing-card.toml"),
        "{e}"
    );
    assert!(e.contains("sweep[0].file") && e.contains("nope.png"), "{e}");
}

#[test]
fn unwritable_output_folder_fails_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "tiny.toml", TINY);
    let blocker = write(dir.path(), "file", "x");
    let out = blocker.join("sub");
    let o = xbar(
        &[
            "run",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("output folder"), "{}", stderr(&o));
}

#[test]
fn run_writes_every_output_and_is_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "tiny.toml", TINY);
    let mut csvs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("out{threads}"));
        let o = run_with_threads(&f, &out, threads, &["-q"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        for name in [
            "results.csv",
            "manifest.json",
            "summary.md",
            "plots/accuracy-vs-coverage.svg",
            "plots/accuracy-vs-coverage.png",
        ] {
            let p = out.join(name);
            assert!(
                p.metadata().map(|m| m.len() > 0).unwrap_or(false),
                "missing {}",
                p.display()
            );
        }
        let png = std::fs::read(out.join("plots/accuracy-vs-coverage.png")).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["scenarios"], 2 * 2 + 2 * 2);
        csvs.push(std::fs::read(out.join("results.csv")).unwrap());
    }
    assert_eq!(csvs[0], csvs[1]);
    assert_eq!(csvs[0], csvs[2]);
    let text = String::from_utf8(csvs[0].clone()).unwrap();
    assert_eq!(text.lines().count(), 1 + 8);
    assert!(text.starts_with("scenario,shape,label,size,layers,state,level,repeat,wire_ohms,defective_pairs,array_pairs,coverage,accuracy"));
}

#[test]
fn defects_command_renders_the_teaching_views() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = xbar(
        &[
            "defects",
            "--layer",
            "3",
            "--image",
            "5",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for name in [
        "masks-layer3.png",
        "masks-layer3.svg",
        "currents-layer3.png",
        "currents-layer3.svg",
    ] {
        assert!(out.join(name).exists(), "{name}");
    }
    let o = xbar(&["defects", "--layer", "9"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("0..=3"));
}

#[test]
fn detection_study_writes_rates_and_shows_the_input_fault_blind_spot() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "det.toml",
        "name = \"det\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.3]\nlayers = [3]\n[detection]\ncodes = [\"secded\", \"rnecc\"]\nimages = 300\ninput-faults = true\n",
    );
    let out = dir.path().join("det");
    let o = xbar(
        &[
            "run",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let det = std::fs::read_to_string(out.join("detection.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(det.as_bytes());
    let hdr = rdr.headers().unwrap().clone();
    let col = |name: &str| hdr.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let secded = rows.iter().find(|r| &r[col("code")] == "secded").unwrap();
    assert!(
        secded[col("detection_rate")].parse::<f64>().unwrap() > 0.9,
        "{det}"
    );
    let inp = std::fs::read_to_string(out.join("input-faults.csv")).unwrap();
    for line in inp.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let rate: f64 = f[6].parse().unwrap();
        if f[1] == "input-checksum" {
            assert!(rate > 0.95 || f[2].starts_with("stuck-low"), "{line}");
        } else if f[1] != "an-29" {
            assert!(rate < 0.05, "output-side check saw an input fault: {line}");
        }
    }
    assert!(out.join("plots/detection-rate.png").exists());
    // [detection] with several layers at once is refused with the key named.
    let g = write(
        dir.path(),
        "bad.toml",
        "name = \"b\"\n[[sweep]]\nshape = \"circle\"\nlayer-sets = [[0, 1]]\n[detection]\n",
    );
    let o = xbar(&["check", g.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("sweep[0].layer-sets"), "{}", stderr(&o));
}

#[test]
fn netlist_export_and_ngspice_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("l3.cir");
    let have = Command::new("ngspice").arg("--version").output().is_ok();
    let mut args = vec![
        "netlist",
        "--layer",
        "3",
        "--image",
        "6",
        "--shape",
        "circle",
        "--size",
        "0.3",
        "--wire-ohms",
        "1",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    if have {
        args.push("--run");
    } else {
        assert!(
            std::env::var("XBAR_REQUIRE_NGSPICE").is_err(),
            "ngspice is required (apt-get install ngspice)"
        );
        println!("SKIPPED (ngspice part): ngspice not found");
    }
    let o = xbar(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(".end") && text.lines().count() > 100,
        "{text}"
    );
    if have {
        let table = String::from_utf8_lossy(&o.stdout);
        let worst = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().last().unwrap().parse::<f64>().unwrap())
            .fold(0.0, f64::max);
        assert_eq!(table.lines().count(), 11, "{table}");
        assert!(worst < 1e-6, "emulator vs ngspice: {worst:e}\n{table}");
    }
    let o = xbar(&["netlist", "--wire-ohms", "nan"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--wire-ohms"), "{}", stderr(&o));
}

#[test]
fn wire_sweep_writes_its_plot_and_is_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "wires.toml",
        r#"
name = "wires"
[device]
iv = "linear"
[wires]
segment-ohms = [0.0, 1.5]
[[sweep]]
shape = "circle"
sizes = [0.3]
layers = [0, 2]
states = ["off", "on"]
"#,
    );
    let mut csvs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("out{threads}"));
        let o = run_with_threads(&f, &out, threads, &["-q"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(out.join("plots/accuracy-vs-wire.svg").exists());
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(
            summary.contains("## Wire resistance (IR drop)"),
            "{summary}"
        );
        csvs.push(std::fs::read_to_string(out.join("results.csv")).unwrap());
    }
    assert_eq!(csvs[0], csvs[1]);
    let rows: Vec<Vec<&str>> = csvs[0].lines().map(|l| l.split(',').collect()).collect();
    let col = |name: &str| rows[0].iter().position(|h| *h == name).unwrap();
    let (ohms, acc) = (col("wire_ohms"), col("accuracy"));
    let rows = &rows[1..];
    assert_eq!(rows.len(), 8);
    // Stuck-on and stuck-off agree without wires and differ with them.
    assert_eq!(rows[0][ohms], "0.0");
    assert_eq!(rows[0][acc], rows[1][acc]);
    assert_eq!(rows[4][ohms], "1.5");
    assert_ne!(rows[4][acc], rows[5][acc]);
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // `xbar reference | head -1`: the reader is gone. Close the pipe's read end before the
    // child starts, so its first write fails with EPIPE for certain.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for args in [
        &["reference"][..],
        &["check", "experiments/sawal2025/stuck-states.toml"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xbar"))
            .args(args)
            .current_dir(repo())
            .stdout(writer.try_clone().unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn set_overrides_a_key_is_validated_and_recorded_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "tiny.toml", TINY);
    let out = dir.path().join("out");
    let o = run_with_threads(
        &f,
        &out,
        "1",
        &["-q", "--set", "seed=77", "--set", "sweep.0.repeats=2"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["experiment"]["seed"], 77);
    assert_eq!(
        manifest["experiment"]["overrides"],
        serde_json::json!(["seed=77", "sweep.0.repeats=2"])
    );
    let plain = dir.path().join("plain");
    let o = run_with_threads(&f, &plain, "1", &["-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = |p: &std::path::Path| {
        std::fs::read_to_string(p.join("results.csv"))
            .unwrap()
            .lines()
            .count()
    };
    // sweep 0 of TINY is 2 sizes x 2 layers: a second repeat adds 4 scenarios.
    assert_eq!(
        rows(&out),
        rows(&plain) + 4,
        "sweep.0.repeats=2 adds 4 rows"
    );
    // A bad override is refused like a bad file, before the output folder is touched.
    for (set, want) in [
        ("seed=-1", "seed"),
        ("sweep.5.repeats=2", "an integer in [0, 1]"),
        ("circuit.v-in-max=7", "circuit.v-in-max"),
        ("sweep.0.shape=blob", "unknown variant `blob`"),
        ("noequals", "key=value"),
    ] {
        let o = run_with_threads(
            &f,
            &dir.path().join("bad"),
            "1",
            &["--set", set],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{set}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{set}: want {want} in {}",
            stderr(&o)
        );
        assert!(
            !dir.path().join("bad").exists(),
            "{set}: output folder created"
        );
    }
}

#[test]
fn analyses_compose_on_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "both.toml",
        "name = \"both\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.3, 0.4]\nlayers = [3]\n\
         [[sweep]]\nshape = \"rows\"\nsizes = [0.2]\nlayers = [3]\n\
         [detection]\ncodes = [\"rnecc\", \"an\"]\nimages = 100\n\
         [correction]\narchitectures = [[6]]\nprotocols = [\"by-image\"]\ncross = false\nepochs = 5\n",
    );
    let out = dir.path().join("out");
    let o = run_with_threads(&f, &out, "2", &["-q"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    for file in [
        "results.csv",
        "correction.csv",
        "detection.csv",
        "summary.md",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["study"], "sweep+correction+detection");
    let stages: Vec<&str> = manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for s in ["train", "sweep", "correction", "detection"] {
        assert!(stages.contains(&s), "stage {s} missing: {stages:?}");
    }
    // One corrector per sweep label, each tested on its own configurations (3 in all); two
    // codes on each of the three scenarios.
    let lines = |f: &str| {
        std::fs::read_to_string(out.join(f))
            .unwrap()
            .lines()
            .count()
            - 1
    };
    assert_eq!(lines("correction.csv"), 3);
    let detection = std::fs::read_to_string(out.join("detection.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(detection.as_bytes());
    let code = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "code")
        .unwrap();
    let scenario = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "scenario")
        .unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let scenarios: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[scenario]).collect();
    assert_eq!(scenarios.len(), 3, "every scenario checked");
    assert!(
        rows.iter().any(|r| r[code].starts_with("rnecc")),
        "no rnecc row"
    );
    assert!(rows.iter().any(|r| r[code].starts_with("an")), "no AN row");
    assert!(
        rows.iter()
            .all(|r| r[code].starts_with("rnecc") || r[code].starts_with("an")),
        "only the requested code families"
    );
}

#[test]
fn bench_repair_prints_its_table_and_rejects_an_impossible_error_count() {
    let dir = tempfile::tempdir().unwrap();
    let o = xbar(
        &[
            "bench",
            "repair",
            "--s",
            "1",
            "--trials",
            "2",
            "--repeats",
            "1",
        ],
        dir.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    // s = 1: the single-error decoder joins OMP, homotopy and the cascade; all recover.
    for name in ["single-error", "omp", "homotopy", "cascade"] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in:\n{out}"));
        assert!(line.contains("2/2"), "{line}");
    }
    assert!(out.contains("whole layer, 56 groups x 1 errors"), "{out}");
    let o = xbar(&["bench", "repair", "--s", "5000"], dir.path());
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("5000") && e.contains("1 ..= 895"), "{e}");
}

#[test]
fn check_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.toml");
    std::fs::write(
        &exp,
        "name = \"quiet\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.3]\nlayers = [3]\n",
    )
    .unwrap();
    // No XBAR_CACHE_DIR: check would otherwise have created results/.xbar-cache here.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xbar"))
        .args(["check", "exp.toml"])
        .current_dir(dir.path())
        .env_remove("XBAR_CACHE_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["exp.toml".to_string()], "check wrote files");
}

#[test]
fn results_do_not_depend_on_how_the_files_are_named() {
    // The same experiment and mask reached by three spellings of the path: same results,
    // same configuration fingerprint (so a resume under another spelling is accepted).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("sub/masks")).unwrap();
    let mask: String = (0..65)
        .map(|r| {
            (0..50)
                .map(|c| if (r / 8 + c / 8) % 3 == 0 { "1" } else { "0" })
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(d.join("sub/masks/m.csv"), mask).unwrap();
    std::fs::write(
        d.join("sub/exp.toml"),
        "name = \"spelling\"\n[[sweep]]\nshape = \"mask\"\nfile = \"masks/m.csv\"\nlayers = [0]\n\
         [[sweep]]\nshape = \"random\"\nsizes = [0.05]\nlayers = [1]\nrepeats = 2\n",
    )
    .unwrap();
    let runs = [
        ("sub/exp.toml", d.to_path_buf(), "a"),
        ("./exp.toml", d.join("sub"), "../b"),
        ("../../sub/./exp.toml", d.join("sub/masks"), "../../c"),
    ];
    for (file, cwd, out) in &runs {
        let o = xbar(&["run", file, "--out", out, "-q"], cwd);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
    }
    let fp = |o: &str| -> String {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(o).join("manifest.json")).unwrap(),
        )
        .unwrap();
        m["fingerprint"].as_str().unwrap().to_string()
    };
    for o in ["b", "c"] {
        assert_eq!(
            std::fs::read(d.join("a/results.csv")).unwrap(),
            std::fs::read(d.join(o).join("results.csv")).unwrap(),
            "{o}"
        );
        assert_eq!(fp("a"), fp(o), "{o}");
    }
}

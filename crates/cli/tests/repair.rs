//! The real-number-code repair studies through the `xbar` binary: outputs, determinism,
//! `xbar check` and errors.

mod common;
use common::{repo, run_with_threads, stderr, stdout, write, xbar};

const PHASE: &str = r#"
name = "phase"
seed = 9
[phase-transition]
unknowns = [300, 600]
errors = 8
offsets = [-25, 0, 25, 50]
trials = 6
"#;

/// Seconds of the manifest's stage `name`.
fn stage_seconds(manifest: &serde_json::Value, name: &str) -> f64 {
    manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {manifest}"))["seconds"]
        .as_f64()
        .unwrap()
}

/// The CSV without its last column (the decoding time, which varies between runs).
fn drop_timing(csv: &str) -> String {
    csv.lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(a, _)| a))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn phase_transition_runs_from_the_cli_with_plots_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "phase.toml", PHASE);
    let o = xbar(&["check", f.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "phase transition",
        "N = 300",
        "predicted 50 % point",
        "8 points x 6 trials = 48 instances",
        "estimate:  phase-transition",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    let mut csvs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("out{threads}"));
        let o = run_with_threads(&f, &out, threads, &[], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        for file in [
            "phase.csv",
            "summary.md",
            "manifest.json",
            "plots/phase-transition.svg",
            "plots/phase-transition.png",
        ] {
            assert!(out.join(file).is_file(), "{file} missing");
        }
        let csv = std::fs::read_to_string(out.join("phase.csv")).unwrap();
        assert!(csv.starts_with(
            "unknowns,constraints,errors,trials,successes,rate,predicted_d,median_decode_ms\n"
        ));
        assert_eq!(csv.lines().count(), 9);
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(summary.contains("measured 50 % point"), "{summary}");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["study"], "phase-transition");
        assert!(stage_seconds(&manifest, "phase-transition") > 0.0);
        csvs.push(drop_timing(&csv));
    }
    assert_eq!(csvs[0], csvs[1], "phase.csv depends on the thread count");
}

const CROSSBAR: &str = r#"
name = "xrepair"
seed = 3
[crossbar-repair]
finetune-epochs = 4
[[sweep]]
shape = "random"
sizes = [0.004, 0.02]
layers = [0, 3]
[[sweep]]
shape = "rows"
counts = [1]
layers = [0]
"#;

#[test]
fn crossbar_repair_runs_from_the_cli_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.toml", CROSSBAR);
    let o = xbar(&["check", f.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("crossbar-repair: decoder cascade"), "{text}");
    assert!(
        text.contains("layer 0: 65 x 50 pairs, 5 group(s)"),
        "{text}"
    );
    let mut csvs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("out{threads}"));
        let o = run_with_threads(&f, &out, threads, &[], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        for file in [
            "results.csv",
            "repair.csv",
            "summary.md",
            "plots/crossbar-repair.svg",
            "plots/crossbar-repair.png",
        ] {
            assert!(out.join(file).is_file(), "{file} missing");
        }
        let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(summary.contains("Crossbar repair through the real-number code"));
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        assert!(stage_seconds(&manifest, "crossbar-repair") > 0.0);
        csvs.push(std::fs::read_to_string(out.join("repair.csv")).unwrap());
    }
    assert_eq!(csvs[0], csvs[1], "repair.csv depends on the thread count");
    let mut rdr = csv::Reader::from_reader(csvs[0].as_bytes());
    let head = rdr.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    // One dead row of layer 0 (50 pairs, all in one group of 650): beyond blind decoding,
    // within erasure decoding (73 checks per group).
    let dead = &rows[4];
    assert_eq!(&dead[col("defective_pairs")], "50");
    assert_eq!(&dead[col("lp_uncorrectable")], "1");
    assert_eq!(&dead[col("erasure_recovered")], "1");
    assert_eq!(
        dead[col("accuracy_erasure")],
        dead[col("accuracy_healthy")],
        "{dead:?}"
    );
}

#[test]
fn a_missing_mnist_folder_stops_with_exit_2_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "m.toml",
        "name = \"m\"\n[mnist-repair]\nmnist-dir = \"nowhere/mnist\"\n",
    );
    for cmd in ["check", "run"] {
        let o = xbar(&[cmd, f.to_str().unwrap()], dir.path());
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {e}");
        for want in [
            "m.toml",
            "mnist-repair.mnist-dir",
            "nowhere/mnist",
            "folder not found",
        ] {
            assert!(e.contains(want), "{cmd}: missing {want:?} in {e}");
        }
        assert!(!e.contains("panicked"), "{e}");
    }
    // No data/mnist anywhere above the file: the folder searched is named.
    let o = xbar(
        &[
            "check",
            write(dir.path(), "d.toml", "name = \"m\"\n[mnist-repair]\n")
                .to_str()
                .unwrap(),
        ],
        dir.path(),
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("no data/mnist found"), "{e}");
}

#[test]
fn mnist_check_reads_the_data_and_prints_the_study() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = repo().join("data/mnist");
    let f = write(
        dir.path(),
        "m.toml",
        &format!(
            "name = \"m\"\n[mnist-repair]\nmnist-dir = {:?}\ntrain-images = 1000\ntest-images = 200\n",
            mnist.display().to_string()
        ),
    );
    let o = xbar(&["check", f.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "MNIST repair, 784-256-10, 1000 training / 200 test images",
        "56 groups of 14 inputs x 256, K = 110 Gaussian + 16 output check(s)",
        "60000 training images available, 1000 used",
        "not cached",
        "estimate:  mnist-repair",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    // Sweep-only commands refuse standalone studies with a message.
    let p = write(dir.path(), "p.toml", PHASE);
    let o = xbar(&["defects", p.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("standalone [phase-transition]"),
        "{}",
        stderr(&o)
    );
}

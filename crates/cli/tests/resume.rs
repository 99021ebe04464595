//! Every study kind, killed with SIGKILL mid-way, resumes from its journal and produces exactly
//! the bytes of an uninterrupted run (timing columns aside), with no job lost or doubled.

mod common;
use common::without_timings;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn xbar(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xbar"));
    c.current_dir(dir).env("XBAR_CACHE_DIR", dir.join("cache"));
    c
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Runs `toml` uninterrupted, then again killed once `journal` holds `kill_after` jobs, then
/// resumed (on another thread count, after appending a torn line to the journal); the
/// `outputs` must match the uninterrupted run's.
fn kill_and_resume(toml: &str, study: &str, journal: &str, kill_after: usize, outputs: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.toml");
    std::fs::write(&exp, toml).unwrap();
    let run = |out: &str, threads: &str| {
        let mut c = xbar(dir.path());
        c.args([
            "run",
            exp.to_str().unwrap(),
            "--out",
            out,
            "--threads",
            threads,
        ]);
        c
    };
    let o = run("full", "2").arg("-q").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full = dir.path().join("full");
    let leftover: Vec<_> = std::fs::read_dir(&full)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("checkpoint"))
        .collect();
    assert!(
        leftover.is_empty(),
        "a finished run removes its journals: {leftover:?}"
    );

    let mut child = run("cut", "2")
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cp = dir.path().join("cut").join(journal);
    let t0 = Instant::now();
    while lines(&cp) < 1 + kill_after {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "{study}: nothing journaled in {}",
            cp.display()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{study}: the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        !dir.path().join("cut/manifest.json").exists(),
        "{study}: no manifest from a killed run"
    );
    // A write torn by the kill (or by a crash) must be tolerated.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&cp)
        .unwrap()
        .write_all(b"0123456789abcdef {\"i\":9")
        .unwrap();

    let o = run("cut", "1").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{study}: {err}");
    assert!(err.contains(&format!("resuming {study}:")), "{err}");
    assert!(err.contains("torn checkpoint line dropped"), "{err}");
    for f in outputs {
        assert_eq!(
            without_timings(&dir.path().join("cut").join(f)),
            without_timings(&full.join(f)),
            "{study}: resumed {f} differs from the uninterrupted run"
        );
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cut/manifest.json")).unwrap(),
    )
    .unwrap();
    let stage = manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == study)
        .unwrap()
        .clone();
    let (jobs, resumed) = (
        stage["jobs"].as_u64().unwrap(),
        stage["resumed"].as_u64().unwrap(),
    );
    assert!(
        resumed >= kill_after as u64 && resumed < jobs,
        "{study}: {resumed} of {jobs} jobs resumed"
    );
    assert!(!cp.exists(), "{study}: journal left behind");
}

// Gap variability makes every scenario program its own circuit: slow enough to kill mid-way.
const SLOW: &str = r#"
name = "slow"
seed = 11
[device]
sigma-gap-nm = 0.02
[[sweep]]
shape = "random"
sizes = [0.05, 0.1, 0.2]
repeats = 60
"#;

#[test]
fn killed_sweep_resumes_to_identical_results() {
    kill_and_resume(SLOW, "sweep", "checkpoint.jsonl", 40, &["results.csv"]);
}

#[test]
fn a_checkpoint_of_another_configuration_is_refused_until_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("slow.toml");
    std::fs::write(&exp, SLOW).unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(
        dir.path().join("out/checkpoint.jsonl"),
        "xbar-checkpoint v1 0000000000000000\n",
    )
    .unwrap();
    let o = xbar(dir.path())
        .args(["run", exp.to_str().unwrap(), "--out", "out", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("different configuration") && err.contains("--fresh"),
        "{err}"
    );
    let small = dir.path().join("small.toml");
    std::fs::write(&small, SLOW.replace("repeats = 60", "repeats = 1")).unwrap();
    std::fs::write(
        dir.path().join("out/checkpoint.jsonl"),
        "xbar-checkpoint v1 0000000000000000\n",
    )
    .unwrap();
    let o = xbar(dir.path())
        .args([
            "run",
            small.to_str().unwrap(),
            "--out",
            "out",
            "-q",
            "--fresh",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn killed_correction_study_resumes_without_retraining() {
    let toml = r#"
name = "correction-resume"
seed = 3
[[sweep]]
shape = "circle"
sizes = [0.2, 0.3, 0.4]
layers = [3]
[[sweep]]
shape = "rows"
sizes = [0.1, 0.2]
layers = [3]
[[sweep]]
shape = "checkerboard"
layers = [2, 3]
[correction]
architectures = [[10, 10], [16, 16], [12, 12], [6, 6], [10], [6], [32, 32], [4, 4]]
protocols = ["paper", "by-image"]
cross = false
epochs = 60
holdout = 300
"#;
    kill_and_resume(
        toml,
        "correction",
        "checkpoint-correction.jsonl",
        3,
        &["results.csv", "correction.csv"],
    );
}

#[test]
fn killed_detection_study_resumes_to_identical_results() {
    let toml = r#"
name = "detection-resume"
seed = 5
[detection]
[[sweep]]
shape = "random"
sizes = [0.01, 0.05, 0.1]
repeats = 20
"#;
    kill_and_resume(
        toml,
        "detection",
        "checkpoint-detection.jsonl",
        10,
        &["results.csv", "detection.csv"],
    );
}

#[test]
fn killed_crossbar_repair_resumes_to_identical_results() {
    let toml = r#"
name = "repair-resume"
seed = 3
[crossbar-repair]
finetune-epochs = 2
[[sweep]]
shape = "random"
sizes = [0.004, 0.01, 0.02]
layers = [0, 1]
repeats = 12
"#;
    kill_and_resume(
        toml,
        "crossbar-repair",
        "checkpoint-crossbar-repair.jsonl",
        10,
        &["results.csv", "repair.csv"],
    );
}

#[test]
fn killed_phase_transition_resumes_to_identical_results() {
    let toml = r#"
name = "phase-resume"
seed = 9
[phase-transition]
unknowns = [600]
errors = 10
offsets = [-20, 0, 20]
trials = 40
"#;
    kill_and_resume(
        toml,
        "phase-transition",
        "checkpoint-phase-transition.jsonl",
        20,
        &["phase.csv"],
    );
}

#[test]
fn killed_mnist_repair_resumes_to_identical_results() {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let toml = format!(
        r#"
name = "mnist-resume"
seed = 4
[mnist-repair]
mnist-dir = {:?}
train-images = 1000
test-images = 300
epochs = 1
errors = [20, 60]
trials = 12
"#,
        mnist.display().to_string()
    );
    kill_and_resume(
        &toml,
        "mnist-repair",
        "checkpoint-mnist-repair.jsonl",
        4,
        &["mnist-repair.csv"],
    );
}

#[test]
fn a_second_run_into_a_folder_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Another process holds the folder's lock (this test stands in for it).
    let held = std::fs::File::create(out.join(".xbar-lock")).unwrap();
    held.lock().unwrap();
    std::fs::write(out.join(".xbar-lock"), "4242\n").unwrap();
    let o = xbar(dir.path())
        .args(["run", "--out", "out", "-q"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("in use by another xbar process (pid 4242)"),
        "{err}"
    );
    assert!(!out.join("results.csv").exists());
    held.unlock().unwrap();
    drop(held);
    // Temporary files of an earlier run killed mid-write are cleared by the next one.
    std::fs::create_dir_all(out.join("plots")).unwrap();
    for t in [
        "plots/.accuracy-vs-pairs.svg.123.0.tmp",
        ".results.csv.77.3.tmp",
        ".checkpoint.jsonl.tmp-99",
    ] {
        std::fs::write(out.join(t), "half").unwrap();
    }
    let o = xbar(dir.path())
        .args(["run", "--out", "out", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("results.csv").exists());
    for dir in [out.clone(), out.join("plots")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp"), "{name} left in {}", dir.display());
        }
    }
}

#[test]
fn a_run_outlives_a_closed_stderr_and_a_hangup() {
    let dir = tempfile::tempdir().unwrap();
    // stderr is a pipe whose reader is gone before the first message.
    let mut child = xbar(dir.path())
        .args(["run", "--out", "closed"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(dir.path().join("closed/results.csv").exists());
    // The terminal goes away: SIGHUP, then the run finishes anyway.
    let exp = dir.path().join("slow.toml");
    std::fs::write(&exp, SLOW).unwrap();
    let mut child = xbar(dir.path())
        .args(["run", exp.to_str().unwrap(), "--out", "hup", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The output folder appears after validation, when the run is under way.
    let t0 = Instant::now();
    while !dir.path().join("hup").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run finished before the hangup"
    );
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(dir.path().join("hup/results.csv").exists());
}

//! A sweep killed with SIGKILL resumes from its checkpoint and produces exactly the bytes of an
//! uninterrupted run, with no scenario lost or doubled.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn killed_sweep_resumes_to_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("slow.toml");
    std::fs::write(&exp, SLOW).unwrap();
    let total = 3 * 4 * 60;

    // Reference: uninterrupted.
    let o = xbar(dir.path())
        .args([
            "run",
            exp.to_str().unwrap(),
            "--out",
            "full",
            "-q",
            "--threads",
            "2",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = std::fs::read(dir.path().join("full/results.csv")).unwrap();
    assert!(
        !dir.path().join("full/checkpoint.jsonl").exists(),
        "a finished run removes its checkpoint"
    );

    // Interrupted: SIGKILL once part of the sweep is checkpointed.
    let mut child = xbar(dir.path())
        .args([
            "run",
            exp.to_str().unwrap(),
            "--out",
            "cut",
            "-q",
            "--threads",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cp = dir.path().join("cut/checkpoint.jsonl");
    let t0 = Instant::now();
    while lines(&cp) < 40 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no progress in the checkpoint"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let done = lines(&cp) - 1;
    assert!(done < total, "killed too late: {done} of {total} done");
    assert!(
        !dir.path().join("cut/results.csv").exists(),
        "no results file from a killed run"
    );
    // A write torn by the kill (or by a crash) must be tolerated.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&cp)
        .unwrap()
        .write_all(b"0123456789abcdef {\"scenario\":9")
        .unwrap();

    let o = xbar(dir.path())
        .args([
            "run",
            exp.to_str().unwrap(),
            "--out",
            "cut",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("resuming:") && err.contains(&format!("of {total} scenarios already done")),
        "{err}"
    );
    assert!(err.contains("torn checkpoint line dropped"), "{err}");
    let resumed = std::fs::read(dir.path().join("cut/results.csv")).unwrap();
    assert_eq!(
        resumed, reference,
        "resumed results differ from the uninterrupted run"
    );
    let text = String::from_utf8(resumed).unwrap();
    let ids: Vec<u32> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..total as u32).collect::<Vec<_>>(),
        "every scenario exactly once, in order"
    );
    assert!(!cp.exists());
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

// A correction study: the sweep is redone on restart (seconds), the trained correctors are
// journaled in checkpoint-correction.jsonl and not trained again.
const CORRECTION: &str = r#"
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

#[test]
fn killed_correction_study_resumes_without_retraining_and_gives_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("corr.toml");
    std::fs::write(&exp, CORRECTION).unwrap();
    let run = |out: &str| {
        let mut c = xbar(dir.path());
        c.args(["run", exp.to_str().unwrap(), "--out", out, "--threads", "2"]);
        c
    };
    let o = run("full").arg("-q").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = std::fs::read(dir.path().join("full/correction.csv")).unwrap();
    assert!(!dir.path().join("full/checkpoint-correction.jsonl").exists());

    let mut child = run("cut")
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cp = dir.path().join("cut/checkpoint-correction.jsonl");
    let total_jobs = 2 * 8 * 3;
    let t0 = Instant::now();
    while lines(&cp) < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no corrector journaled"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the study finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let journaled = lines(&cp) - 1;
    assert!(journaled < total_jobs, "killed too late");
    assert!(!dir.path().join("cut/correction.csv").exists());

    let o = run("cut").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("trained corrector(s) found"), "{err}");
    let resumed = std::fs::read(dir.path().join("cut/correction.csv")).unwrap();
    assert!(resumed == reference, "resumed correction.csv differs");
    assert!(!cp.exists());
}

//! Sharded runs (`xbar run --shard K/N`) merged by `xbar merge` give the unsharded run's
//! results, for every study kind and N = 1, 2, 3, 7 (N above the job count included); bad
//! shard sets are refused with a message that names the culprit; `xbar slurm` writes a job
//! array that a real one-node Slurm cluster runs to the same bytes; `xbar report` re-draws a
//! results folder of each kind into the same files.
//!
//! results.csv must be byte-identical. A study table with timing columns (`*_ms`, `*_s`:
//! seconds measured while the job ran) is compared without them, as the resume tests do.
#![allow(
    clippy::print_stderr,
    reason = "skips and timings are reported to the test log"
)]

mod common;
use common::without_timings;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn xbar(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xbar"));
    c.current_dir(dir).env("XBAR_CACHE_DIR", dir.join("cache"));
    c
}

fn ok(o: Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{what}: {err}");
    err
}

fn failed(o: Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{what} should fail: {err}");
    err
}

/// Runs `n` shards of `exp` (in parallel processes, one thread each) into `tag-K` folders.
fn run_shards(dir: &Path, exp: &Path, tag: &str, n: u32) -> Vec<PathBuf> {
    let children: Vec<_> = (0..n)
        .map(|k| {
            xbar(dir)
                .args(["-q", "run", exp.to_str().unwrap(), "--threads", "1"])
                .args([
                    "--shard",
                    &format!("{k}/{n}"),
                    "--out",
                    &format!("{tag}-{k}"),
                ])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, c) in children.into_iter().enumerate() {
        ok(
            c.wait_with_output().unwrap(),
            &format!("{tag}: shard {k}/{n}"),
        );
    }
    (0..n).map(|k| dir.join(format!("{tag}-{k}"))).collect()
}

fn merge(dir: &Path, shards: &[PathBuf], out: &str) -> Output {
    xbar(dir)
        .arg("merge")
        .args(shards)
        .args(["--out", out, "--threads", "2"])
        .output()
        .unwrap()
}

/// The unsharded run, then N = 1, 2, 3, 7 shards merged: every output in `outputs` must
/// match (results.csv byte for byte).
fn shards_merge_to_the_unsharded_run(toml: &str, study: &str, outputs: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = d.join("exp.toml");
    std::fs::write(&exp, toml).unwrap();
    ok(
        xbar(d)
            .args(["-q", "run", exp.to_str().unwrap(), "--out", "full"])
            .output()
            .unwrap(),
        "unsharded run",
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("full/manifest.json")).unwrap())
            .unwrap();
    let jobs = manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == study)
        .unwrap_or_else(|| panic!("no {study} stage"))["jobs"]
        .as_u64()
        .unwrap();
    redraw_gives_the_same_files(d, &d.join("full"));
    for n in [1u32, 2, 3, 7] {
        let shards = run_shards(d, &exp, &format!("n{n}"), n);
        // Each shard did its part of the study, and together they did all of it.
        let owned: u64 = shards
            .iter()
            .map(|s| {
                let m: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(s.join("shard.json")).unwrap())
                        .unwrap();
                m["stages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|st| st["name"] == study)
                    .unwrap()["owned"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(owned, jobs, "{study}: N = {n}");
        let out = format!("merged{n}");
        let err = ok(merge(d, &shards, &out), &format!("{study}: merge of {n}"));
        assert!(
            err.contains("resumed"),
            "{study}: the merge ran jobs again:\n{err}"
        );
        for f in outputs {
            let (a, b) = (d.join("full").join(f), d.join(&out).join(f));
            if *f == "results.csv" {
                assert_eq!(
                    std::fs::read(&a).unwrap(),
                    std::fs::read(&b).unwrap(),
                    "{study}: N = {n}: results.csv differs from the unsharded run"
                );
            } else {
                assert_eq!(
                    without_timings(&a),
                    without_timings(&b),
                    "{study}: N = {n}: {f} differs from the unsharded run"
                );
            }
        }
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(&out).join("manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m["merged_shards"], n, "{study}");
        let stage = m["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == study)
            .unwrap()
            .clone();
        assert_eq!(stage["resumed"], stage["jobs"], "{study}: N = {n}");
        assert!(
            !d.join(&out).join("checkpoint.jsonl").exists(),
            "the merge removes its journals"
        );
        assert!(d.join(&out).join("summary.md").exists());
    }
    if jobs < 7 {
        eprintln!("{study}: N = 7 exceeds the {jobs} jobs");
    }
}

/// The files of a folder (recursively), sorted, relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// `xbar report` on a copy of `full` without its plots and summary writes the same CSV
/// files, summary and SVG plots again (manifest.json differs only in its report time).
fn redraw_gives_the_same_files(d: &Path, full: &Path) {
    let copy = d.join("redrawn");
    std::fs::create_dir_all(&copy).unwrap();
    for f in files(full) {
        if f.starts_with("plots") || f == Path::new("summary.md") {
            continue;
        }
        std::fs::copy(full.join(&f), copy.join(&f)).unwrap();
    }
    ok(
        xbar(d).args(["report", "redrawn"]).output().unwrap(),
        "xbar report",
    );
    assert_eq!(files(full), files(&copy));
    for f in files(full) {
        let name = f.to_string_lossy();
        if name.ends_with(".csv") || name.ends_with(".svg") || name.ends_with(".md") {
            assert!(
                std::fs::read(full.join(&f)).unwrap() == std::fs::read(copy.join(&f)).unwrap(),
                "xbar report rewrote {name} differently"
            );
        }
    }
}

#[test]
fn sweep_shards_merge_byte_for_byte() {
    // Two sweeps of different cost classes, one with a single job (N = 7 > its jobs).
    let toml = r#"
name = "sharded-sweep"
seed = 21
[[sweep]]
shape = "circle"
sizes = [0.2, 0.4]
layers = [0, 3]
repeats = 2
[[sweep]]
shape = "checkerboard"
layers = [1]
"#;
    shards_merge_to_the_unsharded_run(toml, "sweep", &["results.csv"]);
}

#[test]
fn sweep_with_chip_and_variability_shards_merge_byte_for_byte() {
    let toml = r#"
name = "sharded-chip"
seed = 2
[device]
sigma-gap-nm = 0.02
[chip]
array = [32, 32]
[[sweep]]
shape = "circle"
sizes = [0.2, 0.5]
layers = [0]
placement = "die"
"#;
    shards_merge_to_the_unsharded_run(toml, "sweep", &["results.csv"]);
}

#[test]
fn correction_shards_merge() {
    let toml = r#"
name = "sharded-correction"
seed = 3
[[sweep]]
shape = "circle"
sizes = [0.2, 0.4]
layers = [3]
[[sweep]]
shape = "rows"
sizes = [0.1]
layers = [3]
[correction]
architectures = [[10, 10], [6]]
protocols = ["paper"]
cross = false
epochs = 20
holdout = 200
"#;
    shards_merge_to_the_unsharded_run(toml, "correction", &["results.csv", "correction.csv"]);
}

#[test]
fn detection_shards_merge() {
    let toml = r#"
name = "sharded-detection"
seed = 5
[detection]
[[sweep]]
shape = "random"
sizes = [0.01, 0.05]
repeats = 3
"#;
    shards_merge_to_the_unsharded_run(toml, "detection", &["results.csv", "detection.csv"]);
}

#[test]
fn crossbar_repair_shards_merge() {
    let toml = r#"
name = "sharded-repair"
seed = 3
[crossbar-repair]
finetune-epochs = 1
[[sweep]]
shape = "random"
sizes = [0.004, 0.02]
layers = [0, 1]
repeats = 2
"#;
    shards_merge_to_the_unsharded_run(toml, "crossbar-repair", &["results.csv", "repair.csv"]);
}

#[test]
fn phase_transition_shards_merge() {
    let toml = r#"
name = "sharded-phase"
seed = 9
[phase-transition]
unknowns = [200]
errors = 5
offsets = [-10, 0, 10]
trials = 4
"#;
    shards_merge_to_the_unsharded_run(toml, "phase-transition", &["phase.csv"]);
}

#[test]
fn mnist_repair_shards_merge() {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let toml = format!(
        r#"
name = "sharded-mnist"
seed = 4
[mnist-repair]
mnist-dir = {:?}
train-images = 600
test-images = 200
epochs = 1
errors = [20]
trials = 3
"#,
        mnist.display().to_string()
    );
    shards_merge_to_the_unsharded_run(&toml, "mnist-repair", &["mnist-repair.csv"]);
}

const SMALL: &str = r#"
name = "small"
seed = 8
[[sweep]]
shape = "circle"
sizes = [0.2, 0.3, 0.4]
layers = [2, 3]
"#;

#[test]
fn bad_shard_sets_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = d.join("small.toml");
    std::fs::write(&exp, SMALL).unwrap();
    let shards = run_shards(d, &exp, "s", 3);

    // A missing shard.
    let err = failed(merge(d, &shards[..2], "m"), "missing shard");
    assert!(err.contains("1 of 3 shards missing: 2/3"), "{err}");
    assert!(
        !d.join("m").exists(),
        "nothing written before the checks pass"
    );
    // A shard given twice.
    let err = failed(
        merge(
            d,
            &[shards[0].clone(), shards[1].clone(), shards[1].clone()],
            "m",
        ),
        "duplicate",
    );
    assert!(
        err.contains("shard 1/3 is given twice") && err.contains("s-1"),
        "{err}"
    );
    // A shard of another configuration.
    let other = d.join("other.toml");
    std::fs::write(&other, SMALL.replace("seed = 8", "seed = 9")).unwrap();
    let foreign = run_shards(d, &other, "o", 3);
    let err = failed(
        merge(
            d,
            &[shards[0].clone(), shards[1].clone(), foreign[2].clone()],
            "m",
        ),
        "foreign",
    );
    assert!(
        err.contains("o-2") && err.contains("another configuration"),
        "{err}"
    );
    // Shards of another split.
    let two = run_shards(d, &exp, "t", 2);
    let err = failed(
        merge(d, &[shards[0].clone(), two[1].clone()], "m"),
        "other split",
    );
    assert!(err.contains("same number of ways"), "{err}");
    // An unfinished shard (no shard.json yet).
    std::fs::remove_file(shards[2].join("shard.json")).unwrap();
    let err = failed(merge(d, &shards, "m"), "unfinished");
    assert!(
        err.contains("s-2") && err.contains("not a finished shard"),
        "{err}"
    );
    // Re-running it resumes: nothing is recomputed, and the set merges.
    let o = xbar(d)
        .args([
            "run",
            exp.to_str().unwrap(),
            "--shard",
            "2/3",
            "--out",
            "s-2",
        ])
        .output()
        .unwrap();
    let err = ok(o, "re-run of shard 2");
    assert!(err.contains("resuming sweep"), "{err}");
    // A journal line removed after the shard finished is named as missing.
    let journal = shards[1].join("checkpoint.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&journal, cut[..cut.len() - 1].join("\n") + "\n").unwrap();
    let err = failed(merge(d, &shards, "m"), "missing job");
    assert!(err.contains("in no shard's journal"), "{err}");
    std::fs::write(&journal, text).unwrap();
    // A FIFO in place of a shard manifest is refused, not waited on.
    let manifest = shards[0].join("shard.json");
    let saved = std::fs::read(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    let made = Command::new("mkfifo").arg(&manifest).status().unwrap();
    assert!(made.success());
    let err = failed(merge(d, &shards, "m"), "fifo");
    assert!(err.contains("FIFO"), "{err}");
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&manifest, saved).unwrap();
    // `xbar report` on a folder that is not a results folder says so.
    let err = failed(
        xbar(d).args(["report", "s-0"]).output().unwrap(),
        "report of a shard folder",
    );
    assert!(err.contains("manifest.json"), "{err}");
    // Merging into a shard's own folder is refused; a good set merges.
    let err = failed(merge(d, &shards, "s-0"), "out = shard");
    assert!(err.contains("merge into a new folder"), "{err}");
    ok(merge(d, &shards, "m"), "good merge");
    // Bad --shard values never touch the output folder.
    for bad in ["3/3", "1", "0/0", "x/2"] {
        let o = xbar(d)
            .args(["run", exp.to_str().unwrap(), "--shard", bad, "--out", "bad"])
            .output()
            .unwrap();
        let err = failed(o, bad);
        assert!(err.contains("K/N"), "{bad}: {err}");
        assert!(!d.join("bad").exists(), "{bad}");
    }
}

#[test]
fn slurm_scripts_are_written_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exp = d.join("small.toml");
    std::fs::write(&exp, SMALL).unwrap();
    let o = xbar(d)
        .args([
            "slurm",
            exp.to_str().unwrap(),
            "--shards",
            "4",
            "--out",
            "it's here",
        ])
        .args([
            "--partition",
            "debug",
            "--time",
            "10:00",
            "--cpus",
            "2",
            "--mem",
            "2G",
        ])
        .output()
        .unwrap();
    ok(o, "xbar slurm");
    let slurm = d.join("it's here/slurm");
    let array = std::fs::read_to_string(slurm.join("array.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-3",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --partition=debug",
        "#SBATCH --time=10:00",
        "#SBATCH --mem=2G",
        "--shard \"$SLURM_ARRAY_TASK_ID/4\"",
        r"'\''s here'/shards/",
    ] {
        assert!(array.contains(want), "{want} not in:\n{array}");
    }
    let merge = std::fs::read_to_string(slurm.join("merge.sbatch")).unwrap();
    assert!(
        merge.contains("/shards/3") && !merge.contains("/shards/4"),
        "{merge}"
    );
    let submit = std::fs::read_to_string(slurm.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=afterok:"), "{submit}");
    // Each script is valid shell.
    for f in ["array.sbatch", "merge.sbatch", "submit.sh"] {
        let o = Command::new("bash")
            .arg("-n")
            .arg(slurm.join(f))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for (args, want) in [
        (vec!["--shards", "0"], "--shards 0"),
        (vec!["--shards", "2", "--time", "1h"], "--time"),
        (vec!["--shards", "2", "--partition", "a b"], "--partition"),
        (vec!["--shards", "2", "--cpus", "0"], "--cpus 0"),
    ] {
        let o = xbar(d)
            .args(["slurm", exp.to_str().unwrap(), "--out", "bad"])
            .args(&args)
            .output()
            .unwrap();
        let err = failed(o, want);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// Whether a Slurm cluster answers here; in CI (`XBAR_REQUIRE_SLURM=1`, after
/// scripts/slurm-up.sh) it must.
fn slurm_available() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| ["idle", "mixed", "allocated"].contains(&l.trim()))
        });
    if !up {
        assert!(
            std::env::var_os("XBAR_REQUIRE_SLURM").is_none(),
            "XBAR_REQUIRE_SLURM is set but no Slurm cluster answers (run scripts/slurm-up.sh)"
        );
        eprintln!(
            "SKIPPED slurm_job_array_merges_to_the_unsharded_run: no Slurm cluster here \
             (scripts/slurm-up.sh starts one; CI sets XBAR_REQUIRE_SLURM=1)"
        );
    }
    up
}

#[test]
fn slurm_job_array_merges_to_the_unsharded_run() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = dir.path();
    let exp = d.join("exp.toml");
    std::fs::write(
        &exp,
        r#"
name = "slurm-e2e"
seed = 12
[[sweep]]
shape = "circle"
sizes = [0.2, 0.4]
layers = [0, 1, 2, 3]
repeats = 3
"#,
    )
    .unwrap();
    ok(
        xbar(d)
            .args(["-q", "run", exp.to_str().unwrap(), "--out", "full"])
            .output()
            .unwrap(),
        "unsharded run",
    );
    let t0 = Instant::now();
    ok(
        xbar(d)
            .args([
                "slurm",
                exp.to_str().unwrap(),
                "--shards",
                "3",
                "--out",
                "cluster",
            ])
            .output()
            .unwrap(),
        "xbar slurm",
    );
    let o = Command::new("bash")
        .arg(d.join("cluster/slurm/submit.sh"))
        .env("XBAR_CACHE_DIR", d.join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    let ids: Vec<&str> = said
        .split_whitespace()
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(ids.len(), 2, "{said}");
    let job_list = ids.join(",");
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &job_list, "-o", "%i %T"])
            .output()
            .unwrap();
        let pending = String::from_utf8_lossy(&q.stdout).into_owned();
        if pending.trim().is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "the Slurm jobs did not finish in 10 minutes: {pending}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let show = Command::new("scontrol")
        .args(["-o", "show", "job", ids[1]])
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&show.stdout).into_owned();
    let logs = d.join("cluster/slurm/logs");
    let log = |f: &str| std::fs::read_to_string(logs.join(f)).unwrap_or_default();
    assert!(
        state.contains("JobState=COMPLETED"),
        "merge job: {state}\nmerge log:\n{}\nshard 0 log:\n{}",
        log("merge.log"),
        log("shard-0.log")
    );
    assert_eq!(
        std::fs::read(d.join("full/results.csv")).unwrap(),
        std::fs::read(d.join("cluster/results.csv")).unwrap(),
        "the Slurm run's results.csv differs from the unsharded run"
    );
    eprintln!(
        "slurm: 3 shards + merge finished in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

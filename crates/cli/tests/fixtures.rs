//! Every malformed input in `tests/fixtures/bad/` must be rejected by `xbar check` with exit
//! code 2 and a message that names the file and contains each `# expect:` line of the
//! fixture (key path or line:column, the bad value, what is allowed), all problems at once,
//! and never a panic.

use std::path::Path;
use std::process::Command;

#[test]
fn every_bad_fixture_fails_with_exit_2_and_a_precise_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "fixtures missing: {files:?}");
    let cache = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let expects: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expects.is_empty(), "{} has no # expect: line", f.display());
        let out = Command::new(env!("CARGO_BIN_EXE_xbar"))
            .arg("check")
            .arg(f)
            .current_dir(&dir)
            .env("XBAR_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let name = f.file_name().unwrap().to_string_lossy();
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}", out.status.code()));
        }
        if !err.contains(name.as_ref()) {
            problems.push("the file is not named".to_string());
        }
        if err.contains("panicked") {
            problems.push("panic".to_string());
        }
        for e in &expects {
            if !err.contains(e) {
                problems.push(format!("missing {e:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{err}", problems.join(", ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

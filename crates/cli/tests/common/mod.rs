//! Helpers shared by the end-to-end tests of the `xbar` binary.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `xbar args` in `cwd` with the weight cache under `cwd/cache`.
pub(crate) fn xbar(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xbar"))
        .args(args)
        .current_dir(cwd)
        .env("XBAR_CACHE_DIR", cwd.join("cache"))
        .output()
        .unwrap()
}

/// `xbar run FILE --out OUT --threads N [extra...]` in `cwd`.
pub(crate) fn run_with_threads(
    file: &Path,
    out: &Path,
    threads: &str,
    extra: &[&str],
    cwd: &Path,
) -> Output {
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        threads,
    ];
    args.extend_from_slice(extra);
    xbar(&args, cwd)
}

/// The process's standard error as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The process's standard output as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `text` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A CSV without its timing columns (headers ending in `_ms` or `_s`: seconds measured while
/// a job ran, which differ between runs of the same jobs).
pub(crate) fn without_timings(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let keep: Vec<usize> = rows[0]
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.ends_with("_ms") && !h.ends_with("_s"))
        .map(|(i, _)| i)
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|&i| &r[i]).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join("\n")
}

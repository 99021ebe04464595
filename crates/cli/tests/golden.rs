//! The golden digest: a small reference run (tests/fixtures/golden/reference.toml) must give
//! exactly the stored `results.csv`, byte for byte, at any thread count.
//!
//! Re-make it after an intended change of results with
//! `XBAR_BLESS=1 cargo test -p xbar-cli --test golden`, and explain the change in the commit.

use std::path::Path;
use std::process::Command;

/// FNV-1a, 64 bit (the same hash the runner uses for streams).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[test]
fn reference_run_matches_the_golden_digest() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_xbar"))
        .args(["run", "-q", "--threads", "2", "--out"])
        .arg(&out)
        .arg(golden.join("reference.toml"))
        .env("XBAR_CACHE_DIR", tmp.path().join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read(out.join("results.csv")).unwrap();
    let digest = format!(
        "fnv1a64 {:016x} rows {}\n",
        fnv1a64(&csv),
        csv.iter().filter(|&&b| b == b'\n').count() - 1
    );
    if std::env::var_os("XBAR_BLESS").is_some() {
        std::fs::write(golden.join("reference-results.csv"), &csv).unwrap();
        std::fs::write(golden.join("reference.digest"), &digest).unwrap();
    }
    let want_csv = std::fs::read_to_string(golden.join("reference-results.csv")).unwrap();
    let want_digest = std::fs::read_to_string(golden.join("reference.digest")).unwrap();
    let have = String::from_utf8(csv).unwrap();
    if have != want_csv {
        let diff: Vec<String> = have
            .lines()
            .zip(want_csv.lines())
            .filter(|(a, b)| a != b)
            .take(5)
            .map(|(a, b)| format!("  now:    {a}\n  golden: {b}"))
            .collect();
        panic!(
            "results.csv differs from the golden run ({} vs {} lines):\n{}\n\
             If the change is intended, re-make it: XBAR_BLESS=1 cargo test -p xbar-cli --test golden",
            have.lines().count(),
            want_csv.lines().count(),
            diff.join("\n")
        );
    }
    assert_eq!(digest, want_digest);
}

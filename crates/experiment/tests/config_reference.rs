//! docs/config-reference.md is generated from the configuration structs; these tests fail
//! when it is stale, when a key has no example, when an example does not parse, or when a
//! key's description forgets its default.
//!
//! Re-make the file with `cargo run --release -- reference > docs/config-reference.md`
//! (or run this test with `XBAR_BLESS=1`).

use std::path::PathBuf;

use xbar_experiment::raw::RawExperiment;
use xbar_experiment::{EXAMPLES, config_reference, example, key_docs};

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/config-reference.md")
}

#[test]
fn docs_config_reference_is_current() {
    let want = config_reference();
    let path = doc_path();
    if std::env::var_os("XBAR_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/config-reference.md is stale: run `cargo run --release -- reference > docs/config-reference.md` \
         (or XBAR_BLESS=1 cargo test -p xbar-experiment --test config_reference)"
    );
}

#[test]
fn every_key_has_an_example_and_a_stated_default() {
    let docs = key_docs();
    let mut missing = Vec::new();
    let mut no_default = Vec::new();
    let mut paths = Vec::new();
    for (_, keys) in &docs {
        for k in keys {
            paths.push(k.path.clone());
            if k.table.is_none() && example(&k.path).is_none() {
                missing.push(k.path.clone());
            }
            let d = k.description.to_lowercase();
            if k.table.is_none() && !k.required && !d.contains("default") {
                no_default.push(k.path.clone());
            }
        }
    }
    assert!(missing.is_empty(), "keys without an example: {missing:?}");
    assert!(
        no_default.is_empty(),
        "optional keys whose doc comment states no default: {no_default:?}"
    );
    // No example for a key that no longer exists.
    let stale: Vec<&str> = EXAMPLES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !paths.iter().any(|q| q == p))
        .collect();
    assert!(stale.is_empty(), "examples of unknown keys: {stale:?}");
    // The reference covers the tables users write.
    for t in [
        "device",
        "network",
        "circuit",
        "wires",
        "sweep",
        "correction",
        "detection",
        "phase-transition",
        "mnist-repair",
        "crossbar-repair",
    ] {
        assert!(paths.iter().any(|p| p == t), "{t} missing");
    }
}

/// Puts `value` at the dotted `path` of `table`, creating tables (and the one `[[sweep]]`).
fn insert(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap();
    let mut t = table;
    for p in parts {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(x) => x,
            toml::Value::Array(a) => a[0].as_table_mut().unwrap(),
            _ => unreachable!(),
        };
    }
    t.insert(last.to_string(), value);
}

#[test]
fn every_example_parses_with_its_documented_type() {
    for (path, ex) in EXAMPLES {
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {ex}"))
            .unwrap_or_else(|e| panic!("{path}: example {ex} is not TOML: {e}"))
            .remove("v")
            .unwrap();
        if let Some(card_key) = path.strip_prefix("card.") {
            let mut t: toml::Table = toml::from_str(xbar_device::DEFAULT_CARD_TOML).unwrap();
            insert(&mut t, card_key, value);
            let text = toml::to_string(&t).unwrap();
            toml::from_str::<xbar_device::RawCard>(&text)
                .unwrap_or_else(|e| panic!("{path} = {ex}: {e}"));
            continue;
        }
        let mut t: toml::Table =
            toml::from_str("name = \"x\"\n[[sweep]]\nshape = \"circle\"\n").unwrap();
        insert(&mut t, path, value);
        let text = toml::to_string(&t).unwrap();
        toml::from_str::<RawExperiment>(&text).unwrap_or_else(|e| panic!("{path} = {ex}: {e}"));
    }
}

//! docs/config-reference.md is generated from the configuration structs; these tests fail
//! when it is stale, when a key has no example, when an example does not parse, or when a
//! key's description forgets its default.
//!
//! Re-make the file with `cargo run --release -- reference > docs/config-reference.md`
//! (or run this test with `XBAR_BLESS=1`).

use std::path::PathBuf;

use xbar_experiment::raw::RawExperiment;
use xbar_experiment::{Experiment, KEYS, config_reference, default_of, example, key_docs};

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
            if k.table.is_none()
                && !k.required
                && !k.path.starts_with("card")
                && default_of(&k.path).is_none()
            {
                no_default.push(k.path.clone());
            }
        }
    }
    assert!(missing.is_empty(), "keys without an example: {missing:?}");
    assert!(
        no_default.is_empty(),
        "optional keys without a default in KEYS: {no_default:?}"
    );
    // No example for a key that no longer exists.
    let stale: Vec<&str> = KEYS
        .iter()
        .map(|(p, _, _)| *p)
        .filter(|p| !paths.iter().any(|q| q == p))
        .collect();
    assert!(stale.is_empty(), "examples of unknown keys: {stale:?}");
    // The reference covers the tables users write.
    for t in [
        "device",
        "network",
        "dataset",
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
    for (path, _, ex) in KEYS.iter().filter(|k| k.2 != "-") {
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

#[test]
fn every_documented_default_is_the_applied_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mask.csv"), "0,1\n1,0\n").unwrap();
    let mnist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let paths: Vec<String> = key_docs()
        .into_iter()
        .flat_map(|(_, keys)| keys.into_iter().map(|k| k.path))
        .collect();
    let mut checked = 0;
    for (path, default, _) in KEYS {
        assert!(
            paths.iter().any(|p| p == path),
            "KEYS has unknown key {path}"
        );
        if *default == "-" || default.starts_with('(') {
            continue; // a rule, not a value
        }
        let (table, key) = path.split_once('.').unwrap_or(("", path));
        let shape = match key {
            "outer" => "ring",
            "clusters" => "clusters",
            "phase" => "checkerboard",
            "resample" => "mask\"\nfile = \"mask.csv",
            _ => "circle",
        };
        let sweep = format!("[[sweep]]\nshape = \"{shape}\"\n");
        let base = match table {
            "phase-transition" => "name = \"t\"\n[phase-transition]\n".to_string(),
            "mnist-repair" => format!(
                "name = \"t\"\n[mnist-repair]\nmnist-dir = {:?}\n",
                mnist.display().to_string()
            ),
            "correction" | "detection" | "crossbar-repair" => {
                format!("name = \"t\"\n[{table}]\n{sweep}")
            }
            "chip" => format!("name = \"t\"\n[chip]\narray = [32, 32]\nadc-bits = 8\n{sweep}"),
            _ => format!("name = \"t\"\n{sweep}"),
        };
        let key_path = if table == "sweep" {
            format!("sweep.0.{key}")
        } else {
            path.to_string()
        };
        let load = |set: &[String]| {
            let mut e = Experiment::from_toml_with(&base, "t.toml", Some(dir.path()), set)
                .unwrap_or_else(|e| panic!("{path} = {default}: {e}"));
            e.origin.clear();
            e.overrides.clear();
            e
        };
        assert_eq!(
            load(&[format!("{key_path}={default}")]),
            load(&[]),
            "{path}: the documented default {default} is not the applied one"
        );
        checked += 1;
    }
    assert!(checked > 60, "only {checked} defaults checked");
}

//! `docs/config-reference.md`, generated from the configuration structs.
//!
//! The key list, the types and the descriptions come from the raw serde structs ([`crate::raw`]
//! and the device card's [`xbar_device::RawCard`]) through their JSON schema (schemars reads
//! the doc comments, which state units, ranges and defaults). Only the example values live
//! here, in [`KEYS`]; a test fails when a key has no example, when an example does not
//! parse, or when the file on disk differs from [`config_reference`].

use std::fmt::Write as _;

use schemars::{JsonSchema, schema_for};
use serde_json::{Map, Value};

use crate::raw::RawExperiment;

/// Every key of an experiment file (and, `card.`, of a device card): its default and an
/// example value. A default is a TOML value, or a rule in parentheses when it depends on other
/// keys (`-`: none documented, for tables and card keys). The reference's `default` and
/// `example` columns are this table; `tests/config_reference.rs` checks that every example
/// parses, and that writing each literal default into a file resolves to the same experiment
/// as leaving the key out (the documented default is the applied one).
pub const KEYS: &[(&str, &str, &str)] = &[
    ("name", "-", r#""layer-sensitivity""#),
    ("description", r#""""#, r#""Fig. 4 of Sawal & Wong 2025""#),
    ("seed", "2025", "2025"),
    ("export", "[]", r#"["conductances", "masks"]"#),
    ("device.card", r#""hfox-stanford""#, r#""hfox-linear""#),
    ("device.iv", "(the card's read law)", r#""linear""#),
    ("device.sigma-gap-nm", "0.0", "0.05"),
    ("device.levels", "0", "16"),
    (
        "network.onnx",
        "(none: train in-tool)",
        r#""models/mnist-lenet.onnx""#,
    ),
    ("network.npz", "(none: train in-tool)", r#""weights.npz""#),
    ("network.input", "(required with npz)", "[1, 28, 28]"),
    (
        "network.layers",
        "(required with npz)",
        r#"[{ kind = "flatten" }, { kind = "dense", weight = "fc.weight", bias = "fc.bias", transpose = true }]"#,
    ),
    ("network.dataset", r#""digits""#, r#""digits""#),
    ("network.hidden", "[50, 20, 8]", "[50, 20, 8]"),
    ("network.test-size", "180", "180"),
    ("network.split-seed", "0", "0"),
    ("network.epochs", "80", "80"),
    ("network.batch-size", "32", "32"),
    ("network.learning-rate", "2e-3", "2e-3"),
    ("network.l2", "1e-3", "1e-3"),
    ("network.train-seed", "0", "0"),
    (
        "dataset.npz",
        "(one of npz, idx, csv)",
        r#""mnist-test.npz""#,
    ),
    (
        "dataset.idx",
        "(one of npz, idx, csv)",
        r#"["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]"#,
    ),
    (
        "dataset.train-idx",
        "(none: calibrate on test samples)",
        r#"["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]"#,
    ),
    ("dataset.csv", "(one of npz, idx, csv)", r#""test.csv""#),
    (
        "dataset.train-csv",
        "(none: calibrate on test samples)",
        r#""train.csv""#,
    ),
    (
        "dataset.input-max",
        "(largest |x| of the training samples)",
        "1.0",
    ),
    ("dataset.test-limit", "(all test samples)", "1000"),
    ("dataset.train-limit", "(all training samples)", "5000"),
    ("dataset.calibration-size", "(2000)", "500"),
    ("circuit.v-in-max", "0.1", "0.1"),
    ("circuit.v-bias", "(v-in-max)", "0.1"),
    ("circuit.g-zero-siemens", "(the device's G_min)", "1e-5"),
    ("circuit.r-load", r#""calibrated""#, r#""calibrated""#),
    ("circuit.rail-volts", "(none: no clamp)", "0.5"),
    ("circuit.mapping", r#""offset""#, r#""balanced""#),
    ("circuit.op-amp-gain", "(infinite)", "1e5"),
    ("wires.r-row-ohms", "0.0", "1.0"),
    ("wires.r-col-ohms", "0.0", "1.0"),
    ("wires.r-source-ohms", "0.0", "10.0"),
    ("wires.r-in-ohms", "0.0", "5.0"),
    (
        "wires.segment-ohms",
        "(none: one setting)",
        "[0.0, 0.5, 1.0, 2.0]",
    ),
    ("chip.array", "(none: one array per layer)", "[32, 32]"),
    ("chip.adc-bits", "(none: fully analog periphery)", "8"),
    ("chip.adc-range", r#""calibrated""#, "0.25"),
    ("sweep.shape", "-", r#""ring""#),
    (
        "sweep.label",
        "(the shape, plus an off-middle centre)",
        r#""ring, off-centre""#,
    ),
    (
        "sweep.sizes",
        "(the paper's sizes for the shape)",
        "[0.40, 0.36, 0.32, 0.28]",
    ),
    ("sweep.counts", "(none: use sizes)", "[1, 2, 4]"),
    ("sweep.outer", "0.5", "0.5"),
    ("sweep.center", "[0.5, 0.5]", "[0.25, 0.75]"),
    ("sweep.clusters", "3", "3"),
    ("sweep.phase", "0", "1"),
    (
        "sweep.file",
        "(none; required for mask)",
        r#""masks/wafer-spot.csv""#,
    ),
    ("sweep.resample", "false", "true"),
    ("sweep.layers", "(every layer)", "[0, 3]"),
    ("sweep.layer-sets", "(none: use layers)", "[[0, 3]]"),
    ("sweep.states", r#"["off"]"#, r#"["off", "on"]"#),
    ("sweep.p-on", "0.5", "0.5"),
    ("sweep.level", r#""pair""#, r#""device""#),
    ("sweep.placement", r#""layer""#, r#""die""#),
    ("sweep.repeats", "1", "3"),
    (
        "correction.architectures",
        "(the paper's Table II plus [4, 4])",
        "[[10, 10], [6]]",
    ),
    (
        "correction.protocols",
        r#"["paper", "by-image"]"#,
        r#"["paper"]"#,
    ),
    ("correction.cross", "true", "false"),
    ("correction.epochs", "40", "40"),
    ("correction.batch-size", "64", "64"),
    ("correction.learning-rate", "3e-3", "3e-3"),
    ("correction.l2", "1e-5", "1e-5"),
    ("correction.seed", "0", "0"),
    ("correction.holdout", "1000", "1000"),
    ("correction.train-fraction", "0.8", "0.8"),
    ("correction.export-samples", "false", "true"),
    (
        "detection.codes",
        r#"["rnecc", "lhc", "secded", "wcs", "an"]"#,
        r#"["secded", "an"]"#,
    ),
    ("detection.sigma-read-volts", "1e-4", "1e-4"),
    ("detection.kappa", "4.0", "4.0"),
    ("detection.images", "1797", "200"),
    ("detection.input-faults", "false", "true"),
    (
        "phase-transition.unknowns",
        "[3584, 10000]",
        "[3584, 10000]",
    ),
    ("phase-transition.errors", "100", "100"),
    (
        "phase-transition.constraints",
        "[100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]",
        "[400, 450, 500, 550, 600]",
    ),
    (
        "phase-transition.offsets",
        "(none: use constraints)",
        "[-50, -25, 0, 25, 50]",
    ),
    ("phase-transition.trials", "100", "100"),
    ("phase-transition.decoder", r#""l1""#, r#""l1""#),
    (
        "mnist-repair.mnist-dir",
        "(the first data/mnist above the file)",
        r#""../../data/mnist""#,
    ),
    ("mnist-repair.train-images", "60000", "60000"),
    ("mnist-repair.test-images", "10000", "10000"),
    ("mnist-repair.epochs", "8", "8"),
    ("mnist-repair.batch-size", "128", "128"),
    ("mnist-repair.learning-rate", "1e-3", "1e-3"),
    ("mnist-repair.l2", "1e-4", "1e-4"),
    ("mnist-repair.train-seed", "0", "0"),
    ("mnist-repair.group-inputs", "14", "14"),
    ("mnist-repair.design-errors", "10", "10"),
    ("mnist-repair.type1-per-group", "(the design rule)", "110"),
    ("mnist-repair.output-checks", "16", "16"),
    ("mnist-repair.finetune-epochs", "0", "1"),
    ("mnist-repair.finetune-learning-rate", "1e-4", "1e-4"),
    (
        "mnist-repair.errors",
        "[70, 140, 210, 280, 350, 420]",
        "[70, 140, 210, 280, 350, 420]",
    ),
    ("mnist-repair.error-std", "5.0", "5.0"),
    ("mnist-repair.trials", "10", "10"),
    ("mnist-repair.datapath-errors", "2", "2"),
    ("mnist-repair.datapath-std", "5.0", "5.0"),
    ("mnist-repair.decoder", r#""cascade""#, r#""cascade""#),
    ("crossbar-repair.group-rows", "13", "13"),
    ("crossbar-repair.design-errors", "8", "8"),
    ("crossbar-repair.finetune-epochs", "10", "10"),
    ("crossbar-repair.decoder", r#""cascade""#, r#""cascade""#),
    ("card.name", "-", r#""hfox-stanford""#),
    (
        "card.description",
        "-",
        r#""HfOx cell, Stanford RRAM model defaults""#,
    ),
    ("card.source", "-", r#""Jiang & Wong 2014, nanoHUB""#),
    ("card.model.i0-amps", "-", "1e-3"),
    ("card.model.g0-nm", "-", "0.25"),
    ("card.model.v0-volts", "-", "0.25"),
    ("card.model.gap-min-nm", "-", "0.2"),
    ("card.model.gap-max-nm", "-", "1.7"),
    ("card.model.iv", "-", r#""sinh""#),
    ("device", "(the defaults of its keys)", "-"),
    ("network", "(the defaults of its keys)", "-"),
    ("circuit", "(the defaults of its keys)", "-"),
    ("wires", "(ideal wires)", "-"),
    ("sweep", "(none; needed unless a standalone study)", "-"),
    ("correction", "(none)", "-"),
    ("detection", "(none)", "-"),
    ("phase-transition", "(none)", "-"),
    ("mnist-repair", "(none)", "-"),
    ("crossbar-repair", "(none)", "-"),
    ("dataset", "(none)", "-"),
];

/// The default of `path` (see [`KEYS`]).
pub fn default_of(path: &str) -> Option<&'static str> {
    KEYS.iter()
        .find(|(p, d, _)| *p == path && *d != "-")
        .map(|(_, d, _)| *d)
}

/// One documented key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyDoc {
    /// Dotted path, e.g. `circuit.v-in-max` (`card.` for device card files).
    pub path: String,
    /// Human-readable type, e.g. `float`, `list of integers`, `table`.
    pub ty: String,
    /// The key must be present.
    pub required: bool,
    /// The doc comment of the field (units, range, default).
    pub description: String,
    /// Sub-table this key opens, if any (its keys follow as their own section).
    pub table: Option<String>,
}

fn defs(root: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    root.get("$defs")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The definition a `$ref` points at.
fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or(r);
            defs(root).get(name).unwrap_or(v)
        }
        None => v,
    }
}

/// Strips `null` alternatives (an `Option`) and returns the remaining schema.
fn non_null(v: &Value) -> &Value {
    if let Some(alts) = v.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = alts
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if rest.len() == 1 {
            return rest[0];
        }
    }
    v
}

fn is_table(root: &Value, v: &Value) -> bool {
    let d = resolve(root, non_null(v));
    d.get("properties").is_some()
}

fn type_name(root: &Value, v: &Value) -> String {
    let v = non_null(v);
    let d = resolve(root, v);
    if d.get("properties").is_some() {
        return "table".into();
    }
    if let Some(alts) = d
        .get("anyOf")
        .or_else(|| d.get("oneOf"))
        .and_then(Value::as_array)
    {
        let mut names: Vec<String> = Vec::new();
        for a in alts
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
        {
            let name = match a.get("const").and_then(Value::as_str) {
                Some(c) => format!("`\"{c}\"`"),
                None => type_name(root, a),
            };
            // Variants of a tagged enum are all "table": say it once.
            if !names.contains(&name) {
                names.push(name);
            }
        }
        return names.join(" or ");
    }
    if let Some(e) = d.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .filter_map(Value::as_str)
            .map(|c| format!("`\"{c}\"`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    let ty = match d.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any")
            .to_string(),
        _ => "any".into(),
    };
    match ty.as_str() {
        "number" => "float".into(),
        "integer" => "integer".into(),
        "boolean" => "boolean".into(),
        "string" => "string".into(),
        "array" => {
            let item = d.get("items").map_or("any".into(), |i| type_name(root, i));
            let n = d.get("minItems").and_then(Value::as_u64);
            match (n, d.get("maxItems").and_then(Value::as_u64)) {
                (Some(a), Some(b)) if a == b => format!("{a} x {item}"),
                _ => format!("list of {item}"),
            }
        }
        other => other.into(),
    }
}

fn description(v: &Value) -> String {
    let text = v
        .get("description")
        .or_else(|| non_null(v).get("description"))
        .and_then(Value::as_str)
        .unwrap_or("");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every key of the struct schema `table` (at `prefix`), then the keys of its sub-tables.
fn walk(root: &Value, table: &Value, prefix: &str, out: &mut Vec<(String, Vec<KeyDoc>)>) {
    let d = resolve(root, non_null(table));
    let required: Vec<&str> = d
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut keys = Vec::new();
    let mut subs = Vec::new();
    if let Some(props) = d.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            // A list of tables (`[[sweep]]`) documents its item's keys.
            let item = non_null(p).get("items").filter(|i| is_table(root, i));
            let sub = if is_table(root, p) {
                Some(non_null(p))
            } else {
                item
            };
            keys.push(KeyDoc {
                ty: match (sub.is_some(), item.is_some()) {
                    (true, true) => "list of tables".into(),
                    (true, false) => "table".into(),
                    _ => type_name(root, p),
                },
                required: required.contains(&name.as_str()),
                description: description(p),
                table: sub.map(|_| path.clone()),
                path: path.clone(),
            });
            if let Some(s) = sub {
                subs.push((path, s));
            }
        }
    }
    out.push((prefix.to_string(), keys));
    for (path, s) in subs {
        walk(root, s, &path, out);
    }
}

fn sections_of<T: JsonSchema>(prefix: &str) -> Vec<(String, Vec<KeyDoc>)> {
    let schema = schema_for!(T);
    let root = schema.as_value();
    let mut out = Vec::new();
    walk(root, root, prefix, &mut out);
    out
}

/// Every documented key of experiment files and device cards, grouped by table.
pub fn key_docs() -> Vec<(String, Vec<KeyDoc>)> {
    let mut out = sections_of::<RawExperiment>("");
    out.extend(sections_of::<xbar_device::RawCard>("card"));
    out
}

/// The example value of `path`, if [`KEYS`] has one.
pub fn example(path: &str) -> Option<&'static str> {
    KEYS.iter()
        .find(|(p, _, e)| *p == path && *e != "-")
        .map(|(_, _, e)| *e)
}

fn heading(section: &str) -> String {
    match section {
        "" => "Top level of an experiment file".into(),
        "sweep" => "`[[sweep]]` (one or more)".into(),
        "card" => "Device card files (`devices/*.toml`, `[device] card = \"path.toml\"`)".into(),
        s if s.starts_with("card.") => format!("`[{}]` of a device card", &s[5..]),
        s => format!("`[{s}]`"),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown text of `docs/config-reference.md`.
///
/// ```
/// let md = xbar_experiment::config_reference();
/// assert!(md.contains("| `v-in-max` |"));
/// assert!(md.contains("## `[wires]`"));
/// ```
pub fn config_reference() -> String {
    let mut s = String::new();
    s.push_str(
        "# Configuration reference\n\n\
         <!-- Generated by `xbar reference` from the configuration structs (crates/experiment/src/raw.rs,\n\
         crates/device/src/card.rs). Do not edit: change the doc comments, then run\n\
         `cargo run --release -- reference > docs/config-reference.md`.\n\
         `cargo test -p xbar-experiment --test config_reference` fails while this file is stale. -->\n\n\
         Every key an experiment file or a device card accepts. Keys are kebab-case; unknown keys,\n\
         wrong types and out-of-range values are errors that name the file, the key path, the value\n\
         and what is allowed (all problems at once). Units are part of the key names (`-volts`,\n\
         `-ohms`, `-nm`, `-siemens`, `-amps`). Relative paths resolve against the experiment file's\n\
         folder. `xbar check FILE` prints the resolved configuration; docs/experiments.md explains\n\
         the concepts with worked examples.\n",
    );
    for (section, keys) in key_docs() {
        let _ = writeln!(s, "\n## {}\n", heading(&section));
        s.push_str("| key | type | default | meaning, unit, range | example |\n");
        s.push_str("| --- | --- | --- | --- | --- |\n");
        for k in keys {
            let name = k.path.rsplit('.').next().unwrap_or(&k.path);
            let meaning = match &k.table {
                Some(t) => format!("{} (keys below: {})", k.description, heading(t)),
                None => k.description.clone(),
            };
            let _ = writeln!(
                s,
                "| `{name}` | {} | {} | {} | {} |",
                cell(&k.ty),
                match (k.required, default_of(&k.path)) {
                    (true, _) => "required".to_string(),
                    (false, Some(d)) if d.starts_with('(') => cell(d),
                    (false, Some(d)) => format!("`{}`", cell(d)),
                    (false, None) if k.path.starts_with("card") => "-".to_string(),
                    (false, None) => "(missing)".to_string(),
                },
                cell(&meaning),
                match (&k.table, example(&k.path)) {
                    (Some(_), _) => "-".to_string(),
                    (None, Some(e)) => format!("`{}`", cell(e)),
                    (None, None) => "(missing)".to_string(),
                }
            );
        }
    }
    s
}

//! Outputs of the post-correction study (Sawal & Wong 2025, Fig. 6, Tables III and IV).

use xbar_correct::CorrectionRecord as Rec;
use xbar_experiment::Experiment;

use crate::stats::{by_size, mean, pct, pp, unique};
use crate::{ColorScale, Figure, Heatmap, HeatmapGrid, MdTable, Panel, Series};

/// The distinct values of one field, in order of first appearance.
fn distinct(records: &[Rec], f: fn(&Rec) -> &String) -> Vec<&str> {
    unique(records.iter().map(|r| f(r).as_str()))
}

/// The architecture of the paper's tables when it was trained, else the first one.
fn reference(records: &[Rec]) -> &str {
    let archs = distinct(records, |r| &r.architecture);
    let paper = crate::reference::paper().correction.architecture.as_str();
    archs
        .iter()
        .find(|a| **a == paper)
        .or(archs.first())
        .copied()
        .unwrap_or_default()
}

/// Mean gain (fraction) of `arch` trained on `d1`, tested on `d2`, over every test configuration.
fn mean_gain(records: &[Rec], protocol: &str, arch: &str, d1: &str, d2: &str) -> f64 {
    let keep = |r: &&Rec| r.protocol == protocol && r.architecture == arch && r.train_type == d1;
    mean(
        records
            .iter()
            .filter(keep)
            .filter(|r| r.test_type == d2)
            .map(|r| r.gain),
    )
}

/// Figures: per protocol, gain versus severity for every architecture, one panel per
/// train -> test pair among (up to) circle, ring and circle-complement, as the paper's Fig. 6.
pub(crate) fn figures(records: &[Rec]) -> Vec<(String, Figure)> {
    let types = distinct(records, |r| &r.train_type);
    let preferred: Vec<&str> = ["circle", "ring", "circle-complement"]
        .into_iter()
        .filter(|t| types.contains(t))
        .collect();
    let chosen = if preferred.len() >= 2 {
        preferred
    } else {
        types.into_iter().take(3).collect()
    };
    let mut out = Vec::new();
    for protocol in distinct(records, |r| &r.protocol) {
        let rs: Vec<&Rec> = records.iter().filter(|r| r.protocol == protocol).collect();
        let archs = unique(rs.iter().map(|r| r.architecture.as_str()));
        let mut panels = Vec::new();
        for (d1, d2) in chosen
            .iter()
            .flat_map(|a| chosen.iter().map(move |b| (a, b)))
        {
            let cell: Vec<&&Rec> = rs
                .iter()
                .filter(|r| r.train_type == *d1 && r.test_type == *d2)
                .collect();
            if cell.is_empty() {
                continue;
            }
            let curve = |a: &str| {
                let pts = cell.iter().filter(|r| r.architecture == a);
                Series::new(a, by_size(pts.map(|r| (r.size, r.coverage, r.gain))))
            };
            let (title, x) = (
                format!("train {d1} -> test {d2}"),
                "defect coverage, mean over layers (%)",
            );
            let panel = Panel::new(
                &title,
                x,
                "accuracy gain (pp)",
                archs.iter().map(|a| curve(a)).collect(),
            );
            panels.push(panel.with_hline(0.0, "no gain"));
        }
        if !panels.is_empty() {
            let title =
                format!("Corrector gain vs severity ({protocol} protocol), mean over layers");
            let fig = Figure::new(title, panels, chosen.len().clamp(1, 3), (480, 360));
            out.push((format!("correction-gain-{protocol}"), fig));
        }
    }
    out
}

/// The cross-defect matrix of the reference architecture, one heat map per protocol
/// (rows: training type, columns: test type, colour: mean gain in pp).
pub(crate) fn heatmaps(records: &[Rec]) -> Option<(String, HeatmapGrid)> {
    let arch = reference(records);
    let types = distinct(records, |r| &r.train_type);
    let tests = distinct(records, |r| &r.test_type);
    if !records.iter().any(|r| r.train_type != r.test_type) {
        return None;
    }
    let pairs = || {
        types
            .iter()
            .flat_map(|d1| tests.iter().map(move |d2| (*d1, *d2)))
    };
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    let panels = distinct(records, |r| &r.protocol)
        .into_iter()
        .map(|p| Heatmap {
            title: format!("{arch}, {p} protocol"),
            rows: types.len(),
            cols: tests.len(),
            values: pairs()
                .map(|(a, b)| 100.0 * mean_gain(records, p, arch, a, b))
                .collect(),
            scale: ColorScale::Diverging,
            colorbar_label: "mean gain (pp)".into(),
            x_label: "test type".into(),
            y_label: "training type".into(),
            col_names: names(&tests),
            row_names: names(&types),
            outline: Some(pairs().map(|(a, b)| a == b).collect()),
            annotations: vec!["outlined: same defect type".into()],
            ..Heatmap::default()
        })
        .collect();
    let title = "Cross-defect correction: mean accuracy gain".into();
    let grid = HeatmapGrid {
        title,
        panels,
        columns: 2,
        cell_px: 44,
    };
    Some(("cross-defect-matrix".into(), grid))
}

/// Markdown: Tables III and IV in the paper's form, the full cross matrix and model size.
pub(crate) fn summary(exp: &Experiment, records: &[Rec]) -> String {
    let arch = reference(records);
    let protocols = distinct(records, |r| &r.protocol);
    let types = distinct(records, |r| &r.train_type);
    let tests = distinct(records, |r| &r.test_type);
    let paper = &crate::reference::paper().correction;
    let per_protocol = |first: &[&str], cols: &[&str], last: &[&str]| {
        let each = protocols
            .iter()
            .flat_map(|p| cols.iter().map(move |c| format!("{p}: {c}")));
        let mut h: Vec<String> = first.iter().map(|s| s.to_string()).chain(each).collect();
        h.extend(last.iter().map(|s| s.to_string()));
        h
    };
    let mut s = format!("\n## Post-correction ({})\n\n", paper.source);
    if let Some(c) = exp.correction() {
        let (t, n, list) = (&c.train, c.architectures.len(), protocols.join(", "));
        s += &format!(
            "Correctors: {n} architecture(s); {} epochs, batch {}, Adam {}, L2 {}, seed {}. Protocols: {list}. Gains are \
             `A_corrected - A_faulty` in percentage points on the test samples, averaged over every (size, layer) \
             configuration of the test type (max: the best configuration; \"faulty < 90 %\": only the configurations the \
             defect really degrades, where a corrector has something to win back).\n\n",
            t.epochs, t.batch_size, t.learning_rate, t.l2, t.seed
        );
    }
    let cols = [
        "faulty",
        "corrected",
        "mean (max) gain, pp",
        "gain where faulty < 90 %",
    ];
    let same = types.iter().map(|d| {
        let mut row = vec![d.to_string()];
        for p in &protocols {
            let rs: Vec<&Rec> = records
                .iter()
                .filter(|r| {
                    r.protocol == *p
                        && r.architecture == arch
                        && r.train_type == *d
                        && r.test_type == *d
                })
                .collect();
            let m = |f: fn(&Rec) -> f64| mean(rs.iter().map(|r| f(r)));
            let max = rs.iter().map(|r| r.gain).fold(f64::NAN, f64::max);
            let low: Vec<f64> = rs
                .iter()
                .filter(|r| r.faulty_accuracy < 0.9)
                .map(|r| r.gain)
                .collect();
            row.extend([
                pct(m(|r| r.faulty_accuracy)),
                pct(m(|r| r.corrected_accuracy)),
            ]);
            row.push(format!("{} ({})", pp(m(|r| r.gain)), pp(max)));
            row.push(format!(
                "{} ({} of {} configs)",
                pp(mean(low.iter().copied())),
                low.len(),
                rs.len()
            ));
        }
        row.push(paper.same_defect.get(*d).map_or("-".into(), Clone::clone));
        row
    });
    s += &format!("### Same defect type (Table III), {arch}\n\n");
    s += &MdTable::of(&per_protocol(&["defect type"], &cols, &["paper"]), same);

    let cross = records.iter().any(|r| r.train_type != r.test_type);
    if cross {
        let rows = paper.cross_defect.iter().filter_map(|c| {
            let (a, b) = (c.a.as_str(), c.b.as_str());
            let others: Vec<&str> = types
                .iter()
                .copied()
                .filter(|x| (b == "*" && *x != a) || *x == b)
                .collect();
            if !types.contains(&a) || others.is_empty() {
                return None;
            }
            let pair = if b == "*" {
                format!("{a} <-> any other")
            } else {
                format!("{a} <-> {b}")
            };
            let mut row = vec![pair];
            for p in &protocols {
                let gain = |f: &dyn Fn(&str) -> f64| pp(mean(others.iter().map(|o| f(o))));
                row.push(gain(&|o| mean_gain(records, p, arch, a, o)));
                row.push(gain(&|o| mean_gain(records, p, arch, o, a)));
            }
            row.push(c.claim.clone());
            Some(row)
        });
        s += &format!("\n### Cross defect type (Table IV), {arch}\n\n");
        s += &MdTable::of(
            &per_protocol(&["pair"], &["a -> b", "b -> a"], &["paper"]),
            rows,
        );
        for p in &protocols {
            s += &format!(
                "\nFull matrix, {arch}, {p} protocol: mean gain (pp), rows = training type, columns = test type.\n\n"
            );
            let rows = types.iter().map(|d1| {
                let gains = tests
                    .iter()
                    .map(|d2| pp(mean_gain(records, p, arch, d1, d2)));
                std::iter::once(d1.to_string()).chain(gains).collect()
            });
            s += &MdTable::of(&[&["train \\ test"], &tests[..]].concat(), rows);
        }
    }

    let archs = distinct(records, |r| &r.architecture);
    if archs.len() > 1 {
        let kinds: &[&str] = if cross {
            &["same-defect gain", "cross-defect gain"]
        } else {
            &["same-defect gain"]
        };
        let rows = archs.iter().map(|a| {
            let params = records
                .iter()
                .find(|r| r.architecture == *a)
                .map_or(0, |r| r.parameters);
            let mut row = vec![a.to_string(), params.to_string()];
            for p in &protocols {
                for same in [true, false].into_iter().take(kinds.len()) {
                    let rs = records
                        .iter()
                        .filter(|r| r.protocol == *p && r.architecture == *a);
                    row.push(pp(mean(
                        rs.filter(|r| (r.train_type == r.test_type) == same)
                            .map(|r| r.gain),
                    )));
                }
            }
            row
        });
        s += "\n### Model size\n\n";
        s += &MdTable::of(
            &per_protocol(&["corrector", "parameters"], kinds, &[]),
            rows,
        );
    }
    s + "\nFiles: `correction.csv` (one row per protocol, architecture, training type, test type, size and layer), \
         `plots/correction-gain-*.svg`, `plots/cross-defect-matrix.svg`.\n"
}

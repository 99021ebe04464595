//! Outputs of the post-correction study (Sawal & Wong 2025, Fig. 6, Tables III and IV).

use std::fmt::Write as _;

use xbar_correct::CorrectionRecord;
use xbar_experiment::Experiment;

use crate::stats::{by_size, mean, unique};
use crate::{ColorScale, Figure, Heatmap, HeatmapGrid, MdTable, Panel, Series};

/// The architecture of the paper's tables when it was trained, else the first one.
fn reference(records: &[CorrectionRecord]) -> String {
    let archs = unique(records.iter().map(|r| &r.architecture));
    let paper = &crate::reference::paper().correction.architecture;
    if archs.contains(paper) {
        paper.clone()
    } else {
        archs.first().cloned().unwrap_or_default()
    }
}

/// Mean gain (fraction) of `arch` trained on `d1`, tested on `d2`, over every test configuration.
pub(crate) fn mean_gain(
    records: &[CorrectionRecord],
    protocol: &str,
    arch: &str,
    d1: &str,
    d2: &str,
) -> f64 {
    mean(
        records
            .iter()
            .filter(|r| {
                r.protocol == protocol
                    && r.architecture == arch
                    && r.train_type == d1
                    && r.test_type == d2
            })
            .map(|r| r.gain),
    )
}

/// Figures: per protocol, gain versus severity for every architecture, one panel per
/// train -> test pair among (up to) circle, ring and circle-complement, as the paper's Fig. 6.
pub(crate) fn figures(records: &[CorrectionRecord]) -> Vec<(String, Figure)> {
    let types = unique(records.iter().map(|r| &r.train_type));
    let preferred: Vec<String> = ["circle", "ring", "circle-complement"]
        .iter()
        .map(|s| s.to_string())
        .filter(|t| types.contains(t))
        .collect();
    let chosen = if preferred.len() >= 2 {
        preferred
    } else {
        types.iter().take(3).cloned().collect()
    };
    let mut out = Vec::new();
    for protocol in unique(records.iter().map(|r| &r.protocol)) {
        let archs = unique(
            records
                .iter()
                .filter(|r| r.protocol == protocol)
                .map(|r| &r.architecture),
        );
        let mut panels = Vec::new();
        for d1 in &chosen {
            for d2 in &chosen {
                let rs: Vec<&CorrectionRecord> = records
                    .iter()
                    .filter(|r| r.protocol == protocol && &r.train_type == d1 && &r.test_type == d2)
                    .collect();
                if rs.is_empty() {
                    continue;
                }
                let series = archs
                    .iter()
                    .map(|a| {
                        let rs = rs.iter().filter(|r| &r.architecture == a);
                        let pts = by_size(rs.map(|r| (r.size, r.coverage, r.gain)));
                        Series::new(a.clone(), pts)
                    })
                    .collect();
                panels.push(Panel {
                    title: format!("train {d1} -> test {d2}"),
                    x_label: "defect coverage, mean over layers (%)".into(),
                    y_label: "accuracy gain (pp)".into(),
                    x_range: None,
                    y_range: None,
                    series,
                    hline: Some((0.0, "no gain".into())),
                });
            }
        }
        if panels.is_empty() {
            continue;
        }
        let columns = chosen.len().clamp(1, 3);
        out.push((
            format!("correction-gain-{protocol}"),
            Figure {
                title: format!(
                    "Corrector gain vs severity ({protocol} protocol), mean over layers"
                ),
                panels,
                columns,
                panel_size: (480, 360),
            },
        ));
    }
    out
}

/// The cross-defect matrix of the reference architecture, one heat map per protocol
/// (rows: training type, columns: test type, colour: mean gain in pp).
pub(crate) fn heatmaps(records: &[CorrectionRecord]) -> Option<(String, HeatmapGrid)> {
    let arch = reference(records);
    let types = unique(records.iter().map(|r| &r.train_type));
    let tests = unique(records.iter().map(|r| &r.test_type));
    if !records.iter().any(|r| r.train_type != r.test_type) {
        return None;
    }
    let panels = unique(records.iter().map(|r| &r.protocol))
        .into_iter()
        .map(|p| {
            let values: Vec<f64> = types
                .iter()
                .flat_map(|d1| {
                    tests
                        .iter()
                        .map(|d2| 100.0 * mean_gain(records, &p, &arch, d1, d2))
                })
                .collect();
            Heatmap {
                title: format!("{arch}, {p} protocol"),
                rows: types.len(),
                cols: tests.len(),
                values,
                scale: ColorScale::Diverging,
                log10: false,
                colorbar_label: "mean gain (pp)".into(),
                x_label: "test type".into(),
                y_label: "training type".into(),
                col_names: tests.clone(),
                row_names: types.clone(),
                outline: Some(
                    types
                        .iter()
                        .flat_map(|d1| tests.iter().map(move |d2| d1 == d2))
                        .collect(),
                ),
                annotations: vec!["outlined: same defect type".into()],
            }
        })
        .collect();
    Some((
        "cross-defect-matrix".into(),
        HeatmapGrid {
            title: "Cross-defect correction: mean accuracy gain".into(),
            panels,
            columns: 2,
            cell_px: 44,
        },
    ))
}

fn pp(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:+.1}", 100.0 * x)
    }
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.1} %", 100.0 * x)
    }
}

/// Markdown: Tables III and IV in the paper's form, the full cross matrix and model size.
pub(crate) fn summary(exp: &Experiment, records: &[CorrectionRecord]) -> String {
    let mut s = String::new();
    let arch = reference(records);
    let protocols = unique(records.iter().map(|r| &r.protocol));
    let types = unique(records.iter().map(|r| &r.train_type));
    let tests = unique(records.iter().map(|r| &r.test_type));
    let paper = &crate::reference::paper().correction;
    let _ = writeln!(s, "\n## Post-correction ({})\n", paper.source);
    if let Some(c) = exp.correction() {
        let _ = writeln!(
            s,
            "Correctors: {} architecture(s); {} epochs, batch {}, Adam {}, L2 {}, seed {}. Protocols: {}. Gains are \
             `A_corrected - A_faulty` in percentage points on the test samples, averaged over every (size, layer) \
             configuration of the test type (max: the best configuration; \"faulty < 90 %\": only the configurations the \
             defect really degrades, where a corrector has something to win back).\n",
            c.architectures.len(),
            c.train.epochs,
            c.train.batch_size,
            c.train.learning_rate,
            c.train.l2,
            c.train.seed,
            protocols.join(", ")
        );
    }
    let _ = writeln!(s, "### Same defect type (Table III), {arch}\n");
    let mut hdr = vec!["defect type".to_string()];
    for p in &protocols {
        hdr.push(format!("{p}: faulty"));
        hdr.push(format!("{p}: corrected"));
        hdr.push(format!("{p}: mean (max) gain, pp"));
        hdr.push(format!("{p}: gain where faulty < 90 %"));
    }
    hdr.push("paper".into());
    let h: Vec<&str> = hdr.iter().map(String::as_str).collect();
    let mut t = MdTable::new(&h);
    for d in &types {
        let mut row = vec![d.clone()];
        for p in &protocols {
            let rs: Vec<&CorrectionRecord> = records
                .iter()
                .filter(|r| {
                    &r.protocol == p
                        && r.architecture == arch
                        && &r.train_type == d
                        && &r.test_type == d
                })
                .collect();
            let max = rs.iter().map(|r| r.gain).fold(f64::NAN, f64::max);
            row.push(pct(mean(rs.iter().map(|r| r.faulty_accuracy))));
            row.push(pct(mean(rs.iter().map(|r| r.corrected_accuracy))));
            row.push(format!(
                "{} ({})",
                pp(mean(rs.iter().map(|r| r.gain))),
                pp(max)
            ));
            let degraded: Vec<&&CorrectionRecord> =
                rs.iter().filter(|r| r.faulty_accuracy < 0.9).collect();
            row.push(format!(
                "{} ({} of {} configs)",
                pp(mean(degraded.iter().map(|r| r.gain))),
                degraded.len(),
                rs.len()
            ));
        }
        row.push(paper.same_defect.get(d).map_or("-".into(), Clone::clone));
        t.row(row);
    }
    s.push_str(&t.render());

    let cross = records.iter().any(|r| r.train_type != r.test_type);
    if cross {
        let _ = writeln!(s, "\n### Cross defect type (Table IV), {arch}\n");
        let mut hdr = vec!["pair".to_string()];
        for p in &protocols {
            hdr.push(format!("{p}: a -> b"));
            hdr.push(format!("{p}: b -> a"));
        }
        hdr.push("paper".into());
        let h: Vec<&str> = hdr.iter().map(String::as_str).collect();
        let mut t = MdTable::new(&h);
        for crate::reference::Cross { a, b, claim } in &paper.cross_defect {
            let (a, b) = (a.as_str(), b.as_str());
            if !types.iter().any(|x| x == a) {
                continue;
            }
            let others: Vec<&String> = if b == "*" {
                types.iter().filter(|x| x.as_str() != a).collect()
            } else {
                types.iter().filter(|x| x.as_str() == b).collect()
            };
            if others.is_empty() {
                continue;
            }
            let mut row = vec![if b == "*" {
                format!("{a} <-> any other")
            } else {
                format!("{a} <-> {b}")
            }];
            for p in &protocols {
                row.push(pp(mean(
                    others.iter().map(|o| mean_gain(records, p, &arch, a, o)),
                )));
                row.push(pp(mean(
                    others.iter().map(|o| mean_gain(records, p, &arch, o, a)),
                )));
            }
            row.push(claim.clone());
            t.row(row);
        }
        s.push_str(&t.render());
        for p in &protocols {
            let _ = writeln!(
                s,
                "\nFull matrix, {arch}, {p} protocol: mean gain (pp), rows = training type, columns = test type.\n"
            );
            let mut hdr = vec!["train \\ test".to_string()];
            hdr.extend(tests.iter().cloned());
            let h: Vec<&str> = hdr.iter().map(String::as_str).collect();
            let mut t = MdTable::new(&h);
            for d1 in &types {
                let mut row = vec![d1.clone()];
                row.extend(
                    tests
                        .iter()
                        .map(|d2| pp(mean_gain(records, p, &arch, d1, d2))),
                );
                t.row(row);
            }
            s.push_str(&t.render());
        }
    }

    let archs = unique(records.iter().map(|r| &r.architecture));
    if archs.len() > 1 {
        let _ = writeln!(s, "\n### Model size\n");
        let mut hdr = vec!["corrector".to_string(), "parameters".to_string()];
        for p in &protocols {
            hdr.push(format!("{p}: same-defect gain"));
            if cross {
                hdr.push(format!("{p}: cross-defect gain"));
            }
        }
        let h: Vec<&str> = hdr.iter().map(String::as_str).collect();
        let mut t = MdTable::new(&h);
        for a in &archs {
            let params = records
                .iter()
                .find(|r| &r.architecture == a)
                .map_or(0, |r| r.parameters);
            let mut row = vec![a.clone(), params.to_string()];
            for p in &protocols {
                let f = |same: bool| {
                    mean(
                        records
                            .iter()
                            .filter(|r| {
                                &r.protocol == p
                                    && &r.architecture == a
                                    && (r.train_type == r.test_type) == same
                            })
                            .map(|r| r.gain),
                    )
                };
                row.push(pp(f(true)));
                if cross {
                    row.push(pp(f(false)));
                }
            }
            t.row(row);
        }
        s.push_str(&t.render());
    }
    let _ = writeln!(
        s,
        "\nFiles: `correction.csv` (one row per protocol, architecture, training type, test type, size and layer), `plots/correction-gain-*.svg`, `plots/cross-defect-matrix.svg`."
    );
    s
}

//! Outputs of the error-detection study: rates versus severity per code, overheads, and the
//! input-fault blind spot of output-side codes.

use std::fmt::Write as _;

use xbar_experiment::DetectionRow;
use xbar_experiment::detection_protocol::InputFaultRecord;

use crate::stats::{by_size, mean, unique};
use crate::{Figure, MdTable, Panel, Series};

/// Detection-rate and correction-rate figures: one panel per defect geometry, one line per
/// code, x = coverage of the coded array (mean over layers per size), only scenarios with at
/// least one erroneous output.
pub(crate) fn figures(rows: &[DetectionRow]) -> Vec<(String, Figure)> {
    let labels = unique(rows.iter().map(|r| &r.label));
    let codes = unique(rows.iter().map(|r| &r.code));
    let make =
        |value: &dyn Fn(&DetectionRow) -> f64, only_correcting: bool, y: &str| -> Vec<Panel> {
            labels
                .iter()
                .map(|label| {
                    let series = codes
                        .iter()
                        .filter(|c| {
                            !only_correcting
                                || rows
                                    .iter()
                                    .any(|r| &r.code == *c && r.correction_rate > 0.0)
                        })
                        .map(|code| {
                            let rs = rows.iter().filter(|r| {
                                &r.label == label && &r.code == code && r.erroneous > 0
                            });
                            let pts = by_size(rs.map(|r| (r.size, r.coverage, value(r))));
                            Series::new(code.clone(), pts)
                        })
                        .collect();
                    Panel {
                        title: label.clone(),
                        x_label: "defect coverage of the coded array (%)".into(),
                        y_label: y.into(),
                        x_range: None,
                        y_range: Some((0.0, 100.0)),
                        series,
                        hline: None,
                    }
                })
                .collect()
        };
    let columns = labels.len().clamp(1, 3);
    vec![
        (
            "detection-rate".into(),
            Figure {
                title: "Erroneous outputs detected, per code (mean over layers)".into(),
                panels: make(&|r| r.detection_rate, false, "detection rate (%)"),
                columns,
                panel_size: (480, 360),
            },
        ),
        (
            "correction-rate".into(),
            Figure {
                title: "Erroneous outputs corrected, codes that correct (mean over layers)".into(),
                panels: make(&|r| r.correction_rate, true, "correction rate (%)"),
                columns,
                panel_size: (480, 360),
            },
        ),
    ]
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.1} %", 100.0 * x)
    }
}

/// Markdown: per-code rates and overheads, per-geometry detection, and input faults.
pub(crate) fn summary(rows: &[DetectionRow], input: &[(u32, InputFaultRecord)]) -> String {
    let mut s = String::new();
    let codes = unique(rows.iter().map(|r| &r.code));
    let labels = unique(rows.iter().map(|r| &r.label));
    let _ = writeln!(s, "\n## Error detection on the arrays (xbar-ecc)\n");
    let _ = writeln!(
        s,
        "Each scenario's defect is applied to the coded array; rates are over the input vectors whose outputs are wrong \
         (detection, correction, miss) or over all vectors of the defect-free run (false alarms), averaged over the \
         scenarios that produced at least one error.\n"
    );
    let mut t = MdTable::new(&[
        "code",
        "detection",
        "correction",
        "miss",
        "false alarms",
        "extra columns",
        "extra sensed outputs",
        "extra ADC bits",
    ]);
    for c in &codes {
        let rs: Vec<&DetectionRow> = rows.iter().filter(|r| &r.code == c).collect();
        let err: Vec<&&DetectionRow> = rs.iter().filter(|r| r.erroneous > 0).collect();
        let first = rs[0];
        t.row(vec![
            c.clone(),
            pct(mean(err.iter().map(|r| r.detection_rate))),
            pct(mean(err.iter().map(|r| r.correction_rate))),
            pct(mean(err.iter().map(|r| r.miss_rate))),
            pct(mean(rs.iter().map(|r| r.false_alarm_rate))),
            first.extra_columns.to_string(),
            first.extra_sensed_outputs.to_string(),
            format!("{:.1}", first.extra_adc_bits),
        ]);
    }
    s.push_str(&t.render());
    let _ = writeln!(
        s,
        "\nDetection rate per defect geometry (mean over sizes and layers):\n"
    );
    let mut hdr = vec!["geometry".to_string()];
    hdr.extend(codes.iter().cloned());
    let h: Vec<&str> = hdr.iter().map(String::as_str).collect();
    let mut t = MdTable::new(&h);
    for l in &labels {
        let mut row = vec![l.clone()];
        for c in &codes {
            row.push(pct(mean(
                rows.iter()
                    .filter(|r| &r.label == l && &r.code == c && r.erroneous > 0)
                    .map(|r| r.detection_rate),
            )));
        }
        t.row(row);
    }
    s.push_str(&t.render());
    if !input.is_empty() {
        let _ = writeln!(
            s,
            "\n### What output-side codes cannot see: input (DAC) faults\n"
        );
        let _ = writeln!(
            s,
            "A faulty input line makes the array compute the layer for a wrong input: the outputs form a valid codeword, so \
             every output-side check passes. An input-side checksum column (equal weights, compared with the digital sum of \
             the intended inputs) catches it.\n"
        );
        let mut t = MdTable::new(&[
            "layer",
            "fault",
            "check",
            "erroneous vectors",
            "detected",
            "max relative output error",
        ]);
        for (l, r) in input {
            t.row(vec![
                l.to_string(),
                r.fault.clone(),
                r.code.clone(),
                format!("{} of {}", r.erroneous, r.vectors),
                pct(r.detection_rate),
                format!("{:.3}", r.max_relative_error),
            ]);
        }
        s.push_str(&t.render());
    }
    let _ = writeln!(
        s,
        "\nFiles: `detection.csv`, `input-faults.csv` (when enabled), `plots/detection-rate.svg`, `plots/correction-rate.svg`."
    );
    s
}

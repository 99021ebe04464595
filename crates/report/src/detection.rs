//! Outputs of the error-detection study: rates versus severity per code, overheads, and the
//! input-fault blind spot of output-side codes.

use xbar_experiment::DetectionRow as Row;
use xbar_experiment::detection_protocol::InputFaultRecord;

use crate::stats::{by_size, mean, pct, unique};
use crate::{Figure, MdTable, Panel, Series};

/// Detection-rate and correction-rate figures: one panel per defect geometry, one line per
/// code, x = coverage of the coded array (mean over layers per size), only scenarios with at
/// least one erroneous output.
pub(crate) fn figures(rows: &[Row]) -> Vec<(String, Figure)> {
    let labels = unique(rows.iter().map(|r| r.label.as_str()));
    let codes = unique(rows.iter().map(|r| r.code.as_str()));
    let correcting: Vec<&str> = codes
        .iter()
        .copied()
        .filter(|c| rows.iter().any(|r| r.code == *c && r.correction_rate > 0.0))
        .collect();
    let figure = |stem: &str, title: &str, codes: &[&str], value: fn(&Row) -> f64, y: &str| {
        let panel = |label: &str| {
            let series = codes.iter().map(|code| {
                let rs = rows
                    .iter()
                    .filter(|r| r.label == label && r.code == *code && r.erroneous > 0);
                Series::new(*code, by_size(rs.map(|r| (r.size, r.coverage, value(r)))))
            });
            Panel::new(
                label,
                "defect coverage of the coded array (%)",
                y,
                series.collect(),
            )
            .with_y(0.0, 100.0)
        };
        let panels = labels.iter().map(|l| panel(l)).collect();
        (
            stem.to_string(),
            Figure::new(title, panels, labels.len().clamp(1, 3), (480, 360)),
        )
    };
    vec![
        figure(
            "detection-rate",
            "Erroneous outputs detected, per code (mean over layers)",
            &codes,
            |r| r.detection_rate,
            "detection rate (%)",
        ),
        figure(
            "correction-rate",
            "Erroneous outputs corrected, codes that correct (mean over layers)",
            &correcting,
            |r| r.correction_rate,
            "correction rate (%)",
        ),
    ]
}

/// Markdown: per-code rates and overheads, per-geometry detection, and input faults.
pub(crate) fn summary(rows: &[Row], input: &[(u32, InputFaultRecord)]) -> String {
    let codes = unique(rows.iter().map(|r| r.code.as_str()));
    let labels = unique(rows.iter().map(|r| r.label.as_str()));
    let of = |c: &str| -> Vec<&Row> { rows.iter().filter(|r| r.code == c).collect() };
    let err = |c: &str, f: fn(&Row) -> f64| {
        pct(mean(of(c).into_iter().filter(|r| r.erroneous > 0).map(f)))
    };
    let first = |c: &str| of(c)[0];
    let mut s = "\n## Error detection on the arrays (xbar-ecc)\n\n\
         Each scenario's defect is applied to the coded array; rates are over the input vectors whose outputs are wrong \
         (detection, correction, miss) or over all vectors of the defect-free run (false alarms), averaged over the \
         scenarios that produced at least one error.\n\n"
        .to_string();
    s += &MdTable::cols(
        codes.iter().copied(),
        &[
            ("code", &|c| c.to_string()),
            ("detection", &|c| err(c, |r| r.detection_rate)),
            ("correction", &|c| err(c, |r| r.correction_rate)),
            ("miss", &|c| err(c, |r| r.miss_rate)),
            ("false alarms", &|c| {
                pct(mean(of(c).into_iter().map(|r| r.false_alarm_rate)))
            }),
            ("extra columns", &|c| first(c).extra_columns.to_string()),
            ("extra sensed outputs", &|c| {
                first(c).extra_sensed_outputs.to_string()
            }),
            ("extra ADC bits", &|c| {
                format!("{:.1}", first(c).extra_adc_bits)
            }),
        ],
    );
    s += "\nDetection rate per defect geometry (mean over sizes and layers):\n\n";
    let rate = |l: &str, c: &str| {
        let rs = of(c)
            .into_iter()
            .filter(|r| r.label == l && r.erroneous > 0);
        pct(mean(rs.map(|r| r.detection_rate)))
    };
    let per_label = labels.iter().map(|l| {
        [l.to_string()]
            .into_iter()
            .chain(codes.iter().map(|c| rate(l, c)))
            .collect()
    });
    s += &MdTable::of(&[&["geometry"], &codes[..]].concat(), per_label);
    if !input.is_empty() {
        s += "\n### What output-side codes cannot see: input (DAC) faults\n\n\
             A faulty input line makes the array compute the layer for a wrong input: the outputs form a valid codeword, so \
             every output-side check passes. An input-side checksum column (equal weights, compared with the digital sum of \
             the intended inputs) catches it.\n\n";
        s += &MdTable::cols(
            input,
            &[
                ("layer", &|(l, _)| l.to_string()),
                ("fault", &|(_, r)| r.fault.clone()),
                ("check", &|(_, r)| r.code.clone()),
                ("erroneous vectors", &|(_, r)| {
                    format!("{} of {}", r.erroneous, r.vectors)
                }),
                ("detected", &|(_, r)| pct(r.detection_rate)),
                ("max relative output error", &|(_, r)| {
                    format!("{:.3}", r.max_relative_error)
                }),
            ],
        );
    }
    s + "\nFiles: `detection.csv`, `input-faults.csv` (when enabled), `plots/detection-rate.svg`, \
         `plots/correction-rate.svg`.\n"
}

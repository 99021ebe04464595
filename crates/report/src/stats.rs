//! Small helpers shared by the study summaries.

/// Distinct strings in order of first appearance.
pub(crate) fn unique<'a>(it: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in it {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Arithmetic mean; NaN for an empty sequence (rendered as "-").
pub(crate) fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// A curve over sizes: per size (`None` is one size of its own) the mean coverage and the
/// mean value, both in percent, sorted by coverage. Items are `(size, coverage, value)`.
pub(crate) fn by_size(items: impl Iterator<Item = (Option<f64>, f64, f64)>) -> Vec<(f64, f64)> {
    let mut by: std::collections::BTreeMap<u64, (f64, f64, f64)> = Default::default();
    for (size, c, v) in items {
        let e = by.entry(size.map_or(u64::MAX, f64::to_bits)).or_default();
        *e = (e.0 + c, e.1 + v, e.2 + 1.0);
    }
    let mut pts: Vec<(f64, f64)> = by
        .values()
        .map(|&(c, v, n)| (100.0 * c / n, 100.0 * v / n))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

//! Small helpers shared by the study summaries and figures.

use std::collections::BTreeMap;

/// Distinct values in order of first appearance.
pub(crate) fn unique<T: PartialEq + Clone>(it: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for s in it {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Arithmetic mean; NaN for an empty sequence (rendered as "-").
pub(crate) fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Per key, in key order: the key, the sums of the `N` values and the count. Items are
/// `(key, values)`.
pub(crate) fn sums<K: Ord, const N: usize>(
    items: impl Iterator<Item = (K, [f64; N])>,
) -> Vec<(K, [f64; N], f64)> {
    let mut by: BTreeMap<K, ([f64; N], f64)> = BTreeMap::new();
    for (k, v) in items {
        let e = by.entry(k).or_insert(([0.0; N], 0.0));
        e.0.iter_mut().zip(v).for_each(|(a, b)| *a += b);
        e.1 += 1.0;
    }
    by.into_iter().map(|(k, (s, n))| (k, s, n)).collect()
}

/// A curve over sizes: per size (`None` is one size of its own) the mean coverage and the
/// mean value, both in percent, sorted by coverage. Items are `(size, coverage, value)`.
pub(crate) fn by_size(items: impl Iterator<Item = (Option<f64>, f64, f64)>) -> Vec<(f64, f64)> {
    let key = |s: Option<f64>| s.map_or(u64::MAX, f64::to_bits);
    let mut pts: Vec<(f64, f64)> = sums(items.map(|(s, c, v)| (key(s), [c, v])))
        .into_iter()
        .map(|(_, [c, v], n)| (100.0 * c / n, 100.0 * v / n))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// `x` as a percentage with `digits` decimals, or "-" for NaN.
pub(crate) fn pct_n(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.digits$} %", 100.0 * x)
    }
}

/// `x` as a percentage with one decimal, or "-" for NaN.
pub(crate) fn pct(x: f64) -> String {
    pct_n(x, 1)
}

/// `x` as signed percentage points with one decimal, or "-" for NaN.
pub(crate) fn pp(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:+.1}", 100.0 * x)
    }
}

/// `"a / b / c"`.
pub(crate) fn slash(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" / ")
}

/// The `# name` header and description that open a standalone study's or a sweep's summary.
pub(crate) fn title(exp: &xbar_experiment::Experiment) -> String {
    match exp.description.as_str() {
        "" => format!("# {}\n\n", exp.name),
        d => format!("# {}\n\n{d}\n\n", exp.name),
    }
}

//! Tick selection and number formatting shared by line plots and colour bars.

/// Typographic minus sign (U+2212), used in labels.
pub(crate) const MINUS: char = '\u{2212}';

/// A "nice" step (1, 2 or 5 times a power of ten) giving the interval count closest
/// to `target` over `span` (ties go to the larger step).
pub(crate) fn nice_step(span: f64, target: usize) -> f64 {
    let target = target.max(1) as f64;
    let raw = span / target;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let mut best = mag;
    let mut best_err = f64::INFINITY;
    for m in [10.0, 5.0, 2.0, 1.0] {
        let step = m * mag;
        let err = (span / step - target).abs();
        if err < best_err - 1e-9 {
            best_err = err;
            best = step;
        }
    }
    best
}

/// Tick values: multiples of a nice step inside `[lo, hi]`, plus the step itself.
pub(crate) fn linear_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let step = nice_step(hi - lo, target);
    let mut ticks = Vec::with_capacity(target + 2);
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return (ticks, step);
    }
    let eps = step * 1e-9;
    let first = ((lo - eps) / step).ceil();
    for k in 0..64 {
        let v = (first + f64::from(k)) * step;
        if v > hi + eps {
            break;
        }
        // Snap tiny rounding residue around zero.
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
    }
    (ticks, step)
}

/// Formats tick values that are multiples of `step` consistently: fixed decimals
/// (as many as the step needs), or scientific notation for very large or very small
/// magnitudes.
pub(crate) fn format_ticks(ticks: &[f64], step: f64) -> Vec<String> {
    let max_abs = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let step_exp = if step > 0.0 && step.is_finite() {
        (step.log10() + 1e-9).floor() as i32
    } else {
        0
    };
    let decimals = (-step_exp).clamp(0, 15) as usize;
    let scientific = max_abs >= 1e5 || (max_abs > 0.0 && max_abs < 1e-3);
    ticks
        .iter()
        .map(|&v| {
            if scientific {
                format_sci(v, step_exp)
            } else {
                with_minus(format!("{v:.decimals$}"))
            }
        })
        .collect()
}

/// Scientific notation (`1.5e-5`) showing digits down to 10^`last_exp`.
pub(crate) fn format_sci(v: f64, last_exp: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v == 0.0 {
            "0".into()
        } else {
            with_minus(format!("{v}"))
        };
    }
    let mut exp = v.abs().log10().floor() as i32;
    let digits = (exp - last_exp).clamp(0, 12) as usize;
    let mut mant = v / 10f64.powi(exp);
    // Rounding can carry into the next power of ten (9.96 -> 10.0).
    let rounded: f64 = format!("{mant:.digits$}").parse().unwrap_or(mant);
    if rounded.abs() >= 10.0 {
        exp += 1;
        mant = v / 10f64.powi(exp);
    }
    let mut m = format!("{mant:.digits$}");
    if m.contains('.') {
        while m.ends_with('0') {
            m.pop();
        }
        if m.ends_with('.') {
            m.pop();
        }
    }
    with_minus(format!("{m}e{exp}"))
}

/// Replaces a leading ASCII hyphen by a typographic minus; "-0" style results become "0".
fn with_minus(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_owned(),
        Some(rest) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push(MINUS);
            out.push_str(rest);
            out
        }
        None => s,
    }
}

/// Ticks for a colour bar whose quantity is log10 of the real value over `[lo, hi]`
/// (in decades). Returns `(position in log10 units, label in real units)`.
pub(crate) fn log_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return out;
    }
    let eps = 1e-9;
    let kmin = (lo - eps).ceil() as i64;
    let kmax = (hi + eps).floor() as i64;
    let decades = kmax - kmin + 1;
    if decades >= 2 {
        let step = ((decades as f64) / target.max(1) as f64).ceil().max(1.0) as i64;
        let mut k = kmin;
        while k <= kmax && out.len() < 64 {
            out.push((k as f64, format!("1e{k}")));
            k += step;
        }
        return out;
    }
    // Less than two decade marks: use 1, 2, 5 x 10^k.
    let mut cand = Vec::new();
    for k in (lo.floor() as i64 - 1)..=(hi.ceil() as i64) {
        for m in [1.0f64, 2.0, 5.0] {
            let t = m.log10() + k as f64;
            if t >= lo - eps && t <= hi + eps {
                cand.push((t, m, k));
            }
        }
    }
    if cand.len() >= 2 && cand.len() <= target + 2 {
        return cand
            .into_iter()
            .map(|(t, m, k)| (t, format!("{}e{k}", m as i64)))
            .collect();
    }
    // Narrow range: nice linear ticks in real units, placed at their log10.
    let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
    let (ticks, step) = linear_ticks(a, b, target);
    let step_exp = (step.log10() + 1e-9).floor() as i32;
    for v in ticks {
        if v > 0.0 {
            out.push((v.log10(), format_sci(v, step_exp)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_ticks() {
        assert_eq!(nice_step(1.0, 5), 0.2);
        assert_eq!(nice_step(100.0, 4), 20.0);
        assert_eq!(nice_step(1.0, 3), 0.5);
        let (t, s) = linear_ticks(-0.05, 1.05, 5);
        assert_eq!(s, 0.2);
        assert_eq!(t.len(), 6);
        assert_eq!(t[0], 0.0);
        assert_eq!(
            format_ticks(&t, s),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        let (t, s) = linear_ticks(-2.0e-6, 2.0e-6, 4);
        let l = format_ticks(&t, s);
        assert_eq!(l.first().map(String::as_str), Some("\u{2212}2e-6"));
        assert!(l.contains(&"0".to_owned()));
    }

    #[test]
    fn sci() {
        assert_eq!(format_sci(1.5e-5, -6), "1.5e-5");
        assert_eq!(format_sci(1e-5, -5), "1e-5");
        assert_eq!(format_sci(9.99e-3, -3), "1e-2");
        assert_eq!(format_sci(-2.5e-7, -8), "\u{2212}2.5e-7");
    }

    #[test]
    fn log_tick_labels() {
        let t = log_ticks(-5.0, -3.0, 6);
        let labels: Vec<_> = t.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1e-5", "1e-4", "1e-3"]);
        let t = log_ticks(-4.9, -4.1, 6);
        assert!(t.len() >= 2, "{t:?}");
        let t = log_ticks(-4.01, -3.99, 6);
        assert!(t.len() >= 2, "{t:?}");
    }
}

//! Validation problems, collected rather than reported one at a time.
//!
//! Every configuration layer of xbar (device cards, circuit settings, experiment files) turns a
//! raw, deserialised struct into a validated one. Validation never stops at the first problem:
//! it pushes each one into an [`Issues`] set, naming the key path, the offending value and what
//! is allowed, so that a user can fix a file in one pass.

use std::fmt;

/// One validation problem: where it is, what was found and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Dotted key path inside the file, e.g. `sweep[2].sizes[0]`.
    pub path: String,
    /// The offending value as written (or a description when there is none).
    pub value: String,
    /// What is allowed, e.g. `a number in (0, 0.5]`.
    pub allowed: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` = {}: expected {}",
            self.path, self.value, self.allowed
        )
    }
}

/// An ordered set of validation problems.
///
/// ```
/// use xbar_device::Issues;
/// let mut issues = Issues::default();
/// issues.check_range("radius", -0.1, 0.0, 0.5, false);
/// assert_eq!(issues.len(), 1);
/// assert!(issues.to_string().contains("radius"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issues {
    items: Vec<Issue>,
    /// Problems counted but not kept (beyond [`Issues::MAX_KEPT`]).
    more: usize,
}

impl Issues {
    /// Problems kept with their text; further ones are only counted, so that a file with a
    /// million bad values gives a readable message (and no huge allocation).
    pub const MAX_KEPT: usize = 50;

    /// Records one problem.
    pub fn push(
        &mut self,
        path: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) {
        if self.items.len() >= Self::MAX_KEPT {
            self.more += 1;
            return;
        }
        self.items.push(Issue {
            path: path.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        });
    }

    /// Number of problems recorded.
    pub fn len(&self) -> usize {
        self.items.len() + self.more
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.more == 0
    }

    /// The recorded problems, in the order found (the first [`Issues::MAX_KEPT`]; [`Issues::len`]
    /// counts them all).
    pub fn iter(&self) -> impl Iterator<Item = &Issue> {
        self.items.iter()
    }

    /// Appends all problems of `other`, prefixing their paths with `prefix.` (if not empty).
    pub fn extend_prefixed(&mut self, prefix: &str, other: Issues) {
        for mut issue in other.items {
            if !prefix.is_empty() {
                issue.path = format!("{prefix}.{}", issue.path);
            }
            if self.items.len() >= Self::MAX_KEPT {
                self.more += 1;
            } else {
                self.items.push(issue);
            }
        }
        self.more += other.more;
    }

    /// Checks that `value` is finite and lies in `[lo, hi]` (or `(lo, hi]` when `lo_open`).
    /// Returns true when the value is acceptable.
    pub fn check_range(&mut self, path: &str, value: f64, lo: f64, hi: f64, lo_open: bool) -> bool {
        let ok =
            value.is_finite() && (if lo_open { value > lo } else { value >= lo }) && value <= hi;
        if !ok {
            let open = if lo_open { "(" } else { "[" };
            self.push(
                path,
                fmt_f64(value),
                format!("a finite number in {open}{}, {}]", fmt_f64(lo), fmt_f64(hi)),
            );
        }
        ok
    }

    /// Checks that `value` is finite and strictly positive.
    pub fn check_positive(&mut self, path: &str, value: f64) -> bool {
        let ok = value.is_finite() && value > 0.0;
        if !ok {
            self.push(path, fmt_f64(value), "a finite number > 0");
        }
        ok
    }

    /// `Ok(())` when empty, otherwise `Err(self)`.
    pub fn into_result(self) -> Result<(), Issues> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {issue}")?;
        }
        if self.more > 0 {
            write!(f, "\n  - ... and {} more", self.more)?;
        }
        Ok(())
    }
}

/// Formats a float for messages: shortest round-trip form, `NaN`/`inf` spelled out.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// Converts a byte offset in `text` to a 1-based (line, column) pair.
///
/// ```
/// assert_eq!(xbar_device::line_col("a\nbc", 3), (2, 2));
/// ```
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_problems_make_a_short_message() {
        let mut issues = Issues::default();
        for i in 0..1_000_000 {
            issues.check_range(&format!("sweep[0].sizes[{i}]"), -1.0, 0.0, 1.0, false);
        }
        let mut inner = Issues::default();
        inner.push("x", 1, "0");
        issues.extend_prefixed("p", inner);
        assert_eq!(issues.len(), 1_000_001);
        assert_eq!(issues.iter().count(), Issues::MAX_KEPT);
        let text = issues.to_string();
        assert!(text.len() < 10_000, "{} bytes", text.len());
        assert!(
            text.contains("sizes[49]") && !text.contains("sizes[50]"),
            "{text}"
        );
        assert!(text.ends_with("... and 999951 more"), "{text}");
    }

    #[test]
    fn range_checks_reject_nan_and_bounds() {
        let mut i = Issues::default();
        assert!(i.check_range("a", 0.5, 0.0, 0.5, true));
        assert!(!i.check_range("b", 0.0, 0.0, 0.5, true));
        assert!(!i.check_range("c", f64::NAN, 0.0, 0.5, false));
        assert!(!i.check_positive("d", f64::INFINITY));
        assert_eq!(i.len(), 3);
        let text = i.to_string();
        assert!(text.contains("`b` = 0") && text.contains("(0, 0.5]"));
        assert!(text.contains("`c` = NaN"));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(line_col("ab\ncd\nef", 7), (3, 2));
        assert_eq!(line_col("x", 99), (1, 2));
    }
}

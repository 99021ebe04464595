//! GitHub-flavoured Markdown pipe tables.

use std::fmt;

/// Horizontal alignment of a Markdown table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// No alignment marker (`---`); renderers usually left-align.
    #[default]
    Default,
    /// Left-aligned (`:--`).
    Left,
    /// Centred (`:-:`).
    Center,
    /// Right-aligned (`--:`), good for numbers.
    Right,
}

/// A GitHub-flavoured Markdown pipe table.
///
/// Cells are escaped: `|` becomes `\|` and line breaks become `<br>`, so arbitrary
/// text cannot break the table. Rows shorter than the header are padded with empty
/// cells; rows longer than the header get extra columns with empty headers. Columns are
/// padded with spaces so the raw Markdown lines up too.
///
/// ```
/// use xbar_report::MdTable;
/// let mut t = MdTable::new(&["method", "accuracy"]);
/// t.row(vec!["baseline".into(), "0.912".into()])
///     .row(vec!["a|b".into(), "0.95".into()]);
/// let md = t.render();
/// assert!(md.starts_with("| method   | accuracy |\n| -------- | -------- |\n"));
/// assert!(md.contains(r"| a\|b     | 0.95     |"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdTable {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    align: Vec<Align>,
}

impl MdTable {
    /// Creates a table with the given column headers and no rows.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            align: Vec::new(),
        }
    }

    /// Appends a row of cells (raw text; escaping happens in [`MdTable::render`]).
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// Sets the alignment of column `column` (0-based).
    pub fn align(&mut self, column: usize, align: Align) -> &mut Self {
        if self.align.len() <= column {
            self.align.resize(column + 1, Align::Default);
        }
        self.align[column] = align;
        self
    }

    /// Number of data rows (the header row is not counted).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table as Markdown; every line, including the last, ends with `\n`.
    pub fn render(&self) -> String {
        let ncols = self
            .rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.headers.len()))
            .max()
            .unwrap_or(0)
            .max(1);
        let escaped_header: Vec<String> = (0..ncols)
            .map(|c| escape_cell(self.headers.get(c).map_or("", String::as_str)))
            .collect();
        let escaped_rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                (0..ncols)
                    .map(|c| escape_cell(r.get(c).map_or("", String::as_str)))
                    .collect()
            })
            .collect();
        let mut widths = vec![3usize; ncols];
        for row in std::iter::once(&escaped_header).chain(escaped_rows.iter()) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }

        let mut out = String::with_capacity(
            (escaped_rows.len() + 2) * (widths.iter().sum::<usize>() + 3 * ncols + 2),
        );
        push_line(&mut out, &escaped_header, &widths, &self.align);
        out.push('|');
        for (c, w) in widths.iter().enumerate() {
            let align = self.align.get(c).copied().unwrap_or_default();
            let dashes = match align {
                Align::Default => "-".repeat(*w),
                Align::Left => format!(":{}", "-".repeat(w - 1)),
                Align::Center => format!(":{}:", "-".repeat(w - 2)),
                Align::Right => format!("{}:", "-".repeat(w - 1)),
            };
            out.push(' ');
            out.push_str(&dashes);
            out.push_str(" |");
        }
        out.push('\n');
        for row in &escaped_rows {
            push_line(&mut out, row, &widths, &self.align);
        }
        out
    }
}

impl fmt::Display for MdTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn push_line(out: &mut String, cells: &[String], widths: &[usize], align: &[Align]) {
    out.push('|');
    for (c, (cell, w)) in cells.iter().zip(widths).enumerate() {
        let pad = w - cell.chars().count();
        let (before, after) = match align.get(c).copied().unwrap_or_default() {
            Align::Right => (pad, 0),
            Align::Center => (pad / 2, pad - pad / 2),
            Align::Default | Align::Left => (0, pad),
        };
        out.push(' ');
        out.extend(std::iter::repeat_n(' ', before));
        out.push_str(cell);
        out.extend(std::iter::repeat_n(' ', after));
        out.push_str(" |");
    }
    out.push('\n');
}

/// Escapes a cell so it stays inside its column.
fn escape_cell(cell: &str) -> String {
    let mut s = String::with_capacity(cell.len());
    let mut chars = cell.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '|' => s.push_str("\\|"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                s.push_str("<br>");
            }
            '\n' => s.push_str("<br>"),
            _ => s.push(ch),
        }
    }
    s.trim().to_owned()
}

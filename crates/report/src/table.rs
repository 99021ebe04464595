//! GitHub-flavoured Markdown pipe tables.

use std::fmt;

/// A column of [`MdTable::cols`]: its header and how an item fills its cell.
pub(crate) type Col<'a, T> = (&'a str, &'a dyn Fn(&T) -> String);

/// A GitHub-flavoured Markdown pipe table.
///
/// Cells are escaped (`|` becomes `\|`, line breaks `<br>`), so no text can break the
/// table; short rows are padded with empty cells, long rows get columns with empty
/// headers, and columns are padded with spaces so the raw Markdown lines up too.
///
/// ```
/// use xbar_report::MdTable;
/// let mut t = MdTable::new(&["method", "accuracy"]);
/// t.row(vec!["a|b".into(), "0.95".into()]);
/// assert_eq!(t.to_string(), "| method | accuracy |\n| ------ | -------- |\n| a\\|b   | 0.95     |\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdTable {
    rows: Vec<Vec<String>>,
}

impl MdTable {
    /// A table with the given column headers and no rows.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// `headers` over `rows`, rendered.
    pub(crate) fn of<S: std::fmt::Display>(
        headers: &[S],
        rows: impl IntoIterator<Item = Vec<String>>,
    ) -> String {
        let mut t = Self {
            rows: vec![headers.iter().map(ToString::to_string).collect()],
        };
        t.rows.extend(rows);
        t.render()
    }

    /// One row per item and one column per `(header, cell)` descriptor, rendered.
    pub(crate) fn cols<T>(items: impl IntoIterator<Item = T>, cols: &[Col<'_, T>]) -> String {
        let rows = items
            .into_iter()
            .map(|it| cols.iter().map(|c| (c.1)(&it)).collect());
        Self::of(&cols.iter().map(|c| c.0).collect::<Vec<_>>(), rows)
    }

    /// Appends a row of cells (raw text; escaping happens when rendering).
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The table as Markdown; every line ends with `\n`.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MdTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                (0..n)
                    .map(|c| escape(r.get(c).map_or("", String::as_str)))
                    .collect()
            })
            .collect();
        let width = |c: usize| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .fold(3, usize::max)
        };
        let widths: Vec<usize> = (0..n).map(width).collect();
        let line = |f: &mut fmt::Formatter<'_>, row: &[String]| {
            row.iter()
                .zip(&widths)
                .try_for_each(|(c, w)| write!(f, "| {c:<w$} "))?;
            writeln!(f, "|")
        };
        line(f, &cells[0])?;
        line(
            f,
            &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        )?;
        cells[1..].iter().try_for_each(|r| line(f, r))
    }
}

/// Escapes a cell so it stays inside its column.
fn escape(cell: &str) -> String {
    let cell = cell.replace("\r\n", "\n").replace('\r', "\n");
    cell.trim().replace('|', "\\|").replace('\n', "<br>")
}

//! Report output for the xbar experiments: figures, heat maps, atomic files and
//! Markdown tables.
//!
//! * [`write_outcome`]: everything a run produced (CSV files, plots, `summary.md`,
//!   `manifest.json`); the summaries quote the papers' numbers from
//!   `data/paper-reference.toml`, each with its source.
//! * [`render_figure`]: line plots in a grid of panels ([`Figure`], [`Panel`], [`Series`]),
//!   drawn with plotters' chart API; one shared legend, Okabe-Ito colours with a marker
//!   shape per series.
//! * [`render_heatmaps`]: heat maps with colour bars ([`HeatmapGrid`], [`Heatmap`],
//!   [`ColorScale`]: viridis or a diverging blue-white-red).
//! * [`write_atomic`], [`write_csv_atomic`], [`write_json_atomic`]: crash-safe file output.
//! * [`MdTable`]: GitHub-flavoured Markdown tables.
//!
//! Every plot is written as `<stem>.svg` (drawn by plotters) and `<stem>.png`, which is
//! that SVG rasterised by resvg, so the two cannot disagree. Text is DejaVu Sans, compiled
//! into the crate: no system fonts, no fontconfig. Non-finite points break a line;
//! non-finite heat map cells are grey; too long text is shortened with an ellipsis;
//! descriptions that cannot be drawn give [`ReportError::InvalidFigure`]. Rendering never
//! prints and never panics.
//!
//! ```
//! use xbar_report::{ColorScale, Figure, Heatmap, HeatmapGrid, Panel, Series};
//!
//! let dir = std::env::temp_dir().join(format!("xbar-report-doc-{}", std::process::id()));
//! let xs: Vec<f64> = (0..=10).map(|i| f64::from(i) * 0.01).collect();
//! let panel = Panel {
//!     title: "Stuck-at faults".into(),
//!     x_label: "defect rate".into(),
//!     y_label: "accuracy".into(),
//!     y_range: Some((0.0, 1.0)),
//!     series: vec![
//!         Series::new("no correction", xs.iter().map(|&x| (x, 0.95 - 6.0 * x)).collect()),
//!         Series::new("with ECC", xs.iter().map(|&x| (x, 0.95 - 0.5 * x)).collect()).dashed(),
//!     ],
//!     hline: Some((0.97, "software".into())),
//!     ..Panel::default()
//! };
//! let fig = Figure { title: "Accuracy".into(), panels: vec![panel], columns: 1, panel_size: (480, 360) };
//! let files = xbar_report::render_figure(&fig, &dir.join("accuracy"))?;
//! assert_eq!(files, [dir.join("accuracy.svg"), dir.join("accuracy.png")]);
//!
//! let map = Heatmap {
//!     title: "Conductance".into(),
//!     rows: 8,
//!     cols: 6,
//!     values: (0..48).map(|i| 1e-5 * 100f64.powf(f64::from(i) / 47.0)).collect(),
//!     scale: ColorScale::Sequential,
//!     log10: true,
//!     colorbar_label: "G (S)".into(),
//!     ..Heatmap::default()
//! };
//! let grid = HeatmapGrid { title: String::new(), panels: vec![map], columns: 1, cell_px: 16 };
//! xbar_report::render_heatmaps(&grid, &dir.join("conductance"))?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), xbar_report::ReportError>(())
//! ```

mod correction;
mod csv_read;
mod csv_row;
mod detection;
mod error;
mod heatmap;
mod io;
mod outcome;
mod plot;
mod reference;
mod repair;
mod reread;
mod sensitivity;
mod stats;
mod table;

pub use error::{ReportError, Result};
pub use heatmap::{ColorScale, Heatmap, HeatmapGrid, render_heatmaps};
pub use io::{write_atomic, write_csv_atomic, write_json_atomic};
pub use outcome::write_outcome;
pub use plot::{Figure, Panel, Series, render_figure};
pub use reread::read_outcome;
pub use table::MdTable;

//! Report output for the xbar experiments: figures, heat maps, atomic files and
//! Markdown tables.
//!
//! This crate is generic (it knows nothing about crossbars or networks); study-specific
//! code builds [`Figure`]s and [`HeatmapGrid`]s and calls the renderers.
//!
//! * [`render_figure`]: line plots in a grid of panels ([`Figure`], [`Panel`], [`Series`]).
//! * [`render_heatmaps`]: heat maps with colour bars ([`HeatmapGrid`], [`Heatmap`],
//!   [`ColorScale`]), e.g. the conductance map of a crossbar array.
//! * [`write_atomic`], [`write_csv_atomic`], [`write_json_atomic`]: crash-safe file output.
//! * [`MdTable`]: GitHub-flavoured Markdown tables.
//!
//! Every plot is written twice, as `<stem>.svg` and `<stem>.png`, with identical layout.
//! Text uses DejaVu Sans, compiled into the crate, so rendering works on machines with no
//! system fonts and no fontconfig; the SVG names `DejaVu Sans` first and falls back to
//! other sans-serif fonts of the viewer. Rendering never prints and never panics on
//! degenerate data (NaN or infinite values, single points, constant data, empty series);
//! descriptions that cannot be drawn give [`ReportError::InvalidFigure`].
//!
//! Things to know:
//! * Renderers take a *stem*: `.svg` and `.png` are appended (`out/fig.v2` gives
//!   `out/fig.v2.svg`), parent directories are created, files are replaced atomically.
//! * Non-finite points break a line (a gap); non-finite heat map cells are grey.
//! * Legends: one shared legend under the title when all panels show the same entries,
//!   otherwise per panel, in a free corner of the plot or beside it.
//! * Heat maps draw row 0 at the top; `cell_px` sets the pixel size of one cell.
//! * Too long titles and labels are shortened with an ellipsis; images are limited to
//!   16384 px per side and 32 Mpx in all.
//! * The PNG is rendered by this crate's own anti-aliased rasteriser (no system
//!   libraries); call [`register_fonts`] only when drawing with plotters yourself.
//! * Rendering a typical 6-panel figure takes a few milliseconds (release build);
//!   functions are thread-safe.
//!
//! # Example
//!
//! ```
//! use xbar_report::{
//!     ColorScale, Figure, Heatmap, HeatmapGrid, MdTable, Panel, Series, render_figure,
//!     render_heatmaps,
//! };
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
//! let files = render_figure(&fig, &dir.join("accuracy"))?;
//! assert_eq!(files, [dir.join("accuracy.svg"), dir.join("accuracy.png")]);
//!
//! let (rows, cols) = (8, 6);
//! let map = Heatmap {
//!     title: "Conductance".into(),
//!     rows,
//!     cols,
//!     values: (0..rows * cols).map(|i| 1e-5 * 100f64.powf(i as f64 / 47.0)).collect(),
//!     scale: ColorScale::Sequential,
//!     log10: true,
//!     colorbar_label: "G (S)".into(),
//!     x_label: "column".into(),
//!     y_label: "row".into(),
//!     ..Heatmap::default()
//! };
//! let grid = HeatmapGrid { title: String::new(), panels: vec![map], columns: 1, cell_px: 16 };
//! render_heatmaps(&grid, &dir.join("conductance"))?;
//!
//! let mut table = MdTable::new(&["method", "accuracy"]);
//! table.row(vec!["ECC".into(), "0.945".into()]);
//! xbar_report::write_atomic(&dir.join("summary.md"), table.render().as_bytes())?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), xbar_report::ReportError>(())
//! ```

pub mod correction;
pub mod detection;
mod error;
mod heatmap;
mod io;
mod outcome;
mod plot;
pub mod repair;
pub mod sensitivity;
mod stats;
mod table;

pub use error::{ReportError, Result};
pub use heatmap::{ColorScale, Heatmap, HeatmapGrid, render_heatmaps};
pub use io::{write_atomic, write_csv_atomic, write_json_atomic};
pub use outcome::write_outcome;
pub use plot::{Figure, Panel, Series, render_figure};
pub use table::MdTable;

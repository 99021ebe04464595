//! Result records: plain data, one per scenario, consumed by writers and plots.

use serde::{Deserialize, Serialize};

/// One row of `results.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// Position in the scenario grid.
    pub scenario: u32,
    /// Defect shape kind.
    pub shape: String,
    /// The sweep's label: plots and tables group by it.
    pub label: String,
    /// Size parameter (empty for fixed shapes).
    pub size: Option<f64>,
    /// Injected layers, ascending: a list in JSON, one cell `[0, 3]` in CSV.
    pub layers: Vec<u32>,
    /// Stuck state (`off`, `on`, `mixed-<p>`).
    pub state: String,
    /// `pair` or `device`.
    pub level: String,
    /// Repetition.
    pub repeat: u32,
    /// Wire segment resistance (rows; columns alike in a `segment-ohms` sweep), in ohms.
    pub wire_ohms: f64,
    /// Faulty pairs (cells with at least one stuck device) over the injected arrays.
    pub defective_pairs: u32,
    /// Pairs in the injected arrays.
    pub array_pairs: u32,
    /// `defective_pairs / array_pairs`: the counted coverage.
    pub coverage: f64,
    /// Accuracy of the faulty circuit on all images of the dataset.
    pub accuracy: f64,
    /// Accuracy on the held-out test images only.
    pub accuracy_test: f64,
    /// Images whose prediction differs from the healthy circuit's.
    pub flipped: u32,
    /// The scenario's ChaCha stream id (hex), for reproducing it alone.
    pub stream: String,
    /// With a `[chip]`: the tiles holding defects, as `L<layer>:r<grid row>c<grid column>`
    /// separated by spaces (e.g. `L2:r0c1 L2:r1c1`); empty without a chip.
    #[serde(default)]
    pub defect_tiles: String,
    /// With a `[chip]`: the defective pairs over every used pair of the chip (all layers'
    /// tiles), the coverage per chip beside the per-array `coverage`; empty without a chip.
    #[serde(default)]
    pub chip_coverage: Option<f64>,
}

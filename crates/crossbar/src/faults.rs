//! Turning a defect mask into stuck devices on a programmed layer.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use xbar_device::Stuck;

use crate::Mask;

/// Which stuck state the devices under a mask take.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StuckState {
    /// Gap at its maximum (high-resistance state).
    Off,
    /// Gap at its minimum (low-resistance state).
    On,
    /// Each defective cell independently on with probability `p_on`, else off.
    Mixed {
        /// Probability of stuck-on per cell.
        p_on: f64,
    },
}

impl StuckState {
    /// Short label used in results (`off`, `on`, `mixed-0.3`).
    pub fn label(&self) -> String {
        match self {
            StuckState::Off => "off".into(),
            StuckState::On => "on".into(),
            StuckState::Mixed { p_on } => format!("mixed-{p_on}"),
        }
    }
}

/// Whether a defect hits both devices of a differential pair or one of them.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FaultLevel {
    /// Both devices of the pair get the same stuck gap (Sawal & Wong's model): the
    /// differential weight becomes 0 in an ideal circuit.
    #[default]
    Pair,
    /// One device of the pair, G+ or G- with equal probability per cell, is stuck; the other
    /// keeps its programmed value. Stuck-on then writes a full-scale weight of either sign.
    Device,
}

/// One stuck cell of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellFault {
    /// Array row (input; the bias row is the last one).
    pub row: u32,
    /// Logical column (output).
    pub col: u32,
    /// Stuck state of the G+ device, if stuck.
    pub plus: Option<Stuck>,
    /// Stuck state of the G- device, if stuck.
    pub minus: Option<Stuck>,
}

/// The stuck devices of one layer, in row-major cell order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerFaults {
    /// Faulty cells.
    pub cells: Vec<CellFault>,
}

impl LayerFaults {
    /// Assigns stuck states to every masked cell, drawing from `rng` in row-major order
    /// (one draw per cell for `Mixed`, one for `Device` level; nothing otherwise).
    pub fn from_mask<R: Rng + ?Sized>(
        mask: &Mask,
        state: StuckState,
        level: FaultLevel,
        rng: &mut R,
    ) -> LayerFaults {
        let mut cells = Vec::with_capacity(mask.count());
        for i in 0..mask.rows {
            for j in 0..mask.cols {
                if !mask.get(i, j) {
                    continue;
                }
                let stuck = match state {
                    StuckState::Off => Stuck::Off,
                    StuckState::On => Stuck::On,
                    StuckState::Mixed { p_on } => {
                        if rng.random::<f64>() < p_on {
                            Stuck::On
                        } else {
                            Stuck::Off
                        }
                    }
                };
                let (plus, minus) = match level {
                    FaultLevel::Pair => (Some(stuck), Some(stuck)),
                    FaultLevel::Device => {
                        if rng.random::<bool>() {
                            (Some(stuck), None)
                        } else {
                            (None, Some(stuck))
                        }
                    }
                };
                cells.push(CellFault {
                    row: i as u32,
                    col: j as u32,
                    plus,
                    minus,
                });
            }
        }
        LayerFaults { cells }
    }

    /// Number of faulty cells (pairs with at least one stuck device).
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True when no cell is faulty.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

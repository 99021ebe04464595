//! The scenario grid: every combination a sweep asks for, each with its own random stream.

use serde::Serialize;
use xbar_crossbar::chip::{Chip, Placement};
use xbar_crossbar::{FaultLevel, Shape, StuckState};

use crate::Experiment;

/// One point of the sweep: a pure function of the experiment and these coordinates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// Position in the expanded grid (the row order of `results.csv`).
    pub index: u32,
    /// Which `[[sweep]]` it came from.
    pub sweep: u32,
    /// Shape kind name.
    pub kind: String,
    /// The sweep's label (plots group by it).
    pub label: String,
    /// The geometry.
    pub shape: Shape,
    /// Swept size value, if the shape has one.
    pub size: Option<f64>,
    /// Layers injected (ascending).
    pub layers: Vec<usize>,
    /// Stuck state.
    pub state: StuckState,
    /// Pair or device level.
    pub level: FaultLevel,
    /// Where the shape is drawn (logical array, every tile, the die).
    pub placement: Placement,
    /// Repetition number.
    pub repeat: u32,
    /// Index into [`Experiment::wires`].
    pub wire: u32,
    /// Row wire segment resistance of that setting, in ohms (0 for ideal wires).
    pub wire_ohms: f64,
    /// ChaCha stream id: a hash of the defect coordinates above (not of `index`, `sweep` or
    /// the wire setting), so a scenario's random draws do not depend on where it sits in the
    /// file, and every wire setting sees the same defects (common random numbers).
    pub stream: u64,
}

pub use xbar_nn::fnv1a64;

/// The scenario stream id: FNV-1a of a fixed binary encoding of the defect coordinates
/// (shape parameters, layers, stuck state, level, repeat), never of text, so it depends on
/// neither float formatting nor key order nor the spelling of a mask file's path.
pub fn stream_of(
    shape: &Shape,
    layers: &[usize],
    state: &StuckState,
    level: FaultLevel,
    repeat: u32,
) -> u64 {
    let mut b = Vec::with_capacity(96);
    b.extend_from_slice(b"xbar-scenario-v2");
    shape.encode(&mut b);
    b.extend_from_slice(&(layers.len() as u64).to_le_bytes());
    for &l in layers {
        b.extend_from_slice(&(l as u64).to_le_bytes());
    }
    match *state {
        StuckState::Off => b.push(0),
        StuckState::On => b.push(1),
        StuckState::Mixed { p_on } => {
            b.push(2);
            b.extend_from_slice(&p_on.to_bits().to_le_bytes());
        }
    }
    b.push(match level {
        FaultLevel::Pair => 0,
        FaultLevel::Device => 1,
    });
    b.extend_from_slice(&repeat.to_le_bytes());
    fnv1a64(&b)
}

/// The stream of a shape placed on tiles or across the die: the layer-placed stream mixed with
/// the placement and the array size (they change what the draws mean). Layer placement keeps
/// the stream unchanged, so studies without a chip draw what they always drew.
fn placed(stream: u64, placement: Placement, chip: Option<&Chip>) -> u64 {
    if placement == Placement::Layer {
        return stream;
    }
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(&stream.to_le_bytes());
    b.push(placement as u8);
    for d in chip.map_or([0, 0], |c| c.array) {
        b.extend_from_slice(&(d as u64).to_le_bytes());
    }
    fnv1a64(&b)
}

impl Scenario {
    /// A content key of the whole job (defect stream, sweep label and wire setting): what a
    /// checkpoint entry must match to be reused.
    pub fn key(&self) -> u64 {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&self.stream.to_le_bytes());
        b.extend_from_slice(&self.wire_ohms.to_bits().to_le_bytes());
        b.extend_from_slice(&u64::from(self.wire).to_le_bytes());
        b.extend_from_slice(self.label.as_bytes());
        fnv1a64(&b)
    }
}

/// Expands the sweeps in file order: wire setting, sweep, size, layer set, stuck state,
/// repeat.
///
/// ```
/// let exp = xbar_experiment::Experiment::default_experiment()?;
/// let grid = xbar_experiment::expand(&exp);
/// assert_eq!(grid.len(), 84); // 5 shapes x 4 sizes x 4 layers + checkerboard x 4 layers
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
pub fn expand(exp: &Experiment) -> Vec<Scenario> {
    let mut out = Vec::with_capacity(exp.scenario_count());
    for (wi, wire) in exp.wires.iter().enumerate() {
        for (si, sweep) in exp.sweeps.iter().enumerate() {
            for sized in &sweep.shapes {
                for layers in &sweep.layer_sets {
                    let mut layers = layers.clone();
                    layers.sort_unstable();
                    layers.dedup();
                    for state in &sweep.states {
                        for repeat in 0..sweep.repeats {
                            let stream = placed(
                                stream_of(&sized.shape, &layers, state, sweep.level, repeat),
                                sweep.placement,
                                exp.circuit.chip.as_ref(),
                            );
                            out.push(Scenario {
                                index: out.len() as u32,
                                sweep: si as u32,
                                kind: sweep.kind.clone(),
                                label: sweep.label.clone(),
                                shape: sized.shape.clone(),
                                size: sized.size,
                                layers: layers.clone(),
                                state: *state,
                                level: sweep.level,
                                placement: sweep.placement,
                                repeat,
                                wire: wi as u32,
                                wire_ohms: wire.r_row,
                                stream,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn streams_are_distinct_and_stable() {
        let exp = Experiment::default_experiment().unwrap();
        let grid = expand(&exp);
        let mut streams: Vec<u64> = grid.iter().map(|s| s.stream).collect();
        streams.sort_unstable();
        streams.dedup();
        assert_eq!(streams.len(), grid.len());
        assert_eq!(expand(&exp), grid);
    }
}

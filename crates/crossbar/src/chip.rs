//! Physical arrays: a chip of fixed-size tiles, the floorplan of a network's layers on it,
//! and defects placed on tiles or across the die.
//!
//! A layer's logical array is `(inputs + 1) x outputs` differential pairs. A physical array
//! (a *tile*) has `rows x cols` devices; a pair takes two adjacent columns, so a tile holds
//! `rows x cols/2` pairs. A layer larger than a tile is split into a grid of tiles: row
//! splits share their output columns (their partial currents meet on one node, the fully
//! analog architecture), column splits are independent outputs. Tiles are placed on the die
//! layer after layer, row-major, in a grid `grid_cols` tiles wide.
//!
//! Defects are boolean maps on one of two grids, in pair cells:
//!
//! * **tile coordinates** ([`Floorplan::tile_mask`]): a shape drawn on the `rows x cols/2`
//!   grid of one tile (a systematic defect of the array design, repeated on every tile of a
//!   layer, or on chosen tiles);
//! * **die coordinates** ([`Floorplan::die_mask`]): a shape drawn once over the whole tile
//!   grid (a wafer-level circle, ring or edge band that crosses tile boundaries).
//!
//! Either way [`Floorplan::layer_mask`] returns the layer's logical mask, which the rest of
//! the emulator (stuck devices, evaluation, coverage) uses unchanged. Unused parts of a tile
//! (a layer that does not fill it) hold no devices and can fail without effect.
//!
//! ```
//! use xbar_crossbar::chip::{Chip, Floorplan};
//! // The digits network's four layers (64-50-20-8-10, bias rows included) on 32 x 32 tiles
//! // (16 pairs per tile row).
//! let chip = Chip { array: [32, 32] };
//! let plan = Floorplan::new(&[(65, 50), (51, 20), (21, 8), (9, 10)], &chip)?;
//! assert_eq!(plan.layer_tiles(0).count(), 3 * 4); // ceil(65/32) x ceil(50/16)
//! assert_eq!(plan.tiles.len(), 12 + 4 + 1 + 1);
//! let used = (65 * 50 + 51 * 20 + 21 * 8 + 9 * 10) as f64;
//! assert_eq!(plan.utilisation(), used / (18 * 32 * 16) as f64);
//! # Ok::<(), xbar_crossbar::CrossbarError>(())
//! ```

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use xbar_device::Issues;

use crate::{CrossbarError, Mask, Shape};

/// The physical array size of a chip, in devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chip {
    /// `[rows, cols]` of one array in devices; a differential pair takes two columns, so
    /// `cols` must be even.
    pub array: [usize; 2],
}

impl Chip {
    /// Pairs per tile: `(rows, cols / 2)`.
    pub fn tile_pairs(&self) -> (usize, usize) {
        (self.array[0], self.array[1] / 2)
    }

    /// Checks `rows` in [2, 65536] (an input and the bias at least) and `cols` even, in
    /// [2, 65536]; every problem is listed with its key (`array[0]`, `array[1]`).
    ///
    /// # Errors
    /// The problems found.
    pub fn validate(&self) -> Result<(), Issues> {
        let [r, c] = self.array;
        let mut is = Issues::default();
        if !(2..=65_536).contains(&r) {
            is.push("array[0]", r, "rows in [2, 65536]");
        }
        if !(2..=65_536).contains(&c) || c % 2 != 0 {
            is.push(
                "array[1]",
                c,
                "an even number of columns in [2, 65536] (a differential pair takes two)",
            );
        }
        is.into_result()
    }
}

/// One physical array holding a block of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    /// The layer it holds a block of.
    pub layer: usize,
    /// Row split index within the layer (0 = the first `rows` inputs).
    pub row_block: usize,
    /// Column split index within the layer.
    pub col_block: usize,
    /// First logical row (input) of the block.
    pub row0: usize,
    /// First logical pair column (output) of the block.
    pub col0: usize,
    /// Logical rows used (`<=` tile rows).
    pub rows: usize,
    /// Pair columns used (`<=` tile pairs per row).
    pub cols: usize,
    /// Position on the die: tile grid row.
    pub grid_row: usize,
    /// Position on the die: tile grid column.
    pub grid_col: usize,
}

/// A network's layers split into tiles and placed on the die.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Floorplan {
    /// The chip.
    pub chip: Chip,
    /// Logical layer shapes `(rows, pair cols)` it was made from.
    pub layers: Vec<(usize, usize)>,
    /// Every tile, layer by layer, row blocks outer, column blocks inner.
    pub tiles: Vec<Tile>,
    /// Width of the tile grid.
    pub grid_cols: usize,
    /// Height of the tile grid.
    pub grid_rows: usize,
}

impl Floorplan {
    /// Splits layers of logical shape `(rows, pair cols)` (bias row included) into tiles of
    /// `chip` and places them row-major on a near-square grid.
    ///
    /// # Errors
    /// An invalid chip, or an empty layer.
    pub fn new(layers: &[(usize, usize)], chip: &Chip) -> Result<Floorplan, CrossbarError> {
        chip.validate()
            .map_err(|issues| CrossbarError::InvalidChip { issues })?;
        let (tr, tc) = chip.tile_pairs();
        let mut tiles = Vec::new();
        for (l, &(rows, cols)) in layers.iter().enumerate() {
            if rows == 0 || cols == 0 {
                return Err(CrossbarError::Shape {
                    what: format!("layer {l} is {rows} x {cols}: nothing to place"),
                });
            }
            for rb in 0..rows.div_ceil(tr) {
                for cb in 0..cols.div_ceil(tc) {
                    tiles.push(Tile {
                        layer: l,
                        row_block: rb,
                        col_block: cb,
                        row0: rb * tr,
                        col0: cb * tc,
                        rows: tr.min(rows - rb * tr),
                        cols: tc.min(cols - cb * tc),
                        grid_row: 0,
                        grid_col: 0,
                    });
                }
            }
        }
        let grid_cols = (tiles.len() as f64).sqrt().ceil().max(1.0) as usize;
        for (k, t) in tiles.iter_mut().enumerate() {
            t.grid_row = k / grid_cols;
            t.grid_col = k % grid_cols;
        }
        Ok(Floorplan {
            chip: *chip,
            layers: layers.to_vec(),
            grid_rows: tiles.len().div_ceil(grid_cols),
            grid_cols,
            tiles,
        })
    }

    /// The tiles of `layer`, in order.
    pub fn layer_tiles(&self, layer: usize) -> impl Iterator<Item = &Tile> + '_ {
        self.tiles.iter().filter(move |t| t.layer == layer)
    }

    /// Row splits of `layer` (tiles whose partial currents are summed per output).
    pub fn row_blocks(&self, layer: usize) -> usize {
        self.layer_tiles(layer)
            .map(|t| t.row_block + 1)
            .max()
            .unwrap_or(0)
    }

    /// Pairs that hold a weight: every layer's logical array (the used part of every tile).
    pub fn used_pairs(&self) -> usize {
        self.tiles.iter().map(|t| t.rows * t.cols).sum()
    }

    /// Used pairs over the pairs of all placed tiles.
    pub fn utilisation(&self) -> f64 {
        let (tr, tc) = self.chip.tile_pairs();
        let used: usize = self.tiles.iter().map(|t| t.rows * t.cols).sum();
        used as f64 / (self.tiles.len() * tr * tc) as f64
    }

    /// `shape` drawn on one tile's full `rows x cols/2` pair grid (random shapes draw from
    /// `rng`).
    ///
    /// # Errors
    /// From [`Shape::mask`] (a mask file of another size without resampling).
    pub fn tile_mask<R: Rng + ?Sized>(
        &self,
        shape: &Shape,
        rng: &mut R,
    ) -> Result<Mask, CrossbarError> {
        let (tr, tc) = self.chip.tile_pairs();
        shape.mask(tr, tc, rng)
    }

    /// `shape` drawn once over the whole die: `grid_rows * rows` x `grid_cols * cols/2` pair
    /// cells.
    ///
    /// # Errors
    /// From [`Shape::mask`].
    pub fn die_mask<R: Rng + ?Sized>(
        &self,
        shape: &Shape,
        rng: &mut R,
    ) -> Result<Mask, CrossbarError> {
        let (tr, tc) = self.chip.tile_pairs();
        shape.mask(self.grid_rows * tr, self.grid_cols * tc, rng)
    }

    /// `shape` drawn as `placement` asks: `None` for [`Placement::Layer`] (the caller draws
    /// on each layer's logical array), else the tile or die mask.
    ///
    /// # Errors
    /// From [`Shape::mask`].
    pub fn draw<R: Rng + ?Sized>(
        &self,
        shape: &Shape,
        placement: Placement,
        rng: &mut R,
    ) -> Result<Option<Placed>, CrossbarError> {
        Ok(match placement {
            Placement::Layer => None,
            Placement::Tile => Some(Placed::EveryTile(self.tile_mask(shape, rng)?)),
            Placement::Die => Some(Placed::Die(self.die_mask(shape, rng)?)),
        })
    }

    /// Die positions `(grid row, grid column)` of the tiles of `layer` whose block holds at
    /// least one cell of `mask` (the layer's logical mask), in floorplan order.
    pub fn defect_tiles(&self, layer: usize, mask: &Mask) -> Vec<(usize, usize)> {
        let cols = self.layers[layer].1;
        self.layer_tiles(layer)
            .filter(|t| {
                (0..t.rows)
                    .any(|i| (0..t.cols).any(|j| mask.cells[(t.row0 + i) * cols + t.col0 + j]))
            })
            .map(|t| (t.grid_row, t.grid_col))
            .collect()
    }

    /// The logical mask of `layer` from defects placed on the chip.
    pub fn layer_mask(&self, layer: usize, placed: &Placed) -> Mask {
        let (rows, cols) = self.layers[layer];
        let (tr, tc) = self.chip.tile_pairs();
        let mut m = Mask::empty(rows, cols);
        for t in self.layer_tiles(layer) {
            let (src, r0, c0) = match placed {
                Placed::EveryTile(mask) => (mask, 0, 0),
                Placed::Die(mask) => (mask, t.grid_row * tr, t.grid_col * tc),
            };
            for i in 0..t.rows {
                for j in 0..t.cols {
                    if src.get(r0 + i, c0 + j) {
                        m.cells[(t.row0 + i) * cols + t.col0 + j] = true;
                    }
                }
            }
        }
        m
    }
}

/// Where a sweep's defect shape is drawn.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// On each injected layer's logical array, as if it were one array (the papers' model).
    #[default]
    Layer,
    /// On one tile's grid, repeated on every tile of each injected layer (a systematic defect
    /// of the array design). Needs a chip.
    Tile,
    /// Once over the whole die, across tile boundaries (a wafer-level defect); each injected
    /// layer keeps the part that falls on its tiles. Needs a chip.
    Die,
}

impl Placement {
    /// The name used in experiment files.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Layer => "layer",
            Placement::Tile => "tile",
            Placement::Die => "die",
        }
    }
}

/// Defects placed on the chip, for [`Floorplan::layer_mask`].
#[derive(Clone, Debug, PartialEq)]
pub enum Placed {
    /// One tile-sized mask ([`Floorplan::tile_mask`]) repeated on every tile.
    EveryTile(Mask),
    /// One die-sized mask ([`Floorplan::die_mask`]).
    Die(Mask),
}

impl fmt::Display for Floorplan {
    /// A text floorplan: tiles per layer, row splits, utilisation, and the die grid with each
    /// tile's layer number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, c] = self.chip.array;
        writeln!(
            f,
            "chip: {r} x {c} devices per array ({} x {} pairs); {} tiles on a {} x {} grid, {:.1} % of their pairs used",
            self.chip.tile_pairs().0,
            self.chip.tile_pairs().1,
            self.tiles.len(),
            self.grid_rows,
            self.grid_cols,
            100.0 * self.utilisation()
        )?;
        for (l, &(rows, cols)) in self.layers.iter().enumerate() {
            let n = self.layer_tiles(l).count();
            let rb = self.row_blocks(l);
            writeln!(
                f,
                "  layer {l}: {rows} x {cols} pairs -> {n} tile{} ({rb} row block{} x {} column block{})",
                if n == 1 { "" } else { "s" },
                if rb == 1 { "" } else { "s" },
                n / rb.max(1),
                if n / rb.max(1) == 1 { "" } else { "s" },
            )?;
        }
        let mut grid = vec![vec!['.'; self.grid_cols]; self.grid_rows];
        for t in &self.tiles {
            grid[t.grid_row][t.grid_col] =
                char::from_digit((t.layer % 36) as u32, 36).unwrap_or('?');
        }
        for row in grid {
            writeln!(f, "  {}", row.into_iter().collect::<String>())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::Center;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(1)
    }

    #[test]
    fn tiles_cover_every_logical_cell_exactly_once() {
        let layers = [(785, 256), (257, 128), (129, 10)];
        let plan = Floorplan::new(&layers, &Chip { array: [128, 128] }).unwrap();
        for (l, &(rows, cols)) in layers.iter().enumerate() {
            let mut seen = vec![0u8; rows * cols];
            for t in plan.layer_tiles(l) {
                assert!(t.rows <= 128 && t.cols <= 64);
                for i in 0..t.rows {
                    for j in 0..t.cols {
                        seen[(t.row0 + i) * cols + t.col0 + j] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "layer {l}");
        }
        // 785 rows -> 7 row blocks, 256 outputs -> 4 column blocks of 64 pairs.
        assert_eq!(plan.layer_tiles(0).count(), 28);
        assert_eq!(plan.row_blocks(0), 7);
        assert_eq!(plan.tiles.len(), 28 + 3 * 2 + 2);
        // Grid positions are distinct and inside the grid.
        let mut pos: Vec<_> = plan
            .tiles
            .iter()
            .map(|t| (t.grid_row, t.grid_col))
            .collect();
        pos.sort_unstable();
        pos.dedup();
        assert_eq!(pos.len(), plan.tiles.len());
        assert!(
            pos.iter()
                .all(|&(r, c)| r < plan.grid_rows && c < plan.grid_cols)
        );
    }

    #[test]
    fn a_full_tile_mask_marks_exactly_the_used_cells_and_die_masks_cross_tiles() {
        let plan = Floorplan::new(&[(5, 3), (3, 2)], &Chip { array: [4, 4] }).unwrap();
        let all = Mask {
            rows: 4,
            cols: 2,
            cells: vec![true; 8],
        };
        for l in 0..2 {
            let m = plan.layer_mask(l, &Placed::EveryTile(all.clone()));
            assert_eq!(
                m.count(),
                m.rows * m.cols,
                "every logical cell lies on some tile"
            );
        }
        // A single defective die cell lands in exactly one layer cell (or in an unused spot).
        let (gr, gc) = (plan.grid_rows * 4, plan.grid_cols * 2);
        let mut hits = 0;
        for i in 0..gr {
            for j in 0..gc {
                let mut die = Mask::empty(gr, gc);
                die.cells[i * gc + j] = true;
                hits += (0..2)
                    .map(|l| plan.layer_mask(l, &Placed::Die(die.clone())).count())
                    .sum::<usize>();
            }
        }
        assert_eq!(hits, 5 * 3 + 3 * 2);
    }

    #[test]
    fn a_die_circle_hits_the_centre_tiles_and_spares_the_corners() {
        let plan = Floorplan::new(&[(129, 64); 9], &Chip { array: [128, 128] }).unwrap();
        // 9 layers x 2 row blocks = 18 tiles on a 5-wide grid.
        assert_eq!((plan.grid_rows, plan.grid_cols), (4, 5));
        let circle = Shape::Circle {
            r: 0.15,
            center: Center::MIDDLE,
        };
        let die = plan.die_mask(&circle, &mut rng()).unwrap();
        let per_tile: Vec<usize> = plan
            .tiles
            .iter()
            .map(|t| {
                let (r0, c0) = (t.grid_row * 128, t.grid_col * 64);
                (0..t.rows)
                    .flat_map(|i| (0..t.cols).map(move |j| (i, j)))
                    .filter(|&(i, j)| die.get(r0 + i, c0 + j))
                    .count()
            })
            .collect();
        assert_eq!(per_tile[0], 0, "corner tile");
        // The die is 512 x 320 pairs: the disc (radius 48) spans the tiles around (256, 160).
        let centre: usize = plan
            .tiles
            .iter()
            .zip(&per_tile)
            .filter(|(t, _)| (1..=2).contains(&t.grid_row) && (2..=2).contains(&t.grid_col))
            .map(|(_, &n)| n)
            .sum();
        assert!(centre > 0);
        let total: usize = (0..9)
            .map(|l| plan.layer_mask(l, &Placed::Die(die.clone())).count())
            .sum();
        assert_eq!(total, per_tile.iter().sum::<usize>());
    }

    #[test]
    fn bad_chips_are_named() {
        for (array, needle) in [
            ([1, 8], "`array[0]` = 1"),
            ([8, 7], "`array[1]` = 7"),
            ([8, 0], "`array[1]` = 0"),
        ] {
            let e = Floorplan::new(&[(3, 3)], &Chip { array })
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e}");
        }
        let e = Floorplan::new(&[(0, 3)], &Chip { array: [4, 4] })
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 0"), "{e}");
    }

    #[test]
    fn the_text_floorplan_lists_layers_and_draws_the_grid() {
        let plan = Floorplan::new(&[(65, 50), (51, 10)], &Chip { array: [64, 64] }).unwrap();
        let s = plan.to_string();
        // 64 rows x 32 pairs per tile: 65 x 50 needs 2 x 2 tiles.
        let want = "layer 0: 65 x 50 pairs -> 4 tiles (2 row blocks x 2 column blocks)";
        assert!(s.contains(want), "{s}");
        assert!(
            s.contains("layer 1: 51 x 10 pairs -> 1 tile (1 row block x 1 column block)"),
            "{s}"
        );
        let grid: Vec<&str> = s.lines().skip(3).map(str::trim).collect();
        assert_eq!(grid, ["000", "01."], "{s}");
    }
}

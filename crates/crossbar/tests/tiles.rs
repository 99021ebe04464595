//! Physical tiles: ADCs per tile output, and the wire solver per tile.

use faer::Mat;
use xbar_crossbar::chip::Chip;
use xbar_crossbar::*;
use xbar_device::{IvModel, Stuck, Variability};

mod common;
use common::inputs;

fn network(sizes: &[usize], iv: IvModel, circuit: CircuitConfig, seed: u64) -> AnalogNetwork {
    common::random_network(sizes, iv, &circuit, &Variability::default(), seed)
}

fn max_rel_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let scale = (0..b.ncols())
        .flat_map(|j| (0..b.nrows()).map(move |i| (i, j)))
        .fold(0.0f64, |m, (i, j)| m.max(b[(i, j)].abs()));
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m / scale
}

fn distinct(col: impl Iterator<Item = f64>) -> usize {
    let mut v: Vec<u64> = col.map(f64::to_bits).collect();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// A b-bit ADC gives at most 2^b values per tile output (one tile: the last layer's outputs
/// take at most 2^b values; two row tiles: sums of two levels); every value is a level;
/// the calibrated range is the largest partial output, so nothing clips on the calibration
/// data; many bits converge to the analog circuit; the evaluator's general path gives the
/// same bits as the network's forward pass.
#[test]
fn adc_levels_range_and_convergence() {
    let sizes = [12, 9, 6];
    let analog = network(&sizes, IvModel::Sinh, CircuitConfig::default(), 7);
    let x = inputs(200, 12, 1);
    let v_in = analog.input_voltages(x.as_ref());
    let want = analog.forward(v_in.as_ref());
    for bits in [2u32, 3, 5] {
        let circuit = CircuitConfig {
            adc: Some(Adc {
                bits,
                range: AdcRange::Calibrated,
            }),
            ..CircuitConfig::default()
        };
        let net = network(&sizes, IvModel::Sinh, circuit, 7);
        let adc = net.layers[1].adc.expect("adc");
        assert_eq!((adc.bits, adc.block_rows), (bits, 10));
        // The range is the largest |R_load I| of the healthy calibration batch.
        assert!(adc.range > 0.0 && adc.range <= 1.0, "{}", adc.range);
        let out = net.forward(v_in.as_ref());
        for j in 0..out.ncols() {
            let d = distinct(out.col(j).iter().copied());
            assert!(d <= 1 << bits, "{bits} bits, output {j}: {d} values");
            for v in out.col(j).iter() {
                let level = (v + adc.range) / (2.0 * adc.range) * ((1u64 << bits) - 1) as f64;
                assert!((level - level.round()).abs() < 1e-9, "{v} is not a level");
            }
        }
        let eval = Evaluator::new(&net, v_in.as_ref());
        let mut ws = eval.workspace();
        assert_eq!(eval.run(&[None, None], &mut ws).to_owned(), out);
    }
    let fine = CircuitConfig {
        adc: Some(Adc {
            bits: 20,
            range: AdcRange::Calibrated,
        }),
        ..CircuitConfig::default()
    };
    let net = network(&sizes, IvModel::Sinh, fine, 7);
    let err = max_rel_diff(&net.forward(v_in.as_ref()), &want);
    assert!(err < 1e-4, "20-bit ADC vs analog: {err:e}");

    // Two row tiles per layer (6 rows per tile): sums of two levels.
    let split = CircuitConfig {
        chip: Some(Chip { array: [6, 64] }),
        adc: Some(Adc {
            bits: 2,
            range: AdcRange::Volts(0.05),
        }),
        ..CircuitConfig::default()
    };
    let net = network(&sizes, IvModel::Sinh, split, 7);
    assert_eq!(net.layers[0].row_blocks().count(), 3); // 13 rows: 6 + 6 + 1 (the bias)
    let out = net.forward(v_in.as_ref());
    for j in 0..out.ncols() {
        let d = distinct(out.col(j).iter().copied());
        assert!(d <= 7, "two tiles of 2 bits give at most 7 sums, got {d}");
    }
}

/// The wire solver per tile: with ideal wires a tiled network equals the ideal path (to
/// rounding: row tiles add in another order); a chip whose tiles hold every layer whole gives
/// the untiled solver's bits; shorter wires on smaller tiles lose less to IR drop.
#[test]
fn per_tile_wires_agree_with_the_ideal_path_and_lose_less_on_small_tiles() {
    let sizes = [40, 24, 10];
    let x = inputs(30, 40, 2);
    let wires = WireConfig {
        r_row: 2.0,
        r_col: 2.0,
        ..WireConfig::default()
    };
    for iv in [IvModel::Linear, IvModel::Sinh] {
        let whole = network(&sizes, iv, CircuitConfig::default(), 3);
        let v_in = whole.input_voltages(x.as_ref());
        let ideal = whole.forward(v_in.as_ref());
        let tiled_circuit = |array| CircuitConfig {
            chip: Some(Chip { array }),
            ..whole.circuit.clone()
        };
        let mut tiled = whole.clone();
        tiled.circuit = tiled_circuit([16, 16]);
        let ideal_tiles = WiredNetwork::new(&tiled, &WireConfig::default()).expect("wired");
        assert_eq!(ideal_tiles.tiles(0).len(), 3 * 3); // 41 rows x 24 pairs on 16 x 8
        let err = max_rel_diff(&ideal_tiles.forward(v_in.as_ref()).unwrap(), &ideal);
        assert!(
            err < 1e-13,
            "{iv:?}: ideal wires on tiles vs ideal path {err:e}"
        );

        let mut big = whole.clone();
        big.circuit = tiled_circuit([64, 64]);
        let a = WiredNetwork::new(&big, &wires).unwrap();
        let b = WiredNetwork::new(&whole, &wires).unwrap();
        assert_eq!(
            a.forward(v_in.as_ref()).unwrap(),
            b.forward(v_in.as_ref()).unwrap()
        );

        let loss = |net: &AnalogNetwork| {
            let w = WiredNetwork::new(net, &wires).unwrap();
            max_rel_diff(&w.forward(v_in.as_ref()).unwrap(), &ideal)
        };
        let (on_whole, on_tiles) = (loss(&whole), loss(&tiled));
        assert!(
            on_tiles < 0.5 * on_whole,
            "{iv:?}: IR-drop error {on_tiles:e} on 16 x 16 tiles vs {on_whole:e} on whole arrays"
        );
    }
}

/// A defect rebuilds only the tiles that hold a faulty device, and the result equals a
/// wired network built afresh on the faulty conductances.
#[test]
fn faults_rebuild_only_their_tiles() {
    let circuit = CircuitConfig {
        chip: Some(Chip { array: [16, 16] }),
        ..CircuitConfig::default()
    };
    let net = network(&[40, 24, 10], IvModel::Linear, circuit, 4);
    let wires = WireConfig {
        r_row: 1.0,
        r_col: 1.0,
        ..WireConfig::default()
    };
    let base = WiredNetwork::new(&net, &wires).unwrap();
    // Two stuck-on pairs, both in the tile of rows 16..32 and pairs 8..16.
    let cell = |row, col| CellFault {
        row,
        col,
        plus: Some(Stuck::On),
        minus: Some(Stuck::On),
    };
    let faults = LayerFaults {
        cells: vec![cell(20, 9), cell(31, 15)],
    };
    let faulty = base.with_faults(0, &faults).unwrap();
    let mut rebuilt = 0;
    for (a, b) in base.tiles(0).iter().zip(faulty.tiles(0)) {
        if !std::sync::Arc::ptr_eq(&a.array, &b.array) {
            rebuilt += 1;
            assert_eq!((a.tile.row0, a.tile.col0), (16, 8));
        }
    }
    assert_eq!(rebuilt, 1);
    let mut copy = net.clone();
    let (p, m) = net.layers[0].faulty_conductances(&net.device, &faults);
    copy.layers[0].g_plus = p;
    copy.layers[0].g_minus = m;
    let fresh = WiredNetwork::new(&copy, &wires).unwrap();
    let v_in = net.input_voltages(inputs(10, 40, 5).as_ref());
    assert_eq!(
        faulty.forward(v_in.as_ref()).unwrap(),
        fresh.forward(v_in.as_ref()).unwrap()
    );
}

/// A finite op-amp gain couples row tiles through the shared amplifier node, which the
/// per-tile solver does not model: refused with the reason, unless every tile has its own
/// converter.
#[test]
fn finite_gain_on_row_tiles_needs_an_adc() {
    let wires = WireConfig {
        op_amp_gain: Some(1e4),
        ..WireConfig::default()
    };
    let chip = Some(Chip { array: [16, 16] });
    let net = network(
        &[40, 10],
        IvModel::Linear,
        CircuitConfig {
            chip,
            ..CircuitConfig::default()
        },
        6,
    );
    let e = WiredNetwork::new(&net, &wires).unwrap_err().to_string();
    assert!(e.contains("op-amp gain") && e.contains("layer 0"), "{e}");
    let with_adc = network(
        &[40, 10],
        IvModel::Linear,
        CircuitConfig {
            chip,
            adc: Some(Adc {
                bits: 8,
                range: AdcRange::Calibrated,
            }),
            ..CircuitConfig::default()
        },
        6,
    );
    assert!(WiredNetwork::new(&with_adc, &wires).is_ok());
    // Netlists model whole arrays only.
    let Err(e) = netlist::NetlistSpec::for_layer(&net, 0, &[0.0; 40], WireConfig::default()) else {
        panic!("a netlist of a split array was written")
    };
    let e = e.to_string();
    assert!(e.contains("split over several tiles"), "{e}");
}

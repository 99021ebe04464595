//! The IR-drop path: equivalence with the ideal path, circuit laws, stuck-on vs stuck-off.

#![allow(clippy::print_stdout)] // the tests report measured effects with --nocapture

use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xbar_crossbar::*;
use xbar_device::{DeviceParams, IvModel, Stuck, Variability};

mod common;
use common::inputs;

fn device(iv: IvModel) -> DeviceParams {
    DeviceParams {
        iv,
        ..DeviceParams::default()
    }
}

fn network(
    sizes: &[usize],
    iv: IvModel,
    variability: Variability,
    rail: Option<f64>,
    seed: u64,
) -> AnalogNetwork {
    let circuit = CircuitConfig {
        rail,
        ..CircuitConfig::default()
    };
    common::random_network(sizes, iv, &circuit, &variability, seed)
}

fn max_abs_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

fn max_abs(a: &Mat<f64>) -> f64 {
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max(a[(i, j)].abs());
        }
    }
    m
}

/// A copy of `net` whose layer `l` carries `faults` (the ideal path's view of a defect).
fn with_faults(net: &AnalogNetwork, l: usize, faults: &LayerFaults) -> AnalogNetwork {
    let mut f = net.clone();
    let (p, m) = net.layers[l].faulty_conductances(&net.device, faults);
    f.layers[l].g_plus = p;
    f.layers[l].g_minus = m;
    f
}

fn circle_faults(
    net: &AnalogNetwork,
    l: usize,
    r: f64,
    state: StuckState,
    level: FaultLevel,
) -> LayerFaults {
    let layer = &net.layers[l];
    let mask = Shape::Circle {
        r,
        center: Center::MIDDLE,
    }
    .mask(
        layer.rows(),
        layer.cols(),
        &mut ChaCha8Rng::seed_from_u64(0),
    )
    .expect("mask");
    LayerFaults::from_mask(&mask, state, level, &mut ChaCha8Rng::seed_from_u64(1))
}

#[test]
fn ideal_wires_reproduce_the_ideal_path_exactly() {
    for iv in [IvModel::Linear, IvModel::Sinh] {
        let net = network(&[12, 9, 6], iv, Variability::default(), None, 3);
        let v = inputs(25, 12, 4);
        let wired = WiredNetwork::new(&net, &WireConfig::default()).expect("wired");
        assert!((0..2).all(|l| {
            wired
                .tiles(l)
                .iter()
                .all(|t| t.array.unknowns() == 0 && t.array.method() == SolveMethod::Transfer)
        }));
        assert_eq!(
            wired.forward_all(v.as_ref()).expect("solve"),
            net.forward_all(v.as_ref())
        );
    }
}

#[test]
fn stuck_on_and_stuck_off_pairs_differ_only_through_the_wires() {
    for iv in [IvModel::Linear, IvModel::Sinh] {
        let net = network(&[16, 10, 6], iv, Variability::default(), None, 5);
        let v = inputs(12, 16, 6);
        let on = circle_faults(&net, 0, 0.3, StuckState::On, FaultLevel::Pair);
        let off = circle_faults(&net, 0, 0.3, StuckState::Off, FaultLevel::Pair);
        assert!(on.len() > 20 && on.len() == off.len());
        let ideal_faulty = with_faults(&net, 0, &on).forward(v.as_ref());
        // r = 0: both equal the ideal path (the weight of a stuck pair is 0 either way).
        let zero = WiredNetwork::new(&net, &WireConfig::default()).expect("wired");
        let z_on = zero
            .with_faults(0, &on)
            .expect("on")
            .forward(v.as_ref())
            .expect("solve");
        let z_off = zero
            .with_faults(0, &off)
            .expect("off")
            .forward(v.as_ref())
            .expect("solve");
        let scale = max_abs(&ideal_faulty);
        assert!(max_abs_diff(&z_on, &z_off) <= 1e-12 * scale, "{iv:?}");
        assert!(
            max_abs_diff(&z_on, &ideal_faulty) <= 1e-12 * scale,
            "{iv:?}"
        );
        // 1 ohm per segment: a stuck-on pair draws ~2 x 1.8 mA/V more current through the
        // shared wires than a stuck-off one, so the outputs differ.
        let w = WireConfig {
            r_row: 1.0,
            r_col: 1.0,
            ..WireConfig::default()
        };
        let wired = WiredNetwork::new(&net, &w).expect("wired");
        let w_on = wired
            .with_faults(0, &on)
            .expect("on")
            .forward(v.as_ref())
            .expect("solve");
        let w_off = wired
            .with_faults(0, &off)
            .expect("off")
            .forward(v.as_ref())
            .expect("solve");
        let d = max_abs_diff(&w_on, &w_off);
        println!(
            "{iv:?}: stuck-on vs stuck-off pairs, 1 ohm wires: max |dV| = {d:.3e} V (full scale {scale:.3e} V)"
        );
        assert!(d > 1e-3 * scale, "{iv:?}: {d:e}");
    }
}

#[test]
fn one_cell_is_a_series_circuit() {
    for gain in [None, Some(1e3)] {
        let d = device(IvModel::Linear);
        let g = 1.0e-3;
        let gp = Mat::from_fn(1, 1, |_, _| g);
        let gm = Mat::from_fn(1, 1, |_, _| 0.0);
        let w = WireConfig {
            r_row: 3.0,
            r_col: 7.0,
            r_source: 11.0,
            r_in: 13.0,
            op_amp_gain: gain,
        };
        let r_load = 800.0;
        let a = WiredArray::new(&d, gp.as_ref(), gm.as_ref(), r_load, &w).expect("array");
        let r_tia = gain.map_or(0.0, |a| r_load / (1.0 + a));
        let i = 0.1 / (11.0 + 3.0 + 1.0 / g + 7.0 + 13.0 + r_tia);
        let s = a.solve(&[0.1]).expect("solve");
        assert!((s.differential[0] - i).abs() <= 1e-15, "{gain:?}");
        let v = a
            .differential_currents(Mat::<f64>::zeros(1, 0).as_ref(), 0.1)
            .expect("batch");
        assert!((v[(0, 0)] - i).abs() <= 1e-15);
        let tia = gain.map_or(r_load, |a| r_load * a / (1.0 + a));
        assert_eq!(a.tia_gain(), tia);
    }
}

#[test]
fn finite_gain_alone_matches_the_closed_form() {
    // No wire: each column node floats at V_n = I R/(1+A), so I = Σ G V / (1 + ΣG R/(1+A)).
    let d = device(IvModel::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let gp = Mat::from_fn(5, 3, |_, _| 1e-3 * rng.random::<f64>());
    let gm = Mat::from_fn(5, 3, |_, _| 1e-3 * rng.random::<f64>());
    let (r, a) = (2000.0, 50.0);
    let w = WireConfig {
        op_amp_gain: Some(a),
        ..WireConfig::default()
    };
    let arr = WiredArray::new(&d, gp.as_ref(), gm.as_ref(), r, &w).expect("array");
    assert_eq!(arr.unknowns(), 6);
    let u = [0.02, 0.05, 0.08, 0.01, 0.1];
    let v_in = Mat::from_fn(1, 4, |_, j| u[j]);
    let got = arr
        .differential_currents(v_in.as_ref(), 0.1)
        .expect("solve");
    for i in 0..3 {
        let col = |g: &Mat<f64>| {
            let (sg, sgv) = (0..5).fold((0.0, 0.0), |(s, t), j| {
                (s + g[(j, i)], t + g[(j, i)] * u[j])
            });
            sgv / (1.0 + sg * r / (1.0 + a))
        };
        let want = col(&gp) - col(&gm);
        assert!((got[(0, i)] - want).abs() <= 1e-15, "{i}");
    }
}

/// Checks Kirchhoff's current law at every row and column node of a solution, from the node
/// voltages alone.
fn assert_kcl(
    d: &DeviceParams,
    gp: &Mat<f64>,
    gm: &Mat<f64>,
    w: &WireConfig,
    drivers: &[f64],
    s: &ArraySolution,
) {
    let (n, p) = (gp.nrows(), 2 * gp.ncols());
    let g = |j: usize, c: usize| {
        if c.is_multiple_of(2) {
            gp[(j, c / 2)]
        } else {
            gm[(j, c / 2)]
        }
    };
    let cell =
        |j: usize, c: usize| g(j, c) * d.read_transfer(s.row_nodes[(j, c)] - s.col_nodes[(j, c)]);
    let mut scale = 0.0f64;
    for j in 0..n {
        for c in 0..p {
            scale = scale.max(cell(j, c).abs());
        }
    }
    assert!(w.r_row > 0.0 && w.r_col > 0.0 && w.op_amp_gain.is_none());
    for (j, &drive) in drivers.iter().enumerate() {
        for c in 0..p {
            let vr = s.row_nodes[(j, c)];
            let into = if c == 0 {
                (drive - vr) / (w.r_source + w.r_row)
            } else {
                (s.row_nodes[(j, c - 1)] - vr) / w.r_row
            };
            let out = if c + 1 < p {
                (vr - s.row_nodes[(j, c + 1)]) / w.r_row
            } else {
                0.0
            };
            assert!(
                (into - out - cell(j, c)).abs() <= 1e-9 * scale,
                "row node {j},{c}"
            );
            let vc = s.col_nodes[(j, c)];
            let from_above = if j == 0 {
                0.0
            } else {
                (s.col_nodes[(j - 1, c)] - vc) / w.r_col
            };
            let down = if j + 1 < n {
                (vc - s.col_nodes[(j + 1, c)]) / w.r_col
            } else {
                vc / (w.r_col + w.r_in)
            };
            assert!(
                (from_above + cell(j, c) - down).abs() <= 1e-9 * scale,
                "column node {j},{c}"
            );
        }
    }
    for c in 0..p {
        let i = s.col_nodes[(n - 1, c)] / (w.r_col + w.r_in);
        assert!(
            (i - s.column_currents[c]).abs() <= 1e-12 * scale,
            "column current {c}"
        );
    }
}

#[test]
fn kirchhoff_holds_at_every_node_for_stanford_cells() {
    let d = device(IvModel::Sinh);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (gmin, gmax) = (d.g_min(), d.g_max());
    let gp = Mat::from_fn(9, 7, |_, _| gmin + (gmax - gmin) * rng.random::<f64>());
    let gm = Mat::from_fn(9, 7, |_, _| gmin + (gmax - gmin) * rng.random::<f64>());
    // Mild (chord steps suffice) to strong nonlinearity (1 V reads behind 100 ohm segments,
    // where the linear Jacobian is far off and Newton steps take over).
    for (r, vmax) in [(1.0, 0.1), (10.0, 0.6), (100.0, 1.0)] {
        let w = WireConfig {
            r_row: r,
            r_col: r,
            r_source: 2.0,
            r_in: 3.0,
            op_amp_gain: None,
        };
        let a = WiredArray::new(&d, gp.as_ref(), gm.as_ref(), 1000.0, &w).expect("array");
        assert_eq!(a.method(), SolveMethod::Newton);
        let drivers: Vec<f64> = (0..9).map(|_| vmax * rng.random::<f64>()).collect();
        let s = a.solve(&drivers).expect("solve");
        println!(
            "r = {r} ohm, inputs up to {vmax} V: {} iterations",
            s.iterations
        );
        assert!(s.iterations >= 2 && s.iterations < 50);
        assert_kcl(&d, &gp, &gm, &w, &drivers, &s);
        // The batch path gives the same currents.
        let v_in = Mat::from_fn(1, 8, |_, j| drivers[j]);
        let batch = a
            .differential_currents(v_in.as_ref(), drivers[8])
            .expect("batch");
        for i in 0..7 {
            let x = s.differential[i];
            assert!(
                (batch[(0, i)] - x).abs() <= 1e-13 * x.abs().max(1e-6),
                "{i}"
            );
        }
    }
}

#[test]
fn transfer_matrix_equals_a_node_level_solve() {
    let d = device(IvModel::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let gp = Mat::from_fn(11, 4, |_, _| 1e-3 * rng.random::<f64>());
    let gm = Mat::from_fn(11, 4, |_, _| 1e-3 * rng.random::<f64>());
    for w in [
        WireConfig {
            r_row: 2.5,
            r_col: 2.5,
            ..WireConfig::default()
        },
        WireConfig {
            r_row: 2.5,
            ..WireConfig::default()
        },
        WireConfig {
            r_col: 2.5,
            r_in: 4.0,
            ..WireConfig::default()
        },
        WireConfig {
            r_source: 20.0,
            op_amp_gain: Some(1e5),
            ..WireConfig::default()
        },
    ] {
        let a = WiredArray::new(&d, gp.as_ref(), gm.as_ref(), 500.0, &w).expect("array");
        assert_eq!(a.method(), SolveMethod::Transfer);
        let v_in = inputs(6, 10, 13);
        let batch = a.differential_currents(v_in.as_ref(), 0.1).expect("batch");
        for i in 0..6 {
            let mut u: Vec<f64> = (0..10).map(|j| v_in[(i, j)]).collect();
            u.push(0.1);
            let s = a.solve(&u).expect("solve");
            for k in 0..4 {
                assert!(
                    (batch[(i, k)] - s.differential[k]).abs()
                        <= 1e-13 * s.differential[k].abs().max(1e-6),
                    "{w:?}"
                );
            }
        }
    }
}

#[test]
fn batches_of_stanford_images_match_single_solves() {
    let net = network(&[20, 7], IvModel::Sinh, Variability::default(), None, 14);
    let w = WireConfig {
        r_row: 2.0,
        r_col: 2.0,
        ..WireConfig::default()
    };
    let wired = WiredNetwork::new(&net, &w).expect("wired");
    let v = inputs(70, 20, 15);
    let all = wired.forward(v.as_ref()).expect("batch");
    for i in [0, 31, 32, 69] {
        let one = wired.forward(v.as_ref().subrows(i, 1)).expect("one");
        for k in 0..7 {
            assert!((all[(i, k)] - one[(0, k)]).abs() <= 1e-14, "{i},{k}");
        }
    }
}

#[test]
fn device_effects_work_through_the_wired_path() {
    // Variability, quantisation, rails and device-level stuck faults: with ideal wires the
    // wired path equals the ideal path; with wires it stays close but not equal.
    let variability = Variability {
        sigma_gap: 0.025e-9,
        levels: 32,
    };
    let net = network(&[14, 9, 5], IvModel::Sinh, variability, Some(0.05), 16);
    let v = inputs(10, 14, 17);
    let dev = circle_faults(&net, 1, 0.3, StuckState::On, FaultLevel::Device);
    assert!(
        dev.cells
            .iter()
            .all(|c| c.plus.is_some() != c.minus.is_some())
    );
    let ideal = with_faults(&net, 1, &dev).forward_all(v.as_ref());
    let zero = WiredNetwork::new(&net, &WireConfig::default())
        .expect("wired")
        .with_faults(1, &dev)
        .expect("faults");
    assert_eq!(zero.forward_all(v.as_ref()).expect("solve"), ideal);
    // Rails: hidden outputs in [0, rail], last in [-rail, rail].
    let w = WireConfig {
        r_row: 0.5,
        r_col: 0.5,
        r_source: 1.0,
        r_in: 1.0,
        op_amp_gain: Some(1e5),
    };
    let wired = WiredNetwork::new(&net, &w)
        .expect("wired")
        .with_faults(1, &dev)
        .expect("faults");
    let outs = wired.forward_all(v.as_ref()).expect("solve");
    let hidden = &outs[0];
    for j in 0..hidden.ncols() {
        for i in 0..hidden.nrows() {
            assert!((0.0..=0.05).contains(&hidden[(i, j)]));
        }
    }
    assert!(max_abs(&outs[1]) <= 0.05);
    let d = max_abs_diff(&outs[1], &ideal[1]);
    assert!(d > 0.0 && d < 0.5 * max_abs(&ideal[1]).max(1e-3), "{d:e}");
    // Device-level stuck-on is far more damaging than pair-level stuck-on, wires or not.
    let pair = circle_faults(&net, 1, 0.3, StuckState::On, FaultLevel::Pair);
    let base = WiredNetwork::new(&net, &w).expect("wired");
    let clean = base.forward(v.as_ref()).expect("clean");
    let p = base
        .with_faults(1, &pair)
        .expect("pair")
        .forward(v.as_ref())
        .expect("solve");
    let q = outs[1].clone();
    assert!(max_abs_diff(&q, &clean) > max_abs_diff(&p, &clean));
}

#[test]
fn stuck_conductances_are_the_device_range_ends() {
    let d = device(IvModel::Linear);
    let net = network(&[6, 4], IvModel::Linear, Variability::default(), None, 18);
    let on = circle_faults(&net, 0, 0.5, StuckState::On, FaultLevel::Pair);
    let (p, m) = net.layers[0].faulty_conductances(&d, &on);
    let c = on.cells[0];
    assert_eq!(
        p[(c.row as usize, c.col as usize)],
        d.conductance(d.stuck_gap(Stuck::On))
    );
    assert_eq!(m[(c.row as usize, c.col as usize)], d.g_max());
}

#[test]
fn rebuilding_with_other_conductances_equals_a_fresh_build() {
    let d = device(IvModel::Sinh);
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let gp = Mat::from_fn(8, 5, |_, _| 1e-3 * rng.random::<f64>());
    let gm = Mat::from_fn(8, 5, |_, _| 1e-3 * rng.random::<f64>());
    let gp2 = Mat::from_fn(8, 5, |_, _| 1e-3 * rng.random::<f64>());
    let w = WireConfig {
        r_row: 1.5,
        r_col: 0.5,
        ..WireConfig::default()
    };
    let a = WiredArray::new(&d, gp.as_ref(), gm.as_ref(), 700.0, &w).expect("a");
    let b = a.with_conductances(gp2.as_ref(), gm.as_ref()).expect("b");
    let fresh = WiredArray::new(&d, gp2.as_ref(), gm.as_ref(), 700.0, &w).expect("fresh");
    let v = inputs(5, 7, 20);
    assert_eq!(
        b.differential_currents(v.as_ref(), 0.1).expect("b"),
        fresh.differential_currents(v.as_ref(), 0.1).expect("fresh")
    );
    assert!(
        a.with_conductances(gp2.as_ref().subrows(0, 7), gm.as_ref().subrows(0, 7))
            .is_err()
    );
}

#[test]
fn bad_values_are_rejected_with_their_keys() {
    let w = WireConfig {
        r_row: f64::NAN,
        r_col: -1.0,
        r_source: f64::INFINITY,
        r_in: -0.0 - 1e-9,
        op_amp_gain: Some(0.5),
    };
    let issues = w.validate().unwrap_err();
    assert_eq!(issues.len(), 5, "{issues}");
    let text = issues.to_string();
    for key in [
        "r-row-ohms",
        "r-col-ohms",
        "r-source-ohms",
        "r-in-ohms",
        "op-amp-gain",
    ] {
        assert!(text.contains(key), "{key}: {text}");
    }
    assert!(WireConfig::default().validate().is_ok() && WireConfig::default().is_ideal());
    let net = network(&[4, 3], IvModel::Linear, Variability::default(), None, 21);
    assert!(matches!(
        WiredNetwork::new(&net, &w),
        Err(CrossbarError::InvalidCircuit { .. })
    ));
    let d = device(IvModel::Linear);
    let bad = Mat::from_fn(3, 2, |i, _| if i == 1 { -1e-3 } else { 1e-3 });
    let e = WiredArray::new(
        &d,
        bad.as_ref(),
        bad.as_ref(),
        100.0,
        &WireConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("g-plus[1,0]"), "{e}");
    let wired = WiredNetwork::new(&net, &WireConfig::default()).expect("wired");
    assert!(matches!(
        wired.forward(Mat::<f64>::zeros(2, 5).as_ref()),
        Err(CrossbarError::Shape { .. })
    ));
}

#[test]
fn predictions_are_the_argmax_of_the_last_layer() {
    let net = network(
        &[10, 6, 4],
        IvModel::Linear,
        Variability::default(),
        None,
        22,
    );
    let v = inputs(15, 10, 23);
    let w = WireConfig {
        r_row: 0.5,
        r_col: 0.5,
        ..WireConfig::default()
    };
    let wired = WiredNetwork::new(&net, &w).expect("wired");
    let out = wired.forward(v.as_ref()).expect("solve");
    let pred = wired.predict(v.as_ref()).expect("predict");
    for (i, &p) in pred.iter().enumerate() {
        for k in 0..4 {
            assert!(out[(i, p)] >= out[(i, k)]);
        }
    }
}

/// Stuck-on against stuck-off pairs on the digits shapes (64-50-20-8-10, random weights, 1797
/// random images): prints the table of docs/fidelity.md. Run with
/// `cargo test --release -p xbar-crossbar --test wires -- --ignored --nocapture`.
#[test]
#[ignore = "report: prints the stuck-on vs stuck-off table of docs/fidelity.md"]
fn report_stuck_on_vs_stuck_off_on_the_digits_shapes() {
    for iv in [IvModel::Linear, IvModel::Sinh] {
        let net = network(&[64, 50, 20, 8, 10], iv, Variability::default(), None, 30);
        let v = inputs(1797, 64, 31);
        let argmax = |m: &Mat<f64>, i: usize| {
            (0..m.ncols()).fold(0, |b, k| if m[(i, k)] > m[(i, b)] { k } else { b })
        };
        let rs: &[f64] = if iv == IvModel::Linear {
            &[0.0, 0.1, 0.5, 1.0, 2.5]
        } else {
            &[0.0, 1.0]
        };
        for &r in rs {
            let w = WireConfig {
                r_row: r,
                r_col: r,
                ..WireConfig::default()
            };
            let t = std::time::Instant::now();
            let wired = WiredNetwork::new(&net, &w).expect("wired");
            let clean = wired.forward(v.as_ref()).expect("clean");
            let scale = max_abs(&clean);
            let mut cells = Vec::new();
            for l in 0..4 {
                let on = circle_faults(&net, l, 0.3, StuckState::On, FaultLevel::Pair);
                let off = circle_faults(&net, l, 0.3, StuckState::Off, FaultLevel::Pair);
                let a = wired
                    .with_faults(l, &on)
                    .expect("on")
                    .forward(v.as_ref())
                    .expect("on");
                let b = wired
                    .with_faults(l, &off)
                    .expect("off")
                    .forward(v.as_ref())
                    .expect("off");
                let flips = (0..1797)
                    .filter(|&i| argmax(&a, i) != argmax(&b, i))
                    .count();
                cells.push(format!(
                    "{:.2e} / {:.1} %",
                    max_abs_diff(&a, &b) / scale,
                    100.0 * flips as f64 / 1797.0
                ));
            }
            println!(
                "| {iv:?} | {r} | {} | {:.1} s |",
                cells.join(" | "),
                t.elapsed().as_secs_f64()
            );
        }
    }
}

//! Criterion benchmarks of the IR-drop path against the ideal path.
//!
//! The network has the digits shapes, 64-50-20-8-10 (arrays 65x50, 51x20, 21x8, 9x10), with
//! random weights; the batch is 1797 images with inputs in [0, 0.1] V; the wires are 1 ohm per
//! segment. A scenario is one defect on one array (stuck-off pairs), run on every image
//! through all four arrays, as in the Sawal & Wong sweep (84 scenarios: 21 per array).
//!
//! * `ideal/*`: the ideal path (one GEMM per array).
//! * `wires-linear/*`: linear cells, transfer matrices (one sparse factorisation and
//!   `min(N, 2M)` solves per rebuilt array, then one GEMM per array).
//! * `wires-sinh/*`: Stanford cells, chord/Newton iterations per image (on 16 images, and one
//!   full scenario).
//!
//! ngspice on one 65x50 array is timed by the ignored tests of `tests/ngspice.rs` (see
//! docs/fidelity.md), not here: one operating point takes tens of seconds.

use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use xbar_crossbar::*;
use xbar_device::{DeviceParams, IvModel, Variability};

const SIZES: [usize; 5] = [64, 50, 20, 8, 10];
const IMAGES: usize = 1797;

fn network(iv: IvModel) -> (AnalogNetwork, Mat<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let ws: Vec<Mat<f64>> = SIZES
        .windows(2)
        .map(|s| Mat::from_fn(s[0], s[1], |_, _| rng.random::<f64>() * 2.0 - 1.0))
        .collect();
    let bs: Vec<Vec<f64>> = SIZES[1..]
        .iter()
        .map(|&n| (0..n).map(|_| 0.2 * (rng.random::<f64>() - 0.5)).collect())
        .collect();
    let soft: Vec<SoftLayer<'_>> = ws
        .iter()
        .zip(&bs)
        .map(|(w, b)| SoftLayer { w: w.as_ref(), b })
        .collect();
    let x = Mat::from_fn(IMAGES, SIZES[0], |_, _| rng.random::<f64>());
    let device = DeviceParams {
        iv,
        ..DeviceParams::default()
    };
    let net = AnalogNetwork::program(
        device,
        &soft,
        &CircuitConfig::default(),
        Some(x.as_ref()),
        &Variability::default(),
        &mut rng,
    )
    .expect("network");
    let v_in = net.input_voltages(x.as_ref());
    (net, v_in)
}

/// The 21 defect geometries of one array in the Sawal & Wong sweep.
fn shapes() -> Vec<Shape> {
    let c = Center::MIDDLE;
    let mut s = Vec::new();
    for k in 0..4 {
        let f = 0.1 * (k + 1) as f64;
        s.push(Shape::Circle { r: f, center: c });
        s.push(Shape::Ring {
            inner: 0.40 - 0.04 * k as f64,
            outer: 0.5,
            center: c,
        });
        s.push(Shape::CircleComplement {
            r: 0.4 - 0.1 * k as f64,
            center: c,
        });
        s.push(Shape::Rows {
            size: LineSize::Fraction(f),
            center: c,
        });
        s.push(Shape::Columns {
            size: LineSize::Fraction(f),
            center: c,
        });
    }
    s.push(Shape::Checkerboard { phase: 0 });
    s
}

fn scenarios(net: &AnalogNetwork) -> Vec<(usize, LayerFaults)> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        for shape in shapes() {
            let mask = shape
                .mask(layer.rows(), layer.cols(), &mut rng)
                .expect("mask");
            let f = LayerFaults::from_mask(&mask, StuckState::Off, FaultLevel::Pair, &mut rng);
            out.push((l, f));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let wires = WireConfig {
        r_row: 1.0,
        r_col: 1.0,
        ..WireConfig::default()
    };
    let (lin, v_lin) = network(IvModel::Linear);
    let (sinh, v_sinh) = network(IvModel::Sinh);
    let sweep = scenarios(&lin);
    let healthy = WiredNetwork::new(&lin, &wires).expect("wired");

    let mut g = c.benchmark_group("ideal");
    g.sample_size(20);
    g.bench_function("scenario_1797_images_4_arrays", |b| {
        b.iter(|| lin.forward(v_lin.as_ref()))
    });
    g.bench_function("sweep_84_scenarios", |b| {
        b.iter(|| {
            sweep
                .par_iter()
                .map(|(l, f)| {
                    let mut net = lin.clone();
                    let (p, m) = net.layers[*l].faulty_conductances(&net.device, f);
                    net.layers[*l].g_plus = p;
                    net.layers[*l].g_minus = m;
                    net.forward(v_lin.as_ref())[(0, 0)]
                })
                .sum::<f64>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("wires-linear");
    g.sample_size(10);
    g.bench_function("build_4_transfer_matrices", |b| {
        b.iter(|| WiredNetwork::new(&lin, &wires).expect("wired"))
    });
    g.bench_function("forward_1797_images_prebuilt", |b| {
        b.iter(|| healthy.forward(v_lin.as_ref()).expect("forward"))
    });
    for layer in 0..4 {
        let (_, f) = sweep
            .iter()
            .find(|(l, _)| *l == layer)
            .expect("a scenario per layer");
        g.bench_function(format!("scenario_array{layer}_1797_images"), |b| {
            b.iter(|| {
                healthy
                    .with_faults(layer, f)
                    .expect("faulty")
                    .forward(v_lin.as_ref())
                    .expect("forward")
            })
        });
    }
    g.bench_function("sweep_84_scenarios", |b| {
        b.iter(|| {
            sweep
                .par_iter()
                .map(|(l, f)| {
                    healthy
                        .with_faults(*l, f)
                        .expect("faulty")
                        .forward(v_lin.as_ref())
                        .expect("forward")[(0, 0)]
                })
                .sum::<f64>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("wires-sinh");
    g.sample_size(10);
    let wired_sinh = WiredNetwork::new(&sinh, &wires).expect("wired");
    let few = v_sinh.as_ref().subrows(0, 16);
    g.bench_function("array0_newton_16_images", |b| {
        b.iter(|| {
            wired_sinh.tiles(0)[0]
                .array
                .differential_currents(few, sinh.circuit.v_bias)
                .expect("newton")
        })
    });
    g.bench_function("network_16_images", |b| {
        b.iter(|| wired_sinh.forward(few).expect("newton"))
    });
    let (_, f0) = &sweep[0];
    g.bench_function("scenario_array0_1797_images", |b| {
        b.iter(|| {
            wired_sinh
                .with_faults(0, f0)
                .expect("faulty")
                .forward(v_sinh.as_ref())
                .expect("newton")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

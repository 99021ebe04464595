//! Physics and consistency checks of the analog network on small random networks.

use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xbar_crossbar::*;
use xbar_device::{DeviceParams, IvModel, Stuck, Variability};

struct Net {
    ws: Vec<Mat<f64>>,
    bs: Vec<Vec<f64>>,
}

fn random_net(sizes: &[usize], seed: u64) -> Net {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ws = Vec::new();
    let mut bs = Vec::new();
    for w in sizes.windows(2) {
        ws.push(Mat::from_fn(w[0], w[1], |_, _| rng.random::<f64>() - 0.5));
        bs.push(
            (0..w[1])
                .map(|_| 0.2 * (rng.random::<f64>() - 0.3))
                .collect(),
        );
    }
    Net { ws, bs }
}

impl Net {
    fn soft(&self) -> Vec<SoftLayer<'_>> {
        self.ws
            .iter()
            .zip(&self.bs)
            .map(|(w, b)| SoftLayer { w: w.as_ref(), b })
            .collect()
    }
    fn software(&self, x: &Mat<f64>) -> Mat<f64> {
        let mut a = x.clone();
        for (l, (w, b)) in self.ws.iter().zip(&self.bs).enumerate() {
            let mut z = &a * w;
            for j in 0..z.ncols() {
                for i in 0..z.nrows() {
                    z[(i, j)] += b[j];
                    if l + 1 < self.ws.len() {
                        z[(i, j)] = z[(i, j)].max(0.0);
                    }
                }
            }
            a = z;
        }
        a
    }
}

fn inputs(n: usize, d: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(n, d, |_, _| (rng.random_range(0..17u32) as f64) / 16.0)
}

fn program(
    net: &Net,
    device: DeviceParams,
    circuit: &CircuitConfig,
    calib: &Mat<f64>,
) -> AnalogNetwork {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    AnalogNetwork::program(
        device,
        &net.soft(),
        circuit,
        Some(calib.as_ref()),
        &Variability::default(),
        &mut rng,
    )
    .unwrap()
}

#[test]
fn linear_analog_network_is_a_positive_rescaling_of_software() {
    let net = random_net(&[12, 9, 7, 5], 4);
    let x = inputs(40, 12, 5);
    let device = DeviceParams {
        iv: IvModel::Linear,
        ..DeviceParams::default()
    };
    let analog = program(&net, device, &CircuitConfig::default(), &x);
    let v = analog.forward(analog.input_voltages(x.as_ref()).as_ref());
    let s = net.software(&x);
    // Output scale = product of layer gains: s_L = R k s_{L-1}.
    let last = analog.layers.last().unwrap();
    let gain = last.r_load * last.k * last.input_scale;
    for i in 0..x.nrows() {
        for j in 0..5 {
            assert!(
                (v[(i, j)] - gain * s[(i, j)]).abs() <= 1e-12 * gain.max(1.0),
                "{i},{j}"
            );
        }
    }
}

#[test]
fn kirchhoff_column_currents_equal_explicit_sums() {
    let net = random_net(&[6, 4], 9);
    let x = inputs(3, 6, 2);
    let analog = program(
        &net,
        DeviceParams::default(),
        &CircuitConfig {
            r_load: RLoad::Unity,
            ..Default::default()
        },
        &x,
    );
    let d = analog.device;
    let layer = &analog.layers[0];
    let v_in = analog.input_voltages(x.as_ref());
    let out = analog.forward(v_in.as_ref());
    for img in 0..3 {
        for col in 0..4 {
            let (mut ip, mut im) = (0.0, 0.0);
            for row in 0..7 {
                let v = if row < 6 {
                    v_in[(img, row)]
                } else {
                    analog.circuit.v_bias
                };
                // Device current from the gap, through the full I(g, V) law.
                ip += d.current(d.gap_for_conductance(layer.g_plus[(row, col)]), v);
                im += d.current(d.gap_for_conductance(layer.g_minus[(row, col)]), v);
            }
            let expect = layer.r_load * (ip - im);
            assert!(
                (out[(img, col)] - expect).abs() < 1e-12,
                "{} vs {}",
                out[(img, col)],
                expect
            );
        }
    }
}

#[test]
fn calibration_maps_the_largest_output_to_v_in_max() {
    let net = random_net(&[10, 8, 6], 3);
    let x = inputs(50, 10, 8);
    let analog = program(&net, DeviceParams::default(), &CircuitConfig::default(), &x);
    let outs = analog.forward_all(analog.input_voltages(x.as_ref()).as_ref());
    for o in &outs {
        let peak = (0..o.nrows())
            .flat_map(|i| (0..o.ncols()).map(move |j| (i, j)))
            .map(|(i, j)| o[(i, j)])
            .fold(f64::MIN, f64::max);
        assert!((peak - 0.1).abs() < 1e-12, "peak {peak}");
    }
}

#[test]
fn conductances_stay_in_the_device_range() {
    let net = random_net(&[10, 8, 6], 3);
    let x = inputs(5, 10, 8);
    let d = DeviceParams::default();
    for mapping in [Mapping::Offset, Mapping::Balanced] {
        let analog = program(
            &net,
            d,
            &CircuitConfig {
                mapping,
                ..Default::default()
            },
            &x,
        );
        for l in &analog.layers {
            for m in [&l.g_plus, &l.g_minus] {
                for j in 0..m.ncols() {
                    for i in 0..m.nrows() {
                        let g = m[(i, j)];
                        assert!(g >= d.g_min() * (1.0 - 1e-12) && g <= d.g_max() * (1.0 + 1e-12));
                    }
                }
            }
        }
    }
}

#[test]
fn pair_faults_zero_the_weight_and_on_equals_off_in_the_ideal_circuit() {
    let net = random_net(&[10, 8, 6], 11);
    let x = inputs(30, 10, 1);
    let analog = program(&net, DeviceParams::default(), &CircuitConfig::default(), &x);
    let layer = &analog.layers[0];
    let mask = Shape::Circle {
        r: 0.3,
        center: Center::MIDDLE,
    }
    .mask(11, 8, &mut ChaCha8Rng::seed_from_u64(0))
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let off = LayerFaults::from_mask(&mask, StuckState::Off, FaultLevel::Pair, &mut rng);
    let on = LayerFaults::from_mask(&mask, StuckState::On, FaultLevel::Pair, &mut rng);
    let g_off = layer.faulty_gdiff(&analog.device, &off);
    let g_on = layer.faulty_gdiff(&analog.device, &on);
    for c in &off.cells {
        assert_eq!(g_off[(c.row as usize, c.col as usize)], 0.0);
    }
    assert_eq!(g_off, g_on);
    // Device-level stuck-on writes a full-scale weight: much larger than any healthy one.
    let dev = LayerFaults::from_mask(&mask, StuckState::On, FaultLevel::Device, &mut rng);
    let g_dev = layer.faulty_gdiff(&analog.device, &dev);
    let c = dev.cells[0];
    let g = g_dev[(c.row as usize, c.col as usize)].abs();
    assert!(g > 0.5 * analog.device.g_max(), "{g}");
    assert!(
        dev.cells
            .iter()
            .all(|c| c.plus.is_some() != c.minus.is_some())
    );
    assert!(
        dev.cells
            .iter()
            .all(|c| c.plus.or(c.minus) == Some(Stuck::On))
    );
}

#[test]
fn evaluator_matches_full_forward_for_faulty_variants() {
    let net = random_net(&[12, 9, 7, 5], 21);
    let x = inputs(25, 12, 3);
    let analog = program(
        &net,
        DeviceParams::default(),
        &CircuitConfig {
            rail: Some(0.08),
            ..Default::default()
        },
        &x,
    );
    let v_in = analog.input_voltages(x.as_ref());
    let eval = Evaluator::new(&analog, v_in.as_ref());
    let mut ws = eval.workspace();
    for layer in 0..3 {
        let l = &analog.layers[layer];
        let mask = Shape::Ring {
            inner: 0.2,
            outer: 0.5,
            center: Center::MIDDLE,
        }
        .mask(l.rows(), l.cols(), &mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
        let faults = LayerFaults::from_mask(
            &mask,
            StuckState::On,
            FaultLevel::Device,
            &mut ChaCha8Rng::seed_from_u64(5),
        );
        let mut gd: Vec<Option<Mat<f64>>> = vec![None; 3];
        gd[layer] = Some(l.faulty_gdiff(&analog.device, &faults));
        let fast = eval.run(&gd, &mut ws).to_owned();
        // Reference: a network whose layer has the faulty conductances, run from scratch.
        let mut reference = analog.clone();
        let (p, m) = l.faulty_conductances(&analog.device, &faults);
        reference.layers[layer].g_plus = p;
        reference.layers[layer].g_minus = m;
        let slow = reference.forward(v_in.as_ref());
        for i in 0..25 {
            for j in 0..5 {
                assert!(
                    (fast[(i, j)] - slow[(i, j)]).abs() <= 1e-15,
                    "layer {layer}"
                );
            }
        }
    }
    // No faults at all: the healthy output.
    let healthy = eval.run(&[None, None, None], &mut ws).to_owned();
    assert_eq!(healthy, analog.forward(v_in.as_ref()));
}

#[test]
fn bad_circuit_values_are_reported_together() {
    let c = CircuitConfig {
        v_in_max: f64::NAN,
        rail: Some(-1.0),
        r_load: RLoad::Ohms(vec![1.0]),
        ..Default::default()
    };
    let issues = c.validate(4).unwrap_err();
    assert_eq!(issues.len(), 3, "{issues}");
}

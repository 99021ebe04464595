//! The real-number weight code: projection accuracy, syndromes, the online check's noise
//! threshold on programmed arrays, and accuracy of the coded digits network.

use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use xbar_crossbar::{
    AnalogNetwork, CellFault, CircuitConfig, LayerFaults, RLoad, SoftLayer, currents,
};
use xbar_device::{DeviceParams, Stuck, Variability};
use xbar_ecc::NoiseModel;
use xbar_ecc::rnecc::{
    CodeConfig, FinetuneConfig, OutputCheck, Type2, WeightCode, augmented, digits_coded_accuracy,
    finetune, project_layer,
};
use xbar_nn::{Dataset, Mlp, digits};

fn random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng))
}

#[test]
fn projection_satisfies_every_constraint_to_1e_12() {
    let cases = [
        (65, 50, CodeConfig::digits_default()),
        (
            40,
            14,
            CodeConfig {
                group_rows: 0,
                type1_per_group: 110,
                type2: Type2::Random { count: 4 },
                seed: 7,
            },
        ),
        (
            30,
            10,
            CodeConfig {
                group_rows: 7,
                type1_per_group: 20,
                type2: Type2::None,
                seed: 1,
            },
        ),
    ];
    for (rows, cols, cfg) in cases {
        let code = WeightCode::new(rows, cols, &cfg).unwrap();
        for scale in [1e-3, 1.0, 1e4] {
            let mut h = random(rows, cols, 3);
            for j in 0..cols {
                for v in h.col_mut(j).iter_mut() {
                    *v *= scale;
                }
            }
            code.project(h.as_mut());
            let rel = code.max_relative_residual(h.as_ref());
            assert!(rel < 1e-12, "{rows}x{cols} {cfg:?}: {rel:e}");
            // Projecting twice changes nothing (a projector).
            let mut h2 = h.clone();
            code.project(h2.as_mut());
            assert!((&h2 - &h).norm_l2() < 1e-13 * h.norm_l2());
            // Type-2: every check sums every row to zero.
            let hc = &h * code.checks().transpose();
            assert!(hc.norm_max() < 1e-12 * h.norm_l2());
        }
    }
}

#[test]
fn joint_projection_lands_in_the_intersection_sequential_does_not() {
    let (rows, cols) = (20, 8);
    let t1 = CodeConfig {
        group_rows: 0,
        type1_per_group: 30,
        type2: Type2::None,
        seed: 2,
    };
    let t2 = CodeConfig {
        type1_per_group: 0,
        type2: Type2::AllOnes,
        ..t1.clone()
    };
    let both = CodeConfig {
        type2: Type2::AllOnes,
        ..t1.clone()
    };
    let (c1, c2, cb) = (
        WeightCode::new(rows, cols, &t1).unwrap(),
        WeightCode::new(rows, cols, &t2).unwrap(),
        WeightCode::new(rows, cols, &both).unwrap(),
    );
    let mut seq = random(rows, cols, 5);
    let mut joint = seq.clone();
    c1.project(seq.as_mut());
    c2.project(seq.as_mut());
    cb.project(joint.as_mut());
    assert!(cb.max_relative_residual(joint.as_ref()) < 1e-12);
    // Sequential: type-2 holds, type-1 was broken again by the second projection.
    assert!(c2.max_relative_residual(seq.as_ref()) < 1e-12);
    assert!(c1.max_relative_residual(seq.as_ref()) > 1e-3);
}

#[test]
fn syndrome_of_a_single_memory_error() {
    let (rows, cols) = (26, 10);
    let cfg = CodeConfig {
        group_rows: 13,
        type1_per_group: 25,
        type2: Type2::AllOnes,
        seed: 4,
    };
    let code = WeightCode::new(rows, cols, &cfg).unwrap();
    let mut h = random(rows, cols, 8);
    code.project(h.as_mut());
    let (i, j, v) = (17, 3, 0.75);
    h[(i, j)] += v;
    let s = code.syndrome(h.as_ref());
    // Group 0 is clean; group 1 sees v times the column of M for (i - 13, j).
    assert!(s[0].iter().all(|x| x.abs() < 1e-12));
    let m = code.constraint_matrix(1);
    let t = (i - 13) * cols + j;
    for (k, sk) in s[1].iter().enumerate() {
        assert!((sk - v * m[(k, t)]).abs() < 1e-12);
    }
    // The whitened syndrome has the same norm as the error's component in span(Q).
    let sq = code.syndrome_q(h.as_ref());
    assert!(sq[0].iter().all(|x| x.abs() < 1e-12));
    assert!(sq[1].iter().map(|x| x * x).sum::<f64>().sqrt() <= v + 1e-12);
    // Regeneration from the seed is deterministic.
    assert_eq!(
        code.type1_matrix(1),
        WeightCode::new(rows, cols, &cfg).unwrap().type1_matrix(1)
    );
}

/// A coded 65 x 50 layer (the shape of the digits network's first array) and digit inputs.
fn coded_layer() -> (Mat<f64>, Vec<f64>, WeightCode, Mat<f64>) {
    let data = digits().unwrap();
    let mut mlp = Mlp::new_he(&[64, 50], 11);
    mlp.layers[0].b = (0..50).map(|j| 0.01 * j as f64 - 0.2).collect();
    let code = WeightCode::new(65, 50, &CodeConfig::digits_default()).unwrap();
    project_layer(&mut mlp, 0, &code).unwrap();
    let d = &mlp.layers[0];
    (d.w.clone(), d.b.clone(), code, data.x.clone())
}

fn program(w: &Mat<f64>, b: &[f64], var: &Variability, seed: u64) -> AnalogNetwork {
    let circuit = CircuitConfig {
        r_load: RLoad::Unity,
        ..CircuitConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    AnalogNetwork::program(
        DeviceParams::default(),
        &[SoftLayer { w: w.as_ref(), b }],
        &circuit,
        None,
        var,
        &mut rng,
    )
    .unwrap()
}

fn outputs(
    net: &AnalogNetwork,
    f_in: &Mat<f64>,
    gdiff: &Mat<f64>,
    sigma: f64,
    seed: u64,
) -> Mat<f64> {
    let layer = &net.layers[0];
    let mut y = Mat::<f64>::zeros(f_in.nrows(), layer.cols());
    currents(
        f_in.as_ref(),
        gdiff.as_ref(),
        net.bias_transfer(),
        y.as_mut(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for j in 0..y.ncols() {
        for v in y.col_mut(j).iter_mut() {
            let z: f64 = StandardNormal.sample(&mut rng);
            *v = *v * layer.r_load + sigma * z;
        }
    }
    y
}

#[test]
fn threshold_matches_the_spread_over_chips() {
    // The predicted std of d = 1^T y for one input, against 300 programmed chips.
    let (w, b, code, x) = coded_layer();
    let var = Variability {
        sigma_gap: 0.025e-9,
        levels: 0,
    };
    let device = DeviceParams::default();
    let noise = NoiseModel::from_variability(&var, &device, 0.0, 1.0);
    let xs = x.as_ref().subrows(0, 3).to_owned();
    let mut samples = vec![Vec::new(); 3];
    let mut predicted = Vec::new();
    for chip in 0..300 {
        let net = program(&w, &b, &var, 1000 + chip);
        let f_in = net.transfer(net.input_voltages(xs.as_ref()).as_ref());
        let check = OutputCheck::new(code.checks(), &net.layers[0], &noise).unwrap();
        let y = outputs(&net, &f_in, &net.layers[0].healthy_gdiff(), 0.0, 0);
        let d = check.statistics(y.as_ref());
        if chip == 0 {
            // Predicted with the nominal conductances of an ideal chip.
            let ideal = program(&w, &b, &Variability::default(), 0);
            let c0 = OutputCheck::new(code.checks(), &ideal.layers[0], &noise).unwrap();
            let t = c0.thresholds(f_in.as_ref(), net.bias_transfer());
            predicted = (0..3).map(|i| t[(i, 0)]).collect();
        }
        for i in 0..3 {
            samples[i].push(d[(i, 0)]);
        }
    }
    for i in 0..3 {
        let n = samples[i].len() as f64;
        let mean = samples[i].iter().sum::<f64>() / n;
        let sd = (samples[i].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let ratio = sd / predicted[i];
        assert!(
            (0.85..1.15).contains(&ratio),
            "input {i}: measured {sd:e}, predicted {:e}",
            predicted[i]
        );
        // The mean stays at zero (the common lognormal factor cancels).
        assert!(mean.abs() < 0.3 * predicted[i], "input {i}: mean {mean:e}");
    }
}

#[test]
fn no_false_alarms_on_clean_chips_and_a_stuck_on_device_is_caught() {
    let (w, b, code, x) = coded_layer();
    // 1 % lognormal spread (program-and-verify) and 0.2 mV read noise. (At 10 %, the noise band
    // of the 50-output check sum is as large as the outputs themselves: see docs/ecc.md.)
    let var = Variability {
        sigma_gap: 0.0025e-9,
        levels: 0,
    };
    let device = DeviceParams::default();
    let sigma_read = 2e-4;
    let noise = NoiseModel::from_variability(&var, &device, sigma_read, 5.0);
    let mut checked = 0;
    for chip in 0..10u64 {
        let net = program(&w, &b, &var, chip);
        let f_in = net.transfer(net.input_voltages(x.as_ref()).as_ref());
        let layer = &net.layers[0];
        let check = OutputCheck::new(code.checks(), layer, &noise).unwrap();
        let y = outputs(&net, &f_in, &layer.healthy_gdiff(), sigma_read, 100 + chip);
        let out = check.check(y.as_ref(), f_in.as_ref(), net.bias_transfer());
        checked += out.flagged.len();
        assert!(out.flagged.iter().all(|f| !f), "chip {chip}: a false alarm");
        if chip == 0 {
            // One device stuck on (the G- of the pair at row 36 = pixel (4, 4), column 7).
            let faults = LayerFaults {
                cells: vec![CellFault {
                    row: 36,
                    col: 7,
                    plus: None,
                    minus: Some(Stuck::On),
                }],
            };
            let g = layer.faulty_gdiff(&device, &faults);
            let yf = outputs(&net, &f_in, &g, sigma_read, 7);
            let outf = check.check(yf.as_ref(), f_in.as_ref(), net.bias_transfer());
            let (mut big, mut caught) = (0, 0);
            for i in 0..x.nrows() {
                let err = (yf[(i, 7)] - y[(i, 7)]).abs();
                if err > 2.0 * out.threshold[(i, 0)] {
                    big += 1;
                    assert!(outf.flagged[i], "input {i}: error {err:e} not flagged");
                }
                if outf.flagged[i] {
                    caught += 1;
                }
            }
            // Pixel (4, 4) is lit in most digits: most inputs see the fault, and every error
            // beyond twice the noise band is flagged.
            assert!(
                big > 0 && caught > 1000,
                "{big} large errors, {caught} flagged"
            );
        }
    }
    assert_eq!(checked, 10 * 1797);
}

fn tiny_data() -> Dataset {
    let x = Mat::from_fn(60, 4, |i, j| ((i * 3 + j * 5) % 7) as f64 / 7.0);
    let y = (0..60).map(|i| ((i * 3) % 7 % 3) as u8).collect();
    Dataset::new(x, y, 3).unwrap()
}

#[test]
fn finetune_is_deterministic_and_stays_on_the_code() {
    let data = tiny_data();
    let code = WeightCode::new(
        5,
        6,
        &CodeConfig {
            group_rows: 0,
            type1_per_group: 4,
            type2: Type2::AllOnes,
            seed: 0,
        },
    )
    .unwrap();
    let cfg = FinetuneConfig {
        epochs: 3,
        batch_size: 8,
        ..FinetuneConfig::digits_default()
    };
    let run = || {
        let mut mlp = Mlp::new_he(&[4, 6, 3], 2);
        let rep = finetune(&mut mlp, 0, &code, &data, &cfg).unwrap();
        (mlp, rep)
    };
    let (a, ra) = run();
    let (b, _) = run();
    assert_eq!(a, b);
    assert!(ra.max_relative_residual < 1e-12);
    assert!(code.max_relative_residual(augmented(&a.layers[0]).as_ref()) < 1e-12);
    // SGD works too.
    let mut mlp = Mlp::new_he(&[4, 6, 3], 2);
    let sgd = FinetuneConfig {
        optimizer: xbar_ecc::rnecc::Optimizer::Sgd { momentum: 0.9 },
        learning_rate: 0.05,
        ..cfg
    };
    let rep = finetune(&mut mlp, 0, &code, &data, &sgd).unwrap();
    assert!(rep.final_loss.is_finite() && rep.max_relative_residual < 1e-12);
}

#[test]
fn a_weights_only_code_leaves_the_bias_free() {
    // The paper's MNIST layout: W (inputs x outputs) coded, b not.
    let data = tiny_data();
    let code = WeightCode::new(
        4,
        6,
        &CodeConfig {
            group_rows: 2,
            type1_per_group: 3,
            type2: Type2::AllOnes,
            seed: 5,
        },
    )
    .unwrap();
    let mut mlp = Mlp::new_he(&[4, 6, 3], 3);
    mlp.layers[0].b = vec![0.5, -0.25, 0.125, 1.0, -1.0, 2.0];
    let b0 = mlp.layers[0].b.clone();
    let change = project_layer(&mut mlp, 0, &code).unwrap();
    assert!(change > 0.0 && change < 1.0, "{change}");
    assert_eq!(mlp.layers[0].b, b0, "the bias is not coded");
    let w = xbar_ecc::rnecc::coded_matrix(&mlp, 0, &code);
    assert_eq!((w.nrows(), w.ncols()), (4, 6));
    assert!(code.max_relative_residual(w.as_ref()) < 1e-12);
    let cfg = FinetuneConfig {
        epochs: 2,
        batch_size: 8,
        ..FinetuneConfig::digits_default()
    };
    let rep = finetune(&mut mlp, 0, &code, &data, &cfg).unwrap();
    assert!(rep.max_relative_residual < 1e-12);
    assert_ne!(mlp.layers[0].b, b0, "the free bias trains");
    // A code of neither shape is refused.
    let wrong = WeightCode::new(
        3,
        6,
        &CodeConfig {
            group_rows: 0,
            type1_per_group: 2,
            type2: Type2::AllOnes,
            seed: 0,
        },
    )
    .unwrap();
    assert!(project_layer(&mut mlp, 0, &wrong).is_err());
}

#[test]
fn coded_digits_network_keeps_its_accuracy() {
    let rec = digits_coded_accuracy(
        &CodeConfig::digits_default(),
        &FinetuneConfig::digits_default(),
    )
    .unwrap();
    assert_eq!(
        (rec.rows, rec.cols, rec.groups, rec.constraints),
        (65, 50, 5, 365)
    );
    assert!(rec.max_relative_residual < 1e-12);
    // Within about 1 pp (2 of the 180 test images) of the uncoded network.
    assert!(
        rec.coded_test >= rec.uncoded_test - 0.0112,
        "coded {} vs uncoded {}",
        rec.coded_test,
        rec.uncoded_test
    );
    // Projection alone costs accuracy; fine-tuning recovers it.
    assert!(rec.projected_test <= rec.coded_test);
    assert!(rec.projection_change > 0.2 && rec.projection_change < 0.5);
    assert!(rec.uncoded_test > 0.96);
}

//! The online checks beside the product they guard: one 65 x 50 array (the digits network's
//! first layer shape, bias row included) on the 1797-image digits batch.
//!
//! - `vmm`: the analog layer's column currents (one GEMM plus the bias row), what every check
//!   guards;
//! - `rnecc_statistic`: `d = y 1` (the type-2 check sum) alone;
//! - `rnecc_check`: the sum plus the per-input noise threshold and comparison;
//! - `abft_secded_syndrome`: the SEC/DED syndrome `Y P^T - s Z` (additions only) and the
//!   threshold comparison, on the 57-column coded array's outputs;
//! - `an_check_inverse` / `an_check_modulo`: the AN check (A = 233) of the integer outputs,
//!   improved (multiply by `A^-1`, range test) and classic (remainder);
//! - `an_vmm_bit_serial`: the AN array's own bit-serial product (8 cycles, ADC rounding).

use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use xbar_crossbar::{AnalogNetwork, CircuitConfig, RLoad, SoftLayer, currents};
use xbar_device::{DeviceParams, Variability};
use xbar_ecc::NoiseModel;
use xbar_ecc::abft::{CheckCode, TernaryCode, TernaryKind, encode_layer};
use xbar_ecc::an::array::{AnArray, AnArrayConfig};
use xbar_ecc::rnecc::{CodeConfig, OutputCheck, WeightCode, project_layer};
use xbar_nn::{Mlp, digits};

fn program(w: &Mat<f64>, b: &[f64]) -> AnalogNetwork {
    let circuit = CircuitConfig {
        r_load: RLoad::Unity,
        ..CircuitConfig::default()
    };
    AnalogNetwork::program(
        DeviceParams::default(),
        &[SoftLayer { w: w.as_ref(), b }],
        &circuit,
        None,
        &Variability::default(),
        &mut ChaCha8Rng::seed_from_u64(0),
    )
    .expect("program")
}

fn checks(c: &mut Criterion) {
    let data = digits().expect("digits");
    let n = data.len();
    let mut mlp = Mlp::new_he(&[64, 50], 1);
    let code = WeightCode::new(65, 50, &CodeConfig::digits_default()).expect("code");
    project_layer(&mut mlp, 0, &code).expect("project");
    let layer = &mlp.layers[0];

    let net = program(&layer.w, &layer.b);
    let f_in = net.transfer(net.input_voltages(data.x.as_ref()).as_ref());
    let gdiff = net.layers[0].healthy_gdiff();
    let f_bias = net.bias_transfer();
    let mut y = Mat::<f64>::zeros(n, 50);
    currents(f_in.as_ref(), gdiff.as_ref(), f_bias, y.as_mut());
    let noise = NoiseModel {
        sigma_read: 1e-4,
        ..NoiseModel::default()
    };
    let check = OutputCheck::new(code.checks(), &net.layers[0], &noise).expect("check");

    let secded = TernaryCode::new(TernaryKind::SecDed, 50).expect("secded");
    let enc = encode_layer(&secded, layer.w.as_ref(), &layer.b).expect("encode");
    let net_c = program(&enc.w, &enc.b);
    let gdiff_c = net_c.layers[0].healthy_gdiff();
    let mut yz = Mat::<f64>::zeros(n, 57);
    currents(f_in.as_ref(), gdiff_c.as_ref(), f_bias, yz.as_mut());
    let tau = vec![1e-3; secded.r()];

    let an = AnArray::program(
        DeviceParams::default(),
        layer.w.as_ref(),
        &layer.b,
        &AnArrayConfig::with_a(233),
    )
    .expect("an");
    let xq = an.quantize_inputs(data.x.as_ref());
    let yc = an.run(xq.as_ref(), None, &mut ChaCha8Rng::seed_from_u64(0));

    let mut g = c.benchmark_group("checks_65x50_1797");
    g.sample_size(50);
    g.bench_function("vmm", |b| {
        let mut out = Mat::<f64>::zeros(n, 50);
        b.iter(|| {
            currents(f_in.as_ref(), gdiff.as_ref(), f_bias, out.as_mut());
            black_box(&out);
        })
    });
    g.bench_function("rnecc_statistic", |b| {
        b.iter(|| black_box(check.statistics(y.as_ref())))
    });
    g.bench_function("rnecc_check", |b| {
        b.iter(|| black_box(check.check(y.as_ref(), f_in.as_ref(), f_bias).flagged))
    });
    g.bench_function("abft_secded_syndrome", |b| {
        let mut s = Mat::<f64>::zeros(n, secded.r());
        b.iter(|| {
            let yd = yz.as_ref().subcols(0, 50);
            let zd = yz.as_ref().subcols(50, 7);
            secded.syndrome_batch(yd, zd, enc.scale, s.as_mut());
            let mut flagged = 0usize;
            for (i, t) in tau.iter().enumerate() {
                for v in s.col(i).iter() {
                    flagged += usize::from(v.abs() > *t);
                }
            }
            black_box(flagged)
        })
    });
    g.bench_function("abft_secded_syndrome_gemm", |b| {
        let p = secded.check_matrix();
        let mut s = Mat::<f64>::zeros(n, secded.r());
        b.iter(|| {
            let yd = yz.as_ref().subcols(0, 50);
            let zd = yz.as_ref().subcols(50, 7);
            faer::linalg::matmul::matmul(
                s.as_mut(),
                faer::Accum::Replace,
                yd,
                p.transpose(),
                1.0,
                faer::Par::Seq,
            );
            let mut flagged = 0usize;
            for (i, t) in tau.iter().enumerate() {
                for (v, zv) in s.col(i).iter().zip(zd.col(i).iter()) {
                    flagged += usize::from((v - enc.scale * zv).abs() > *t);
                }
            }
            black_box(flagged)
        })
    });
    g.bench_function("an_check_inverse", |b| {
        b.iter(|| black_box(an.check_rows(&yc)))
    });
    g.bench_function("an_check_modulo", |b| {
        b.iter(|| black_box(an.check_rows_classic(&yc)))
    });
    g.bench_function("an_vmm_bit_serial", |b| {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        b.iter(|| black_box(an.run(xq.as_ref(), None, &mut rng)))
    });
    g.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);

//! Why `kernels.rs` exists: training the digits network (64-50-20-8-10, mini-batches of 32)
//! with the hand-written narrow-layer kernels, beside the matrix products alone of the same
//! training done with faer (forward, weight and input gradients of every layer and batch,
//! sequential, buffers preallocated: no softmax, no optimiser, no shuffles, so a lower bound
//! on any faer-based trainer). The kernels earn their place only if the whole kernel trainer
//! stays near that lower bound. Measured 2026-12-03 (2 cores, criterion medians): kernel
//! trainer 9.95 ms for 5 epochs, faer products alone 6.1 ms: the kernels do not beat faer's
//! products by themselves; the roofline issue decides whether they stay.
//!
//! `cargo bench -p xbar-nn --bench train`

use criterion::{Criterion, criterion_group, criterion_main};
use faer::{Accum, Mat, Par};
use xbar_nn::{DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, TrainConfig, digits, stratified_split, train};

fn training(c: &mut Criterion) {
    let all = digits().expect("embedded digits");
    let split = stratified_split(&all.y, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED).expect("split");
    let data = all.select(&split.train);
    let cfg = TrainConfig {
        epochs: 5,
        ..TrainConfig::digits_default()
    };
    let sizes = cfg.sizes_for(&data);
    let batch = cfg.batch_size as usize;
    let n = data.len();
    let mut g = c.benchmark_group("digits_training_5_epochs");
    g.sample_size(20);
    g.bench_function("xbar_nn_train_kernels", |b| {
        b.iter(|| train(&cfg, &data).expect("train"))
    });
    // The same products with faer: per batch and layer, Z = X W (forward),
    // dW = X^T dZ and dX = dZ W^T (backward).
    let ws: Vec<Mat<f64>> = sizes
        .windows(2)
        .map(|s| Mat::from_fn(s[0], s[1], |i, j| ((i + 3 * j) % 7) as f64 * 1e-2))
        .collect();
    let mut acts: Vec<Mat<f64>> = sizes.iter().map(|&w| Mat::zeros(batch, w)).collect();
    let mut grads: Vec<Mat<f64>> = ws
        .iter()
        .map(|w| Mat::zeros(w.nrows(), w.ncols()))
        .collect();
    let mut deltas: Vec<Mat<f64>> = sizes.iter().map(|&w| Mat::zeros(batch, w)).collect();
    acts[0] = Mat::from_fn(batch, sizes[0], |i, j| data.x[(i % n, j)]);
    g.bench_function("faer_matmuls_only_same_shapes", |b| {
        b.iter(|| {
            for _ in 0..cfg.epochs {
                for _ in 0..n.div_ceil(batch) {
                    for (l, w) in ws.iter().enumerate() {
                        let (lo, hi) = acts.split_at_mut(l + 1);
                        faer::linalg::matmul::matmul(
                            hi[0].as_mut(),
                            Accum::Replace,
                            lo[l].as_ref(),
                            w.as_ref(),
                            1.0,
                            Par::Seq,
                        );
                    }
                    for (l, w) in ws.iter().enumerate().rev() {
                        faer::linalg::matmul::matmul(
                            grads[l].as_mut(),
                            Accum::Replace,
                            acts[l].transpose(),
                            deltas[l + 1].as_ref(),
                            1.0,
                            Par::Seq,
                        );
                        let (lo, hi) = deltas.split_at_mut(l + 1);
                        faer::linalg::matmul::matmul(
                            lo[l].as_mut(),
                            Accum::Replace,
                            hi[0].as_ref(),
                            w.transpose(),
                            1.0,
                            Par::Seq,
                        );
                    }
                }
            }
            std::hint::black_box(&grads);
        })
    });
    g.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);

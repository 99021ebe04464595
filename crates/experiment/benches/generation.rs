//! Criterion benchmarks of the sweep runner: the full Sawal & Wong data generation
//! (84 scenarios x 1797 images) beside a bare faer GEMM of the same shapes, and one layer-0
//! scenario alone. `xbar bench` prints the same comparison as a ratio.

use criterion::{Criterion, criterion_group, criterion_main};
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use xbar_experiment::{Experiment, NoProgress, expand, prepare, run_scenarios};

fn generation(c: &mut Criterion) {
    let exp = Experiment::default_experiment().expect("built-in experiment");
    let cache = std::env::temp_dir().join("xbar-bench-cache");
    let prep = prepare(&exp, Some(&cache), &NoProgress).expect("prepare");
    let grid = expand(&exp);
    let n = prep.data.len();
    let mut g = c.benchmark_group("sawal2025");
    g.sample_size(20);
    g.bench_function("generation_84x1797", |b| {
        b.iter(|| run_scenarios(&prep, &grid, &NoProgress).expect("run"))
    });
    let one = vec![grid[0].clone()];
    g.bench_function("one_layer0_scenario_1797", |b| {
        b.iter(|| run_scenarios(&prep, &one, &NoProgress).expect("run"))
    });
    let shapes: Vec<(usize, usize)> = prep
        .net
        .layers
        .iter()
        .map(|l| (l.rows() - 1, l.cols()))
        .collect();
    let xs: Vec<Mat<f64>> = shapes
        .iter()
        .map(|&(i, _)| Mat::from_fn(n, i, |a, b| ((a + b) % 17) as f64))
        .collect();
    let ws: Vec<Mat<f64>> = shapes
        .iter()
        .map(|&(i, o)| Mat::from_fn(i, o, |a, b| ((a * b) % 5) as f64))
        .collect();
    g.bench_function("bare_gemm_same_shapes_84", |b| {
        b.iter(|| {
            grid.par_iter()
                .map_init(
                    || Mat::<f64>::zeros(n, 50),
                    |buf, _| {
                        for (x, w) in xs.iter().zip(&ws) {
                            let o = buf.as_mut().subcols_mut(0, w.ncols());
                            faer::linalg::matmul::matmul(
                                o,
                                Accum::Replace,
                                x.as_ref(),
                                w.as_ref(),
                                1.0,
                                Par::Seq,
                            );
                        }
                        buf[(0, 0)]
                    },
                )
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);

//! Criterion benchmarks of the sweep runner: the full Sawal & Wong data generation
//! (84 scenarios x 1797 images) beside bare faer GEMMs of exactly its useful flops ([`SameFlopGemm`]), and one layer-0
//! scenario alone. `xbar bench` prints the same comparison as a ratio.

use criterion::{Criterion, criterion_group, criterion_main};
use xbar_experiment::bench::SameFlopGemm;
use xbar_experiment::{Experiment, NoProgress, expand, prepare, run_scenarios};

fn generation(c: &mut Criterion) {
    let exp = Experiment::default_experiment().expect("built-in experiment");
    let cache = std::env::temp_dir().join("xbar-bench-cache");
    let prep = prepare(&exp, Some(&cache), &NoProgress).expect("prepare");
    let grid = expand(&exp);
    let mut g = c.benchmark_group("sawal2025");
    g.sample_size(20);
    g.bench_function("generation_84x1797", |b| {
        b.iter(|| run_scenarios(&prep, &grid, &NoProgress).expect("run"))
    });
    let one = vec![grid[0].clone()];
    g.bench_function("one_layer0_scenario_1797", |b| {
        b.iter(|| run_scenarios(&prep, &one, &NoProgress).expect("run"))
    });
    let gemm = SameFlopGemm::new(&prep);
    g.bench_function("same_flop_gemm_84", |b| b.iter(|| gemm.run(&grid)));
    g.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);

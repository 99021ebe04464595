//! Criterion benchmarks of the repair decoders on one 256x14 group of the paper's code
//! (N = 3584 unknowns, K = k_for(s, 3584) Gaussian checks + 14 column sums) at the recovery
//! threshold, s = 10 and s = 20. Target (DESIGN.md section 6): the fast exact L1 decoder
//! under 50 ms per group. `xbar bench repair` prints the same comparison with recovery rates
//! and, through scripts/bench-repair.sh, against HiGHS on the identical LP.

#![allow(clippy::print_stderr, reason = "a benchmark reports what it measured")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use xbar_correct::repair::{
    GROUP_N, Method, RepairConfig, decode_with, group_instance, k_for, trial_success,
};

fn repair(c: &mut Criterion) {
    for s in [10, 20] {
        let k = k_for(s, GROUP_N);
        let inst = group_instance(k, s, 0);
        let cfg = RepairConfig {
            max_support: s,
            ..RepairConfig::default()
        };
        let mut g = c.benchmark_group(format!("group_256x14_s{s}_k{k}"));
        g.sample_size(20);
        for method in [Method::Omp, Method::Homotopy, Method::Cascade] {
            let out = decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg).expect("decode");
            // Report what the benchmarked run achieves (OMP may legitimately fail near the threshold).
            eprintln!(
                "{}: status {:?}, success {}, iterations {}",
                method.name(),
                out.status,
                trial_success(&out.e, &inst.e0),
                out.iterations
            );
            g.bench_function(method.name(), |b| {
                b.iter(|| decode_with(method, black_box(inst.m.as_ref()), &inst.sigma, &cfg))
            });
        }
        g.finish();
        // Clarabel takes seconds per solve: the minimum of 10 samples, one group size.
        let mut g = c.benchmark_group(format!("group_256x14_s{s}_k{k}_lp"));
        g.sample_size(10);
        g.warm_up_time(std::time::Duration::from_millis(1));
        g.measurement_time(std::time::Duration::from_secs(1));
        g.bench_function("clarabel_dual", |b| {
            b.iter(|| {
                decode_with(
                    Method::Clarabel,
                    black_box(inst.m.as_ref()),
                    &inst.sigma,
                    &cfg,
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, repair);
criterion_main!(benches);

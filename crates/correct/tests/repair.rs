//! End-to-end checks of the repair decoders: the paper's 256x14 group layout (identical to the
//! encoder in xbar-ecc), recovery at the design rule, erasures beyond the L1 threshold, the
//! joint memory + datapath LP, the noisy forms, and determinism.

use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use xbar_correct::repair::{
    Decoder, GROUP_INPUTS, GROUP_N, GROUP_OUTPUTS, JointGroup, LpForm, Method, NoiseBall,
    RepairConfig, Status, clarabel, clarabel_joint, clarabel_noisy, decode, erasure, export_lp,
    gaussian_instance, group_instance, group_matrix, homotopy, k_for, omp, run_trial, sparse_error,
};
use xbar_ecc::rnecc::{CodeConfig, Type2, WeightCode};

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn group_matrix_is_the_encoders_constraint_matrix() {
    let cfg = CodeConfig {
        group_rows: GROUP_INPUTS,
        type1_per_group: 12,
        type2: Type2::AllOnes,
        seed: 17,
    };
    // Two groups of 14 inputs on a 256-output array.
    let code = WeightCode::new(2 * GROUP_INPUTS, GROUP_OUTPUTS, &cfg).unwrap();
    for g in 0..2 {
        let ours = group_matrix(12, 17, g as u64);
        let theirs = code.constraint_matrix(g);
        assert_eq!(
            (ours.nrows(), ours.ncols()),
            (theirs.nrows(), theirs.ncols())
        );
        assert_eq!(ours, theirs, "group {g}");
    }
}

#[test]
fn a_coded_group_is_repaired_from_its_syndrome() {
    // Weights projected onto the code, 8 memory errors, K from the design rule for s = 8.
    let k = k_for(8, GROUP_N);
    let cfg = CodeConfig {
        group_rows: GROUP_INPUTS,
        type1_per_group: k,
        type2: Type2::AllOnes,
        seed: 3,
    };
    let code = WeightCode::new(GROUP_INPUTS, GROUP_OUTPUTS, &cfg).unwrap();
    let mut h = Mat::from_fn(GROUP_INPUTS, GROUP_OUTPUTS, |i, j| {
        (((i * 131 + j * 71) % 97) as f64 - 48.0) / 200.0
    });
    code.project(h.as_mut());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let e0 = sparse_error(GROUP_N, 8, &mut rng);
    let mut faulty = h.clone();
    for (t, &v) in e0.iter().enumerate() {
        faulty[(t / GROUP_OUTPUTS, t % GROUP_OUTPUTS)] += v;
    }
    let sigma = code.syndrome(faulty.as_ref()).remove(0);
    let m = code.constraint_matrix(0);
    let rcfg = RepairConfig {
        max_support: 8,
        ..RepairConfig::default()
    };
    let out = decode(m.as_ref(), &sigma, &rcfg).unwrap();
    assert_eq!(out.status, Status::Recovered, "{}", out.message);
    let fixed = out.correction().expect("certified");
    for (t, &v) in fixed.iter().enumerate() {
        faulty[(t / GROUP_OUTPUTS, t % GROUP_OUTPUTS)] -= v;
    }
    let diff = (&faulty - &h).norm_l2();
    assert!(diff < 1e-9, "repaired weights differ by {diff}");
}

#[test]
fn group_at_the_design_rule_is_recovered_by_the_fast_decoders() {
    for s in [1, 10] {
        let k = k_for(s, GROUP_N);
        let cfg = RepairConfig {
            max_support: s,
            ..RepairConfig::default()
        };
        let inst = group_instance(k, s, 1);
        for method in [Method::Cascade, Method::Homotopy] {
            let t = run_trial(&inst, method, &cfg).unwrap();
            assert!(t.success, "s {s} {method:?}: {}", t.decoded.message);
            assert_eq!(t.decoded.status, Status::Recovered);
            assert!(max_abs_diff(&t.decoded.e, &inst.e0) < 1e-6);
        }
        let d = decode(inst.m.as_ref(), &inst.sigma, &cfg).unwrap();
        if s == 1 {
            assert_eq!(d.decoder, Decoder::SingleError);
        }
    }
}

#[test]
fn far_above_the_threshold_a_group_is_uncorrectable() {
    // 60 errors with the checks for 10: the L1 solution is not the error.
    let k = k_for(10, GROUP_N);
    let inst = group_instance(k, 60, 2);
    let cfg = RepairConfig {
        max_support: 10,
        ..RepairConfig::default()
    };
    let d = decode(inst.m.as_ref(), &inst.sigma, &cfg).unwrap();
    assert_eq!(d.status, Status::Uncorrectable, "{}", d.message);
    assert!(d.correction().is_none());
    assert_eq!(d.attempts.len(), 3);
    // Even when the design bound is loose, no decoder certifies a wrong answer.
    let loose = RepairConfig {
        max_support: 60,
        ..RepairConfig::default()
    };
    for method in [Method::Omp, Method::Homotopy, Method::Cascade] {
        let t = run_trial(&inst, method, &loose).unwrap();
        assert!(
            t.success || t.decoded.status != Status::Recovered,
            "{method:?} marked a wrong correction Recovered"
        );
    }
}

#[test]
fn erasures_are_recovered_beyond_the_l1_threshold() {
    // D(60, 1000) is about 300: 150 checks cannot decode 60 unknown errors...
    let inst = gaussian_instance(150, 1000, 60, 8);
    let cfg = RepairConfig {
        max_support: 60,
        ..RepairConfig::default()
    };
    let blind = homotopy(inst.m.as_ref(), &inst.sigma, &cfg).unwrap();
    assert_ne!(blind.status, Status::Recovered);
    // ...but their positions make it a least-squares problem.
    let support: Vec<usize> = (0..1000).filter(|&i| inst.e0[i] != 0.0).collect();
    let d = erasure(inst.m.as_ref(), &inst.sigma, &support, &cfg).unwrap();
    assert_eq!(d.status, Status::Recovered, "{}", d.message);
    assert_eq!(d.decoder, Decoder::Erasure);
    assert!(max_abs_diff(&d.e, &inst.e0) < 1e-8);
    // A superset of the true positions also works (extra values come out zero).
    let mut wider = support.clone();
    wider.extend([0, 1, 2, 3, 4].iter().filter(|i| !support.contains(i)));
    let d = erasure(inst.m.as_ref(), &inst.sigma, &wider, &cfg).unwrap();
    assert_eq!(d.status, Status::Recovered);
    assert!(max_abs_diff(&d.e, &inst.e0) < 1e-8);
    // More positions than checks, or a map that misses errors, fails cleanly.
    let too_many: Vec<usize> = (0..151).collect();
    let d = erasure(inst.m.as_ref(), &inst.sigma, &too_many, &cfg).unwrap();
    assert_eq!(d.status, Status::Uncorrectable);
    let partial_map = &support[..30];
    let d = erasure(inst.m.as_ref(), &inst.sigma, partial_map, &cfg).unwrap();
    assert_eq!(d.status, Status::Uncorrectable);
}

#[test]
fn fast_l1_agrees_with_clarabel_on_random_instances() {
    // The exact path (no early exit) is the LP's solution, recovered or not.
    let cfg = RepairConfig {
        max_support: 30,
        early_exit: false,
        ..RepairConfig::default()
    };
    let early = RepairConfig {
        early_exit: true,
        ..cfg.clone()
    };
    let mut agree = 0;
    for seed in 0..8u64 {
        let (p, n) = (40 + 5 * (seed as usize % 3), 160);
        let s = 6 + 2 * seed as usize;
        let inst = gaussian_instance(p, n, s, 100 + seed);
        let h = homotopy(inst.m.as_ref(), &inst.sigma, &cfg).unwrap();
        let l = clarabel(inst.m.as_ref(), &inst.sigma, LpForm::Dual, &cfg).unwrap();
        let l1 = |e: &[f64]| e.iter().map(|v| v.abs()).sum::<f64>();
        assert!(
            (l1(&h.e) - l1(&l.e)).abs() <= 1e-6 * (1.0 + l1(&l.e)),
            "seed {seed}: objective {} vs {}",
            l1(&h.e),
            l1(&l.e)
        );
        assert!(max_abs_diff(&h.e, &l.e) < 1e-5, "seed {seed}");
        assert_eq!(
            h.status == Status::Recovered,
            l.status == Status::Recovered,
            "seed {seed}"
        );
        agree += usize::from(max_abs_diff(&h.e, &inst.e0) < 1e-6);
        // Stopping early changes nothing when L1 recovers.
        let f = homotopy(inst.m.as_ref(), &inst.sigma, &early).unwrap();
        if h.status == Status::Recovered {
            assert_eq!(f.status, Status::Recovered);
            assert!(max_abs_diff(&f.e, &h.e) < 1e-9, "seed {seed}");
            assert!(f.iterations <= h.iterations);
        }
    }
    // The sweep crosses the threshold: some instances recovered, some not.
    assert!(agree > 0 && agree < 8, "recovered {agree}/8");
}

#[test]
fn joint_memory_and_datapath_errors() {
    // reference/ecc-math.md A.5: m = 32 outputs, n = 14 inputs, K = 80, 5 memory errors,
    // 2 datapath errors, L = 12 random output checks: both located exactly.
    let (m_out, n_in, k, l) = (32, 14, 80, 12);
    let code = WeightCode::new(
        n_in,
        m_out,
        &CodeConfig {
            group_rows: 0,
            type1_per_group: k,
            type2: Type2::Random { count: l },
            seed: 11,
        },
    )
    .unwrap();
    let m = code.constraint_matrix(0);
    let c = code.checks().to_owned();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let e_mem = sparse_error(n_in * m_out, 5, &mut rng);
    let e_dp = sparse_error(m_out, 2, &mut rng);
    let x: Vec<f64> = (0..n_in).map(|j| 0.2 + 0.1 * j as f64).collect();
    let sigma: Vec<f64> = (0..m.nrows())
        .map(|r| (0..m.ncols()).map(|t| m[(r, t)] * e_mem[t]).sum())
        .collect();
    // C y~ = C (E x + e) (C W x = 0 for a codeword).
    let ex: Vec<f64> = (0..m_out)
        .map(|i| (0..n_in).map(|j| e_mem[j * m_out + i] * x[j]).sum())
        .collect();
    let cy: Vec<f64> = (0..l)
        .map(|li| (0..m_out).map(|i| c[(li, i)] * (ex[i] + e_dp[i])).sum())
        .collect();
    let cfg = RepairConfig {
        max_support: 10,
        max_datapath_support: 2,
        ..RepairConfig::default()
    };
    let g = JointGroup {
        m: m.as_ref(),
        syndrome: &sigma,
        x: &x,
    };
    let out = clarabel_joint(&[g], c.as_ref(), &cy, 1.0, &cfg).unwrap();
    assert_eq!(out.status, Status::Recovered, "{}", out.message);
    assert!(max_abs_diff(&out.memory[0].e, &e_mem) < 1e-7);
    assert!(max_abs_diff(&out.datapath.e, &e_dp) < 1e-7);
    assert_eq!(out.datapath.support_size, 2);
    // Bad shapes are errors.
    assert!(clarabel_joint(&[g], c.as_ref(), &cy[..5], 1.0, &cfg).is_err());
    let short = JointGroup { x: &x[..3], ..g };
    assert!(clarabel_joint(&[short], c.as_ref(), &cy, 1.0, &cfg).is_err());
}

#[test]
fn noisy_syndromes_with_the_denoising_forms() {
    let (p, n, s) = (50, 200, 4);
    let mut inst = gaussian_instance(p, n, s, 12);
    let noise = 1e-4;
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let w = sparse_error(p, p, &mut rng); // p Gaussian draws
    for (si, wi) in inst.sigma.iter_mut().zip(&w) {
        *si += noise * wi;
    }
    let cfg = RepairConfig {
        max_support: 8,
        noise_std: noise,
        threshold_abs: 5e-3,
        ..RepairConfig::default()
    };
    let true_support: Vec<usize> = (0..n).filter(|&i| inst.e0[i] != 0.0).collect();
    for ball in [
        NoiseBall::L2 {
            radius: cfg.noise_radius(p),
        },
        NoiseBall::LInf {
            radius: 4.0 * noise,
        },
    ] {
        let d = clarabel_noisy(inst.m.as_ref(), &inst.sigma, ball, &cfg).unwrap();
        assert_eq!(d.status, Status::Recovered, "{ball:?}: {}", d.message);
        assert_eq!(d.support, true_support, "{ball:?}");
        assert!(max_abs_diff(&d.e, &inst.e0) < 1e-2, "{ball:?}");
    }
    // The fast decoders handle the same noise through the tolerance.
    let d = omp(inst.m.as_ref(), &inst.sigma, &cfg).unwrap();
    assert_eq!(d.status, Status::Recovered, "{}", d.message);
    assert_eq!(d.support, true_support);
}

#[test]
fn trials_are_deterministic_and_exportable() {
    let cfg = RepairConfig {
        max_support: 15,
        ..RepairConfig::default()
    };
    let a = run_trial(&gaussian_instance(45, 200, 9, 4), Method::Cascade, &cfg).unwrap();
    let b = run_trial(&gaussian_instance(45, 200, 9, 4), Method::Cascade, &cfg).unwrap();
    assert_eq!(a, b);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.decoded.e), bits(&b.decoded.e));

    let inst = gaussian_instance(6, 9, 2, 1);
    let dir = std::env::temp_dir().join(format!("xbar-repair-export-{}", std::process::id()));
    export_lp(&dir, &inst).unwrap();
    let raw = std::fs::read(dir.join("M_rowmajor_f64le.bin")).unwrap();
    assert_eq!(raw.len(), 6 * 9 * 8);
    let first = f64::from_le_bytes(raw[8..16].try_into().unwrap());
    assert_eq!(first, inst.m[(0, 1)]);
    let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    assert!(meta.contains("\"p\": 6") && meta.contains("\"n\": 9") && meta.contains("\"s\": 2"));
    std::fs::remove_dir_all(&dir).unwrap();
}

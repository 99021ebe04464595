//! Exhaustive checks of the additions-only ABFT codes: every single error corrected, every
//! double error detected by SEC/DED, the k -> r tables, independence of the columns and the
//! operation counts of reference/ecc-math.md (appendix).

use xbar_ecc::abft::{
    CheckCode, Decision, TernaryCode, TernaryKind, WeightScheme, WeightedChecksum,
    conductance_scale, encode_layer, lhc_capacity, lhc_min_r, range_table, secded_capacity,
    secded_min_r,
};

const KS: [usize; 7] = [5, 10, 11, 26, 36, 37, 50];
const MAGNITUDES: [f64; 6] = [1.0, -1.0, 0.3, -2.5, 7.0, -0.05];
const TAU: f64 = 1e-9;

fn clean_data(k: usize) -> Vec<f64> {
    (0..k)
        .map(|j| ((j * 37 % 11) as f64 - 5.0) * 0.17)
        .collect()
}

/// Outputs (data, checks) of a clean product, then errors added at the given positions.
fn received(code: &dyn CheckCode, errors: &[(usize, f64)]) -> (Vec<f64>, Vec<f64>) {
    let k = code.k();
    let mut y = clean_data(k);
    let mut z = vec![0.0; code.r()];
    code.encode(&y, &mut z);
    for &(pos, v) in errors {
        if pos < k {
            y[pos] += v;
        } else {
            z[pos - k] += v;
        }
    }
    (y, z)
}

fn decode(code: &dyn CheckCode, y: &[f64], z: &[f64]) -> Decision {
    let mut s = vec![0.0; code.r()];
    code.syndrome(y, z, &mut s);
    code.decode(&s, &vec![TAU; code.r()])
}

#[test]
fn every_single_error_is_corrected() {
    for kind in [TernaryKind::Lhc, TernaryKind::SecDed] {
        for k in KS {
            let code = TernaryCode::new(kind, k).unwrap();
            assert_eq!(code.k(), k);
            let (y, z) = received(&code, &[]);
            assert_eq!(decode(&code, &y, &z), Decision::Clean);
            for pos in 0..k + code.r() {
                for v in MAGNITUDES {
                    let (y, z) = received(&code, &[(pos, v)]);
                    match decode(&code, &y, &z) {
                        Decision::Corrected { position, value } => {
                            assert_eq!(position, pos, "{kind:?} k={k} pos={pos} v={v}");
                            // A check output error e gives s = -e e_i; value is the error.
                            assert!((value - v).abs() < 1e-9, "{kind:?} k={k} {value} vs {v}");
                        }
                        d => panic!("{kind:?} k={k} pos={pos} v={v}: {d:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn secded_detects_every_double_error() {
    let mut lhc_miscorrections = 0;
    let mut lhc_doubles = 0;
    for k in KS {
        let sd = TernaryCode::new(TernaryKind::SecDed, k).unwrap();
        let n = k + sd.r();
        for a in 0..n {
            for b in a + 1..n {
                for (va, vb) in [(1.0, 1.0), (1.0, -1.0), (0.3, -2.5), (-7.0, 0.05)] {
                    let (y, z) = received(&sd, &[(a, va), (b, vb)]);
                    assert_eq!(
                        decode(&sd, &y, &z),
                        Decision::Uncorrectable,
                        "k={k} positions {a},{b} values {va},{vb}"
                    );
                }
            }
        }
        // The distance-3 code may mis-correct doubles: count, do not require.
        let lhc = TernaryCode::new(TernaryKind::Lhc, k).unwrap();
        let n = k + lhc.r();
        for a in 0..n {
            for b in a + 1..n {
                let (y, z) = received(&lhc, &[(a, 1.0), (b, -1.0)]);
                lhc_doubles += 1;
                if matches!(decode(&lhc, &y, &z), Decision::Corrected { .. }) {
                    lhc_miscorrections += 1;
                }
            }
        }
    }
    // Equal and opposite doubles on two columns whose difference is another column (or a
    // unit vector) are indistinguishable from a single error for a distance-3 code.
    assert!(lhc_miscorrections > 0 && lhc_miscorrections < lhc_doubles);
}

#[test]
fn table_2_is_reproduced_for_every_k() {
    // Paper, Table 2: k 5-10 -> r 3, 11-36 -> 4, 37-116 -> 5, 117-358 -> 6.
    for k in 5..=358u64 {
        let want = match k {
            5..=10 => 3,
            11..=36 => 4,
            37..=116 => 5,
            _ => 6,
        };
        assert_eq!(lhc_min_r(k), want, "k = {k}");
    }
    let rows = range_table(TernaryKind::Lhc, 3..=6);
    let got: Vec<(u32, u64, u64)> = rows.iter().map(|r| (r.r, r.k_min, r.k_max)).collect();
    assert_eq!(got, [(3, 3, 10), (4, 11, 36), (5, 37, 116), (6, 117, 358)]);
    // The construction itself reaches every k of the table with that r.
    for k in [5usize, 10, 11, 36, 37, 116, 117, 358] {
        let code = TernaryCode::new(TernaryKind::Lhc, k).unwrap();
        assert_eq!(code.r() as u32, lhc_min_r(k as u64));
    }
    assert_eq!(lhc_capacity(7), 1086);
}

#[test]
fn table_3_as_constructed() {
    // The closed form: 6..30 -> 6, 31..112 -> 7, 113..336 -> 8, 337..891 -> 9.
    // The paper prints 113-436 and 437-787 for the last two rows (see docs/ecc.md).
    let rows = range_table(TernaryKind::SecDed, 6..=9);
    let got: Vec<(u32, u64, u64)> = rows.iter().map(|r| (r.r, r.k_min, r.k_max)).collect();
    assert_eq!(
        got,
        [(6, 6, 30), (7, 31, 112), (8, 113, 336), (9, 337, 891)]
    );
    assert_eq!(secded_capacity(5), 5);
    assert_eq!(secded_capacity(10), 2190);
    assert_eq!(secded_min_r(336), 8);
    assert_eq!(secded_min_r(337), 9);
    // 436 would need r = 9 with this family; 787 is inside r = 9's range.
    assert_eq!(secded_min_r(436), 9);
    assert_eq!(secded_min_r(787), 9);
    for k in [6usize, 30, 31, 112, 113, 336, 337] {
        let code = TernaryCode::new(TernaryKind::SecDed, k).unwrap();
        assert_eq!(code.r() as u32, secded_min_r(k as u64));
        assert!(code.row_weights().iter().all(|&w| w > 0));
    }
}

/// Rank of a small dense matrix by Gaussian elimination with partial pivoting.
fn rank(mut m: Vec<Vec<f64>>) -> usize {
    let rows = m.len();
    let cols = m[0].len();
    let mut r = 0;
    for c in 0..cols {
        let Some(p) = (r..rows).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())) else {
            break;
        };
        if m[p][c].abs() < 1e-9 {
            continue;
        }
        m.swap(r, p);
        let pivot = m[r].clone();
        for (i, row) in m.iter_mut().enumerate() {
            if i != r {
                let f = row[c] / pivot[c];
                for (x, p) in row.iter_mut().zip(&pivot) {
                    *x -= f * p;
                }
            }
        }
        r += 1;
        if r == rows {
            break;
        }
    }
    r
}

fn h_columns(code: &TernaryCode) -> Vec<Vec<f64>> {
    let r = code.r();
    let mut cols: Vec<Vec<f64>> = (0..code.k())
        .map(|j| code.column(j).iter().map(|&v| f64::from(v)).collect())
        .collect();
    for i in 0..r {
        cols.push((0..r).map(|t| if t == i { -1.0 } else { 0.0 }).collect());
    }
    cols
}

#[test]
fn column_independence() {
    // LHC at full capacity: no two columns of H parallel.
    for k in [10usize, 36] {
        let code = TernaryCode::new(TernaryKind::Lhc, k).unwrap();
        let cols = h_columns(&code);
        for a in 0..cols.len() {
            for b in a + 1..cols.len() {
                let m: Vec<Vec<f64>> = (0..code.r())
                    .map(|i| vec![cols[a][i], cols[b][i]])
                    .collect();
                assert_eq!(rank(m), 2, "k={k} columns {a},{b}");
            }
        }
    }
    // SEC/DED at full capacity for r = 6: every three columns independent.
    let code = TernaryCode::new(TernaryKind::SecDed, 30).unwrap();
    let cols = h_columns(&code);
    for a in 0..cols.len() {
        for b in a + 1..cols.len() {
            for c in b + 1..cols.len() {
                let m: Vec<Vec<f64>> = (0..code.r())
                    .map(|i| vec![cols[a][i], cols[b][i], cols[c][i]])
                    .collect();
                assert_eq!(rank(m), 3, "columns {a},{b},{c}");
            }
        }
    }
}

#[test]
fn operation_counts_match_the_reference_appendix() {
    // (k, LHC r, enc adds, syndrome adds, SEC/DED r, enc adds, syndrome adds)
    let rows = [
        (8, 3, 15, 18, 6, 34, 40),
        (16, 4, 32, 36, 6, 74, 80),
        (26, 4, 62, 66, 6, 124, 130),
        (32, 4, 84, 88, 7, 153, 160),
        (64, 5, 171, 176, 7, 313, 320),
        (128, 6, 366, 372, 8, 632, 640),
        (256, 6, 904, 910, 8, 1272, 1280),
    ];
    for (k, lr, le, ls, sr, se, ss) in rows {
        let lhc = TernaryCode::new(TernaryKind::Lhc, k).unwrap();
        let o = lhc.overhead(k);
        assert_eq!(
            (lhc.r(), o.encode_vector.additions, o.syndrome.additions),
            (lr, le, ls),
            "LHC k={k}"
        );
        assert_eq!(o.syndrome.multiplications + o.locate.divisions, 0);
        let sd = TernaryCode::new(TernaryKind::SecDed, k).unwrap();
        let o = sd.overhead(k);
        assert_eq!(
            (sd.r(), o.encode_vector.additions, o.syndrome.additions),
            (sr, se, ss),
            "SEC/DED k={k}"
        );
        // Weighted checksums: 2(k-1) additions to encode, 2k for the syndrome, one division.
        let w = WeightedChecksum::new(WeightScheme::Linear, k, 3).unwrap();
        let o = w.overhead(k);
        assert_eq!(o.encode_vector.additions, 2 * (k as u64 - 1));
        assert_eq!(o.syndrome.additions, 2 * k as u64);
        assert_eq!(o.encode_vector.multiplications, k as u64 - 1);
        assert_eq!(o.locate.divisions, 1);
        let w4 = WeightedChecksum::new(WeightScheme::Linear, k, 4).unwrap();
        assert_eq!(w4.overhead(k).encode_vector.additions, 3 * (k as u64 - 1));
    }
    // Procedure I example, k = 26: r = 4, 12 columns of weight 2 and 14 of weight 3.
    let code = TernaryCode::new(TernaryKind::Lhc, 26).unwrap();
    assert_eq!(code.nnz(), 66);
    let w2 = (0..26)
        .filter(|&j| code.column(j).iter().filter(|&&v| v != 0).count() == 2)
        .count();
    assert_eq!(w2, 12);
    // Row weights are balanced.
    let rw = code.row_weights();
    assert!(
        rw.iter().max().unwrap() - rw.iter().min().unwrap() <= 1,
        "{rw:?}"
    );
}

#[test]
fn weighted_checksums_correct_singles_and_detect_doubles() {
    for scheme in [WeightScheme::Linear, WeightScheme::PowersOfTwo] {
        for d in [3u32, 4] {
            let k = 12;
            let code = WeightedChecksum::new(scheme, k, d).unwrap();
            for pos in 0..k + code.r() {
                for v in [1.0, -0.3, 2.5] {
                    let (y, z) = received(&code, &[(pos, v)]);
                    match decode(&code, &y, &z) {
                        Decision::Corrected { position, value } => {
                            assert_eq!(position, pos, "{scheme:?} d={d} pos={pos}");
                            assert!((value - v).abs() < 1e-6);
                        }
                        other => panic!("{scheme:?} d={d} pos={pos}: {other:?}"),
                    }
                }
            }
            if d == 4 {
                for a in 0..k + code.r() {
                    for b in a + 1..k + code.r() {
                        let (y, z) = received(&code, &[(a, 1.0), (b, 0.7)]);
                        assert_eq!(decode(&code, &y, &z), Decision::Uncorrectable, "{a},{b}");
                    }
                }
            }
        }
    }
}

#[test]
fn encoded_layer_checks_hold_and_fit_the_range() {
    let (n_in, k) = (7, 11);
    let w = faer::Mat::from_fn(n_in, k, |i, j| ((i * 5 + j * 3) % 9) as f64 / 9.0 - 0.4);
    let b: Vec<f64> = (0..k).map(|j| 0.05 * j as f64 - 0.2).collect();
    let code = TernaryCode::new(TernaryKind::SecDed, k).unwrap();
    let enc = encode_layer(&code, w.as_ref(), &b).unwrap();
    let data_max = enc
        .w
        .as_ref()
        .subcols(0, k)
        .norm_max()
        .max(b.iter().fold(0.0f64, |a, v| a.max(v.abs())));
    let check_max = enc.w.as_ref().subcols(k, enc.r).norm_max();
    assert!(check_max <= data_max + 1e-15);
    assert!(enc.scale >= 1.0 && enc.scale.log2().fract() == 0.0);
    // For any input x: P y = scale * z.
    let x: Vec<f64> = (0..n_in).map(|i| (i as f64 * 0.37).sin()).collect();
    let out = |j: usize| (0..n_in).map(|i| x[i] * enc.w[(i, j)]).sum::<f64>() + enc.b[j];
    let y: Vec<f64> = (0..k).map(out).collect();
    let z: Vec<f64> = (0..enc.r).map(|c| out(k + c) * enc.scale).collect();
    let mut s = vec![0.0; enc.r];
    code.syndrome(&y, &z, &mut s);
    assert!(s.iter().all(|v| v.abs() < 1e-12), "{s:?}");
    // Powers-of-two weights need a scale near 2^k.
    let jou = WeightedChecksum::new(WeightScheme::PowersOfTwo, k, 3).unwrap();
    let enc = encode_layer(&jou, w.as_ref(), &b).unwrap();
    assert!(enc.scale >= 2f64.powi(k as i32 - 3), "{}", enc.scale);
    assert_eq!(conductance_scale(w.as_ref(), w.as_ref()), 1.0);
}

#[test]
fn batch_syndromes_match_per_vector_syndromes() {
    let k = 20;
    let n = 9;
    let codes: Vec<Box<dyn CheckCode>> = vec![
        Box::new(TernaryCode::new(TernaryKind::SecDed, k).unwrap()),
        Box::new(TernaryCode::new(TernaryKind::Lhc, k).unwrap()),
        Box::new(WeightedChecksum::new(WeightScheme::Linear, k, 4).unwrap()),
    ];
    for code in &codes {
        let r = code.r();
        let y = faer::Mat::from_fn(n, k, |t, j| ((t * 7 + j * 3) % 13) as f64 * 0.1 - 0.5);
        let z = faer::Mat::from_fn(n, r, |t, i| ((t + 2 * i) % 5) as f64 * 0.25);
        let mut s = faer::Mat::<f64>::zeros(n, r);
        code.syndrome_batch(y.as_ref(), z.as_ref(), 4.0, s.as_mut());
        for t in 0..n {
            let yr: Vec<f64> = (0..k).map(|j| y[(t, j)]).collect();
            let zr: Vec<f64> = (0..r).map(|i| 4.0 * z[(t, i)]).collect();
            let mut sr = vec![0.0; r];
            code.syndrome(&yr, &zr, &mut sr);
            for i in 0..r {
                assert!((s[(t, i)] - sr[i]).abs() < 1e-9, "{} {t} {i}", code.name());
            }
        }
    }
}

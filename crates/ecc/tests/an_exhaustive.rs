//! Exhaustive checks of the AN codes: improved decoder = classic decoder on every valid code
//! word, exact code membership on every 16-bit word, every single bit flip detected for the
//! super-A values, Newton inverses, the super-A search and the residue table.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use xbar_ecc::an::array::{ResidueOutcome, ResidueTable};
use xbar_ecc::an::{AnCode, AnData, code_distance, mod_inverse, super_a};

const SUPER_A_8: [u64; 7] = [3, 7, 13, 29, 59, 115, 233];

fn improved_equals_classic<D: AnData>(a: u64, all: impl Iterator<Item = D>) {
    let code = AnCode::<D>::new(a).unwrap();
    for x in all {
        let xc = code.encode(x);
        assert!(code.check_classic(xc), "A={a} x={x:?}");
        assert!(code.is_valid(xc), "A={a} x={x:?}");
        assert_eq!(
            code.decode(xc),
            Some(code.decode_classic(xc)),
            "A={a} x={x:?}"
        );
        assert_eq!(code.decode(xc), Some(x));
    }
}

#[test]
fn improved_decode_equals_classic_on_every_code_word() {
    for a in [1u64, 3, 29, 233, 255] {
        improved_equals_classic::<u8>(a, 0..=u8::MAX);
        improved_equals_classic::<i8>(a, i8::MIN..=i8::MAX);
    }
    for a in [1u64, 3, 61, 7785, 63877] {
        improved_equals_classic::<u16>(a, 0..=u16::MAX);
        improved_equals_classic::<i16>(a, i16::MIN..=i16::MAX);
    }
    // Wider types on samples.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for a in [1u64, 881, 65117] {
        let c32 = AnCode::<u32>::new(a).unwrap();
        let c64 = AnCode::<u64>::new(a).unwrap();
        let ci64 = AnCode::<i64>::new(a).unwrap();
        for _ in 0..2000 {
            let x = rng.next_u64();
            assert_eq!(c32.decode(c32.encode(x as u32)), Some(x as u32));
            assert_eq!(c32.decode_classic(c32.encode(x as u32)), x as u32);
            assert_eq!(c64.decode(c64.encode(x)), Some(x));
            assert_eq!(c64.decode_classic(c64.encode(x)), x);
            assert_eq!(ci64.decode(ci64.encode(x as i64)), Some(x as i64));
            assert_eq!(ci64.decode_classic(ci64.encode(x as i64)), x as i64);
        }
        for x in [u64::MAX, 0, 1] {
            assert_eq!(c64.decode(c64.encode(x)), Some(x));
        }
        for x in [i64::MIN, i64::MAX, -1, 0] {
            assert_eq!(ci64.decode(ci64.encode(x)), Some(x));
        }
    }
}

#[test]
fn improved_check_is_exact_membership_on_every_word() {
    // Over all 2^16 words: valid (improved) <=> the word is A x for some x in the domain;
    // the classic check (x_c mod A == 0) accepts a superset.
    for a in [3u64, 29, 233] {
        let cu = AnCode::<u8>::new(a).unwrap();
        let ci = AnCode::<i8>::new(a).unwrap();
        let mut valid_u = 0;
        let mut valid_i = 0;
        for w in 0..=u16::MAX {
            let member_u = (w as u64).is_multiple_of(a) && w as u64 / a <= 255;
            assert_eq!(cu.is_valid(w), member_u, "u8 A={a} word={w:#x}");
            if cu.is_valid(w) {
                assert!(cu.check_classic(w));
                valid_u += 1;
            }
            let s = w as i16 as i64;
            let member_i = s % a as i64 == 0 && (-128..=127).contains(&(s / a as i64));
            assert_eq!(ci.is_valid(w), member_i, "i8 A={a} word={w:#x}");
            if ci.is_valid(w) {
                assert!(ci.check_classic(w));
                valid_i += 1;
            }
        }
        assert_eq!((valid_u, valid_i), (256, 256));
    }
}

#[test]
fn every_single_bit_flip_is_detected_for_super_a() {
    for a in SUPER_A_8 {
        let cu = AnCode::<u8>::new(a).unwrap();
        let ci = AnCode::<i8>::new(a).unwrap();
        let (d_min, _) = code_distance(a, 8);
        for x in 0..=255u8 {
            let xc = cu.encode(x);
            let xs = ci.encode(x as i8);
            for bit in 0..16 {
                assert!(
                    cu.decode(xc ^ (1 << bit)).is_none(),
                    "A={a} x={x} bit={bit}"
                );
                assert!(
                    ci.decode(xs ^ (1 << bit)).is_none(),
                    "A={a} x={x} bit={bit} (i8)"
                );
            }
            // Up to d_min - 1 flips are all detected (unsigned code words).
            if d_min >= 3 {
                for b1 in 0..16 {
                    for b2 in b1 + 1..16 {
                        let w = xc ^ (1 << b1) ^ (1 << b2);
                        assert!(cu.decode(w).is_none(), "A={a} x={x} bits {b1},{b2}");
                        if d_min >= 4 {
                            for b3 in b2 + 1..16 {
                                assert!(cu.decode(w ^ (1 << b3)).is_none());
                            }
                        }
                    }
                }
            }
        }
    }
    // A = 1 detects nothing.
    let c1 = AnCode::<u8>::new(1).unwrap();
    assert!(c1.decode(c1.encode(5) ^ 1).is_some());
}

#[test]
fn newton_inverse() {
    for a in (1..=u8::MAX).step_by(2) {
        assert_eq!(a.wrapping_mul(mod_inverse(a).unwrap()), 1);
    }
    for a in (1..=u16::MAX).step_by(2) {
        assert_eq!(a.wrapping_mul(mod_inverse(a).unwrap()), 1, "a = {a}");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..10_000 {
        let a32 = rng.next_u32() | 1;
        assert_eq!(a32.wrapping_mul(mod_inverse(a32).unwrap()), 1);
        let a64 = rng.next_u64() | 1;
        assert_eq!(a64.wrapping_mul(mod_inverse(a64).unwrap()), 1);
        let a128 = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) | 1;
        assert_eq!(a128.wrapping_mul(mod_inverse(a128).unwrap()), 1);
    }
    assert_eq!(mod_inverse(2u64), None);
    // The AHEAD constants.
    assert_eq!(mod_inverse(233u16), Some(0xd759));
    assert_eq!(mod_inverse(233u32), Some(0x1fdc_d759));
    assert_eq!(mod_inverse(29u16), Some(0xc235));
    assert_eq!(mod_inverse(63877u32), Some(0xd142_174d));
    assert_eq!(mod_inverse(65117u64), Some(0x3e36_d3bc_8d9b_c5f5));
}

#[test]
fn super_a_list_for_8_bit_data_is_recomputed() {
    let list = super_a(8, 16, 8).unwrap();
    let a: Vec<u64> = list.iter().map(|s| s.a).collect();
    assert_eq!(a, [1, 3, 7, 13, 29, 59, 115, 233]);
    let d: Vec<u32> = list.iter().map(|s| s.d_min).collect();
    assert_eq!(d, [1, 2, 2, 2, 3, 3, 3, 4]);
    let pairs: Vec<u64> = list.iter().skip(1).map(|s| s.pairs_at_d_min).collect();
    assert_eq!(pairs, [2480, 892, 356, 1289, 660, 233, 799]);
    // The "largest guaranteed distance" list 1, 3, 29, 233 (d_min = 1..4).
    let mut best = Vec::new();
    for s in &list {
        if best.last().is_none_or(|b: &(u32, u64)| s.d_min > b.0) {
            best.push((s.d_min, s.a));
        }
    }
    assert_eq!(best, [(1, 1), (2, 3), (3, 29), (4, 233)]);
    assert!(super_a(11, 32, 4).is_err());
}

#[test]
fn residue_table_corrects_single_arithmetic_errors() {
    // Prime A with 2 as a primitive root: n_b = (A - 1)/2.
    for (a, nb) in [
        (11u64, 5u32),
        (13, 6),
        (19, 9),
        (29, 14),
        (37, 18),
        (53, 26),
        (59, 29),
        (61, 30),
        (67, 33),
    ] {
        assert_eq!(ResidueTable::max_single_bits(a), nb, "A = {a}");
    }
    let t = ResidueTable::single_arithmetic(29, 14).unwrap();
    assert_eq!(t.len(), 28);
    for y in [-500i64, 0, 1, 4321] {
        let yc = 29 * y;
        assert_eq!(t.correct(yc), (yc, ResidueOutcome::Clean));
        for j in 0..14 {
            for e in [1i64 << j, -(1i64 << j)] {
                assert_eq!(
                    t.correct(yc + e),
                    (yc, ResidueOutcome::Corrected { error: e })
                );
            }
        }
    }
    // A residue outside the table is detected only.
    let t = ResidueTable::new(29, &[1, -1]).unwrap();
    assert_eq!(t.correct(29 * 3 + 5).1, ResidueOutcome::Detected);
    assert!(ResidueTable::new(29, &[29]).is_err());
    assert!(ResidueTable::new(7, &[1, 8]).is_err());
}

#[test]
fn array_outputs_and_the_two_row_checks() {
    use xbar_crossbar::{CellFault, LayerFaults};
    use xbar_device::{DeviceParams, Stuck};
    use xbar_ecc::an::array::{AnArray, AnArrayConfig};
    let w = faer::Mat::from_fn(12, 5, |i, j| ((i * 5 + j * 7) % 11) as f64 / 11.0 - 0.45);
    let b = [0.1, -0.2, 0.0, 0.05, 0.3];
    let arr = AnArray::program(
        DeviceParams::default(),
        w.as_ref(),
        &b,
        &AnArrayConfig::with_a(29),
    )
    .unwrap();
    let x = faer::Mat::from_fn(40, 12, |t, i| ((t * 3 + i) % 9) as f64 / 8.0);
    let xq = arr.quantize_inputs(x.as_ref());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // A healthy array returns A y exactly.
    let healthy = arr.run(xq.as_ref(), None, &mut rng);
    assert_eq!(healthy, arr.expected(xq.as_ref()));
    assert!(arr.check_rows(&healthy).iter().all(|f| !f));
    assert_eq!(arr.adc_bits() - arr.adc_bits_plain(), 5);
    // A device stuck on off the level grid gives errors that are not multiples of A.
    let faults = LayerFaults {
        cells: vec![CellFault {
            row: 3,
            col: 2,
            plus: Some(Stuck::On),
            minus: None,
        }],
    };
    let bad = arr.run(xq.as_ref(), Some(&faults), &mut rng);
    let fast = arr.check_rows(&bad);
    let classic = arr.check_rows_classic(&bad);
    for t in 0..40 {
        assert!(fast[t] || !classic[t], "row {t}");
        assert_eq!(classic[t], xq[(t, 3)] > 0, "row {t}");
    }
    assert_eq!(fast, classic);
}

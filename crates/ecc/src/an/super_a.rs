//! Exhaustive search for "super A" constants.

use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};

/// The best `A` of one bit width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuperA {
    /// Bit width `|A|` of the constant (`2^(|A|-1) <= A < 2^|A|`).
    pub a_bits: u32,
    /// The constant.
    pub a: u64,
    /// Minimum Hamming distance between two code words `A x`, `A y` (`x != y`); every flip of
    /// up to `d_min - 1` bits is detected.
    pub d_min: u32,
    /// Number of code-word pairs at distance `d_min` (the undetectable `d_min`-bit flips come
    /// from these).
    pub pairs_at_d_min: u64,
}

/// Minimum Hamming distance of the code `{A x : 0 <= x < 2^data_bits}` and the number of
/// unordered pairs at that distance. `data_bits <= 16`; `A x` must fit 64 bits.
pub fn code_distance(a: u64, data_bits: u32) -> (u32, u64) {
    let n = 1u64 << data_bits;
    let words: Vec<u64> = (0..n).map(|x| a * x).collect();
    let mut best = u32::MAX;
    let mut count = 0u64;
    for (i, &u) in words.iter().enumerate() {
        for &v in &words[i + 1..] {
            let d = (u ^ v).count_ones();
            if d < best {
                best = d;
                count = 1;
            } else if d == best {
                count += 1;
            }
        }
    }
    (best, count)
}

/// The "super A" list for unsigned `data_bits`-bit data in `code_bits`-bit words, one entry per
/// bit width `|A| = 1 ..= max_a_bits` (`max_a_bits <= code_bits - data_bits`).
///
/// Definition (`reference/ecc-math.md` C.4): among the odd `A` of a given bit width, the super
/// `A` maximises the minimum Hamming distance `d_min` between code words `A x`
/// (`0 <= x < 2^data_bits`); ties go to the fewest pairs at distance `d_min`, then to the
/// smaller `A`. The search is exhaustive: about `4^data_bits / 2` pairs per candidate, so it
/// is limited to `data_bits <= 10` (8-bit data and widths up to 8: 128 candidates, a few
/// million Hamming distances).
///
/// ```
/// let list = xbar_ecc::an::super_a(8, 16, 4)?;
/// let a: Vec<u64> = list.iter().map(|s| s.a).collect();
/// assert_eq!(a, [1, 3, 7, 13]);
/// # Ok::<(), xbar_ecc::EccError>(())
/// ```
pub fn super_a(data_bits: u32, code_bits: u32, max_a_bits: u32) -> Result<Vec<SuperA>> {
    if !(1..=10).contains(&data_bits) {
        return Err(invalid(
            "data_bits",
            data_bits,
            "1..=10 (exhaustive search)",
        ));
    }
    if code_bits > 64 || max_a_bits == 0 || data_bits + max_a_bits > code_bits {
        return Err(invalid(
            "max_a_bits",
            max_a_bits,
            format!(
                "1..={} (code words of at most 64 bits)",
                code_bits.min(64) - data_bits
            ),
        ));
    }
    let mut out = Vec::new();
    for b in 1..=max_a_bits {
        let lo = if b == 1 { 1 } else { 1u64 << (b - 1) };
        let hi = 1u64 << b;
        let mut best: Option<SuperA> = None;
        for a in (lo..hi).filter(|a| a % 2 == 1) {
            let (d, pairs) = code_distance(a, data_bits);
            let better = match best {
                None => true,
                Some(s) => d > s.d_min || (d == s.d_min && pairs < s.pairs_at_d_min),
            };
            if better {
                best = Some(SuperA {
                    a_bits: b,
                    a,
                    d_min: d,
                    pairs_at_d_min: pairs,
                });
            }
        }
        out.extend(best);
    }
    Ok(out)
}

//! Seeded random helpers built only on `next_u64`, so their output is pinned by this crate
//! (not by a distribution implementation that could change between `rand` versions).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream of the generator that initialises weights.
pub(crate) const STREAM_INIT: u64 = 0;
/// Stream of the generator that shuffles mini-batches.
pub(crate) const STREAM_SHUFFLE: u64 = 1;
/// Stream of the generator that draws the stratified split.
pub(crate) const STREAM_SPLIT: u64 = 2;

/// A ChaCha8 generator for `seed` on the given stream.
pub(crate) fn chacha(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Uniform in `[0, 1)` with 53 random bits.
pub(crate) fn unit_f64(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform integer in `0..n` (`n > 0`), unbiased (multiply-shift with rejection).
///
/// A draw is rejected when the low half of `x * n` is below `2^64 mod n`. That threshold is
/// itself below `n`, so it is computed (one 64-bit division) only for the rare draws whose low
/// half is below `n`: the same accept/reject decisions, hence the same numbers, as computing it
/// every time.
pub(crate) fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Fisher-Yates shuffle in place.
pub(crate) fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|_| chacha(7, 0).next_u64()).collect();
        assert!(a.iter().all(|&v| v == a[0]));
        assert_ne!(chacha(7, 0).next_u64(), chacha(7, 1).next_u64());
    }

    #[test]
    fn below_is_in_range_and_covers() {
        let mut rng = chacha(1, 0);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[below(&mut rng, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
        let u = unit_f64(&mut rng);
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn below_matches_the_plain_rejection_loop() {
        fn plain(rng: &mut ChaCha8Rng, n: u64) -> u64 {
            let threshold = n.wrapping_neg() % n;
            loop {
                let m = u128::from(rng.next_u64()) * u128::from(n);
                if (m as u64) >= threshold {
                    return (m >> 64) as u64;
                }
            }
        }
        // Bounds whose rejection zone is large (near 2^63 and 2^64) as well as small ones.
        let bounds = [
            1,
            2,
            3,
            7,
            1000,
            1 << 33,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let (mut a, mut b) = (chacha(5, 0), chacha(5, 0));
        for _ in 0..2000 {
            for &n in &bounds {
                assert_eq!(below(&mut a, n), plain(&mut b, n));
            }
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut chacha(3, 0), &mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}

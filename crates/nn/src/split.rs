//! Stratified train/test splits.

use crate::error::{NnError, Result};
use crate::rng;

/// Row indices of a train/test split: both sorted ascending, disjoint, and together covering
/// every row exactly once.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Training rows, ascending.
    pub train: Vec<u32>,
    /// Test rows, ascending.
    pub test: Vec<u32>,
}

/// The number of test samples of the default digits study (1617 train, 180 test).
pub const DIGITS_TEST_SIZE: usize = 180;

/// The seed of the default digits split: `stratified_split(&labels, DIGITS_TEST_SIZE,
/// DIGITS_SPLIT_SEED)`.
pub const DIGITS_SPLIT_SEED: u64 = 0;

/// Splits rows `0..labels.len()` into train and test sets with the class proportions kept.
///
/// Class `c` with `n_c` of the `n` samples gets `n_test * n_c / n` test samples, rounded by the
/// largest-remainder rule (exact integer arithmetic; ties go to the lower class), so the test
/// set has exactly `n_test` rows. Within each class, the test rows are the first ones of a
/// Fisher-Yates shuffle of the class's rows (ascending order before shuffling) drawn from a
/// ChaCha8 generator seeded with `seed` (stream 2), classes processed in label order. The
/// result depends only on `labels`, `n_test` and `seed`.
///
/// Errors if `n_test > labels.len()` or there are more than `u32::MAX` rows.
pub fn stratified_split(labels: &[u8], n_test: usize, seed: u64) -> Result<Split> {
    let n = labels.len();
    if n_test > n {
        return Err(NnError::InvalidConfig {
            key: "n_test",
            value: n_test.to_string(),
            allowed: "0..=number of samples",
        });
    }
    if u32::try_from(n).is_err() {
        return Err(NnError::Dataset {
            what: format!("{n} rows exceed the u32 index range"),
        });
    }
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[usize::from(l)].push(i as u32);
    }
    let quotas = proportional_quotas(&by_class.iter().map(Vec::len).collect::<Vec<_>>(), n_test);

    let mut rng = rng::chacha(seed, rng::STREAM_SPLIT);
    let mut is_test = vec![false; n];
    for (rows, &quota) in by_class.iter_mut().zip(&quotas) {
        if rows.is_empty() {
            continue;
        }
        rng::shuffle(&mut rng, rows);
        for &r in &rows[..quota] {
            is_test[r as usize] = true;
        }
    }
    let (mut train, mut test) = (Vec::with_capacity(n - n_test), Vec::with_capacity(n_test));
    for (i, &t) in is_test.iter().enumerate() {
        if t {
            test.push(i as u32);
        } else {
            train.push(i as u32);
        }
    }
    Ok(Split { train, test })
}

/// Largest-remainder apportionment of `total` over `counts` (sum of counts >= total).
fn proportional_quotas(counts: &[usize], total: usize) -> Vec<usize> {
    let n: u128 = counts.iter().map(|&c| c as u128).sum();
    if n == 0 {
        return vec![0; counts.len()];
    }
    let t = total as u128;
    let mut quotas: Vec<usize> = counts
        .iter()
        .map(|&c| (t * c as u128 / n) as usize)
        .collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    // Larger remainder first; equal remainders: lower class first (sort is stable).
    order.sort_by_key(|&c| std::cmp::Reverse(t * counts[c] as u128 % n));
    let missing = total - quotas.iter().sum::<usize>();
    for &c in order.iter().take(missing) {
        quotas[c] += 1;
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_sum_and_round() {
        assert_eq!(proportional_quotas(&[1, 1, 1], 2), [1, 1, 0]);
        assert_eq!(proportional_quotas(&[5, 3, 2], 5), [3, 1, 1]);
        assert_eq!(proportional_quotas(&[0, 0], 0), [0, 0]);
        assert_eq!(proportional_quotas(&[4, 6], 10), [4, 6]);
    }

    #[test]
    fn small_split_properties() {
        let labels = [0u8, 1, 0, 1, 0, 1, 2, 2, 0, 0];
        let s = stratified_split(&labels, 4, 9).unwrap();
        assert_eq!(s.test.len(), 4);
        assert_eq!(s.train.len(), 6);
        let mut all: Vec<u32> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(stratified_split(&labels, 11, 0).is_err());
        let full = stratified_split(&labels, 10, 0).unwrap();
        assert!(full.train.is_empty());
        let none = stratified_split(&labels, 0, 0).unwrap();
        assert!(none.test.is_empty());
        assert!(stratified_split(&[], 0, 0).unwrap().train.is_empty());
    }
}

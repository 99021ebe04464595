//! Stratified splits of the digits labels.

use xbar_nn::{DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, digits, stratified_split};

#[test]
fn default_split_sizes_disjoint_and_sorted() {
    let data = digits().unwrap();
    let s = stratified_split(&data.y, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED).unwrap();
    assert_eq!(s.train.len(), 1617);
    assert_eq!(s.test.len(), 180);
    assert!(s.train.windows(2).all(|w| w[0] < w[1]));
    assert!(s.test.windows(2).all(|w| w[0] < w[1]));
    let mut seen = vec![0u8; data.len()];
    for &i in s.train.iter().chain(&s.test) {
        seen[i as usize] += 1;
    }
    assert!(seen.iter().all(|&c| c == 1), "not a partition");
}

#[test]
fn split_is_stratified_with_largest_remainder() {
    let data = digits().unwrap();
    let counts = data.class_counts();
    let s = stratified_split(&data.y, 180, 5).unwrap();
    let mut test_counts = [0usize; 10];
    for &i in &s.test {
        test_counts[usize::from(data.y[i as usize])] += 1;
    }
    // 180 * n_c / 1797 = [17.83, 18.23, 17.73, 18.33, 18.13, 18.23, 18.13, 17.93, 17.43, 18.03]:
    // the floors sum to 176, and the 4 largest remainders (classes 7, 0, 2, 8) get one more.
    assert_eq!(test_counts, [18; 10]);
    for c in 0..10 {
        let exact = 180.0 * counts[c] as f64 / 1797.0;
        assert!((test_counts[c] as f64 - exact).abs() < 1.0, "class {c}");
    }
}

#[test]
fn split_is_deterministic_and_seeded() {
    let data = digits().unwrap();
    let a = stratified_split(&data.y, 180, 3).unwrap();
    assert_eq!(a, stratified_split(&data.y, 180, 3).unwrap());
    let b = stratified_split(&data.y, 180, 4).unwrap();
    assert_ne!(a.test, b.test);
    assert_eq!(a.test.len(), b.test.len());
}

#[test]
fn split_rejects_too_many_test_samples() {
    let err = stratified_split(&[0, 1, 2], 4, 0).unwrap_err().to_string();
    assert!(err.contains("n_test") && err.contains('4'), "{err}");
}

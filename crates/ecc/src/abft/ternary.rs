//! The additions-only codes of Tao, Hartmann and Han (1996): check matrices with entries
//! `0, +1, -1`, built by enumeration (Procedure I: lengthened Hamming code, distance 3;
//! Procedure II: SEC/DED code, distance 4).

use std::collections::HashMap;

use faer::{Mat, MatMut, MatRef};
use serde::{Deserialize, Serialize};

use super::{CheckCode, Decision, OpCount, Overhead};
use crate::error::{Result, invalid};

/// Which of the two additions-only constructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TernaryKind {
    /// Lengthened Hamming code (Procedure I): columns of weight `>= 2`, one of each `±h` pair;
    /// minimum distance 3 (corrects one error).
    Lhc,
    /// SEC/DED code (Procedure II): columns of odd weight `>= 5` with exactly one `-1`;
    /// minimum distance 4 (corrects one error, detects two).
    SecDed,
}

impl TernaryKind {
    /// Short label used in results (`lhc`, `secded`).
    pub fn label(self) -> &'static str {
        match self {
            TernaryKind::Lhc => "lhc",
            TernaryKind::SecDed => "secded",
        }
    }
}

/// Largest number of data positions `k` that `r` checks can protect with the lengthened
/// Hamming code: `(3^r - 1)/2 - r` (the nonzero `{0,±1}^r` vectors up to sign, minus the `r`
/// unit vectors). `r = 3, 4, 5, 6` give 10, 36, 116, 358, the breakpoints of the paper's
/// Table 2. Saturates at `u64::MAX` for `r > 40`.
pub fn lhc_capacity(r: u32) -> u64 {
    if r > 40 {
        return u64::MAX;
    }
    (3u64.pow(r) - 1) / 2 - u64::from(r)
}

/// Largest `k` that `r` checks can protect with the SEC/DED code:
/// `sum over odd w in [5, r] of w C(r, w)` `= r 2^(r-2) - r - 3 C(r, 3)` (for `r >= 2`).
/// `r = 5..10` give 5, 30, 112, 336, 891, 2190. Saturates at `u64::MAX` for `r > 60`.
pub fn secded_capacity(r: u32) -> u64 {
    if r > 60 {
        return u64::MAX;
    }
    let mut total = 0u64;
    let mut w = 5;
    while w <= r {
        total += u64::from(w) * binomial(r, w);
        w += 2;
    }
    total
}

/// Smallest `r` whose lengthened Hamming code protects `k` positions (Procedure I, step 1).
pub fn lhc_min_r(k: u64) -> u32 {
    (2..)
        .find(|&r| lhc_capacity(r) >= k)
        .expect("capacity grows without bound")
}

/// Smallest `r` whose SEC/DED code protects `k` positions (Procedure II, step 1).
pub fn secded_min_r(k: u64) -> u32 {
    (5..)
        .find(|&r| secded_capacity(r) >= k)
        .expect("capacity grows without bound")
}

/// One row of a `k`-range table: every `k` in `k_min..=k_max` needs exactly `r` checks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RangeRow {
    /// Number of checks.
    pub r: u32,
    /// Smallest `k` that needs `r` checks.
    pub k_min: u64,
    /// Largest `k` that `r` checks can protect.
    pub k_max: u64,
    /// Redundancy ratio `r / k` at `k_min` (the paper's "ratio" row reads `r/k`).
    pub ratio_at_k_min: f64,
    /// Redundancy ratio `r / k` at `k_max`.
    pub ratio_at_k_max: f64,
}

/// The `k`-to-`r` table of a construction for the given `r` values (`r` ascending).
///
/// `range_table(TernaryKind::Lhc, 3..=6)` gives `3..=10 -> 3`, `11..=36 -> 4`, `37..=116 -> 5`,
/// `117..=358 -> 6`: the paper's Table 2 (which starts its first row at `k = 5`).
/// `range_table(TernaryKind::SecDed, 6..=9)` gives `6..=30`, `31..=112`, `113..=336`,
/// `337..=891`, where the paper's Table 3 prints 436 and 787 for the last two bounds (see
/// `docs/ecc.md`).
pub fn range_table(kind: TernaryKind, rs: impl IntoIterator<Item = u32>) -> Vec<RangeRow> {
    let cap = |r: u32| match kind {
        TernaryKind::Lhc => lhc_capacity(r),
        TernaryKind::SecDed => secded_capacity(r),
    };
    rs.into_iter()
        .map(|r| {
            let k_min = if r == 0 { 0 } else { cap(r - 1) + 1 };
            let k_max = cap(r);
            RangeRow {
                r,
                k_min,
                k_max,
                ratio_at_k_min: f64::from(r) / k_min.max(1) as f64,
                ratio_at_k_max: f64::from(r) / k_max.max(1) as f64,
            }
        })
        .collect()
}

fn binomial(n: u32, k: u32) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut c = 1u64;
    for i in 0..k {
        c = c * u64::from(n - i) / u64::from(i + 1);
    }
    c
}

/// All supports (sorted index sets) of size `w` in `0..r`, in lexicographic order.
fn supports(r: usize, w: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut idx: Vec<usize> = (0..w).collect();
    if w > r {
        return out;
    }
    loop {
        out.push(idx.clone());
        // Advance to the next combination.
        let mut i = w;
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            if idx[i] < r - w + i {
                idx[i] += 1;
                for t in i + 1..w {
                    idx[t] = idx[t - 1] + 1;
                }
                break;
            }
        }
    }
}

/// The candidate columns of weight `w` for a construction, in a fixed order: supports in
/// lexicographic order, then sign patterns.
fn class(kind: TernaryKind, r: usize, w: usize) -> Vec<Vec<i8>> {
    let mut out = Vec::new();
    for s in supports(r, w) {
        match kind {
            TernaryKind::Lhc => {
                // First nonzero +1, the other w-1 entries take every sign pattern.
                for bits in 0..(1u32 << (w - 1)) {
                    let mut v = vec![0i8; r];
                    v[s[0]] = 1;
                    for (t, &pos) in s.iter().enumerate().skip(1) {
                        v[pos] = if bits >> (t - 1) & 1 == 1 { -1 } else { 1 };
                    }
                    out.push(v);
                }
            }
            TernaryKind::SecDed => {
                for &neg in &s {
                    let mut v = vec![0i8; r];
                    for &pos in &s {
                        v[pos] = 1;
                    }
                    v[neg] = -1;
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Column weights allowed by a construction with `r` checks, smallest first.
fn weights(kind: TernaryKind, r: usize) -> Vec<usize> {
    match kind {
        TernaryKind::Lhc => (2..=r).collect(),
        TernaryKind::SecDed => (5..=r).step_by(2).collect(),
    }
}

/// Normalised sign pattern key: the pattern multiplied by the sign of its first nonzero entry,
/// in base 3 (digit 0, 1, 2 for 0, +1, -1). Returns the key and that sign.
fn pattern_key(t: impl Iterator<Item = i8>) -> (u64, i8) {
    let mut key = 0u64;
    let mut sign = 0i8;
    for v in t {
        if sign == 0 && v != 0 {
            sign = v;
        }
        let d = match v * sign {
            0 => 0,
            1 => 1,
            _ => 2,
        };
        key = key * 3 + d;
    }
    (key, if sign == 0 { 1 } else { sign })
}

/// An additions-only check code: `H = [P | -I_r]` with `P` in `{0, +1, -1}^(r x k)`.
///
/// ```
/// use xbar_ecc::abft::{CheckCode, Decision, TernaryCode, TernaryKind};
/// let code = TernaryCode::new(TernaryKind::SecDed, 15)?;
/// assert_eq!(code.r(), 6);
/// // Data y, checks z = P y; an error of 0.5 on output 7.
/// let y: Vec<f64> = (0..15).map(|j| j as f64 * 0.1).collect();
/// let mut z = vec![0.0; 6];
/// code.encode(&y, &mut z);
/// let mut y_bad = y.clone();
/// y_bad[7] += 0.5;
/// let mut s = vec![0.0; 6];
/// code.syndrome(&y_bad, &z, &mut s);
/// let tau = vec![1e-9; 6];
/// match code.decode(&s, &tau) {
///     Decision::Corrected { position, value } => {
///         assert_eq!(position, 7);
///         assert!((value - 0.5).abs() < 1e-12);
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), xbar_ecc::EccError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TernaryCode {
    kind: TernaryKind,
    k: usize,
    r: usize,
    /// Column `j` of `P` is `p[j*r .. (j+1)*r]`.
    p: Vec<i8>,
    /// Per check row, the data positions with `+1` and with `-1`.
    plus: Vec<Vec<u32>>,
    minus: Vec<Vec<u32>>,
    /// Normalised pattern -> (position in `0..k+r`, sign of the true column against the key).
    lookup: HashMap<u64, (usize, i8)>,
}

impl TernaryCode {
    /// Builds the code for `k >= 1` data positions with the smallest `r` of the construction
    /// (Procedure I or II, step 1).
    ///
    /// Column choice (the paper's later steps, whose details are not recoverable from the
    /// material available; this is the minimum-weight reading of `reference/ecc-math.md` B.3):
    /// weight classes are taken whole from the lightest up (LHC: weights 2, 3, ...; SEC/DED:
    /// 5, 7, ...); from the last class needed, columns are picked greedily so that the row
    /// weights stay balanced (ties go to the enumeration order). This minimises the number of
    /// nonzeros of `P`, hence the additions of encoding and of the syndrome.
    pub fn new(kind: TernaryKind, k: usize) -> Result<TernaryCode> {
        if k == 0 || k > 1 << 20 {
            return Err(invalid("k", k, "1..=1048576 data positions"));
        }
        let r = match kind {
            TernaryKind::Lhc => lhc_min_r(k as u64),
            TernaryKind::SecDed => secded_min_r(k as u64),
        } as usize;
        Self::with_r(kind, k, r)
    }

    /// Builds the code with an explicit number of checks `r` (at least the minimum).
    pub fn with_r(kind: TernaryKind, k: usize, r: usize) -> Result<TernaryCode> {
        let cap = match kind {
            TernaryKind::Lhc => lhc_capacity(r as u32),
            TernaryKind::SecDed => secded_capacity(r as u32),
        };
        if k == 0 || (k as u64) > cap || r > 30 {
            return Err(invalid(
                "k",
                k,
                format!("1..={cap} for {} with r = {r} (r <= 30)", kind.label()),
            ));
        }
        let mut chosen: Vec<Vec<i8>> = Vec::with_capacity(k);
        let mut row_w = vec![0usize; r];
        for w in weights(kind, r) {
            if chosen.len() == k {
                break;
            }
            let mut cands = class(kind, r, w);
            let need = k - chosen.len();
            if cands.len() <= need {
                for c in &cands {
                    add_row_weights(&mut row_w, c);
                }
                chosen.append(&mut cands);
                continue;
            }
            // Greedy balanced pick from the last class.
            let mut used = vec![false; cands.len()];
            for _ in 0..need {
                let mut best = usize::MAX;
                let mut best_score = (usize::MAX, usize::MAX);
                for (ci, c) in cands.iter().enumerate() {
                    if used[ci] {
                        continue;
                    }
                    let mut max_after = 0;
                    let mut sum_after = 0;
                    for (i, &v) in c.iter().enumerate() {
                        if v != 0 {
                            max_after = max_after.max(row_w[i] + 1);
                            sum_after += row_w[i];
                        }
                    }
                    let score = (max_after, sum_after);
                    if score < best_score {
                        best_score = score;
                        best = ci;
                    }
                }
                used[best] = true;
                add_row_weights(&mut row_w, &cands[best]);
                chosen.push(cands[best].clone());
            }
        }
        Ok(Self::from_columns(kind, r, chosen))
    }

    fn from_columns(kind: TernaryKind, r: usize, cols: Vec<Vec<i8>>) -> TernaryCode {
        let k = cols.len();
        let mut p = Vec::with_capacity(k * r);
        let mut plus = vec![Vec::new(); r];
        let mut minus = vec![Vec::new(); r];
        let mut lookup = HashMap::with_capacity(k + r);
        for (j, c) in cols.iter().enumerate() {
            p.extend_from_slice(c);
            for (i, &v) in c.iter().enumerate() {
                match v {
                    1 => plus[i].push(j as u32),
                    -1 => minus[i].push(j as u32),
                    _ => {}
                }
            }
            let (key, sign) = pattern_key(c.iter().copied());
            lookup.insert(key, (j, sign));
        }
        for i in 0..r {
            // Column k + i of H is -e_i.
            let (key, sign) = pattern_key((0..r).map(|t| if t == i { -1 } else { 0 }));
            lookup.insert(key, (k + i, sign));
        }
        TernaryCode {
            kind,
            k,
            r,
            p,
            plus,
            minus,
            lookup,
        }
    }

    /// Which construction.
    pub fn kind(&self) -> TernaryKind {
        self.kind
    }

    /// Column `j` of `P` (entries `-1, 0, +1`).
    pub fn column(&self, j: usize) -> &[i8] {
        &self.p[j * self.r..(j + 1) * self.r]
    }

    /// Entry `(i, j)` of `P`.
    pub fn entry(&self, i: usize, j: usize) -> i8 {
        self.p[j * self.r + i]
    }

    /// Number of nonzeros of `P`.
    pub fn nnz(&self) -> usize {
        self.p.iter().filter(|&&v| v != 0).count()
    }

    /// Nonzeros of each row of `P` (`rho_i`; the syndrome entry `i` has noise std
    /// `sigma sqrt(rho_i + 1)` under white output noise).
    pub fn row_weights(&self) -> Vec<usize> {
        (0..self.r)
            .map(|i| self.plus[i].len() + self.minus[i].len())
            .collect()
    }

    /// Column `t` of `H = [P | -I]` as a dense vector (`t < k + r`).
    fn h_column(&self, t: usize) -> Vec<f64> {
        if t < self.k {
            self.column(t).iter().map(|&v| f64::from(v)).collect()
        } else {
            (0..self.r)
                .map(|i| if i == t - self.k { -1.0 } else { 0.0 })
                .collect()
        }
    }
}

/// `acc[..x.len()] ±= x` on a fixed-size block (full blocks vectorise without a tail).
#[inline]
fn add_block<const B: usize, const PLUS: bool>(acc: &mut [f64; B], x: &[f64]) {
    if let Ok(full) = <&[f64; B]>::try_from(x) {
        for u in 0..B {
            if PLUS {
                acc[u] += full[u];
            } else {
                acc[u] -= full[u];
            }
        }
    } else {
        for (a, v) in acc.iter_mut().zip(x) {
            if PLUS {
                *a += v;
            } else {
                *a -= v;
            }
        }
    }
}

fn add_row_weights(row_w: &mut [usize], c: &[i8]) {
    for (i, &v) in c.iter().enumerate() {
        if v != 0 {
            row_w[i] += 1;
        }
    }
}

impl CheckCode for TernaryCode {
    fn name(&self) -> String {
        self.kind.label().to_string()
    }

    fn k(&self) -> usize {
        self.k
    }

    fn r(&self) -> usize {
        self.r
    }

    fn min_distance(&self) -> u32 {
        match self.kind {
            TernaryKind::Lhc => 3,
            TernaryKind::SecDed => 4,
        }
    }

    fn check_matrix(&self) -> Mat<f64> {
        Mat::from_fn(self.r, self.k, |i, j| f64::from(self.entry(i, j)))
    }

    /// `z = P y` with additions and subtractions only.
    fn encode(&self, y: &[f64], z: &mut [f64]) {
        for ((zi, plus), minus) in z.iter_mut().zip(&self.plus).zip(&self.minus) {
            let mut acc = 0.0;
            for &j in plus {
                acc += y[j as usize];
            }
            for &j in minus {
                acc -= y[j as usize];
            }
            *zi = acc;
        }
    }

    /// `s = P y - z` with additions and subtractions only.
    fn syndrome(&self, y: &[f64], z: &[f64], s: &mut [f64]) {
        self.encode(y, s);
        for (si, zi) in s.iter_mut().zip(z) {
            *si -= zi;
        }
    }

    /// The thresholded sign-pattern decoder of `reference/ecc-math.md` B.5: the ternary
    /// pattern `t_i = sign(s_i)` where `|s_i| > tau_i` (else 0) is normalised (first nonzero
    /// `+1`) and looked up among the columns of `H`; the value is the least-squares fit
    /// `<s, h> / <h, h>` (a signed sum divided by the small integer column weight); the
    /// correction is accepted only if every residual entry `|s_i - v h_i|` is within `tau_i`.
    /// Anything else is [`Decision::Uncorrectable`].
    fn decode(&self, s: &[f64], tau: &[f64]) -> Decision {
        let mut any = false;
        let pattern = s.iter().zip(tau).map(|(&si, &ti)| {
            if si > ti {
                any = true;
                1i8
            } else if si < -ti {
                any = true;
                -1
            } else {
                0
            }
        });
        let (key, _) = pattern_key(pattern);
        if !any {
            return Decision::Clean;
        }
        let Some(&(pos, _)) = self.lookup.get(&key) else {
            return Decision::Uncorrectable;
        };
        let h = self.h_column(pos);
        let (mut num, mut den) = (0.0, 0.0);
        for (si, hi) in s.iter().zip(&h) {
            num += si * hi;
            den += hi * hi;
        }
        let v = num / den;
        let ok = s
            .iter()
            .zip(&h)
            .zip(tau)
            .all(|((si, hi), ti)| (si - v * hi).abs() <= *ti);
        if ok {
            Decision::Corrected {
                position: pos,
                value: v,
            }
        } else {
            Decision::Uncorrectable
        }
    }

    /// Column by column: `S[:, i] = sum_{P_ij = +1} Y[:, j] - sum_{P_ij = -1} Y[:, j] - scale
    /// Z[:, i]`, additions only (plus the one scaling, a shift for a power of two).
    fn syndrome_batch(
        &self,
        y: MatRef<'_, f64>,
        z: MatRef<'_, f64>,
        scale: f64,
        mut s: MatMut<'_, f64>,
    ) {
        // Blocks of rows: the r accumulators of a block stay in L1 while every data column is
        // read once and added to (or subtracted from) the checks it belongs to.
        const B: usize = 32;
        let (n, k, r) = (y.nrows(), self.k, self.r);
        debug_assert_eq!((z.nrows(), z.ncols(), s.nrows(), s.ncols()), (n, r, n, r));
        let mut owned: Vec<Vec<f64>> = Vec::new();
        let contiguous = (0..k).all(|j| y.col(j).try_as_col_major().is_some());
        if !contiguous {
            owned = (0..k).map(|j| y.col(j).iter().copied().collect()).collect();
        }
        let cols: Vec<&[f64]> = (0..k)
            .map(|j| match y.col(j).try_as_col_major() {
                Some(c) if contiguous => c.as_slice(),
                _ => owned[j].as_slice(),
            })
            .collect();
        let mut t0 = 0;
        while t0 < n {
            let len = B.min(n - t0);
            for i in 0..r {
                let mut acc = [0.0f64; B];
                for (u, v) in acc.iter_mut().enumerate().take(len) {
                    *v = -scale * z[(t0 + u, i)];
                }
                for &j in &self.plus[i] {
                    add_block::<B, true>(&mut acc, &cols[j as usize][t0..t0 + len]);
                }
                for &j in &self.minus[i] {
                    add_block::<B, false>(&mut acc, &cols[j as usize][t0..t0 + len]);
                }
                for (u, v) in acc.iter().enumerate().take(len) {
                    s[(t0 + u, i)] = *v;
                }
            }
            t0 += len;
        }
    }

    /// Per protected vector: encoding `nnz - r` additions, syndrome `nnz` additions, location
    /// `r` comparisons and one table lookup; the `r` extra rows multiply an `n`-vector with
    /// `r n` multiplications and `r (n - 1)` additions (done by the array itself).
    fn overhead(&self, n: usize) -> Overhead {
        let nnz = self.nnz() as u64;
        let r = self.r as u64;
        let n = n as u64;
        Overhead {
            encode_vector: OpCount {
                additions: nnz - r,
                ..OpCount::default()
            },
            multiply: OpCount {
                additions: r * n.saturating_sub(1),
                multiplications: r * n,
                ..OpCount::default()
            },
            syndrome: OpCount {
                additions: nnz,
                ..OpCount::default()
            },
            locate: OpCount {
                comparisons: r,
                ..OpCount::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_sizes_match_formulas() {
        for r in 2..=7usize {
            for w in 2..=r {
                let n = class(TernaryKind::Lhc, r, w).len() as u64;
                assert_eq!(n, binomial(r as u32, w as u32) << (w - 1));
            }
            for w in (5..=r).step_by(2) {
                let n = class(TernaryKind::SecDed, r, w).len() as u64;
                assert_eq!(n, w as u64 * binomial(r as u32, w as u32));
            }
        }
    }

    #[test]
    fn closed_form_of_secded_capacity() {
        for r in 3..=20u32 {
            let closed = u64::from(r) * (1u64 << (r - 2)) - u64::from(r) - 3 * binomial(r, 3);
            assert_eq!(secded_capacity(r), closed, "r = {r}");
        }
    }

    #[test]
    fn brute_force_counts() {
        // Enumerate {0,±1}^r directly and apply the two column rules.
        for r in 2..=7usize {
            let (mut lhc, mut sd) = (0u64, 0u64);
            for code in 0..3usize.pow(r as u32) {
                let mut v = Vec::with_capacity(r);
                let mut c = code;
                for _ in 0..r {
                    v.push(match c % 3 {
                        0 => 0i8,
                        1 => 1,
                        _ => -1,
                    });
                    c /= 3;
                }
                let w = v.iter().filter(|&&x| x != 0).count();
                let first = v.iter().copied().find(|&x| x != 0);
                if w >= 2 && first == Some(1) {
                    lhc += 1;
                }
                let negs = v.iter().filter(|&&x| x == -1).count();
                if w >= 5 && w % 2 == 1 && negs == 1 {
                    sd += 1;
                }
            }
            assert_eq!(lhc, lhc_capacity(r as u32), "lhc r = {r}");
            assert_eq!(sd, secded_capacity(r as u32), "secded r = {r}");
        }
    }
}

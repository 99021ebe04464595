//! Incremental thin QR of the active columns `M_S = Q R` (OMP, homotopy, debias, erasure).
//!
//! `Q` (`p x k`, orthonormal columns) and `R` (`k x k`, upper triangular) live in buffers sized
//! once for `cap` columns, so adding and removing columns never allocates. A column is added by
//! modified Gram-Schmidt run twice (re-orthogonalisation keeps `Q` orthonormal to rounding);
//! a column is removed by shifting `R` left and restoring its triangle with Givens rotations,
//! applied to `Q` as well. Both cost `O(p k)`.

/// Dot product with four independent accumulators (a fixed order: deterministic).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `y += alpha x`.
pub(crate) fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Euclidean norm.
pub(crate) fn norm2(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Thin QR of a changing set of columns of a `p x N` matrix (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct ActiveQr {
    p: usize,
    cap: usize,
    /// `p x cap`, column `j` at `j * p`.
    q: Vec<f64>,
    /// `cap x cap` column-major, `R[i, j]` at `j * cap + i`.
    r: Vec<f64>,
    /// Column indices (into `M`) in factorisation order.
    idx: Vec<usize>,
    /// Scratch: the column being added.
    w: Vec<f64>,
    /// Scratch: its coefficients.
    h: Vec<f64>,
}

impl ActiveQr {
    /// An empty factorisation for columns of length `p`, at most `cap` of them.
    pub(crate) fn new(p: usize, cap: usize) -> ActiveQr {
        ActiveQr {
            p,
            cap,
            q: vec![0.0; p * cap],
            r: vec![0.0; cap * cap],
            idx: Vec::with_capacity(cap),
            w: vec![0.0; p],
            h: vec![0.0; cap],
        }
    }

    /// Number of columns `k`.
    pub(crate) fn len(&self) -> usize {
        self.idx.len()
    }

    /// Column indices in factorisation order.
    pub(crate) fn indices(&self) -> &[usize] {
        &self.idx
    }

    /// Column `i` of `Q`.
    pub(crate) fn q_col(&self, i: usize) -> &[f64] {
        &self.q[i * self.p..(i + 1) * self.p]
    }

    /// Appends `col` (length `p`) as column index `j`. Returns false, leaving the
    /// factorisation unchanged, when the capacity is reached or `col` lies (to `1e-10`
    /// relative) in the span of the current columns.
    pub(crate) fn push(&mut self, j: usize, col: &[f64]) -> bool {
        let (p, k) = (self.p, self.len());
        debug_assert_eq!(col.len(), p);
        if k == self.cap {
            return false;
        }
        let norm = norm2(col);
        if norm == 0.0 || !norm.is_finite() {
            return false;
        }
        self.w.copy_from_slice(col);
        self.h[..k].fill(0.0);
        for _pass in 0..2 {
            for i in 0..k {
                let qi = &self.q[i * p..(i + 1) * p];
                let c = dot(qi, &self.w);
                self.h[i] += c;
                axpy(-c, qi, &mut self.w);
            }
        }
        let rho = norm2(&self.w);
        if rho <= 1e-10 * norm {
            return false;
        }
        let inv = 1.0 / rho;
        for (qt, wt) in self.q[k * p..(k + 1) * p].iter_mut().zip(&self.w) {
            *qt = wt * inv;
        }
        let cap = self.cap;
        self.r[k * cap..k * cap + k].copy_from_slice(&self.h[..k]);
        self.r[k * cap + k] = rho;
        self.idx.push(j);
        true
    }

    /// Removes the column at position `pos` (in factorisation order).
    pub(crate) fn remove(&mut self, pos: usize) {
        let (p, cap, k) = (self.p, self.cap, self.len());
        debug_assert!(pos < k);
        // Shift the columns of R after `pos` one place left: R becomes upper Hessenberg from
        // column `pos` on, k x (k - 1).
        for j in pos + 1..k {
            for i in 0..=j {
                self.r[(j - 1) * cap + i] = self.r[j * cap + i];
            }
        }
        for j in pos..k - 1 {
            let a = self.r[j * cap + j];
            let b = self.r[j * cap + j + 1];
            let hyp = a.hypot(b);
            if hyp == 0.0 {
                continue;
            }
            let (c, s) = (a / hyp, b / hyp);
            // Rows j and j+1 of R, columns j .. k-2.
            for col in j..k - 1 {
                let x = self.r[col * cap + j];
                let y = self.r[col * cap + j + 1];
                self.r[col * cap + j] = c * x + s * y;
                self.r[col * cap + j + 1] = -s * x + c * y;
            }
            self.r[j * cap + j + 1] = 0.0;
            // Columns j and j+1 of Q (Q <- Q G^T keeps Q R unchanged).
            let (left, right) = self.q.split_at_mut((j + 1) * p);
            let qj = &mut left[j * p..];
            let qj1 = &mut right[..p];
            for (x, y) in qj.iter_mut().zip(qj1.iter_mut()) {
                let (u, v) = (*x, *y);
                *x = c * u + s * v;
                *y = -s * u + c * v;
            }
        }
        // Clear the dropped last row of R for tidiness (it is zero to rounding).
        for col in 0..k - 1 {
            self.r[col * cap + k - 1] = 0.0;
        }
        self.idx.remove(pos);
    }

    /// `out = Q^T b` (`out` has length `k`).
    pub(crate) fn qt(&self, b: &[f64], out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate().take(self.len()) {
            *o = dot(self.q_col(i), b);
        }
    }

    /// `y = Q w` (`w` has length `k`, `y` length `p`).
    pub(crate) fn q_mul(&self, w: &[f64], y: &mut [f64]) {
        y.fill(0.0);
        for (i, &wi) in w.iter().enumerate().take(self.len()) {
            axpy(wi, self.q_col(i), y);
        }
    }

    /// Back substitution `R x = y` (in place on `x`, which holds `y` on entry).
    pub(crate) fn solve_r_in_place(&self, x: &mut [f64]) {
        let (cap, k) = (self.cap, self.len());
        for i in (0..k).rev() {
            let mut s = x[i];
            for (j, &xj) in x.iter().enumerate().take(k).skip(i + 1) {
                s -= self.r[j * cap + i] * xj;
            }
            x[i] = s / self.r[i * cap + i];
        }
    }

    /// Forward substitution `R^T x = z` (in place on `x`, which holds `z` on entry).
    pub(crate) fn solve_rt_in_place(&self, x: &mut [f64]) {
        let (cap, k) = (self.cap, self.len());
        for i in 0..k {
            let col = &self.r[i * cap..i * cap + i];
            let s = x[i] - dot(col, &x[..i]);
            x[i] = s / self.r[i * cap + i];
        }
    }

    /// Least squares `min ||M_S x - b||_2` on the current columns: `x = R^{-1} Q^T b`.
    pub(crate) fn lstsq(&self, b: &[f64], x: &mut [f64]) {
        self.qt(b, x);
        self.solve_r_in_place(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(j: usize, p: usize) -> Vec<f64> {
        (0..p)
            .map(|i| (((i * 31 + j * 17 + 7) % 23) as f64 - 11.0) / 7.0 + (i == j) as u8 as f64)
            .collect()
    }

    /// `||M_S - Q R||` and `||Q^T Q - I||` for the current state.
    fn check(qr: &ActiveQr, p: usize) {
        let k = qr.len();
        for (a, &j) in qr.indices().iter().enumerate() {
            let m = col(j, p);
            for (t, &mt) in m.iter().enumerate() {
                let mut v = 0.0;
                for i in 0..=a {
                    v += qr.q_col(i)[t] * qr.r[a * qr.cap + i];
                }
                assert!((v - mt).abs() < 1e-12, "reconstruction");
            }
            for b in 0..k {
                let d = dot(qr.q_col(a), qr.q_col(b));
                let e = if a == b { 1.0 } else { 0.0 };
                assert!((d - e).abs() < 1e-13, "orthonormality");
            }
        }
    }

    #[test]
    fn push_remove_keeps_the_factorisation() {
        let p = 12;
        let mut qr = ActiveQr::new(p, 8);
        for j in 0..6 {
            assert!(qr.push(j, &col(j, p)));
        }
        check(&qr, p);
        qr.remove(2);
        assert_eq!(qr.indices(), &[0, 1, 3, 4, 5]);
        check(&qr, p);
        qr.remove(0);
        qr.remove(3);
        assert_eq!(qr.indices(), &[1, 3, 4]);
        check(&qr, p);
        assert!(qr.push(9, &col(9, p)));
        check(&qr, p);
        // A dependent column is refused.
        let dep: Vec<f64> = col(1, p)
            .iter()
            .zip(col(3, p))
            .map(|(a, b)| a - 2.0 * b)
            .collect();
        assert!(!qr.push(10, &dep));
        assert_eq!(qr.len(), 4);
    }

    #[test]
    fn solves_least_squares_and_normal_equations() {
        let p = 10;
        let mut qr = ActiveQr::new(p, 4);
        for j in 0..4 {
            assert!(qr.push(j, &col(j, p)));
        }
        let x0 = [1.5, -2.0, 0.25, 3.0];
        let mut b = vec![0.0; p];
        for (j, &v) in x0.iter().enumerate() {
            axpy(v, &col(j, p), &mut b);
        }
        let mut x = [0.0; 4];
        qr.lstsq(&b, &mut x);
        for (a, b) in x.iter().zip(x0) {
            assert!((a - b).abs() < 1e-12);
        }
        // (R^T R) d = z  <=>  M_S^T M_S d = z.
        let z = [1.0, -1.0, 1.0, 1.0];
        let mut d = z;
        qr.solve_rt_in_place(&mut d);
        qr.solve_r_in_place(&mut d);
        for (a, &za) in z.iter().enumerate() {
            let mut g = 0.0;
            for (bidx, &db) in d.iter().enumerate() {
                g += dot(&col(a, p), &col(bidx, p)) * db;
            }
            assert!((g - za).abs() < 1e-10);
        }
    }
}

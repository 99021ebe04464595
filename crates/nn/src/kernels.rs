//! Training kernels for narrow layers and the softmax, on four-lane vectors.
//!
//! # Layout
//!
//! A batch buffer holds one column per feature (or unit), each column `stride` values long
//! with the samples one after another ("batch-contiguous", like a column-major matrix with
//! `stride` rows). `stride` is a multiple of [`ROW_BLOCK`], and every kernel works on a whole
//! number of blocks of [`ROW_BLOCK`] rows: the rows past the batch are padding that the
//! training loop keeps harmless (zero inputs, zero output gradients, so they add exact zeros to
//! every sum).
//!
//! Weights of a layer with `n_in` inputs and `n_out` outputs are stored column-major: weight
//! `(p, j)` at `w[j * n_in + p]`.
//!
//! # Vectorisation and determinism
//!
//! The kernels are written once against [`Quad`], four `f64` lanes, which has two
//! implementations: [`Portable`] (plain arrays, any CPU) and, on x86-64 CPUs with AVX2 and
//! FMA, one on 256-bit registers through `pulp` (faer's SIMD layer, used only through its safe
//! API). [`dispatch`] picks the best at run time and compiles the kernels, which are all
//! `#[inline(always)]`, for that instruction set. Both implementations use only correctly
//! rounded IEEE operations (including the fused multiply-add, which [`Portable`] gets from
//! `f64::mul_add`) in the same order, and every reduction over the batch keeps exactly four
//! partial sums (row `i` into partial sum `i % 4`, combined as `(s0 + s1) + (s2 + s3)`): the
//! results are the same bits on every CPU. (On a CPU without hardware FMA, `f64::mul_add` is
//! computed in software: still correct and identical, but slow.)
//!
//! The softmax's exponential is [`exp_shifted`], a branch-free polynomial, not libm: besides
//! vectorising, this keeps the weights independent of the libm version, and avoids glibc's
//! `exp`, which becomes about 30 times slower right after faer's AVX-512 kernels have left the
//! upper halves of the vector registers dirty.

#[cfg(target_arch = "x86_64")]
use faer::traits::pulp::{self, NullaryFnOnce, f64x4, x86::V3};

/// Rows per block of the kernels; batch buffer strides are multiples of it.
pub(crate) const ROW_BLOCK: usize = 8;
/// Four-lane vectors per row block.
const HALVES: usize = ROW_BLOCK / 4;
/// Output columns computed together by [`dense`] (its register block is `MAX_COLS x 2` vectors).
const MAX_COLS: usize = 6;
/// Inputs and outputs computed together by [`weight_grad`].
const MAX_P: usize = 2;
const MAX_J: usize = 5;

/// Four `f64` lanes and the lane-wise operations the kernels need. Every operation is the
/// correctly rounded IEEE one, so all implementations give the same bits.
pub(crate) trait Quad: Copy {
    /// A vector of four lanes.
    type V: Copy;
    /// The four values of `s`.
    fn load(self, s: &[f64; 4]) -> Self::V;
    /// Writes `v` to `s`.
    fn store(self, s: &mut [f64; 4], v: Self::V);
    /// `x` in every lane.
    fn splat(self, x: f64) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c` with one rounding.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `if a > b { a } else { b }` (so `b` where either is NaN).
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a <= b { t } else { f }` (false for NaN).
    fn select_le(self, a: Self::V, b: Self::V, t: Self::V, f: Self::V) -> Self::V;
    /// `f64::from_bits((t.to_bits() + 1023) << 52)` (wrapping).
    fn exponent_bits(self, t: Self::V) -> Self::V;
    /// `(v0 + v1) + (v2 + v3)`.
    fn sum(self, v: Self::V) -> f64;
    /// Asks the CPU to bring the cache line of `s[0]` closer (a hint: no effect on results).
    fn prefetch(self, s: &[f64]);
}

/// [`Quad`] on plain arrays: any CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

/// Applies `f` lane by lane.
#[inline(always)]
fn lanewise(a: [f64; 4], mut f: impl FnMut(usize, f64) -> f64) -> [f64; 4] {
    [f(0, a[0]), f(1, a[1]), f(2, a[2]), f(3, a[3])]
}

impl Quad for Portable {
    type V = [f64; 4];

    #[inline(always)]
    fn load(self, s: &[f64; 4]) -> [f64; 4] {
        *s
    }
    #[inline(always)]
    fn store(self, s: &mut [f64; 4], v: [f64; 4]) {
        *s = v;
    }
    #[inline(always)]
    fn splat(self, x: f64) -> [f64; 4] {
        [x; 4]
    }
    #[inline(always)]
    fn add(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| x + b[i])
    }
    #[inline(always)]
    fn sub(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| x - b[i])
    }
    #[inline(always)]
    fn mul(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| x * b[i])
    }
    #[inline(always)]
    fn div(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| x / b[i])
    }
    #[inline(always)]
    fn mul_add(self, a: [f64; 4], b: [f64; 4], c: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| x.mul_add(b[i], c[i]))
    }
    #[inline(always)]
    fn max(self, a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| if x > b[i] { x } else { b[i] })
    }
    #[inline(always)]
    fn select_le(self, a: [f64; 4], b: [f64; 4], t: [f64; 4], f: [f64; 4]) -> [f64; 4] {
        lanewise(a, |i, x| if x <= b[i] { t[i] } else { f[i] })
    }
    #[inline(always)]
    fn exponent_bits(self, t: [f64; 4]) -> [f64; 4] {
        lanewise(t, |_, x| {
            f64::from_bits(x.to_bits().wrapping_add(1023) << 52)
        })
    }
    #[inline(always)]
    fn sum(self, v: [f64; 4]) -> f64 {
        (v[0] + v[1]) + (v[2] + v[3])
    }
    #[inline(always)]
    fn prefetch(self, _s: &[f64]) {}
}

/// [`Quad`] on 256-bit AVX registers (x86-64 with AVX2 and FMA).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(V3);

#[cfg(target_arch = "x86_64")]
impl Quad for Avx2 {
    type V = f64x4;

    #[inline(always)]
    fn load(self, s: &[f64; 4]) -> f64x4 {
        pulp::cast(*s)
    }
    #[inline(always)]
    fn store(self, s: &mut [f64; 4], v: f64x4) {
        *s = pulp::cast(v);
    }
    #[inline(always)]
    fn splat(self, x: f64) -> f64x4 {
        self.0.splat_f64x4(x)
    }
    #[inline(always)]
    fn add(self, a: f64x4, b: f64x4) -> f64x4 {
        self.0.add_f64x4(a, b)
    }
    #[inline(always)]
    fn sub(self, a: f64x4, b: f64x4) -> f64x4 {
        self.0.sub_f64x4(a, b)
    }
    #[inline(always)]
    fn mul(self, a: f64x4, b: f64x4) -> f64x4 {
        self.0.mul_f64x4(a, b)
    }
    #[inline(always)]
    fn div(self, a: f64x4, b: f64x4) -> f64x4 {
        self.0.div_f64x4(a, b)
    }
    #[inline(always)]
    fn mul_add(self, a: f64x4, b: f64x4, c: f64x4) -> f64x4 {
        self.0.mul_add_f64x4(a, b, c)
    }
    #[inline(always)]
    fn max(self, a: f64x4, b: f64x4) -> f64x4 {
        // VMAXPD returns its second operand unless the first is greater.
        pulp::cast(self.0.avx._mm256_max_pd(pulp::cast(a), pulp::cast(b)))
    }
    #[inline(always)]
    fn select_le(self, a: f64x4, b: f64x4, t: f64x4, f: f64x4) -> f64x4 {
        self.0.select_f64x4(self.0.cmp_le_f64x4(a, b), t, f)
    }
    #[inline(always)]
    fn exponent_bits(self, t: f64x4) -> f64x4 {
        let bits = self
            .0
            .wrapping_add_u64x4(pulp::cast(t), self.0.splat_u64x4(1023));
        pulp::cast(self.0.shl_const_u64x4::<52>(bits))
    }
    #[inline(always)]
    fn sum(self, v: f64x4) -> f64 {
        Portable.sum(pulp::cast(v))
    }
    #[inline(always)]
    fn prefetch(self, s: &[f64]) {
        if let Some(x) = s.first() {
            let p: *const f64 = x;
            self.0
                .sse
                ._mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
        }
    }
}

/// Work generic over the [`Quad`] implementation, run by [`dispatch`].
pub(crate) trait QuadOp {
    /// What the work returns.
    type Output;
    /// Does the work with `q`'s operations (must be `#[inline(always)]`, like everything it
    /// calls, to be compiled for `q`'s instruction set).
    fn run<Q: Quad>(self, q: Q) -> Self::Output;
}

/// Runs `op` with the best [`Quad`] of the running CPU: [`Avx2`] where available (compiled
/// with AVX2 and FMA enabled), else [`Portable`]. Both give the same bits.
#[inline]
pub(crate) fn dispatch<Op: QuadOp>(op: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = V3::try_new() {
        struct Run<Op>(Op, V3);
        impl<Op: QuadOp> NullaryFnOnce for Run<Op> {
            type Output = Op::Output;
            #[inline(always)]
            fn call(self) -> Op::Output {
                self.0.run(Avx2(self.1))
            }
        }
        return simd.vectorize(Run(op, simd));
    }
    op.run(Portable)
}

/// Splits `0..n` into ranges of at most `max`, as even as possible: yields `(start, len)`.
///
/// (An iterator rather than a helper taking a closure: a closure is not `#[inline(always)]`,
/// and a kernel body left out of line would lose the dispatched instruction set.)
struct Chunks {
    n: usize,
    start: usize,
    left: usize,
}

impl Chunks {
    #[inline(always)]
    fn new(n: usize, max: usize) -> Chunks {
        Chunks {
            n,
            start: 0,
            left: n.div_ceil(max),
        }
    }
}

impl Iterator for Chunks {
    type Item = (usize, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.left == 0 {
            return None;
        }
        let len = (self.n - self.start).div_ceil(self.left);
        let chunk = (self.start, len);
        self.start += len;
        self.left -= 1;
        Some(chunk)
    }
}

/// What [`dense`] does with each accumulated value before storing it.
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<'a> {
    /// Start every output from its bias; apply ReLU if `relu` (forward pass).
    Bias {
        /// One bias per output column.
        b: &'a [f64],
        /// Whether to clamp negative values to zero (NaN stays NaN).
        relu: bool,
    },
    /// Start from zero; keep a value only where the matching activation (same column and row
    /// of `act`, a batch buffer of the same stride) is positive (backward pass through ReLU).
    Mask {
        /// The activations whose sign gates the gradient.
        act: &'a [f64],
    },
}

/// Widest layer (inputs and outputs) the kernels accept.
pub(crate) const MAX_WIDTH: usize = 64;

/// A batch buffer as blocks of [`ROW_BLOCK`] rows: block `blk` of column `c` is
/// `blocks[c * (stride / ROW_BLOCK) + blk]`.
#[inline(always)]
fn row_blocks(buf: &[f64]) -> &[[f64; ROW_BLOCK]] {
    buf.as_chunks().0
}

#[inline(always)]
fn row_blocks_mut(buf: &mut [f64]) -> &mut [[f64; ROW_BLOCK]] {
    buf.as_chunks_mut().0
}

/// The two four-lane halves of a row block.
#[inline(always)]
fn halves(b: &[f64; ROW_BLOCK]) -> &[[f64; 4]; HALVES] {
    let (h, _) = b.as_chunks::<4>();
    h.try_into().expect("a row block is two halves")
}

#[inline(always)]
fn halves_mut(b: &mut [f64; ROW_BLOCK]) -> &mut [[f64; 4]; HALVES] {
    let (h, _) = b.as_chunks_mut::<4>();
    h.try_into().expect("a row block is two halves")
}

/// `out[o] = epilogue(sum_q input[q] * w[q * sq + o * so])` for the `n_o` output columns and
/// the first `rows` rows (a multiple of [`ROW_BLOCK`]), where `input` has `n_q` columns (both
/// at most [`MAX_WIDTH`]). The sum starts from the bias (or zero) and adds the products in the
/// order of `q`, each with one rounding (fused multiply-add).
///
/// Forward pass: `q` = input `p`, `o` = output `j`, `sq = 1`, `so = n_in`. Backward pass
/// (gradient with respect to the layer's input): `q` = output `j`, `o` = input `p`,
/// `sq = n_in`, `so = 1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense<Q: Quad>(
    q: Q,
    input: &[f64],
    n_q: usize,
    out: &mut [f64],
    n_o: usize,
    stride: usize,
    rows: usize,
    w: (&[f64], usize, usize),
    epi: Epilogue<'_>,
) {
    assert!(n_q <= MAX_WIDTH && rows.is_multiple_of(ROW_BLOCK) && rows <= stride);
    assert!(
        stride.is_multiple_of(ROW_BLOCK)
            && input.len() >= n_q * stride
            && out.len() >= n_o * stride
    );
    let (w, sq, so) = w;
    let geom = Geom {
        bstride: stride / ROW_BLOCK,
        blocks: rows / ROW_BLOCK,
        input: row_blocks(input),
        gate: match epi {
            Epilogue::Mask { act } => row_blocks(act),
            Epilogue::Bias { .. } => &[],
        },
    };
    let out = row_blocks_mut(out);
    // This chunk's weights, one row of `MAX_COLS` per input, so the inner loop reads them
    // without index arithmetic or bounds checks.
    let mut wt = [[0.0; MAX_COLS]; MAX_WIDTH];
    for (o0, len) in Chunks::new(n_o, MAX_COLS) {
        for (qi, row) in wt[..n_q].iter_mut().enumerate() {
            for (jj, v) in row[..len].iter_mut().enumerate() {
                *v = w[qi * sq + (o0 + jj) * so];
            }
        }
        let wt = &wt[..n_q];
        match len {
            1 => dense_block::<Q, 1>(q, &geom, wt, out, o0, epi),
            2 => dense_block::<Q, 2>(q, &geom, wt, out, o0, epi),
            3 => dense_block::<Q, 3>(q, &geom, wt, out, o0, epi),
            4 => dense_block::<Q, 4>(q, &geom, wt, out, o0, epi),
            5 => dense_block::<Q, 5>(q, &geom, wt, out, o0, epi),
            6 => dense_block::<Q, 6>(q, &geom, wt, out, o0, epi),
            _ => unreachable!("chunks are at most MAX_COLS wide"),
        }
    }
}

/// The input side of one [`dense`] call, in row blocks.
struct Geom<'a> {
    /// Row blocks per column.
    bstride: usize,
    /// Row blocks to compute.
    blocks: usize,
    input: &'a [[f64; ROW_BLOCK]],
    /// The activations of [`Epilogue::Mask`] (empty otherwise).
    gate: &'a [[f64; ROW_BLOCK]],
}

#[inline(always)]
fn dense_block<Q: Quad, const J: usize>(
    q: Q,
    g: &Geom<'_>,
    wt: &[[f64; MAX_COLS]],
    out: &mut [[f64; ROW_BLOCK]],
    o0: usize,
    epi: Epilogue<'_>,
) {
    let zero = q.splat(0.0);
    let mut bias = [zero; J];
    if let Epilogue::Bias { b, .. } = epi {
        for (v, &bj) in bias.iter_mut().zip(&b[o0..o0 + J]) {
            *v = q.splat(bj);
        }
    }
    for blk in 0..g.blocks {
        let mut acc = [[zero; HALVES]; J];
        for (a, &bj) in acc.iter_mut().zip(&bias) {
            *a = [bj; HALVES];
        }
        for (qi, wrow) in wt.iter().enumerate() {
            let x = halves(&g.input[qi * g.bstride + blk]);
            let x = [q.load(&x[0]), q.load(&x[1])];
            for (a, &wv) in acc.iter_mut().zip(wrow) {
                let wv = q.splat(wv);
                for h in 0..HALVES {
                    a[h] = q.mul_add(x[h], wv, a[h]);
                }
            }
        }
        for (jj, a) in acc.iter().enumerate() {
            let at = (o0 + jj) * g.bstride + blk;
            let dst = halves_mut(&mut out[at]);
            match epi {
                // `if 0 > v { 0 } else { v }`: NaN stays NaN (and -0 stays -0).
                Epilogue::Bias { relu: true, .. } => {
                    for h in 0..HALVES {
                        q.store(&mut dst[h], q.max(zero, a[h]));
                    }
                }
                Epilogue::Bias { relu: false, .. } => {
                    for h in 0..HALVES {
                        q.store(&mut dst[h], a[h]);
                    }
                }
                Epilogue::Mask { .. } => {
                    let gate = halves(&g.gate[at]);
                    for h in 0..HALVES {
                        let v = q.select_le(q.load(&gate[h]), zero, zero, a[h]);
                        q.store(&mut dst[h], v);
                    }
                }
            }
        }
    }
}

/// Shapes and weights shared by the blocks of one [`weight_grad`] call.
struct GradGeom<'a> {
    n_in: usize,
    /// Four-row groups per column.
    stride4: usize,
    /// Four-row groups to sum over.
    groups: usize,
    a: &'a [[f64; 4]],
    d: &'a [[f64; 4]],
    w: &'a [f64],
    l2: f64,
}

/// Weight gradient of a layer: `g[j * n_in + p] = sum_i a[p][i] * d[j][i] + l2 * w[j * n_in + p]`
/// over the first `rows` rows, where `a` (the layer's input, `n_in` columns) and `d` (the
/// gradient with respect to its output, `n_out` columns) are batch buffers of the same stride.
///
/// The sum over rows keeps four partial sums (row `i` into partial sum `i % 4`, each in row
/// order, with fused multiply-adds), combined as `(s0 + s1) + (s2 + s3)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn weight_grad<Q: Quad>(
    q: Q,
    a: &[f64],
    n_in: usize,
    d: &[f64],
    n_out: usize,
    stride: usize,
    rows: usize,
    w: &[f64],
    l2: f64,
    g: &mut [f64],
) {
    assert!(rows.is_multiple_of(4) && rows <= stride && stride.is_multiple_of(4));
    let geom = GradGeom {
        n_in,
        stride4: stride / 4,
        groups: rows / 4,
        a: a.as_chunks().0,
        d: d.as_chunks().0,
        w,
        l2,
    };
    for (p0, pl) in Chunks::new(n_in, MAX_P) {
        for (j0, jl) in Chunks::new(n_out, MAX_J) {
            match pl {
                1 => grad_cols::<Q, 1>(q, &geom, g, (p0, j0, jl)),
                2 => grad_cols::<Q, 2>(q, &geom, g, (p0, j0, jl)),
                _ => unreachable!("chunks are at most MAX_P wide"),
            }
        }
    }
}

#[inline(always)]
fn grad_cols<Q: Quad, const P: usize>(
    q: Q,
    geom: &GradGeom<'_>,
    g: &mut [f64],
    (p0, j0, jl): (usize, usize, usize),
) {
    match jl {
        1 => grad_block::<Q, P, 1>(q, geom, g, p0, j0),
        2 => grad_block::<Q, P, 2>(q, geom, g, p0, j0),
        3 => grad_block::<Q, P, 3>(q, geom, g, p0, j0),
        4 => grad_block::<Q, P, 4>(q, geom, g, p0, j0),
        5 => grad_block::<Q, P, 5>(q, geom, g, p0, j0),
        _ => unreachable!("chunks are at most MAX_J wide"),
    }
}

/// Column `c` of a buffer of four-row groups, cut to the groups summed over.
#[inline(always)]
fn group_col<'a>(buf: &'a [[f64; 4]], geom: &GradGeom<'_>, c: usize) -> &'a [[f64; 4]] {
    &buf[c * geom.stride4..c * geom.stride4 + geom.groups]
}

#[inline(always)]
fn grad_block<Q: Quad, const P: usize, const J: usize>(
    q: Q,
    geom: &GradGeom<'_>,
    g: &mut [f64],
    p0: usize,
    j0: usize,
) {
    let n = geom.groups;
    let zero = q.splat(0.0);
    let mut acc = [[zero; J]; P];
    let mut a_cols: [&[[f64; 4]]; P] = [&[]; P];
    for (pp, col) in a_cols.iter_mut().enumerate() {
        *col = group_col(geom.a, geom, p0 + pp);
    }
    let mut d_cols: [&[[f64; 4]]; J] = [&[]; J];
    for (jj, col) in d_cols.iter_mut().enumerate() {
        *col = group_col(geom.d, geom, j0 + jj);
    }
    for i in 0..n {
        let mut av = [zero; P];
        for (v, col) in av.iter_mut().zip(&a_cols) {
            *v = q.load(&col[i]);
        }
        for (jj, col) in d_cols.iter().enumerate() {
            let dv = q.load(&col[i]);
            for pp in 0..P {
                acc[pp][jj] = q.mul_add(av[pp], dv, acc[pp][jj]);
            }
        }
    }
    for (pp, accp) in acc.iter().enumerate() {
        for (jj, &s) in accp.iter().enumerate() {
            let idx = (j0 + jj) * geom.n_in + p0 + pp;
            g[idx] = geom.l2.mul_add(geom.w[idx], q.sum(s));
        }
    }
}

/// Bias gradient: `gb[j] = sum_i d[j][i]` over the first `rows` rows, with the partial sums of
/// [`weight_grad`].
#[inline(always)]
pub(crate) fn bias_grad<Q: Quad>(q: Q, d: &[f64], stride: usize, rows: usize, gb: &mut [f64]) {
    assert!(rows.is_multiple_of(4) && rows <= stride && stride.is_multiple_of(4));
    let d = d.as_chunks::<4>().0;
    let (stride4, groups) = (stride / 4, rows / 4);
    for (j, out) in gb.iter_mut().enumerate() {
        let col = &d[j * stride4..j * stride4 + groups];
        let mut s = q.splat(0.0);
        for v in col {
            s = q.add(s, q.load(v));
        }
        *out = q.sum(s);
    }
}

/// Softmax cross-entropy gradient of a batch: for the `n` logit columns of `z`, writes
/// `d = softmax(z) / bs - onehot(y) / bs` for rows `0..bs` and zero for the padding rows
/// `bs..rows`, and records each row's maximum logit and `sum_c exp(z_c - max)` in `row_max`
/// and `row_sum` (for the loss).
///
/// The exponentials use [`exp_shifted`]; the division by the row sum is one reciprocal per row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn softmax_grad<Q: Quad>(
    q: Q,
    z: &[f64],
    d: &mut [f64],
    n: usize,
    stride: usize,
    rows: usize,
    labels: &[u8],
    bs: usize,
    row_max: &mut [f64],
    row_sum: &mut [f64],
) {
    assert!(
        rows.is_multiple_of(ROW_BLOCK)
            && bs <= rows
            && rows <= stride
            && stride.is_multiple_of(ROW_BLOCK)
    );
    let scale = 1.0 / bs as f64;
    let bstride = stride / ROW_BLOCK;
    {
        let (zb, db) = (row_blocks(z), row_blocks_mut(d));
        let (mb, sb) = (row_blocks_mut(row_max), row_blocks_mut(row_sum));
        for blk in 0..rows / ROW_BLOCK {
            let mut m = [q.splat(f64::NEG_INFINITY); HALVES];
            for j in 0..n {
                let zj = halves(&zb[j * bstride + blk]);
                for (h, mh) in m.iter_mut().enumerate() {
                    let zv = q.load(&zj[h]);
                    // NaN never becomes the maximum (and then poisons every exponential).
                    *mh = q.max(zv, *mh);
                }
            }
            let mut s = [q.splat(0.0); HALVES];
            for j in 0..n {
                let zj = *halves(&zb[j * bstride + blk]);
                let dst = halves_mut(&mut db[j * bstride + blk]);
                for h in 0..HALVES {
                    let e = exp_shifted(q, q.sub(q.load(&zj[h]), m[h]));
                    q.store(&mut dst[h], e);
                    s[h] = q.add(s[h], e);
                }
            }
            let mut inv = s;
            for v in &mut inv {
                *v = q.div(q.splat(scale), *v);
            }
            for j in 0..n {
                let dst = halves_mut(&mut db[j * bstride + blk]);
                for h in 0..HALVES {
                    let v = q.mul(q.load(&dst[h]), inv[h]);
                    q.store(&mut dst[h], v);
                }
            }
            let (mh, sh) = (halves_mut(&mut mb[blk]), halves_mut(&mut sb[blk]));
            for h in 0..HALVES {
                q.store(&mut mh[h], m[h]);
                q.store(&mut sh[h], s[h]);
            }
        }
    }
    for (i, &y) in labels[..bs].iter().enumerate() {
        d[usize::from(y) * stride + i] -= scale;
    }
    for j in 0..n {
        d[j * stride + bs..j * stride + rows].fill(0.0);
    }
}

/// `ln 2` split in two, given by bit pattern: the high part has 21 trailing zero bits in its
/// significand, so `k * LN2_HI` is exact for `|k| < 2^21`; the low part is `ln 2 - LN2_HI`
/// rounded to double.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `1.5 * 2^52`: adding it to a value below `2^51` in magnitude rounds that value to an integer
/// (ties to even), which then sits in the low bits of the sum's significand.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Smaller arguments are raised to this one, where `2^k` is still a normal number.
const SHIFTED_MIN: f64 = -708.0;
/// `1 / n!` for `n = 2..=13`, the Taylor coefficients of `(e^r - 1 - r) / r^2`.
const TAYLOR: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `e^x` lane by lane, for the shifted logits of the softmax: branch-free and without libm.
///
/// Within one unit in the last place of `f64::exp` for `x` in `[-708, 709]` (checked in the
/// tests). Below, `x` is raised to -708, so `e^x` is never zero (the softmax only feeds it
/// `z - max(z) <= 0`, where a value below `e^-708` is negligible next to the 1 of the largest
/// logit); above 709 the result is meaningless. NaN gives NaN.
///
/// Method: `x = k ln2 + r` with integer `k` and `|r| <= ln2 / 2`; `e^r` by its Taylor series to
/// degree 13 (truncation below 1e-17 relative), evaluated with fused multiply-adds; then the
/// product with `2^k`, built from the exponent bits.
#[inline(always)]
pub(crate) fn exp_shifted<Q: Quad>(q: Q, x: Q::V) -> Q::V {
    // `if lo > x { lo } else { x }`: NaN passes through unchanged.
    let x = q.max(q.splat(SHIFTED_MIN), x);
    let magic = q.splat(ROUND_MAGIC);
    let t = q.mul_add(x, q.splat(std::f64::consts::LOG2_E), magic);
    let k = q.sub(t, magic);
    let r = q.mul_add(k, q.splat(-LN2_HI), x);
    let r = q.mul_add(k, q.splat(-LN2_LO), r);
    // p(r) = sum_i TAYLOR[i] r^i by Estrin's scheme: pairs, then quadruples, then the rest,
    // four fused multiply-adds deep instead of eleven for Horner's rule, so that the
    // exponentials of a batch overlap in the CPU instead of waiting on one long chain.
    let c = &TAYLOR;
    let r2 = q.mul(r, r);
    let r4 = q.mul(r2, r2);
    let r8 = q.mul(r4, r4);
    let p01 = q.mul_add(q.splat(c[1]), r, q.splat(c[0]));
    let p23 = q.mul_add(q.splat(c[3]), r, q.splat(c[2]));
    let p45 = q.mul_add(q.splat(c[5]), r, q.splat(c[4]));
    let p67 = q.mul_add(q.splat(c[7]), r, q.splat(c[6]));
    let p89 = q.mul_add(q.splat(c[9]), r, q.splat(c[8]));
    let p1011 = q.mul_add(q.splat(c[11]), r, q.splat(c[10]));
    let p0_3 = q.mul_add(p23, r2, p01);
    let p4_7 = q.mul_add(p67, r2, p45);
    let p8_11 = q.mul_add(p1011, r2, p89);
    let p0_7 = q.mul_add(p4_7, r4, p0_3);
    let p = q.mul_add(p8_11, r8, p0_7);
    // e^r = 1 + (r + r^2 p(r)): adding the 1 last keeps the series' rounding errors small
    // relative to the result.
    let er = q.add(q.splat(1.0), q.mul_add(r2, p, r));
    // The low 12 bits of `t`'s representation hold `k` (two's complement); `k + 1023` in
    // `[1, 2046]` shifted into the exponent field is `2^k`.
    q.mul(er, q.exponent_bits(t))
}

/// Scalars of one Adam step.
pub(crate) struct AdamStep {
    /// Decay of the first moment.
    pub(crate) beta1: f64,
    /// Decay of the second moment.
    pub(crate) beta2: f64,
    /// Denominator guard.
    pub(crate) eps: f64,
    /// Step size times the first moment's bias correction `1 / (1 - beta1^t)`.
    pub(crate) lr_corr1: f64,
    /// Bias correction of the second moment, `1 / (1 - beta2^t)`.
    pub(crate) corr2: f64,
}

impl AdamStep {
    /// One step on every parameter: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
    /// `p -= lr corr1 m / (sqrt(corr2 v) + eps)`, in one pass (plain element-wise code, which
    /// the compiler vectorises without changing any result).
    #[inline(always)]
    pub(crate) fn apply(&self, p: &mut [f64], m: &mut [f64], v: &mut [f64], g: &[f64]) {
        let (b1, b2) = (self.beta1, self.beta2);
        let (c1, c2) = (1.0 - b1, 1.0 - b2);
        for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
            *m = b1 * *m + c1 * g;
            *v = b2 * *v + c2 * (g * g);
            *p -= self.lr_corr1 * *m / ((*v * self.corr2).sqrt() + self.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    fn exp1(x: f64) -> f64 {
        exp_shifted(Portable, [x; 4])[0]
    }

    #[test]
    fn exp_shifted_matches_std_within_one_ulp() {
        let mut worst = 0;
        let mut x = -708.0;
        // Up to 709, the largest argument that `exp_shifted` accepts.
        while x <= 709.0 {
            worst = worst.max(ulps(exp1(x), x.exp()));
            x += 0.001_234_567_89;
        }
        for i in -20_000..=20_000 {
            let x = f64::from(i) * 1e-5;
            worst = worst.max(ulps(exp1(x), x.exp()));
        }
        assert!(worst <= 1, "worst error {worst} ulp");
        assert_eq!(exp1(0.0), 1.0);
        assert_eq!(exp1(-0.0), 1.0);
        assert!(exp1(f64::NAN).is_nan());
        assert_eq!(exp1(-1e300), exp1(SHIFTED_MIN));
        assert_eq!(exp1(f64::NEG_INFINITY), exp1(SHIFTED_MIN));
        assert!(exp1(SHIFTED_MIN) > 0.0 && exp1(SHIFTED_MIN) < 1e-307);
    }

    #[test]
    fn ln2_split_is_exact_enough() {
        assert_eq!(LN2_HI.to_bits() & 0x1f_ffff, 0);
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        assert!(LN2_LO.abs() < 1.0 / 4_294_967_296.0);
    }

    #[test]
    fn chunks_cover_evenly() {
        let all = |n, max| Chunks::new(n, max).collect::<Vec<_>>();
        assert_eq!(all(10, 6), [(0, 5), (5, 5)]);
        assert_eq!(all(13, 6), [(0, 5), (5, 4), (9, 4)]);
        assert_eq!(all(1, 2), [(0, 1)]);
        assert_eq!(all(4, 2), [(0, 2), (2, 2)]);
    }

    /// Every operation of the dispatched [`Quad`] gives the bits of [`Portable`], on special
    /// values too.
    #[test]
    fn dispatched_quad_matches_portable_bit_for_bit() {
        struct Ops(Vec<[f64; 4]>);
        impl QuadOp for Ops {
            type Output = Vec<[f64; 4]>;
            #[inline(always)]
            fn run<Q: Quad>(self, q: Q) -> Vec<[f64; 4]> {
                let mut out = Vec::new();
                let mut put = |v: Q::V| {
                    let mut s = [0.0; 4];
                    q.store(&mut s, v);
                    out.push(s);
                };
                for w in self.0.windows(3) {
                    let (a, b, c) = (q.load(&w[0]), q.load(&w[1]), q.load(&w[2]));
                    put(q.add(a, b));
                    put(q.sub(a, b));
                    put(q.mul(a, b));
                    put(q.div(a, b));
                    put(q.mul_add(a, b, c));
                    put(q.max(a, b));
                    put(q.select_le(a, b, c, a));
                    put(exp_shifted(q, a));
                    put(q.splat(q.sum(a)));
                }
                out
            }
        }
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            1e-310,
        ];
        let mut r = crate::rng::chacha(11, 7);
        let mut inputs: Vec<[f64; 4]> = (0..64)
            .map(|_| std::array::from_fn(|_| 40.0 * crate::rng::unit_f64(&mut r) - 30.0))
            .collect();
        for (i, v) in inputs.iter_mut().enumerate().step_by(3) {
            v[i % 4] = specials[i % specials.len()];
        }
        let bits = |v: Vec<[f64; 4]>| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(dispatch(Ops(inputs.clone()))),
            bits(Ops(inputs).run(Portable))
        );
    }

    /// A batch buffer `stride x cols` with deterministic pseudo-random values in `[-1, 1)`.
    fn buffer(stride: usize, cols: usize, seed: u64) -> Vec<f64> {
        let mut r = crate::rng::chacha(seed, 7);
        (0..stride * cols)
            .map(|_| 2.0 * crate::rng::unit_f64(&mut r) - 1.0)
            .collect()
    }

    #[test]
    fn dense_and_gradients_match_naive_loops() {
        let q = Portable;
        let (stride, rows) = (24, 16);
        for &(n_in, n_out) in &[(1, 1), (3, 7), (10, 10), (13, 2), (5, 17)] {
            let x = buffer(stride, n_in, 1);
            let w = buffer(n_in, n_out, 2);
            let b = buffer(1, n_out, 3);
            let mut out = vec![0.0; stride * n_out];
            let epi = Epilogue::Bias { b: &b, relu: true };
            dense(
                q,
                &x,
                n_in,
                &mut out,
                n_out,
                stride,
                rows,
                (&w, 1, n_in),
                epi,
            );
            for j in 0..n_out {
                for i in 0..rows {
                    let z: f64 = b[j]
                        + (0..n_in)
                            .map(|p| x[p * stride + i] * w[j * n_in + p])
                            .sum::<f64>();
                    let got = out[j * stride + i];
                    assert!((got - z.max(0.0)).abs() < 1e-12, "{got} vs {z}");
                }
            }
            // Backward through the same weights, gated by `x` as the activations.
            let d = buffer(stride, n_out, 4);
            let mut below = vec![0.0; stride * n_in];
            let epi = Epilogue::Mask { act: &x };
            dense(
                q,
                &d,
                n_out,
                &mut below,
                n_in,
                stride,
                rows,
                (&w, n_in, 1),
                epi,
            );
            for p in 0..n_in {
                for i in 0..rows {
                    let s: f64 = (0..n_out)
                        .map(|j| d[j * stride + i] * w[j * n_in + p])
                        .sum();
                    let want = if x[p * stride + i] > 0.0 { s } else { 0.0 };
                    assert!((below[p * stride + i] - want).abs() < 1e-12);
                }
            }
            let mut g = vec![0.0; n_in * n_out];
            weight_grad(q, &x, n_in, &d, n_out, stride, rows, &w, 0.5, &mut g);
            for p in 0..n_in {
                for j in 0..n_out {
                    let s: f64 = (0..rows)
                        .map(|i| x[p * stride + i] * d[j * stride + i])
                        .sum();
                    let want = s + 0.5 * w[j * n_in + p];
                    assert!((g[j * n_in + p] - want).abs() < 1e-12);
                }
            }
            let mut gb = vec![0.0; n_out];
            bias_grad(q, &d, stride, rows, &mut gb);
            for (j, &v) in gb.iter().enumerate() {
                let s: f64 = d[j * stride..j * stride + rows].iter().sum();
                assert!((v - s).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn softmax_grad_matches_definition_and_zeroes_padding() {
        let (stride, rows, bs, n) = (16, 16, 11, 4);
        let z = buffer(stride, n, 5)
            .iter()
            .map(|v| 30.0 * v)
            .collect::<Vec<_>>();
        let labels: Vec<u8> = (0..stride).map(|i| (i % n) as u8).collect();
        let mut d = vec![f64::NAN; stride * n];
        let (mut mx, mut sm) = (vec![0.0; stride], vec![0.0; stride]);
        let q = Portable;
        softmax_grad(
            q, &z, &mut d, n, stride, rows, &labels, bs, &mut mx, &mut sm,
        );
        for i in 0..rows {
            let m = (0..n)
                .map(|j| z[j * stride + i])
                .fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..n).map(|j| (z[j * stride + i] - m).exp()).sum();
            assert_eq!(mx[i], m);
            assert!((sm[i] - s).abs() < 1e-14 * s);
            for j in 0..n {
                let got = d[j * stride + i];
                if i >= bs {
                    assert_eq!(got, 0.0);
                    continue;
                }
                let t = if usize::from(labels[i]) == j {
                    1.0
                } else {
                    0.0
                };
                let want = ((z[j * stride + i] - m).exp() / s - t) / bs as f64;
                assert!((got - want).abs() < 1e-15, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn adam_step_follows_the_formula() {
        let step = AdamStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            lr_corr1: 1e-3 / (1.0 - 0.9),
            corr2: 1.0 / (1.0 - 0.999),
        };
        let (mut p, mut m, mut v) = (vec![1.0, -2.0], vec![0.0; 2], vec![0.0; 2]);
        step.apply(&mut p, &mut m, &mut v, &[0.5, -0.25]);
        // First step: m_hat = g, v_hat = g^2, so each parameter moves by lr * sign(g).
        assert!((p[0] - (1.0 - 1e-3)).abs() < 1e-10);
        assert!((p[1] - (-2.0 + 1e-3)).abs() < 1e-10);
    }
}

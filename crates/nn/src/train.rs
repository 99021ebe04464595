//! Training: softmax cross-entropy, backpropagation and Adam on mini-batches.
//!
//! All buffers are allocated once per call of [`train`] (sized for one mini-batch); the loop
//! itself does not allocate. The parameters, their gradients and Adam's moments live in flat
//! vectors of one layout, so an Adam step is one loop. Narrow layers (both widths at most 32,
//! like the correctors') run on the crate's own batch kernels, wider ones on faer's matrix
//! products; the softmax always runs on the kernels (see `kernels`). Everything is sequential
//! (`Par::Seq`), and the only randomness comes from ChaCha8 streams derived from
//! [`TrainConfig::seed`], so a run is bit-identical to any other run with the same inputs on
//! the same machine, whatever the thread count.

use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{NnError, Result};
use crate::kernels::{self, AdamStep, Epilogue, Quad, QuadOp, ROW_BLOCK};
use crate::mlp::{Dense, Mlp};
use crate::rng;

/// Training settings. Deserialisable, so experiment files can carry them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Hidden layer widths (the input and output sizes come from the data), e.g. `[50, 20, 8]`.
    /// May be empty (softmax regression).
    pub hidden: Vec<usize>,
    /// Passes over the training data, `>= 1`.
    pub epochs: u32,
    /// Samples per mini-batch, `>= 1` (a larger value than the data set means full batch).
    pub batch_size: u32,
    /// Adam step size, finite and `> 0`.
    pub learning_rate: f64,
    /// Adam decay of the first-moment estimate, in `[0, 1)`.
    pub beta1: f64,
    /// Adam decay of the second-moment estimate, in `[0, 1)`.
    pub beta2: f64,
    /// Adam denominator guard, finite and `> 0`.
    pub epsilon: f64,
    /// L2 penalty `l2 / 2 * sum(w^2)` on weights (not biases), finite and `>= 0`.
    pub l2: f64,
    /// Seed of the weight initialisation (ChaCha8 stream 0) and of the per-epoch shuffles
    /// (ChaCha8 stream 1).
    pub seed: u64,
}

impl TrainConfig {
    /// The settings of the software network of the digits study: hidden layers `[50, 20, 8]`
    /// (network 64-50-20-8-10, 4528 parameters), 80 epochs of mini-batches of 32, Adam with
    /// learning rate 2e-3, betas 0.9 / 0.999, epsilon 1e-8, L2 1e-3, seed 0.
    ///
    /// Trained on the 1617 training images of
    /// `stratified_split(&labels, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED)` it classifies 176 of the
    /// 180 test images correctly (97.8 %; the paper reports 96.67 %). These values were chosen on
    /// 10 split seeds x 4 initialisation seeds (mean 98.2 %, worst 96.1 %), not on the default
    /// seeds alone.
    pub fn digits_default() -> TrainConfig {
        TrainConfig {
            hidden: vec![50, 20, 8],
            epochs: 80,
            batch_size: 32,
            learning_rate: 2e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            l2: 1e-3,
            seed: 0,
        }
    }

    /// Checks every field against its allowed range (NaN and infinities are rejected).
    ///
    /// One problem gives [`NnError::InvalidConfig`]; several give [`NnError::InvalidConfigs`]
    /// listing all of them.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let mut bad = |key: &'static str, value: String, allowed: &'static str| {
            problems.push(NnError::InvalidConfig {
                key,
                value,
                allowed,
            });
        };
        if self.hidden.contains(&0) {
            bad("hidden", format!("{:?}", self.hidden), "widths >= 1");
        }
        if self.epochs == 0 {
            bad("epochs", "0".into(), ">= 1");
        }
        if self.batch_size == 0 {
            bad("batch_size", "0".into(), ">= 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "finite and > 0",
            );
        }
        if !(0.0..1.0).contains(&self.beta1) {
            bad("beta1", self.beta1.to_string(), "[0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            bad("beta2", self.beta2.to_string(), "[0, 1)");
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            bad("epsilon", self.epsilon.to_string(), "finite and > 0");
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            bad("l2", self.l2.to_string(), "finite and >= 0");
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(NnError::InvalidConfigs { problems }),
        }
    }

    /// Layer sizes of the network trained on `data`: inputs, hidden widths, classes.
    pub fn sizes_for(&self, data: &Dataset) -> Vec<usize> {
        std::iter::once(data.n_features())
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(data.n_classes))
            .collect()
    }
}

/// The outcome of [`train`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// The trained network.
    pub mlp: Mlp,
    /// Mean softmax cross-entropy of the final network over the whole training set (without
    /// the L2 term). NaN or infinite if training diverged.
    pub final_loss: f64,
    /// Number of epochs run.
    pub epochs: u32,
}

/// Trains a new network `[d, hidden.., n_classes]` on `data` (see the crate docs for the
/// equations).
///
/// Weights start from [`Mlp::new_he`] with `cfg.seed`. Each epoch visits the samples in a new
/// order (a Fisher-Yates shuffle of the previous order, ChaCha8 seeded with `cfg.seed` on
/// stream 1) in mini-batches of `batch_size` (the last one may be smaller), and takes one Adam
/// step per mini-batch on the mean cross-entropy of the batch plus `l2 / 2 * sum(w^2)`.
///
/// Errors: an invalid `cfg`, or a data set that is empty, has no features, or fails
/// [`Dataset::check`].
pub fn train(cfg: &TrainConfig, data: &Dataset) -> Result<TrainReport> {
    cfg.validate()?;
    check_training_data(data)?;
    let mut net = Flat::new(&Mlp::new_he(&cfg.sizes_for(data), cfg.seed));
    let batch = (cfg.batch_size as usize).min(data.len());
    let mut ws = Workspace::new(&net, batch);
    let mut adam = Adam::new(net.params.len());
    let row_major = row_major(data);
    kernels::dispatch(Epochs {
        cfg,
        data,
        row_major: &row_major,
        net: &mut net,
        ws: &mut ws,
        adam: &mut adam,
    });
    let final_loss = kernels::dispatch(MeanLoss {
        net: &net,
        data,
        row_major: &row_major,
        ws: &mut ws,
    });
    Ok(TrainReport {
        mlp: net.to_mlp(),
        final_loss,
        epochs: cfg.epochs,
    })
}

/// `data.x` copied row by row.
fn row_major(data: &Dataset) -> Vec<f64> {
    let (n, d) = (data.len(), data.n_features());
    let mut out = vec![0.0; n * d];
    for j in 0..d {
        for (i, &v) in data.x.col_as_slice(j).iter().enumerate() {
            out[i * d + j] = v;
        }
    }
    out
}

fn check_training_data(data: &Dataset) -> Result<()> {
    if data.is_empty() {
        return Err(NnError::Dataset {
            what: "cannot train on an empty data set".into(),
        });
    }
    if data.n_features() == 0 {
        return Err(NnError::Dataset {
            what: "cannot train on data without features".into(),
        });
    }
    if u32::try_from(data.len()).is_err() {
        return Err(NnError::Dataset {
            what: format!("{} rows exceed the u32 index range", data.len()),
        });
    }
    data.check()
}

/// The training loop (every epoch and mini-batch), run through [`kernels::dispatch`] so that
/// the inlined kernels are compiled for the running CPU's best instruction set.
struct Epochs<'a> {
    cfg: &'a TrainConfig,
    data: &'a Dataset,
    row_major: &'a [f64],
    net: &'a mut Flat,
    ws: &'a mut Workspace,
    adam: &'a mut Adam,
}

impl QuadOp for Epochs<'_> {
    type Output = ();

    #[inline(always)]
    fn run<Q: Quad>(self, q: Q) {
        let Epochs {
            cfg,
            data,
            row_major,
            net,
            ws,
            adam,
        } = self;
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        let mut rng = rng::chacha(cfg.seed, rng::STREAM_SHUFFLE);
        for _ in 0..cfg.epochs {
            rng::shuffle(&mut rng, &mut order);
            let mut batches = order.chunks(ws.capacity).peekable();
            while let Some(rows) = batches.next() {
                if let Some(next) = batches.peek() {
                    // The next batch's rows are scattered over the data set: bring them into the
                    // cache while this batch computes.
                    prefetch_rows(q, row_major, ws.n_inputs, next);
                }
                ws.load(row_major, &data.y, rows);
                ws.gradient(q, net, rows.len(), cfg.l2);
                adam.step(&mut net.params, &ws.grads, cfg);
            }
        }
    }
}

/// Prefetches every cache line of the given rows of `row_major` (`d` values per row).
#[inline(always)]
fn prefetch_rows<Q: Quad>(q: Q, row_major: &[f64], d: usize, rows: &[u32]) {
    /// Values per 64-byte cache line.
    const LINE: usize = 8;
    let line_of = |v: &f64| (v as *const f64 as usize) / (LINE * 8);
    for &r in rows {
        let row = &row_major[r as usize * d..(r as usize + 1) * d];
        // One value every line, then the last value if it lies on one more line.
        let mut last_line = 0;
        for off in (0..d).step_by(LINE) {
            q.prefetch(&row[off..]);
            last_line = line_of(&row[off]);
        }
        if line_of(&row[d - 1]) != last_line {
            q.prefetch(&row[d - 1..]);
        }
    }
}

/// Mean cross-entropy of a network over all of `data`, batch by batch through `ws` (in row
/// order), dispatched like [`Epochs`].
struct MeanLoss<'a> {
    net: &'a Flat,
    data: &'a Dataset,
    row_major: &'a [f64],
    ws: &'a mut Workspace,
}

impl QuadOp for MeanLoss<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<Q: Quad>(self, q: Q) -> f64 {
        let MeanLoss {
            net,
            data,
            row_major,
            ws,
        } = self;
        let rows: Vec<u32> = (0..data.len() as u32).collect();
        let mut total = 0.0;
        for chunk in rows.chunks(ws.capacity) {
            ws.load(row_major, &data.y, chunk);
            total += ws.loss(q, net, chunk.len());
        }
        total / data.len() as f64
    }
}

/// Widest layer (inputs and outputs) trained with the crate's own kernels (four-lane AVX2).
/// Wider layers use faer's matrix products, whose AVX-512 kernels win from about this width
/// on (measured: the digits network's 64-50 layer trains faster with faer, MLP(10, 10)
/// correctors about 10 % faster with the kernels).
const NARROW_MAX: usize = 32;
const _: () = assert!(NARROW_MAX <= kernels::MAX_WIDTH);

/// Where one layer lives in [`Flat::params`].
#[derive(Clone, Copy, Debug)]
struct Shape {
    n_in: usize,
    n_out: usize,
    /// Offset of the weights, `n_in x n_out` column-major (weight `(p, j)` at `w + j * n_in + p`).
    w: usize,
    /// Offset of the `n_out` biases (right after the weights).
    b: usize,
    /// Whether the layer uses the narrow kernels of [`kernels`] (else faer).
    narrow: bool,
}

/// A network's parameters in one vector (per layer its weights, then its biases), so that
/// gradients and Adam's moments share one layout and Adam is one loop.
#[derive(Clone, Debug)]
struct Flat {
    shapes: Vec<Shape>,
    params: Vec<f64>,
}

impl Flat {
    fn new(mlp: &Mlp) -> Flat {
        let mut shapes = Vec::with_capacity(mlp.layers.len());
        let mut params = Vec::with_capacity(mlp.param_count());
        for l in &mlp.layers {
            let (n_in, n_out) = (l.inputs(), l.outputs());
            let w = params.len();
            for j in 0..n_out {
                params.extend(l.w.col_as_slice(j));
            }
            let b = params.len();
            params.extend(&l.b);
            shapes.push(Shape {
                n_in,
                n_out,
                w,
                b,
                narrow: n_in <= NARROW_MAX && n_out <= NARROW_MAX,
            });
        }
        Flat { shapes, params }
    }

    fn to_mlp(&self) -> Mlp {
        let layers = (0..self.shapes.len())
            .map(|k| {
                let sh = self.shapes[k];
                let (w, b) = self.layer(k);
                Dense {
                    w: Mat::from_fn(sh.n_in, sh.n_out, |p, j| w[j * sh.n_in + p]),
                    b: b.to_vec(),
                }
            })
            .collect();
        Mlp { layers }
    }

    /// Weights (column-major) and biases of layer `k`.
    fn layer(&self, k: usize) -> (&[f64], &[f64]) {
        let sh = self.shapes[k];
        (
            &self.params[sh.w..sh.b],
            &self.params[sh.b..sh.b + sh.n_out],
        )
    }
}

/// A batch buffer (see [`kernels`]) as a faer matrix of its first `rows` rows.
fn view(buf: &[f64], rows: usize, cols: usize, stride: usize) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice_with_stride(
        &buf[..(cols - 1) * stride + rows],
        rows,
        cols,
        stride,
    )
}

fn view_mut(buf: &mut [f64], rows: usize, cols: usize, stride: usize) -> MatMut<'_, f64> {
    MatMut::from_column_major_slice_with_stride_mut(
        &mut buf[..(cols - 1) * stride + rows],
        rows,
        cols,
        stride,
    )
}

/// Per-batch buffers, allocated once. Every buffer holding one value per sample is a batch
/// buffer of [`kernels`]: `stride` values per column, `stride` a multiple of
/// [`ROW_BLOCK`] and at least `capacity`.
struct Workspace {
    capacity: usize,
    stride: usize,
    n_inputs: usize,
    /// Input rows of the batch (`n_inputs` columns), zero in the padding rows.
    xb: Vec<f64>,
    /// Labels of the batch.
    yb: Vec<u8>,
    /// Output of every layer (post-ReLU for hidden layers, logits for the last).
    acts: Vec<Vec<f64>>,
    /// d(loss)/d(pre-activation) of every layer, zero in the padding rows.
    deltas: Vec<Vec<f64>>,
    /// Row maxima and sums of the softmax.
    row_max: Vec<f64>,
    row_sum: Vec<f64>,
    /// Gradient of the batch loss, in the layout of [`Flat::params`].
    grads: Vec<f64>,
}

impl Workspace {
    fn new(net: &Flat, capacity: usize) -> Workspace {
        let stride = capacity.next_multiple_of(ROW_BLOCK);
        let per_layer = || -> Vec<Vec<f64>> {
            net.shapes
                .iter()
                .map(|s| vec![0.0; stride * s.n_out])
                .collect()
        };
        let n_inputs = net.shapes[0].n_in;
        Workspace {
            capacity,
            stride,
            n_inputs,
            xb: vec![0.0; stride * n_inputs],
            yb: vec![0; stride],
            acts: per_layer(),
            deltas: per_layer(),
            row_max: vec![0.0; stride],
            row_sum: vec![0.0; stride],
            grads: vec![0.0; net.params.len()],
        }
    }

    /// Copies the given rows into the batch buffers and zeroes the padding rows up to the next
    /// multiple of [`ROW_BLOCK`]. `row_major` is `data.x` stored row by row: a shuffled batch
    /// then touches one cache line or two per sample instead of one per feature.
    #[inline(always)]
    fn load(&mut self, row_major: &[f64], labels: &[u8], rows: &[u32]) {
        let (d, stride, bs) = (self.n_inputs, self.stride, rows.len());
        let row = |r: u32| &row_major[r as usize * d..(r as usize + 1) * d];
        // Four samples at a time: each feature becomes one four-value store.
        let mut groups = rows.chunks_exact(4);
        for (g, four) in groups.by_ref().enumerate() {
            let src = [row(four[0]), row(four[1]), row(four[2]), row(four[3])];
            for (j, col) in self.xb.chunks_exact_mut(stride).enumerate() {
                let dst: &mut [f64; 4] = (&mut col[4 * g..4 * g + 4]).try_into().expect("4");
                *dst = [src[0][j], src[1][j], src[2][j], src[3][j]];
            }
        }
        let done = bs - groups.remainder().len();
        for (b, &r) in rows.iter().enumerate().skip(done) {
            for (col, &v) in self.xb.chunks_exact_mut(stride).zip(row(r)) {
                col[b] = v;
            }
        }
        for (y, &r) in self.yb.iter_mut().zip(rows) {
            *y = labels[r as usize];
        }
        for col in self.xb.chunks_exact_mut(stride) {
            col[bs..bs.next_multiple_of(ROW_BLOCK)].fill(0.0);
        }
    }

    /// Forward pass over the first `rows` rows (a multiple of [`ROW_BLOCK`]).
    #[inline(always)]
    fn forward<Q: Quad>(&mut self, q: Q, net: &Flat, rows: usize) {
        let stride = self.stride;
        let last = net.shapes.len() - 1;
        for (k, sh) in net.shapes.iter().enumerate() {
            let (done, rest) = self.acts.split_at_mut(k);
            let input: &[f64] = if k == 0 { &self.xb } else { &done[k - 1] };
            let out = &mut rest[0];
            let (w, b) = net.layer(k);
            let relu = k != last;
            if sh.narrow {
                let epi = Epilogue::Bias { b, relu };
                let w = (w, 1, sh.n_in);
                kernels::dense(q, input, sh.n_in, out, sh.n_out, stride, rows, w, epi);
                continue;
            }
            faer::linalg::matmul::matmul(
                view_mut(out, rows, sh.n_out, stride),
                Accum::Replace,
                view(input, rows, sh.n_in, stride),
                MatRef::from_column_major_slice(w, sh.n_in, sh.n_out),
                1.0,
                Par::Seq,
            );
            for (j, &bj) in b.iter().enumerate() {
                for v in &mut out[j * stride..j * stride + rows] {
                    *v += bj;
                    // `<` keeps NaN visible (f64::max would turn it into 0).
                    if relu && *v < 0.0 {
                        *v = 0.0;
                    }
                }
            }
        }
    }

    /// Forward pass and softmax over the first `bs` loaded rows; fills the last delta buffer.
    #[inline(always)]
    fn forward_softmax<Q: Quad>(&mut self, q: Q, net: &Flat, bs: usize) -> usize {
        let rows = bs.next_multiple_of(ROW_BLOCK);
        self.forward(q, net, rows);
        let n_out = net.shapes[net.shapes.len() - 1].n_out;
        kernels::softmax_grad(
            q,
            self.acts.last().expect("at least one layer"),
            self.deltas.last_mut().expect("at least one layer"),
            n_out,
            self.stride,
            rows,
            &self.yb,
            bs,
            &mut self.row_max,
            &mut self.row_sum,
        );
        rows
    }

    /// Sum of the cross-entropies of the first `bs` loaded rows (one `ln` per row).
    #[inline(always)]
    fn loss<Q: Quad>(&mut self, q: Q, net: &Flat, bs: usize) -> f64 {
        self.forward_softmax(q, net, bs);
        let logits = self.acts.last().expect("at least one layer");
        (0..bs)
            .map(|i| {
                let y = usize::from(self.yb[i]);
                self.row_sum[i].ln() + self.row_max[i] - logits[y * self.stride + i]
            })
            .sum()
    }

    /// Forward and backward pass over the first `bs` loaded rows: fills `grads` with the
    /// gradient of `mean cross-entropy + l2 / 2 * sum(w^2)`.
    #[inline(always)]
    fn gradient<Q: Quad>(&mut self, q: Q, net: &Flat, bs: usize, l2: f64) {
        let rows = self.forward_softmax(q, net, bs);
        let stride = self.stride;
        for k in (0..net.shapes.len()).rev() {
            let sh = net.shapes[k];
            let (w, _) = net.layer(k);
            let input: &[f64] = if k == 0 { &self.xb } else { &self.acts[k - 1] };
            let (lower, upper) = self.deltas.split_at_mut(k);
            let delta = &upper[0];
            let (gw, gb) = self.grads[sh.w..sh.b + sh.n_out].split_at_mut(sh.b - sh.w);
            if sh.narrow {
                let (n_in, n_out) = (sh.n_in, sh.n_out);
                kernels::weight_grad(q, input, n_in, delta, n_out, stride, rows, w, l2, gw);
            } else {
                faer::linalg::matmul::matmul(
                    MatMut::from_column_major_slice_mut(gw, sh.n_in, sh.n_out),
                    Accum::Replace,
                    view(input, rows, sh.n_in, stride).transpose(),
                    view(delta, rows, sh.n_out, stride),
                    1.0,
                    Par::Seq,
                );
                for (g, &wv) in gw.iter_mut().zip(w) {
                    *g = l2.mul_add(wv, *g);
                }
            }
            kernels::bias_grad(q, delta, stride, rows, gb);
            if k == 0 {
                continue;
            }
            let below = &mut lower[k - 1];
            let act = &self.acts[k - 1];
            if sh.narrow {
                let epi = Epilogue::Mask { act };
                let w = (w, sh.n_in, 1);
                kernels::dense(q, delta, sh.n_out, below, sh.n_in, stride, rows, w, epi);
                continue;
            }
            faer::linalg::matmul::matmul(
                view_mut(below, rows, sh.n_in, stride),
                Accum::Replace,
                view(delta, rows, sh.n_out, stride),
                MatRef::from_column_major_slice(w, sh.n_in, sh.n_out).transpose(),
                1.0,
                Par::Seq,
            );
            // ReLU derivative: pass the gradient only where the activation was positive.
            for p in 0..sh.n_in {
                let a = &act[p * stride..p * stride + rows];
                for (d, &av) in below[p * stride..p * stride + rows].iter_mut().zip(a) {
                    // A select, not a branch: the sign pattern is random.
                    *d = if av <= 0.0 { 0.0 } else { *d };
                }
            }
        }
    }
}

/// Adam moment estimates and step counter, in the layout of [`Flat::params`].
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    /// `beta1^t` and `beta2^t`, kept as running products (no `powi`).
    beta1_t: f64,
    beta2_t: f64,
}

impl Adam {
    fn new(len: usize) -> Adam {
        Adam {
            m: vec![0.0; len],
            v: vec![0.0; len],
            beta1_t: 1.0,
            beta2_t: 1.0,
        }
    }

    #[inline(always)]
    fn step(&mut self, params: &mut [f64], grads: &[f64], cfg: &TrainConfig) {
        self.beta1_t *= cfg.beta1;
        self.beta2_t *= cfg.beta2;
        let h = AdamStep {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.epsilon,
            lr_corr1: cfg.learning_rate / (1.0 - self.beta1_t),
            corr2: 1.0 / (1.0 - self.beta2_t),
        };
        h.apply(params, &mut self.m, &mut self.v, grads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_data(n: usize, d: usize, classes: usize, seed: u64) -> Dataset {
        let mut r = rng::chacha(seed, 9);
        let x = Mat::from_fn(n, d, |_, _| 2.0 * rng::unit_f64(&mut r) - 1.0);
        let y = (0..n).map(|i| (i % classes) as u8).collect();
        Dataset::new(x, y, classes).unwrap()
    }

    /// Loss including the L2 term, through the public forward pass.
    fn full_loss(mlp: &Mlp, data: &Dataset, l2: f64) -> f64 {
        let z = mlp.forward(data.x.as_ref());
        let mut loss = 0.0;
        for i in 0..data.len() {
            let m = (0..z.ncols())
                .map(|j| z[(i, j)])
                .fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..z.ncols()).map(|j| (z[(i, j)] - m).exp()).sum();
            loss += s.ln() + m - z[(i, usize::from(data.y[i]))];
        }
        let w2: f64 = mlp
            .layers
            .iter()
            .map(|l| {
                (0..l.inputs())
                    .flat_map(|i| (0..l.outputs()).map(move |j| l.w[(i, j)] * l.w[(i, j)]))
                    .sum::<f64>()
            })
            .sum();
        loss / data.len() as f64 + 0.5 * l2 * w2
    }

    /// `mlp` in the flat layout, with every layer on the narrow kernels or on faer.
    fn flat(mlp: &Mlp, narrow: bool) -> Flat {
        let mut net = Flat::new(mlp);
        for s in &mut net.shapes {
            s.narrow = narrow;
        }
        net
    }

    /// The gradient of one batch holding all of `data`, computed as in training (through
    /// `kernels::dispatch`) if `dispatch`, else with `kernels::Portable`.
    fn batch_gradient(net: &Flat, data: &Dataset, l2: f64, dispatch: bool) -> Vec<f64> {
        struct Grad<'a>(&'a mut Workspace, &'a Flat, usize, f64);
        impl QuadOp for Grad<'_> {
            type Output = ();
            #[inline(always)]
            fn run<Q: Quad>(self, q: Q) {
                self.0.gradient(q, self.1, self.2, self.3);
            }
        }
        let mut ws = Workspace::new(net, data.len());
        let rows: Vec<u32> = (0..data.len() as u32).collect();
        ws.load(&row_major(data), &data.y, &rows);
        let op = Grad(&mut ws, net, data.len(), l2);
        if dispatch {
            kernels::dispatch(op);
        } else {
            op.run(kernels::Portable);
        }
        ws.grads
    }

    #[test]
    fn backprop_matches_finite_differences() {
        let data = tiny_data(7, 4, 3, 1);
        let l2 = 0.03;
        let mut mlp = Mlp::new_he(&[4, 5, 4, 3], 2);
        for (k, l) in mlp.layers.iter_mut().enumerate() {
            for (j, b) in l.b.iter_mut().enumerate() {
                *b = 0.1 * (k as f64 + 1.0) - 0.05 * j as f64;
            }
        }
        for narrow in [true, false] {
            let net = flat(&mlp, narrow);
            let grads = batch_gradient(&net, &data, l2, true);
            let h = 1e-6;
            let mut worst: f64 = 0.0;
            for k in 0..mlp.layers.len() {
                let (ni, no) = (mlp.layers[k].inputs(), mlp.layers[k].outputs());
                for i in 0..=ni {
                    for j in 0..no {
                        // i == ni stands for the bias of output j.
                        let param = |m: &mut Mlp, v: Option<f64>| -> f64 {
                            let p = if i == ni {
                                &mut m.layers[k].b[j]
                            } else {
                                &mut m.layers[k].w[(i, j)]
                            };
                            if let Some(v) = v {
                                *p = v;
                            }
                            *p
                        };
                        let orig = param(&mut mlp, None);
                        param(&mut mlp, Some(orig + h));
                        let up = full_loss(&mlp, &data, l2);
                        param(&mut mlp, Some(orig - h));
                        let down = full_loss(&mlp, &data, l2);
                        param(&mut mlp, Some(orig));
                        let numeric = (up - down) / (2.0 * h);
                        let sh = net.shapes[k];
                        let analytic = if i == ni {
                            grads[sh.b + j]
                        } else {
                            grads[sh.w + j * ni + i]
                        };
                        let err =
                            (numeric - analytic).abs() / (1e-6 + numeric.abs().max(analytic.abs()));
                        worst = worst.max(err);
                    }
                }
            }
            assert!(
                worst < 1e-5,
                "narrow {narrow}: worst relative error {worst}"
            );
        }
    }

    #[test]
    fn narrow_kernels_agree_with_faer_and_do_not_depend_on_the_instruction_set() {
        // 21 rows: two full row blocks plus five padding rows.
        let data = tiny_data(21, 9, 5, 4);
        let mlp = Mlp::new_he(&[9, 12, 7, 5], 6);
        let narrow = batch_gradient(&flat(&mlp, true), &data, 0.01, true);
        let wide = batch_gradient(&flat(&mlp, false), &data, 0.01, true);
        for (a, b) in narrow.iter().zip(&wide) {
            assert!((a - b).abs() < 1e-13 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // The kernels use only correctly rounded operations in a fixed order: the code compiled
        // for the CPU's best instruction set gives the bits of the portable code.
        let baseline = batch_gradient(&flat(&mlp, true), &data, 0.01, false);
        assert_eq!(
            narrow.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            baseline.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn workspace_loss_matches_reference() {
        let data = tiny_data(9, 3, 4, 5);
        let mlp = Mlp::new_he(&[3, 6, 4], 8);
        let reference = full_loss(&mlp, &data, 0.0);
        for narrow in [true, false] {
            let net = flat(&mlp, narrow);
            let mut ws = Workspace::new(&net, 4);
            let got = kernels::dispatch(MeanLoss {
                net: &net,
                data: &data,
                row_major: &row_major(&data),
                ws: &mut ws,
            });
            assert!((got - reference).abs() < 1e-12, "{got} vs {reference}");
        }
        assert_eq!(flat(&mlp, true).to_mlp(), mlp);
    }

    #[test]
    fn training_reduces_loss_and_is_deterministic() {
        let data = tiny_data(50, 4, 2, 3);
        let cfg = TrainConfig {
            hidden: vec![8],
            epochs: 30,
            batch_size: 16,
            learning_rate: 1e-2,
            ..TrainConfig::digits_default()
        };
        let a = train(&cfg, &data).unwrap();
        let b = train(&cfg, &data).unwrap();
        assert_eq!(a.final_loss.to_bits(), b.final_loss.to_bits());
        assert_eq!(a.mlp, b.mlp);
        let untrained = full_loss(&Mlp::new_he(&cfg.sizes_for(&data), cfg.seed), &data, 0.0);
        assert!(a.final_loss < untrained, "{} !< {untrained}", a.final_loss);
        let other = train(&TrainConfig { seed: 99, ..cfg }, &data).unwrap();
        assert_ne!(other.mlp, a.mlp);
    }

    #[test]
    fn validate_names_every_problem() {
        assert!(TrainConfig::digits_default().validate().is_ok());
        let one = TrainConfig {
            learning_rate: f64::NAN,
            ..TrainConfig::digits_default()
        };
        let msg = one.validate().unwrap_err().to_string();
        assert!(
            msg.contains("learning_rate") && msg.contains("NaN") && msg.contains("> 0"),
            "{msg}"
        );
        let many = TrainConfig {
            hidden: vec![3, 0],
            epochs: 0,
            batch_size: 0,
            learning_rate: -1.0,
            beta1: 1.0,
            beta2: f64::INFINITY,
            epsilon: 0.0,
            l2: -0.5,
            seed: 0,
        };
        match many.validate() {
            Err(NnError::InvalidConfigs { problems }) => {
                let keys: Vec<&str> = problems
                    .iter()
                    .map(|p| match p {
                        NnError::InvalidConfig { key, .. } => *key,
                        other => panic!("unexpected {other}"),
                    })
                    .collect();
                assert_eq!(
                    keys,
                    [
                        "hidden",
                        "epochs",
                        "batch_size",
                        "learning_rate",
                        "beta1",
                        "beta2",
                        "epsilon",
                        "l2"
                    ]
                );
            }
            other => panic!("expected InvalidConfigs, got {other:?}"),
        }
        assert!(train(&many, &tiny_data(4, 2, 2, 0)).is_err());
    }

    #[test]
    fn rejects_unusable_data() {
        let cfg = TrainConfig {
            epochs: 1,
            ..TrainConfig::digits_default()
        };
        let empty = Dataset {
            x: Mat::zeros(0, 3),
            y: vec![],
            n_classes: 2,
        };
        assert!(matches!(train(&cfg, &empty), Err(NnError::Dataset { .. })));
        let bad_label = Dataset {
            x: Mat::zeros(2, 3),
            y: vec![0, 5],
            n_classes: 2,
        };
        assert!(matches!(
            train(&cfg, &bad_label),
            Err(NnError::Dataset { .. })
        ));
        let short = Dataset {
            x: Mat::zeros(2, 3),
            y: vec![0],
            n_classes: 2,
        };
        assert!(matches!(
            train(&cfg, &short),
            Err(NnError::ShapeMismatch { .. })
        ));
        let mut nan = tiny_data(4, 2, 2, 0);
        nan.x[(1, 1)] = f64::NAN;
        assert!(train(&cfg, &nan).is_err());
    }
}

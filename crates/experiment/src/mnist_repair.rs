//! The MNIST repair study (`[mnist-repair]`, Li et al. section V-A and Fig. 1).
//!
//! The 784-256-10 network is trained (or read from the cache), its first layer `W` (784
//! inputs x 256 outputs, array layout: one row per input) is projected onto a real-number
//! code in groups of `group-inputs` input rows (256 x 14 = 3584 weights per group by default),
//! with `K` Gaussian checks per group and `L` output checks `W c_l = 0` (the all-ones check
//! first: the last hidden unit is minus the sum of the others). The biases are not coded. Per
//! error level and trial:
//!
//! 1. **Memory errors**: `errors` weights of `W`, chosen uniformly without replacement among
//!    all 200,704, get `N(0, error-std)` added. Each group's syndrome `M_g vec(E_g)` is decoded
//!    ([`xbar_correct::repair`]); only certified (`Recovered`) corrections are applied.
//! 2. **Datapath errors**: every test image gets its own `datapath-errors`-sparse error with
//!    `N(0, datapath-std)` values on the 256 pre-activations (a transient fault of the analog
//!    datapath). After the memory correction, the online checks `d = C (z - b)` of each image
//!    see `C e` (plus `C (E - E_hat) x` from any memory error left); the same decoders locate
//!    `e` from `d` on the `L x 256` matrix `C`, applied only when certified. With `L = 1` a
//!    datapath error is detected but cannot be located (`reference/ecc-math.md` A.5): the
//!    certificate fails and nothing is applied.
//! 3. Test accuracy without correction, with the memory correction only, and with both.
//!
//! Everything a trial draws comes from its own ChaCha8 stream (experiment seed, stream from
//! the level and the trial); trials run in parallel and are sequential inside, so the rows
//! are identical for any thread count.

use std::path::Path;
use std::time::Instant;

use faer::{Accum, Mat, MatRef, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xbar_correct::repair::{Decoder, Status, decode_with, sparse_error, trial_success};
use xbar_ecc::rnecc::{
    CodeConfig, FinetuneConfig, Optimizer, Type2, WeightCode, finetune, project_layer,
};
use xbar_nn::mnist::load_mnist;
use xbar_nn::{Dataset, Mlp, argmax_rows, train_cached};

use crate::{Driver, ExperimentError, MNIST_HIDDEN, MnistRepairSpec, Progress, Study, fnv1a64};

/// Accuracy and code of the network before any error is injected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MnistBaseline {
    /// Training images used.
    pub train_images: u32,
    /// Test images classified.
    pub test_images: u32,
    /// Test accuracy of the trained (uncoded) network.
    pub software_test: f64,
    /// Training accuracy of the trained network.
    pub software_train: f64,
    /// Mean training cross-entropy after the last epoch.
    pub final_loss: f64,
    /// The weights came from the cache.
    pub weights_from_cache: bool,
    /// The training cache key.
    pub cache_key: String,
    /// Test accuracy right after projecting `W` onto the code.
    pub projected_test: f64,
    /// Test accuracy of the coded network (after fine-tuning, if any): the clean reference.
    pub coded_test: f64,
    /// `||W_coded - W||_F / ||W||_F`.
    pub projection_change: f64,
    /// Code groups.
    pub groups: u32,
    /// Gaussian checks per group `K`.
    pub type1_per_group: u32,
    /// Output checks `L`.
    pub output_checks: u32,
    /// Constraints per full group, `K + L * group-inputs`.
    pub constraints_per_group: u32,
    /// Code rate: free weights / weights.
    pub rate: f64,
    /// RMS of the coded weights `W`.
    pub weight_rms: f64,
    /// Largest `|W|` of the coded weights.
    pub weight_max: f64,
}

/// Seconds spent per stage of the MNIST study.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MnistTimings {
    /// Reading the four files.
    pub data_s: f64,
    /// Training (or loading the cached weights).
    pub train_s: f64,
    /// Building the code (one QR per group), projecting, the group check matrices.
    pub code_s: f64,
    /// Projected fine-tuning.
    pub finetune_s: f64,
    /// Every trial: injection, decoding, accuracies.
    pub repair_s: f64,
    /// Total decoding time of the memory-error decoders over all trials and groups (CPU
    /// seconds, summed over threads).
    pub memory_decode_cpu_s: f64,
    /// Total decoding time of the datapath decoder (CPU seconds).
    pub datapath_decode_cpu_s: f64,
}

/// The trained and coded network with its code, ready for trials.
pub struct MnistPrepared {
    /// Training images used.
    pub train: Dataset,
    /// Test images.
    pub test: Dataset,
    /// The coded network (first layer on the code).
    pub mlp: Mlp,
    /// The code of the first layer (784 x 256, no bias row).
    pub code: WeightCode,
    /// Check matrix `M_g` of every group (`p_g x N_g`).
    pub group_m: Vec<Mat<f64>>,
    /// `C`, the `L x 256` output checks.
    pub checks: Mat<f64>,
    /// Clean pre-activations `X W + b` of the test images (`n x 256`).
    pub z0: Mat<f64>,
    /// Baseline numbers.
    pub baseline: MnistBaseline,
    /// Stage timings.
    pub timings: MnistTimings,
}

/// One row of `mnist-repair.csv`: a (level, trial) run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MnistRow {
    /// Weight errors injected (the level).
    pub errors: u32,
    /// Trial.
    pub trial: u32,
    /// Groups with at least one error.
    pub groups_with_errors: u32,
    /// Most errors in one group.
    pub max_group_errors: u32,
    /// Groups whose correction was certified and applied.
    pub recovered: u32,
    /// Groups with a best-effort answer (not applied).
    pub partial: u32,
    /// Groups the decoder gave up on (not applied).
    pub uncorrectable: u32,
    /// Certified groups whose correction was nevertheless wrong.
    pub miscorrected: u32,
    /// Certified groups answered by the single-error decoder.
    pub by_single_error: u32,
    /// ... by orthogonal matching pursuit.
    pub by_omp: u32,
    /// ... by the L1 homotopy.
    pub by_homotopy: u32,
    /// ... by Clarabel.
    pub by_clarabel: u32,
    /// Weights still wrong after the memory correction (`|E - E_hat| > 1e-6 max(1, |E|)`).
    pub errors_left: u32,
    /// Test accuracy with the errors, no correction.
    pub accuracy_faulty: f64,
    /// Test accuracy with the memory correction only (datapath errors left).
    pub accuracy_memory_repaired: f64,
    /// Test accuracy with memory and datapath corrections.
    pub accuracy_repaired: f64,
    /// Fraction of images whose output checks fired.
    pub datapath_detected: f64,
    /// Fraction of images whose datapath error was located and corrected (certified).
    pub datapath_corrected: f64,
    /// The run's ChaCha stream id (hex).
    pub stream: String,
}

fn nn(e: xbar_nn::NnError) -> ExperimentError {
    ExperimentError::Nn(e)
}

fn ecc(e: xbar_ecc::EccError) -> ExperimentError {
    ExperimentError::Ecc(e.to_string())
}

fn first(data: Dataset, n: usize) -> Dataset {
    if n >= data.len() {
        data
    } else {
        let idx: Vec<u32> = (0..n as u32).collect();
        data.select(&idx)
    }
}

/// The `L x 256` output checks: the all-ones vector, then `L - 1` Gaussian vectors (ChaCha8
/// `seed`, stream `u64::MAX - 1`).
fn check_vectors(l: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX - 1);
    let mut out = vec![vec![1.0; MNIST_HIDDEN]];
    for _ in 1..l {
        out.push(
            (0..MNIST_HIDDEN)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect(),
        );
    }
    out
}

/// Test accuracy of the network whose first-layer pre-activations are `z` (`n x 256`).
fn accuracy_from(z: MatRef<'_, f64>, mlp: &Mlp, labels: &[u8]) -> f64 {
    let out = &mlp.layers[1];
    let h = Mat::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)].max(0.0));
    let mut logits = Mat::<f64>::zeros(z.nrows(), out.outputs());
    faer::linalg::matmul::matmul(
        logits.as_mut(),
        Accum::Replace,
        h.as_ref(),
        out.w.as_ref(),
        1.0,
        Par::Seq,
    );
    for (j, &b) in out.b.iter().enumerate() {
        for v in logits.col_as_slice_mut(j) {
            *v += b;
        }
    }
    let pred = argmax_rows(logits.as_ref());
    let hits = pred.iter().zip(labels).filter(|(p, y)| p == y).count();
    hits as f64 / labels.len().max(1) as f64
}

/// Loads MNIST, trains (or loads) the network, codes its first layer and, if asked,
/// fine-tunes it.
pub fn prepare_mnist(
    seed: u64,
    spec: &MnistRepairSpec,
    cache_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<MnistPrepared, ExperimentError> {
    let mut timings = MnistTimings::default();
    let t = Instant::now();
    let (train, test) = load_mnist(&spec.mnist_dir).map_err(nn)?;
    let train = first(train, spec.train_images);
    let test = first(test, spec.test_images);
    timings.data_s = t.elapsed().as_secs_f64();

    progress.begin("train", 1);
    let t = Instant::now();
    let cache_key = xbar_nn::cache_key(&spec.train, &train);
    let (report, from_cache) = train_cached(&spec.train, &train, cache_dir).map_err(nn)?;
    timings.train_s = t.elapsed().as_secs_f64();
    progress.advance(1);
    progress.end();
    let base = report.mlp;

    let t = Instant::now();
    let type2 = if spec.output_checks == 1 {
        Type2::AllOnes
    } else {
        Type2::Explicit(check_vectors(spec.output_checks, seed))
    };
    let code = WeightCode::new(
        base.n_inputs(),
        MNIST_HIDDEN,
        &CodeConfig {
            group_rows: spec.group_inputs,
            type1_per_group: spec.type1_per_group,
            type2,
            seed,
        },
    )
    .map_err(ecc)?;
    let mut mlp = base.clone();
    let projection_change = project_layer(&mut mlp, 0, &code).map_err(ecc)?;
    let projected_test = mlp.accuracy(&test);
    let group_m: Vec<Mat<f64>> = (0..code.groups())
        .into_par_iter()
        .map(|g| code.constraint_matrix(g))
        .collect();
    let checks = code.checks().to_owned();
    timings.code_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    if spec.finetune_epochs > 0 {
        progress.begin("fine-tune", 1);
        let ft = FinetuneConfig {
            epochs: spec.finetune_epochs,
            batch_size: 128,
            learning_rate: spec.finetune_learning_rate,
            optimizer: Optimizer::Adam {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
            l2: spec.train.l2,
            seed,
            train_other_layers: true,
        };
        finetune(&mut mlp, 0, &code, &train, &ft).map_err(ecc)?;
        progress.advance(1);
        progress.end();
    }
    timings.finetune_s = t.elapsed().as_secs_f64();

    let w = &mlp.layers[0].w;
    let (mut sq, mut wmax) = (0.0f64, 0.0f64);
    for j in 0..w.ncols() {
        for &v in w.col_as_slice(j) {
            sq += v * v;
            wmax = wmax.max(v.abs());
        }
    }
    let mut z0 = Mat::<f64>::zeros(test.len(), MNIST_HIDDEN);
    faer::linalg::matmul::matmul(
        z0.as_mut(),
        Accum::Replace,
        test.x.as_ref(),
        w.as_ref(),
        1.0,
        Par::Seq,
    );
    for (j, &b) in mlp.layers[0].b.iter().enumerate() {
        for v in z0.col_as_slice_mut(j) {
            *v += b;
        }
    }
    let baseline = MnistBaseline {
        train_images: train.len() as u32,
        test_images: test.len() as u32,
        software_test: base.accuracy(&test),
        software_train: base.accuracy(&train),
        final_loss: report.final_loss,
        weights_from_cache: from_cache,
        cache_key,
        projected_test,
        coded_test: accuracy_from(z0.as_ref(), &mlp, &test.y),
        projection_change,
        groups: code.groups() as u32,
        type1_per_group: spec.type1_per_group as u32,
        output_checks: spec.output_checks as u32,
        constraints_per_group: spec.constraints_per_group() as u32,
        rate: code.rate(),
        weight_rms: (sq / (w.nrows() * w.ncols()) as f64).sqrt(),
        weight_max: wmax,
    };
    Ok(MnistPrepared {
        train,
        test,
        mlp,
        code,
        group_m,
        checks,
        z0,
        baseline,
        timings,
    })
}

/// The stream of run (`errors`, `trial`).
pub fn mnist_stream(errors: usize, trial: usize) -> u64 {
    fnv1a64(format!("mnist-repair/errors={errors}/trial={trial}").as_bytes())
}

/// One (level, trial) run: its row and the CPU seconds of its decoders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MnistOutcome {
    /// The row.
    pub row: MnistRow,
    /// Memory-error decoding seconds.
    pub memory_s: f64,
    /// Datapath decoding seconds.
    pub datapath_s: f64,
}

/// The MNIST repair study as a [`Study`]: one job per (error level, trial) on the prepared
/// coded network.
pub struct MnistStudy<'a> {
    seed: u64,
    spec: &'a MnistRepairSpec,
    prep: &'a MnistPrepared,
}

impl<'a> MnistStudy<'a> {
    /// The trials of `spec` on `prep`.
    pub fn new(seed: u64, spec: &'a MnistRepairSpec, prep: &'a MnistPrepared) -> MnistStudy<'a> {
        MnistStudy { seed, spec, prep }
    }
}

impl Study for MnistStudy<'_> {
    /// (weight errors, trial).
    type Job = (usize, usize);
    type Output = MnistOutcome;
    type Scratch = ();

    fn name(&self) -> &'static str {
        "mnist-repair"
    }
    fn jobs(&self) -> Vec<(usize, usize)> {
        self.spec
            .errors
            .iter()
            .flat_map(|&e| (0..self.spec.trials).map(move |t| (e, t)))
            .collect()
    }
    fn key(&self, &(e, t): &(usize, usize)) -> u64 {
        mnist_stream(e, t)
    }
    fn cost(&self, &(e, _): &(usize, usize)) -> f64 {
        1.0 + e as f64
    }
    fn scratch(&self) {}
    fn run(&self, &(e, t): &(usize, usize), _: &mut ()) -> Result<MnistOutcome, ExperimentError> {
        one_run(self.seed, self.spec, self.prep, e, t)
    }
}

/// Runs every (level, trial) in parallel on the current rayon pool, without a journal; rows
/// come in level, then trial order and are identical for any thread count.
pub fn run_mnist_repair(
    seed: u64,
    spec: &MnistRepairSpec,
    prep: &mut MnistPrepared,
    progress: &dyn Progress,
) -> Result<Vec<MnistRow>, ExperimentError> {
    let t = Instant::now();
    let outcomes = Driver::in_memory(progress).run(&MnistStudy::new(seed, spec, prep))?;
    prep.timings.repair_s = t.elapsed().as_secs_f64();
    Ok(mnist_rows(&mut prep.timings, outcomes))
}

/// The rows of the outcomes, with their decoding seconds added to `timings`.
pub fn mnist_rows(timings: &mut MnistTimings, outcomes: Vec<MnistOutcome>) -> Vec<MnistRow> {
    let (mut mem_s, mut dp_s) = (0.0, 0.0);
    let rows = outcomes
        .into_iter()
        .map(|o| {
            mem_s += o.memory_s;
            dp_s += o.datapath_s;
            o.row
        })
        .collect();
    timings.memory_decode_cpu_s = mem_s;
    timings.datapath_decode_cpu_s = dp_s;
    rows
}

fn one_run(
    seed: u64,
    spec: &MnistRepairSpec,
    p: &MnistPrepared,
    level: usize,
    trial: usize,
) -> Result<MnistOutcome, ExperimentError> {
    let stream = mnist_stream(level, trial);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let n_w = spec.weights();
    let cols = MNIST_HIDDEN;
    // Memory errors: positions uniform without replacement over W (array layout, index
    // input * 256 + output), values N(0, error-std).
    let dense = sparse_error(n_w, level, &mut rng);
    let errs: Vec<(usize, f64)> = dense
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, &v)| (i, v * spec.error_std))
        .collect();
    drop(dense);

    // Decode every group with errors.
    let mut row = MnistRow {
        errors: level as u32,
        trial: trial as u32,
        groups_with_errors: 0,
        max_group_errors: 0,
        recovered: 0,
        partial: 0,
        uncorrectable: 0,
        miscorrected: 0,
        by_single_error: 0,
        by_omp: 0,
        by_homotopy: 0,
        by_clarabel: 0,
        errors_left: 0,
        accuracy_faulty: 0.0,
        accuracy_memory_repaired: 0.0,
        accuracy_repaired: 0.0,
        datapath_detected: 0.0,
        datapath_corrected: 0.0,
        stream: format!("{stream:016x}"),
    };
    let (method, cfg) = spec.decoder.repair_config(spec.design_errors);
    let group_len = spec.group_inputs * cols;
    // Residual errors E - E_hat as (weight index, value).
    let mut residual: Vec<(usize, f64)> = Vec::new();
    let mut memory_s = 0.0;
    let mut k = 0;
    while k < errs.len() {
        let g = errs[k].0 / group_len;
        let mut end = k;
        while end < errs.len() && errs[end].0 / group_len == g {
            end += 1;
        }
        let in_group = &errs[k..end];
        k = end;
        row.groups_with_errors += 1;
        row.max_group_errors = row.max_group_errors.max(in_group.len() as u32);
        let m = &p.group_m[g];
        let n_g = m.ncols();
        let base = g * group_len;
        let mut e_true = vec![0.0; n_g];
        let mut sigma = vec![0.0; m.nrows()];
        for &(i, v) in in_group {
            let local = i - base;
            e_true[local] = v;
            for (s, &c) in sigma.iter_mut().zip(m.col_as_slice(local)) {
                *s += c * v;
            }
        }
        let start = Instant::now();
        let d = decode_with(method, m.as_ref(), &sigma, &cfg)?;
        memory_s += start.elapsed().as_secs_f64();
        match d.status {
            Status::Recovered => {
                row.recovered += 1;
                match d.decoder {
                    Decoder::SingleError => row.by_single_error += 1,
                    Decoder::Omp => row.by_omp += 1,
                    Decoder::Homotopy => row.by_homotopy += 1,
                    Decoder::Clarabel => row.by_clarabel += 1,
                    Decoder::Erasure => {}
                }
                if !trial_success(&d.e, &e_true) {
                    row.miscorrected += 1;
                }
            }
            Status::Partial => row.partial += 1,
            Status::Uncorrectable => row.uncorrectable += 1,
        }
        let fix = d.correction();
        for (local, &v) in e_true.iter().enumerate() {
            let r = v - fix.map_or(0.0, |f| f[local]);
            if r != 0.0 {
                residual.push((base + local, r));
                if r.abs() > 1e-6 * v.abs().max(1.0) {
                    row.errors_left += 1;
                }
            }
        }
    }

    // Pre-activations: clean + X E (+ datapath errors).
    let x = p.test.x.as_ref();
    let n = x.nrows();
    let add = |z: &mut Mat<f64>, list: &[(usize, f64)]| {
        for &(i, v) in list {
            let (input, out) = (i / cols, i % cols);
            let xc = x
                .col(input)
                .try_as_col_major()
                .expect("column-major")
                .as_slice();
            for (zv, &xv) in z.col_as_slice_mut(out).iter_mut().zip(xc) {
                *zv += v * xv;
            }
        }
    };
    let mut z_faulty = p.z0.clone();
    add(&mut z_faulty, &errs);
    let mut z_mem = p.z0.clone();
    add(&mut z_mem, &residual);
    // Datapath errors, one sparse vector per image.
    if spec.datapath_errors > 0 {
        for r in 0..n {
            let e = sparse_error(cols, spec.datapath_errors, &mut rng);
            for (j, &v) in e.iter().enumerate() {
                if v != 0.0 {
                    z_faulty[(r, j)] += v * spec.datapath_std;
                    z_mem[(r, j)] += v * spec.datapath_std;
                }
            }
        }
    }
    // Online checks and datapath decoding, per image.
    let b = &p.mlp.layers[0].b;
    let c = p.checks.as_ref();
    let l = c.nrows();
    let c_norm: Vec<f64> = (0..l)
        .map(|i| (0..cols).map(|j| c[(i, j)] * c[(i, j)]).sum::<f64>().sqrt())
        .collect();
    // The datapath problem is tiny (L x 256): the same decoder, without the LP fallback.
    let (dp_method, mut dp_cfg) = spec.decoder.repair_config(spec.datapath_errors.max(1));
    dp_cfg.clarabel = false;
    let mut z_full = z_mem.clone();
    let (mut detected, mut corrected) = (0usize, 0usize);
    let mut zr = vec![0.0; cols];
    let mut syn = vec![0.0; l];
    let mut datapath_s = 0.0;
    for r in 0..n {
        let mut norm = 0.0;
        for j in 0..cols {
            zr[j] = z_mem[(r, j)] - b[j];
            norm += zr[j] * zr[j];
        }
        let scale = norm.sqrt().max(1.0);
        let mut fired = false;
        for i in 0..l {
            let mut s = 0.0;
            for j in 0..cols {
                s += c[(i, j)] * zr[j];
            }
            syn[i] = s;
            fired |= s.abs() > 1e-9 * c_norm[i] * scale;
        }
        if !fired {
            continue;
        }
        detected += 1;
        let start = Instant::now();
        let dec = decode_with(dp_method, c, &syn, &dp_cfg)?;
        datapath_s += start.elapsed().as_secs_f64();
        if let Some(fix) = dec.correction() {
            corrected += 1;
            for &j in &dec.support {
                z_full[(r, j)] -= fix[j];
            }
        }
    }
    let y = &p.test.y;
    row.accuracy_faulty = accuracy_from(z_faulty.as_ref(), &p.mlp, y);
    row.accuracy_memory_repaired = accuracy_from(z_mem.as_ref(), &p.mlp, y);
    row.accuracy_repaired = accuracy_from(z_full.as_ref(), &p.mlp, y);
    row.datapath_detected = detected as f64 / n.max(1) as f64;
    row.datapath_corrected = corrected as f64 / n.max(1) as f64;
    Ok(MnistOutcome {
        row,
        memory_s,
        datapath_s,
    })
}

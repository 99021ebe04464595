//! Side-by-side benchmarks behind `xbar bench`: the default sweep against a bare GEMM of
//! exactly the flops it does, and the MLP post-corrector on the paper's pooled samples.
//!
//! Both sides of a ratio run in the same process, on the same thread pool, one after the
//! other in every repeat; the reported figure is the median over repeats, after one warm-up,
//! with the process CPU time beside the wall time (on a loaded machine the CPU time is the
//! steadier of the two).

use std::fmt;
use std::time::Instant;

use cpu_time::ProcessTime;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use serde::Serialize;
use xbar_correct::repair::{
    GROUP_N, Method, RepairConfig, Status, decode_with, export_lp, group_instance, k_for,
    statistical_dimension, trial_success,
};
use xbar_correct::{Architecture, CircuitSamples, Corrector, CorrectorConfig, Protocol, split};

use crate::runner::{gemm_work, layer_work};
use crate::{
    ExperimentError, NoProgress, Prepared, Scenario, SweepStudy, circuit_samples, run_scenarios,
};

/// Wall and process CPU time of one measured piece of work, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Elapsed wall-clock time.
    pub wall_s: f64,
    /// CPU time of the whole process over the same interval (all threads).
    pub cpu_s: f64,
}

impl Timing {
    /// Times `f` once.
    pub fn of<T>(f: impl FnOnce() -> T) -> (Timing, T) {
        let (wall, cpu) = (Instant::now(), ProcessTime::now());
        let out = f();
        let t = Timing {
            wall_s: wall.elapsed().as_secs_f64(),
            cpu_s: cpu.elapsed().as_secs_f64(),
        };
        (t, out)
    }

    /// Median of wall and (separately) of CPU times; zero for an empty slice.
    pub fn median(ts: &[Timing]) -> Timing {
        Timing {
            wall_s: median(ts.iter().map(|t| t.wall_s).collect()),
            cpu_s: median(ts.iter().map(|t| t.cpu_s).collect()),
        }
    }
}

/// The median of `v` (the upper middle for an even length; 0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The sweep against a bare faer GEMM of the same useful flops.
#[derive(Clone, Debug, Serialize)]
pub struct SweepBench {
    /// Scenarios in the sweep.
    pub scenarios: usize,
    /// Images per scenario.
    pub images: usize,
    /// Worker threads of the pool both sides ran on.
    pub threads: usize,
    /// Timed repeats (after one warm-up of each side).
    pub repeats: usize,
    /// The sweep (`run_scenarios`), median over repeats.
    pub generation: Timing,
    /// The bare GEMMs of the same work, median over repeats.
    pub gemm: Timing,
    /// Peak resident memory of the process so far (Linux `VmHWM`), in bytes.
    pub peak_rss: Option<u64>,
    /// Useful floating-point operations per repeat (2 per multiply-add): for every scenario,
    /// every image through every layer from its first faulty layer on, bias row included.
    pub flops: f64,
    /// The same without prefix reuse (every layer of every scenario), for reference.
    pub flops_all_layers: f64,
}

impl SweepBench {
    /// `gemm.wall_s / generation.wall_s`: the fraction of the GEMM roofline the sweep reaches.
    pub fn ratio(&self) -> f64 {
        self.gemm.wall_s / self.generation.wall_s
    }

    /// The same ratio in CPU time.
    pub fn ratio_cpu(&self) -> f64 {
        self.gemm.cpu_s / self.generation.cpu_s
    }
}

/// Useful flops of `scenarios` on `prep` (each from its first faulty layer on), and the flops
/// of every layer of every scenario.
fn useful_flops(prep: &Prepared, scenarios: &[Scenario]) -> (f64, f64) {
    let work = layer_work(&prep.net);
    let per_image = |work: usize| 2.0 * work as f64 * prep.data.len() as f64;
    let all: usize = work.iter().sum();
    let run: usize = scenarios.iter().map(|s| gemm_work(&work, s)).sum();
    (per_image(run), per_image(all) * scenarios.len() as f64)
}

/// Bare GEMMs of exactly the sweep's useful work: for each scenario, one product per layer
/// from its first faulty layer on (bias row included), the scenarios in parallel and each
/// product sequential (the runner's parallel structure), one output buffer per worker. A
/// convolution is its im2col GEMM, `(images x reads) x rows` times `rows x cols`, in the
/// circuit's chunks of images, on patches built once (the baseline does not pay for im2col).
pub struct SameFlopGemm {
    n: usize,
    chunk: usize,
    xs: Vec<Mat<f64>>,
    ws: Vec<Mat<f64>>,
    reads: Vec<usize>,
    out_rows: usize,
    max_cols: usize,
}

impl SameFlopGemm {
    /// Inputs and weights of `prep`'s layer shapes (values only need to be finite).
    pub fn new(prep: &Prepared) -> SameFlopGemm {
        let n = prep.data.len();
        let chunk = prep.net.chunk_rows(n);
        let layers = &prep.net.layers;
        let reads: Vec<usize> = layers.iter().map(|l| l.reads()).collect();
        SameFlopGemm {
            n,
            chunk,
            xs: layers
                .iter()
                .map(|l| {
                    Mat::from_fn(chunk * l.reads(), l.rows(), |a, b| {
                        ((a * 7 + b * 3) % 17) as f64 / 16.0
                    })
                })
                .collect(),
            ws: layers
                .iter()
                .map(|l| Mat::from_fn(l.rows(), l.cols(), |a, b| ((a + 2 * b) % 5) as f64 * 1e-4))
                .collect(),
            out_rows: chunk * reads.iter().copied().max().unwrap_or(1),
            reads,
            max_cols: layers.iter().map(|l| l.cols()).max().unwrap_or(1),
        }
    }

    /// The products for `scenarios` in the current rayon pool; returns a checksum.
    pub fn run(&self, scenarios: &[Scenario]) -> f64 {
        scenarios
            .par_iter()
            .map_init(
                || Mat::<f64>::zeros(self.out_rows, self.max_cols),
                |buf, s| {
                    let first = s.layers.first().copied().unwrap_or(0);
                    let mut acc = 0.0;
                    for ((x, w), &reads) in
                        self.xs.iter().zip(&self.ws).zip(&self.reads).skip(first)
                    {
                        let mut start = 0;
                        while start < self.n {
                            let rows = self.chunk.min(self.n - start) * reads;
                            let mut o = buf.as_mut().submatrix_mut(0, 0, rows, w.ncols());
                            faer::linalg::matmul::matmul(
                                o.as_mut(),
                                Accum::Replace,
                                x.as_ref().subrows(0, rows),
                                w.as_ref(),
                                1.0,
                                Par::Seq,
                            );
                            acc += o[(0, 0)];
                            start += self.chunk;
                        }
                    }
                    acc
                },
            )
            .sum()
    }
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`), where Linux
/// reports it.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Times the sweep of `scenarios` against bare GEMMs of exactly its useful flops, in the
/// current rayon pool ([`SameFlopGemm`]), alternating the two in every repeat.
///
/// ```no_run
/// use xbar_experiment::{Experiment, NoProgress, expand, prepare};
/// use xbar_experiment::bench::sweep_bench;
/// let exp = Experiment::default_experiment()?;
/// let prep = prepare(&exp, None, &NoProgress)?;
/// let b = sweep_bench(&prep, &expand(&exp), 3)?;
/// println!("{b}");
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
///
/// # Errors
/// Whatever [`run_scenarios`] returns.
pub fn sweep_bench(
    prep: &Prepared,
    scenarios: &[Scenario],
    repeats: usize,
) -> Result<SweepBench, ExperimentError> {
    let repeats = repeats.max(1);
    let baseline = SameFlopGemm::new(prep);
    let gemms = || baseline.run(scenarios);
    std::hint::black_box(run_scenarios(prep, scenarios, &NoProgress)?);
    std::hint::black_box(gemms());
    let (mut gen_t, mut gemm_t) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let (t, recs) = Timing::of(|| run_scenarios(prep, scenarios, &NoProgress));
        std::hint::black_box(recs?);
        gen_t.push(t);
        let (t, sum) = Timing::of(gemms);
        std::hint::black_box(sum);
        gemm_t.push(t);
    }
    let (flops, flops_all_layers) = useful_flops(prep, scenarios);
    Ok(SweepBench {
        scenarios: scenarios.len(),
        threads: rayon::current_num_threads(),
        repeats,
        images: baseline.n,
        generation: Timing::median(&gen_t),
        gemm: Timing::median(&gemm_t),
        peak_rss: peak_rss(),
        flops,
        flops_all_layers,
    })
}

impl fmt::Display for SweepBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inferences = (self.scenarios * self.images) as f64;
        writeln!(
            f,
            "xbar bench: the sweep ({} scenarios x {} images = {} circuit inferences)",
            self.scenarios, self.images, inferences
        )?;
        writeln!(
            f,
            "threads: {}, repeats: {} (medians after one warm-up; CPU = whole process)",
            self.threads, self.repeats
        )?;
        writeln!(
            f,
            "  sweep:             {:>9.2} ms wall {:>9.2} ms CPU  ({:.2} M inferences/s)",
            1e3 * self.generation.wall_s,
            1e3 * self.generation.cpu_s,
            inferences / self.generation.wall_s / 1e6
        )?;
        writeln!(
            f,
            "  same-flop GEMM:    {:>9.2} ms wall {:>9.2} ms CPU  ({:.2} GFLOP/s over {:.3} GFLOP; \
             prefix reuse: {:.0} % of all layers' {:.3} GFLOP)",
            1e3 * self.gemm.wall_s,
            1e3 * self.gemm.cpu_s,
            self.flops / self.gemm.wall_s / 1e9,
            self.flops / 1e9,
            100.0 * self.flops / self.flops_all_layers,
            self.flops_all_layers / 1e9
        )?;
        writeln!(f, "  CPU-time ratio: {:.3}", self.ratio_cpu())?;
        if let Some(b) = self.peak_rss {
            writeln!(
                f,
                "  peak memory (process, VmHWM): {:.0} MiB",
                b as f64 / (1u64 << 20) as f64
            )?;
        }
        write!(
            f,
            "same-flop GEMM / generation ratio: {:.3}  [target >= 0.5]",
            self.ratio()
        )
    }
}

/// The MLP(10, 10) post-corrector trained on every defect type's pooled samples (the paper
/// protocol), timed, with its test accuracy.
#[derive(Clone, Debug)]
pub struct CorrectorBench {
    /// The samples (kept for an export).
    pub samples: CircuitSamples,
    /// Training sample indices (ascending).
    pub train: Vec<u32>,
    /// Test sample indices (ascending).
    pub test: Vec<u32>,
    /// The configuration trained with.
    pub config: CorrectorConfig,
    /// Architecture name (`MLP(10, 10)`).
    pub architecture: String,
    /// Training time.
    pub train_time: Timing,
    /// Final training loss.
    pub final_loss: f64,
    /// Accuracy of the uncorrected circuit on the test samples.
    pub faulty_accuracy: f64,
    /// Accuracy after the corrector.
    pub corrected_accuracy: f64,
}

/// Trains the post-corrector on the default sweep's samples of `prep` for `epochs`, with
/// scikit-learn's MLPClassifier defaults (Adam, learning rate 1e-3, batch 200, alpha 1e-4).
///
/// # Errors
/// Sweep, split or training failures.
pub fn corrector_bench(
    prep: &Prepared,
    scenarios: &[Scenario],
    epochs: u32,
) -> Result<CorrectorBench, ExperimentError> {
    let samples = circuit_samples(prep, SweepStudy::new(prep, scenarios).outputs(&NoProgress)?)?;
    let protocol = Protocol::Paper {
        holdout: 1000,
        train_fraction: 0.8,
    };
    let splits = split(&samples, &protocol, &prep.is_test, 0)?;
    let pooled = |f: fn(&xbar_correct::TypeSplit) -> &Vec<u32>| {
        let mut v: Vec<u32> = splits
            .per_type
            .iter()
            .flat_map(|(_, s)| f(s).iter().copied())
            .collect();
        v.sort_unstable();
        v
    };
    let (train, test) = (pooled(|s| &s.train), pooled(|s| &s.test));
    let arch = Architecture::new(&[10, 10]);
    let config = CorrectorConfig {
        epochs,
        batch_size: 200,
        learning_rate: 1e-3,
        l2: 1e-4,
        seed: 0,
    };
    let (train_time, c) = Timing::of(|| Corrector::train(&arch, &config, &samples, &train));
    let c = c?;
    let pred = c.predict(&samples, &test);
    let n = test.len() as f64;
    let corrected = test
        .iter()
        .zip(&pred)
        .filter(|&(&i, &p)| samples.label[i as usize] == p);
    let faulty = test
        .iter()
        .filter(|&&i| samples.faulty_prediction(i as usize) == samples.label[i as usize]);
    Ok(CorrectorBench {
        corrected_accuracy: corrected.count() as f64 / n,
        faulty_accuracy: faulty.count() as f64 / n,
        architecture: arch.name(),
        final_loss: c.final_loss,
        samples,
        train,
        test,
        config,
        train_time,
    })
}

impl CorrectorBench {
    /// The samples `idx` as CSV text: the output voltages, then the label, one sample a line
    /// (the files scripts/bench-corrector.sh hands to scikit-learn).
    pub fn csv(&self, idx: &[u32]) -> String {
        let mut buf = String::new();
        for &i in idx {
            let i = i as usize;
            for j in 0..self.samples.v.ncols() {
                buf.push_str(&format!("{},", self.samples.v[(i, j)]));
            }
            buf.push_str(&format!("{}\n", self.samples.label[i]));
        }
        buf
    }

    /// The run's parameters and results as JSON (the script's `xbar.json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "architecture": [10, 10], "epochs": self.config.epochs,
            "batch_size": self.config.batch_size, "learning_rate": self.config.learning_rate,
            "l2": self.config.l2, "train_samples": self.train.len(), "test_samples": self.test.len(),
            "train_seconds": self.train_time.wall_s, "test_accuracy": self.corrected_accuracy,
            "faulty_accuracy": self.faulty_accuracy,
        })
    }
}

impl fmt::Display for CorrectorBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "xbar bench corrector: {} on {} training samples, {} test samples (all defect types pooled, paper split)",
            self.architecture,
            self.train.len(),
            self.test.len()
        )?;
        writeln!(
            f,
            "  {} epochs, batch {}, Adam {:e}: {:.3} s wall, {:.3} s CPU ({:.1} ms/epoch), final loss {:.4}",
            c.epochs,
            c.batch_size,
            c.learning_rate,
            self.train_time.wall_s,
            self.train_time.cpu_s,
            1e3 * self.train_time.wall_s / f64::from(c.epochs.max(1)),
            self.final_loss
        )?;
        write!(
            f,
            "  test accuracy: faulty circuit {:.2} %, corrected {:.2} %",
            100.0 * self.faulty_accuracy,
            100.0 * self.corrected_accuracy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_picks_the_middle_and_copes_with_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(vec![]), 0.0);
        let t = Timing::median(&[
            Timing {
                wall_s: 1.0,
                cpu_s: 5.0,
            },
            Timing {
                wall_s: 3.0,
                cpu_s: 4.0,
            },
            Timing {
                wall_s: 2.0,
                cpu_s: 6.0,
            },
        ]);
        assert_eq!(
            t,
            Timing {
                wall_s: 2.0,
                cpu_s: 5.0
            }
        );
    }

    #[test]
    fn the_gemm_baseline_counts_only_layers_from_the_first_faulty_one() {
        let exp = crate::Experiment::from_toml_str(
            "name = \"b\"\n[[sweep]]\nshape = \"circle\"\nsizes = [0.3]\nlayers = [0, 3]\n",
            "b.toml",
            None,
        )
        .unwrap();
        let prep = crate::prepare(&exp, None, &NoProgress).unwrap();
        let grid = crate::expand(&exp);
        let (run, all) = useful_flops(&prep, &grid);
        let sh = prep.exp.network.array_shapes();
        let n = prep.data.len() as f64;
        let layer = |l: usize| 2.0 * (sh[l].0 * sh[l].1) as f64 * n;
        let every: f64 = (0..sh.len()).map(layer).sum();
        assert_eq!(all, 2.0 * every);
        assert_eq!(run, every + layer(3));
        let b = sweep_bench(&prep, &grid, 1).unwrap();
        assert_eq!((b.scenarios, b.images), (2, prep.data.len()));
        assert!(b.generation.wall_s > 0.0 && b.gemm.wall_s > 0.0);
        assert!(
            b.to_string()
                .ends_with(&format!("ratio: {:.3}  [target >= 0.5]", b.ratio()))
        );
    }
}

/// Timing and outcome of one repair decoder over the benchmark instances.
#[derive(Clone, Debug, Serialize)]
pub struct DecoderRow {
    /// The decoder.
    pub method: Method,
    /// Seconds per group, one entry per instance (median over repeats).
    pub times: Vec<f64>,
    /// Instances whose estimate meets the trial criterion.
    pub correct: usize,
    /// Instances reported `Recovered`.
    pub recovered: usize,
    /// Instances reported `Recovered` but wrong (must stay 0).
    pub wrong_recovered: usize,
    /// Decoder iterations per instance.
    pub iterations: Vec<usize>,
}

/// The repair decoders on 256x14 groups of the paper's code at `s` errors.
#[derive(Clone, Debug, Serialize)]
pub struct RepairBench {
    /// Errors per group.
    pub s: usize,
    /// Gaussian checks (`k_for(s, N)`).
    pub k: usize,
    /// All checks (Gaussian + 14 column sums).
    pub p: usize,
    /// Random instances.
    pub trials: usize,
    /// Repeats per instance (Clarabel: 1).
    pub repeats: usize,
    /// Instances Clarabel ran on.
    pub clarabel_trials: usize,
    /// One row per decoder.
    pub rows: Vec<DecoderRow>,
    /// A whole layer (56 groups) decoded in parallel by the cascade: median seconds.
    pub layer_s: f64,
    /// Groups of that layer recovered correctly.
    pub layer_recovered: usize,
    /// Threads of the layer decode.
    pub threads: usize,
}

/// Times the repair decoders (single-error for `s = 1`, OMP, homotopy, the cascade, and
/// Clarabel on the first `clarabel_trials` instances) on `trials` random groups of the paper's
/// code with `s` errors at the recovery threshold, then a whole layer of 56 groups decoded in
/// parallel (current rayon pool).
///
/// ```
/// let b = xbar_experiment::bench::repair_bench(1, 2, 0, 1)?;
/// assert_eq!(b.rows.len(), 4); // single-error, OMP, homotopy, cascade
/// assert_eq!(b.rows[2].correct, 2);
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
///
/// # Errors
/// `s` outside `1 .. N/4`, or a decoder failure.
pub fn repair_bench(
    s: usize,
    trials: usize,
    clarabel_trials: usize,
    repeats: usize,
) -> Result<RepairBench, ExperimentError> {
    if !(1..GROUP_N / 4).contains(&s) {
        let mut issues = xbar_device::Issues::default();
        issues.push("s", s, format!("1 ..= {}", GROUP_N / 4 - 1));
        return Err(ExperimentError::Invalid {
            file: "xbar bench repair".into(),
            issues,
        });
    }
    let (trials, repeats) = (trials.max(1), repeats.max(1));
    let clarabel_trials = clarabel_trials.min(trials);
    let k = k_for(s, GROUP_N);
    let cfg = RepairConfig {
        max_support: s,
        ..RepairConfig::default()
    };
    let insts: Vec<_> = (0..trials as u64)
        .map(|seed| group_instance(k, s, seed))
        .collect();
    let mut methods = if s == 1 {
        vec![Method::SingleError]
    } else {
        vec![]
    };
    methods.extend([Method::Omp, Method::Homotopy, Method::Cascade]);
    if clarabel_trials > 0 {
        methods.push(Method::Clarabel);
    }
    let mut rows = Vec::new();
    for method in methods {
        let (n_inst, reps) = if method == Method::Clarabel {
            (clarabel_trials, 1)
        } else {
            (trials, repeats)
        };
        let mut row = DecoderRow {
            method,
            times: Vec::new(),
            correct: 0,
            recovered: 0,
            wrong_recovered: 0,
            iterations: Vec::new(),
        };
        for inst in &insts[..n_inst] {
            let mut t_inst = Vec::with_capacity(reps);
            let mut out = None;
            for _ in 0..reps {
                let t = Instant::now();
                out = Some(decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg)?);
                t_inst.push(t.elapsed().as_secs_f64());
            }
            let d = out.expect("at least one repeat");
            let ok = trial_success(&d.e, &inst.e0);
            row.correct += usize::from(ok);
            row.recovered += usize::from(d.status == Status::Recovered);
            row.wrong_recovered += usize::from(d.status == Status::Recovered && !ok);
            row.iterations.push(d.iterations);
            row.times.push(median(t_inst));
        }
        rows.push(row);
    }
    let layer: Vec<_> = (0..56u64).map(|g| group_instance(k, s, 1000 + g)).collect();
    let (mut times, mut layer_recovered) = (Vec::new(), 0);
    for _ in 0..repeats {
        let t = Instant::now();
        let outs: Vec<_> = layer
            .par_iter()
            .map(|inst| decode_with(Method::Cascade, inst.m.as_ref(), &inst.sigma, &cfg))
            .collect::<Result<_, _>>()?;
        times.push(t.elapsed().as_secs_f64());
        layer_recovered = outs
            .iter()
            .zip(&layer)
            .filter(|(d, inst)| d.status == Status::Recovered && trial_success(&d.e, &inst.e0))
            .count();
    }
    Ok(RepairBench {
        s,
        k,
        p: insts[0].m.nrows(),
        trials,
        repeats,
        clarabel_trials,
        rows,
        layer_s: median(times),
        layer_recovered,
        threads: rayon::current_num_threads(),
    })
}

impl RepairBench {
    /// Instance 0's LP (for HiGHS) and this run's timings on that very instance, as JSON
    /// (what scripts/bench-repair.sh compares); writes the LP files into `dir`.
    ///
    /// # Errors
    /// Writing the LP files, or a decoder failure.
    pub fn export(&self, dir: &std::path::Path) -> Result<serde_json::Value, ExperimentError> {
        let inst = group_instance(self.k, self.s, 0);
        export_lp(dir, &inst).map_err(|source| ExperimentError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let cfg = RepairConfig {
            max_support: self.s,
            ..RepairConfig::default()
        };
        let mut per = serde_json::Map::new();
        for r in &self.rows {
            let reps = if r.method == Method::Clarabel {
                self.repeats.min(3)
            } else {
                self.repeats
            };
            let (mut t0, mut ok) = (Vec::new(), false);
            for _ in 0..reps {
                let t = Instant::now();
                let d = decode_with(r.method, inst.m.as_ref(), &inst.sigma, &cfg)?;
                t0.push(t.elapsed().as_secs_f64());
                ok = trial_success(&d.e, &inst.e0);
            }
            per.insert(
                r.method.name().to_string(),
                serde_json::json!({
                    "instance0_seconds": median(t0), "instance0_success": ok,
                    "median_seconds": median(r.times.clone()), "correct": r.correct,
                    "instances": r.times.len(),
                }),
            );
        }
        Ok(serde_json::json!({
            "s": self.s, "k": self.k, "p": self.p, "n": GROUP_N, "trials": self.trials,
            "repeats": self.repeats, "decoders": per,
        }))
    }
}

impl fmt::Display for RepairBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, trials, repeats) = (self.s, self.trials, self.repeats);
        writeln!(
            f,
            "xbar bench repair: one 256x14 group of the paper's code, N = {GROUP_N}, s = {s} errors, \
             K = {} Gaussian + 14 column-sum checks (p = {}; D(s, N) = {:.1})",
            self.k,
            self.p,
            statistical_dimension(s, GROUP_N)
        )?;
        writeln!(
            f,
            "  {trials} random instances (seeds 0..{trials}), median of {repeats} runs each; \
             Clarabel on the first {} instance(s), 1 run",
            self.clarabel_trials
        )?;
        writeln!(
            f,
            "  {:<14} {:>11} {:>11} {:>11} {:>10} {:>10} {:>9}",
            "decoder", "median ms", "max ms", "iters med", "correct", "recovered", "wrong"
        )?;
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        for r in &self.rows {
            let n = r.times.len();
            let iters = median(r.iterations.iter().map(|&i| i as f64).collect());
            writeln!(
                f,
                "  {:<14} {:>11.3} {:>11.3} {:>11} {:>10} {:>10} {:>9}",
                r.method.name(),
                1e3 * median(r.times.clone()),
                1e3 * max(&r.times),
                iters,
                format!("{}/{n}", r.correct),
                format!("{}/{n}", r.recovered),
                r.wrong_recovered
            )?;
        }
        let find = |m| self.rows.iter().find(|r| r.method == m);
        if let Some(h) = find(Method::Homotopy) {
            let med = median(h.times.clone());
            let verdict = if max(&h.times) < 0.05 {
                "met"
            } else if med < 0.05 {
                "met at the median"
            } else {
                "NOT met"
            };
            writeln!(
                f,
                "  target: exact L1 (homotopy) < 50 ms per group -> {verdict} (median {:.1} ms, max {:.1} ms)",
                1e3 * med,
                1e3 * max(&h.times)
            )?;
            if let Some(l) = find(Method::Clarabel) {
                let n = l.times.len();
                writeln!(
                    f,
                    "  Clarabel / homotopy time on the same {n} instance(s): {:.0}x",
                    l.times.iter().sum::<f64>() / h.times[..n].iter().sum::<f64>()
                )?;
            }
        }
        write!(
            f,
            "  whole layer, 56 groups x {s} errors, cascade on {} threads: {:.1} ms ({}/56 groups recovered)",
            self.threads,
            1e3 * self.layer_s,
            self.layer_recovered
        )
    }
}

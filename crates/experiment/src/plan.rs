//! What `xbar check` reports: the resolved configuration in words ([`describe`]) and the
//! size and estimated time of every study a run would do ([`plan`]), measured by running a
//! few of each study's jobs through the same code `execute` uses.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use xbar_correct::repair::{decode_with, gaussian_instance, statistical_dimension};

use crate::{
    Analysis, DetectionStudy, Experiment, ExperimentError, MNIST_HIDDEN, PhaseStudy, Progress,
    Standalone, Study, SweepStudy, estimate, expand, prepare,
};

/// The size and estimated wall time of one study of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    /// Study (or stage) name, as in the manifest's stages.
    pub name: String,
    /// Jobs the driver would run.
    pub jobs: usize,
    /// Estimated seconds on the current rayon pool (`None`: not timed, see `basis`).
    pub seconds: Option<f64>,
    /// How the estimate was made.
    pub basis: String,
}

/// The resolved configuration of `exp` in a few human-readable lines (what `xbar check`
/// prints before its estimates).
///
/// ```
/// let exp = xbar_experiment::Experiment::default_experiment()?;
/// let text = xbar_experiment::describe(&exp);
/// assert!(text.contains("scenarios: 84"));
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
pub fn describe(exp: &Experiment) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  name:      {}", exp.name);
    match &exp.standalone {
        Some(Standalone::PhaseTransition(p)) => {
            let _ = writeln!(
                s,
                "  study:     phase transition, decoder {}, s = {} errors, {} trials per point",
                p.decoder.name(),
                p.errors,
                p.trials
            );
            for &n in &p.unknowns {
                let _ = writeln!(
                    s,
                    "  N = {n}:  predicted 50 % point D(s, N) = {:.1}; checks K {:?}",
                    statistical_dimension(p.errors, n),
                    p.ks(n)
                );
            }
            let _ = writeln!(
                s,
                "  size:      {} points x {} trials = {} instances",
                p.points(),
                p.trials,
                p.instances()
            );
            return s;
        }
        Some(Standalone::MnistRepair(m)) => {
            let _ = writeln!(
                s,
                "  study:     MNIST repair, 784-256-10, {} training / {} test images, {} epochs",
                m.train_images, m.test_images, m.train.epochs
            );
            let _ = writeln!(
                s,
                "  code:      {} groups of {} inputs x 256, K = {} Gaussian + {} output check(s) per input = {} constraints per group",
                m.groups,
                m.group_inputs,
                m.type1_per_group,
                m.output_checks,
                m.constraints_per_group()
            );
            let _ = writeln!(
                s,
                "  errors:    {:?} weight errors x N(0, {}), {} trials each; {} datapath error(s) x N(0, {}) per image; decoder {}",
                m.errors,
                m.error_std,
                m.trials,
                m.datapath_errors,
                m.datapath_std,
                m.decoder.name()
            );
            let _ = writeln!(s, "  data:      {}", m.mnist_dir.display());
            return s;
        }
        None => {}
    }
    let _ = writeln!(
        s,
        "  device:    {} ({:?} read)",
        exp.device.name, exp.device.params.iv
    );
    match &exp.network.imported {
        None => match &exp.network.user_data {
            None => {
                let _ = writeln!(
                    s,
                    "  network:   {:?} on {:?}, {} test images",
                    exp.network.sizes, exp.network.dataset, exp.network.test_size
                );
            }
            Some(u) => {
                let d = &u.data;
                let _ = writeln!(
                    s,
                    "  network:   {:?} trained in-tool ({} epochs) on [dataset]: {} training \
                     and {} test samples of shape {}, {} classes; inputs divided by {} ({})",
                    exp.network.sizes,
                    exp.network.train.epochs,
                    d.train_samples,
                    d.test_samples,
                    u.input,
                    d.classes,
                    d.input_max,
                    d.input_max_from
                );
            }
        },
        Some(m) => {
            let d = &m.data;
            let _ = writeln!(
                s,
                "  network:   {} ({}, sha256 {}), input {}, {} outputs, {} parameters",
                m.model.path.display(),
                m.format.to_uppercase(),
                &m.model.sha256[..16],
                m.input,
                m.outputs,
                m.parameters
            );
            for (l, a) in m.arrays.iter().enumerate() {
                let then = if a.then.is_empty() {
                    String::new()
                } else {
                    format!(", then {}", a.then.join(", "))
                };
                let _ = writeln!(
                    s,
                    "    array {l}: {} {} x {} pairs, {} read(s) per sample{then}",
                    a.kind, a.rows, a.cols, a.reads
                );
            }
            let _ = writeln!(
                s,
                "  dataset:   {} ({}), {} test samples, {} classes; {} calibration samples from {}; input-max {} ({})",
                d.files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                d.format,
                d.test_samples,
                d.classes,
                d.calibration_samples,
                d.calibration_from,
                d.input_max,
                d.input_max_from
            );
        }
    }
    for (k, w) in exp.sweeps.iter().enumerate() {
        let sizes: Vec<String> = w
            .shapes
            .iter()
            .map(|x| x.size.map_or("-".into(), |v| v.to_string()))
            .collect();
        let _ = writeln!(
            s,
            "  sweep[{k}]: {} sizes [{}] x layer sets {:?} x states {:?} x {} repeat(s), {:?} level",
            w.kind,
            sizes.join(", "),
            w.layer_sets,
            w.states.iter().map(|s| s.label()).collect::<Vec<_>>(),
            w.repeats,
            w.level
        );
        if w.placement != xbar_crossbar::chip::Placement::Layer {
            let _ = writeln!(s, "             drawn per {}", w.placement.name());
        }
    }
    if let Some(chip) = &exp.circuit.chip {
        match xbar_crossbar::chip::Floorplan::new(&exp.network.array_shapes(), chip) {
            Ok(plan) => {
                for line in plan.to_string().lines() {
                    let _ = writeln!(s, "  {line}");
                }
            }
            Err(e) => {
                let _ = writeln!(s, "  chip:      {e}");
            }
        }
    }
    let c = &exp.circuit;
    let _ = writeln!(
        s,
        "  circuit:   v-in-max {} V, v-bias {} V, r-load {:?}, rail {}, mapping {:?}",
        c.v_in_max,
        c.v_bias,
        c.r_load,
        c.rail.map_or("none".into(), |r| format!("{r} V")),
        c.mapping
    );
    let _ = writeln!(
        s,
        "  periphery: {}",
        match (&c.adc, &c.chip) {
            (Some(a), _) => format!(
                "a {}-bit ADC on every tile output, range {}; row tiles added digitally",
                a.bits,
                match a.range {
                    xbar_crossbar::AdcRange::Calibrated => "calibrated per layer".to_string(),
                    xbar_crossbar::AdcRange::Volts(v) => format!("+-{v} V"),
                }
            ),
            (None, Some(_)) => "fully analog (row tiles sum their currents on one node)".into(),
            (None, None) => "fully analog".into(),
        }
    );
    for (k, w) in exp.wires.iter().enumerate() {
        let text = if w.is_ideal() {
            "ideal (0 ohm, infinite op-amp gain)".to_string()
        } else {
            format!(
                "row {} ohm, column {} ohm per segment, source {} ohm, comparator input {} ohm, op-amp gain {}",
                w.r_row,
                w.r_col,
                w.r_source,
                w.r_in,
                w.op_amp_gain.map_or("infinite".into(), |a| a.to_string())
            )
        };
        let _ = writeln!(s, "  wires[{k}]:  {text}");
    }
    let _ = writeln!(s, "  scenarios: {}", exp.scenario_count());
    for a in &exp.analyses {
        match a {
            Analysis::Correction(c) => {
                let types = exp
                    .sweeps
                    .iter()
                    .map(|s| s.label.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                let _ = writeln!(
                    s,
                    "  correction: {} architecture(s) x {} training type(s) x {} protocol(s) = {} correctors ({})",
                    c.architectures.len(),
                    types,
                    c.protocols.len(),
                    c.architectures.len() * types * c.protocols.len(),
                    if c.cross {
                        "each tested on every type"
                    } else {
                        "each tested on its own type"
                    }
                );
            }
            Analysis::Detection(d) => {
                let _ = writeln!(
                    s,
                    "  detection: codes {}, read noise {} V, kappa {}, {} images{}",
                    d.codes
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    d.sigma_read,
                    d.kappa,
                    d.images,
                    if d.input_faults {
                        ", plus input faults"
                    } else {
                        ""
                    }
                );
            }
            Analysis::CrossbarRepair(r) => {
                let _ = writeln!(
                    s,
                    "  crossbar-repair: decoder {}, {} design stuck pairs per group, {} fine-tuning epochs per coded network",
                    r.decoder.name(),
                    r.design_errors,
                    r.finetune_epochs
                );
                for c in &r.codes {
                    let _ = writeln!(
                        s,
                        "    layer {}: {} x {} pairs, {} group(s) of up to {} rows, K = {} Gaussian + {} column-sum checks per group",
                        c.layer,
                        c.rows,
                        c.cols,
                        c.groups,
                        c.group_rows,
                        c.type1_per_group,
                        c.group_rows
                    );
                }
            }
        }
    }
    s
}

/// Sizes and estimated times of every study `execute` would run for `exp`, on the current
/// rayon pool: the network is prepared (trained or read from `cache_dir`) and a few jobs of
/// each study are timed. Studies whose jobs train networks (correction, crossbar repair) are
/// counted, not timed. Reads every input file a run would read, so a file that `execute`
/// would refuse fails here too.
///
/// ```
/// let exp = xbar_experiment::Experiment::from_toml_str(
///     "name = \"t\"\n[[sweep]]\nshape = \"rows\"\nsizes = [0.1, 0.2]\nlayers = [0]\n",
///     "t.toml",
///     None,
/// )?;
/// let plan = xbar_experiment::plan(&exp, None, &xbar_experiment::NoProgress)?;
/// let sweep = plan.iter().find(|e| e.name == "sweep").unwrap();
/// assert_eq!(sweep.jobs, 2);
/// assert!(sweep.seconds.is_some_and(|s| s > 0.0));
/// # Ok::<(), xbar_experiment::ExperimentError>(())
/// ```
pub fn plan(
    exp: &Experiment,
    cache_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Vec<Estimate>, ExperimentError> {
    let threads = rayon::current_num_threads().max(1);
    let timed = |name: &str, jobs: usize, (secs, n): (f64, usize)| Estimate {
        name: name.to_string(),
        jobs,
        seconds: Some(secs),
        basis: format!("{n} job(s) timed, scaled by cost, on {threads} thread(s)"),
    };
    match &exp.standalone {
        Some(Standalone::PhaseTransition(spec)) => {
            let study = PhaseStudy::new(exp.seed, spec);
            let jobs = study.jobs().len();
            Ok(vec![timed(
                study.name(),
                jobs,
                estimate(&study, threads, 1)?,
            )])
        }
        Some(Standalone::MnistRepair(m)) => {
            // Read the MNIST files: a truncated or corrupt file fails the check.
            let t = Instant::now();
            let (train, _) = xbar_nn::mnist::load_mnist(&m.mnist_dir)?;
            let read_s = t.elapsed().as_secs_f64();
            let available = train.len();
            let train = if m.train_images < train.len() {
                train.select(&(0..m.train_images as u32).collect::<Vec<_>>())
            } else {
                train
            };
            let cached = cache_dir.is_some_and(|c| {
                xbar_nn::cache::cache_path(c, &xbar_nn::cache_key(&m.train, &train)).is_file()
            });
            // Decoding cost of one group at the mean number of errors of the largest level.
            let top = m.errors.iter().copied().max().unwrap_or(0);
            let per_group = top.div_ceil(m.groups.max(1)).max(1);
            let inst = gaussian_instance(
                m.constraints_per_group(),
                m.group_inputs * MNIST_HIDDEN,
                per_group,
                1,
            );
            let (method, cfg) = m.decoder.repair_config(m.design_errors);
            let t = Instant::now();
            decode_with(method, inst.m.as_ref(), &inst.sigma, &cfg)?;
            let per = t.elapsed().as_secs_f64();
            Ok(vec![
                Estimate {
                    name: "data".into(),
                    jobs: 0,
                    seconds: Some(read_s),
                    basis: format!(
                        "{available} training images available, {} used",
                        train.len()
                    ),
                },
                Estimate {
                    name: "train".into(),
                    jobs: 0,
                    seconds: None,
                    basis: if cached {
                        "weights cached".into()
                    } else {
                        "not cached: trained on the first run (docs/reproduction.md gives times)"
                            .into()
                    },
                },
                Estimate {
                    name: "mnist-repair".into(),
                    jobs: m.runs(),
                    seconds: Some(per * (m.groups * m.runs()) as f64 / threads as f64),
                    basis: format!(
                        "one group decoded with {per_group} errors in {:.1} ms; plus datapath checks and accuracies",
                        1e3 * per
                    ),
                },
            ])
        }
        None => {
            // `check` writes nothing: a network that is not cached yet is trained in memory
            // for the estimate and not stored (the run stores it).
            let cache_dir = match (cache_dir, &exp.network.imported) {
                (Some(dir), None) => {
                    let key = match &exp.network.user_data {
                        Some(u) => xbar_nn::cache_key(&exp.network.train, &u.content.train),
                        None => {
                            let (_, _, train_set) = crate::runner::training_data(exp)?;
                            xbar_nn::cache_key(&exp.network.train, &train_set)
                        }
                    };
                    xbar_nn::cache::cache_path(dir, &key)
                        .is_file()
                        .then_some(dir)
                }
                _ => None,
            };
            // A large user data set not trained yet: time one epoch and scale (the program
            // and sweep times do not depend on the weights).
            let one_epoch = exp.network.user_data.is_some()
                && cache_dir.is_none()
                && exp.network.train.epochs > 1;
            let mut short = exp.clone();
            if one_epoch {
                short.network.train.epochs = 1;
            }
            let prep = prepare(&short, cache_dir, progress)?;
            let grid = expand(exp);
            let sweep = SweepStudy::new(&prep, &grid);
            let mut out = Vec::new();
            if one_epoch {
                let epochs = exp.network.train.epochs;
                out.push(Estimate {
                    name: "train".into(),
                    jobs: 1,
                    seconds: Some(prep.timings.train_s * epochs as f64),
                    basis: format!(
                        "one epoch measured ({:.1} s) x {epochs} epochs; the run caches the weights",
                        prep.timings.train_s
                    ),
                });
            }
            out.extend([
                Estimate {
                    name: "program".into(),
                    jobs: 0,
                    seconds: Some(prep.timings.program_s),
                    basis: "measured".into(),
                },
                timed("sweep", grid.len(), estimate(&sweep, threads, 16)?),
            ]);
            for a in &exp.analyses {
                out.push(match a {
                    Analysis::Correction(spec) => Estimate {
                        name: "correction".into(),
                        jobs: spec.protocols.len() * spec.architectures.len() * exp.sweeps.iter().map(|s| s.label.as_str()).collect::<std::collections::BTreeSet<_>>().len(),
                        seconds: None,
                        basis: "each job trains MLP correctors: seconds to minutes (docs/reproduction.md)".into(),
                    },
                    Analysis::Detection(spec) => {
                        let study = DetectionStudy::new(&prep, spec, &grid);
                        timed("detection", grid.len(), estimate(&study, threads, 2)?)
                    }
                    Analysis::CrossbarRepair(spec) => Estimate {
                        name: "crossbar-repair".into(),
                        jobs: grid.len(),
                        seconds: None,
                        basis: format!(
                            "after coding and fine-tuning {} layer(s) ({} epochs each)",
                            spec.codes.len(),
                            spec.finetune_epochs
                        ),
                    },
                });
            }
            Ok(out)
        }
    }
}

//! The `xbar` command-line tool: glue over the xbar library crates.
//!
//! This is the only crate that prints; libraries return records and errors.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the CLI is the one place that talks to the user"
)]

/// `println!` that returns an error instead of panicking when stdout is closed
/// (`xbar check f.toml | head`); `main` treats a broken pipe as success.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($t)*)?;
    }};
}

/// `eprintln!` that never panics: a closed or broken stderr (`xbar run 2>&1 | head -1`) loses
/// the message, not the run.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod bench;
mod defects;
mod netlist;
mod progress;
mod run;
mod shard;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Emulate fully analog ReRAM crossbar neural networks with spatial defects.
#[derive(Parser, Debug)]
#[command(name = "xbar", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// No progress bars or informational lines (errors are still printed).
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run an experiment: results.csv, manifest.json, plots/ and summary.md.
    Run {
        /// Experiment TOML file. Default: the built-in Sawal & Wong layer-sensitivity study.
        file: Option<PathBuf>,
        /// Override a key of the file, e.g. `--set seed=3 --set device.card=hfox-linear` or
        /// `--set sweep.0.repeats=5`; validated like the file and recorded in manifest.json.
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Output folder. Default: results/NAME/ (NAME: the experiment name).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Where trained weights are cached. Default: $XBAR_CACHE_DIR or .xbar-cache/ beside the output folder.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Discard a checkpoint left in the output folder by an interrupted run instead of resuming it.
        #[arg(long)]
        fresh: bool,
        /// Run only shard K of N (K from 0, as Slurm's array task ids): the jobs that a
        /// deterministic, cost-balanced partition gives it, left in the output folder
        /// (default results/NAME/shards/K) for `xbar merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
    },
    /// Merge the folders of every shard of one run (`xbar run --shard K/N`) into one results
    /// folder: checks that they are the N shards of one configuration, each finished, then
    /// writes results.csv, manifest.json, plots and summary.md as one unsharded run would.
    Merge {
        /// The shards' output folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output folder for the merged results.
        #[arg(long)]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Where trained weights are cached (as for `run`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Re-draw the plots and summary.md of an existing results folder from its CSV files and
    /// manifest.json, without running anything (after `xbar merge`, or with a newer xbar).
    Report {
        /// The results folder (written by `xbar run` or `xbar merge`).
        dir: PathBuf,
    },
    /// Write a Slurm job-array script that runs an experiment in N shards, one per array
    /// task, and a merge job that waits for them; prints how to submit it.
    Slurm {
        /// Experiment TOML file.
        file: PathBuf,
        /// Number of shards (array tasks).
        #[arg(long)]
        shards: u32,
        /// Override a key of the file (as for `run`).
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Results folder (shards go to OUT/shards/K, scripts and logs to OUT/slurm/).
        /// Default: results/NAME/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Slurm partition (default: the cluster's default partition).
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per shard, in Slurm's format (e.g. 30, 2:00:00, 1-00:00:00).
        #[arg(long)]
        time: Option<String>,
        /// CPUs per shard (xbar runs that many worker threads).
        #[arg(long, default_value_t = 1)]
        cpus: u32,
        /// Memory per shard, in Slurm's format (e.g. 4G).
        #[arg(long)]
        mem: Option<String>,
    },
    /// Validate an experiment file and print the resolved configuration, the scenario count
    /// and an estimated run time.
    Check {
        /// Experiment TOML file.
        file: PathBuf,
        /// Override a key of the file (as for `run`).
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print the configuration reference (every key of experiment files and device cards, with
    /// type, meaning, unit, range, default and an example) as Markdown: the source of
    /// docs/config-reference.md.
    Reference,
    /// Teaching views: defect masks on conductance maps (paper Fig. 2) and per-cell current
    /// contributions of output columns for one image (paper Fig. 3).
    Defects {
        /// Experiment whose network and sweeps to draw. Default: the built-in study.
        file: Option<PathBuf>,
        /// Array (layer) to draw, 0-based.
        #[arg(long, default_value_t = 0)]
        layer: usize,
        /// Output folder. Default: results/NAME/defects/ (NAME: the experiment name).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Image index (0..1797) for the current-contribution view.
        #[arg(long, default_value_t = 0)]
        image: usize,
        /// Output columns for the current view, e.g. 6,7,8. Default: the true label and its neighbours.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<usize>,
        /// Shape for the current view (any of the experiment's shapes).
        #[arg(long, default_value = "circle")]
        shape: String,
        /// Cache folder for trained weights (as for `run`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Export a programmed (optionally defective) layer, or the whole network, as an ngspice
    /// netlist for one image; `--run` runs ngspice and compares with the emulator.
    Netlist(netlist::NetlistArgs),
    /// Time the full paper data generation against a bare GEMM of the same shapes; with
    /// `corrector`, time MLP(10, 10) corrector training on the pooled circuit samples; with
    /// `repair`, time the L1 repair decoders on 256x14 code groups at the recovery threshold.
    Bench {
        /// What to time: `generation` (default), `corrector` or `repair`.
        #[arg(default_value = "generation")]
        what: String,
        /// corrector: training epochs.
        #[arg(long, default_value_t = 30)]
        epochs: u32,
        /// corrector: also write train.csv, test.csv and xbar.json here (for scripts/bench-corrector.sh);
        /// repair: write the LP of instance 0 and xbar.json here (for scripts/bench-repair.sh).
        #[arg(long)]
        export: Option<PathBuf>,
        /// repair: memory errors per group; the group gets K = ceil(D(s, 3584) + 0.5 sqrt(3584)) checks.
        #[arg(long = "s", default_value_t = 10)]
        s: usize,
        /// repair: random group instances for the recovery rates.
        #[arg(long, default_value_t = 20)]
        trials: usize,
        /// repair: instances for the Clarabel LP (seconds each; 0 skips it).
        #[arg(long, default_value_t = 3)]
        clarabel_trials: usize,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Cache folder for trained weights.
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// generation: time this experiment's sweep instead of the built-in default one.
        #[arg(long)]
        experiment: Option<PathBuf>,
    },
}

/// A long computation outlives its terminal: SIGHUP (the terminal closed, the SSH session
/// dropped) is caught and ignored instead of ending the process; progress and messages to the
/// vanished terminal are dropped ([`errln!`]), the results are still written.
fn survive_hangup() {
    #[cfg(unix)]
    {
        let hung_up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Failing to install the handler only leaves the default behaviour.
        let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, hung_up);
    }
}

/// The error and its causes, `: `-joined, leaving out a cause whose text the message already
/// holds (library errors such as `cannot read F: <io error>` name their cause themselves).
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.cmd, Cmd::Run { .. } | Cmd::Merge { .. }) {
        survive_hangup();
    }
    let result = match cli.cmd {
        Cmd::Run {
            file,
            set,
            out,
            threads,
            cache_dir,
            fresh,
            shard,
        } => run::run(run::RunArgs {
            file,
            set,
            out,
            threads,
            cache_dir,
            fresh,
            quiet: cli.quiet,
            shard,
        }),
        Cmd::Merge {
            dirs,
            out,
            threads,
            cache_dir,
        } => shard::merge(shard::MergeArgs {
            dirs,
            out,
            threads,
            cache_dir,
            quiet: cli.quiet,
        }),
        Cmd::Report { dir } => shard::report(&dir, cli.quiet),
        Cmd::Slurm {
            file,
            shards,
            set,
            out,
            partition,
            time,
            cpus,
            mem,
        } => shard::slurm(shard::SlurmArgs {
            file,
            set,
            shards,
            out,
            partition,
            time,
            cpus,
            mem,
        }),
        Cmd::Check { file, set } => run::check(&file, &set),
        Cmd::Reference => (|| -> anyhow::Result<()> {
            use std::io::Write as _;
            write!(std::io::stdout(), "{}", xbar_experiment::config_reference())?;
            Ok(())
        })(),
        Cmd::Defects {
            file,
            layer,
            out,
            image,
            columns,
            shape,
            cache_dir,
        } => defects::defects(
            file.as_deref(),
            layer,
            out,
            image,
            &columns,
            &shape,
            cache_dir,
            cli.quiet,
        ),
        Cmd::Netlist(args) => netlist::netlist(args, cli.quiet),
        Cmd::Bench {
            what,
            epochs,
            export,
            s,
            trials,
            clarabel_trials,
            threads,
            repeats,
            cache_dir,
            experiment,
        } => match what.as_str() {
            "generation" => bench::bench(threads, repeats, cache_dir, experiment),
            "corrector" => bench::corrector(threads, epochs, export, cache_dir),
            "repair" => bench::repair(threads, s, trials, clarabel_trials, repeats, export),
            other => Err(anyhow::anyhow!(
                "xbar bench {other}: expected `generation`, `corrector` or `repair`"
            )),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`xbar check f | head`) is not an error worth reporting.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            errln!("error: {}", message(&e));
            ExitCode::from(2)
        }
    }
}

//! Progress: bars on a terminal, plain periodic lines elsewhere (CI logs), nothing with --quiet.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use xbar_experiment::Progress;

enum Mode {
    Quiet,
    Bar,
    Lines,
}

/// Plain-line state: stage name, total, done, start, last print.
struct LineState {
    stage: String,
    total: u64,
    done: u64,
    start: Instant,
    last: Instant,
}

/// Reports progress per stage according to where stderr goes.
pub(crate) struct Bars {
    mode: Mode,
    bar: Mutex<Option<ProgressBar>>,
    lines: Mutex<Option<LineState>>,
}

/// Interval between plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(5);

impl Bars {
    pub(crate) fn new(quiet: bool) -> Bars {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        Bars {
            mode,
            bar: Mutex::new(None),
            lines: Mutex::new(None),
        }
    }
}

fn line(s: &LineState, now: Instant) -> String {
    let el = now.duration_since(s.start).as_secs_f64();
    let eta = if s.done > 0 {
        el * (s.total - s.done) as f64 / s.done as f64
    } else {
        f64::NAN
    };
    format!(
        "  {}: {}/{} ({:.0} %), {:.1} s elapsed, eta {:.1} s",
        s.stage,
        s.done,
        s.total,
        100.0 * s.done as f64 / s.total.max(1) as f64,
        el,
        eta
    )
}

impl Progress for Bars {
    fn begin(&self, stage: &str, total: u64) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} {elapsed_precise} (eta {eta})")
                        .expect("static template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(stage.to_string());
                *self.bar.lock().expect("progress lock") = Some(bar);
            }
            Mode::Lines => {
                let now = Instant::now();
                *self.lines.lock().expect("progress lock") = Some(LineState {
                    stage: stage.to_string(),
                    total,
                    done: 0,
                    start: now,
                    last: now,
                });
            }
        }
    }

    fn advance(&self, n: u64) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(b) = self.bar.lock().expect("progress lock").as_ref() {
                    b.inc(n);
                }
            }
            Mode::Lines => {
                if let Some(s) = self.lines.lock().expect("progress lock").as_mut() {
                    s.done += n;
                    let now = Instant::now();
                    if now.duration_since(s.last) >= LINE_EVERY && s.done < s.total {
                        s.last = now;
                        errln!("{}", line(s, now));
                    }
                }
            }
        }
    }

    fn note(&self, text: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => match self.bar.lock().expect("progress lock").as_ref() {
                Some(b) => b.println(text),
                None => errln!("{text}"),
            },
            Mode::Lines => errln!("{text}"),
        }
    }

    fn end(&self) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(b) = self.bar.lock().expect("progress lock").take() {
                    b.finish_and_clear();
                }
            }
            Mode::Lines => {
                if let Some(s) = self.lines.lock().expect("progress lock").take()
                    && s.start.elapsed() >= LINE_EVERY
                {
                    errln!("{}", line(&s, Instant::now()));
                }
            }
        }
    }
}

//! What the CLI shows while the library works: a progress bar with ETA for training and
//! inference, one line per benchmark stage, inference totals on standard error. When standard
//! error is not a terminal (a log file, CI), where a bar would not show, a progress line every
//! [`LOG_EVERY`] instead.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use lume_bench::{Checks, Observer, Work};
use lume_model::BulkProgress;
use lume_unlearn::{SelectionPoint, StepRecord, TrainObserver};

/// How often a progress line is written when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// The terminal's view of a run.
#[derive(Default)]
pub struct Terminal {
    bar: Option<ProgressBar>,
    /// The model the current stage works on (the training bar's prefix).
    model: String,
    /// Print a line per stage (`lume bench`).
    stages: bool,
    /// Progress lines instead of bars (standard error is not a terminal).
    log: Option<Log>,
    /// Training since the stage started: rates and the ETA.
    pace: Pace,
}

/// When the last progress line was written.
struct Log {
    last: Instant,
}

/// Steps (or units of inference) and tokens since a piece of work started or resumed.
#[derive(Default)]
struct Pace {
    started: Option<Instant>,
    first: usize,
    total: usize,
    tokens: usize,
    padded: usize,
}

impl Pace {
    fn start(&mut self, total: usize, first: usize) {
        *self = Pace {
            started: Some(Instant::now()),
            first,
            total,
            ..Pace::default()
        };
    }

    fn seconds(&self) -> f64 {
        self.started.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    /// Time left at the pace since the start, in words (`12m05s`).
    fn eta(&self, done: usize) -> String {
        let since = done.saturating_sub(self.first);
        if since == 0 {
            return "?".into();
        }
        let left = self.seconds() / since as f64 * self.total.saturating_sub(done) as f64;
        let left = left.round() as u64;
        match (left / 3600, left / 60 % 60, left % 60) {
            (0, 0, s) => format!("{s}s"),
            (0, m, s) => format!("{m}m{s:02}s"),
            (h, m, _) => format!("{h}h{m:02}m"),
        }
    }

    /// `812 tokens/s (71 % real)`.
    fn rate(&self) -> String {
        let seconds = self.seconds();
        if seconds <= 0.0 || self.padded == 0 {
            return "- tokens/s".into();
        }
        format!(
            "{:.0} tokens/s ({:.0} % real)",
            self.tokens as f64 / seconds,
            100.0 * self.tokens as f64 / self.padded as f64
        )
    }
}

impl Terminal {
    /// For `lume bench`: stage lines and bars.
    pub fn bench() -> Self {
        Terminal {
            stages: true,
            ..Terminal::new()
        }
    }

    fn new() -> Self {
        Terminal {
            log: (!std::io::stderr().is_terminal()).then(|| Log {
                last: Instant::now(),
            }),
            ..Terminal::default()
        }
    }

    /// Writes `line` when standard error is a log and a line is due (or `last`).
    fn log(&mut self, last: bool, line: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log
            && (last || log.last.elapsed() >= LOG_EVERY)
        {
            log.last = Instant::now();
            eprintln!("{}", line());
        }
    }

    /// For one run of `name` (`lume unlearn`, `lume train`, `lume eval`): bars only.
    pub fn run(name: &str) -> Self {
        Terminal {
            model: name.to_string(),
            ..Terminal::new()
        }
    }

    fn bar(&mut self, template: &str) -> &ProgressBar {
        self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        })
    }

    fn finish(&mut self, clear: bool) {
        if let Some(bar) = self.bar.take() {
            if clear {
                bar.finish_and_clear();
            } else {
                bar.finish();
            }
        }
    }
}

impl TrainObserver for Terminal {
    fn on_start(&mut self, total_steps: usize, resumed_at: usize) {
        self.finish(true);
        self.pace.start(total_steps, resumed_at);
        if self.log.is_some() {
            let model = self.model.clone();
            self.log(true, || {
                format!("{model}: training, {total_steps} steps (resuming at {resumed_at})")
            });
            return;
        }
        let model = self.model.clone();
        let bar = self.bar("{prefix} [{bar:30}] {pos}/{len} ({eta} left) {msg}");
        bar.set_prefix(model);
        bar.set_length(total_steps as u64);
        bar.set_position(resumed_at as u64);
        if resumed_at > 0 {
            bar.println(format!("resuming at step {resumed_at}"));
        }
    }

    fn on_step(&mut self, record: &StepRecord) {
        self.pace.tokens += record.tokens;
        self.pace.padded += record.padded_tokens;
        let total = self.pace.total;
        let (model, rate, eta) = (
            self.model.clone(),
            self.pace.rate(),
            self.pace.eta(record.step),
        );
        self.log(record.step == total, || {
            format!(
                "{model}: step {}/{total} loss {:.4} · {rate} · {eta} left",
                record.step, record.loss.total
            )
        });
        if let Some(bar) = &self.bar {
            bar.set_position(record.step as u64);
            bar.set_message(format!(
                "loss {:.4} lr {:.2e} |g| {:.3} · {rate}",
                record.loss.total, record.lr, record.grad_norm
            ));
            if bar.length() == Some(record.step as u64) {
                self.finish(false);
            }
        }
    }

    fn on_selection(&mut self, point: &SelectionPoint) {
        let line = self.selection_line(point);
        match &self.bar {
            Some(bar) => bar.println(line),
            None if self.log.is_some() => self.log(true, || line),
            None => eprintln!("{line}"),
        }
    }
}

impl Terminal {
    fn selection_line(&self, point: &SelectionPoint) -> String {
        let verdict = if point.kept {
            "kept"
        } else if point.retain < point.floor {
            "below the floor"
        } else {
            "not better"
        };
        format!(
            "{}: step {}: forget {:.3}, retain {:.3} (floor {:.3}): {verdict}",
            self.model, point.step, point.forget, point.retain, point.floor
        )
    }
}

impl Observer for Terminal {
    fn stage(&mut self, model: &str, work: Work, reused: bool) {
        self.finish(false);
        self.pace = Pace::default();
        self.model = model.to_string();
        if !self.stages {
            return;
        }
        match (work, reused) {
            (Work::Evaluation, true) => println!("{model}: evaluation reused"),
            (Work::Evaluation, false) => println!("{model}: evaluating"),
            (Work::Init, _) => {
                println!("init: training a tokenizer on the data and building a fresh model")
            }
            (Work::FineTuning | Work::Unlearning, true) => {
                println!("{model}: reused (same configuration)")
            }
            (Work::FineTuning, false) => println!("{model}: fine-tuning"),
            (Work::Unlearning, false) => println!("{model}: unlearning"),
        }
    }

    fn inference(&mut self, done: usize, total: usize) {
        if self.log.is_some() {
            if self.pace.total != total || self.pace.started.is_none() || done == 0 {
                self.pace.start(total, done);
            }
            let (model, eta) = (self.model.clone(), self.pace.eta(done));
            self.log(done == total, || {
                format!("{model}: inference {done}/{total} · {eta} left")
            });
            return;
        }
        let bar = self.bar("{msg} [{bar:30}] {pos}/{len} ({eta} left)");
        bar.set_message("inference");
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }

    fn inference_done(&mut self, totals: &BulkProgress) {
        self.finish(true);
        print_totals(totals);
    }

    fn checks(&mut self, checks: &Checks) {
        println!("{}", checks.describe());
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    fn warning(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
}

/// What inference did, one line per phase, on standard error (the scores go to standard out).
fn print_totals(t: &BulkProgress) {
    let rate = |tokens: usize, seconds: f64| {
        if seconds > 0.0 {
            format!("{:.0} tokens/s", tokens as f64 / seconds)
        } else {
            "-".to_owned()
        }
    };
    eprintln!(
        "scored {} rows and texts: {} tokens in {:.1} s ({})",
        t.scored,
        t.tokens_scored,
        t.scoring_seconds,
        rate(t.tokens_scored, t.scoring_seconds)
    );
    eprintln!(
        "generated for {} rows: {} tokens in {:.1} s ({})",
        t.generated,
        t.tokens_generated,
        t.decoding_seconds,
        rate(t.tokens_generated, t.decoding_seconds)
    );
}

//! What the CLI shows while the library works: a progress bar with ETA for training and
//! inference, one line per benchmark stage, inference totals on standard error.

use indicatif::{ProgressBar, ProgressStyle};
use lume_bench::{Checks, Observer, Work};
use lume_model::BulkProgress;
use lume_unlearn::{StepRecord, TrainObserver};

/// The terminal's view of a run.
#[derive(Default)]
pub struct Terminal {
    bar: Option<ProgressBar>,
    /// The model the current stage works on (the training bar's prefix).
    model: String,
    /// Print a line per stage (`lume bench`).
    stages: bool,
}

impl Terminal {
    /// For `lume bench`: stage lines and bars.
    pub fn bench() -> Self {
        Terminal {
            stages: true,
            ..Terminal::default()
        }
    }

    /// For one run of `name` (`lume unlearn`, `lume train`, `lume eval`): bars only.
    pub fn run(name: &str) -> Self {
        Terminal {
            model: name.to_string(),
            ..Terminal::default()
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
        if let Some(bar) = &self.bar {
            bar.set_position(record.step as u64);
            bar.set_message(format!(
                "loss {:.4} lr {:.2e} |g| {:.3}",
                record.loss.total, record.lr, record.grad_norm
            ));
            if bar.length() == Some(record.step as u64) {
                self.finish(false);
            }
        }
    }
}

impl Observer for Terminal {
    fn stage(&mut self, model: &str, work: Work, reused: bool) {
        self.finish(false);
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

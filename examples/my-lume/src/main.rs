//! My own `lume`: every command of lume's, plus an unlearning method ("log ascent") and a
//! leaderboard metric ("retain probability") written here, outside lume.
//!
//! `cargo run --release -- bench --methods ga,log-ascent` runs the benchmark with both: the
//! method beside GA, the metric as a leaderboard column with its 95 % interval.

use lume_bench::{EvalSummary, Measure, Metric, Metrics};
use lume_unlearn::lume_data::Split;
use lume_unlearn::{
    LossTerms, MethodFactory, Registry, RetainTerm, StepContext, UnlearnError, UnlearningMethod,
};
use serde::{Deserialize, Serialize};

fn main() -> std::process::ExitCode {
    lume_cli::run(
        Registry::builtin().with(LogAscent::factory()),
        Metrics::builtin().with(RetainProbability),
    )
}

/// Minimises `−ln(1 + NLL_f) + α·NLL_r`: an ascent on the forget NLL that slows as the NLL
/// grows (so the model is not driven into gibberish), plus the retain NLL. Its hyperparameters
/// are its fields: `--set method.log-ascent.alpha=0.5`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogAscent {
    alpha: f64,
}

impl LogAscent {
    fn factory() -> MethodFactory {
        MethodFactory::of("ascent on ln(1 + forget NLL), plus retain NLL", || {
            LogAscent { alpha: 1.0 }
        })
    }
}

impl UnlearningMethod for LogAscent {
    fn name(&self) -> &str {
        "log-ascent"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({ "alpha": self.alpha })
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let forget = ctx.nll(ctx.forget).add_scalar(1.0).log().neg();
        let retain = ctx.retain_loss(RetainTerm::Nll)?;
        Ok(LossTerms::combine(forget, 1.0, retain, self.alpha))
    }
}

/// Mean `exp(−NLL)` of the retain answers: what unlearning should leave alone. Per row, so its
/// interval redraws the retain rows with the protocol's own resamples.
struct RetainProbability;

impl Metric for RetainProbability {
    fn key(&self) -> &str {
        "retain_probability"
    }
    fn header(&self) -> &str {
        "retain prob."
    }
    fn measure(&self, model: &EvalSummary, _gold: Option<&EvalSummary>) -> Measure {
        Measure::rows(model, Split::Retain, |row| {
            row.stats.as_ref()?.mean_nll().map(|nll| (-nll).exp())
        })
    }
}

//! open-unlearning's metrics of forget answers (probability, exact memorization, extraction
//! strength) and the forget quality against the gold model.

use lume_data::{Split, TokenStats};
use lume_metrics::{exact_memorization, extraction_strength, forget_quality, probability};

use super::{Measure, Metric};
use crate::leaderboard::Format;
use crate::summary::EvalSummary;

/// The mean of a per-answer metric over the forget rows' token statistics.
pub struct ForgetAnswers {
    key: &'static str,
    header: &'static str,
    metric: fn(&TokenStats) -> Option<f64>,
}

impl ForgetAnswers {
    /// Mean `exp(−NLL)` of forget answers.
    pub fn probability() -> Self {
        ForgetAnswers {
            key: "probability",
            header: "probability",
            metric: probability,
        }
    }

    /// Mean exact memorization (share of teacher-forced argmax hits) of forget answers.
    pub fn exact_memorization() -> Self {
        ForgetAnswers {
            key: "exact_memorization",
            header: "exact mem.",
            metric: exact_memorization,
        }
    }

    /// Mean extraction strength of forget answers.
    pub fn extraction_strength() -> Self {
        ForgetAnswers {
            key: "extraction_strength",
            header: "extraction",
            metric: extraction_strength,
        }
    }
}

impl Metric for ForgetAnswers {
    fn key(&self) -> &str {
        self.key
    }
    fn header(&self) -> &str {
        self.header
    }
    fn measure(&self, model: &EvalSummary, _gold: Option<&EvalSummary>) -> Measure {
        Measure::rows(model, Split::Forget, |row| {
            (self.metric)(row.stats.as_ref()?)
        })
    }
}

/// The KS test's p-value of the forget answers' NLLs against the gold model's (TOFU's forget
/// quality): one p-value, which the bootstrap does not redraw.
pub struct ForgetQuality;

impl Metric for ForgetQuality {
    fn key(&self) -> &str {
        "forget_quality"
    }
    fn header(&self) -> &str {
        "forget quality"
    }
    fn format(&self) -> Format {
        Format::Scientific2
    }
    fn measure(&self, model: &EvalSummary, gold: Option<&EvalSummary>) -> Measure {
        let nlls = |summary: &EvalSummary| -> Vec<f64> {
            let rows = summary.outputs.rows.iter();
            rows.filter(|r| r.split == Split::Forget)
                .filter_map(|r| r.nll)
                .collect()
        };
        Measure::Fixed(gold.and_then(|gold| forget_quality(&nlls(model), &nlls(gold)).ok()))
    }
}

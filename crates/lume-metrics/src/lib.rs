//! # lume-metrics
//!
//! The LUME benchmark's scores and the unlearning field's standard metrics, computed exactly as
//! the reference tools compute them: ROUGE as `rouge_score` (NLTK Porter stemmer), exact match
//! with Python string semantics, AUC as scikit-learn, the KS test as SciPy.
//!
//! It knows no engine: model outputs come in as strings and per-token log-probabilities, or
//! through the small [`LanguageModel`] trait that any engine can implement.
//!
//! ```
//! use lume_metrics::{RougeScorer, exact_match, mia_auc, mia_score};
//! let rouge = RougeScorer::default();
//! assert_eq!(rouge.rouge_l("the cat sat", "the cat sat").recall, 1.0);
//! assert_eq!(exact_match("Madera", "madera "), 1.0);
//! let auc = mia_auc(&[0.1, 0.2], &[0.9, 1.1]).unwrap();
//! assert_eq!((auc, mia_score(auc)), (1.0, 0.0));
//! ```

mod aggregate;
mod auc;
mod exact_match;
mod kolmogorov;
mod ks;
mod porter;
mod rouge;
mod score;

pub use aggregate::{
    FinalScore, MMLU_GATE, ScoredRow, TaskAggregate, TaskScores, harmonic_mean, mean,
};
pub use auc::{AucError, mia_auc, mia_score, roc_auc};
pub use exact_match::{exact_match, python_strip};
pub use ks::{KsError, KsMethod, KsResult, ks_2samp};
pub use porter::porter_stem;
pub use rouge::{RougeScore, RougeScorer, rouge_words};
pub use score::{
    InferenceRow, ScoreError, ScoreReport, read_inference_csv, read_mia_csv, score_dir, shards,
};

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
mod attacks;
mod auc;
mod bootstrap;
mod compare;
mod exact_match;
mod inference;
mod inference_io;
mod kolmogorov;
mod ks;
mod language_model;
mod memorization;
mod mmlu;
mod porter;
mod rouge;
mod score;
mod seeds;

pub use aggregate::{
    FinalScore, MMLU_GATE, ScoredRow, TaskAggregate, TaskScores, harmonic_mean, mean,
};
pub use attacks::{
    Attack, DEFAULT_MIN_K, MIN_K_PLUS_PLUS_VARIANCE, forget_quality, membership_auc, privleak,
    zlib_length,
};
pub use auc::{AucError, mia_auc, mia_score, roc_auc};
pub use bootstrap::{
    Bootstrap, BootstrapConfig, Interval, Resamples, Sample, Scored, Scores, bootstrap,
    bootstrap_with, cell, percentile,
};
pub use compare::{CompareError, Comparison, Difference, compare, holm, p_value, paired};
pub use exact_match::{exact_match, exact_match_decided};
pub use inference::{InferenceError, InferenceOptions, InferenceOutputs, run_inference};
pub use ks::{KsError, KsMethod, KsResult, ks_2samp};
pub use language_model::LanguageModel;
pub use lume_data::TokenStats;
pub use memorization::{exact_memorization, extraction_strength, probability};
pub use mmlu::{
    MmluError, MmluJsonl, MmluOutcomes, MmluReport, Question, SHOTS_HELD_OUT, Subject,
    evaluate_mmlu, format_question, mmlu_header, mmlu_prompt, read_mmlu, read_mmlu_jsonl,
};
pub use porter::porter_stem;
pub use rouge::{RougeScore, RougeScorer, rouge_words};
pub use score::{
    InferenceRow, Irregularities, MmluAccuracy, Outputs, ScoreError, ScoreReport,
    read_inference_csv, read_mmlu_metrics, read_outputs, score_dir, shards,
};
pub use seeds::{Seeded, Standing, TIE_LEVEL, rank};

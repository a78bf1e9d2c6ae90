//! # lume-bench
//!
//! The LUME benchmark as a library: what `lume eval`, `lume train`, `lume unlearn` and
//! `lume bench` do, for programs that want it without the command line.
//!
//! - [`evaluate_checkpoint`]: the full protocol on one checkpoint (inference in the reference
//!   evaluator's layout, MMLU, `evaluation_results.json`), through [`ProtocolModel`], our
//!   engine as `lume_metrics::LanguageModel`.
//! - [`fine_tune`] and [`run_method`]: training runs from a checkpoint folder into another,
//!   on [`training_data`] tokenized from a benchmark; [`init_fresh_model`] for a model and
//!   tokenizer built from the data.
//! - [`run_bench`]: target and gold models, every method of a [`Registry`], every evaluation,
//!   the [`Leaderboard`] (one [`Column`] per metric) and plots, each stage cached on disk.
//! - [`write_report`]: `report.html`, one self-contained page of a run folder (leaderboard,
//!   checks, plots, every generation with its score and recalled words, config).
//! - Probes of every method ([`ProbeConfig`]): relearning, quantization ([`WeightFormat`]),
//!   successive requests and forget-set scaling, on subsets from [`forget_order`].
//! - [`BenchConfig`] and [`RunConfig`], read by [`resolve_config`]; progress through an
//!   [`Observer`].
//!
//! ```no_run
//! use lume_bench::{BenchConfig, BenchInputs, Metrics, run_bench};
//! use lume_unlearn::{Registry, Silent};
//!
//! let config = BenchConfig { methods: vec!["ga".into(), "npo".into()], ..BenchConfig::default() };
//! let inputs = BenchInputs { out: "lume-bench".into(), ..BenchInputs::default() };
//! let outcome = run_bench(&config, &inputs, &Registry::builtin(), &Metrics::builtin(), &mut Silent)?;
//! println!("{}", outcome.board.markdown_table());
//! # Ok::<(), lume_bench::BenchError>(())
//! ```
//!
//! [`Registry`]: lume_unlearn::Registry

mod config;
mod error;
mod evaluation;
mod leaderboard;
mod metric;
mod observer;
mod outputs;
mod pipeline;
mod plots;
mod probes;
mod provenance;
mod report;
mod stage;
mod summary;
mod training;
mod tune;
mod uncertainty;

pub use config::{
    BenchConfig, Checkpoints, ChecksConfig, DEFAULT_METHODS, EvalConfig, FreshModel, RunConfig,
    merge, resolve_config,
};
pub use error::{BenchError, Context};
pub use evaluation::{
    EvalInputs, EvalSettings, Evaluation, ProtocolModel, Shard, ShardOutputs, evaluate_checkpoint,
    evaluate_shard, score_outputs,
};
pub use leaderboard::{
    Check, Checks, Column, Format, Leaderboard, ModelRole, Row, Table, UTILITY_GATE_PCT,
};
pub use metric::{
    ForgetAnswers, ForgetQuality, Measure, MembershipAttack, Metric, MetricColumn, Metrics,
    PrivLeak,
};
pub use observer::{Observer, Work};
pub use outputs::Strictness;
pub use pipeline::{BenchInputs, BenchOutcome, TuneOutcome, run_bench, run_tune};
pub use probes::{
    Point, Probe, ProbeConfig, ProbeResults, Quantized, RelearnConfig, Relearning, WeightFormat,
    fold, forget_order, prefix, relearning_split, split_score, subset, with_retain,
};
pub use provenance::OutputLock;
pub use report::{Generation, write_report};
pub use summary::{EvalSummary, StoredDocument, StoredOutputs, StoredRow};
pub use training::{DataFn, fine_tune, init_fresh_model, run_method, training_data};
pub use tune::{Dimension, Floor, Scale, Trial, TuneConfig, TunedDifference, search_space};
pub use uncertainty::{EvalDir, compare_outputs, write_resamples};

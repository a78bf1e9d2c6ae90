//! # lume-data
//!
//! The LUME unlearning benchmark's data: records and their ids, readers for the release's
//! JSONL files and the Hugging Face parquet files, membership-inference sets, validation that
//! names file, line (or row) and field for every problem, statistics, tokenized examples with
//! answer-only loss masks, padded batches, a seeded forget/retain sampler, and a seeded
//! generator of LUME-style synthetic data (the embedded default of `lume`).
//!
//! It knows no tensors: tokenized data is plain vectors that any engine can take.
//!
//! ```
//! use lume_data::{synthesize, Benchmark, Kind, Split, Stats, SynthConfig, Task};
//!
//! let dir = tempfile::tempdir().unwrap();
//! synthesize(SynthConfig { seed: 1, docs_per_task: 6 }).write(dir.path())?;
//! let bench = Benchmark::load(dir.path())?;
//! let stats = Stats::from_records(&bench.records);
//! assert_eq!(stats.count(Split::Forget, Task::Task2, Kind::Question), 3 * 5);
//! # Ok::<(), lume_data::DataError>(())
//! ```

mod benchmark;
mod fields;
mod files;
mod fraction;
mod jsonl;
mod parquet;
mod problem;
mod record;
mod sampler;
mod scan;
pub mod shared;
mod stats;
mod synth;
mod token_stats;
mod tokenized;
mod validate;

pub use benchmark::{Benchmark, MiaSet};
pub use fields::Located;
pub use files::{MAX_TEXT_FILE, open_regular, read_regular, read_regular_string};
pub use fraction::{Fraction, FractionError};
pub use jsonl::{MAX_LINE_BYTES, read_mia, scan_jsonl, write_jsonl, write_mia};
pub use parquet::scan_parquet;
pub use problem::{DataError, Position, Problem, ProblemKind};
pub use record::{IdError, Kind, MiaDocument, Record, RecordId, Split, Task};
pub use sampler::{PairedBatch, PairedSampler, PairingConfig, shuffled_indices};
pub use scan::Scan;
pub use stats::Stats;
pub use synth::{Document, QUIZ_SUBJECT, Quiz, QuizItem, SynthConfig, SynthData, synthesize};
pub use token_stats::{TokenStats, compensated_sum, mean};
pub use tokenized::{
    Batch, ByteEncoder, EncodeError, IGNORE_INDEX, PaddingSide, TextEncoder, TrainingExample,
};
pub use validate::{Validation, validate};

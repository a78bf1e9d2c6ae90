//! [`BenchError`]: why a benchmark step failed, naming the file or stage it failed on.

use std::path::{Path, PathBuf};

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Reading or writing a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The configuration is unusable (unknown key, wrong type, impossible value).
    #[error("{0}")]
    Config(String),
    /// Writing a CSV file failed.
    #[error("{}: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        source: csv::Error,
    },
    /// The benchmark data is unusable.
    #[error(transparent)]
    Data(#[from] lume_data::DataError),
    /// A checkpoint cannot be loaded.
    #[error(transparent)]
    Load(#[from] lume_model::LoadError),
    /// A model's shape is impossible.
    #[error(transparent)]
    ModelConfig(#[from] lume_model::ConfigError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] lume_model::EngineError),
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] lume_model::TokenizerError),
    /// Saving weights failed.
    #[error(transparent)]
    Weights(#[from] lume_model::WeightsError),
    /// Weights could not be quantized.
    #[error(transparent)]
    Quantization(#[from] lume_model::QuantizationError),
    /// The device is not available.
    #[error(transparent)]
    Device(#[from] lume_model::DeviceError),
    /// A method or a training run failed.
    #[error(transparent)]
    Unlearn(#[from] lume_unlearn::UnlearnError),
    /// The model cannot compute in the precision asked for.
    #[error(transparent)]
    Precision(#[from] lume_model::UnsupportedPrecision),
    /// Inference failed on a record or document.
    #[error(transparent)]
    Inference(#[from] lume_metrics::InferenceError),
    /// MMLU failed.
    #[error(transparent)]
    Mmlu(#[from] lume_metrics::MmluError),
    /// Scoring failed.
    #[error(transparent)]
    Score(#[from] lume_metrics::ScoreError),
    /// Another process writes this output now.
    #[error("{}: in use by {}; wait for it to finish or write elsewhere", path.display(), match pid { Some(pid) => format!("process {pid}"), None => "another process".to_owned() })]
    Busy {
        /// The output folder.
        path: PathBuf,
        /// The process holding it, when it said.
        pid: Option<u32>,
    },
    /// An output folder holds work made from other inputs, which lume will not mix with this
    /// run's.
    #[error("{}: {message}", path.display())]
    Stale {
        /// The folder.
        path: PathBuf,
        /// What differs, and how to proceed.
        message: String,
    },
    /// Evaluation outputs that cannot be scored as they are (foreign or missing shards,
    /// repeated ids, non-finite values).
    #[error("{}: {message}", path.display())]
    Outputs {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A failure inside a named step.
    #[error("{context}: {inner}")]
    In {
        /// The step (`loading models/target`, `method \`npo\``).
        context: String,
        /// What failed in it.
        inner: Box<BenchError>,
    },
}

impl BenchError {
    /// `error` at `path`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
        move |error| BenchError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// Names the step an error happened in.
pub trait Context<T> {
    /// The error, inside `context()`.
    fn context(self, context: impl FnOnce() -> String) -> Result<T, BenchError>;
}

impl<T, E: Into<BenchError>> Context<T> for Result<T, E> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::In {
            context: context(),
            inner: Box::new(e.into()),
        })
    }
}

/// Writes pretty JSON through a temporary file renamed into place.
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
    Ok(lume_model::write_atomically(
        path,
        (text + "\n").as_bytes(),
    )?)
}

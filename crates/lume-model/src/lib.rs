//! # lume-model
//!
//! The engine of `lume`: Llama-style decoders on Burn 0.22 (`LlamaForCausalLM`,
//! `OlmoForCausalLM`, `Qwen2ForCausalLM`, `MistralForCausalLM`) configured from a Hugging Face
//! `config.json`, weights from safetensors in the Hugging Face layout (load and save),
//! `tokenizer.json`, KV-cache batched generation, and [`Engine`], which runs the benchmark's
//! inference on text (`lume-bench` presents it as `lume_metrics::LanguageModel`). Devices: Burn's `flex` CPU backend by default,
//! `wgpu` and `cuda` behind cargo features.
//!
//! ```
//! let device = lume_model::DeviceSpec::Cpu.device()?;
//! let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
//! assert_eq!(x.sum().into_scalar::<f32>(), 3.0);
//! # Ok::<(), lume_model::DeviceError>(())
//! ```

mod causal;
mod config;
mod decoder;
mod device;
mod dtype;
mod engine;
mod evaluation;
mod generation;
mod gguf;
mod numerics;
mod quantization;
mod scoring;
mod tokenizer;
mod weights;

pub use causal::{CausalModel, CheckpointError};
pub use config::{ConfigError, Family, Llama3RopeScaling, LlamaShape, ModelConfig, WindowExceeded};
pub use decoder::{
    Attention, Block, ForwardOutput, KvCache, LayerCache, Mlp, Model, Norm, UnsupportedPrecision,
};
pub use device::{DeviceError, DeviceSpec};
pub use dtype::{UnknownDtype, WeightDtype};
pub use engine::{Engine, EngineError};
pub use evaluation::{BulkProgress, Decided};
pub use generation::{GenerationConfig, Sampling};
pub use gguf::{GgmlType, GgufCheckpoint, GgufError, GgufFile, MetaValue, ParseError, TensorInfo};
pub use lume_kernels::{
    AdamWStep, FusedOps, Precision, UnknownPrecision, adamw_update, causal_attention,
    reuse_freed_memory, rms_norm, rope, swiglu, token_nll,
};
pub use numerics::{NUMERICS_VERSION, Numerics};
pub use quantization::{
    DEFAULT_GROUP_SIZE, QuantizationError, RoundToNearest, UnknownQuantization,
};
pub use scoring::row_losses;
pub use tokenizer::{EOS_TOKEN, PAD_TOKEN, TextTokenizer, TokenizerError, clean_up_tokenization};
pub use weights::{
    HostTensors, NamedTensors, WeightsError, read_f32_safetensors, write_atomically,
    write_f32_safetensors,
};

/// Why a checkpoint folder cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `config.json` is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The weights are unusable.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// A `.gguf` file is unusable.
    #[error(transparent)]
    Gguf(#[from] Box<GgufError>),
}

/// Whether `path` names a GGUF file rather than a checkpoint folder.
pub fn is_gguf(path: &std::path::Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

//! llama.cpp's GGUF files: read one into our model and tokenizer, or convert it into a Hugging
//! Face checkpoint folder that transformers loads.
//!
//! The tensors are de-quantized exactly as transformers' GGUF loader does (bit for bit, tested
//! on SmolLM2-135M-Instruct Q4_1), Llama's query/key rows are un-permuted as it does, and the
//! tokenizer is rebuilt as it builds it (byte-level BPE from `tokenizer.ggml.tokens` and
//! `merges`, control tokens added as special tokens).

mod convert;
mod file;
mod quant;

pub use convert::{GgufCheckpoint, GgufError};
pub use file::{GgufFile, MetaValue, ParseError, TensorInfo};
pub use quant::GgmlType;

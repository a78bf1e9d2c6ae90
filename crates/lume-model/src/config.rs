//! A checkpoint's `config.json`, read field for field, and what it means for the decoder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The model families the decoder implements, by their `architectures` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// `LlamaForCausalLM`: RMSNorm, SwiGLU, RoPE (optionally Llama-3 scaled), GQA.
    #[serde(rename = "LlamaForCausalLM")]
    Llama,
    /// `OlmoForCausalLM`: LayerNorm without weight or bias, optional `clip_qkv`.
    #[serde(rename = "OlmoForCausalLM")]
    Olmo,
    /// `Qwen2ForCausalLM`: Llama with biases on q, k and v.
    #[serde(rename = "Qwen2ForCausalLM")]
    Qwen2,
    /// `MistralForCausalLM`: Llama's layout; its sliding attention window is not implemented,
    /// so sequences longer than the window are refused ([`ModelConfig::check_window`]).
    #[serde(rename = "MistralForCausalLM")]
    Mistral,
}

impl Family {
    /// Every supported family.
    pub const ALL: [Family; 4] = [Family::Llama, Family::Olmo, Family::Qwen2, Family::Mistral];

    /// The `architectures` name.
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Llama => "LlamaForCausalLM",
            Family::Olmo => "OlmoForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Mistral => "MistralForCausalLM",
        }
    }

    /// The `model_type` written into `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Olmo => "olmo",
            Family::Qwen2 => "qwen2",
            Family::Mistral => "mistral",
        }
    }

    fn from_architecture(name: &str) -> Option<Self> {
        Family::ALL.into_iter().find(|f| f.architecture() == name)
    }
}

/// Llama-3 style RoPE frequency scaling (`rope_scaling` with `rope_type: "llama3"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Llama3RopeScaling {
    /// Overall factor.
    pub factor: f64,
    /// Wavelengths longer than `original / low_freq_factor` are scaled fully.
    pub low_freq_factor: f64,
    /// Wavelengths shorter than `original / high_freq_factor` are kept.
    pub high_freq_factor: f64,
    /// The context length the model was trained with.
    pub original_max_position_embeddings: usize,
}

/// The decoder's shape and options, resolved from a `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Which family.
    pub family: Family,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual stream width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Norm epsilon (`rms_norm_eps`, or OLMo's LayerNorm 1e-5).
    pub norm_eps: f64,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// Llama-3 RoPE scaling, when the checkpoint has it.
    pub rope_scaling: Option<Llama3RopeScaling>,
    /// Longest sequence.
    pub max_position_embeddings: usize,
    /// Clamp q, k, v to ±this (OLMo).
    pub clip_qkv: Option<f64>,
    /// Biases on the q, k, v projections (Qwen2, or `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (`attention_bias` on Llama).
    pub o_bias: bool,
    /// The output head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence id, if any.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence ids (generation stops at any).
    pub eos_token_ids: Vec<u32>,
    /// Padding id, if any.
    pub pad_token_id: Option<u32>,
    /// The sliding attention window (Mistral's `sliding_window`, Qwen2's when
    /// `use_sliding_window`): within it attention is full, beyond it ours would differ.
    pub sliding_window: Option<usize>,
}

/// A sequence longer than the checkpoint's sliding attention window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{tokens} tokens exceed the checkpoint's sliding attention window of {window} \
     (`sliding_window` in config.json); sliding-window attention is not implemented, so the \
     numbers would differ from transformers'"
)]
pub struct WindowExceeded {
    /// Tokens in the sequence.
    pub tokens: usize,
    /// The window.
    pub window: usize,
}

/// Why a `config.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not JSON, or a field has the wrong type.
    #[error("{}: line {line}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The architecture is not one we implement.
    #[error("{}: architecture {found:?} is not supported (supported: {})", path.display(), supported())]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// What the file names.
        found: String,
    },
    /// A required key is missing or a value is impossible.
    #[error("{}: field `{field}`: {message}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The key.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn supported() -> String {
    Family::ALL
        .iter()
        .map(|f| f.architecture())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The subset of Hugging Face keys we read; everything else is ignored.
#[derive(Deserialize)]
struct RawConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    layer_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    /// transformers ≥ 5 writes θ and the scaling together here.
    rope_parameters: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    clip_qkv: Option<f64>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    attention_bias: Option<bool>,
    tie_word_embeddings: Option<bool>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<serde_json::Value>,
    pad_token_id: Option<u32>,
}

/// `field` of the `config.json` at `path` is wrong: `message`.
fn field_error(path: &Path, field: &'static str, message: &str) -> ConfigError {
    ConfigError::Field {
        path: path.to_path_buf(),
        field,
        message: message.to_owned(),
    }
}

impl RawConfig {
    /// The model family, from `architectures` or else `model_type`.
    fn family(&self, path: &Path) -> Result<Family, ConfigError> {
        let architecture = self
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .or_else(|| {
                let t = self.model_type.as_deref()?;
                Family::ALL
                    .into_iter()
                    .find(|f| f.model_type() == t)
                    .map(|f| f.architecture().to_owned())
            })
            .ok_or_else(|| {
                field_error(path, "architectures", "missing (and no known `model_type`)")
            })?;
        Family::from_architecture(&architecture).ok_or_else(|| {
            ConfigError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                found: architecture,
            }
        })
    }

    /// RoPE's base and scaling, from `rope_parameters` (newer transformers) or
    /// `rope_theta` / `rope_scaling`.
    fn rope(&self, path: &Path) -> Result<(f64, Option<Llama3RopeScaling>), ConfigError> {
        let field = |message: &str| field_error(path, "rope_scaling", message);
        let rope_parameters = self.rope_parameters.as_ref().filter(|v| v.is_object());
        let rope_theta = rope_parameters
            .and_then(|p| p.get("rope_theta"))
            .and_then(|t| t.as_f64())
            .or(self.rope_theta)
            .unwrap_or(10_000.0);
        let Some(v) = rope_parameters
            .or(self.rope_scaling.as_ref())
            .filter(|v| !v.is_null())
        else {
            return Ok((rope_theta, None));
        };
        let kind = v
            .get("rope_type")
            .or_else(|| v.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let scaling = match kind {
            "llama3" => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| field(&format!("llama3 scaling: {e}")))?,
            ),
            "default" => None,
            other => {
                return Err(field(&format!(
                    "rope type {other:?} is not supported (supported: llama3)"
                )));
            }
        };
        Ok((rope_theta, scaling))
    }

    /// `eos_token_id`: none, one id or a list of ids.
    fn eos_token_ids(&self, path: &Path) -> Result<Vec<u32>, ConfigError> {
        Ok(match &self.eos_token_id {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().map(|n| n as u32).into_iter().collect()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_u64().map(|n| n as u32))
                .collect(),
            Some(_) => {
                return Err(field_error(
                    path,
                    "eos_token_id",
                    "expected an id or a list of ids",
                ));
            }
        })
    }
}

impl ModelConfig {
    /// Reads and resolves a checkpoint's `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = lume_data::read_regular_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Resolves `config.json` text; `path` is only used in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })?;
        let field = |field: &'static str, message: &str| field_error(path, field, message);
        let family = raw.family(path)?;
        let need = |v: Option<usize>, name: &'static str| {
            v.filter(|&n| n > 0)
                .ok_or_else(|| field(name, "missing or zero"))
        };
        let hidden_size = need(raw.hidden_size, "hidden_size")?;
        let num_attention_heads = need(raw.num_attention_heads, "num_attention_heads")?;
        let num_key_value_heads = raw.num_key_value_heads.unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(field(
                "num_key_value_heads",
                "must divide num_attention_heads",
            ));
        }
        let head_dim = raw.head_dim.unwrap_or(hidden_size / num_attention_heads);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(field(
                "head_dim",
                "must be even and positive (RoPE rotates pairs)",
            ));
        }
        let (rope_theta, rope_scaling) = raw.rope(path)?;
        let eos_token_ids = raw.eos_token_ids(path)?;
        let attention_bias = raw.attention_bias.unwrap_or(false);
        let config = ModelConfig {
            family,
            vocab_size: need(raw.vocab_size, "vocab_size")?,
            hidden_size,
            intermediate_size: need(raw.intermediate_size, "intermediate_size")?,
            num_hidden_layers: need(raw.num_hidden_layers, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            norm_eps: match family {
                Family::Olmo => raw.layer_norm_eps.unwrap_or(1e-5),
                _ => raw.rms_norm_eps.unwrap_or(1e-6),
            },
            rope_theta,
            rope_scaling,
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(2048),
            clip_qkv: raw.clip_qkv,
            sliding_window: match family {
                Family::Mistral => raw.sliding_window,
                Family::Qwen2 if raw.use_sliding_window == Some(true) => raw.sliding_window,
                _ => None,
            },
            qkv_bias: family == Family::Qwen2 || attention_bias,
            o_bias: family != Family::Qwen2 && attention_bias,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            bos_token_id: raw.bos_token_id,
            eos_token_ids,
            pad_token_id: raw.pad_token_id,
        };
        config.check_limits(path)?;
        Ok(config)
    }

    /// Refuses sizes no real model has before anything is allocated from them, and token ids
    /// outside the vocabulary.
    fn check_limits(&self, path: &Path) -> Result<(), ConfigError> {
        let field = |field: &'static str, message: String| field_error(path, field, &message);
        for (name, value, max) in [
            ("num_hidden_layers", self.num_hidden_layers, 1 << 10),
            ("hidden_size", self.hidden_size, 1 << 17),
            ("intermediate_size", self.intermediate_size, 1 << 19),
            ("vocab_size", self.vocab_size, 1 << 24),
            ("num_attention_heads", self.num_attention_heads, 1 << 10),
            ("head_dim", self.head_dim, 1 << 12),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1 << 24,
            ),
        ] {
            if value == 0 || value > max {
                return Err(field(name, format!("{value} is outside 1..={max}")));
            }
        }
        let ids = [
            ("pad_token_id", self.pad_token_id),
            ("bos_token_id", self.bos_token_id),
        ]
        .into_iter()
        .chain(
            self.eos_token_ids
                .iter()
                .map(|&id| ("eos_token_id", Some(id))),
        );
        for (name, id) in ids {
            if let Some(id) = id.filter(|&id| id as usize >= self.vocab_size) {
                return Err(field(
                    name,
                    format!("{id} is outside the vocabulary of {}", self.vocab_size),
                ));
            }
        }
        Ok(())
    }
}

/// The shape of a Llama model built from scratch (by `lume perf`, `lume train`, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlamaShape {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual stream width.
    pub hidden_size: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Query heads (must divide `hidden_size`).
    pub heads: usize,
    /// Key/value heads (must divide `heads`).
    pub kv_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Longest sequence.
    pub max_positions: usize,
}

impl ModelConfig {
    /// A `LlamaForCausalLM` of the given shape (RMSNorm eps 1e-6, θ 10000, untied head).
    ///
    /// ```
    /// use lume_model::{LlamaShape, ModelConfig};
    /// let shape = LlamaShape { vocab_size: 64, hidden_size: 32, layers: 2, heads: 4, kv_heads: 2,
    ///     intermediate_size: 64, max_positions: 128 };
    /// let config = ModelConfig::llama(shape).unwrap();
    /// assert_eq!(config.head_dim, 8);
    /// assert!(ModelConfig::llama(LlamaShape { heads: 5, ..shape }).is_err());
    /// ```
    pub fn llama(shape: LlamaShape) -> Result<Self, ConfigError> {
        let bad = |message: String| ConfigError::Field {
            path: std::path::PathBuf::from("<llama shape>"),
            field: "shape",
            message,
        };
        let LlamaShape {
            vocab_size,
            hidden_size,
            layers,
            heads,
            kv_heads,
            intermediate_size,
            max_positions,
        } = shape;
        if [
            vocab_size,
            hidden_size,
            layers,
            heads,
            kv_heads,
            intermediate_size,
            max_positions,
        ]
        .contains(&0)
        {
            return Err(bad("every size must be positive".into()));
        }
        if hidden_size % heads != 0 || heads % kv_heads != 0 || (hidden_size / heads) % 2 != 0 {
            return Err(bad(format!(
                "hidden {hidden_size}, heads {heads}, kv heads {kv_heads}: heads must divide hidden into an even head width, and kv heads must divide heads"
            )));
        }
        let config = ModelConfig {
            family: Family::Llama,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim: hidden_size / heads,
            norm_eps: 1e-6,
            rope_theta: 10_000.0,
            rope_scaling: None,
            max_position_embeddings: max_positions,
            clip_qkv: None,
            sliding_window: None,
            qkv_bias: false,
            o_bias: false,
            tie_word_embeddings: false,
            bos_token_id: None,
            eos_token_ids: Vec::new(),
            pad_token_id: None,
        };
        config.check_limits(Path::new("the model shape"))?;
        Ok(config)
    }
}

impl ModelConfig {
    /// Refuses a sequence of `tokens` that the sliding attention window would cut, where our
    /// full attention would give other numbers than transformers.
    ///
    /// ```
    /// use lume_model::{LlamaShape, ModelConfig};
    /// let mut c = ModelConfig::llama(LlamaShape { vocab_size: 8, hidden_size: 8, layers: 1,
    ///     heads: 2, kv_heads: 1, intermediate_size: 8, max_positions: 64 }).unwrap();
    /// assert!(c.check_window(64).is_ok());
    /// c.sliding_window = Some(16);
    /// assert!(c.check_window(16).is_ok());
    /// assert_eq!(c.check_window(17).unwrap_err().window, 16);
    /// ```
    pub fn check_window(&self, tokens: usize) -> Result<(), WindowExceeded> {
        match self.sliding_window {
            Some(window) if tokens > window => Err(WindowExceeded { tokens, window }),
            _ => Ok(()),
        }
    }

    /// The `config.json` transformers reads back into the same model.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "architectures": [self.family.architecture()],
            "model_type": self.family.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "attention_bias": self.o_bias || (self.qkv_bias && self.family != Family::Qwen2),
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": match self.eos_token_ids.as_slice() {
                [one] => serde_json::json!(one),
                many => serde_json::json!(many),
            },
            "pad_token_id": self.pad_token_id,
            "torch_dtype": "float32",
        });
        let obj = v.as_object_mut().expect("a JSON object literal");
        if let Some(window) = self.sliding_window {
            obj.insert("sliding_window".into(), serde_json::json!(window));
            if self.family == Family::Qwen2 {
                obj.insert("use_sliding_window".into(), serde_json::json!(true));
            }
        }
        match self.family {
            Family::Olmo => {
                obj.insert("clip_qkv".into(), serde_json::json!(self.clip_qkv));
            }
            _ => {
                obj.insert("rms_norm_eps".into(), serde_json::json!(self.norm_eps));
            }
        }
        if let Some(s) = self.rope_scaling {
            obj.insert(
                "rope_scaling".into(),
                serde_json::json!({
                    "rope_type": "llama3",
                    "factor": s.factor,
                    "low_freq_factor": s.low_freq_factor,
                    "high_freq_factor": s.high_freq_factor,
                    "original_max_position_embeddings": s.original_max_position_embeddings,
                }),
            );
        }
        v
    }
}

#[cfg(test)]
mod tests;

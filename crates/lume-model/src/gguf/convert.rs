//! From a GGUF file's metadata and tensors to our configuration, Hugging Face tensor names and a
//! tokenizer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::file::{GgufFile, MetaValue, ParseError};
use crate::config::{ConfigError, ModelConfig};
use crate::decoder::Model;
use crate::tokenizer::{TextTokenizer, TokenizerError};
use crate::weights::{
    HostTensors, NamedTensors, WeightsError, write_config_files, write_f32_safetensors,
    write_json_atomically,
};

/// Why a GGUF file cannot be read or converted.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The container is malformed.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        source: ParseError,
    },
    /// A metadata key is missing or unusable, or the model is not one lume runs.
    #[error("{}: {message}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The configuration built from the metadata is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Writing the converted checkpoint failed.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// Building or saving the tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

/// A GGUF checkpoint read into lume's terms: the configuration, every tensor de-quantized to
/// f32 under its Hugging Face name and shape, and the tokenizer.
///
/// ```no_run
/// use lume_model::GgufCheckpoint;
/// let checkpoint = GgufCheckpoint::read("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref())?;
/// checkpoint.write_hf_dir("smollm2-hf".as_ref())?; // transformers' from_pretrained reads it
/// # Ok::<(), lume_model::GgufError>(())
/// ```
pub struct GgufCheckpoint {
    /// The decoder's configuration, as transformers builds it from the metadata.
    pub config: ModelConfig,
    /// De-quantized tensors by Hugging Face name.
    pub tensors: NamedTensors,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// Special tokens by role (`bos_token`, `eos_token`, `unk_token`, `pad_token`).
    pub special_tokens: BTreeMap<&'static str, String>,
}

/// The Hugging Face name of a llama.cpp tensor name, with whether its rows are permuted as
/// llama.cpp permutes queries (`Some(false)`) or keys (`Some(true)`).
fn hf_name(name: &str) -> Option<(String, Option<bool>)> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(n) = fixed {
        return Some((n.to_owned(), None));
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, permuted) = match part.rsplit_once('.')? {
        ("attn_q", _) => ("self_attn.q_proj", Some(false)),
        ("attn_k", _) => ("self_attn.k_proj", Some(true)),
        ("attn_v", _) => ("self_attn.v_proj", None),
        ("attn_output", _) => ("self_attn.o_proj", None),
        ("attn_norm", _) => ("input_layernorm", None),
        ("ffn_norm", _) => ("post_attention_layernorm", None),
        ("ffn_gate", _) => ("mlp.gate_proj", None),
        ("ffn_up", _) => ("mlp.up_proj", None),
        ("ffn_down", _) => ("mlp.down_proj", None),
        _ => return None,
    };
    let suffix = part.rsplit_once('.')?.1;
    Some((format!("model.layers.{layer}.{module}.{suffix}"), permuted))
}

/// Undoes llama.cpp's interleaving of the two RoPE halves in each head's rows: GGUF row
/// `(head, j, i)` of shape `(heads, dim, 2)` is Hugging Face row `(head, i, j)`.
fn unpermute_rows(values: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    let cols = values.len() / rows;
    let dim = rows / heads / 2;
    let mut out = vec![0.0; values.len()];
    for head in 0..heads {
        for i in 0..2 {
            for j in 0..dim {
                let to = head * 2 * dim + i * dim + j;
                let from = head * 2 * dim + j * 2 + i;
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&values[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

struct Meta<'a> {
    file: &'a GgufFile,
    path: &'a Path,
    arch: String,
}

impl Meta<'_> {
    fn fail<T>(&self, message: String) -> Result<T, GgufError> {
        Err(GgufError::Unsupported {
            path: self.path.to_path_buf(),
            message,
        })
    }

    fn value(&self, key: &str) -> Result<&MetaValue, GgufError> {
        match self.file.get(key) {
            Some(v) => Ok(v),
            None => self.fail(format!("metadata key `{key}` is missing")),
        }
    }

    fn uint(&self, key: &str) -> Result<u64, GgufError> {
        match self.value(key)?.as_u64() {
            Some(v) => Ok(v),
            None => self.fail(format!(
                "metadata key `{key}` is not a non-negative integer"
            )),
        }
    }

    fn arch_uint(&self, key: &str) -> Result<u64, GgufError> {
        self.uint(&format!("{}.{key}", self.arch))
    }

    fn arch_float(&self, key: &str) -> Result<Option<f64>, GgufError> {
        let key = format!("{}.{key}", self.arch);
        match self.file.get(&key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) => Ok(Some(x)),
                None => self.fail(format!("metadata key `{key}` is not a number")),
            },
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let items = match self.value(key)?.as_array() {
            Some(items) => items,
            None => return self.fail(format!("metadata key `{key}` is not an array")),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_str() {
                Some(s) => Ok(s),
                None => self.fail(format!("metadata key `{key}`: item {i} is not a string")),
            })
            .collect()
    }

    fn token_id(&self, role: &str) -> Option<u32> {
        self.file
            .get(&format!("tokenizer.ggml.{role}_token_id"))
            .and_then(MetaValue::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    }
}

impl GgufCheckpoint {
    /// Reads and de-quantizes a GGUF file of a Llama-architecture model with a byte-level BPE
    /// (`gpt2`) tokenizer.
    pub fn read(path: &Path) -> Result<Self, GgufError> {
        let bytes = lume_data::read_regular(path, u64::MAX).map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = GgufFile::parse(bytes).map_err(|source| GgufError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let mut meta = Meta {
            file: &file,
            path,
            arch: String::new(),
        };
        meta.arch = match meta.value("general.architecture")?.as_str() {
            Some("llama") => "llama".to_owned(),
            Some(other) => {
                return meta.fail(format!(
                    "architecture `{other}` is not supported (supported: llama)"
                ));
            }
            None => return meta.fail("`general.architecture` is not a string".into()),
        };
        let config = config_of(&meta)?;
        let tensors = tensors_of(&meta, &config)?;
        // The metadata (block_count, embedding_length, …) must describe the tensors there.
        crate::weights::check_tensors(&config, &tensors, path).map_err(|e| {
            GgufError::Unsupported {
                path: path.to_path_buf(),
                message: format!("the metadata does not describe the tensors: {e}"),
            }
        })?;
        let (tokenizer, special_tokens) = tokenizer_of(&meta)?;
        Ok(GgufCheckpoint {
            config,
            tensors,
            tokenizer,
            special_tokens,
        })
    }

    /// The model on `device` (its tensors moved, not copied) and its tokenizer; `path` names
    /// the file in errors.
    pub fn into_model(
        self,
        path: &Path,
        device: &burn::tensor::Device,
    ) -> Result<(Model, TextTokenizer), WeightsError> {
        let host = HostTensors::from_named(self.tensors);
        let model = Model::from_host_tensors(&self.config, host, path, device)?;
        Ok((model, self.tokenizer))
    }

    /// Writes a Hugging Face checkpoint folder: `config.json`, `generation_config.json`,
    /// `model.safetensors` (f32), `tokenizer.json` and `tokenizer_config.json`.
    pub fn write_hf_dir(&self, dir: &Path) -> Result<(), GgufError> {
        let io = |source| {
            GgufError::Weights(WeightsError::Io {
                path: dir.to_path_buf(),
                source,
            })
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let tensors = self
            .tensors
            .iter()
            .map(|(name, (shape, values))| (name.clone(), shape.clone(), values.as_slice()))
            .collect();
        let metadata = [("format".to_owned(), "pt".to_owned())].into();
        write_f32_safetensors(&dir.join("model.safetensors"), tensors, metadata)?;
        let c = &self.config;
        write_config_files(c, dir)?;
        self.tokenizer.save(dir)?;
        let mut tokenizer_config = serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": c.max_position_embeddings,
            "add_bos_token": false,
        });
        for (role, token) in &self.special_tokens {
            tokenizer_config[*role] = serde_json::json!(token);
        }
        write_json_atomically(&dir.join("tokenizer_config.json"), &tokenizer_config)?;
        Ok(())
    }
}

fn config_of(meta: &Meta<'_>) -> Result<ModelConfig, GgufError> {
    let heads = meta.arch_uint("attention.head_count")?;
    let hidden = meta.arch_uint("embedding_length")?;
    let vocab = match meta.file.get(&format!("{}.vocab_size", meta.arch)) {
        Some(_) => meta.arch_uint("vocab_size")?,
        None => meta.strings("tokenizer.ggml.tokens")?.len() as u64,
    };
    let mut json = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": meta.arch_uint("feed_forward_length")?,
        "num_hidden_layers": meta.arch_uint("block_count")?,
        "num_attention_heads": heads,
        "num_key_value_heads": match meta.file.get(&format!("{}.attention.head_count_kv", meta.arch)) {
            Some(_) => meta.arch_uint("attention.head_count_kv")?,
            None => heads,
        },
        "max_position_embeddings": meta.arch_uint("context_length")?,
        "tie_word_embeddings": meta.file.tensor("output.weight").is_none(),
        "bos_token_id": meta.token_id("bos"),
        "eos_token_id": meta.token_id("eos"),
        "pad_token_id": meta.token_id("padding"),
    });
    if let Some(theta) = meta.arch_float("rope.freq_base")? {
        json["rope_theta"] = serde_json::json!(theta);
    }
    if let Some(eps) = meta.arch_float("attention.layer_norm_rms_epsilon")? {
        json["rms_norm_eps"] = serde_json::json!(eps);
    }
    if let Some(dims) = meta
        .file
        .get(&format!("{}.rope.dimension_count", meta.arch))
    {
        json["head_dim"] = serde_json::json!(dims.as_u64());
    }
    if meta
        .file
        .get(&format!("{}.rope.scaling.type", meta.arch))
        .is_some()
    {
        return meta.fail("RoPE scaling in GGUF metadata is not supported yet".into());
    }
    Ok(ModelConfig::from_json(&json.to_string(), meta.path)?)
}

fn tensors_of(meta: &Meta<'_>, config: &ModelConfig) -> Result<NamedTensors, GgufError> {
    let mut out = NamedTensors::new();
    for info in &meta.file.tensors {
        if info.name == "rope_freqs.weight" {
            continue; // recomputed from the configuration
        }
        let Some((name, permuted)) = hf_name(&info.name) else {
            return meta.fail(format!(
                "tensor `{}` has no Hugging Face counterpart",
                info.name
            ));
        };
        let shape = info.shape();
        let mut values = meta
            .file
            .dequantize(info)
            .map_err(|source| GgufError::Parse {
                path: meta.path.to_path_buf(),
                source,
            })?;
        if let Some(is_key) = permuted {
            let heads = if is_key {
                config.num_key_value_heads
            } else {
                config.num_attention_heads
            };
            let rows = shape.first().copied().unwrap_or(0);
            if heads == 0 || rows == 0 || rows % (2 * heads) != 0 {
                return meta.fail(format!(
                    "tensor `{}`: {rows} rows do not split into {heads} heads of two halves",
                    info.name
                ));
            }
            values = unpermute_rows(&values, rows, heads);
        }
        out.insert(name, (shape, values));
    }
    Ok(out)
}

fn tokenizer_of(
    meta: &Meta<'_>,
) -> Result<(TextTokenizer, BTreeMap<&'static str, String>), GgufError> {
    match meta.value("tokenizer.ggml.model")?.as_str() {
        Some("gpt2") => {}
        other => {
            return meta.fail(format!(
                "tokenizer model {other:?} is not supported (supported: gpt2, byte-level BPE)"
            ));
        }
    }
    let tokens = meta.strings("tokenizer.ggml.tokens")?;
    let merges = meta.strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match meta.file.get("tokenizer.ggml.token_type") {
        Some(MetaValue::Array(items)) => items
            .iter()
            .map(|v| match *v {
                MetaValue::Int(i) => i,
                MetaValue::Uint(u) => u as i64,
                _ => 0,
            })
            .collect(),
        _ => Vec::new(),
    };
    let tokenizer = TextTokenizer::byte_level_bpe(&tokens, &merges, &types)?;
    let mut special = BTreeMap::new();
    for (role, key) in [
        ("bos_token", "bos"),
        ("eos_token", "eos"),
        ("unk_token", "unknown"),
        ("pad_token", "padding"),
    ] {
        if let Some(token) = meta.token_id(key).and_then(|id| tokens.get(id as usize)) {
            special.insert(role, (*token).to_owned());
        }
    }
    Ok((tokenizer, special))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hugging_face_and_say_which_rows_are_permuted() {
        assert_eq!(
            hf_name("blk.12.attn_k.weight"),
            Some(("model.layers.12.self_attn.k_proj.weight".into(), Some(true)))
        );
        assert_eq!(
            hf_name("token_embd.weight"),
            Some(("model.embed_tokens.weight".into(), None))
        );
        assert_eq!(hf_name("blk.x.attn_k.weight"), None);
        assert_eq!(hf_name("blk.0.ssm_a"), None);
    }

    #[test]
    fn unpermuting_inverts_llama_cpp_permutation() {
        // llama.cpp: reshape(heads, 2, dim, cols).swapaxes(1, 2): row (h, i, j) → (h, j, i).
        let (heads, dim, cols) = (3, 4, 2);
        let rows = heads * 2 * dim;
        let hf: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let mut gguf = vec![0.0; hf.len()];
        for h in 0..heads {
            for i in 0..2 {
                for j in 0..dim {
                    let (src, dst) = (h * 2 * dim + i * dim + j, h * 2 * dim + j * 2 + i);
                    gguf[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&hf[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&gguf, rows, heads), hf);
    }
}

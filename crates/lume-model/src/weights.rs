//! Weights in the Hugging Face layout: safetensors files (single or sharded), f32/bf16/f16.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::config::ModelConfig;
use crate::decoder::Model;

/// Why weights cannot be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A file could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a safetensors file, or a malformed index.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor could not be read back from the device to be saved.
    #[error("reading `{tensor}` back from the device: {message}")]
    DeviceRead {
        /// The tensor's name.
        tensor: String,
        /// What the device said.
        message: String,
    },
    /// The tensors do not fit the config.
    #[error("{}: {}", path.display(), problems.join("; "))]
    Mismatch {
        /// The checkpoint folder.
        path: PathBuf,
        /// Every missing, unexpected or mis-shaped tensor.
        problems: Vec<String>,
    },
}

/// Host copies of a checkpoint's tensors, by Hugging Face name, converted to f32.
pub struct HostTensors {
    tensors: NamedTensors,
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

impl HostTensors {
    /// Host tensors already converted to f32, by Hugging Face name.
    pub fn from_named(tensors: NamedTensors) -> Self {
        HostTensors { tensors }
    }

    /// Reads `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    pub fn read_dir(dir: &Path) -> Result<Self, WeightsError> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if single.exists() {
            vec![single]
        } else if index.exists() {
            let text =
                lume_data::read_regular_string(&index).map_err(|source| WeightsError::Io {
                    path: index.clone(),
                    source,
                })?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| WeightsError::Format {
                    path: index.clone(),
                    message: e.to_string(),
                })?;
            let map = json["weight_map"]
                .as_object()
                .ok_or_else(|| WeightsError::Format {
                    path: index.clone(),
                    message: "no `weight_map` object".into(),
                })?;
            let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
            // A shard is a file beside the index: never a path elsewhere on the machine.
            if let Some(bad) = shards.iter().find(|s| {
                Path::new(s).components().count() != 1
                    || !matches!(
                        Path::new(s).components().next(),
                        Some(std::path::Component::Normal(_))
                    )
            }) {
                return Err(WeightsError::Format {
                    path: index.clone(),
                    message: format!(
                        "`weight_map` names {bad:?}: shards must be file names beside the index"
                    ),
                });
            }
            shards.into_iter().map(|s| dir.join(s)).collect()
        } else {
            return Err(WeightsError::Format {
                path: dir.to_path_buf(),
                message: "no model.safetensors or model.safetensors.index.json".into(),
            });
        };
        let mut tensors = BTreeMap::new();
        for file in files {
            tensors.extend(read_f32_safetensors(&file)?.0);
        }
        Ok(HostTensors { tensors })
    }
}

/// Tensors on the host by name: shape and f32 values.
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A safetensors file's tensors, converted to f32 (from f32, bf16 or f16), and its metadata.
pub fn read_f32_safetensors(
    file: &Path,
) -> Result<(NamedTensors, HashMap<String, String>), WeightsError> {
    let bytes = lume_data::read_regular(file, u64::MAX).map_err(|source| WeightsError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let format = |message: String| WeightsError::Format {
        path: file.to_path_buf(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| format(e.to_string()))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = to_f32(view.dtype(), view.data()).ok_or_else(|| {
            format(format!(
                "tensor {name}: dtype {:?} is not f32, bf16 or f16",
                view.dtype()
            ))
        })?;
        tensors.insert(name, (view.shape().to_vec(), data));
    }
    Ok((tensors, metadata))
}

/// Writes f32 tensors `(name, shape, values)` as one safetensors file, atomically.
pub fn write_f32_safetensors<V: AsRef<[f32]>>(
    file: &Path,
    tensors: Vec<(String, Vec<usize>, V)>,
    metadata: HashMap<String, String>,
) -> Result<(), WeightsError> {
    let views = tensors.into_iter().map(|(name, shape, values)| {
        let bytes = values
            .as_ref()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        (name, HostView { shape, bytes })
    });
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| WeightsError::Format {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?;
    write_atomically(file, &bytes)
}

/// Every Hugging Face tensor name the config implies, with its stored shape.
fn expected(config: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
    );
    let (qd, kvd) = (
        config.num_attention_heads * config.head_dim,
        config.num_key_value_heads * config.head_dim,
    );
    let mut out = vec![("model.embed_tokens.weight".to_owned(), vec![v, h])];
    for l in 0..config.num_hidden_layers {
        let p = format!("model.layers.{l}");
        for (name, shape) in [
            ("self_attn.q_proj", vec![qd, h]),
            ("self_attn.k_proj", vec![kvd, h]),
            ("self_attn.v_proj", vec![kvd, h]),
            ("self_attn.o_proj", vec![h, qd]),
            ("mlp.gate_proj", vec![i, h]),
            ("mlp.up_proj", vec![i, h]),
            ("mlp.down_proj", vec![h, i]),
        ] {
            out.push((format!("{p}.{name}.weight"), shape));
        }
        if config.qkv_bias {
            out.push((format!("{p}.self_attn.q_proj.bias"), vec![qd]));
            out.push((format!("{p}.self_attn.k_proj.bias"), vec![kvd]));
            out.push((format!("{p}.self_attn.v_proj.bias"), vec![kvd]));
        }
        if config.o_bias {
            out.push((format!("{p}.self_attn.o_proj.bias"), vec![h]));
        }
        if config.family != crate::config::Family::Olmo {
            out.push((format!("{p}.input_layernorm.weight"), vec![h]));
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        }
    }
    if config.family != crate::config::Family::Olmo {
        out.push(("model.norm.weight".to_owned(), vec![h]));
    }
    if !config.tie_word_embeddings {
        out.push(("lm_head.weight".to_owned(), vec![v, h]));
    }
    out
}

/// Every missing, unexpected or mis-shaped tensor of a checkpoint against its configuration,
/// named in one error.
pub(crate) fn check_tensors(
    config: &ModelConfig,
    tensors: &NamedTensors,
    dir: &Path,
) -> Result<(), WeightsError> {
    let mut problems = Vec::new();
    let want = expected(config);
    let wanted: BTreeSet<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
    for name in tensors.keys() {
        // Tied checkpoints sometimes carry lm_head anyway; RoPE buffers are recomputed.
        let harmless = (name == "lm_head.weight" && config.tie_word_embeddings)
            || name.ends_with("rotary_emb.inv_freq");
        if !wanted.contains(name.as_str()) && !harmless {
            problems.push(format!("unexpected tensor {name}"));
        }
    }
    for (name, shape) in &want {
        match tensors.get(name) {
            None => problems.push(format!("missing tensor {name}")),
            Some((s, _)) if s != shape => {
                problems.push(format!("tensor {name} has shape {s:?}, expected {shape:?}"))
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(WeightsError::Mismatch {
            path: dir.to_path_buf(),
            problems,
        });
    }
    Ok(())
}

/// Moves checked host tensors onto the device; names and shapes were verified before.
struct Loader<'a> {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    device: &'a Device,
}

impl Loader<'_> {
    fn take(&mut self, name: &str) -> (Vec<usize>, Vec<f32>) {
        self.tensors.remove(name).unwrap_or_default()
    }

    fn matrix(&mut self, name: &str) -> Tensor<2> {
        let (s, d) = self.take(name);
        Tensor::from_data(TensorData::new(d, [s[0], s[1]]), self.device)
    }

    fn vector(&mut self, name: &str) -> Param<Tensor<1>> {
        let (s, d) = self.take(name);
        Param::from_tensor(Tensor::from_data(TensorData::new(d, [s[0]]), self.device))
    }

    /// Hugging Face stores `[out, in]`; Burn's `Linear` holds `[in, out]`. Transposed on the
    /// host so the weight is contiguous, like a freshly built one: a strided view would take
    /// other kernels and round differently, and a resumed run would drift from an unbroken one.
    fn linear(&mut self, linear: &mut Linear, name: &str, bias: bool) {
        let (s, d) = self.take(&format!("{name}.weight"));
        let (rows, cols) = (s[0], s[1]);
        linear.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(transposed(&d, rows, cols), [cols, rows]),
            self.device,
        ));
        linear.bias = bias.then(|| self.vector(&format!("{name}.bias")));
    }
}

/// `d` `[rows, cols]` transposed to `[cols, rows]`, on every core, in blocks of 64 columns
/// whose output rows stay in cache while the input is read row by row (element by element,
/// loading SmolLM2 spent a third of its time here).
fn transposed(d: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const BLOCK: usize = 64;
    let mut t = vec![0.0f32; d.len()];
    if rows == 0 {
        return t;
    }
    t.par_chunks_mut(BLOCK * rows)
        .enumerate()
        .for_each(|(block, out)| {
            let (c0, width) = (block * BLOCK, out.len() / rows);
            for r in 0..rows {
                for (c, &v) in d[r * cols + c0..][..width].iter().enumerate() {
                    out[c * rows + r] = v;
                }
            }
        });
    t
}

impl Model {
    /// Builds the model from a checkpoint's tensors; every missing, unexpected or mis-shaped
    /// tensor is named in the error.
    pub fn from_host_tensors(
        config: &ModelConfig,
        host: HostTensors,
        dir: &Path,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let tensors = host.tensors;
        check_tensors(config, &tensors, dir)?;
        let mut loader = Loader { tensors, device };
        let mut model = Model::new(config, device);
        model.embed_tokens.weight = Param::from_tensor(loader.matrix("model.embed_tokens.weight"));
        for (l, layer) in model.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{l}");
            let a = &mut layer.self_attn;
            loader.linear(
                &mut a.q_proj,
                &format!("{p}.self_attn.q_proj"),
                config.qkv_bias,
            );
            loader.linear(
                &mut a.k_proj,
                &format!("{p}.self_attn.k_proj"),
                config.qkv_bias,
            );
            loader.linear(
                &mut a.v_proj,
                &format!("{p}.self_attn.v_proj"),
                config.qkv_bias,
            );
            loader.linear(
                &mut a.o_proj,
                &format!("{p}.self_attn.o_proj"),
                config.o_bias,
            );
            let m = &mut layer.mlp;
            loader.linear(&mut m.gate_proj, &format!("{p}.mlp.gate_proj"), false);
            loader.linear(&mut m.up_proj, &format!("{p}.mlp.up_proj"), false);
            loader.linear(&mut m.down_proj, &format!("{p}.mlp.down_proj"), false);
            if layer.input_layernorm.weight.is_some() {
                layer.input_layernorm.weight =
                    Some(loader.vector(&format!("{p}.input_layernorm.weight")));
                layer.post_attention_layernorm.weight =
                    Some(loader.vector(&format!("{p}.post_attention_layernorm.weight")));
            }
        }
        if model.norm.weight.is_some() {
            model.norm.weight = Some(loader.vector("model.norm.weight"));
        }
        if let Some(head) = model.lm_head.as_mut() {
            loader.linear(head, "lm_head", false);
        }
        Ok(model)
    }

    /// Loads `config.json` and the safetensors weights of a Hugging Face checkpoint folder, or
    /// a `.gguf` file (de-quantized to f32).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, crate::LoadError> {
        if crate::is_gguf(dir) {
            let checkpoint = crate::GgufCheckpoint::read(dir).map_err(Box::new)?;
            let (model, _) = checkpoint.into_model(dir, device)?;
            return Ok(model);
        }
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let host = HostTensors::read_dir(dir)?;
        Ok(Model::from_host_tensors(&config, host, dir, device)?)
    }
}

/// An f32 tensor on the host, ready for safetensors.
struct HostView {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for HostView {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

type HostTensor = (String, Vec<usize>, Vec<f32>);

fn host_tensor<const D: usize>(name: String, t: Tensor<D>) -> Result<HostTensor, WeightsError> {
    let shape = t.dims().to_vec();
    match t.into_data().try_to_vec_as::<f32>() {
        Ok(values) => Ok((name, shape, values)),
        Err(e) => Err(WeightsError::DeviceRead {
            tensor: name,
            message: format!("{e:?}"),
        }),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WeightsError> {
    let tmp = path.with_extension("tmp");
    let io = |source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

impl Model {
    /// Every tensor under its Hugging Face name, `[out, in]` like transformers stores them.
    fn hf_tensors(&self) -> Result<Vec<HostTensor>, WeightsError> {
        let mut out = vec![host_tensor(
            "model.embed_tokens.weight".to_owned(),
            self.embed_tokens.weight.val(),
        )?];
        let linear = |out: &mut Vec<HostTensor>, l: &Linear, name: String| {
            out.push(host_tensor(
                format!("{name}.weight"),
                l.weight.val().transpose(),
            )?);
            if let Some(b) = &l.bias {
                out.push(host_tensor(format!("{name}.bias"), b.val())?);
            }
            Ok::<(), WeightsError>(())
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            let a = &layer.self_attn;
            for (l, n) in [
                (&a.q_proj, "q_proj"),
                (&a.k_proj, "k_proj"),
                (&a.v_proj, "v_proj"),
                (&a.o_proj, "o_proj"),
            ] {
                linear(&mut out, l, format!("{p}.self_attn.{n}"))?;
            }
            let m = &layer.mlp;
            for (l, n) in [
                (&m.gate_proj, "gate_proj"),
                (&m.up_proj, "up_proj"),
                (&m.down_proj, "down_proj"),
            ] {
                linear(&mut out, l, format!("{p}.mlp.{n}"))?;
            }
            for (norm, n) in [
                (&layer.input_layernorm, "input_layernorm"),
                (&layer.post_attention_layernorm, "post_attention_layernorm"),
            ] {
                if let Some(w) = &norm.weight {
                    out.push(host_tensor(format!("{p}.{n}.weight"), w.val())?);
                }
            }
        }
        if let Some(w) = &self.norm.weight {
            out.push(host_tensor("model.norm.weight".to_owned(), w.val())?);
        }
        if let Some(head) = &self.lm_head {
            linear(&mut out, head, "lm_head".to_owned())?;
        }
        Ok(out)
    }

    /// Writes `config.json`, `generation_config.json` and `model.safetensors` (f32) in the
    /// Hugging Face layout, each written to a temporary file and renamed into place.
    pub fn save(&self, dir: &Path) -> Result<(), WeightsError> {
        std::fs::create_dir_all(dir).map_err(|source| WeightsError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
        write_f32_safetensors(&dir.join("model.safetensors"), self.hf_tensors()?, metadata)?;
        write_config_files(&self.config, dir)
    }
}

/// Writes `value` as indented JSON to `path`, atomically.
pub(crate) fn write_json_atomically(
    path: &Path,
    value: &serde_json::Value,
) -> Result<(), WeightsError> {
    // A `Value` has only string keys, so it always serializes.
    let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    write_atomically(path, &bytes)
}

/// Writes `config.json` and `generation_config.json` of `config` into `dir`, atomically.
pub(crate) fn write_config_files(config: &ModelConfig, dir: &Path) -> Result<(), WeightsError> {
    write_json_atomically(&dir.join("config.json"), &config.to_hf_json())?;
    write_json_atomically(
        &dir.join("generation_config.json"),
        &serde_json::json!({
            "bos_token_id": config.bos_token_id,
            "eos_token_id": config.eos_token_ids,
            "pad_token_id": config.pad_token_id,
        }),
    )
}

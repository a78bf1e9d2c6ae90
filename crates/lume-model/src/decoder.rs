//! The decoder: Llama-style blocks configured by [`ModelConfig`], Hugging Face semantics.

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use crate::Precision;
use crate::config::{Family, Llama3RopeScaling, ModelConfig};
use lume_kernels::{causal_attention, linear, linear_group, rms_norm, rope, swiglu, tied_head};

mod cache;
pub use cache::{KvCache, LayerCache};

/// RMSNorm with a weight, or OLMo's LayerNorm with neither weight nor bias.
#[derive(Module, Debug)]
pub struct Norm {
    /// `None` for OLMo's weightless LayerNorm.
    pub weight: Option<Param<Tensor<1>>>,
    /// Epsilon.
    pub eps: f64,
}

impl Norm {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let weight = (config.family != Family::Olmo)
            .then(|| Param::from_tensor(Tensor::ones([config.hidden_size], device)));
        Norm {
            weight,
            eps: config.norm_eps,
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.weight {
            Some(weight) => rms_norm(x, weight.val(), self.eps),
            None => {
                let (var, mean) = x.clone().var_mean_bias(2);
                (x - mean) / var.add_scalar(self.eps).sqrt()
            }
        }
    }
}

/// Multi-head attention with RoPE, grouped-query heads, optional biases and `clip_qkv`.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection, `[hidden, heads·head_dim]`.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub o_proj: Linear,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// OLMo's clamp, 0 when off.
    pub clip_qkv: f64,
}

/// The SwiGLU MLP: `down(silu(gate(x)) · up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Gate projection.
    pub gate_proj: Linear,
    /// Up projection.
    pub up_proj: Linear,
    /// Down projection.
    pub down_proj: Linear,
}

/// One decoder block (pre-norm residual attention, then MLP).
#[derive(Module, Debug)]
pub struct Block {
    /// Norm before attention.
    pub input_layernorm: Norm,
    /// Attention.
    pub self_attn: Attention,
    /// Norm before the MLP.
    pub post_attention_layernorm: Norm,
    /// MLP.
    pub mlp: Mlp,
}

/// A decoder-only causal language model: its configuration and its weights.
///
/// ```
/// use lume_model::{DeviceSpec, LlamaShape, Model, ModelConfig};
/// let config = ModelConfig::llama(LlamaShape { vocab_size: 64, hidden_size: 32, layers: 2,
///     heads: 4, kv_heads: 2, intermediate_size: 64, max_positions: 128 }).unwrap();
/// let device = DeviceSpec::Cpu.device()?;
/// let model = Model::random(config, 7, &device);
/// let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_ints([[1, 2, 3]], &device);
/// assert_eq!(model.forward(ids, None, false).logits.dims(), [1, 3, 64]);
/// # Ok::<(), lume_model::DeviceError>(())
/// ```
#[derive(Module, Debug)]
pub struct Model {
    /// The configuration (`config.json`).
    #[module(skip)]
    pub config: ModelConfig,
    /// The precision of the matrix products (see [`Model::with_precision`]).
    #[module(skip)]
    precision: Precision,
    /// Token embeddings `[vocab, hidden]`.
    pub embed_tokens: Embedding,
    /// Decoder blocks.
    pub layers: Vec<Block>,
    /// Final norm.
    pub norm: Norm,
    /// Output head `[hidden, vocab]`; `None` when tied to the embeddings.
    pub lm_head: Option<Linear>,
}

/// bf16 products asked of a model on a device without them (see [`Model::with_precision`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{precision} products are not available on {on}")]
pub struct UnsupportedPrecision {
    /// The precision asked for.
    pub precision: Precision,
    /// What lacks them: the model's device, or its type.
    pub on: String,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct ForwardOutput {
    /// `[batch, seq, vocab]`.
    pub logits: Tensor<3>,
    /// The residual stream after each block, when asked for.
    pub hidden_states: Vec<Tensor<3>>,
}

fn new_linear(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Linear {
    burn::nn::LinearConfig::new(d_in, d_out)
        .with_bias(bias)
        .with_initializer(burn::nn::Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        })
        .init(device)
}

/// Inverse RoPE frequencies in f32, as transformers computes them.
pub(crate) fn inverse_frequencies(config: &ModelConfig) -> Vec<f32> {
    let dim = config.head_dim;
    let base = config.rope_theta as f32;
    let inv: Vec<f32> = (0..dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / dim as f32))
        .collect();
    match config.rope_scaling {
        Some(s) => llama3_scaled(&inv, s),
        None => inv,
    }
}

fn llama3_scaled(inv: &[f32], s: Llama3RopeScaling) -> Vec<f32> {
    let old = s.original_max_position_embeddings as f32;
    let (low, high, factor) = (
        s.low_freq_factor as f32,
        s.high_freq_factor as f32,
        s.factor as f32,
    );
    let (low_wavelen, high_wavelen) = (old / low, old / high);
    inv.iter()
        .map(|&f| {
            let wavelen = 2.0 * std::f32::consts::PI / f;
            let scaled = if wavelen > low_wavelen { f / factor } else { f };
            // Neither a short (kept) nor a long (fully scaled) wavelength: interpolate.
            let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
            if medium {
                let smooth = (old / wavelen - low) / (high - low);
                (1.0 - smooth) * scaled / factor + smooth * scaled
            } else {
                scaled
            }
        })
        .collect()
}

impl Attention {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let (h, kv, d) = (
            config.num_attention_heads,
            config.num_key_value_heads,
            config.head_dim,
        );
        Attention {
            q_proj: new_linear(config.hidden_size, h * d, config.qkv_bias, device),
            k_proj: new_linear(config.hidden_size, kv * d, config.qkv_bias, device),
            v_proj: new_linear(config.hidden_size, kv * d, config.qkv_bias, device),
            o_proj: new_linear(h * d, config.hidden_size, config.o_bias, device),
            heads: h,
            kv_heads: kv,
            head_dim: d,
            clip_qkv: config.clip_qkv.unwrap_or(0.0),
        }
    }

    /// A projection's output `y` `[batch, seq, heads·head_dim]` as `[batch, seq, heads,
    /// head_dim]`: the projection's own layout, which attention reads without a transposed copy.
    fn heads_of(&self, mut y: Tensor<3>, heads: usize) -> Tensor<4> {
        let [b, t, _] = y.dims();
        if self.clip_qkv > 0.0 {
            y = y.clamp(-self.clip_qkv, self.clip_qkv);
        }
        y.reshape([b, t, heads, self.head_dim])
    }

    fn forward(
        &self,
        x: Tensor<3>,
        rope_tables: &(Tensor<4>, Tensor<4>),
        key_real: &[bool],
        cache: Option<&mut LayerCache>,
        precision: Precision,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (cos, sin) = rope_tables;
        let [q, k, v] = per_layer(linear_group(
            &[&self.q_proj, &self.k_proj, &self.v_proj],
            x,
            precision,
        ));
        let q = self.heads_of(q, self.heads);
        let k = self.heads_of(k, self.kv_heads);
        let v = self.heads_of(v, self.kv_heads);
        let q = rope(q, cos.clone(), sin.clone());
        let k = rope(k, cos.clone(), sin.clone());
        let (k, v) = match cache {
            Some(cache) => cache.append(k, v),
            None => (k, v),
        };
        let out = causal_attention(q, k, v, key_real);
        linear(
            &self.o_proj,
            out.reshape([b, t, self.heads * self.head_dim]),
            precision,
        )
    }
}

impl Model {
    /// A randomly initialised model (normal, std 0.02, as transformers initialises).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let layers = (0..config.num_hidden_layers)
            .map(|_| Block {
                input_layernorm: Norm::new(config, device),
                self_attn: Attention::new(config, device),
                post_attention_layernorm: Norm::new(config, device),
                mlp: Mlp {
                    gate_proj: new_linear(
                        config.hidden_size,
                        config.intermediate_size,
                        false,
                        device,
                    ),
                    up_proj: new_linear(
                        config.hidden_size,
                        config.intermediate_size,
                        false,
                        device,
                    ),
                    down_proj: new_linear(
                        config.intermediate_size,
                        config.hidden_size,
                        false,
                        device,
                    ),
                },
            })
            .collect();
        Model {
            config: config.clone(),
            embed_tokens: burn::nn::EmbeddingConfig::new(config.vocab_size, config.hidden_size)
                .with_initializer(burn::nn::Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                })
                .init(device),
            layers,
            norm: Norm::new(config, device),
            lm_head: (!config.tie_word_embeddings)
                .then(|| new_linear(config.hidden_size, config.vocab_size, false, device)),
            precision: Precision::F32,
        }
    }

    /// The same model computing its matrix products in `precision` (f32 by default). bf16
    /// products run on the CPU backend only; on another device they are refused here rather
    /// than computed in f32 under a bf16 label.
    ///
    /// ```
    /// use lume_model::{DeviceSpec, LlamaShape, Model, ModelConfig, Precision};
    /// let device = DeviceSpec::Cpu.device()?;
    /// let config = ModelConfig::llama(LlamaShape {
    ///     vocab_size: 64, hidden_size: 32, layers: 1, heads: 2, kv_heads: 2,
    ///     intermediate_size: 64, max_positions: 32,
    /// })?;
    /// let model = Model::new(&config, &device).with_precision(Precision::Bf16)?;
    /// assert_eq!(model.precision(), Precision::Bf16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_precision(mut self, precision: Precision) -> Result<Self, UnsupportedPrecision> {
        let off_cpu = self
            .devices()
            .into_iter()
            .find(|d| !lume_kernels::is_flex(d));
        if let (Precision::Bf16, Some(device)) = (precision, off_cpu) {
            return Err(UnsupportedPrecision {
                precision,
                on: format!("{device:?} (the CPU backend has them)"),
            });
        }
        self.precision = precision;
        Ok(self)
    }

    /// The precision of the matrix products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Logits for `ids` `[batch, seq]`. `attention_mask` (row-major `[batch, seq]`, on the
    /// host, where the attention kernel reads it) is `true` on real tokens; positions count
    /// from 0 in every row, as a plain transformers forward without `position_ids`.
    pub fn forward(
        &self,
        ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        keep_hidden_states: bool,
    ) -> ForwardOutput {
        let [b, t] = ids.dims();
        let positions = from_start(b, t);
        self.forward_at(ids, &positions, attention_mask, None, keep_hidden_states)
    }

    /// The general forward: `positions` (row-major `[batch, seq]`) place each new token for
    /// RoPE, `key_real` (row-major `[batch, cached + seq]`) marks real keys, and a cache, when
    /// given, supplies earlier keys and values and receives the new ones.
    pub fn forward_at(
        &self,
        ids: Tensor<2, Int>,
        positions: &[usize],
        key_real: Option<&[bool]>,
        cache: Option<&mut KvCache>,
        keep_hidden_states: bool,
    ) -> ForwardOutput {
        let (x, hidden_states) =
            self.final_hidden(ids, positions, key_real, cache, keep_hidden_states);
        ForwardOutput {
            logits: self.logits(x),
            hidden_states,
        }
    }

    /// The vocabulary logits of final hidden states `[batch, seq, hidden]`.
    pub(crate) fn logits(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => linear(head, x, self.precision),
            None => {
                let [b, t, h] = x.dims();
                let table = self.embed_tokens.weight.val();
                let v = table.dims()[0];
                tied_head(x.reshape([b * t, h]), table, self.precision).reshape([b, t, v])
            }
        }
    }

    /// [`forward_at`](Self::forward_at) up to the final norm: the states the head reads, and
    /// the residual stream after each block when asked for.
    pub(crate) fn final_hidden(
        &self,
        ids: Tensor<2, Int>,
        positions: &[usize],
        key_real: Option<&[bool]>,
        mut cache: Option<&mut KvCache>,
        keep_hidden_states: bool,
    ) -> (Tensor<3>, Vec<Tensor<3>>) {
        let [b, t] = ids.dims();
        let device = ids.device();
        let rope = rope_tables(&self.config, positions, b, t, &device);
        let key_real = key_real.unwrap_or_default();
        if let Some(cache) = cache.as_deref_mut() {
            cache.ensure_layers(self.layers.len());
            cache.rows = b;
        }
        let mut x = self.embed_tokens.forward(ids);
        if x.dtype() != DType::F32 {
            // A half-precision table (`WeightDtype`): the residual stream stays f32.
            x = x.cast(DType::F32);
        }
        let mut hidden_states = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            let h = layer.input_layernorm.forward(x.clone());
            x = x + layer
                .self_attn
                .forward(h, &rope, key_real, layer_cache, self.precision);
            let h = layer.post_attention_layernorm.forward(x.clone());
            let mlp = &layer.mlp;
            let p = self.precision;
            let [gate, up] = per_layer(linear_group(&[&mlp.gate_proj, &mlp.up_proj], h, p));
            x = x + linear(&mlp.down_proj, swiglu(gate, up), p);
            if keep_hidden_states {
                hidden_states.push(x.clone());
            }
        }
        if let Some(cache) = cache {
            cache.len += t;
        }
        (self.norm.forward(x), hidden_states)
    }
}

/// cos and sin of RoPE at each row's positions, shaped `[batch, seq, 1, head_dim]`.
pub(crate) fn rope_tables(
    config: &ModelConfig,
    positions: &[usize],
    b: usize,
    t: usize,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let inv = inverse_frequencies(config);
    let d = config.head_dim;
    let mut cos = Vec::with_capacity(b * t * d);
    let mut sin = Vec::with_capacity(b * t * d);
    for &p in positions {
        let row: Vec<f32> = inv.iter().map(|&f| p as f32 * f).collect();
        for _ in 0..2 {
            cos.extend(row.iter().map(|a| a.cos()));
            sin.extend(row.iter().map(|a| a.sin()));
        }
    }
    let make = |v: Vec<f32>| {
        Tensor::<3>::from_data(TensorData::new(v, [b, t, d]), device).unsqueeze_dim::<4>(2)
    };
    (make(cos), make(sin))
}

/// The outputs of a [`linear_group`] of `N` layers, one per layer.
fn per_layer<const N: usize>(outputs: Vec<Tensor<3>>) -> [Tensor<3>; N] {
    outputs
        .try_into()
        .unwrap_or_else(|o: Vec<_>| panic!("linear_group gave {} outputs for {N} layers", o.len()))
}

/// RoPE positions of `b` rows of `t` new tokens each starting at 0, row-major `[b, t]`.
pub(crate) fn from_start(b: usize, t: usize) -> Vec<usize> {
    (0..b).flat_map(|_| 0..t).collect()
}

//! The dtype the weight matrices are stored in for inference.

use std::fmt;
use std::str::FromStr;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Tensor};

use crate::decoder::Model;
use crate::{Precision, UnsupportedPrecision};

/// How the weight matrices are stored for inference; activations, sums and softmaxes stay in
/// f32 whatever the choice.
///
/// - `F32` (default): the numbers of transformers in f32 (the parity tests hold to 1e-4).
/// - `Bf16`, `F16`: half the memory. Decoding reads every matrix once per token, so it runs up
///   to 2× faster; logits move by about 1e-2 (bf16) or 1e-3 (f16), as when transformers loads
///   the checkpoint in that dtype. Training keeps f32 (the trainer's AdamW works on f32).
///   Prefer bf16 on the CPU: products of more than 8 tokens (prompts) widen the matrices
///   first, which Burn does quickly for bf16 and slowly for f16 (measured with `lume perf`:
///   1,100–1,300 decoded tokens/s with bf16, 450–600 with f16, 750–930 with f32).
///
/// ```
/// use lume_model::WeightDtype;
/// assert_eq!("bf16".parse::<WeightDtype>().unwrap(), WeightDtype::Bf16);
/// assert_eq!(WeightDtype::default().to_string(), "f32");
/// assert!("int8".parse::<WeightDtype>().is_err());
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    /// 32-bit floats.
    #[default]
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl WeightDtype {
    /// The Burn dtype.
    pub fn dtype(self) -> DType {
        match self {
            WeightDtype::F32 => DType::F32,
            WeightDtype::Bf16 => DType::BF16,
            WeightDtype::F16 => DType::F16,
        }
    }

    /// How inference stores the weight matrices when `self` is the storage asked for and the
    /// products run in `precision`: bf16 products read bf16 weights (the rounding they apply
    /// anyway, in half the memory); f16 weights cannot feed them.
    ///
    /// ```
    /// use lume_model::{Precision, WeightDtype};
    /// assert_eq!(WeightDtype::F32.for_precision(Precision::Bf16)?, WeightDtype::Bf16);
    /// assert_eq!(WeightDtype::F16.for_precision(Precision::F32)?, WeightDtype::F16);
    /// assert!(WeightDtype::F16.for_precision(Precision::Bf16).is_err());
    /// # Ok::<(), lume_model::UnsupportedPrecision>(())
    /// ```
    pub fn for_precision(self, precision: Precision) -> Result<WeightDtype, UnsupportedPrecision> {
        match (precision, self) {
            (Precision::F32, dtype) => Ok(dtype),
            (Precision::Bf16, WeightDtype::F32 | WeightDtype::Bf16) => Ok(WeightDtype::Bf16),
            (Precision::Bf16, WeightDtype::F16) => Err(UnsupportedPrecision {
                precision,
                on: "weights stored in f16 (store them in bf16 or f32)".into(),
            }),
        }
    }
}

/// A weight dtype that is not `f32`, `bf16` or `f16`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown weight dtype {0:?}: expected f32, bf16 or f16")]
pub struct UnknownDtype(pub String);

impl FromStr for WeightDtype {
    type Err = UnknownDtype;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" | "float32" => Ok(WeightDtype::F32),
            "bf16" | "bfloat16" => Ok(WeightDtype::Bf16),
            "f16" | "float16" => Ok(WeightDtype::F16),
            _ => Err(UnknownDtype(s.to_owned())),
        }
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightDtype::F32 => "f32",
            WeightDtype::Bf16 => "bf16",
            WeightDtype::F16 => "f16",
        })
    }
}

/// Casts every parameter with two or more dimensions; vectors (norm weights, biases) stay.
struct CastMatrices(DType);

impl ModuleMapper for CastMatrices {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D < 2 {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let cast = tensor.clone().cast(self.0);
        lume_kernels::carry_codes(&tensor, &cast);
        Param::from_mapped_value(id, cast, mapper)
    }
}

impl Model {
    /// The same model with its weight matrices stored in `dtype` (see [`WeightDtype`]).
    pub fn with_weight_dtype(self, dtype: WeightDtype) -> Self {
        self.map(&mut CastMatrices(dtype.dtype()))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor, TensorData};

    use super::WeightDtype;
    use crate::{DeviceSpec, LlamaShape, Model, ModelConfig};

    fn logits(model: &Model, ids: &[i64]) -> Vec<f32> {
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let input =
            Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
        let out = model.forward(input, None, false).logits;
        assert_eq!(out.dtype(), burn::tensor::DType::F32, "logits stay f32");
        out.into_data().try_to_vec().expect("f32 logits")
    }

    fn tiny_config() -> ModelConfig {
        ModelConfig::llama(LlamaShape {
            vocab_size: 300,
            hidden_size: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            intermediate_size: 128,
            max_positions: 64,
        })
        .expect("config")
    }

    #[test]
    fn half_precision_weights_keep_logits_close() {
        let config = tiny_config();
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let reference = Model::random(config, 3, &device);
        // 5 tokens take the streaming kernel, 12 the matmul with widened weights.
        for ids in [
            vec![5, 17, 42, 7, 99],
            (0..12).map(|i| i * 23 % 300).collect(),
        ] {
            let want = logits(&reference, &ids);
            let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (dtype, tolerance) in [(WeightDtype::Bf16, 2e-2), (WeightDtype::F16, 2e-3)] {
                let model =
                    Model::random(reference.config.clone(), 3, &device).with_weight_dtype(dtype);
                let got = logits(&model, &ids);
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst <= tolerance * scale,
                    "{dtype}, {} tokens: off by {worst} (scale {scale})",
                    ids.len()
                );
                assert!(worst > 0.0, "{dtype}: the weights were not cast");
            }
        }
    }

    /// A frozen reference in bf16 precision stores its matrices in bf16: the rounding its
    /// products apply anyway, so its logits are the unfrozen model's to the bit.
    #[test]
    fn a_frozen_bf16_model_gives_the_same_logits() {
        use crate::{CausalModel, Precision};
        let config = tiny_config();
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let model = Model::random(config, 5, &device)
            .with_precision(Precision::Bf16)
            .expect("bf16 on the CPU");
        let frozen = model.clone().frozen();
        assert_eq!(
            frozen.layers[0].mlp.up_proj.weight.val().dtype(),
            burn::tensor::DType::BF16
        );
        // 3 tokens take the few-rows kernel, 12 the packed product.
        for ids in [vec![5, 17, 42], (0..12).map(|i| i * 23 % 300).collect()] {
            let (want, got) = (logits(&model, &ids), logits(&frozen, &ids));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{} tokens", ids.len());
        }
    }
}

//! Round-to-nearest integer quantization of the weight matrices: what a user does to run a
//! model in 8 or 4 bits without calibration data, and what the quantization probe of
//! `lume bench` applies to every unlearned model (Zhang et al., 2024, "Catastrophic failure of
//! LLM unlearning via quantization").

use std::fmt;
use std::str::FromStr;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};

use crate::decoder::Model;
use lume_kernels::WeightCodes;

/// Per-group symmetric round-to-nearest (RTN) quantization, the GPTQ-free baseline scheme.
///
/// Each output channel of a projection is cut into groups of `group_size` consecutive input
/// features (Hugging Face's `[out, in]` rows; the last group may be shorter). A group's scale
/// is `max |w| / q`, with `q = 2^(bits−1) − 1` (127 for 8 bits, 7 for 4 bits); each weight
/// becomes `round(w / scale) · scale`, rounding half to even as `torch.round` and `numpy.round`
/// do; a group of zeros stays zero. The integers are in `[−q, q]`, so the scheme is symmetric
/// (the code `−2^(bits−1)` is never used).
///
/// Applied to the seven projections of every decoder block (q, k, v, o, gate, up, down), as
/// GPTQ and AWQ do; embeddings, norms and an untied output head keep their precision. The
/// model computes on the de-quantized values (fake quantization), so the numbers are those of
/// an integer kernel with f32 accumulation, up to summation order; on the CPU, decoding (up to
/// 16 rows a product) reads the integer codes themselves, a byte per weight, which is what
/// makes 8-bit decoding faster than bf16 (`lume perf --quantize int8`).
///
/// Written `int8`, `int4` (group size 128) or `int4-g64`:
///
/// ```
/// use lume_model::RoundToNearest;
/// let scheme: RoundToNearest = "int4-g64".parse()?;
/// assert_eq!((scheme.bits, scheme.group_size), (4, 64));
/// assert_eq!("int8".parse::<RoundToNearest>()?.to_string(), "int8-g128");
/// // One group of four: scale = 0.875 / 7 = 1/8; −2.5, 0.5 and 1.5 steps round to even.
/// let int4 = RoundToNearest { bits: 4, group_size: 4 };
/// let rounded = int4.round_group(&[0.875, -0.3125, 0.0625, 0.1875]);
/// assert_eq!(rounded, [0.875, -0.25, 0.0, 0.25]);
/// assert!("int3".parse::<RoundToNearest>().is_err());
/// # Ok::<(), lume_model::UnknownQuantization>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoundToNearest {
    /// 8 or 4.
    pub bits: u32,
    /// Input features sharing one scale.
    pub group_size: usize,
}

/// The group size when a scheme names none (GPTQ's and AWQ's usual choice).
pub const DEFAULT_GROUP_SIZE: usize = 128;

/// A quantization scheme that is not `int8[-gN]` or `int4[-gN]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown quantization {0:?}: expected int8 or int4, optionally with a group size (int4-g64)"
)]
pub struct UnknownQuantization(pub String);

impl FromStr for RoundToNearest {
    type Err = UnknownQuantization;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownQuantization(s.to_owned());
        let (bits, group) = match s.split_once("-g") {
            Some((bits, group)) => (bits, Some(group)),
            None => (s, None),
        };
        let bits = match bits {
            "int8" => 8,
            "int4" => 4,
            _ => return Err(unknown()),
        };
        let group_size = match group {
            None => DEFAULT_GROUP_SIZE,
            Some(g) => g.parse().ok().filter(|&g| g > 0).ok_or_else(unknown)?,
        };
        Ok(RoundToNearest { bits, group_size })
    }
}

impl TryFrom<String> for RoundToNearest {
    type Error = UnknownQuantization;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RoundToNearest> for String {
    fn from(scheme: RoundToNearest) -> String {
        scheme.to_string()
    }
}

impl fmt::Display for RoundToNearest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "int{}-g{}", self.bits, self.group_size)
    }
}

/// A weight matrix that could not be read back from the device.
#[derive(Debug, thiserror::Error)]
#[error("reading layer {layer}'s {projection} weights from the device: {reason}")]
pub struct QuantizationError {
    /// Decoder block.
    pub layer: usize,
    /// `q_proj`, …, `down_proj`.
    pub projection: &'static str,
    /// What the device said.
    pub reason: String,
}

impl RoundToNearest {
    /// The largest integer code, `2^(bits−1) − 1`.
    pub fn max_code(self) -> f32 {
        ((1u32 << (self.bits - 1)) - 1) as f32
    }

    /// One group's values after quantization and de-quantization.
    pub fn round_group(self, group: &[f32]) -> Vec<f32> {
        let scale = self.scale(group);
        if scale == 0.0 {
            return group.to_vec();
        }
        group.iter().map(|&w| self.code(w, scale) * scale).collect()
    }

    /// A group's scale, `max |w| / q`; 0 for a group of zeros.
    fn scale(self, group: &[f32]) -> f32 {
        group.iter().fold(0f32, |m, w| m.max(w.abs())) / self.max_code()
    }

    /// The integer code of `w` in a group of scale `scale` (not 0).
    fn code(self, w: f32, scale: f32) -> f32 {
        let q = self.max_code();
        (w / scale).round_ties_even().clamp(-q, q)
    }

    /// A row-major `[inputs, outputs]` matrix (Burn's layout of a projection) rounded group by
    /// group along the inputs of each output column.
    pub fn round_matrix(self, values: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
        decoded(&self.codes(values, inputs, outputs), values)
    }

    /// The integer codes and scales of a row-major `[inputs, outputs]` matrix.
    fn codes(self, values: &[f32], inputs: usize, outputs: usize) -> WeightCodes {
        let group_size = self.group_size.max(1);
        let groups = inputs.div_ceil(group_size);
        let mut codes = vec![0i8; inputs * outputs];
        let mut scales = vec![0f32; groups * outputs];
        let mut column = Vec::with_capacity(inputs);
        for o in 0..outputs {
            column.clear();
            column.extend((0..inputs).map(|i| values[i * outputs + o]));
            for (g, group) in column.chunks(group_size).enumerate() {
                let scale = self.scale(group);
                scales[g * outputs + o] = scale;
                if scale == 0.0 {
                    continue;
                }
                for (j, &w) in group.iter().enumerate() {
                    // In [−127, 127] (8 bits) or [−7, 7] (4 bits): exact as i8.
                    codes[(g * group_size + j) * outputs + o] = self.code(w, scale) as i8;
                }
            }
        }
        WeightCodes {
            codes,
            scales,
            group: group_size,
            k: inputs,
            n: outputs,
        }
    }

    fn round_linear(
        self,
        linear: &mut Linear,
        layer: usize,
        projection: &'static str,
    ) -> Result<(), QuantizationError> {
        let error = |reason: String| QuantizationError {
            layer,
            projection,
            reason,
        };
        let weight = linear.weight.val();
        let [inputs, outputs] = weight.dims();
        let (device, dtype) = (weight.device(), weight.dtype());
        let values = weight
            .into_data()
            .try_to_vec_as::<f32>()
            .map_err(|e| error(format!("{e:?}")))?;
        let codes = self.codes(&values, inputs, outputs);
        let rounded = decoded(&codes, &values);
        let tensor = Tensor::<2>::from_data(TensorData::new(rounded, [inputs, outputs]), &device)
            .cast(dtype);
        // Decoding on the CPU reads the codes, a byte per weight (see `kernels/codes.rs`).
        lume_kernels::attach_codes(&tensor, codes);
        linear.weight = Param::from_tensor(tensor);
        Ok(())
    }
}

/// `values` with each weight of a group of non-zero scale replaced by `code · scale`.
fn decoded(codes: &WeightCodes, values: &[f32]) -> Vec<f32> {
    let mut rounded = values.to_vec();
    for (i, row) in rounded.chunks_exact_mut(codes.n).enumerate() {
        let scales = &codes.scales[(i / codes.group) * codes.n..][..codes.n];
        let row_codes = &codes.codes[i * codes.n..][..codes.n];
        for ((w, &code), &scale) in row.iter_mut().zip(row_codes).zip(scales) {
            // A group of zeros keeps its values.
            if scale != 0.0 {
                *w = f32::from(code) * scale;
            }
        }
    }
    rounded
}

impl Model {
    /// How many weight matrices decoding reads through integer codes (those rounded by
    /// [`Model::round_to_nearest`] on the CPU backend); 0 elsewhere.
    pub fn integer_matrices(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|block| {
                let attention = &block.self_attn;
                [
                    &attention.q_proj,
                    &attention.k_proj,
                    &attention.v_proj,
                    &attention.o_proj,
                    &block.mlp.gate_proj,
                    &block.mlp.up_proj,
                    &block.mlp.down_proj,
                ]
            })
            .filter(|linear| lume_kernels::has_codes(&linear.weight.val()))
            .count()
    }

    /// The same model with the projections of every block rounded by `scheme` (see
    /// [`RoundToNearest`]); the values keep their dtype.
    pub fn round_to_nearest(mut self, scheme: RoundToNearest) -> Result<Self, QuantizationError> {
        for (i, block) in self.layers.iter_mut().enumerate() {
            let attention = &mut block.self_attn;
            for (name, linear) in [
                ("q_proj", &mut attention.q_proj),
                ("k_proj", &mut attention.k_proj),
                ("v_proj", &mut attention.v_proj),
                ("o_proj", &mut attention.o_proj),
                ("gate_proj", &mut block.mlp.gate_proj),
                ("up_proj", &mut block.mlp.up_proj),
                ("down_proj", &mut block.mlp.down_proj),
            ] {
                scheme.round_linear(linear, i, name)?;
            }
        }
        Ok(self)
    }
}

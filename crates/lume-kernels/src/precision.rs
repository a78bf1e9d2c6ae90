//! How the matrix products of a forward and backward pass compute.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The precision of the matrix products (every linear layer and the output head, forward and
/// backward); norms, softmaxes, attention, losses, gradients' sums and the optimizer stay f32
/// whatever the choice.
///
/// - `F32` (default): exact f32 products, the same numbers on every CPU up to the SIMD path
///   (recorded by `lume_model::Numerics`), held to transformers-f32 by the parity tests.
/// - `Bf16`: PyTorch's CPU autocast. Both operands of every product are rounded to bf16 (to
///   nearest, ties to even) and their products summed in f32; training keeps f32 master
///   weights and f32 AdamW state. On a CPU with AVX512-BF16 the products run its bf16 dot
///   products; elsewhere a portable path computes the same sums, more slowly, so the numbers
///   do not depend on the CPU beyond the order of f32 sums. Inference also stores the weights
///   in bf16 (half the memory and the bytes decoding reads).
///
/// ```
/// use lume_kernels::Precision;
/// assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
/// assert_eq!(Precision::default().to_string(), "f32");
/// assert!("fp8".parse::<Precision>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 operands and sums.
    #[default]
    F32,
    /// bf16 operands, f32 sums.
    Bf16,
}

/// A precision that is not `f32` or `bf16`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision {0:?}: expected f32 or bf16")]
pub struct UnknownPrecision(pub String);

impl FromStr for Precision {
    type Err = UnknownPrecision;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(UnknownPrecision(s.to_owned())),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

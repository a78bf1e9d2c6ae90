//! What a model's numbers depend on besides its weights and inputs: the version of lume's
//! numerics and the kernel paths this CPU takes (`LUME_KERNELS=portable` forces the portable
//! ones). Every cached result keys on both, so an
//! upgrade that moves results, or a move to another CPU, redoes work instead of reusing it.

use serde::{Deserialize, Serialize};

/// Bumped whenever a kernel or formula change moves any output of the engine or the trainer
/// (even in the last bit). `tests/numerics.rs` holds a tiny model's committed outputs and fails
/// when they move while this stays the same.
pub const NUMERICS_VERSION: u32 = 5;

/// The numerics a result was computed with.
///
/// ```
/// let n = lume_model::Numerics::current();
/// assert_eq!(n.version, lume_model::NUMERICS_VERSION);
/// assert!(["avx512", "avx2", "portable"].contains(&n.kernel_path.as_str()));
/// assert!(["avx512_bf16", "avx512_fma", "portable"].contains(&n.bf16_path.as_str()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Numerics {
    /// [`NUMERICS_VERSION`].
    pub version: u32,
    /// The SIMD path of the CPU kernels on this machine: `avx512`, `avx2` or `portable`.
    pub kernel_path: String,
    /// The path of bf16 products ([`Precision::Bf16`](crate::Precision)): `avx512_bf16`,
    /// `avx512_fma` or `portable` (the same numbers up to how the hardware flushes
    /// subnormals). Results in f32 do not depend on it, but every key holds it.
    pub bf16_path: String,
    /// The version of `lume-model`.
    pub lume_version: String,
}

impl Numerics {
    /// This build on this CPU.
    pub fn current() -> Self {
        Numerics {
            version: NUMERICS_VERSION,
            kernel_path: lume_kernels::kernel_path().to_owned(),
            bf16_path: lume_kernels::bf16_kernel_path().to_owned(),
            lume_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

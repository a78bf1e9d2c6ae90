//! # lume-kernels
//!
//! The CPU kernels under `lume-model`'s network: the fused operations of Burn's `flex`
//! backend (attention, softmax, RMSNorm, RoPE, SwiGLU, cross-entropy, AdamW) with their
//! backward passes, the matrix products (f32 through `gemm`, bf16 operands with f32 sums on
//! AVX512-BF16, AVX-512 FMAs or a portable path, integer codes for 8-bit decoding), the SIMD
//! dispatch that picks a path from the CPU at run time (`LUME_KERNELS=portable` forces the
//! portable one), decoding's spinning thread pool, and the allocator's tuning. Every `unsafe`
//! of the engine lives here. Users reach these through `lume-model`, which re-exports what a
//! program needs ([`Precision`], [`FusedOps`], the tensor-level operations).
//!
//! Burn composes `log_softmax`, `softmax` and friends from element-wise primitives, and its
//! autodiff recomputes `exp` in the backward pass; on the CPU that is most of a training step
//! outside the matrix products. These operations are a Burn backend extension: on the `flex`
//! CPU backend (with or without autodiff) they run the kernels of this crate, on every other
//! backend the tensor-level functions fall back to the composed form, so results agree
//! everywhere (tests compare the two).
//!
//! `dispatch.rs` says which kernel runs each operation on which backend (one table),
//! `composed.rs` holds the composed references, the other files the `flex` kernels.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! let device = Device::flex();
//! let gate = Tensor::<1>::from_floats([0.0, 1.0], &device);
//! let up = Tensor::<1>::from_floats([5.0, 2.0], &device);
//! let y: Vec<f32> = lume_kernels::swiglu(gate, up).into_data().to_vec().unwrap();
//! assert_eq!(y[0], 0.0);
//! // The paths this CPU runs (results record them beside the numbers).
//! assert!(["avx512", "avx2", "portable"].contains(&lume_kernels::kernel_path()));
//! assert!(["avx512_bf16", "avx512_fma", "portable"].contains(&lume_kernels::bf16_kernel_path()));
//! ```

mod adamw;
mod allocator;
mod attention;
mod autodiff;
mod bf16;
mod codes;
mod composed;
mod cross_entropy;
mod dispatch;
mod elementwise;
mod flex;
mod matvec;
mod packed;
mod precision;
mod product;
pub(crate) mod simd;
mod spinning_pool;
#[cfg(test)]
mod tests;
mod weight_cache;

pub use adamw::AdamWStep;
pub use allocator::reuse_freed_memory;
pub use codes::{WeightCodes, attach_codes, carry_codes, has_codes};
#[cfg(test)]
use composed::{
    composed_adamw_update, composed_causal_attention, composed_rms_norm, composed_rope,
    composed_swiglu, composed_token_nll,
};
pub use cross_entropy::{RowStats, row_stats};
pub use dispatch::is_flex;
pub use dispatch::{
    adamw_update, causal_attention, linear, linear_group, rms_norm, rope, swiglu, tied_head,
    token_nll,
};

use burn::backend::Backend;
use burn::backend::backend_extension;
use burn::backend::tensor::{FloatTensor, IntTensor};

pub use precision::{Precision, UnknownPrecision};

/// The SIMD path of the f32 kernels on this CPU: `avx512`, `avx2` or `portable` (forced by
/// `LUME_KERNELS=portable`), as results record it.
pub fn kernel_path() -> &'static str {
    simd::simd_path()
}

/// The path of bf16 products on this CPU: `avx512_bf16`, `avx512_fma` or `portable`.
pub fn bf16_kernel_path() -> &'static str {
    simd::bf16_path().name()
}

/// Operations that the kernels of this module implement for the `flex` backend and its
/// autodiff wrapper.
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// Per row of `logits` `[rows, vocab]`: `logsumexp(row) − row[target]`, `[rows]`.
    fn token_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;

    /// Causal attention over `[batch, seq, heads, head_dim]` queries and
    /// `[batch, keys, kv_heads, head_dim]` keys and values (see [`causal_attention`]).
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_real: Vec<bool>,
    ) -> FloatTensor<Self>;

    /// `silu(gate) · up` (see [`swiglu`]).
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x · w` for `x` `[rows, k]` and `w` `[k, n]`, differentiable in both (see `linear`).
    fn linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self>;

    /// `x · w` for a few rows of `x` `[rows, k]` and `w` `[k, n]`, without autodiff (see
    /// `linear`).
    fn matmul_few_rows(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self>;

    /// `x · tᵀ` for `x` `[rows, k]` and `t` `[n, k]` in its stored dtype, differentiable in
    /// both (see `tied_head`).
    fn matmul_transposed(
        x: FloatTensor<Self>,
        t: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self>;

    /// One AdamW update of `[n]` tensors (see [`adamw_update`]): the new parameter, first
    /// and second moments, each written over its input where no other tensor shares it.
    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamWStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Rotary position embedding (see [`rope`]).
    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// RMSNorm over the last dimension (see [`rms_norm`]).
    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self>;
}

//! Fused operations with their own CPU kernels and backward passes.
//!
//! Burn composes `log_softmax`, `softmax` and friends from element-wise primitives, and its
//! autodiff recomputes `exp` in the backward pass; on the CPU that is most of a training step
//! outside the matrix products. These operations are a Burn backend extension: on the `flex`
//! CPU backend (with or without autodiff) they run the kernels of this module, on every other
//! backend the tensor-level functions fall back to the composed form, so results agree
//! everywhere (tests compare the two).

//!
//! `dispatch.rs` says which kernel runs each operation on which backend (one table),
//! `composed.rs` holds the composed references, the other files the `flex` kernels.

mod adamw;
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
mod product;
pub(crate) mod simd;
mod spinning_pool;
#[cfg(test)]
mod tests;
mod weight_cache;

pub use adamw::AdamWStep;
pub(crate) use codes::{WeightCodes, attach_codes, carry_codes, has_codes};
#[cfg(test)]
use composed::{
    composed_adamw_update, composed_causal_attention, composed_rms_norm, composed_rope,
    composed_swiglu, composed_token_nll,
};
pub(crate) use cross_entropy::row_stats;
pub(crate) use dispatch::is_flex;
pub use dispatch::{
    adamw_update, causal_attention, linear, rms_norm, rope, swiglu, tied_head, token_nll,
};

use burn::backend::Backend;
use burn::backend::backend_extension;
use burn::backend::tensor::{FloatTensor, IntTensor};

use crate::Precision;

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

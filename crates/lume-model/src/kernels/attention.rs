//! The softmax of causal attention and its gradient, row by row on the CPU. The matrix
//! products around them stay with the backend's matmul (see `flex.rs`); what this fuses is the
//! scaling, masking, softmax and its backward, which Burn composes from eight element-wise
//! operations and their autodiff nodes.
//!
//! A masked score becomes `f32::MIN` before the softmax, as in transformers, so a row with
//! every key masked (left padding) attends uniformly to all keys instead of producing NaN.

use rayon::prelude::*;

use super::simd::{dot, exp_in_place, max, simd_dispatch};

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttentionShape {
    /// Rows.
    pub batch: usize,
    /// New queries per row.
    pub queries: usize,
    /// Keys per row (cached + new).
    pub keys: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
}

impl AttentionShape {
    /// Query `i` sees keys `0..visible(i)`.
    fn visible(&self, i: usize) -> usize {
        (self.keys - self.queries + i + 1).min(self.keys)
    }

    pub(crate) fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    /// The batch row and query index of score row `r` of `[batch, heads, queries, keys]`.
    fn locate(&self, r: usize) -> (usize, usize) {
        (r / (self.heads * self.queries), r % self.queries)
    }
}

/// Score rows per rayon task, and the work below which threads cost more than they save
/// (decoding one token).
const ROWS_PER_TASK: usize = 16;
const PARALLEL_FROM: usize = 1 << 15;

fn for_rows<F>(data: &mut [f32], s: &AttentionShape, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let n = s.keys;
    if data.len() < PARALLEL_FROM {
        f(0, data);
    } else {
        data.par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .for_each(|(task, chunk)| f(task * ROWS_PER_TASK, chunk));
    }
}

/// Turns raw scores `Q·Kᵀ` `[batch, heads, queries, keys]` into probabilities in place:
/// scaled by `1/√d`, masked (future keys, and keys that `key_real` `[batch, keys]` marks
/// `false`; empty means all real), softmax over each row.
pub(crate) fn softmax_in_place(scores: &mut [f32], key_real: &[bool], s: AttentionShape) {
    for_rows(scores, &s, |first, rows| {
        softmax_rows(rows, first, key_real, &s)
    });
}

simd_dispatch! {
    fn softmax_rows(rows: &mut [f32], first: usize, key_real: &[bool], s: &AttentionShape) {
        let (n, scale) = (s.keys, s.scale());
        for (offset, p) in rows.chunks_exact_mut(n).enumerate() {
            let (row, i) = s.locate(first + offset);
            let visible = s.visible(i);
            let (scores, future) = p.split_at_mut(visible);
            let mut any_real = key_real.is_empty();
            if key_real.is_empty() {
                for x in scores.iter_mut() {
                    *x *= scale;
                }
            } else {
                for (x, &real) in scores.iter_mut().zip(&key_real[row * n..row * n + visible]) {
                    *x = if real { *x * scale } else { f32::MIN };
                    any_real |= real;
                }
            }
            if !any_real {
                // Every score is f32::MIN: the softmax is uniform over all keys.
                p.fill(1.0 / n as f32);
                continue;
            }
            future.fill(0.0);
            let inv = 1.0 / exp_in_place(scores, max(scores));
            for x in scores.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// Turns `dP = dO·Vᵀ` `[batch, heads, queries, keys]` into the gradient of the raw scores in
/// place, given the probabilities of the forward pass: `P ⊙ (dP − rowsum(P ⊙ dP)) / √d`, and
/// 0 where a score was masked.
pub(crate) fn softmax_backward_in_place(
    grad: &mut [f32],
    probs: &[f32],
    key_real: &[bool],
    s: AttentionShape,
) {
    let n = s.keys;
    for_rows(grad, &s, |first, rows| {
        let start = first * n;
        softmax_backward_rows(rows, &probs[start..start + rows.len()], first, key_real, &s)
    });
}

simd_dispatch! {
    fn softmax_backward_rows(
        rows: &mut [f32],
        probs: &[f32],
        first: usize,
        key_real: &[bool],
        s: &AttentionShape,
    ) {
        let (n, scale) = (s.keys, s.scale());
        for (offset, (dp, p)) in rows
            .chunks_exact_mut(n)
            .zip(probs.chunks_exact(n))
            .enumerate()
        {
            let (row, i) = s.locate(first + offset);
            let visible = s.visible(i);
            let real = if key_real.is_empty() {
                None
            } else {
                Some(&key_real[row * n..row * n + visible])
            };
            if real.is_some_and(|real| !real.contains(&true)) {
                // Every score was replaced by a constant: none gets a gradient.
                dp.fill(0.0);
                continue;
            }
            let (dp, future) = dp.split_at_mut(visible);
            future.fill(0.0);
            let p = &p[..visible];
            let row_dot = dot(p, dp);
            for (g, &pj) in dp.iter_mut().zip(p) {
                *g = pj * (*g - row_dot) * scale;
            }
            if let Some(real) = real {
                for (g, &real) in dp.iter_mut().zip(real) {
                    if !real {
                        *g = 0.0;
                    }
                }
            }
        }
    }
}

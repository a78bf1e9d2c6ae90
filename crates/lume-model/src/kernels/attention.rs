//! The softmax of causal attention and its gradient, row by row on the CPU. The matrix
//! products around them stay with the backend's matmul (see `flex.rs`); what this fuses is the
//! scaling, masking, softmax and its backward, which Burn composes from eight element-wise
//! operations and their autodiff nodes.
//!
//! A masked score becomes `f32::MIN` before the softmax, as in transformers, so a row with
//! every key masked (left padding) attends uniformly to all keys instead of producing NaN.

use rayon::prelude::*;

use super::simd::{dot, exp_in_place, max, simd_dispatch};
use super::spinning_pool::in_parts;

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

/// Queries up to which [`attend_few_queries`] computes attention directly: decoding's one new
/// token per row, where two batched matmuls and the layout copies around them cost more than
/// the arithmetic.
pub(crate) const FEW_QUERIES: usize = 8;

/// Keys or values `[batch, positions, kv_heads, head_dim]` whose positions are contiguous
/// within a row and whose rows lie `batch_stride` apart: a KV cache's filled prefix, read in
/// place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PositionsView<'a> {
    pub data: &'a [f32],
    pub batch_stride: usize,
}

impl PositionsView<'_> {
    #[inline(always)]
    fn head(&self, b: usize, j: usize, kv: usize, s: &AttentionShape) -> &[f32] {
        let d = s.head_dim;
        &self.data[b * self.batch_stride + (j * s.kv_heads + kv) * d..][..d]
    }
}

/// The forward pass for a few queries `q` `[batch, queries, heads, d]` (contiguous), straight
/// from the projections' layouts. Returns `[batch, queries, heads, d]`. Same masking and
/// softmax as [`softmax_in_place`]. The score rows (one per batch row, head and query) are
/// split between decoding's spinning threads, which would otherwise wait through it; each row
/// is computed the same way whichever thread takes it.
pub(crate) fn attend_few_queries(
    q: &[f32],
    k: PositionsView<'_>,
    v: PositionsView<'_>,
    key_real: &[bool],
    s: AttentionShape,
) -> Vec<f32> {
    let (rows, d) = (s.batch * s.heads * s.queries, s.head_dim);
    let parts = in_parts(rows, rows * s.keys * d, |first, end| {
        // Raw scores `[rows, keys]` of score rows `first..end`, the layout the softmax reads.
        let mut scores = vec![0.0f32; (end - first) * s.keys];
        query_key_scores(&mut scores, first, q, k, &s);
        softmax_rows(&mut scores, first, key_real, &s);
        let mut out = vec![0.0f32; (end - first) * d];
        weighted_values(&mut out, &scores, first, v, &s);
        out
    });
    let mut out = vec![0.0f32; rows * d];
    for (first, part) in parts {
        for (offset, head) in part.chunks_exact(d).enumerate() {
            let r = first + offset;
            let ((b, i), (h, _)) = (s.locate(r), heads_of(r, &s));
            out[((b * s.queries + i) * s.heads + h) * d..][..d].copy_from_slice(head);
        }
    }
    out
}

/// The head a score row `[batch, heads, queries]` belongs to, and its key/value head.
#[inline(always)]
fn heads_of(r: usize, s: &AttentionShape) -> (usize, usize) {
    let h = (r / s.queries) % s.heads;
    (h, h / s.group())
}

simd_dispatch! {
    /// Raw scores of score rows `first..` (as many as `scores` holds).
    fn query_key_scores(scores: &mut [f32], first: usize, q: &[f32], k: PositionsView<'_>, s: &AttentionShape) {
        let d = s.head_dim;
        for (offset, row) in scores.chunks_exact_mut(s.keys).enumerate() {
            let r = first + offset;
            let (b, i) = s.locate(r);
            let (h, kv) = heads_of(r, s);
            let query = &q[((b * s.queries + i) * s.heads + h) * d..][..d];
            for (j, score) in row[..s.visible(i)].iter_mut().enumerate() {
                *score = dot(query, k.head(b, j, kv, s));
            }
        }
    }
}

simd_dispatch! {
    /// `out` `[rows, d]`: the attention output of score rows `first..`, row by row.
    fn weighted_values(out: &mut [f32], probs: &[f32], first: usize, v: PositionsView<'_>, s: &AttentionShape) {
        let d = s.head_dim;
        for (offset, (probs, o)) in probs.chunks_exact(s.keys).zip(out.chunks_exact_mut(d)).enumerate() {
            let r = first + offset;
            let (b, _) = s.locate(r);
            let (_, kv) = heads_of(r, s);
            // Future keys have probability 0, except in a fully masked row's uniform softmax.
            for (j, &p) in probs.iter().enumerate() {
                if p != 0.0 {
                    for (o, &x) in o.iter_mut().zip(v.head(b, j, kv, s)) {
                        *o = p.mul_add(x, *o);
                    }
                }
            }
        }
    }
}

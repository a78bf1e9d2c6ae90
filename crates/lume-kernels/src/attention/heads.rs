//! The matrix products of training's attention, head by head: each (batch row, head) pair is a
//! 2-D product on one thread, the pairs split between the cores. Q, K, V and the output's
//! gradient are read where they lie (`[batch, seq, heads, d]`, a key/value head shared by
//! its group of query heads without copying it out), and the outputs and gradients are
//! written there.
//!
//! Burn's batched matmul needed the heads first (a copy of each operand, K and V once per
//! query head of a group), zeroed and then copied each output on the calling thread while the
//! other cores waited, and gave outputs that needed a copy back: on SmolLM2's fine-tuning the
//! calling thread spent half its serial time there (perf, 2-core Intel Xeon).

use rayon::prelude::*;

use super::{AttentionShape, head_view};
use crate::product::{Destination, Operand, gemm_into};

/// Head `h` of batch row `b` in a `[batch, len, heads, d]` tensor.
fn head_rows(data: &[f32], b: usize, len: usize, heads: usize, h: usize, d: usize) -> Operand<'_> {
    head_view(data, b * len * heads * d, heads, h, d)
}

/// Runs `pair(i, dst)` for each of `pairs` pairs into a fresh output of `len` elements, the
/// pairs split between the cores.
///
/// # Safety
/// `pair` must write every element of the output exactly once over all pairs, each pair
/// elements no other pair touches.
unsafe fn per_pair(
    len: usize,
    pairs: usize,
    pair: impl Fn(usize, Destination<f32>) + Sync,
) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let dst = Destination(out.as_mut_ptr());
    (0..pairs).into_par_iter().for_each(|i| pair(i, dst));
    // SAFETY: the caller's contract: every element was written.
    unsafe { out.set_len(len) };
    out
}

/// `x_h · y_gᵀ` for every batch row and query head `h` (`g` its key/value head): `x`
/// `[batch, queries, heads, d]`, `y` `[batch, keys, kv_heads, d]`; `[batch, heads, queries,
/// keys]`, unscaled. The scores `Q·Kᵀ`, and the probabilities' gradient `dO·Vᵀ`.
pub(crate) fn head_scores(x: &[f32], y: &[f32], s: &AttentionShape) -> Vec<f32> {
    let (t, n, d) = (s.queries, s.keys, s.head_dim);
    let len = s.batch * s.heads * t * n;
    if len == 0 || d == 0 {
        return vec![0.0; len];
    }
    assert!(x.len() >= s.batch * t * s.heads * d && y.len() >= s.batch * n * s.kv_heads * d);
    // SAFETY: pair `i` writes its own `[t, n]` block; the views lie inside `x` and `y`.
    unsafe {
        per_pair(len, s.batch * s.heads, |i, dst| {
            let (b, h) = (i / s.heads, i % s.heads);
            let keys = head_rows(y, b, n, s.kv_heads, h / s.group(), d).transposed_view();
            let rows = head_rows(x, b, t, s.heads, h, d);
            gemm_into(dst.at(i * t * n), n, rows, keys, t, d, n, false);
        })
    }
}

/// `w_h · y_g` for every batch row and query head `h`: `w` `[batch, heads, queries, keys]`,
/// `y` `[batch, keys, kv_heads, d]`; `[batch, queries, heads, d]`. The output `P·V`, and the
/// queries' gradient `dS·K`.
pub(crate) fn head_values(w: &[f32], y: &[f32], s: &AttentionShape) -> Vec<f32> {
    let (t, n, d) = (s.queries, s.keys, s.head_dim);
    let len = s.batch * t * s.heads * d;
    if len == 0 || n == 0 {
        return vec![0.0; len];
    }
    assert!(w.len() >= s.batch * s.heads * t * n && y.len() >= s.batch * n * s.kv_heads * d);
    // SAFETY: pair `(b, h)` writes the `[t, d]` columns of head `h` in batch row `b`; the views
    // lie inside `w` and `y`.
    unsafe {
        per_pair(len, s.batch * s.heads, |i, dst| {
            let (b, h) = (i / s.heads, i % s.heads);
            let weights = Operand::rows(&w[i * t * n..(i + 1) * t * n], n);
            let values = head_rows(y, b, n, s.kv_heads, h / s.group(), d);
            let at = dst.at((b * t * s.heads + h) * d);
            gemm_into(at, s.heads * d, weights, values, t, n, d, false);
        })
    }
}

/// `Σ_h w_hᵀ · x_h` over the query heads `h` of each key/value head, for every batch row: `w`
/// `[batch, heads, queries, keys]`, `x` `[batch, queries, heads, d]`; `[batch, keys,
/// kv_heads, d]`. The keys' gradient `dSᵀ·Q` and the values' `Pᵀ·dO`. Each head's product is
/// whole before it joins the sum, in the order of the group's heads (the sums Burn's
/// `sum_dim` made of the repeated heads' gradients; letting the product add itself to the
/// output would add it slice of `queries` by slice).
pub(crate) fn head_sums(w: &[f32], x: &[f32], s: &AttentionShape) -> Vec<f32> {
    let (t, n, d, group) = (s.queries, s.keys, s.head_dim, s.group());
    let len = s.batch * n * s.kv_heads * d;
    if len == 0 || t == 0 || group == 0 {
        return vec![0.0; len];
    }
    assert!(w.len() >= s.batch * s.heads * t * n && x.len() >= s.batch * t * s.heads * d);
    let row_stride = s.kv_heads * d;
    // SAFETY: pair `(b, g)` writes, then adds to, the `[n, d]` columns of key/value head `g`
    // in batch row `b`; the views lie inside `w` and `x`.
    unsafe {
        per_pair(len, s.batch * s.kv_heads, |i, dst| {
            let (b, g) = (i / s.kv_heads, i % s.kv_heads);
            let at = dst.at((b * n * s.kv_heads + g) * d);
            let product = |h: usize, to: *mut f32, stride: usize| {
                let pair = b * s.heads + h;
                let weights = Operand::rows(&w[pair * t * n..(pair + 1) * t * n], n);
                let rows = head_rows(x, b, t, s.heads, h, d);
                gemm_into(to, stride, weights.transposed_view(), rows, n, t, d, false);
            };
            product(g * group, at, row_stride);
            let mut head = vec![0.0f32; if group > 1 { n * d } else { 0 }];
            for h in g * group + 1..(g + 1) * group {
                product(h, head.as_mut_ptr(), d);
                for (r, row) in head.chunks_exact(d).enumerate() {
                    let sums = std::slice::from_raw_parts_mut(at.add(r * row_stride), d);
                    sums.iter_mut().zip(row).for_each(|(sum, &v)| *sum += v);
                }
            }
        })
    }
}

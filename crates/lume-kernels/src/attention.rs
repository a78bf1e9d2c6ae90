//! The softmax of causal attention and its gradient, row by row on the CPU, and the matrix
//! products around them head by head (`heads.rs`); what this fuses is the scaling, masking,
//! softmax and its backward, which Burn composes from eight element-wise operations and their
//! autodiff nodes.
//!
//! A masked score becomes `f32::MIN` before the softmax, as in transformers, so a row with
//! every key masked (left padding) attends uniformly to all keys instead of producing NaN.

use rayon::prelude::*;

use super::product::Operand;
use super::simd::{dot, exp_in_place, max, simd_dispatch};
use super::spinning_pool::in_weighted_parts;

mod blocked;
mod heads;
#[cfg(target_arch = "x86_64")]
mod native;
mod units;
pub(crate) use blocked::attend_blocked;
pub(crate) use heads::{head_scores, head_sums, head_values};
use units::{unit_scores, unit_values};

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
        for (offset, p) in rows.chunks_exact_mut(s.keys).enumerate() {
            let (row, i) = s.locate(first + offset);
            softmax_row(p, row, i, key_real, s);
        }
    }
}

simd_dispatch! {
    /// The score rows `[queries, width]` of batch row `b`'s queries from `first`, as
    /// [`softmax_in_place`] turns them into probabilities (each row seeing at most `width` keys).
    fn softmax_block(
        rows: &mut [f32],
        width: usize,
        b: usize,
        first: usize,
        key_real: &[bool],
        s: &AttentionShape,
    ) {
        for (offset, p) in rows.chunks_exact_mut(width).enumerate() {
            softmax_row(p, b, first + offset, key_real, s);
        }
    }
}

/// The raw scores `p` of batch row `row`'s query `i` over at least the keys it sees, turned
/// into probabilities in place: scaled by `1/√d`, masked (future keys, keys `key_real` marks
/// `false`), softmax. The same numbers whatever the row's length past its visible keys.
#[inline(always)]
fn softmax_row(p: &mut [f32], row: usize, i: usize, key_real: &[bool], s: &AttentionShape) {
    let (n, scale) = (s.keys, s.scale());
    let visible = s.visible(i);
    let width = p.len();
    let (scores, future) = p.split_at_mut(visible);
    let real = (!key_real.is_empty()).then(|| &key_real[row * n..row * n + visible]);
    // The sum starts at the first real key: a decoding slot's left padding (how far its keys
    // sit from the start of the shared cache, which depends on the other slots) must not move
    // its keys between the sum's lanes, or its numbers would depend on the rows decoding
    // beside it.
    let Some(first_real) = real.map_or(Some(0), |real| real.iter().position(|&r| r)) else {
        // Every score would be f32::MIN: the softmax is uniform over the row (a padding
        // query's, whose output no real token reads).
        p.fill(1.0 / width as f32);
        return;
    };
    match real {
        None => scores.iter_mut().for_each(|x| *x *= scale),
        Some(real) => {
            for (x, &real) in scores.iter_mut().zip(real) {
                *x = if real { *x * scale } else { f32::MIN };
            }
        }
    }
    future.fill(0.0);
    let shift = max(scores);
    // The padding's probabilities are 0.
    let (padding, scores) = scores.split_at_mut(first_real);
    padding.fill(0.0);
    let inv = 1.0 / exp_in_place(scores, shift);
    for x in scores.iter_mut() {
        *x *= inv;
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

/// Head `h` of the positions of a `[positions, heads, d]` layout that start at `data[start]`:
/// a `[positions, d]` view at row stride `heads · d`.
pub(crate) fn head_view(
    data: &[f32],
    start: usize,
    heads: usize,
    h: usize,
    d: usize,
) -> Operand<'_> {
    Operand {
        data: &data[start + h * d..],
        row_stride: heads * d,
        col_stride: 1,
    }
}

/// Keys or values `[batch, positions, kv_heads, head_dim]` whose positions are contiguous
/// within a row and whose rows lie `batch_stride` apart: a KV cache's filled prefix, read in
/// place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PositionsView<'a> {
    pub data: &'a [f32],
    pub batch_stride: usize,
}

impl PositionsView<'_> {
    /// Position `j` of batch row `b`: every key/value head, `[kv_heads, d]`.
    #[inline(always)]
    fn position(&self, b: usize, j: usize, s: &AttentionShape) -> &[f32] {
        let width = s.kv_heads * s.head_dim;
        &self.data[b * self.batch_stride + j * width..][..width]
    }
}

/// The forward pass for a few queries `q` `[batch, queries, heads, d]` (contiguous), straight
/// from the projections' layouts. Returns `[batch, queries, heads, d]`. Same masking and
/// softmax as [`softmax_in_place`]. The work goes in units of one batch row and query, all
/// heads together: each cached position's keys (and values) of every head are read once, in
/// one run, and the cache is walked in order — a head at a time would read it once per query
/// head (grouped-query attention), in short strided pieces. With fewer units than threads
/// (batch-1 decoding), each unit's heads are cut into as many pieces. The units are split
/// between decoding's spinning threads, which would otherwise wait through it; each score row
/// adds the same terms in the same order whichever unit, piece and thread computes it.
///
/// Keys that `key_real` marks `false` are not read: a decoding slot's left padding (set by the
/// longest slot beside it) costs nothing.
pub(crate) fn attend_few_queries(
    q: &[f32],
    k: PositionsView<'_>,
    v: PositionsView<'_>,
    key_real: &[bool],
    s: AttentionShape,
) -> Vec<f32> {
    let (d, n, heads) = (s.head_dim, s.keys, s.heads);
    let units = s.batch * s.queries;
    let threads = super::spinning_pool::SpinningPool::global().parts();
    let pieces = if units < threads {
        threads.div_ceil(units).min(heads)
    } else {
        1
    };
    // A unit's cost is its keys from the first real one (decoding slots share a cache as long
    // as the longest of them, and their left padding is skipped): parts of equal cost.
    let first_real: Vec<usize> = (0..s.batch)
        .map(|b| match key_real {
            [] => 0,
            real => real[b * n..(b + 1) * n]
                .iter()
                .position(|&r| r)
                .unwrap_or(n),
        })
        .collect();
    let weights: Vec<usize> = (0..units * pieces)
        .map(|item| {
            let (b, i) = (item / pieces / s.queries, item / pieces % s.queries);
            let keys = s.visible(i).saturating_sub(first_real[b]) + 1;
            keys * heads.div_ceil(pieces) * d * 2
        })
        .collect();
    let parts = in_weighted_parts(&weights, |first, end| {
        let mut out = Vec::with_capacity((end - first).div_ceil(pieces) * heads * d);
        let mut scores = vec![0.0f32; heads * n];
        for item in first..end {
            let (u, piece) = (item / pieces, item % pieces);
            let (b, i) = (u / s.queries, u % s.queries);
            let (h0, h1) = (heads * piece / pieces, heads * (piece + 1) / pieces);
            let query = &q[(u * heads + h0) * d..(u * heads + h1) * d];
            let real = (!key_real.is_empty()).then(|| &key_real[b * n..(b + 1) * n]);
            let scores = &mut scores[..(h1 - h0) * n];
            let visible = s.visible(i);
            let keys = first_real[b].min(visible)..visible;
            unit_scores(scores, b, keys, real, h0, query, k, &s);
            for (h, row) in (h0..h1).zip(scores.chunks_exact_mut(n)) {
                softmax_rows(row, (b * heads + h) * s.queries + i, key_real, &s);
            }
            let start = out.len();
            out.resize(start + (h1 - h0) * d, 0.0);
            unit_values(&mut out[start..], scores, b, h0, v, &s);
        }
        out
    });
    // A unit's heads are its rows of `[batch, queries, heads, d]`, and the parts come in order.
    parts.into_iter().flat_map(|(_, part)| part).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A score row at a time, each reading its own key/value head: the computation the
    /// grouped units must reproduce bit for bit.
    fn row_by_row(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        key_real: &[bool],
        s: AttentionShape,
    ) -> Vec<f32> {
        let (n, d) = (s.keys, s.head_dim);
        let view = PositionsView {
            data: k,
            batch_stride: n * s.kv_heads * d,
        };
        let values = PositionsView { data: v, ..view };
        let mut out = vec![0.0f32; s.batch * s.queries * s.heads * d];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.queries {
                    let r = (b * s.heads + h) * s.queries + i;
                    let kv = h / s.group();
                    let query = &q[((b * s.queries + i) * s.heads + h) * d..][..d];
                    let mut row = vec![0.0f32; n];
                    for (j, x) in row[..s.visible(i)].iter_mut().enumerate() {
                        *x = dot(query, &view.position(b, j, &s)[kv * d..][..d]);
                    }
                    softmax_rows(&mut row, r, key_real, &s);
                    let o = &mut out[((b * s.queries + i) * s.heads + h) * d..][..d];
                    for (j, &p) in row.iter().enumerate() {
                        if p != 0.0 {
                            for (o, &x) in
                                o.iter_mut().zip(&values.position(b, j, &s)[kv * d..][..d])
                            {
                                *o = p.mul_add(x, *o);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Bit for bit on every path, the AVX-512 kernels included (blocks of 16 positions, a
    /// group's outputs in registers). Includes batch-1 shapes large enough to be split
    /// between threads (each unit's heads in pieces) and masked keys after a row's first real
    /// one (a cache grown for a longer slot), whose keys and values hold NaN: they must not be
    /// read.
    #[test]
    fn grouped_heads_give_the_row_by_row_outputs_bit_for_bit() {
        let mut state = 7u32;
        let mut draw = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        for (batch, keys, heads, kv_heads, queries, head_dim) in [
            (3, 9, 6, 2, 1, 20),
            (3, 9, 6, 2, 3, 20),
            (3, 9, 4, 4, 1, 20),
            (3, 9, 3, 1, 2, 20),
            (1, 300, 9, 3, 1, 64),
            (1, 300, 9, 3, 2, 64),
            (2, 200, 3, 3, 1, 64),
            // AVX-512's blocks: groups wider than its four heads, head sizes of 1–4 chunks.
            (1, 100, 10, 1, 1, 80),
            (2, 40, 8, 2, 1, 48),
            (1, 50, 4, 2, 1, 128),
        ] {
            let s = AttentionShape {
                batch,
                queries,
                keys,
                heads,
                kv_heads,
                head_dim,
            };
            let q: Vec<f32> = (0..batch * queries * heads * head_dim)
                .map(|_| draw())
                .collect();
            // Row 0 with a masked gap, row 1 left-padded by two keys, row 2 with every key masked.
            let key_real: Vec<bool> = (0..batch * keys)
                .map(|x| match x / keys {
                    0 => !(3..6).contains(&(x % keys)),
                    1 => x % keys >= 2,
                    _ => false,
                })
                .collect();
            let width = kv_heads * head_dim;
            let masked = |data: Vec<f32>| -> Vec<f32> {
                let mut data = data;
                // Not in row 2: a fully masked row attends uniformly to every value.
                for (p, x) in data.chunks_exact_mut(width).enumerate() {
                    if !key_real[p] && p / keys < 2 {
                        x.fill(f32::NAN);
                    }
                }
                data
            };
            let kv_len = batch * keys * width;
            let k = masked((0..kv_len).map(|_| draw()).collect());
            let v = masked((0..kv_len).map(|_| draw()).collect());
            let view = |data| PositionsView {
                data,
                batch_stride: keys * width,
            };
            let grouped = attend_few_queries(&q, view(&k), view(&v), &key_real, s);
            let expected = row_by_row(&q, &k, &v, &key_real, s);
            let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&grouped),
                bits(&expected),
                "{batch}×{keys} keys, {heads} heads, {kv_heads} kv, {queries} queries"
            );
        }
    }

    /// A decoding slot's output is the same, bit for bit, however many masked positions sit
    /// before its keys in the shared cache (left padding, set by the other slots).
    #[test]
    fn a_rows_output_does_not_depend_on_its_left_padding() {
        let (heads, kv_heads, d, real) = (4, 2, 16, 37);
        let mut state = 3u32;
        let mut draw = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 * 8.0 - 4.0
        };
        let q: Vec<f32> = (0..heads * d).map(|_| draw()).collect();
        let k: Vec<f32> = (0..real * kv_heads * d).map(|_| draw()).collect();
        let v: Vec<f32> = (0..real * kv_heads * d).map(|_| draw()).collect();
        let padded = |pad: usize| {
            let s = AttentionShape {
                batch: 1,
                queries: 1,
                keys: pad + real,
                heads,
                kv_heads,
                head_dim: d,
            };
            let filler = vec![9.0f32; pad * kv_heads * d];
            let (k, v) = (
                [filler.clone(), k.clone()].concat(),
                [filler, v.clone()].concat(),
            );
            let key_real: Vec<bool> = (0..pad + real).map(|j| j >= pad).collect();
            let view = |data| PositionsView {
                data,
                batch_stride: (pad + real) * kv_heads * d,
            };
            let out = attend_few_queries(&q, view(&k), view(&v), &key_real, s);
            out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        let alone = padded(0);
        for pad in [1, 3, 15, 16, 21] {
            assert_eq!(padded(pad), alone, "{pad} positions of left padding");
        }
    }
}

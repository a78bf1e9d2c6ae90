//! Attention for many queries at once (a scoring or prefill pass) when nothing needs the
//! probabilities afterwards (training keeps them for its backward pass, `flex.rs`).
//!
//! The work goes in units of one batch row, one query head and a block of its queries, on
//! rayon's threads: the block's scores against only the keys its last query sees (half the
//! products of the whole `[queries, keys]` square that a causal mask then discards), each
//! row's softmax, and the block's outputs, written straight into `[batch, queries, heads, d]`.
//! Keys and values are read in place from their projections or the KV cache, each key/value
//! head shared by its query heads without copies. Before, two batched matmuls through flex
//! did the whole square, and the layout copies, the zero-filled outputs and their realignment
//! ran on the calling thread while the other cores waited.
//!
//! A row's numbers depend only on its own tokens: its blocks start at its first query, and
//! their sums over keys go in pieces of a fixed length, whatever the length of the longest row
//! it is padded to (the keys after its own only add zeros).

use rayon::prelude::*;

use super::{AttentionShape, PositionsView, head_view, softmax_block};
use crate::product::{Destination, Operand, gemm_into};

/// Queries per unit: enough rows for the products' tiles, few enough that the units spread
/// over the cores and that a block's scores (`32 × keys`) stay in L2.
const QUERY_BLOCK: usize = 32;

/// Keys per product of probabilities and values, added in order. `gemm` splits a longer inner
/// dimension into equal blocks (of at least 512, depending on the CPU's caches), so a row's
/// sums would be grouped by the length of the longest row of its batch; in pieces of a fixed
/// length each piece is one block, and a padded row only adds pieces of zeros.
const KEY_PIECE: usize = 256;

/// The forward pass for `q` `[batch, queries, heads, d]` (contiguous) over the keys and values
/// of `k` and `v`: `[batch, queries, heads, d]`. Same masking and softmax as
/// [`super::softmax_in_place`]; a padding query whose keys are all masked gets the mean of its
/// block's values (no real token reads it).
///
/// # Panics
/// If `q`, `k` or `v` is shorter than `s` says (a programming error of the caller).
pub(crate) fn attend_blocked(
    q: &[f32],
    k: PositionsView<'_>,
    v: PositionsView<'_>,
    key_real: &[bool],
    s: AttentionShape,
) -> Vec<f32> {
    let (d, heads, width) = (s.head_dim, s.heads, s.kv_heads * s.head_dim);
    let len = s.batch * s.queries * heads * d;
    assert!(
        q.len() >= len,
        "attend_blocked: q holds {} of {len}",
        q.len()
    );
    let last_key = |data: &[f32], stride: usize| {
        s.batch == 0 || s.keys == 0 || data.len() >= (s.batch - 1) * stride + s.keys * width
    };
    assert!(
        last_key(k.data, k.batch_stride) && last_key(v.data, v.batch_stride),
        "attend_blocked: keys or values shorter than {s:?}"
    );
    let mut out: Vec<f32> = Vec::with_capacity(len);
    if len == 0 {
        return out;
    }
    let dst = Destination(out.as_mut_ptr());
    let blocks = s.queries.div_ceil(QUERY_BLOCK);
    (0..s.batch * heads * blocks).into_par_iter().for_each_init(
        Vec::new,
        |scores: &mut Vec<f32>, unit| {
            let (b, h, block) = (
                unit / (heads * blocks),
                unit / blocks % heads,
                unit % blocks,
            );
            let first = block * QUERY_BLOCK;
            let rows = QUERY_BLOCK.min(s.queries - first);
            let seen = s.visible(first + rows - 1);
            let kv = h / s.group();
            if scores.len() < rows * seen {
                scores.resize(rows * seen, 0.0);
            }
            let scores = &mut scores[..rows * seen];
            let at = ((b * s.queries + first) * heads + h) * d;
            let query = head_view(q, (b * s.queries + first) * heads * d, heads, h, d);
            let keys = head_view(k.data, b * k.batch_stride, s.kv_heads, kv, d).transposed_view();
            let values = head_view(v.data, b * v.batch_stride, s.kv_heads, kv, d);
            debug_assert!(query.fits(rows, d) && keys.fits(d, seen) && values.fits(seen, d));
            // SAFETY: the views lie inside their slices (checked above: the block's queries,
            // its row's first `seen ≤ keys` positions); `scores` holds `rows × seen`, and the
            // unit alone writes its block's rows of head `h` in `out` (`rows × d` at row
            // stride `heads × d`, inside the `len` elements).
            unsafe {
                gemm_into(scores.as_mut_ptr(), seen, query, keys, rows, d, seen, false);
            }
            softmax_block(scores, seen, b, first, key_real, &s);
            let probs = Operand::rows(scores, seen);
            for j in (0..seen).step_by(KEY_PIECE) {
                let piece = KEY_PIECE.min(seen - j);
                // SAFETY: as above; keys `j..j + piece` of the probabilities and the values.
                unsafe {
                    gemm_into(
                        dst.at(at),
                        heads * d,
                        probs.offset(j),
                        values.offset(j * width),
                        rows,
                        piece,
                        d,
                        j > 0,
                    );
                }
            }
        },
    );
    // SAFETY: the units wrote every query's every head: `batch × queries × heads × d`.
    unsafe { out.set_len(len) };
    out
}

#[cfg(test)]
mod tests {
    use super::super::attend_few_queries;
    use super::*;

    fn draws(seed: u32) -> impl FnMut() -> f32 {
        let mut state = seed;
        move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 * 4.0 - 2.0
        }
    }

    /// Against the few-queries kernel (itself checked against a row-by-row computation): the
    /// same outputs up to the order of the sums, over several blocks, grouped heads, a cached
    /// prefix (fewer queries than keys), right and left padding.
    #[test]
    fn blocks_give_the_attention_of_each_query() {
        let mut draw = draws(11);
        for (heads, kv_heads, queries, keys) in [(6, 2, 70, 75), (4, 4, 33, 33), (3, 1, 9, 40)] {
            let s = AttentionShape {
                batch: 3,
                queries,
                keys,
                heads,
                kv_heads,
                head_dim: 16,
            };
            let d = s.head_dim;
            let q: Vec<f32> = (0..s.batch * queries * heads * d).map(|_| draw()).collect();
            let kv_len = s.batch * keys * kv_heads * d;
            let k: Vec<f32> = (0..kv_len).map(|_| draw()).collect();
            let v: Vec<f32> = (0..kv_len).map(|_| draw()).collect();
            // Row 1 right-padded by 7 keys, row 2 left-padded by 4.
            let key_real: Vec<bool> = (0..s.batch * keys)
                .map(|x| match x / keys {
                    1 => x % keys < keys - 7,
                    2 => x % keys >= 4,
                    _ => true,
                })
                .collect();
            let view = |data| PositionsView {
                data,
                batch_stride: keys * kv_heads * d,
            };
            let blocked = attend_blocked(&q, view(&k), view(&v), &key_real, s);
            let expected = attend_few_queries(&q, view(&k), view(&v), &key_real, s);
            for (idx, (b, e)) in blocked.iter().zip(&expected).enumerate() {
                let (row, i) = (idx / (queries * heads * d), idx / (heads * d) % queries);
                if row == 2 && s.visible(i) <= 4 {
                    // A padding query that sees no real key: its output is read by no one
                    // (the few-queries kernel averages every key, this one the keys it sees).
                    assert!(b.is_finite());
                    continue;
                }
                assert!(
                    (b - e).abs() <= 1e-5,
                    "{heads}/{kv_heads} heads, row {row}, query {i}: {b} vs {e}"
                );
            }
        }
    }

    /// A row's outputs are the same, bit for bit, alone or right-padded to a longer row of its
    /// batch (scoring pads each batch to its longest row).
    #[test]
    fn a_rows_output_does_not_depend_on_the_padding_after_it() {
        let (heads, kv_heads, d) = (6, 2, 16);
        for (real, padded) in [(40, 70), (300, 520), (700, 1100)] {
            let mut draw = draws(5);
            let q: Vec<f32> = (0..padded * heads * d).map(|_| draw()).collect();
            let k: Vec<f32> = (0..padded * kv_heads * d).map(|_| draw()).collect();
            let v: Vec<f32> = (0..padded * kv_heads * d).map(|_| draw()).collect();
            let run = |len: usize| {
                let s = AttentionShape {
                    batch: 1,
                    queries: len,
                    keys: len,
                    heads,
                    kv_heads,
                    head_dim: d,
                };
                let key_real: Vec<bool> = (0..len).map(|j| j < real).collect();
                let view = |data| PositionsView {
                    data,
                    batch_stride: len * kv_heads * d,
                };
                let out = attend_blocked(&q, view(&k), view(&v), &key_real, s);
                out[..real * heads * d]
                    .iter()
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(run(real), run(padded), "{real} real of {padded}");
        }
    }
}

//! One decoding unit's attention (a batch row's query, some of its heads): its scores against
//! the keys it sees, and its probabilities' weighted sum of the values, on the AVX-512 kernels
//! (`native.rs`) where they run and one position at a time elsewhere, with the same bits.

#[cfg(target_arch = "x86_64")]
use super::native;
use super::{AttentionShape, PositionsView};
use crate::simd::{dot, simd_dispatch};

/// Raw scores `[heads, keys]` of one batch row `b` and query (`query` `[heads, d]`, the
/// query heads from `h0`) over `keys`: from the row's first real key to the last one the query
/// sees. Of those, the ones `real` marks (all when `None`) are scored; the others are left as
/// they are or hold a score of a masked key (the softmax masks them without reading). The left
/// padding before `keys` is not read.
#[allow(clippy::too_many_arguments)]
pub(super) fn unit_scores(
    scores: &mut [f32],
    b: usize,
    keys: std::ops::Range<usize>,
    real: Option<&[bool]>,
    h0: usize,
    query: &[f32],
    k: PositionsView<'_>,
    s: &AttentionShape,
) {
    let from = native_scores(scores, b, keys.start, keys.end, h0, query, k, s);
    scores_from(scores, b, from, keys.end, real, h0, query, k, s);
}

/// Whether the AVX-512 decoding kernels (`native.rs`) run for heads of this size here.
#[cfg(target_arch = "x86_64")]
fn native_runs(s: &AttentionShape) -> bool {
    crate::simd::simd_path() == "avx512" && s.head_dim.is_multiple_of(16)
}

/// Scores whole blocks of positions from `first` with the AVX-512 kernel where it runs (a
/// masked key inside a block is scored too); returns the first position left.
#[allow(clippy::too_many_arguments)]
fn native_scores(
    scores: &mut [f32],
    b: usize,
    first: usize,
    visible: usize,
    h0: usize,
    query: &[f32],
    k: PositionsView<'_>,
    s: &AttentionShape,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if native_runs(s) {
        let (n, d, group) = (s.keys, s.head_dim, s.group());
        let width = s.kv_heads * d;
        let mut j = first;
        let row = &k.data[b * k.batch_stride..];
        while j + native::BLOCK <= visible {
            let keys = &row[j * width..][..native::BLOCK * width];
            if j + 2 * native::BLOCK <= visible {
                // SAFETY: `simd_path` found AVX-512F.
                unsafe {
                    native::prefetch(&row[(j + native::BLOCK) * width..][..native::BLOCK * width])
                };
            }
            for (h, query) in query.chunks_exact(d).enumerate() {
                let kv = (h0 + h) / group;
                // SAFETY: `simd_path` found AVX-512F; `d` is a multiple of 16; the block's
                // keys of head `kv` end within `keys` (`kv · d + d <= width`), and its 16
                // scores within head h's row (`j + 16 <= visible <= n`).
                unsafe {
                    native::scores(query, &keys[kv * d..], width, &mut scores[h * n + j..]);
                }
            }
            j += native::BLOCK;
        }
        return j;
    }
    let _ = (scores, b, visible, h0, query, k, s);
    first
}

simd_dispatch! {
    /// [`unit_scores`] from position `from` on, one position at a time.
    fn scores_from(scores: &mut [f32], b: usize, from: usize, visible: usize, real: Option<&[bool]>, h0: usize, query: &[f32], k: PositionsView<'_>, s: &AttentionShape) {
        let (n, d, group) = (s.keys, s.head_dim, s.group());
        for j in from..visible {
            if real.is_some_and(|real| !real[j]) {
                continue;
            }
            let keys = k.position(b, j, s);
            for (h, query) in query.chunks_exact(d).enumerate() {
                scores[h * n + j] = dot(query, &keys[(h0 + h) / group * d..][..d]);
            }
        }
    }
}

/// `out` `[heads, d]`: one batch row's attention outputs of the query heads from `h0`,
/// given their probabilities `[heads, keys]`.
pub(super) fn unit_values(
    out: &mut [f32],
    probs: &[f32],
    b: usize,
    h0: usize,
    v: PositionsView<'_>,
    s: &AttentionShape,
) {
    #[cfg(target_arch = "x86_64")]
    if native_runs(s) {
        let (n, d, group) = (s.keys, s.head_dim, s.group());
        let (width, h1) = (s.kv_heads * d, h0 + out.len() / d);
        let values = &v.data[b * v.batch_stride..];
        let mut first = h0;
        while first < h1 {
            // The unit's query heads that read key/value head `kv`.
            let kv = first / group;
            let end = ((kv + 1) * group).min(h1);
            let rows = first - h0..end - h0;
            // SAFETY: `simd_path` found AVX-512F; `d` is a multiple of 16; the row's `n`
            // positions of head `kv` lie within `values[kv · d..]`, and `probs` and `out`
            // hold the heads' rows.
            unsafe {
                native::values(
                    &mut out[rows.start * d..rows.end * d],
                    &probs[rows.start * n..rows.end * n],
                    n,
                    &values[kv * d..],
                    width,
                    d,
                );
            }
            first = end;
        }
        return;
    }
    values_from_positions(out, probs, b, h0, v, s)
}

simd_dispatch! {
    /// [`unit_values`], one position at a time.
    fn values_from_positions(out: &mut [f32], probs: &[f32], b: usize, h0: usize, v: PositionsView<'_>, s: &AttentionShape) {
        let (n, d, group) = (s.keys, s.head_dim, s.group());
        for j in 0..n {
            let values = v.position(b, j, s);
            for (h, o) in out.chunks_exact_mut(d).enumerate() {
                // Future keys have probability 0, except in a fully masked row's uniform softmax.
                let p = probs[h * n + j];
                if p != 0.0 {
                    for (o, &x) in o.iter_mut().zip(&values[(h0 + h) / group * d..][..d]) {
                        *o = p.mul_add(x, *o);
                    }
                }
            }
        }
    }
}

//! AVX-512 forms of a decoding step's attention (`attend_few_queries`), the same sums in the
//! same order as the portable kernels, so every path gives the same bits.
//!
//! A score is `simd::dot`: 16 lanes of products added chunk by chunk, then the lanes added in
//! order. Computed one score at a time, that last sum is a chain of 15 dependent adds and
//! shuffles; here 16 positions' lanes are transposed so that the chain runs for all 16 at once.
//! A weighted sum of values keeps a group's outputs in registers across positions instead of
//! loading and storing them at every position.

use std::arch::x86_64::{
    __m512, _MM_HINT_T0, _mm_prefetch, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps_pd,
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_pd, _mm512_unpackhi_ps,
    _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};

/// Positions scored at once.
pub(super) const BLOCK: usize = 16;
const LANES: usize = 16;

/// `out[p] = simd::dot(query, keys[p * stride..][..d])` for the 16 positions `p`, bit for bit.
///
/// # Safety
/// The CPU must have AVX-512F; `query.len()` is a multiple of 16, `keys` holds
/// `15 * stride + query.len()` values and `out` 16.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn scores(query: &[f32], keys: &[f32], stride: usize, out: &mut [f32]) {
    let d = query.len();
    assert!(
        d.is_multiple_of(LANES) && keys.len() >= (BLOCK - 1) * stride + d && out.len() >= BLOCK
    );
    let mut lanes = [_mm512_setzero_ps(); BLOCK];
    for c in (0..d).step_by(LANES) {
        // SAFETY: `c + 16 <= d`, and position p's run ends within `keys` (this function's
        // contract); the loads are unaligned.
        let q = unsafe { _mm512_loadu_ps(query.as_ptr().add(c)) };
        for (p, lane) in lanes.iter_mut().enumerate() {
            let k = unsafe { _mm512_loadu_ps(keys.as_ptr().add(p * stride + c)) };
            *lane = _mm512_add_ps(*lane, _mm512_mul_ps(q, k));
        }
    }
    let by_lane = transpose(lanes);
    // `dot` adds its lanes to −0.0 first, which leaves the first lane as it is.
    let sum = by_lane[1..]
        .iter()
        .fold(by_lane[0], |sum, &lane| _mm512_add_ps(sum, lane));
    // SAFETY: `out` holds 16 values.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), sum) };
}

/// Asks for the lines of `data` ahead of their use (a hint: it never faults).
#[target_feature(enable = "avx512f")]
pub(super) fn prefetch(data: &[f32]) {
    for line in data.chunks(LANES) {
        _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
    }
}

/// Rows become columns: `out[l]`'s element `p` is `rows[p]`'s element `l`.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(rows: [__m512; 16]) -> [__m512; 16] {
    let r = rows;
    // Pairs of rows interleaved by 32-bit element, then by 64-bit pair, then 128-bit quarters.
    let mut a = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut b = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        for j in 0..2 {
            let (x, y) = (
                _mm512_castps_pd(a[4 * i + j]),
                _mm512_castps_pd(a[4 * i + j + 2]),
            );
            b[4 * i + j] = _mm512_castpd_ps(_mm512_unpacklo_pd(x, y));
            b[4 * i + j + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(x, y));
        }
    }
    // b[4i + m] holds, in each 128-bit quarter q, elements 4q + m' of rows 4i..4i+4, where
    // m' = [0, 2, 1, 3][m] (the order of the unpacks above).
    let mut c = [_mm512_setzero_ps(); 16];
    for i in 0..2 {
        for m in 0..4 {
            let (x, y) = (b[8 * i + m], b[8 * i + 4 + m]);
            c[8 * i + m] = _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y);
            c[8 * i + 4 + m] = _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y);
        }
    }
    let mut out = [_mm512_setzero_ps(); 16];
    for m in 0..4 {
        for half in 0..2 {
            let (x, y) = (c[4 * half + m], c[8 + 4 * half + m]);
            let lo = _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y);
            let hi = _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y);
            let element = [0, 2, 1, 3][m];
            out[element + 4 * half] = lo;
            out[element + 8 + 4 * half] = hi;
        }
    }
    out
}

/// Heads of a group whose outputs stay in registers together, and 16-lane chunks of each.
const HEADS: usize = 4;
const CHUNKS: usize = 4;
/// Positions ahead whose values are fetched while this one is added: each position's run is a
/// few lines of its own, 3 · 256 bytes from the next at SmolLM2's shape, which the hardware
/// prefetchers did not bring in time (the loads were most of the kernel's time).
const AHEAD: usize = 8;

/// `out[h][..] += probs[h][j] · values[j * stride..][..d]` over the positions `j` in order,
/// skipping `probs[h][j] == 0` (masked positions may hold NaN), for the query heads of one
/// key/value head: `probs` holds their rows of `n` probabilities one after the other and
/// `out` their outputs. The same fused multiply-adds in the same order as the portable loop.
///
/// # Safety
/// The CPU must have AVX-512F; `d` is a multiple of 16, `values` holds
/// `(n − 1) * stride + d` values, `probs` `heads · n` and `out` `heads · d`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn values(
    out: &mut [f32],
    probs: &[f32],
    n: usize,
    values: &[f32],
    stride: usize,
    d: usize,
) {
    let heads = out.len() / d;
    assert!(d.is_multiple_of(LANES) && probs.len() >= heads * n);
    assert!(n == 0 || values.len() >= (n - 1) * stride + d);
    let weighted = Weighted {
        probs,
        n,
        values,
        stride,
        d,
    };
    for h0 in (0..heads).step_by(HEADS) {
        let group = (heads - h0).min(HEADS);
        let mut c0 = 0;
        while c0 < d {
            let chunks = ((d - c0) / LANES).min(CHUNKS);
            // SAFETY: as this function's contract; `c0 + 16 · chunks <= d`.
            unsafe {
                match chunks {
                    4 => block::<4>(out, weighted, h0, group, c0),
                    3 => block::<3>(out, weighted, h0, group, c0),
                    2 => block::<2>(out, weighted, h0, group, c0),
                    _ => block::<1>(out, weighted, h0, group, c0),
                }
            }
            c0 += chunks * LANES;
        }
    }
}

/// What [`values`] weighs: the heads' probabilities and the key/value head's values.
#[derive(Clone, Copy)]
struct Weighted<'a> {
    probs: &'a [f32],
    n: usize,
    values: &'a [f32],
    stride: usize,
    d: usize,
}

/// Heads `h0..h0 + group` (at most [`HEADS`]), lanes `c0..c0 + 16 · C` of their outputs.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn block<const C: usize>(
    out: &mut [f32],
    weighted: Weighted<'_>,
    h0: usize,
    group: usize,
    c0: usize,
) {
    let Weighted {
        probs,
        n,
        values,
        stride,
        d,
    } = weighted;
    let mut acc = [[_mm512_setzero_ps(); C]; HEADS];
    for (h, acc) in acc.iter_mut().enumerate().take(group) {
        for (c, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `out` holds `heads · d` values and `c0 + 16 · C <= d`.
            *acc = unsafe { _mm512_loadu_ps(out.as_ptr().add((h0 + h) * d + c0 + c * LANES)) };
        }
    }
    // A slot's left padding in a shared cache (as long as the longest slot beside it) has
    // probability 0 in every head: its values are neither loaded nor fetched ahead.
    let mut start = n;
    for h in h0..h0 + group {
        let row = &probs[h * n..(h + 1) * n];
        let mut j = 0;
        while j < start && row[j] == 0.0 {
            j += 1;
        }
        start = start.min(j);
    }
    for j in start..n {
        let mut live = false;
        for h in h0..h0 + group {
            live |= probs[h * n + j] != 0.0;
        }
        if !live {
            continue;
        }
        if j + AHEAD < n {
            for c in 0..C {
                // A hint, never a fault: a position AHEAD on, inside `values`.
                let line = values[(j + AHEAD) * stride + c0 + c * LANES..].as_ptr();
                _mm_prefetch::<_MM_HINT_T0>(line.cast());
            }
        }
        let mut v = [_mm512_setzero_ps(); C];
        for (c, v) in v.iter_mut().enumerate() {
            // SAFETY: position j's run of `d` values lies within `values`.
            *v = unsafe { _mm512_loadu_ps(values.as_ptr().add(j * stride + c0 + c * LANES)) };
        }
        for (h, acc) in acc.iter_mut().enumerate().take(group) {
            let p = probs[(h0 + h) * n + j];
            if p != 0.0 {
                let p = _mm512_set1_ps(p);
                for (acc, &v) in acc.iter_mut().zip(&v) {
                    *acc = _mm512_fmadd_ps(p, v, *acc);
                }
            }
        }
    }
    for (h, acc) in acc.iter().enumerate().take(group) {
        for (c, &acc) in acc.iter().enumerate() {
            // SAFETY: as the loads above.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add((h0 + h) * d + c0 + c * LANES), acc) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(state: &mut u32) -> f32 {
        *state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (*state >> 8) as f32 / (1 << 24) as f32 * 8.0 - 4.0
    }

    /// The transpose, the scores against `simd::dot` and the weighted values against the
    /// portable loop, bit for bit, where the CPU has AVX-512F (the build marks the test
    /// ignored elsewhere; the attention tests cover every path end to end).
    #[test]
    #[cfg_attr(
        not(lume_avx512_cpu),
        ignore = "this CPU has no AVX-512F (read from /proc/cpuinfo at build time)"
    )]
    fn kernels_match_the_portable_sums_bit_for_bit() {
        assert!(
            std::arch::is_x86_feature_detected!("avx512f"),
            "built for a CPU with AVX-512F, run on one without"
        );
        let rows: Vec<[f32; 16]> = (0..16)
            .map(|r| std::array::from_fn(|c| (r * 16 + c) as f32))
            .collect();
        // SAFETY: AVX-512F was detected above; each load reads 16 values of a row.
        let columns = unsafe {
            let loaded = std::array::from_fn(|r| _mm512_loadu_ps(rows[r].as_ptr()));
            transpose(loaded).map(|v| {
                let mut out = [0.0f32; 16];
                _mm512_storeu_ps(out.as_mut_ptr(), v);
                out
            })
        };
        for (l, column) in columns.iter().enumerate() {
            for (p, &x) in column.iter().enumerate() {
                assert_eq!(x, rows[p][l], "column {l}, row {p}");
            }
        }

        let mut state = 11u32;
        for (d, stride) in [(16, 16), (64, 192), (80, 80), (128, 256)] {
            let query: Vec<f32> = (0..d).map(|_| draw(&mut state)).collect();
            let keys: Vec<f32> = (0..16 * stride).map(|_| draw(&mut state)).collect();
            let mut out = [0.0f32; 16];
            // SAFETY: AVX-512F; `d` is a multiple of 16 and `keys` holds 16 strides.
            unsafe { scores(&query, &keys, stride, &mut out) };
            for (p, &x) in out.iter().enumerate() {
                let expected = crate::simd::dot(&query, &keys[p * stride..][..d]);
                assert_eq!(x.to_bits(), expected.to_bits(), "d {d}, position {p}");
            }
        }

        // Six heads of 80 (groups of 4 and 2 heads, chunks of 4 and 1 lanes), 40 positions:
        // the first 5 padding (probability 0, values NaN), a zero inside.
        let (heads, d, n, stride) = (6, 80, 40, 96);
        let mut probs: Vec<f32> = (0..heads * n).map(|_| draw(&mut state).abs()).collect();
        let mut values: Vec<f32> = (0..n * stride).map(|_| draw(&mut state)).collect();
        for h in 0..heads {
            probs[h * n..h * n + 5].fill(0.0);
            probs[h * n + 17] = 0.0;
        }
        values[..5 * stride].fill(f32::NAN);
        let mut expected = vec![0.0f32; heads * d];
        for j in 0..n {
            for (h, o) in expected.chunks_exact_mut(d).enumerate() {
                let p = probs[h * n + j];
                if p != 0.0 {
                    for (o, &x) in o.iter_mut().zip(&values[j * stride..][..d]) {
                        *o = p.mul_add(x, *o);
                    }
                }
            }
        }
        let mut out = vec![0.0f32; heads * d];
        // SAFETY: AVX-512F; the sizes as the function requires.
        unsafe { super::values(&mut out, &probs, n, &values, stride, d) };
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&expected));
    }
}

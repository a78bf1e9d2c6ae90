//! The tiles of bf16 products: the portable one and, on x86-64, the `vdpbf16ps` and FMA tiles
//! of every height a row panel needs.

use super::{MR, NR, widen};
use crate::simd::{Bf16Path, simd_dispatch};

/// A native kernel's tile of the least height (1, 2, 4, 8 or `MR`) that covers `rows`.
#[cfg(target_arch = "x86_64")]
macro_rules! by_height {
    ($rows:expr, $kernel:ident($($arg:expr),*)) => {
        match $rows {
            0..=1 => native::$kernel::<1>($($arg),*),
            2 => native::$kernel::<2>($($arg),*),
            3..=4 => native::$kernel::<4>($($arg),*),
            5..=8 => native::$kernel::<8>($($arg),*),
            _ => native::$kernel::<MR>($($arg),*),
        }
    };
}

/// Where a tile's sums live in the product's output: `rows × cols` elements from `at`, rows
/// `stride` elements apart. `fresh` when this slice of the depth is the first: the sums start
/// from zero and the output is not read (it is not written yet).
#[derive(Clone, Copy)]
pub(super) struct Sums {
    pub(super) at: *mut f32,
    pub(super) stride: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) fresh: bool,
}

/// Adds the product of packed slices to `sums` on `path`; `wide_a` is `slice_a` widened by
/// [`widen_pairs`] for the FMA tile (empty on the others). The native tiles keep the sums in
/// registers between the output's rows and columns (masked loads and stores at its edges)
/// rather than a tile on the stack zeroed and copied in and out row by row (those `memmove`
/// calls were 5 % of scoring SmolLM2). A panel of
/// fewer rows runs a tile of 1, 2, 4 or 8 rows where that covers them: one decoding slot would
/// otherwise pay for 12 rows, and 16 slots (a panel of 12 and one of 4) for 24. Each row's sums
/// are the same whatever the tile's height.
///
/// # Safety
/// The CPU must have `path`'s instructions (as [`super::bf16_path`] chose it), and `sums` must
/// describe `rows ≤ MR` rows of `cols ≤ NR` elements inside one allocation that no other
/// thread touches meanwhile, written already unless `fresh`.
#[inline(always)]
pub(super) unsafe fn run_tile(
    path: Bf16Path,
    slice_a: &[u32],
    wide_a: &[f32],
    slice_b: &[u32],
    sums: Sums,
) {
    #[cfg(target_arch = "x86_64")]
    match path {
        // SAFETY (both): the caller's contract (the CPU has AVX-512F, and AVX512-BF16 for
        // `Dot`; `sums` as described).
        Bf16Path::Dot => return unsafe { by_height!(sums.rows, tile(slice_a, slice_b, sums)) },
        Bf16Path::Fma => return unsafe { by_height!(sums.rows, fma_tile(wide_a, slice_b, sums)) },
        Bf16Path::Portable => {}
    }
    let _ = (path, wide_a);
    let mut tile = [[0.0f32; NR]; MR];
    let Sums {
        at,
        stride,
        rows,
        cols,
        fresh,
    } = sums;
    // SAFETY (both): the caller's contract.
    if !fresh {
        for (r, row) in tile.iter_mut().take(rows).enumerate() {
            unsafe { std::ptr::copy_nonoverlapping(at.add(r * stride), row.as_mut_ptr(), cols) };
        }
    }
    portable_tile(slice_a, slice_b, &mut tile);
    for (r, row) in tile.iter().take(rows).enumerate() {
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), at.add(r * stride), cols) };
    }
}

/// Each packed pair of the first `rows` lines of `a` (a row panel's slice, `MR` words a pair)
/// as two f32, the odd element then the even one, for the FMA tile (`wide` is empty on the
/// other paths: nothing to do). The other lines' words are left as they are: a tile reads them
/// only into sums it does not store.
pub(super) fn widen_pairs(a: &[u32], wide: &mut [f32], rows: usize) {
    if rows == MR {
        // One run, which the compiler vectorizes.
        for (pair, out) in a.iter().zip(wide.chunks_exact_mut(2)) {
            out[0] = f32::from_bits(pair & 0xffff_0000);
            out[1] = f32::from_bits(pair << 16);
        }
        return;
    }
    for (words, out) in a.chunks_exact(MR).zip(wide.chunks_exact_mut(2 * MR)) {
        for (pair, out) in words[..rows].iter().zip(out.chunks_exact_mut(2)) {
            out[0] = f32::from_bits(pair & 0xffff_0000);
            out[1] = f32::from_bits(pair << 16);
        }
    }
}

simd_dispatch! {
    /// Adds the product of packed slices to `tile`, without bf16 instructions.
    pub(super) fn portable_tile(panel_a: &[u32], panel_b: &[u32], tile: &mut [[f32; NR]; MR]) {
        for (a, b) in panel_a.chunks_exact(MR).zip(panel_b.chunks_exact(NR)) {
            let (b_even, b_odd): ([f32; NR], [f32; NR]) = (
                std::array::from_fn(|j| widen(b[j] as u16)),
                std::array::from_fn(|j| widen((b[j] >> 16) as u16)),
            );
            for (sums, &pair) in tile.iter_mut().zip(a) {
                let (a_even, a_odd) = (widen(pair as u16), widen((pair >> 16) as u16));
                for ((s, &e), &o) in sums.iter_mut().zip(&b_even).zip(&b_odd) {
                    *s = (*s + a_odd * o) + a_even * e;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod native {
    use std::arch::x86_64::{
        __m512, __m512bh, __m512i, __mmask16, _MM_HINT_T0, _mm_prefetch, _mm512_and_si512,
        _mm512_castsi512_ps, _mm512_dpbf16_ps, _mm512_fmadd_ps, _mm512_loadu_si512,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setzero_ps, _mm512_slli_epi32,
    };

    use super::{MR, NR, Sums};

    /// Tiles of at most this many rows (decoding one or two slots) stream `b` faster than
    /// the hardware prefetcher fetches it: they ask for it AHEAD steps (8 KB) early (batch-1
    /// bf16 decoding at SmolLM2's shape on an Intel Xeon with AVX-512, alternating runs: 4 KB
    /// ahead ~4 % faster than 1 KB, 8 KB the same as 4 KB).
    const FEW_ROWS: usize = 2;
    const AHEAD: usize = 64;

    /// Adds the product of packed slices to `sums` (at most `R` rows) with `vdpbf16ps`.
    ///
    /// # Safety
    /// The CPU must have AVX512-BF16 and AVX-512F; `sums` as [`super::run_tile`] requires.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(in crate::bf16) unsafe fn tile<const R: usize>(
        panel_a: &[u32],
        panel_b: &[u32],
        sums: Sums,
    ) {
        // SAFETY: this function's contract.
        let mut acc = unsafe { load::<R>(sums) };
        for (a, b) in panel_a.chunks_exact(MR).zip(panel_b.chunks_exact(NR)) {
            // SAFETY: `b` holds NR = 32 words, two 16-word vectors; the loads are unaligned.
            let (b0, b1): (__m512bh, __m512bh) = unsafe {
                (
                    bits(_mm512_loadu_si512(b.as_ptr().cast())),
                    bits(_mm512_loadu_si512(b.as_ptr().add(16).cast())),
                )
            };
            for (sums, &pair) in acc.iter_mut().zip(a) {
                let pair = bits(_mm512_set1_epi32(pair as i32));
                sums[0] = _mm512_dpbf16_ps(sums[0], pair, b0);
                sums[1] = _mm512_dpbf16_ps(sums[1], pair, b1);
            }
        }
        // SAFETY: as above.
        unsafe { store(&acc, sums) };
    }

    /// Adds the product of packed slices to `sums` with FMAs: the pairs of `b` widened in
    /// registers (a shift and a mask), those of `a` already widened (`widen_pairs`), broadcast
    /// from memory. Each sum adds the odd product, then the even one, as `vdpbf16ps` and the
    /// portable tile do; a product of two bf16 values is exact in f32, so each FMA rounds as
    /// their addition does.
    ///
    /// Only the `sums.rows ≤ R` rows of `sums` are read and written.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `sums` as [`super::run_tile`] requires.
    #[target_feature(enable = "avx512f")]
    pub(in crate::bf16) unsafe fn fma_tile<const R: usize>(
        wide_a: &[f32],
        panel_b: &[u32],
        sums: Sums,
    ) {
        // SAFETY: this function's contract.
        let mut acc = unsafe { load::<R>(sums) };
        let high = _mm512_set1_epi32(0xffff_0000_u32 as i32);
        for (step, (a, b)) in wide_a
            .chunks_exact(2 * MR)
            .zip(panel_b.chunks_exact(NR))
            .enumerate()
        {
            if R <= FEW_ROWS {
                // A hint, never a fault: the two lines `b` will hold AHEAD steps on.
                let ahead = panel_b.as_ptr().wrapping_add((step + AHEAD) * NR);
                _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
            }
            // SAFETY: `b` holds NR = 32 words, two 16-word vectors; the loads are unaligned.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_si512(b.as_ptr().cast()),
                    _mm512_loadu_si512(b.as_ptr().add(16).cast()),
                )
            };
            let (odd0, even0) = (
                _mm512_castsi512_ps(_mm512_and_si512(b0, high)),
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b0)),
            );
            let (odd1, even1) = (
                _mm512_castsi512_ps(_mm512_and_si512(b1, high)),
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b1)),
            );
            for (sums, pair) in acc.iter_mut().zip(a.chunks_exact(2)) {
                let (odd, even) = (_mm512_set1_ps(pair[0]), _mm512_set1_ps(pair[1]));
                sums[0] = _mm512_fmadd_ps(even, even0, _mm512_fmadd_ps(odd, odd0, sums[0]));
                sums[1] = _mm512_fmadd_ps(even, even1, _mm512_fmadd_ps(odd, odd1, sums[1]));
            }
        }
        // SAFETY: as above.
        unsafe { store(&acc, sums) };
    }

    /// Which of each half's 16 columns lie inside the output.
    fn masks(cols: usize) -> (__mmask16, __mmask16) {
        let mask = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
        (mask(cols), mask(cols.saturating_sub(16)))
    }

    /// The rows of `sums` as accumulators (zeros where fresh or past its rows).
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `sums` as [`super::run_tile`] requires.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load<const R: usize>(sums: Sums) -> [[__m512; 2]; R] {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        if sums.fresh {
            return acc;
        }
        let (m0, m1) = masks(sums.cols);
        for (r, row) in acc.iter_mut().take(sums.rows).enumerate() {
            // SAFETY: row `r` holds `cols` elements; masked lanes are not read (and cannot
            // fault), so the second half's address may lie past the allocation.
            unsafe {
                let at = sums.at.add(r * sums.stride);
                row[0] = _mm512_maskz_loadu_ps(m0, at);
                row[1] = _mm512_maskz_loadu_ps(m1, at.wrapping_add(16));
            }
        }
        acc
    }

    /// Writes the accumulators back to the rows of `sums`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `sums` as [`super::run_tile`] requires.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[[__m512; 2]; R], sums: Sums) {
        let (m0, m1) = masks(sums.cols);
        for (r, row) in acc.iter().take(sums.rows).enumerate() {
            // SAFETY: as in `load`, for stores.
            unsafe {
                let at = sums.at.add(r * sums.stride);
                _mm512_mask_storeu_ps(at, m0, row[0]);
                _mm512_mask_storeu_ps(at.wrapping_add(16), m1, row[1]);
            }
        }
    }

    /// The same 512 bits as pairs of bf16.
    #[inline(always)]
    fn bits(x: __m512i) -> __m512bh {
        // SAFETY: both are plain 512-bit vectors; every bit pattern is a valid value of each.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(x) }
    }

    const _: () = assert!(size_of::<__m512>() == size_of::<__m512bh>());
}

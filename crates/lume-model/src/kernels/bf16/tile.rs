//! The tiles of bf16 products: the portable one and, on x86-64, the `vdpbf16ps` and FMA tiles
//! of every height a row panel needs.

use super::{MR, NR, widen};
use crate::kernels::simd::{Bf16Path, simd_dispatch};

/// Adds the product of packed slices to the first `rows` rows of `tile` on `path`; `wide_a` is
/// `slice_a` widened by [`widen_pairs`] for the FMA tile (empty on the others). A panel of
/// fewer rows runs a tile of 1, 2, 4 or 8 rows where that covers them: one decoding slot would
/// otherwise pay for 12 rows, and 16 slots (a panel of 12 and one of 4) for 24. Each row's sums
/// are the same whatever the tile's height.
#[inline(always)]
pub(super) fn run_tile(
    path: Bf16Path,
    rows: usize,
    slice_a: &[u32],
    wide_a: &[f32],
    slice_b: &[u32],
    tile: &mut [[f32; NR]; MR],
) {
    #[cfg(target_arch = "x86_64")]
    match path {
        // SAFETY (both): `bf16_path` chose these paths only where the CPU has AVX-512F, and
        // AVX512-BF16 for `Dot`.
        Bf16Path::Dot => {
            return unsafe {
                match rows {
                    0..=1 => native::tile::<1>(slice_a, slice_b, tile),
                    2 => native::tile::<2>(slice_a, slice_b, tile),
                    3..=4 => native::tile::<4>(slice_a, slice_b, tile),
                    5..=8 => native::tile::<8>(slice_a, slice_b, tile),
                    _ => native::tile::<MR>(slice_a, slice_b, tile),
                }
            };
        }
        Bf16Path::Fma => {
            return unsafe {
                match rows {
                    0..=1 => native::fma_tile::<1>(wide_a, slice_b, tile),
                    2 => native::fma_tile::<2>(wide_a, slice_b, tile),
                    3..=4 => native::fma_tile::<4>(wide_a, slice_b, tile),
                    5..=8 => native::fma_tile::<8>(wide_a, slice_b, tile),
                    _ => native::fma_tile::<MR>(wide_a, slice_b, tile),
                }
            };
        }
        Bf16Path::Portable => {}
    }
    let _ = (path, rows, wide_a);
    portable_tile(slice_a, slice_b, tile);
}

/// Each packed pair of `a` as two f32, the odd element then the even one, for the FMA tile
/// (`wide` is empty on the other paths: nothing to do).
pub(super) fn widen_pairs(a: &[u32], wide: &mut [f32]) {
    for (pair, out) in a.iter().zip(wide.chunks_exact_mut(2)) {
        out[0] = f32::from_bits(pair & 0xffff_0000);
        out[1] = f32::from_bits(pair << 16);
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
        __m512, __m512bh, __m512i, _mm512_and_si512, _mm512_castsi512_ps, _mm512_dpbf16_ps,
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setzero_ps, _mm512_slli_epi32, _mm512_storeu_ps,
    };

    use super::{MR, NR};

    /// Adds the product of packed slices to the first `R` rows of `tile` with `vdpbf16ps`.
    ///
    /// # Safety
    /// The CPU must have AVX512-BF16 and AVX-512F.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(in crate::kernels::bf16) unsafe fn tile<const R: usize>(
        panel_a: &[u32],
        panel_b: &[u32],
        tile: &mut [[f32; NR]; MR],
    ) {
        // SAFETY: the caller's CPU has AVX-512F (this function's contract).
        let mut acc = unsafe { load::<R>(tile) };
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
        unsafe { store(&acc, tile) };
    }

    /// Adds the product of packed slices to `tile` with FMAs: the pairs of `b` widened in
    /// registers (a shift and a mask), those of `a` already widened (`widen_pairs`), broadcast
    /// from memory. Each sum adds the odd product, then the even one, as `vdpbf16ps` and the
    /// portable tile do; a product of two bf16 values is exact in f32, so each FMA rounds as
    /// their addition does.
    ///
    /// Only the first `R` rows of `tile` are read and written.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(in crate::kernels::bf16) unsafe fn fma_tile<const R: usize>(
        wide_a: &[f32],
        panel_b: &[u32],
        tile: &mut [[f32; NR]; MR],
    ) {
        // SAFETY: the caller's CPU has AVX-512F (this function's contract).
        let mut acc = unsafe { load::<R>(tile) };
        let high = _mm512_set1_epi32(0xffff_0000_u32 as i32);
        for (a, b) in wide_a.chunks_exact(2 * MR).zip(panel_b.chunks_exact(NR)) {
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
        unsafe { store(&acc, tile) };
    }

    /// The first `R` rows of `tile` as accumulators.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load<const R: usize>(tile: &[[f32; NR]; MR]) -> [[__m512; 2]; R] {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for (sums, row) in acc.iter_mut().zip(tile.iter()) {
            // SAFETY: each row holds 32 f32, two vectors; the loads are unaligned.
            unsafe {
                sums[0] = _mm512_loadu_ps(row.as_ptr());
                sums[1] = _mm512_loadu_ps(row.as_ptr().add(16));
            }
        }
        acc
    }

    /// Writes the accumulators back to the first `R` rows of `tile`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store<const R: usize>(acc: &[[__m512; 2]; R], tile: &mut [[f32; NR]; MR]) {
        for (out, sums) in tile.iter_mut().zip(acc) {
            // SAFETY: each output row holds 32 f32, two vectors; the stores are unaligned.
            unsafe {
                _mm512_storeu_ps(out.as_mut_ptr(), sums[0]);
                _mm512_storeu_ps(out.as_mut_ptr().add(16), sums[1]);
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

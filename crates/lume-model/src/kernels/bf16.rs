//! Matrix products with bf16 operands and f32 accumulation (`Precision::Bf16`): PyTorch's CPU
//! autocast, on the machine's bf16 dot products where it has them.
//!
//! Both operands are rounded to bf16 (to nearest, ties to even) and packed in pairs along the
//! inner dimension, the layout of AVX512-BF16's `vdpbf16ps`: one instruction adds
//! `a₂ᵢ·b₂ᵢ + a₂ᵢ₊₁·b₂ᵢ₊₁` to each of 16 f32 lanes, twice the multiply-adds of an f32 FMA. A
//! tile of [`MR`] rows × [`NR`] columns keeps its 24 accumulators in registers while it walks
//! the inner dimension. Where that instruction is slower than two FMAs (Intel's cores, see
//! `simd::bf16_path`), an FMA tile widens the same packed operands in registers; where the CPU
//! has neither (or `LUME_KERNELS=portable` asks for the portable path), a portable tile does.
//! Both add the two products in the instruction's order (odd element first, then even, each
//! an f32 sum of an exact bf16 product), so every path gives the same numbers up to how the
//! hardware flushes subnormals.

use std::mem::MaybeUninit;

use super::product::{Destination, Operand};
use super::simd::{Bf16Path, bf16_path, simd_dispatch};
use super::spinning_pool::{SPLIT_FROM, for_parts};
use rayon::prelude::*;

/// Rows of a tile.
const MR: usize = 12;
/// Columns of a tile: two 16-lane vectors.
const NR: usize = 32;
/// Pairs of the inner dimension per pass over a block: a row panel's slice is 12 KiB (L1).
const DEPTH: usize = 256;
/// What one core's block of packed columns may take of its L2 (1 MiB on Zen 4, 2 MiB on
/// Sapphire Rapids).
const L2_BYTES: usize = 512 * 1024;

/// `x` rounded to bf16 (to nearest, ties to even); a NaN stays a NaN.
#[inline(always)]
pub(crate) fn round_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
    let nan = bits & 0x7fff_ffff > 0x7f80_0000;
    if nan {
        ((bits >> 16) | 0x40) as u16
    } else {
        (rounded >> 16) as u16
    }
}

simd_dispatch! {
    /// `x` with every element rounded to bf16 (as f32 values).
    pub(crate) fn rounded(x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| widen(round_to_bf16(v))).collect()
    }
}

/// The f32 value of bf16 bits.
#[inline(always)]
fn widen(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Packs `lines × depth` elements (element `(l, d)` of the view) into panels of `width` lines:
/// panel `P` holds, for each pair `p` of the depth, `width` words whose low half is element
/// `(P·width + l, 2p)` and high half element `(…, 2p + 1)`, in bf16; zeros past the edges.
fn pack(view: Operand<'_>, lines: usize, depth: usize, width: usize, threads: Threads) -> Vec<u32> {
    let pairs = depth.div_ceil(2);
    let panels = lines.div_ceil(width);
    let len = panels * pairs * width;
    let mut packed: Vec<u32> = Vec::with_capacity(len);
    // Groups of several panels, so that a view whose lines are contiguous (a row of `b` or a
    // column of `a`) is read in long runs rather than one strided word group per panel.
    let group = (panels / 8).clamp(1, 16);
    let groups = panels.div_ceil(group);
    let words = Destination(packed.as_mut_ptr().cast::<MaybeUninit<u32>>());
    in_parts(threads, groups, len, |g0, g1| {
        for g in g0..g1 {
            let (from, to) = (
                g * group * pairs * width,
                ((g + 1) * group * pairs * width).min(len),
            );
            // SAFETY: the groups are disjoint ranges of the allocation of `len` words.
            let out = unsafe { std::slice::from_raw_parts_mut(words.at(from), to - from) };
            let shape = Packing {
                first: g * group * width,
                lines,
                depth,
                width,
            };
            pack_group(out, view, shape);
        }
    });
    // SAFETY: `pack_group` wrote every word of every group (zeros past the edges).
    unsafe { packed.set_len(len) };
    packed
}

/// Which threads run a product's parts.
#[derive(Clone, Copy)]
enum Threads {
    /// Decoding's spinning helpers (`spinning_pool.rs`): a product of a few rows comes between
    /// attention steps they run, and rayon's threads would compete with them for the cores
    /// while they spin (16-slot decoding: 255 → 405 tokens/s).
    Spinning,
    /// rayon's pool: training's and scoring's products, between Burn's own parallel operations.
    Rayon,
}

impl Threads {
    /// Rows up to which a product is decoding's.
    const SPINNING_ROWS: usize = 64;

    fn for_rows(rows: usize) -> Self {
        if rows <= Self::SPINNING_ROWS {
            Threads::Spinning
        } else {
            Threads::Rayon
        }
    }
}

/// Runs `part(start, end)` over `len` items split evenly between the cores of `threads` (the
/// caller alone when `work` is small).
fn in_parts(threads: Threads, len: usize, work: usize, part: impl Fn(usize, usize) + Sync) {
    match threads {
        Threads::Spinning => for_parts(len, work, part),
        Threads::Rayon => {
            let parts = if work < SPLIT_FROM {
                1
            } else {
                rayon::current_num_threads().clamp(1, len.max(1))
            };
            (0..parts)
                .into_par_iter()
                .for_each(|p| part(len * p / parts, len * (p + 1) / parts));
        }
    }
}

/// Where a group of panels lies in the operand.
#[derive(Clone, Copy)]
struct Packing {
    first: usize,
    lines: usize,
    depth: usize,
    width: usize,
}

/// Two elements as one word: `low` in the low half, in bf16.
#[inline(always)]
fn pair(low: f32, high: f32) -> u32 {
    u32::from(round_to_bf16(low)) | u32::from(round_to_bf16(high)) << 16
}

simd_dispatch! {
    fn pack_group(out: &mut [MaybeUninit<u32>], view: Operand<'_>, shape: Packing) {
        let Packing { first, lines, depth, width } = shape;
        let pairs = depth.div_ceil(2);
        let element = |l: usize, d: usize| {
            if l < lines && d < depth {
                view.data[l * view.row_stride + d * view.col_stride]
            } else {
                0.0
            }
        };
        let panels = out.len() / (pairs * width);
        let (rs, cs) = (view.row_stride, view.col_stride);
        if rs == 1 && cs != 1 {
            // Lines contiguous: each pair of depth rows read across the group's lines.
            for p in 0..pairs {
                for panel in 0..panels {
                    let base = first + panel * width;
                    let words = &mut out[(panel * pairs + p) * width..][..width];
                    if 2 * p + 1 < depth && base + width <= lines {
                        let low = &view.data[base + 2 * p * cs..][..width];
                        let high = &view.data[base + (2 * p + 1) * cs..][..width];
                        for ((w, &x0), &x1) in words.iter_mut().zip(low).zip(high) {
                            w.write(pair(x0, x1));
                        }
                    } else {
                        for (l, w) in words.iter_mut().enumerate() {
                            w.write(pair(element(base + l, 2 * p), element(base + l, 2 * p + 1)));
                        }
                    }
                }
            }
        } else if cs == 1 {
            // Depth contiguous: each line read along the depth, its words spread `width` apart.
            for (panel, panel_out) in out.chunks_exact_mut(pairs * width).enumerate() {
                let base = first + panel * width;
                for l in 0..width {
                    let mut words = panel_out[l..].iter_mut().step_by(width);
                    if base + l >= lines {
                        words.for_each(|w| {
                            w.write(0);
                        });
                        continue;
                    }
                    let row = &view.data[(base + l) * rs..][..depth];
                    // The row's pairs first: `zip` would otherwise take (and lose) the word
                    // of an odd depth's last element.
                    for (two, w) in row.chunks_exact(2).zip(&mut words) {
                        w.write(pair(two[0], two[1]));
                    }
                    if let (Some(w), [last]) = (words.next(), row.chunks_exact(2).remainder()) {
                        w.write(pair(*last, 0.0));
                    }
                }
            }
        } else {
            for (panel, panel_out) in out.chunks_exact_mut(pairs * width).enumerate() {
                for (p, words) in panel_out.chunks_exact_mut(width).enumerate() {
                    for (l, w) in words.iter_mut().enumerate() {
                        let line = first + panel * width + l;
                        w.write(pair(element(line, 2 * p), element(line, 2 * p + 1)));
                    }
                }
            }
        }
    }
}

/// The right operand `[k, n]` of products, packed once: a weight that inference multiplies again
/// and again (see `packed.rs`).
pub(crate) struct PackedB {
    words: Vec<u32>,
    k: usize,
    n: usize,
}

impl PackedB {
    /// Packs `b` `[k, n]`.
    ///
    /// # Panics
    /// If the view reaches outside its slice (a programming error of the caller).
    pub(crate) fn new(b: Operand<'_>, k: usize, n: usize) -> Self {
        assert!(b.fits(k, n), "PackedB: [{k}, {n}] does not fit its operand");
        PackedB {
            words: pack(b.transposed_view(), n, k, NR, Threads::Rayon),
            k,
            n,
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.words.len() * size_of::<u32>()
    }
}

/// `a · b` for `a` `[m, k]` and `b` `[k, n]` with bf16 operands and f32 sums: `[m, n]`,
/// row-major.
///
/// # Panics
/// If a view reaches outside its slice (a programming error of the caller).
pub(crate) fn product_bf16(
    a: Operand<'_>,
    b: Operand<'_>,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    product_packed(a, &PackedB::new(b, k, n), m)
}

/// `a · b` for `a` `[m, k]` and a packed `b`, as [`product_bf16`].
///
/// # Panics
/// If `a`'s view reaches outside its slice (a programming error of the caller).
pub(crate) fn product_packed(a: Operand<'_>, b: &PackedB, m: usize) -> Vec<f32> {
    let (k, n) = (b.k, b.n);
    assert!(
        a.fits(m, k),
        "product_bf16: [{m}, {k}] · [{k}, {n}] does not fit its operands"
    );
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    let pairs = k.div_ceil(2);
    let (packed_a, packed_b) = (pack(a, m, k, MR, Threads::for_rows(m)), &b.words);
    let path = bf16_path();
    // Blocked as GotoBLAS blocks: each part owns a range of column panels, walked in blocks
    // whose slice of `DEPTH` pairs stays in its core's L2 while every row panel's slice (in
    // L1) passes by it; the sums of a tile carry over from one slice of the depth to the next
    // in `out`.
    let depth = DEPTH.min(pairs);
    let column_panels = n.div_ceil(NR);
    let fit = (L2_BYTES / (depth * NR * 4)).max(1);
    let dst = Destination(out.as_mut_ptr());
    in_parts(Threads::for_rows(m), column_panels, m * k * n, |c0, c1| {
        // The FMA tile's row panel slice, widened once for the column panels of a block.
        let mut wide_a = vec![
            0.0f32;
            if path == Bf16Path::Fma {
                depth * MR * 2
            } else {
                0
            }
        ];
        for block in (c0..c1).step_by(fit) {
            let panels = block..(block + fit).min(c1);
            for p0 in (0..pairs).step_by(depth) {
                let p1 = (p0 + depth).min(pairs);
                for (row_panel, panel_a) in packed_a.chunks_exact(pairs * MR).enumerate() {
                    let slice_a = &panel_a[p0 * MR..p1 * MR];
                    let wide_a = &mut wide_a[..if path == Bf16Path::Fma {
                        slice_a.len() * 2
                    } else {
                        0
                    }];
                    widen_pairs(slice_a, wide_a);
                    let (row0, rows) = (row_panel * MR, MR.min(m - row_panel * MR));
                    for column_panel in panels.clone() {
                        let panel_b = &packed_b[column_panel * pairs * NR..][..pairs * NR];
                        let slice_b = &panel_b[p0 * NR..p1 * NR];
                        let (col0, cols) = (column_panel * NR, NR.min(n - column_panel * NR));
                        let mut tile = [[0.0f32; NR]; MR];
                        // SAFETY (both blocks): this part alone touches these columns of `out`,
                        // whose `m × n` elements the tile's rows and columns lie inside; the
                        // first slice of the depth wrote what the later ones read back.
                        if p0 > 0 {
                            for (r, sums) in tile.iter_mut().take(rows).enumerate() {
                                unsafe {
                                    let from = dst.at((row0 + r) * n + col0);
                                    std::ptr::copy_nonoverlapping(from, sums.as_mut_ptr(), cols);
                                }
                            }
                        }
                        run_tile(path, slice_a, wide_a, slice_b, &mut tile);
                        for (r, sums) in tile.iter().take(rows).enumerate() {
                            unsafe {
                                let to = dst.at((row0 + r) * n + col0);
                                std::ptr::copy_nonoverlapping(sums.as_ptr(), to, cols);
                            }
                        }
                    }
                }
            }
        }
    });
    // SAFETY: the tiles covered every row and column of the `m × n` output.
    unsafe { out.set_len(m * n) };
    out
}

/// Adds the product of packed slices to `tile` on `path`; `wide_a` is `slice_a` widened by
/// [`widen_pairs`] for the FMA tile (empty on the others).
#[inline(always)]
fn run_tile(
    path: Bf16Path,
    slice_a: &[u32],
    wide_a: &[f32],
    slice_b: &[u32],
    tile: &mut [[f32; NR]; MR],
) {
    #[cfg(target_arch = "x86_64")]
    match path {
        // SAFETY (both): `bf16_path` chose these paths only where the CPU has AVX-512F, and
        // AVX512-BF16 for `Dot`.
        Bf16Path::Dot => return unsafe { native::tile(slice_a, slice_b, tile) },
        Bf16Path::Fma => return unsafe { native::fma_tile(wide_a, slice_b, tile) },
        Bf16Path::Portable => {}
    }
    let _ = (path, wide_a);
    portable_tile(slice_a, slice_b, tile);
}

/// Each packed pair of `a` as two f32, the odd element then the even one, for the FMA tile
/// (`wide` is empty on the other paths: nothing to do).
fn widen_pairs(a: &[u32], wide: &mut [f32]) {
    for (pair, out) in a.iter().zip(wide.chunks_exact_mut(2)) {
        out[0] = f32::from_bits(pair & 0xffff_0000);
        out[1] = f32::from_bits(pair << 16);
    }
}

simd_dispatch! {
    /// Adds the product of packed slices to `tile`, without bf16 instructions.
    fn portable_tile(panel_a: &[u32], panel_b: &[u32], tile: &mut [[f32; NR]; MR]) {
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
mod native {
    use std::arch::x86_64::{
        __m512, __m512bh, __m512i, _mm512_and_si512, _mm512_castsi512_ps, _mm512_dpbf16_ps,
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setzero_ps, _mm512_slli_epi32, _mm512_storeu_ps,
    };

    use super::{MR, NR};

    /// Adds the product of packed slices to `tile` with `vdpbf16ps`.
    ///
    /// # Safety
    /// The CPU must have AVX512-BF16 and AVX-512F.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn tile(panel_a: &[u32], panel_b: &[u32], tile: &mut [[f32; NR]; MR]) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (sums, row) in acc.iter_mut().zip(tile.iter()) {
            // SAFETY: each row holds 32 f32, two vectors; the loads are unaligned.
            unsafe {
                sums[0] = _mm512_loadu_ps(row.as_ptr());
                sums[1] = _mm512_loadu_ps(row.as_ptr().add(16));
            }
        }
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
        for (out, sums) in tile.iter_mut().zip(&acc) {
            // SAFETY: each output row holds 32 f32, two vectors.
            unsafe {
                _mm512_storeu_ps(out.as_mut_ptr(), sums[0]);
                _mm512_storeu_ps(out.as_mut_ptr().add(16), sums[1]);
            }
        }
    }

    /// Adds the product of packed slices to `tile` with FMAs: the pairs of `b` widened in
    /// registers (a shift and a mask), those of `a` already widened (`widen_pairs`), broadcast
    /// from memory. Each sum adds the odd product, then the even one, as `vdpbf16ps` and the
    /// portable tile do; a product of two bf16 values is exact in f32, so each FMA rounds as
    /// their addition does.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_tile(wide_a: &[f32], panel_b: &[u32], tile: &mut [[f32; NR]; MR]) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for (sums, row) in acc.iter_mut().zip(tile.iter()) {
            // SAFETY: each row holds 32 f32, two vectors; the loads are unaligned.
            unsafe {
                sums[0] = _mm512_loadu_ps(row.as_ptr());
                sums[1] = _mm512_loadu_ps(row.as_ptr().add(16));
            }
        }
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
        for (out, sums) in tile.iter_mut().zip(&acc) {
            // SAFETY: each output row holds 32 f32, two vectors.
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

#[cfg(test)]
mod tests {
    use super::{Operand, portable_tile, product_bf16, round_to_bf16, widen};
    use proptest::prelude::*;

    /// The exact product of the operands rounded to bf16, in f64.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let r = |x: f32| f64::from(widen(round_to_bf16(x)));
        (0..m * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                (0..k).map(|p| r(a[i * k + p]) * r(b[p * n + j])).sum()
            })
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even_and_keeps_specials() {
        assert_eq!(round_to_bf16(1.0), 0x3f80);
        // 1 + 2⁻⁸ is halfway between two bf16 values: ties to the even one (1.0).
        assert_eq!(round_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(round_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(round_to_bf16(f32::INFINITY), 0x7f80);
        assert!(widen(round_to_bf16(f32::NAN)).is_nan());
        assert_eq!(
            round_to_bf16(f32::MAX),
            0x7f80,
            "rounds up to infinity, as torch does"
        );
        assert_eq!(round_to_bf16(-0.0), 0x8000);
    }

    proptest! {
        #[test]
        fn matches_the_rounded_product(
            m in 1usize..40, k in 1usize..70, n in 1usize..80, seed in 0u32..1000,
        ) {
            let value = |i: usize, salt: u32| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed * 97 + salt);
                (x % 2001) as f32 / 1000.0 - 1.0
            };
            let a: Vec<f32> = (0..m * k).map(|i| value(i, 1)).collect();
            let b: Vec<f32> = (0..k * n).map(|i| value(i, 2)).collect();
            let want = reference(&a, &b, m, k, n);
            let got = product_bf16(Operand::rows(&a, k), Operand::rows(&b, n), m, k, n);
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((f64::from(*g) - w).abs() <= 1e-5 * (k as f64), "{g} vs {w}");
            }
        }
    }

    #[test]
    fn transposed_operands_give_the_same_product() {
        let (m, k, n) = (29, 37, 45);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 3) % 13) as f32 / 4.0).collect();
        let at: Vec<f32> = (0..m * k).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..k * n).map(|i| b[(i % k) * n + i / k]).collect();
        let plain = product_bf16(Operand::rows(&a, k), Operand::rows(&b, n), m, k, n);
        let transposed = product_bf16(
            Operand::transposed(&at, m),
            Operand::transposed(&bt, k),
            m,
            k,
            n,
        );
        // Small integers and quarters are exact in bf16 and their sums in f32.
        let want = reference(&a, &b, m, k, n);
        for ((p, t), w) in plain.iter().zip(&transposed).zip(&want) {
            assert_eq!((f64::from(*p), f64::from(*t)), (*w, *w));
        }
    }

    /// A row panel and a column panel of `pairs` packed pairs of values in [−1, 1].
    #[cfg(target_arch = "x86_64")]
    fn packed_panels(pairs: usize) -> (Vec<u32>, Vec<u32>) {
        let word = |i: usize| {
            let x = (i as u32).wrapping_mul(2_654_435_761);
            u32::from(round_to_bf16((x % 1999) as f32 / 997.0 - 1.0))
                | u32::from(round_to_bf16(((x >> 11) % 1997) as f32 / 991.0 - 1.0)) << 16
        };
        (
            (0..pairs * super::MR).map(word).collect(),
            (0..pairs * super::NR).map(|i| word(i + 7777)).collect(),
        )
    }

    /// The native tile against the portable one on the same packed panels, where the CPU has
    /// bf16 dot products; the build marks the test ignored elsewhere (`lume_bf16_cpu`), so it
    /// never passes by skipping.
    #[test]
    #[cfg_attr(
        not(lume_bf16_cpu),
        ignore = "this CPU has no AVX512-BF16 (read from /proc/cpuinfo at build time)"
    )]
    fn native_tile_matches_the_portable_tile() {
        #[cfg(target_arch = "x86_64")]
        {
            assert!(
                std::arch::is_x86_feature_detected!("avx512bf16"),
                "built for a CPU with AVX512-BF16, run on one without"
            );
            let (a, b) = packed_panels(57);
            let (mut native, mut portable) =
                ([[0.0; super::NR]; super::MR], [[0.0; super::NR]; super::MR]);
            // SAFETY: the CPU has AVX512-BF16 (asserted above).
            unsafe { super::native::tile(&a, &b, &mut native) };
            portable_tile(&a, &b, &mut portable);
            for (n, p) in native.iter().flatten().zip(portable.iter().flatten()) {
                assert!((n - p).abs() <= 1e-5 * p.abs().max(1.0), "{n} vs {p}");
            }
        }
    }

    /// The FMA tile against the portable one, bit for bit (both add exact products in the same
    /// order), where the CPU has AVX-512F; the build marks the test ignored elsewhere
    /// (`lume_avx512_cpu`).
    #[test]
    #[cfg_attr(
        not(lume_avx512_cpu),
        ignore = "this CPU has no AVX-512F (read from /proc/cpuinfo at build time)"
    )]
    fn fma_tile_matches_the_portable_tile_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        {
            assert!(
                std::arch::is_x86_feature_detected!("avx512f"),
                "built for a CPU with AVX-512F, run on one without"
            );
            let (a, b) = packed_panels(301);
            let mut wide = vec![0.0; a.len() * 2];
            super::widen_pairs(&a, &mut wide);
            let start: [[f32; super::NR]; super::MR] =
                std::array::from_fn(|r| std::array::from_fn(|c| (r * 37 + c) as f32 / 64.0));
            let (mut fma, mut portable) = (start, start);
            // SAFETY: the CPU has AVX-512F (asserted above).
            unsafe { super::native::fma_tile(&wide, &b, &mut fma) };
            portable_tile(&a, &b, &mut portable);
            for (f, p) in fma.iter().flatten().zip(portable.iter().flatten()) {
                assert_eq!(f.to_bits(), p.to_bits(), "{f} vs {p}");
            }
        }
    }
}

//! Products of a few rows with a weight matrix, as in decoding one token: memory-bound, so what
//! matters is streaming the weight once, from cache where possible. The weight's rows are split
//! between spinning helper threads ([`SpinningPool`]): rayon's pool, which sleeps between
//! products, cost more per wake-up than the second core gained.

use half::{bf16, f16};

use super::simd::simd_dispatch;
use super::spinning_pool::in_parts;

/// A weight element the kernel widens to f32 as it streams it: half-precision weights halve
/// the bytes that decoding reads per token.
pub(crate) trait WeightElement: Copy {
    fn widen(self) -> f32;
}

impl WeightElement for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl WeightElement for i8 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from(self)
    }
}

impl WeightElement for bf16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        // bf16 is the top half of an f32: a shift, which vectorizes.
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
}

impl WeightElement for f16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        // Branch-free, so it vectorizes (`half`'s conversion checks the CPU on every call):
        // moving exponent and mantissa into place and scaling by 2^112 re-biases the exponent
        // and turns subnormals into normals; infinities and NaNs get the all-ones exponent.
        let bits = u32::from(self.to_bits());
        let magnitude = (bits & 0x7fff) << 13;
        let scaled = f32::from_bits(magnitude) * f32::from_bits(0x7780_0000);
        let special = f32::from_bits(magnitude | 0x7f80_0000);
        let value = if magnitude >= 0x7c00 << 13 {
            special
        } else {
            scaled
        };
        f32::from_bits(value.to_bits() | ((bits & 0x8000) << 16))
    }
}

/// The sizes of `x` `[rows, k]` · `w` `[k, n]`; row `r` of `x` starts at `r × x_stride` (a
/// part of the caller's rows of `k` is read in place).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    rows: usize,
    k: usize,
    n: usize,
    x_stride: usize,
}

impl Block {
    pub(crate) fn new(rows: usize, k: usize, n: usize, x_stride: usize) -> Self {
        Block {
            rows,
            k,
            n,
            x_stride,
        }
    }
}

/// Adds `x · w` to `acc` `[rows, n]`, compiled for each weight element type.
pub(crate) trait Columns: WeightElement {
    fn columns(acc: &mut [f32], x: &[f32], w: &[Self], block: Block);
}

macro_rules! columns_for {
    ($($element:ty => $name:ident),*) => {$(
        simd_dispatch!(fn $name(acc: &mut [f32], x: &[f32], w: &[$element], block: Block) => columns_kernel::<$element>;);

        impl Columns for $element {
            fn columns(acc: &mut [f32], x: &[f32], w: &[Self], block: Block) {
                $name(acc, x, w, block)
            }
        }
    )*};
}

columns_for!(f32 => columns_f32, bf16 => columns_bf16, f16 => columns_f16, i8 => columns_i8);

/// `x · w` for `x` `[rows, k]` and `w` `[k, n]`, row-major: `[rows, n]`. The rows of `w`
/// are split between the [`SpinningPool`]'s threads, so that each streams one contiguous
/// stretch of memory (the hardware prefetcher's best case), and their partial sums are added.
pub(crate) fn matmul_few_rows<W: Columns + Sync>(
    x: &[f32],
    w: &[W],
    rows: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let partials = in_parts(k, k * n, |k0, k1| {
        // Whole rows of `w`, four at a time: one sequential stream.
        let mut acc = vec![0.0f32; rows * n];
        W::columns(
            &mut acc,
            x.get(k0..).unwrap_or_default(),
            &w[k0 * n..k1 * n],
            Block {
                rows,
                k: k1 - k0,
                n,
                x_stride: k,
            },
        );
        acc
    });
    sum_parts(partials)
}

/// The sum of the parts' partial products, in the parts' order (so the same whichever thread
/// ran each).
pub(crate) fn sum_parts(partials: Vec<(usize, Vec<f32>)>) -> Vec<f32> {
    let mut partials = partials.into_iter().map(|(_, p)| p);
    let mut out = partials.next().unwrap_or_default();
    for partial in partials {
        for (o, p) in out.iter_mut().zip(partial) {
            *o += p;
        }
    }
    out
}

/// Writes `x · tᵀ` into `out` `[rows, n]` for `t` `[n, k]` (one dot product per output).
pub(crate) trait Dots: WeightElement {
    fn dots(out: &mut [f32], x: &[f32], t: &[Self], rows: usize, k: usize);
}

macro_rules! dots_for {
    ($($element:ty => $name:ident),*) => {$(
        simd_dispatch!(fn $name(out: &mut [f32], x: &[f32], t: &[$element], rows: usize, k: usize) => dots_kernel::<$element>;);

        impl Dots for $element {
            fn dots(out: &mut [f32], x: &[f32], t: &[Self], rows: usize, k: usize) {
                $name(out, x, t, rows, k)
            }
        }
    )*};
}

dots_for!(f32 => dots_f32, bf16 => dots_bf16, f16 => dots_f16);

/// `x · tᵀ` for `x` `[rows, k]` and `t` `[n, k]`, row-major: `[rows, n]`. This is a tied
/// output head (`t` the embedding table) read in place, in its stored dtype; the table's rows
/// are split between the [`SpinningPool`]'s threads, each streaming one contiguous stretch.
pub(crate) fn matmul_few_rows_transposed<W: Dots + Sync>(
    x: &[f32],
    t: &[W],
    rows: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let parts = in_parts(n, k * n, |n0, n1| {
        // `[n1 − n0, rows]`: each table row's dots with every row of `x`.
        let mut part = vec![0.0f32; (n1 - n0) * rows];
        W::dots(&mut part, x, &t[n0 * k..n1 * k], rows, k);
        part
    });
    let mut out = vec![0.0f32; rows * n];
    for (n0, part) in parts {
        for (j, dots) in part.chunks_exact(rows.max(1)).enumerate() {
            for (r, &d) in dots.iter().enumerate() {
                out[r * n + n0 + j] = d;
            }
        }
    }
    out
}

#[inline(always)]
fn dots_kernel<W: WeightElement>(out: &mut [f32], x: &[f32], t: &[W], rows: usize, k: usize) {
    const LANES: usize = 16;
    for (j, t_row) in t.chunks_exact(k).enumerate() {
        for r in 0..rows {
            let x_row = &x[r * k..(r + 1) * k];
            let mut lanes = [0.0f32; LANES];
            let mut xs = x_row.chunks_exact(LANES);
            let mut ts = t_row.chunks_exact(LANES);
            for (xc, tc) in (&mut xs).zip(&mut ts) {
                for l in 0..LANES {
                    lanes[l] = xc[l].mul_add(tc[l].widen(), lanes[l]);
                }
            }
            let tail: f32 = xs
                .remainder()
                .iter()
                .zip(ts.remainder())
                .map(|(&a, &b)| a * b.widen())
                .sum();
            out[j * rows + r] = lanes.iter().sum::<f32>() + tail;
        }
    }
}

#[inline(always)]
fn columns_kernel<W: WeightElement>(acc: &mut [f32], x: &[f32], w: &[W], block: Block) {
    let Block {
        rows,
        k,
        n,
        x_stride,
    } = block;
    // Four weight rows per pass over the accumulators: one load and store of them per four
    // multiply-adds, so the loop streams the weight instead of waiting on L1.
    let row = |kk: usize| &w[kk * n..(kk + 1) * n];
    // Narrower than f32: half-precision weights and integer codes.
    let half = size_of::<W>() < 4;
    let mut kk = 0;
    while kk + 4 <= k {
        let (w0, w1, w2, w3) = (row(kk), row(kk + 1), row(kk + 2), row(kk + 3));
        if half {
            prefetch(w, (kk + 8) * n..(kk + 12) * n);
        }
        for r in 0..rows {
            let a = &x[r * x_stride + kk..r * x_stride + kk + 4];
            let acc = &mut acc[r * n..(r + 1) * n];
            if half {
                for c in 0..n {
                    let s = a[0].mul_add(w0[c].widen(), acc[c]);
                    let s = a[1].mul_add(w1[c].widen(), s);
                    let s = a[2].mul_add(w2[c].widen(), s);
                    acc[c] = a[3].mul_add(w3[c].widen(), s);
                }
            } else {
                // f32 keeps the plain products' rounding (and the numbers checked against
                // transformers).
                for c in 0..n {
                    acc[c] += a[0] * w0[c].widen()
                        + a[1] * w1[c].widen()
                        + a[2] * w2[c].widen()
                        + a[3] * w3[c].widen();
                }
            }
        }
        kk += 4;
    }
    for kk in kk..k {
        let w_row = row(kk);
        for r in 0..rows {
            let a = x[r * x_stride + kk];
            for (o, &wv) in acc[r * n..(r + 1) * n].iter_mut().zip(w_row) {
                *o += a * wv.widen();
            }
        }
    }
}

/// Asks for the cache lines of `w[range]` (clipped to `w`) ahead of their use, into L2 but not
/// L1. Half-precision rows are short (3 KB for SmolLM2's MLP), so every group of four starts
/// streams that the hardware prefetcher has not yet learned. Measured at SmolLM2's shapes with
/// bf16 weights (`lume perf`, 128 tokens): no prefetch 1.0×, the next
/// group into L1 (`T0`) 1.15–1.25×, the group after next into L2 (`T1`) a further 1.04–1.19×
/// (medians of two sets of alternating runs, 71 → 74 and 64 → 76 tokens/s): lines fetched
/// into L1 a group ahead pushed out the accumulators and the rows in use (four rows and their
/// accumulators fill most of a 32 KB L1). f32 rows, twice as long, gained nothing either way,
/// so they are left to the hardware.
#[inline(always)]
fn prefetch<W>(w: &[W], range: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    {
        let step = (64 / size_of::<W>()).max(1);
        let end = range.end.min(w.len());
        let mut i = range.start;
        while i < end {
            // SAFETY: `i < w.len()`, so the address is inside `w`; a prefetch never faults and
            // reads nothing into the program.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                    w.as_ptr().add(i).cast::<i8>(),
                );
            }
            i += step;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (w, range);
}

#[cfg(test)]
mod tests {
    use super::WeightElement;

    #[test]
    fn f16_widens_exactly() {
        for bits in 0..=u16::MAX {
            let h = half::f16::from_bits(bits);
            let (ours, theirs) = (h.widen(), h.to_f32());
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{bits:#06x}: {ours} vs {theirs}"
            );
        }
    }

    #[test]
    fn the_transposed_product_matches_a_plain_one_in_every_weight_dtype() {
        let (rows, k, n) = (3, 45, 1500);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let t: Vec<f32> = (0..n * k)
            .map(|i| ((i * 5) % 11) as f32 / 4.0 - 1.0)
            .collect();
        let want: Vec<f32> = (0..rows * n)
            .map(|o| {
                (0..k)
                    .map(|i| x[(o / n) * k + i] * t[(o % n) * k + i])
                    .sum()
            })
            .collect();
        let bf: Vec<half::bf16> = t.iter().map(|&v| half::bf16::from_f32(v)).collect();
        for got in [
            super::matmul_few_rows_transposed(&x, &t, rows, k, n),
            super::matmul_few_rows_transposed(&x, &bf, rows, k, n),
        ] {
            for (o, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-3, "[{}, {}]: {g} vs {w}", o / n, o % n);
            }
        }
    }

    #[test]
    fn matches_a_plain_product() {
        for rows in [1, 3, 8, 11, 16] {
            check_plain_product(rows, 37, 1100);
        }
    }

    fn check_plain_product(rows: usize, k: usize, n: usize) {
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5) % 11) as f32 / 4.0 - 1.0)
            .collect();
        let got = super::matmul_few_rows(&x, &w, rows, k, n);
        for r in 0..rows {
            for c in 0..n {
                let want: f32 = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum();
                assert!(
                    (got[r * n + c] - want).abs() < 1e-3,
                    "{rows} rows [{r}, {c}]: {} vs {want}",
                    got[r * n + c]
                );
            }
        }
    }
}

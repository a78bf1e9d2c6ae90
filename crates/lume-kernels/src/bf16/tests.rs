use super::tile::{Sums, portable_tile, run_tile};
use super::{MR, NR, Operand, product_bf16, round_to_bf16, widen};
use crate::simd::Bf16Path;
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
    // Fewer rows than a panel (decoding's slots: packed into zeros) and more.
    for m in [1, 3, 11, 29] {
        transposed_operands_give_the_same_product_at(m);
    }
}

fn transposed_operands_give_the_same_product_at(m: usize) {
    let (k, n) = (37, 45);
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
        assert_eq!((f64::from(*p), f64::from(*t)), (*w, *w), "{m} rows");
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
        let mut portable = [[0.0; NR]; MR];
        portable_tile(&a, &b, &mut portable);
        // Each height, and 3 rows (a tile of 4 whose last row is left alone).
        for height in [1, 2, 3, 4, 8, MR] {
            let mut native = [[0.0; NR]; MR];
            let sums = sums_of(&mut native, height, NR, true);
            // SAFETY: the CPU has AVX512-BF16 (asserted above); `sums` covers `native`.
            unsafe { run_tile(Bf16Path::Dot, &a, &[], &b, sums) };
            for (r, (n, p)) in native.iter().zip(&portable).enumerate() {
                for (n, p) in n.iter().zip(p) {
                    let want = if r < height { *p } else { 0.0 };
                    assert!(
                        (n - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "height {height}, row {r}: {n} vs {want}"
                    );
                }
            }
        }
    }
}

/// `rows × cols` of `tile` as a tile's sums.
fn sums_of(tile: &mut [[f32; NR]; MR], rows: usize, cols: usize, fresh: bool) -> Sums {
    Sums {
        at: tile.as_mut_ptr().cast(),
        stride: NR,
        rows,
        cols,
        fresh,
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
        let start: [[f32; NR]; MR] =
            std::array::from_fn(|r| std::array::from_fn(|c| (r * 37 + c) as f32 / 64.0));
        // Shorter tiles (a panel's last rows), narrower ones (its last columns) and fresh ones
        // (the first slice of the depth) give the same sums and leave the rest of the output.
        for (height, cols, fresh) in [
            (1, NR, false),
            (2, NR, false),
            (3, NR, false),
            (4, 20, false),
            (8, NR, true),
            (MR, NR, false),
            (MR, 7, true),
        ] {
            // Only the tile's rows widened; the rest NaN, which must not reach the sums kept.
            let mut wide = vec![f32::NAN; a.len() * 2];
            super::tile::widen_pairs(&a, &mut wide, height);
            let mut portable = if fresh { [[0.0; NR]; MR] } else { start };
            portable_tile(&a, &b, &mut portable);
            let mut fma = start;
            let sums = sums_of(&mut fma, height, cols, fresh);
            // SAFETY: the CPU has AVX-512F (asserted above); `sums` covers `fma`.
            unsafe { run_tile(Bf16Path::Fma, &a, &wide, &b, sums) };
            for (r, (f, p)) in fma.iter().zip(&portable).enumerate() {
                for (c, (f, p)) in f.iter().zip(p).enumerate() {
                    let want = if r < height && c < cols {
                        p
                    } else {
                        &start[r][c]
                    };
                    assert_eq!(
                        f.to_bits(),
                        want.to_bits(),
                        "height {height}, {cols} columns, row {r}, column {c}: {f} vs {want}"
                    );
                }
            }
        }
    }
}

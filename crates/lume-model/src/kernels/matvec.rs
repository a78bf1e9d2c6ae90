//! Products of a few rows with a weight matrix, as in decoding one token: memory-bound, so what
//! matters is streaming the weight once. It runs on the calling thread: waking the thread pool
//! for every product of every token cost more than the second core gained (measured: 600 → 1,100
//! decoded tokens per second on the benchmark's shape).

use super::simd::simd_dispatch;

/// Output columns per block: a few KiB of accumulators per row stay in L1.
const COLUMNS_PER_TASK: usize = 512;

/// `x · w` for `x` `[rows, k]` and `w` `[k, n]`, row-major: `[rows, n]`.
pub(crate) fn matmul_few_rows(x: &[f32], w: &[f32], rows: usize, k: usize, n: usize) -> Vec<f32> {
    let tasks = n.div_ceil(COLUMNS_PER_TASK);
    let block = |task: usize| {
        let from = task * COLUMNS_PER_TASK;
        let width = COLUMNS_PER_TASK.min(n - from);
        let mut acc = vec![0.0f32; rows * width];
        columns(&mut acc, x, w, rows, k, n, from, width);
        acc
    };
    let blocks: Vec<Vec<f32>> = (0..tasks).map(block).collect();
    let mut out = vec![0.0; rows * n];
    for (task, block) in blocks.iter().enumerate() {
        let from = task * COLUMNS_PER_TASK;
        let width = block.len() / rows.max(1);
        for r in 0..rows {
            out[r * n + from..r * n + from + width]
                .copy_from_slice(&block[r * width..(r + 1) * width]);
        }
    }
    out
}

simd_dispatch!(fn columns(
    acc: &mut [f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    k: usize,
    n: usize,
    from: usize,
    width: usize,
) => columns_kernel);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn columns_kernel(
    acc: &mut [f32],
    x: &[f32],
    w: &[f32],
    rows: usize,
    k: usize,
    n: usize,
    from: usize,
    width: usize,
) {
    for kk in 0..k {
        let w_row = &w[kk * n + from..kk * n + from + width];
        for r in 0..rows {
            let a = x[r * k + kk];
            for (o, &wv) in acc[r * width..(r + 1) * width].iter_mut().zip(w_row) {
                *o += a * wv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_a_plain_product() {
        let (rows, k, n) = (3, 37, 1100);
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
                    "[{r}, {c}]: {} vs {want}",
                    got[r * n + c]
                );
            }
        }
    }
}

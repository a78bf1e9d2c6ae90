//! Matrix products for the linear layers, through the `gemm` crate that Burn's `flex` backend
//! also uses, but writing into a fresh buffer: flex's matmul zero-fills its output and then
//! copies it once more to realign it, two passes over every product's output on the calling
//! thread while the other cores wait (measured: a tenth of a training step's time).

/// A row-major-or-transposed view of an f32 matrix: element `(i, j)` is at
/// `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A contiguous `[rows, cols]` matrix.
    pub(crate) fn rows(data: &'a [f32], cols: usize) -> Self {
        Operand {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a contiguous `[cols, rows]` matrix, read in place.
    pub(crate) fn transposed(data: &'a [f32], rows: usize) -> Self {
        Operand {
            data,
            row_stride: 1,
            col_stride: rows,
        }
    }

    /// Whether an `[rows, cols]` view stays inside `data`.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// Products below this many multiply-adds run on the calling thread (as flex decides).
const PARALLEL_FROM: usize = 192 * 192 * 192;

/// `a · b` for `a` `[m, k]` and `b` `[k, n]`: `[m, n]`, row-major.
///
/// # Panics
/// If a view reaches outside its slice (a programming error of the caller).
pub(crate) fn product(a: Operand<'_>, b: Operand<'_>, m: usize, k: usize, n: usize) -> Vec<f32> {
    assert!(
        a.fits(m, k) && b.fits(k, n),
        "product: [{m}, {k}] · [{k}, {n}] does not fit its operands"
    );
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    let parallelism = if m * n * k >= PARALLEL_FROM {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: the operand views were checked to lie inside their slices, `out` has room for
    // `m × n` elements at row stride `n`, and with `read_dst = false` gemm writes every one of
    // them (k > 0) without reading any, so the length is set only over written elements.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
        out.set_len(m * n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Operand, product};

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum()
            })
            .collect()
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|idx| x[(idx % rows) * cols + idx / rows])
            .collect()
    }

    #[test]
    fn plain_and_transposed_operands_match_a_naive_product() {
        // Small and large enough to run in parallel; odd sizes for the kernels' edges.
        for (m, k, n) in [(3, 5, 7), (200, 190, 210), (1, 9, 4)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 3) % 13) as f32 / 4.0).collect();
            let want = naive(&a, &b, m, k, n);
            let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
            for (lhs, rhs) in [
                (Operand::rows(&a, k), Operand::rows(&b, n)),
                (Operand::transposed(&at, m), Operand::transposed(&bt, k)),
            ] {
                let got = product(lhs, rhs, m, k, n);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-3 * w.abs().max(1.0), "{g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        assert_eq!(
            product(Operand::rows(&[], 0), Operand::rows(&[], 2), 3, 0, 2),
            vec![0.0; 6]
        );
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_view_outside_its_slice_is_refused() {
        product(
            Operand::rows(&[1.0; 5], 3),
            Operand::rows(&[1.0; 9], 3),
            2,
            3,
            3,
        );
    }
}

//! Matrix products for the linear layers, through the `gemm` crate that Burn's `flex` backend
//! also uses, but writing into a fresh buffer: flex's matmul zero-fills its output and then
//! copies it once more to realign it, two passes over every product's output on the calling
//! thread while the other cores wait (measured: a tenth of a training step's time).

use rayon::prelude::*;

use crate::Precision;

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

    /// The same view starting `offset` elements further into `data`.
    pub(crate) fn offset(self, offset: usize) -> Self {
        Operand {
            data: &self.data[offset..],
            ..self
        }
    }

    /// The transpose of this view, in place.
    pub(crate) fn transposed_view(self) -> Self {
        Operand {
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether an `[rows, cols]` view stays inside `data`.
    pub(crate) fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// `a · b` as [`product`] does, with the operands rounded to bf16 when `precision` asks for it
/// (see `bf16.rs`).
pub(crate) fn product_in(
    precision: Precision,
    a: Operand<'_>,
    b: Operand<'_>,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    match precision {
        Precision::F32 => product(a, b, m, k, n),
        Precision::Bf16 => super::bf16::product_bf16(a, b, m, k, n),
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
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    let dst = Destination(out.as_mut_ptr());
    let parts = if m * n * k >= PARALLEL_FROM {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    // Each core runs its own single-threaded gemm on a slice of the output: gemm's own
    // threading packs its whole left operand on the calling thread while the other cores wait
    // (a transposed `b`, as in the input gradient `dy · wᵀ`, measured a fifth of those
    // products' time at SmolLM2's shape) and meets the cores at every block of `k`. Each part
    // packs the operand it does not slice again, so slice the dimension whose other operand
    // is smaller.
    let by_columns = m <= n;
    let (len, align) = if by_columns { (n, 16) } else { (m, 8) };
    let step = len.div_ceil(parts).next_multiple_of(align);
    (0..len.div_ceil(step)).into_par_iter().for_each(|part| {
        let (from, to) = (part * step, ((part + 1) * step).min(len));
        // SAFETY: the views were checked to lie inside their slices and `from..to` lies inside
        // the sliced dimension; `out` has room for `m × n` elements at row stride `n` and the
        // parts write disjoint rows or columns of it.
        unsafe {
            if by_columns {
                gemm_into(
                    dst.at(from),
                    n,
                    a,
                    b.offset(from * b.col_stride),
                    m,
                    k,
                    to - from,
                    false,
                );
            } else {
                gemm_into(
                    dst.at(from * n),
                    n,
                    a.offset(from * a.row_stride),
                    b,
                    to - from,
                    k,
                    n,
                    false,
                );
            }
        }
    });
    // SAFETY: with `read_dst = false` the parts wrote every one of the `m × n` elements (k > 0)
    // without reading any, so the length is set only over written elements.
    unsafe { out.set_len(m * n) };
    out
}

/// The output pointer, shared by the parts of a product that write disjoint elements.
pub(crate) struct Destination<T>(pub(crate) *mut T);
impl<T> Clone for Destination<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Destination<T> {}
impl<T> Destination<T> {
    /// The element `offset` elements into the output.
    ///
    /// # Safety
    /// `offset` must lie inside the output's allocation.
    pub(crate) unsafe fn at(self, offset: usize) -> *mut T {
        // SAFETY: the caller's contract.
        unsafe { self.0.add(offset) }
    }
}

// SAFETY: every part writes only its own rows or columns (see `product`).
unsafe impl<T> Send for Destination<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Destination<T> {}

/// `dst = a · b` (or `dst += a · b` when `accumulate`) on the calling thread, for `dst`
/// `[m, n]` at row stride `dst_row_stride`.
///
/// # Safety
/// `a` and `b` must hold `[m, k]` and `[k, n]` views, and `dst` room for the output (written
/// already when `accumulate`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_into(
    dst: *mut f32,
    dst_row_stride: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
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
        // Small, and large enough to be split between the cores (by columns, then by rows); odd
        // sizes for the kernels' edges and the parts' uneven ends.
        for (m, k, n) in [(3, 5, 7), (200, 190, 210), (230, 190, 201), (1, 9, 4)] {
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

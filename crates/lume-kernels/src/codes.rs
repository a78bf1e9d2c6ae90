//! Integer codes of a quantized weight, kept beside its de-quantized tensor so that decoding
//! streams one byte per weight instead of two (bf16) or four (f32).
//!
//! Decoding one token is memory-bound: it reads every weight once. A weight rounded by
//! `Model::round_to_nearest` is `code · scale` with an integer code of at most 8 bits and one
//! f32 scale per group of inputs of an output column. `Model::round_to_nearest` attaches the
//! codes to the tensor holding the de-quantized values; the few-rows product (decoding, up to
//! [`FEW_ROWS`](super::dispatch::FEW_ROWS) rows) then computes `Σ_groups scale · Σ x · code`
//! from the codes, which is the product with the de-quantized values up to the order of the
//! sums. Products of more rows (prompts, scoring) and every other backend use the de-quantized
//! tensor as before. The codes follow the tensor through a change of storage dtype
//! (`Model::with_weight_dtype`); the weights in bf16, bf16 products round them to bf16 and the
//! codes do not, so decoding is then the more exact of the two.

use std::sync::Arc;

use burn::backend::{BackendTensor, DispatchTensorKind};
use burn::tensor::Tensor;
use burn_flex::FlexTensor;

use super::matvec::{Block, Columns, sum_parts};
use super::spinning_pool::in_parts;
use super::weight_cache::WeightCache;

/// A `[k, n]` weight as `codes[i, j] · scales[i / group, j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightCodes {
    /// Row-major `[k, n]`, in `[−127, 127]`.
    pub codes: Vec<i8>,
    /// Row-major `[⌈k / group⌉, n]`.
    pub scales: Vec<f32>,
    /// Inputs sharing one scale.
    pub group: usize,
    /// Inputs.
    pub k: usize,
    /// Outputs.
    pub n: usize,
}

static CODES: WeightCache<WeightCodes> = WeightCache::new();

/// The CPU tensor behind `weight`, if it lives on the `flex` backend without autodiff.
fn flex_tensor<const D: usize>(weight: &Tensor<D>) -> Option<FlexTensor> {
    match weight.clone().into_dispatch().kind {
        DispatchTensorKind::Flex(BackendTensor::Float(tensor)) => Some(tensor),
        _ => None,
    }
}

/// Attaches `codes` to `weight` for decoding; `false` (nothing attached) off the CPU backend,
/// where every product reads the de-quantized tensor.
pub fn attach_codes(weight: &Tensor<2>, codes: WeightCodes) -> bool {
    let Some(tensor) = flex_tensor(weight) else {
        return false;
    };
    CODES.insert(&tensor, false, Arc::new(codes));
    true
}

/// Attaches to `to` the codes of `from`, if it has some (a change of storage dtype).
pub fn carry_codes<const D: usize>(from: &Tensor<D>, to: &Tensor<D>) {
    if let Some(codes) = flex_tensor(from).and_then(|t| CODES.get(&t, false))
        && let Some(tensor) = flex_tensor(to)
    {
        CODES.insert(&tensor, false, codes);
    }
}

/// Whether decoding reads `weight` through integer codes.
pub fn has_codes(weight: &Tensor<2>) -> bool {
    flex_tensor(weight).is_some_and(|t| CODES.get(&t, false).is_some())
}

/// The codes attached to `w`.
pub(crate) fn codes_of(w: &FlexTensor) -> Option<Arc<WeightCodes>> {
    CODES.get(w, false)
}

/// `x · w` for `x` `[rows, k]` and `w` given by its codes: `[rows, n]`. The rows of the codes
/// are split evenly between the spinning threads (not at group bounds: SmolLM2's 576 inputs
/// are 4.5 groups of 128); each stretch of a group's integer products is summed in f32, then
/// scaled into the accumulators.
pub(crate) fn matmul_few_rows_codes(x: &[f32], w: &WeightCodes, rows: usize) -> Vec<f32> {
    let WeightCodes { group, k, n, .. } = *w;
    let group = group.max(1);
    let partials = in_parts(k, k * n, |k0, k1| {
        let mut acc = vec![0.0f32; rows * n];
        let mut sums = vec![0.0f32; rows * n];
        let mut start = k0;
        while start < k1 {
            let g = start / group;
            let end = ((g + 1) * group).min(k1);
            sums.fill(0.0);
            i8::columns(
                &mut sums,
                x.get(start..).unwrap_or_default(),
                &w.codes[start * n..end * n],
                Block::new(rows, end - start, n, k),
            );
            let scales = &w.scales[g * n..(g + 1) * n];
            for r in 0..rows {
                let (acc, sums) = (&mut acc[r * n..(r + 1) * n], &sums[r * n..(r + 1) * n]);
                // Not `mul_add`: outside the SIMD-dispatched kernels that is a call to libm's
                // `fmaf` per element on CPUs without FMA in the baseline target.
                for ((a, s), scale) in acc.iter_mut().zip(sums).zip(scales) {
                    *a += s * scale;
                }
            }
            start = end;
        }
        acc
    });
    sum_parts(partials)
}

#[cfg(test)]
mod tests {
    use super::{WeightCodes, matmul_few_rows_codes};

    #[test]
    fn the_codes_product_is_the_product_with_the_decoded_weight() {
        // A last group shorter than the others, and rows around the kernel's four-row step.
        let (k, n, group): (usize, usize, usize) = (45, 300, 16);
        let codes: Vec<i8> = (0..k * n).map(|i| ((i * 37) % 255) as i8).collect();
        let codes: Vec<i8> = codes.iter().map(|&c| c.max(-127)).collect();
        let groups = k.div_ceil(group);
        let scales: Vec<f32> = (0..groups * n).map(|i| 1e-3 * (1 + i % 7) as f32).collect();
        let w = WeightCodes {
            codes,
            scales,
            group,
            k,
            n,
        };
        for rows in [1, 3, 5, 16] {
            let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let got = matmul_few_rows_codes(&x, &w, rows);
            for r in 0..rows {
                for c in 0..n {
                    let want: f32 = (0..k)
                        .map(|i| {
                            x[r * k + i]
                                * f32::from(w.codes[i * n + c])
                                * w.scales[(i / group) * n + c]
                        })
                        .sum();
                    let got = got[r * n + c];
                    assert!(
                        (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{rows} rows [{r}, {c}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}

//! One AdamW update of a parameter in a single pass over parameter, gradient and moments (the
//! composed form is thirteen tensor operations, each a full pass over the parameter).

use rayon::prelude::*;

use super::simd::simd_dispatch;

/// The scalars of one AdamW update (PyTorch's formulation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// Learning rate.
    pub lr: f64,
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// `1 − β1^t`.
    pub bias1: f64,
    /// `1 − β2^t`.
    pub bias2: f64,
    /// Factor applied to the gradient first (the clipping coefficient).
    pub grad_scale: f64,
    /// Whether the moments start from zero (first update).
    pub first: bool,
}

const CHUNK: usize = 1 << 15;

/// Updates `param`, `m` and `v` in place from `grad`.
pub(crate) fn update(param: &mut [f32], m: &mut [f32], v: &mut [f32], grad: &[f32], s: &AdamWStep) {
    if param.len() <= CHUNK {
        update_chunk(param, m, v, grad, s);
        return;
    }
    param
        .par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(grad.par_chunks(CHUNK))
        .for_each(|(((p, m), v), g)| update_chunk(p, m, v, g, s));
}

simd_dispatch! {
    fn update_chunk(param: &mut [f32], m: &mut [f32], v: &mut [f32], grad: &[f32], s: &AdamWStep) {
        // The same f32 operations, in the same order, as the composed update.
        let scale = s.grad_scale as f32;
        let (b1, one_b1) = (s.beta1 as f32, (1.0 - s.beta1) as f32);
        let (b2, one_b2) = (s.beta2 as f32, (1.0 - s.beta2) as f32);
        let sqrt_bias2 = s.bias2.sqrt() as f32;
        let eps = s.eps as f32;
        let decay = (1.0 - s.lr * s.weight_decay) as f32;
        let step = (s.lr / s.bias1) as f32;
        let (first, scaled, decayed) = (s.first, s.grad_scale != 1.0, s.weight_decay != 0.0);
        for (((p, m), v), &g) in param
            .iter_mut()
            .zip(m.iter_mut())
            .zip(v.iter_mut())
            .zip(grad)
        {
            let g = if scaled { g * scale } else { g };
            (*m, *v) = if first {
                (g * one_b1, g * g * one_b2)
            } else {
                (*m * b1 + g * one_b1, *v * b2 + g * g * one_b2)
            };
            let denom = v.sqrt() / sqrt_bias2 + eps;
            let kept = if decayed { *p * decay } else { *p };
            *p = kept - *m / denom * step;
        }
    }
}

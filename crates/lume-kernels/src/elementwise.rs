//! Row and element kernels of the decoder block on the CPU: RMSNorm and the SwiGLU gate, with
//! their gradients. Burn composes each from four to six element-wise operations (and its
//! autodiff recomputes the sigmoid in the backward pass); here each is one pass.

use rayon::prelude::*;

use super::simd::{dot, exp, simd_dispatch};

/// Elements per rayon task: below one task's worth the work runs on the calling thread, since
/// handing it to the pool (a wake-up per call) costs more than it saves when decoding a token.
const CHUNK: usize = 1 << 14;

/// `len` zeros, written by the rayon pool when there are many: `vec![0.0; len]` writes them on
/// the calling thread while the other cores wait (a SmolLM2 fine-tuning step spent a fifth of
/// its serial time zeroing the outputs of these kernels and the NLL's gradient).
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    const PARALLEL_FROM: usize = 1 << 18;
    if len < PARALLEL_FROM {
        return vec![0.0; len];
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()
        .par_chunks_mut(PARALLEL_FROM)
        .for_each(|chunk| chunk.fill(std::mem::MaybeUninit::new(0.0)));
    // SAFETY: the chunks covered all `len` elements of the capacity, each written.
    unsafe { out.set_len(len) };
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `silu(gate) · up`, element-wise.
pub(crate) fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    let mut out = zeros(gate.len());
    if gate.len() <= CHUNK {
        swiglu_chunk(&mut out, gate, up);
        return out;
    }
    out.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .for_each(|(out, (gate, up))| swiglu_chunk(out, gate, up));
    out
}

simd_dispatch! {
    fn swiglu_chunk(out: &mut [f32], gate: &[f32], up: &[f32]) {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g * sigmoid(g) * u;
        }
    }
}

/// The gradients of [`swiglu`] for the gate and the up projection.
pub(crate) fn swiglu_backward(gate: &[f32], up: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dgate = zeros(gate.len());
    let mut dup = zeros(gate.len());
    if gate.len() <= CHUNK {
        swiglu_backward_chunk(&mut dgate, &mut dup, gate, up, grad);
        return (dgate, dup);
    }
    dgate
        .par_chunks_mut(CHUNK)
        .zip(dup.par_chunks_mut(CHUNK))
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .zip(grad.par_chunks(CHUNK))
        .for_each(|(((dg, du), (g, u)), go)| swiglu_backward_chunk(dg, du, g, u, go));
    (dgate, dup)
}

simd_dispatch! {
    fn swiglu_backward_chunk(
        dgate: &mut [f32],
        dup: &mut [f32],
        gate: &[f32],
        up: &[f32],
        grad: &[f32],
    ) {
        for ((((dg, du), &g), &u), &go) in dgate
            .iter_mut()
            .zip(dup.iter_mut())
            .zip(gate)
            .zip(up)
            .zip(grad)
        {
            let s = sigmoid(g);
            *du = go * g * s;
            *dg = go * u * s * (1.0 + g * (1.0 - s));
        }
    }
}

/// Rows per rayon task of the norms.
const NORM_ROWS: usize = 64;

/// `x / √(mean(x²) + eps) · weight` over rows of `width`; also returns each row's
/// `1/√(mean(x²) + eps)` for the backward pass.
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let width = weight.len();
    let mut out = zeros(x.len());
    let mut inv_rms = vec![0.0; x.len() / width];
    if x.len() <= NORM_ROWS * width {
        rms_norm_rows(&mut out, &mut inv_rms, x, weight, eps);
        return (out, inv_rms);
    }
    out.par_chunks_mut(NORM_ROWS * width)
        .zip(inv_rms.par_chunks_mut(NORM_ROWS))
        .zip(x.par_chunks(NORM_ROWS * width))
        .for_each(|((out, inv), x)| rms_norm_rows(out, inv, x, weight, eps));
    (out, inv_rms)
}

simd_dispatch! {
    fn rms_norm_rows(out: &mut [f32], inv_rms: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
        let width = weight.len();
        for ((o, r), x) in out
            .chunks_exact_mut(width)
            .zip(inv_rms.iter_mut())
            .zip(x.chunks_exact(width))
        {
            *r = 1.0 / (dot(x, x) / width as f32 + eps).sqrt();
            for ((o, &x), &w) in o.iter_mut().zip(x).zip(weight) {
                *o = x * *r * w;
            }
        }
    }
}

/// The gradients of [`rms_norm`] for `x` and for the weight, from the forward's `inv_rms`.
pub(crate) fn rms_norm_backward(
    x: &[f32],
    weight: &[f32],
    inv_rms: &[f32],
    grad: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let width = weight.len();
    let mut dx = zeros(x.len());
    let partial: Vec<Vec<f32>> = dx
        .par_chunks_mut(NORM_ROWS * width)
        .zip(x.par_chunks(NORM_ROWS * width))
        .zip(inv_rms.par_chunks(NORM_ROWS))
        .zip(grad.par_chunks(NORM_ROWS * width))
        .map(|(((dx, x), inv), go)| {
            let mut dweight = vec![0.0; width];
            rms_norm_backward_rows(dx, &mut dweight, x, weight, inv, go);
            dweight
        })
        .collect();
    // Per-task partial sums of the weight's gradient, added in task order (deterministic).
    let mut dweight = vec![0.0; width];
    for p in partial {
        for (d, p) in dweight.iter_mut().zip(p) {
            *d += p;
        }
    }
    (dx, dweight)
}

simd_dispatch! {
    fn rms_norm_backward_rows(
        dx: &mut [f32],
        dweight: &mut [f32],
        x: &[f32],
        weight: &[f32],
        inv_rms: &[f32],
        grad: &[f32],
    ) {
        let width = weight.len();
        let mut gw = vec![0.0f32; width];
        for (((dx, x), &r), go) in dx
            .chunks_exact_mut(width)
            .zip(x.chunks_exact(width))
            .zip(inv_rms)
            .zip(grad.chunks_exact(width))
        {
            for (((gw, &go), &w), (dw, &x)) in gw
                .iter_mut()
                .zip(go)
                .zip(weight)
                .zip(dweight.iter_mut().zip(x))
            {
                *gw = go * w;
                *dw += go * x * r;
            }
            // d/dx of x·r: r·(g − x̂ · mean(g · x̂)), with x̂ = x·r and g = grad·weight.
            let mean = dot(&gw, x) * r / width as f32;
            for ((dx, &gw), &x) in dx.iter_mut().zip(&gw).zip(x) {
                *dx = r * (gw - x * r * mean);
            }
        }
    }
}

/// Rotary embedding of `x` `[tokens, heads, d]` with `cos`, `sin` `[tokens, d]` (shared by a
/// token's heads), Hugging Face's `rotate_half` convention: `x·cos + rotate_half(x)·sin`,
/// `rotate_half([a, b]) = [−b, a]`. With `transposed`, the gradient instead:
/// `g·cos + rotate_halfᵀ(g·sin)`, `rotate_halfᵀ([a, b]) = [b, −a]`.
pub(crate) fn rope(x: &[f32], cos: &[f32], sin: &[f32], d: usize, transposed: bool) -> Vec<f32> {
    let heads = x.len() / cos.len().max(1);
    let token = (heads * d).max(1);
    let tokens_per_task = (CHUNK / token).max(1);
    let mut out = zeros(x.len());
    let task = |(i, (out, x)): (usize, (&mut [f32], &[f32]))| {
        let first = i * tokens_per_task;
        let span = first * d..(first + x.len() / token) * d;
        rope_tokens(out, x, &cos[span.clone()], &sin[span], d, transposed);
    };
    let chunk = tokens_per_task * token;
    if x.len() <= chunk {
        out.chunks_mut(chunk)
            .zip(x.chunks(chunk))
            .enumerate()
            .for_each(task);
    } else {
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .enumerate()
            .for_each(task);
    }
    out
}

simd_dispatch! {
    fn rope_tokens(out: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32], d: usize, transposed: bool) {
        let half = d / 2;
        let heads = x.len() / cos.len().max(1);
        for (t, (cos, sin)) in cos.chunks_exact(d).zip(sin.chunks_exact(d)).enumerate() {
            for h in 0..heads {
                let at = (t * heads + h) * d;
                let (o, x) = (&mut out[at..at + d], &x[at..at + d]);
                let (o1, o2) = o.split_at_mut(half);
                let (x1, x2) = x.split_at(half);
                let (c1, c2) = cos.split_at(half);
                let (s1, s2) = sin.split_at(half);
                if transposed {
                    for i in 0..half {
                        o1[i] = x1[i] * c1[i] + x2[i] * s2[i];
                        o2[i] = x2[i] * c2[i] - x1[i] * s1[i];
                    }
                } else {
                    for i in 0..half {
                        o1[i] = x1[i] * c1[i] - x2[i] * s1[i];
                        o2[i] = x2[i] * c2[i] + x1[i] * s2[i];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zeros_are_zeros_at_every_length() {
        // Below, at and past the parallel threshold, and a length that ends in a partial chunk.
        for len in [0, 7, (1 << 18) - 1, 1 << 18, (3 << 18) + 5] {
            let z = super::zeros(len);
            assert_eq!(z.len(), len);
            assert!(
                z.iter().all(|&x| x.to_bits() == 0),
                "a non-zero at length {len}"
            );
        }
    }
}

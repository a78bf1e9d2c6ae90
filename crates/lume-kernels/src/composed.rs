//! The fused operations from Burn's own tensor operations: the reference every kernel is tested
//! against, and what runs on backends without a kernel (see the table in `dispatch.rs`).

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::AdamWStep;

/// [`swiglu`](crate::swiglu) from Burn's own operations.
pub fn composed_swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::silu(gate) * up
}

/// [`adamw_update`](crate::adamw_update) from Burn's own operations.
pub fn composed_adamw_update(
    param: Tensor<1>,
    grad: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    s: AdamWStep,
) -> [Tensor<1>; 3] {
    let grad = if s.grad_scale == 1.0 {
        grad
    } else {
        grad.mul_scalar(s.grad_scale)
    };
    let (m, v) = if s.first {
        (
            grad.clone().mul_scalar(1.0 - s.beta1),
            grad.square().mul_scalar(1.0 - s.beta2),
        )
    } else {
        (
            m.mul_scalar(s.beta1) + grad.clone().mul_scalar(1.0 - s.beta1),
            v.mul_scalar(s.beta2) + grad.square().mul_scalar(1.0 - s.beta2),
        )
    };
    let denom = v
        .clone()
        .sqrt()
        .div_scalar(s.bias2.sqrt())
        .add_scalar(s.eps);
    let kept = if s.weight_decay == 0.0 {
        param
    } else {
        param.mul_scalar(1.0 - s.lr * s.weight_decay)
    };
    let updated = kept - (m.clone() / denom).mul_scalar(s.lr / s.bias1);
    [updated, m, v]
}

/// `x · tᵀ` with the table widened to `x`'s dtype: [`tied_head`](crate::tied_head)
/// on Burn's matmul.
pub(crate) fn composed_tied_head(x: Tensor<2>, table: Tensor<2>) -> Tensor<2> {
    x.clone().matmul(table.cast(x.dtype()).transpose())
}

/// [`rope`](crate::rope) from Burn's own operations.
pub fn composed_rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    let [b, t, h, d] = x.dims();
    let first = x.clone().slice([0..b, 0..t, 0..h, 0..d / 2]);
    let second = x.clone().slice([0..b, 0..t, 0..h, d / 2..d]);
    x * cos + Tensor::cat(vec![second.neg(), first], 3) * sin
}

/// [`rms_norm`](crate::rms_norm) from Burn's own operations.
pub fn composed_rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    let rms = x.clone().square().mean_dim(D - 1).add_scalar(eps).sqrt();
    let mut shape = [1; D];
    shape[D - 1] = weight.dims()[0];
    (x / rms) * weight.reshape(shape)
}

/// [`token_nll`](crate::token_nll) from Burn's own operations.
pub fn composed_token_nll(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [rows, _] = logits.dims();
    log_softmax(logits, 1)
        .gather(1, targets.reshape([rows, 1]))
        .reshape([rows])
        .neg()
}

/// [`causal_attention`](crate::causal_attention) from Burn's own operations.
pub fn composed_causal_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    key_real: &[bool],
) -> Tensor<4> {
    let [b, t, heads, d] = q.dims();
    let [_, keys, kv_heads, _] = k.dims();
    let repeat = |x: Tensor<4>| {
        let x = x.swap_dims(1, 2);
        let group = heads / kv_heads;
        if group == 1 {
            return x;
        }
        x.unsqueeze_dim::<5>(2)
            .expand([b, kv_heads, group, keys, d])
            .reshape([b, heads, keys, d])
    };
    let (q, k, v) = (q.swap_dims(1, 2), repeat(k), repeat(v));
    let past = keys - t;
    let mut mask = Vec::with_capacity(b * t * keys);
    for row in 0..b {
        for i in 0..t {
            for j in 0..keys {
                let padded = key_real.get(row * keys + j).is_some_and(|&real| !real);
                mask.push(j > past + i || padded);
            }
        }
    }
    let mask = Tensor::<3, Bool>::from_data(TensorData::new(mask, [b, t, keys]), &q.device())
        .unsqueeze_dim::<4>(1);
    let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt();
    let scores = scores.mask_fill(mask, f32::MIN);
    softmax(scores, 3).matmul(v).swap_dims(1, 2)
}

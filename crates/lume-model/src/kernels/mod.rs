//! Fused operations with their own CPU kernels and backward passes.
//!
//! Burn composes `log_softmax`, `softmax` and friends from element-wise primitives, and its
//! autodiff recomputes `exp` in the backward pass; on the CPU that is most of a training step
//! outside the matrix products. These operations are a Burn backend extension: on the `flex`
//! CPU backend (with or without autodiff) they run the kernels of this module, on every other
//! backend the tensor-level functions fall back to the composed form, so results agree
//! everywhere (tests compare the two).

mod adamw;
mod attention;
mod autodiff;
mod cross_entropy;
pub(crate) use cross_entropy::row_stats;
mod elementwise;
mod flex;
mod matvec;
mod product;
mod simd;
mod spinning_pool;

pub use adamw::AdamWStep;

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, Dispatch, DispatchDevice, backend_extension};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// Operations that the kernels of this module implement for the `flex` backend and its
/// autodiff wrapper.
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// Per row of `logits` `[rows, vocab]`: `logsumexp(row) − row[target]`, `[rows]`.
    fn token_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;

    /// Causal attention over `[batch, seq, heads, head_dim]` queries and
    /// `[batch, keys, kv_heads, head_dim]` keys and values (see [`causal_attention`]).
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_real: Vec<bool>,
    ) -> FloatTensor<Self>;

    /// `silu(gate) · up` (see [`swiglu`]).
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x · w` for `x` `[rows, k]` and `w` `[k, n]`, differentiable in both (see [`linear`]).
    fn linear(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x · w` for a few rows of `x` `[rows, k]` and `w` `[k, n]`, without autodiff (see
    /// [`linear`]).
    fn matmul_few_rows(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x · tᵀ` for `x` `[rows, k]` and `t` `[n, k]` in its stored dtype, without autodiff
    /// (see [`tied_head`]).
    fn matmul_transposed(x: FloatTensor<Self>, t: FloatTensor<Self>) -> FloatTensor<Self>;

    /// One AdamW update of `[n]` tensors (see [`adamw_update`]): `[3, n]`, the new
    /// parameter, first and second moments.
    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamWStep,
    ) -> FloatTensor<Self>;

    /// Rotary position embedding (see [`rope`]).
    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// RMSNorm over the last dimension (see [`rms_norm`]).
    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self>;
}

/// The SwiGLU gate `silu(gate) · up`, element-wise, differentiable in both inputs.
///
/// ```
/// use burn::tensor::Tensor;
/// let device = lume_model::DeviceSpec::Cpu.device()?;
/// let gate = Tensor::<1>::from_floats([0.0, 1.0], &device);
/// let up = Tensor::<1>::from_floats([5.0, 2.0], &device);
/// let y: Vec<f32> = lume_model::swiglu(gate, up).into_data().try_to_vec().unwrap();
/// assert_eq!(y[0], 0.0);
/// assert!((y[1] - 2.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
/// # Ok::<(), lume_model::DeviceError>(())
/// ```
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    if on_flex(&gate.device()) {
        Tensor::from_dispatch(<Dispatch as FusedOps>::swiglu(
            gate.into_dispatch(),
            up.into_dispatch(),
        ))
    } else {
        composed_swiglu(gate, up)
    }
}

/// [`swiglu`] from Burn's own operations.
pub fn composed_swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::silu(gate) * up
}

/// One AdamW update (PyTorch's formulation, decoupled weight decay) of a flat parameter from
/// its gradient and moments, all `[n]` and outside autodiff: returns the new parameter, first
/// and second moments. `m` and `v` are ignored on the first update (`step.first`). One pass on
/// the CPU instead of thirteen.
pub fn adamw_update(
    param: Tensor<1>,
    grad: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    step: AdamWStep,
) -> [Tensor<1>; 3] {
    let n = param.dims()[0];
    if on_flex(&param.device()) && !param.device().is_autodiff() {
        let out: Tensor<2> = Tensor::from_dispatch(<Dispatch as FusedOps>::adamw_update(
            param.into_dispatch(),
            grad.into_dispatch(),
            m.into_dispatch(),
            v.into_dispatch(),
            step,
        ));
        let part = |i: usize| out.clone().slice([i..i + 1, 0..n]).reshape([n]);
        [part(0), part(1), part(2)]
    } else {
        composed_adamw_update(param, grad, m, v, step)
    }
}

/// [`adamw_update`] from Burn's own operations.
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

/// Rows up to which [`linear`] streams the weight itself.
const FEW_ROWS: usize = 8;

/// `layer.forward(x)`, with decoding's products of a few rows (at most 8 tokens) computed by a
/// kernel that streams the weight once, its rows split between spinning threads, without
/// autodiff; on `flex` every other product goes straight to `gemm` (see `kernels/product.rs`).
pub fn linear<const D: usize>(layer: &burn::nn::Linear, x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let [k, n] = layer.weight.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let device = x.device();
    let weight = layer.weight.val();
    let x = x.reshape([rows, k]);
    let decoding = rows <= FEW_ROWS && !device.is_autodiff() && on_flex(&device);
    // Weights stored in half precision (see `WeightDtype`) are widened for the general
    // product; the decoding kernel reads them as they are.
    let weight = if decoding || weight.dtype() == x.dtype() {
        weight
    } else {
        weight.cast(x.dtype())
    };
    // One `[rows, k] · [k, n]` product: on a batch `[b, t, k]` Burn broadcasts the weight, and
    // its backward then computes a weight gradient per batch row and sums them (measured: the
    // head's alone was a 64 MB tensor per step).
    let y: Tensor<2> = if decoding {
        Tensor::from_dispatch(<Dispatch as FusedOps>::matmul_few_rows(
            x.into_dispatch(),
            weight.into_dispatch(),
        ))
    } else if on_flex(&device) {
        Tensor::from_dispatch(<Dispatch as FusedOps>::linear(
            x.into_dispatch(),
            weight.into_dispatch(),
        ))
    } else {
        x.matmul(weight)
    };
    let y = match &layer.bias {
        Some(bias) => y + bias.val().unsqueeze_dim::<2>(0),
        None => y,
    };
    let mut out = dims;
    out[D - 1] = n;
    y.reshape(out)
}

/// The logits of a tied output head: `x` `[rows, hidden]` times the embedding table
/// `[vocab, hidden]` transposed. Off autodiff on `flex`, the table is read in place and in its
/// stored dtype (decoding streams it once per token; a transposed matmul with a half-precision
/// table widened a copy of the whole table per call); elsewhere Burn's matmul.
pub fn tied_head(x: Tensor<2>, table: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    if on_flex(&device) && !device.is_autodiff() {
        Tensor::from_dispatch(<Dispatch as FusedOps>::matmul_transposed(
            x.into_dispatch(),
            table.into_dispatch(),
        ))
    } else {
        x.clone().matmul(table.cast(x.dtype()).transpose())
    }
}

/// Rotary position embedding of `x` `[batch, seq, heads, head_dim]` with `cos`, `sin`
/// `[batch, seq, 1, head_dim]`, in Hugging Face's `rotate_half` convention:
/// `x·cos + rotate_half(x)·sin` with `rotate_half([a, b]) = [−b, a]`. Differentiable in `x`
/// (the tables are constants).
pub fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    if on_flex(&x.device()) {
        Tensor::from_dispatch(<Dispatch as FusedOps>::rope(
            x.into_dispatch(),
            cos.into_dispatch(),
            sin.into_dispatch(),
        ))
    } else {
        composed_rope(x, cos, sin)
    }
}

/// [`rope`] from Burn's own operations.
pub fn composed_rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    let [b, t, h, d] = x.dims();
    let first = x.clone().slice([0..b, 0..t, 0..h, 0..d / 2]);
    let second = x.clone().slice([0..b, 0..t, 0..h, d / 2..d]);
    x * cos + Tensor::cat(vec![second.neg(), first], 3) * sin
}

/// RMSNorm over the last dimension, `x / √(mean(x²) + eps) · weight`, differentiable in `x`
/// and `weight`.
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    if on_flex(&x.device()) {
        Tensor::from_dispatch(<Dispatch as FusedOps>::rms_norm(
            x.into_dispatch(),
            weight.into_dispatch(),
            eps,
        ))
    } else {
        composed_rms_norm(x, weight, eps)
    }
}

/// [`rms_norm`] from Burn's own operations.
pub fn composed_rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    let rms = x.clone().square().mean_dim(D - 1).add_scalar(eps).sqrt();
    let mut shape = [1; D];
    shape[D - 1] = weight.dims()[0];
    (x / rms) * weight.reshape(shape)
}

/// Whether `device` runs on the `flex` CPU backend, where the fused kernels apply.
fn on_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// The next-token negative log-likelihood of each row: `logsumexp(logits[r]) −
/// logits[r][targets[r]]` for `logits` `[rows, vocab]` and `targets` `[rows]`, differentiable
/// with respect to the logits. Equal to `-log_softmax(logits).gather(targets)`, in one pass
/// over the vocabulary (two with the backward) on the CPU.
///
/// ```
/// use burn::tensor::{Int, Tensor};
/// let device = lume_model::DeviceSpec::Cpu.device()?;
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 0.0]], &device);
/// let targets = Tensor::<1, Int>::from_ints([1, 0], &device);
/// let nll: Vec<f32> = lume_model::token_nll(logits, targets).into_data().try_into_vec().unwrap();
/// assert!((nll[0] - 2f32.ln()).abs() < 1e-6);
/// assert!((nll[1] - (1.0 + (-2f32).exp()).ln()).abs() < 1e-6);
/// # Ok::<(), lume_model::DeviceError>(())
/// ```
///
/// # Panics
/// When `targets` does not have one entry per row of `logits` (a programming error, as in
/// Burn's own shape checks).
pub fn token_nll(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let ([rows, _], [n]) = (logits.dims(), targets.dims());
    assert_eq!(n, rows, "token_nll: {rows} rows of logits but {n} targets");
    if on_flex(&logits.device()) {
        Tensor::from_dispatch(<Dispatch as FusedOps>::token_nll(
            logits.into_dispatch(),
            targets.into_dispatch(),
        ))
    } else {
        composed_token_nll(logits, targets)
    }
}

/// [`token_nll`] from Burn's own operations: the reference the kernels are tested against,
/// and the path on backends without a kernel.
pub fn composed_token_nll(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [rows, _] = logits.dims();
    log_softmax(logits, 1)
        .gather(1, targets.reshape([rows, 1]))
        .reshape([rows])
        .neg()
}

/// Scaled dot-product attention of `q` `[batch, seq, heads, head_dim]` over `k`, `v`
/// `[batch, keys, kv_heads, head_dim]` (`kv_heads` divides `heads`; query head `h` reads
/// key/value head `h / (heads / kv_heads)`), where the queries are the last `seq` of the `keys`
/// positions: query `i` sees keys `0..=keys − seq + i`, minus those that `key_real`
/// (`[batch, keys]` row-major, or empty) marks `false`. Returns `[batch, seq, heads, head_dim]`.
/// Masked scores become `f32::MIN` before the softmax, as in transformers. Differentiable with
/// respect to `q`, `k` and `v`.
///
/// # Panics
/// On inconsistent shapes: `k` and `v` must match, share `batch` and `head_dim` with `q`, hold
/// at least `seq` keys, `kv_heads` must divide `heads`, and `key_real` must be empty or
/// `batch × keys` long (programming errors, as in Burn's own shape checks).
pub fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, key_real: &[bool]) -> Tensor<4> {
    let ([b, t, heads, d], [kb, keys, kv_heads, kd]) = (q.dims(), k.dims());
    assert_eq!(
        k.dims(),
        v.dims(),
        "causal_attention: keys {:?} but values {:?}",
        k.dims(),
        v.dims()
    );
    assert!(
        kb == b && kd == d && keys >= t && kv_heads > 0 && heads % kv_heads == 0,
        "causal_attention: queries {:?} do not fit keys {:?}",
        q.dims(),
        k.dims()
    );
    assert!(
        key_real.is_empty() || key_real.len() == b * keys,
        "causal_attention: key mask of {} entries for {b} rows of {keys} keys",
        key_real.len()
    );
    if on_flex(&q.device()) {
        Tensor::from_dispatch(<Dispatch as FusedOps>::causal_attention(
            q.into_dispatch(),
            k.into_dispatch(),
            v.into_dispatch(),
            key_real.to_vec(),
        ))
    } else {
        composed_causal_attention(q, k, v, key_real)
    }
}

/// [`causal_attention`] from Burn's own operations.
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

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Int, Tensor, TensorData};

    use crate::DeviceSpec;

    fn inputs(device: &burn::tensor::Device) -> (Tensor<2>, Tensor<1, Int>, Tensor<1>) {
        let (rows, vocab) = (37, 301);
        let logits = Tensor::<2>::random([rows, vocab], Distribution::Normal(0.0, 3.0), device);
        let targets: Vec<i64> = (0..rows as i64)
            .map(|r| (r * 97 + 5) % vocab as i64)
            .collect();
        let targets = Tensor::from_data(TensorData::new(targets, [rows]), device);
        let weights: Vec<f32> = (0..rows)
            .map(|r| if r % 4 == 0 { 0.0 } else { r as f32 / 10.0 })
            .collect();
        (
            logits,
            targets,
            Tensor::from_floats(weights.as_slice(), device),
        )
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().expect("f32 data")
    }

    fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    #[test]
    fn kernel_matches_composed_forward_and_backward() {
        let device = DeviceSpec::Cpu.training_device().expect("cpu");
        let (logits, targets, weights) = inputs(&device);
        let fused_in = logits.clone().require_grad();
        let composed_in = logits.require_grad();
        let fused = super::token_nll(fused_in.clone(), targets.clone());
        let composed = super::composed_token_nll(composed_in.clone(), targets);
        assert_close(
            &values(fused.clone()),
            &values(composed.clone()),
            1e-5,
            "nll",
        );
        let fused_grads = (fused * weights.clone()).sum().backward();
        let composed_grads = (composed * weights).sum().backward();
        let g_fused = fused_in.grad(&fused_grads).expect("gradient");
        let g_composed = composed_in.grad(&composed_grads).expect("gradient");
        assert_close(&values(g_fused), &values(g_composed), 1e-5, "gradient");
    }

    fn attention_inputs(
        device: &burn::tensor::Device,
        heads: usize,
        kv_heads: usize,
        queries: usize,
        keys: usize,
    ) -> [Tensor<4>; 3] {
        let (b, d) = (3, 8);
        [
            Tensor::<4>::random(
                [b, queries, heads, d],
                Distribution::Normal(0.0, 1.0),
                device,
            ),
            Tensor::<4>::random(
                [b, keys, kv_heads, d],
                Distribution::Normal(0.0, 1.0),
                device,
            ),
            Tensor::<4>::random(
                [b, keys, kv_heads, d],
                Distribution::Normal(0.0, 1.0),
                device,
            ),
        ]
    }

    /// Row 0 all real, row 1 with two padded keys, row 2 padded up to its last key (so its
    /// early queries see nothing at all).
    fn key_real(keys: usize) -> Vec<bool> {
        (0..3)
            .flat_map(|row| {
                (0..keys).map(move |j| match row {
                    0 => true,
                    1 => j >= 2,
                    _ => j + 1 == keys,
                })
            })
            .collect()
    }

    #[test]
    fn attention_kernel_matches_composed_forward_and_backward() {
        let device = DeviceSpec::Cpu.training_device().expect("cpu");
        // Multi-head and grouped-query; a full prefill, and new queries after a cache.
        for (heads, kv_heads, queries, keys) in
            [(4, 4, 7, 7), (4, 2, 5, 5), (6, 3, 2, 9), (2, 1, 1, 6)]
        {
            let inputs = attention_inputs(&device, heads, kv_heads, queries, keys);
            for mask in [Vec::new(), key_real(keys)] {
                let fused_in: Vec<Tensor<4>> =
                    inputs.iter().map(|x| x.clone().require_grad()).collect();
                let composed_in: Vec<Tensor<4>> =
                    inputs.iter().map(|x| x.clone().require_grad()).collect();
                let fused = super::causal_attention(
                    fused_in[0].clone(),
                    fused_in[1].clone(),
                    fused_in[2].clone(),
                    &mask,
                );
                let composed = super::composed_causal_attention(
                    composed_in[0].clone(),
                    composed_in[1].clone(),
                    composed_in[2].clone(),
                    &mask,
                );
                let what = format!(
                    "heads {heads}/{kv_heads}, {queries} of {keys} keys, mask {}",
                    !mask.is_empty()
                );
                assert_close(
                    &values(fused.clone()),
                    &values(composed.clone()),
                    1e-5,
                    &format!("output, {what}"),
                );
                let weights =
                    Tensor::<4>::random(fused.dims(), Distribution::Normal(0.0, 1.0), &device);
                let fused_grads = (fused * weights.clone()).sum().backward();
                let composed_grads = (composed * weights).sum().backward();
                for (name, (f, c)) in ["q", "k", "v"]
                    .iter()
                    .zip(fused_in.iter().zip(&composed_in))
                {
                    let gf = values(f.grad(&fused_grads).expect("gradient"));
                    let gc = values(c.grad(&composed_grads).expect("gradient"));
                    assert_close(&gf, &gc, 1e-4, &format!("d{name}, {what}"));
                }
            }
        }
    }

    #[test]
    fn decoding_attention_matches_composed_on_a_cache_prefix() {
        // Without autodiff a few queries take the direct kernel, which reads keys and values in
        // place: here the filled prefix of a longer buffer, so rows lie apart in memory.
        let device = DeviceSpec::Cpu.device().expect("cpu");
        for (heads, kv_heads, queries, keys) in [(4, 4, 1, 6), (6, 3, 2, 9), (4, 2, 8, 8)] {
            let [q, k, v] = attention_inputs(&device, heads, kv_heads, queries, keys + 5);
            let (k, v) = (k.slice([0..3, 0..keys]), v.slice([0..3, 0..keys]));
            for mask in [Vec::new(), key_real(keys)] {
                let fused = super::causal_attention(q.clone(), k.clone(), v.clone(), &mask);
                let composed =
                    super::composed_causal_attention(q.clone(), k.clone(), v.clone(), &mask);
                assert_close(
                    &values(fused),
                    &values(composed),
                    1e-5,
                    &format!("heads {heads}/{kv_heads}, {queries} of {keys} keys"),
                );
            }
        }
    }

    /// Forward values and gradients of `fused` and `composed` on the same inputs agree.
    fn assert_same_function<const N: usize>(
        inputs: [Tensor<3>; N],
        fused: impl Fn(&[Tensor<3>]) -> Tensor<3>,
        composed: impl Fn(&[Tensor<3>]) -> Tensor<3>,
        what: &str,
    ) {
        let device = inputs[0].device();
        let a: Vec<Tensor<3>> = inputs.iter().map(|x| x.clone().require_grad()).collect();
        let b: Vec<Tensor<3>> = inputs.iter().map(|x| x.clone().require_grad()).collect();
        let (ya, yb) = (fused(&a), composed(&b));
        assert_close(&values(ya.clone()), &values(yb.clone()), 1e-5, what);
        let weights = Tensor::<3>::random(ya.dims(), Distribution::Normal(0.0, 1.0), &device);
        let (ga, gb) = (
            (ya * weights.clone()).sum().backward(),
            (yb * weights).sum().backward(),
        );
        for (i, (xa, xb)) in a.iter().zip(&b).enumerate() {
            let (da, db) = (
                xa.grad(&ga).expect("gradient"),
                xb.grad(&gb).expect("gradient"),
            );
            assert_close(
                &values(da),
                &values(db),
                1e-4,
                &format!("{what}, gradient {i}"),
            );
        }
    }

    #[test]
    fn swiglu_and_rms_norm_kernels_match_composed() {
        let device = DeviceSpec::Cpu.training_device().expect("cpu");
        let shape = [3, 5, 70];
        let r = || Tensor::<3>::random(shape, Distribution::Normal(0.0, 2.0), &device);
        assert_same_function(
            [r(), r()],
            |x| super::swiglu(x[0].clone(), x[1].clone()),
            |x| super::composed_swiglu(x[0].clone(), x[1].clone()),
            "swiglu",
        );
        // The weight rides along as a [1, 1, width] input so that its gradient is compared too.
        let weight = Tensor::<3>::random([1, 1, 70], Distribution::Normal(1.0, 0.5), &device);
        assert_same_function(
            [r(), weight],
            |x| super::rms_norm(x[0].clone(), x[1].clone().reshape([70]), 1e-5),
            |x| super::composed_rms_norm(x[0].clone(), x[1].clone().reshape([70]), 1e-5),
            "rms_norm",
        );
    }

    #[test]
    fn rope_kernel_matches_composed() {
        let device = DeviceSpec::Cpu.training_device().expect("cpu");
        let (b, t, h, d) = (2, 5, 3, 8);
        let x = Tensor::<4>::random([b, t, h, d], Distribution::Normal(0.0, 1.0), &device);
        let angles = Tensor::<4>::random([b, t, 1, d], Distribution::Uniform(-3.0, 3.0), &device);
        let (cos, sin) = (angles.clone().cos(), angles.sin());
        let (xa, xb) = (x.clone().require_grad(), x.require_grad());
        let ya = super::rope(xa.clone(), cos.clone(), sin.clone());
        let yb = super::composed_rope(xb.clone(), cos, sin);
        assert_close(&values(ya.clone()), &values(yb.clone()), 1e-6, "rope");
        let w = Tensor::<4>::random([b, t, h, d], Distribution::Normal(0.0, 1.0), &device);
        let (ga, gb) = ((ya * w.clone()).sum().backward(), (yb * w).sum().backward());
        let (da, db) = (
            xa.grad(&ga).expect("gradient"),
            xb.grad(&gb).expect("gradient"),
        );
        assert_close(&values(da), &values(db), 1e-6, "rope gradient");
    }

    #[test]
    fn linear_of_a_few_rows_equals_the_matmul() {
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let layer = burn::nn::LinearConfig::new(160, 1100).init(&device);
        for rows in [1, 3, super::FEW_ROWS, super::FEW_ROWS + 1] {
            let x = Tensor::<3>::random([1, rows, 160], Distribution::Normal(0.0, 1.0), &device);
            let fast = values(super::linear(&layer, x.clone()));
            let plain = values(layer.forward(x));
            assert_close(&fast, &plain, 1e-5, &format!("{rows} rows"));
        }
    }

    #[test]
    fn linear_kernel_matches_burn_forward_and_backward() {
        // A batch `[b, t, k]` with a bias, under autodiff: the output and the gradients of the
        // input, the weight and the bias against Burn's own `Linear`. Sizes large enough for
        // the product to run on several threads, and odd ones.
        let device = DeviceSpec::Cpu.training_device().expect("cpu");
        for (b, t, k, n) in [(2, 3, 5, 7), (3, 100, 190, 210)] {
            let layer = burn::nn::LinearConfig::new(k, n).init(&device);
            let x = Tensor::<3>::random([b, t, k], Distribution::Normal(0.0, 1.0), &device);
            let weights = Tensor::<3>::random([b, t, n], Distribution::Normal(0.0, 1.0), &device);
            let (xa, xb) = (x.clone().require_grad(), x.require_grad());
            let ya = super::linear(&layer, xa.clone());
            let yb = layer.forward(xb.clone());
            let what = format!("[{b}, {t}, {k}] · [{k}, {n}]");
            assert_close(&values(ya.clone()), &values(yb.clone()), 1e-5, &what);
            let ga = (ya * weights.clone()).sum().backward();
            let gb = (yb * weights).sum().backward();
            let grad = |x: &Tensor<3>, g| values(x.grad(g).expect("gradient"));
            assert_close(
                &grad(&xa, &ga),
                &grad(&xb, &gb),
                1e-5,
                &format!("dx, {what}"),
            );
            let weight = layer.weight.val();
            let (dwa, dwb) = (weight.grad(&ga), weight.grad(&gb));
            assert_close(
                &values(dwa.expect("weight gradient")),
                &values(dwb.expect("weight gradient")),
                1e-5,
                &format!("dw, {what}"),
            );
            let bias = layer.bias.as_ref().expect("bias").val();
            assert_close(
                &values(bias.grad(&ga).expect("bias gradient")),
                &values(bias.grad(&gb).expect("bias gradient")),
                1e-5,
                &format!("db, {what}"),
            );
        }
    }

    #[test]
    fn adamw_kernel_matches_composed() {
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let n = 70_001;
        let r = || Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), &device);
        let (p, g, m) = (r(), r(), r());
        let v = r().abs();
        for (first, grad_scale, weight_decay) in
            [(true, 1.0, 0.01), (false, 0.3, 0.0), (false, 1.0, 0.1)]
        {
            let step = super::AdamWStep {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
                bias1: 0.19,
                bias2: 0.002,
                grad_scale,
                first,
            };
            let fused = super::adamw_update(p.clone(), g.clone(), m.clone(), v.clone(), step);
            let composed =
                super::composed_adamw_update(p.clone(), g.clone(), m.clone(), v.clone(), step);
            for (what, (a, b)) in ["param", "m", "v"]
                .iter()
                .zip(fused.into_iter().zip(composed))
            {
                assert_close(&values(a), &values(b), 1e-6, what);
            }
        }
    }

    #[test]
    #[should_panic(expected = "3 rows of logits but 2 targets")]
    fn token_nll_names_a_shape_mismatch() {
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let logits = Tensor::<2>::zeros([3, 5], &device);
        let _ = super::token_nll(logits, Tensor::<1, Int>::zeros([2], &device));
    }

    #[test]
    #[should_panic(expected = "key mask of 5 entries")]
    fn causal_attention_names_a_bad_mask() {
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let [q, k, v] = attention_inputs(&device, 2, 1, 3, 4);
        let _ = super::causal_attention(q, k, v, &[true; 5]);
    }

    #[test]
    fn kernel_runs_without_autodiff() {
        let device = DeviceSpec::Cpu.device().expect("cpu");
        let (logits, targets, _) = inputs(&device);
        let fused = values(super::token_nll(logits.clone(), targets.clone()));
        let composed = values(super::composed_token_nll(logits, targets));
        assert_close(&fused, &composed, 1e-5, "nll");
    }
}

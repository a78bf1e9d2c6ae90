//! The `flex` backend's implementation of the fused operations.

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{DType, FloatDType, Shape, TensorData};
use burn_flex::FlexTensor;

use super::FusedOps;
use super::adamw::{self, AdamWStep};
use super::attention::{self, AttentionShape};
use super::bf16::{PackedB, product_packed, products_packed};
use super::codes;
use super::cross_entropy;
use super::elementwise;
use super::matvec;
use super::packed::packed_weight;
use super::product::{Operand, product_in};
use crate::Precision;

/// `tensor` in f32: as it is, or widened from another float dtype.
fn to_f32(tensor: FlexTensor) -> FlexTensor {
    if tensor.dtype() == DType::F32 {
        tensor
    } else {
        Flex::float_cast(tensor, FloatDType::F32)
    }
}

/// A contiguous f32 copy-free view when possible; other float dtypes are widened to f32. A
/// contiguous run inside a larger buffer (a slice of the `[3, n]` AdamW output, a cache
/// prefix) is kept as it is: [`f32_slice`] reads it in place.
fn as_f32(tensor: FlexTensor) -> FlexTensor {
    let tensor = to_f32(tensor);
    if tensor.layout().is_contiguous() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// A contiguous f32 `[n]` tensor that owns all of its storage, so that writing it in place
/// (`storage_mut`) touches no other tensor and copies nothing: `tensor` itself when it is one,
/// otherwise a copy of its values. An optimizer's state and parameters are such tensors from
/// the second step on, which saves a copy of every parameter per step.
fn owned_f32(tensor: FlexTensor, n: usize) -> FlexTensor {
    let tensor = as_f32(tensor);
    let whole = tensor.layout().contiguous_offsets() == Some((0, n))
        && tensor.bytes().len() == n * size_of::<f32>();
    if whole && tensor.is_unique() {
        tensor
    } else {
        FlexTensor::from_data(TensorData::new(f32_slice(&tensor).to_vec(), [n]))
    }
}

fn f32_slice(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("as_f32 made the tensor contiguous f32")
}

fn ids(tensor: FlexTensor) -> Vec<i64> {
    tensor
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("converted to i64")
}

/// Wraps `values` as a tensor of `shape` in the `dtype` the caller used.
fn output(values: Vec<f32>, shape: impl Into<Shape>, dtype: DType) -> FlexTensor {
    cast_back(
        FlexTensor::from_data(TensorData::new(values, shape.into())),
        dtype,
    )
}

/// A weight `[k, n]` stored in bf16 for inference, packed once (see `packed.rs`).
fn packed_bf16(w: &FlexTensor) -> std::sync::Arc<PackedB> {
    let [k, n] = w.shape().dims();
    packed_weight(w, false, || {
        let w = as_f32(w.clone());
        PackedB::new(Operand::rows(f32_slice(&w), n), k, n)
    })
}

/// `x · w` for every weight of `ws` (each `[k, _]`, stored in bf16 for inference) in one
/// bf16 product (`bf16::products_packed`): the outputs of `linear` with `Precision::Bf16`, bit
/// for bit.
pub(crate) fn linear_group_bf16(x: FlexTensor, ws: &[FlexTensor]) -> Vec<FlexTensor> {
    let dtype = x.dtype();
    let [rows, k] = x.shape().dims();
    let x = as_f32(x);
    let packed: Vec<_> = ws.iter().map(packed_bf16).collect();
    let refs: Vec<&PackedB> = packed.iter().map(|p| &**p).collect();
    products_packed(Operand::rows(f32_slice(&x), k), &refs, rows)
        .into_iter()
        .zip(ws)
        .map(|(y, w)| output(y, [rows, w.shape().dims::<2>()[1]], dtype))
        .collect()
}

/// `x` rounded to bf16 (still f32 values) when `precision` asks for bf16 products.
fn rounded_for(precision: Precision, x: &[f32]) -> Option<Vec<f32>> {
    (precision == Precision::Bf16).then(|| super::bf16::rounded(x))
}

/// A weight for the streaming kernels: bf16 products need bf16 weights (the engine stores them
/// so; an f32 weight is rounded here, per call).
fn weight_for(precision: Precision, w: FlexTensor) -> FlexTensor {
    if precision == Precision::Bf16 && w.dtype() != DType::BF16 {
        Flex::float_cast(w, FloatDType::BF16)
    } else {
        w
    }
}

/// An f32 result in the float `dtype` of the caller.
fn cast_back(out: FlexTensor, dtype: DType) -> FlexTensor {
    match dtype {
        DType::F32 => out,
        DType::F64 => Flex::float_cast(out, FloatDType::F64),
        DType::F16 => Flex::float_cast(out, FloatDType::F16),
        DType::BF16 => Flex::float_cast(out, FloatDType::BF16),
        _ => out,
    }
}

/// The sizes of an attention call on `[batch, seq, heads, d]` queries and
/// `[batch, keys, kv_heads, d]` keys.
pub(super) fn attention_shape(q: &FlexTensor, k: &FlexTensor) -> AttentionShape {
    let [batch, queries, heads, head_dim] = q.shape().dims();
    let [_, keys, kv_heads, _] = k.shape().dims();
    AttentionShape {
        batch,
        queries,
        keys,
        heads,
        kv_heads,
        head_dim,
    }
}

/// `[batch, positions, kv_heads, d]` keys or values in f32 whose rows may lie apart (the filled
/// prefix of a KV cache): kept in place when only the batch stride is irregular.
fn positions_view(x: FlexTensor) -> FlexTensor {
    let x = to_f32(x);
    let [_, _, kv_heads, d] = x.shape().dims();
    let strides = x.layout().strides();
    if strides[1..] == [(kv_heads * d) as isize, d as isize, 1] && strides[0] >= 0 {
        x
    } else {
        x.to_contiguous()
    }
}

/// The slice and batch stride of a tensor that [`positions_view`] prepared.
fn view_of(x: &FlexTensor) -> attention::PositionsView<'_> {
    let layout = x.layout();
    attention::PositionsView {
        data: &x.storage::<f32>()[layout.start_offset()..],
        batch_stride: layout.strides()[0].unsigned_abs(),
    }
}

/// The forward pass in f32. Returns the output `[batch, queries, heads, d]` (in the dtype of
/// `q`) and the probabilities `[batch, heads, queries, keys]`.
pub(super) fn attention_forward(
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    key_real: &[bool],
) -> (FlexTensor, FlexTensor) {
    let dtype = q.dtype();
    let s = attention_shape(&q, &k);
    let (q, k, v) = (as_f32(q), as_f32(k), as_f32(v));
    let mut probs = attention::head_scores(f32_slice(&q), f32_slice(&k), &s);
    attention::softmax_in_place(&mut probs, key_real, s);
    let out = attention::head_values(&probs, f32_slice(&v), &s);
    let probs = output(probs, [s.batch, s.heads, s.queries, s.keys], DType::F32);
    let out = output(out, [s.batch, s.queries, s.heads, s.head_dim], dtype);
    (out, probs)
}

/// The gradients of Q, K and V, in their dtypes.
pub(super) fn attention_backward(
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    probs: FlexTensor,
    grad: FlexTensor,
    key_real: &[bool],
) -> [FlexTensor; 3] {
    let (q_dtype, k_dtype, v_dtype) = (q.dtype(), k.dtype(), v.dtype());
    let s = attention_shape(&q, &k);
    let (q, k, v, grad) = (as_f32(q), as_f32(k), as_f32(v), as_f32(grad));
    let (q, k, v, grad) = (
        f32_slice(&q),
        f32_slice(&k),
        f32_slice(&v),
        f32_slice(&grad),
    );
    let probs = as_f32(probs);
    let probs = f32_slice(&probs);
    let mut dscores = attention::head_scores(grad, v, &s);
    attention::softmax_backward_in_place(&mut dscores, probs, key_real, s);
    let dq = attention::head_values(&dscores, k, &s);
    let dk = attention::head_sums(&dscores, q, &s);
    let dv = attention::head_sums(probs, grad, &s);
    let kv_shape = [s.batch, s.keys, s.kv_heads, s.head_dim];
    [
        output(dq, [s.batch, s.queries, s.heads, s.head_dim], q_dtype),
        output(dk, kv_shape, k_dtype),
        output(dv, kv_shape, v_dtype),
    ]
}

/// The gradients of `x · w` (`x` `[rows, k]`, `w` `[k, n]`), or of `x · wᵀ` for `w` `[n, k]`
/// when `transposed` (a tied head), for `x` and for `w`, each only when asked for, in their
/// dtypes: `grad · wᵀ` (`grad · w`) and `xᵀ · grad` (`gradᵀ · x`), with the transposes read in
/// place.
pub(super) fn linear_backward(
    x: FlexTensor,
    w: FlexTensor,
    grad: FlexTensor,
    wanted: [bool; 2],
    precision: Precision,
    transposed: bool,
) -> [Option<FlexTensor>; 2] {
    let (x_dtype, w_dtype) = (x.dtype(), w.dtype());
    let ([rows, k], [w0, w1]) = (x.shape().dims(), w.shape().dims());
    let n = if transposed { w0 } else { w1 };
    let grad = as_f32(grad);
    let g = f32_slice(&grad);
    let dx = wanted[0].then(|| {
        let w = as_f32(w);
        let w = f32_slice(&w);
        let back = if transposed {
            Operand::rows(w, k)
        } else {
            Operand::transposed(w, n)
        };
        let dx = product_in(precision, Operand::rows(g, n), back, rows, n, k);
        output(dx, [rows, k], x_dtype)
    });
    let dw = wanted[1].then(|| {
        let x = as_f32(x);
        let x = f32_slice(&x);
        let (dw, shape) = if transposed {
            let dw = product_in(
                precision,
                Operand::transposed(g, n),
                Operand::rows(x, k),
                n,
                rows,
                k,
            );
            (dw, [n, k])
        } else {
            let dw = product_in(
                precision,
                Operand::transposed(x, k),
                Operand::rows(g, n),
                k,
                rows,
                n,
            );
            (dw, [k, n])
        };
        output(dw, shape, w_dtype)
    });
    [dx, dw]
}

/// The gradients of the SwiGLU gate for `gate` and `up`.
pub(super) fn swiglu_backward(
    gate: FlexTensor,
    up: FlexTensor,
    grad: FlexTensor,
) -> [FlexTensor; 2] {
    let (dtype, shape) = (gate.dtype(), gate.shape());
    let (gate, up, grad) = (as_f32(gate), as_f32(up), as_f32(grad));
    let (dgate, dup) =
        elementwise::swiglu_backward(f32_slice(&gate), f32_slice(&up), f32_slice(&grad));
    [
        output(dgate, shape.clone(), dtype),
        output(dup, shape, dtype),
    ]
}

/// RMSNorm's output and each row's inverse RMS (f32, for the backward pass).
pub(super) fn rms_norm_forward(
    x: FlexTensor,
    weight: FlexTensor,
    eps: f64,
) -> (FlexTensor, FlexTensor) {
    let (dtype, shape) = (x.dtype(), x.shape());
    let (x, weight) = (as_f32(x), as_f32(weight));
    let (out, inv_rms) = elementwise::rms_norm(f32_slice(&x), f32_slice(&weight), eps as f32);
    let rows = inv_rms.len();
    (
        output(out, shape, dtype),
        output(inv_rms, [rows], DType::F32),
    )
}

/// RMSNorm's gradients for `x` and the weight.
pub(super) fn rms_norm_backward(
    x: FlexTensor,
    weight: FlexTensor,
    inv_rms: &FlexTensor,
    grad: FlexTensor,
) -> [FlexTensor; 2] {
    let (dtype, shape, width) = (x.dtype(), x.shape(), weight.shape()[0]);
    let (x, weight, grad) = (as_f32(x), as_f32(weight), as_f32(grad));
    let (dx, dweight) = elementwise::rms_norm_backward(
        f32_slice(&x),
        f32_slice(&weight),
        f32_slice(inv_rms),
        f32_slice(&grad),
    );
    [output(dx, shape, dtype), output(dweight, [width], dtype)]
}

/// RoPE, or with `transposed` its gradient, on `x` `[batch, seq, heads, d]`.
pub(super) fn rope_any(
    x: FlexTensor,
    cos: FlexTensor,
    sin: FlexTensor,
    transposed: bool,
) -> FlexTensor {
    let (dtype, shape) = (x.dtype(), x.shape());
    let d = shape[3];
    let (x, cos, sin) = (as_f32(x), as_f32(cos), as_f32(sin));
    let out = elementwise::rope(
        f32_slice(&x),
        f32_slice(&cos),
        f32_slice(&sin),
        d,
        transposed,
    );
    output(out, shape, dtype)
}

/// The gradient of `token_nll` with respect to the logits, from the forward's output `nll` and
/// the incoming gradient `grad` `[rows]`.
pub(super) fn token_nll_backward(
    logits: FlexTensor,
    targets: FlexTensor,
    nll: FlexTensor,
    grad: FlexTensor,
) -> FlexTensor {
    let dtype = logits.dtype();
    let [rows, vocab] = logits.shape().dims();
    let (logits, nll, grad) = (as_f32(logits), as_f32(nll), as_f32(grad));
    let dlogits = cross_entropy::token_nll_backward(
        f32_slice(&logits),
        &ids(targets),
        f32_slice(&nll),
        f32_slice(&grad),
        vocab,
    );
    output(dlogits, [rows, vocab], dtype)
}

impl FusedOps for Flex {
    fn adamw_update(
        param: FlexTensor,
        grad: FlexTensor,
        m: FlexTensor,
        v: FlexTensor,
        step: AdamWStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let n = param.shape()[0];
        let grad = as_f32(grad);
        let mut param = owned_f32(param, n);
        let (mut m, mut v) = if step.first {
            let zeros = || FlexTensor::from_data(TensorData::new(vec![0.0f32; n], [n]));
            (zeros(), zeros())
        } else {
            (owned_f32(m, n), owned_f32(v, n))
        };
        adamw::update(
            param.storage_mut::<f32>(),
            m.storage_mut::<f32>(),
            v.storage_mut::<f32>(),
            f32_slice(&grad),
            &step,
        );
        (param, m, v)
    }

    fn linear(x: FlexTensor, w: FlexTensor, precision: Precision) -> FlexTensor {
        let dtype = x.dtype();
        let ([rows, k], [_, n]) = (x.shape().dims(), w.shape().dims());
        let x = as_f32(x);
        let x = Operand::rows(f32_slice(&x), k);
        let y = if precision == Precision::Bf16 && w.dtype() == DType::BF16 {
            product_packed(x, &packed_bf16(&w), rows)
        } else {
            let w = as_f32(w);
            product_in(precision, x, Operand::rows(f32_slice(&w), n), rows, k, n)
        };
        output(y, [rows, n], dtype)
    }

    fn matmul_few_rows(x: FlexTensor, w: FlexTensor, precision: Precision) -> FlexTensor {
        let dtype = x.dtype();
        let ([rows, k], [_, n]) = (x.shape().dims(), w.shape().dims());
        let x = as_f32(x);
        let rounded = rounded_for(precision, f32_slice(&x));
        let x = rounded.as_deref().unwrap_or(f32_slice(&x));
        if let Some(codes) = codes::codes_of(&w) {
            return output(
                codes::matmul_few_rows_codes(x, &codes, rows),
                [rows, n],
                dtype,
            );
        }
        let w = weight_for(precision, w);
        // Half-precision weights are read as they are stored, widened in the kernel.
        let w = match w.dtype() {
            DType::BF16 | DType::F16 => w.to_contiguous(),
            _ => as_f32(w),
        };
        let out = match w.dtype() {
            DType::BF16 => matvec::matmul_few_rows(
                x,
                w.as_slice::<half::bf16>().expect("contiguous"),
                rows,
                k,
                n,
            ),
            DType::F16 => matvec::matmul_few_rows(
                x,
                w.as_slice::<half::f16>().expect("contiguous"),
                rows,
                k,
                n,
            ),
            _ => matvec::matmul_few_rows(x, f32_slice(&w), rows, k, n),
        };
        output(out, [rows, n], dtype)
    }

    fn matmul_transposed(x: FlexTensor, t: FlexTensor, precision: Precision) -> FlexTensor {
        let dtype = x.dtype();
        let ([rows, k], [n, _]) = (x.shape().dims(), t.shape().dims());
        let x = as_f32(x);
        // bf16 products take the packed tiles at every row count, as `linear` does.
        let out = if precision == Precision::F32 && rows <= super::dispatch::FEW_ROWS {
            let x = f32_slice(&x);
            let t = match t.dtype() {
                DType::BF16 | DType::F16 => t.to_contiguous(),
                _ => as_f32(t),
            };
            match t.dtype() {
                DType::BF16 => matvec::matmul_few_rows_transposed(
                    x,
                    t.as_slice::<half::bf16>().expect("contiguous"),
                    rows,
                    k,
                    n,
                ),
                DType::F16 => matvec::matmul_few_rows_transposed(
                    x,
                    t.as_slice::<half::f16>().expect("contiguous"),
                    rows,
                    k,
                    n,
                ),
                _ => matvec::matmul_few_rows_transposed(x, f32_slice(&t), rows, k, n),
            }
        } else if precision == Precision::Bf16 && t.dtype() == DType::BF16 {
            let packed = packed_weight(&t, true, || {
                let t = as_f32(t.clone());
                PackedB::new(Operand::transposed(f32_slice(&t), k), k, n)
            });
            product_packed(Operand::rows(f32_slice(&x), k), &packed, rows)
        } else {
            let t = as_f32(t);
            product_in(
                precision,
                Operand::rows(f32_slice(&x), k),
                Operand::transposed(f32_slice(&t), k),
                rows,
                k,
                n,
            )
        };
        output(out, [rows, n], dtype)
    }

    fn rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rope_any(x, cos, sin, false)
    }

    fn swiglu(gate: FlexTensor, up: FlexTensor) -> FlexTensor {
        let (dtype, shape) = (gate.dtype(), gate.shape());
        let (gate, up) = (as_f32(gate), as_f32(up));
        output(
            elementwise::swiglu(f32_slice(&gate), f32_slice(&up)),
            shape,
            dtype,
        )
    }

    fn rms_norm(x: FlexTensor, weight: FlexTensor, eps: f64) -> FlexTensor {
        rms_norm_forward(x, weight, eps).0
    }

    fn causal_attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        key_real: Vec<bool>,
    ) -> FlexTensor {
        let s = attention_shape(&q, &k);
        let dtype = q.dtype();
        let (q, k, v) = (as_f32(q), positions_view(k), positions_view(v));
        let (q, k, v) = (f32_slice(&q), view_of(&k), view_of(&v));
        let out = if s.queries > attention::FEW_QUERIES {
            attention::attend_blocked(q, k, v, &key_real, s)
        } else {
            attention::attend_few_queries(q, k, v, &key_real, s)
        };
        output(out, [s.batch, s.queries, s.heads, s.head_dim], dtype)
    }

    fn token_nll(logits: FlexTensor, targets: FlexTensor) -> FlexTensor {
        let dtype = logits.dtype();
        let [rows, vocab] = logits.shape().dims();
        let logits = as_f32(logits);
        let nll = cross_entropy::token_nll(f32_slice(&logits), &ids(targets), vocab);
        output(nll, [rows], dtype)
    }
}

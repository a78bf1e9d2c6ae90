//! Which kernel runs each fused operation, and the operations themselves.
//!
//! [`kernel`] is the whole routing, as a table (also in the crate's README):
//!
//! | op | `flex`, autodiff | `flex`, inference | other backends |
//! |---|---|---|---|
//! | `token_nll`, `causal_attention`, `swiglu`, `rms_norm`, `rope` | fused | fused | composed |
//! | `linear` (`[rows, k] · [k, n]`) | fused (`gemm`; bf16: `bf16.rs`) | f32: ≤ 64 rows few-rows kernel (the weight streamed in its stored dtype), more fused; bf16: fused, the weight packed once, at every row count; a quantized weight's integer codes (`codes.rs`) are read for ≤ 64 rows in f32, ≤ 4 in bf16 | Burn's matmul |
//! | `tied_head` (`x · tableᵀ`) | fused | fused (f32, ≤ 64 rows: the table streamed in its stored dtype; bf16: packed once) | composed |
//! | `adamw_update` | composed | fused | composed |
//!
//! "Fused" is the `FusedOps` kernel of the `flex` backend (with its own backward under
//! autodiff); "composed" is the same function from Burn's operations (`composed.rs`). The
//! products of `linear` and `tied_head` take a [`Precision`]; bf16 products exist on `flex`
//! only (other backends refuse them when the model is configured, see `Model::with_precision`).

use burn::backend::{
    BackendTensor, Dispatch, DispatchAutodiffContext, DispatchDevice, DispatchTensor,
    DispatchTensorKind,
};
use burn::tensor::{Device, Int, Tensor};

use super::composed::{
    composed_adamw_update, composed_causal_attention, composed_rms_norm, composed_rope,
    composed_swiglu, composed_tied_head, composed_token_nll,
};
use super::{AdamWStep, FusedOps};
use crate::Precision;

/// Rows up to which [`linear`] streams the weight itself in f32 inference (decoding's
/// products): each row's sums are then the same whatever rows share the product (`gemm`'s are
/// not), so a slot's generation does not depend on how many slots decode, up to this many.
/// Measured on SmolLM2-135M: 16 slots decoded 1.25× faster than with `gemm` (which packs the
/// whole weight for every product); 32 slots 159 tokens/s against 165 with `gemm` beyond 16
/// rows (Intel Xeon, 2026-12-07). With half-precision weights the general product would first
/// widen a copy of the whole weight (a 32-token prompt's prefill with bf16 weights: 50–59 ms
/// streamed instead of 74).
pub(crate) const FEW_ROWS: usize = 64;

/// Rows up to which a bf16 product reads a quantized weight's integer codes rather than its
/// packed de-quantized bf16 values: a byte a weight is the faster read for a few rows (batch-1
/// decoding at SmolLM2's shape 94 tokens/s against 60), the packed tiles' multiply-adds from
/// about 16 rows (274 tokens/s against 242; 32 rows 330 against 248; Intel Xeon, 2026-12-07).
/// The two differ in the last bits, so an 8-bit model's bf16 generations can change with the
/// number of slots (`docs/guarantees.md`).
pub(crate) const BF16_CODES_ROWS: usize = 4;

/// A fused operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    TokenNll,
    CausalAttention,
    Swiglu,
    RmsNorm,
    Rope,
    Linear,
    /// `linear` whose weight is stored in half precision (`WeightDtype`).
    HalfLinear,
    TiedHead,
    AdamW,
}

/// What runs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// The `flex` backend's `FusedOps` kernel.
    Fused,
    /// `matmul_few_rows`: decoding's products, the weight streamed once by spinning threads.
    FewRows,
    /// Burn's own operations.
    Composed,
}

/// Whether `device` is the `flex` CPU backend (with or without autodiff).
pub fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// The table of the module docs: the kernel of `op` on `device` for `rows` rows.
pub(crate) fn kernel(op: Op, device: &Device, rows: usize) -> Kernel {
    let flex = is_flex(device);
    match (op, flex, device.is_autodiff()) {
        (_, false, _) => Kernel::Composed,
        (Op::AdamW, true, true) => Kernel::Composed,
        (Op::Linear, true, false) if rows <= FEW_ROWS => Kernel::FewRows,
        (Op::HalfLinear, true, false) if rows <= FEW_ROWS => Kernel::FewRows,
        (
            Op::TokenNll
            | Op::CausalAttention
            | Op::Swiglu
            | Op::RmsNorm
            | Op::Rope
            | Op::Linear
            | Op::HalfLinear
            | Op::TiedHead
            | Op::AdamW,
            true,
            _,
        ) => Kernel::Fused,
    }
}

/// The SwiGLU gate `silu(gate) · up`, element-wise, differentiable in both inputs.
///
/// ```
/// use burn::tensor::Tensor;
/// let device = burn::tensor::Device::flex();
/// let gate = Tensor::<1>::from_floats([0.0, 1.0], &device);
/// let up = Tensor::<1>::from_floats([5.0, 2.0], &device);
/// let y: Vec<f32> = lume_kernels::swiglu(gate, up).into_data().try_to_vec().unwrap();
/// assert_eq!(y[0], 0.0);
/// assert!((y[1] - 2.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
/// ```
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    match kernel(Op::Swiglu, &gate.device(), 0) {
        Kernel::Composed => composed_swiglu(gate, up),
        _ => Tensor::from_dispatch(<Dispatch as FusedOps>::swiglu(
            gate.into_dispatch(),
            up.into_dispatch(),
        )),
    }
}

/// One AdamW update (PyTorch's formulation, decoupled weight decay) of a flat parameter from
/// its gradient and moments, all `[n]` and outside autodiff: returns the new parameter, first
/// and second moments. `m` and `v` are ignored on the first update (`step.first`). One pass on
/// the CPU instead of thirteen, written over the memory of `param`, `m` and `v` where no other
/// tensor shares it (an optimizer's own state and parameters), so a step allocates nothing.
pub fn adamw_update(
    param: Tensor<1>,
    grad: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    step: AdamWStep,
) -> [Tensor<1>; 3] {
    let n = param.dims()[0];
    match kernel(Op::AdamW, &param.device(), n) {
        Kernel::Composed => composed_adamw_update(param, grad, m, v, step),
        _ => {
            let (param, m, v) = <Dispatch as FusedOps>::adamw_update(
                param.into_dispatch(),
                grad.into_dispatch(),
                m.into_dispatch(),
                v.into_dispatch(),
                step,
            );
            [param, m, v].map(Tensor::from_dispatch)
        }
    }
}

/// `layer.forward(x)` as one `[rows, k] · [k, n]` product (see the table for which kernel).
/// Weights stored in half precision (see `WeightDtype`) are widened for the general product;
/// the few-rows kernel reads them as they are. A weight with a LoRA adapter (`W + s·A·B`)
/// computes `x·W + s·(x·A)·B`, as PEFT does: the frozen `W` gets no gradient and no `[k, n]`
/// delta is formed (materialising it made every LoRA step cost a full one).
pub fn linear<const D: usize>(
    layer: &burn::nn::Linear,
    x: Tensor<D>,
    precision: Precision,
) -> Tensor<D> {
    let dims = x.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let x = x.reshape([rows, dims[D - 1]]);
    let y = match layer.weight.adapter() {
        Some(adapter) => {
            let low = product(adapter.a.val(), x.clone(), precision);
            product(layer.weight.base(), x, precision)
                + product(adapter.b.val(), low, precision).mul_scalar(adapter.scale)
        }
        None => product(layer.weight.val(), x, precision),
    };
    with_bias(layer, y, dims)
}

/// `layer`'s output `y` `[rows, n]` plus its bias, in the input's shape `dims` with `n` last.
fn with_bias<const D: usize>(
    layer: &burn::nn::Linear,
    y: Tensor<2>,
    dims: [usize; D],
) -> Tensor<D> {
    let n = y.dims()[1];
    let y = match &layer.bias {
        Some(bias) => y + bias.val().unsqueeze_dim::<2>(0),
        None => y,
    };
    let mut out = dims;
    out[D - 1] = n;
    y.reshape(out)
}

/// `layer.forward(x)` for every layer of `layers` (all reading the same `x`: a block's query,
/// key and value projections, or its gate and up projections), the outputs of [`linear`] bit
/// for bit. In bf16 inference on the CPU, one product for all of them (`x` packed once, one
/// wait for the threads instead of one per layer); elsewhere (training, another backend, f32,
/// LoRA adapters, integer codes) one [`linear`] per layer.
pub fn linear_group<const D: usize>(
    layers: &[&burn::nn::Linear],
    x: Tensor<D>,
    precision: Precision,
) -> Vec<Tensor<D>> {
    let dims = x.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let grouped = (precision == Precision::Bf16)
        .then(|| inference_flex(x.clone().reshape([rows, dims[D - 1]])))
        .flatten()
        .and_then(|x| {
            let weights = layers
                .iter()
                .map(|layer| {
                    let weight = layer.weight.val();
                    let direct = layer.weight.adapter().is_none()
                        && weight.dtype() == burn::tensor::DType::BF16
                        && !(rows <= BF16_CODES_ROWS && super::codes::has_codes(&weight));
                    direct.then(|| inference_flex(weight)).flatten()
                })
                .collect::<Option<Vec<_>>>()?;
            Some(super::flex::linear_group_bf16(x, &weights))
        });
    let Some(outputs) = grouped else {
        return layers
            .iter()
            .map(|layer| linear(layer, x.clone(), precision))
            .collect();
    };
    outputs
        .into_iter()
        .zip(layers)
        .map(|(y, layer)| {
            let y = Tensor::<2>::from_dispatch(DispatchTensor {
                kind: DispatchTensorKind::Flex(BackendTensor::Float(y)),
                autodiff: DispatchAutodiffContext::Disabled,
            });
            with_bias(layer, y, dims)
        })
        .collect()
}

/// The `flex` tensor behind `t` when it lives on the CPU backend without autodiff.
fn inference_flex(t: Tensor<2>) -> Option<burn_flex::FlexTensor> {
    match t.into_dispatch() {
        DispatchTensor {
            kind: DispatchTensorKind::Flex(BackendTensor::Float(t)),
            autodiff: DispatchAutodiffContext::Disabled,
        } => Some(t),
        _ => None,
    }
}

/// `x · weight` for `x` `[rows, k]` and `weight` `[k, n]` (see the table for which kernel).
fn product(weight: Tensor<2>, x: Tensor<2>, precision: Precision) -> Tensor<2> {
    let rows = x.dims()[0];
    let narrowed = weight.dtype() != x.dtype();
    let op = if narrowed { Op::HalfLinear } else { Op::Linear };
    let route = match kernel(op, &x.device(), rows) {
        // bf16 products take the packed tiles (`bf16.rs`) whatever the rows, so a row's sums do
        // not depend on how many rows decode beside it (with 1 row as fast as streaming the
        // weight, within noise; from 2 rows faster); only a few rows read integer codes.
        Kernel::FewRows
            if precision == Precision::Bf16
                && !(rows <= BF16_CODES_ROWS && super::codes::has_codes(&weight)) =>
        {
            Kernel::Fused
        }
        route => route,
    };
    // bf16 products read a bf16 weight as it is stored (packed once, `packed.rs`).
    let weight = if narrowed && route != Kernel::FewRows && precision == Precision::F32 {
        weight.cast(x.dtype())
    } else {
        weight
    };
    // One `[rows, k] · [k, n]` product: on a batch `[b, t, k]` Burn broadcasts the weight, and
    // its backward then computes a weight gradient per batch row and sums them (measured: the
    // head's alone was a 64 MB tensor per step).
    match route {
        Kernel::FewRows => Tensor::from_dispatch(<Dispatch as FusedOps>::matmul_few_rows(
            x.into_dispatch(),
            weight.into_dispatch(),
            precision,
        )),
        Kernel::Fused => Tensor::from_dispatch(<Dispatch as FusedOps>::linear(
            x.into_dispatch(),
            weight.into_dispatch(),
            precision,
        )),
        Kernel::Composed => x.matmul(weight),
    }
}

/// The logits of a tied output head: `x` `[rows, hidden]` times the embedding table
/// `[vocab, hidden]` transposed. The fused kernel reads the table in place and in its stored
/// dtype (decoding streams it once per token; a transposed matmul with a half-precision table
/// widened a copy of the whole table per call).
pub fn tied_head(x: Tensor<2>, table: Tensor<2>, precision: Precision) -> Tensor<2> {
    match kernel(Op::TiedHead, &x.device(), x.dims()[0]) {
        Kernel::Composed => composed_tied_head(x, table),
        _ => Tensor::from_dispatch(<Dispatch as FusedOps>::matmul_transposed(
            x.into_dispatch(),
            table.into_dispatch(),
            precision,
        )),
    }
}

/// Rotary position embedding of `x` `[batch, seq, heads, head_dim]` with `cos`, `sin`
/// `[batch, seq, 1, head_dim]`, in Hugging Face's `rotate_half` convention:
/// `x·cos + rotate_half(x)·sin` with `rotate_half([a, b]) = [−b, a]`. Differentiable in `x`
/// (the tables are constants).
pub fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    match kernel(Op::Rope, &x.device(), 0) {
        Kernel::Composed => composed_rope(x, cos, sin),
        _ => Tensor::from_dispatch(<Dispatch as FusedOps>::rope(
            x.into_dispatch(),
            cos.into_dispatch(),
            sin.into_dispatch(),
        )),
    }
}

/// RMSNorm over the last dimension, `x / √(mean(x²) + eps) · weight`, differentiable in `x`
/// and `weight`.
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    match kernel(Op::RmsNorm, &x.device(), 0) {
        Kernel::Composed => composed_rms_norm(x, weight, eps),
        _ => Tensor::from_dispatch(<Dispatch as FusedOps>::rms_norm(
            x.into_dispatch(),
            weight.into_dispatch(),
            eps,
        )),
    }
}

/// The next-token negative log-likelihood of each row: `logsumexp(logits[r]) −
/// logits[r][targets[r]]` for `logits` `[rows, vocab]` and `targets` `[rows]`, differentiable
/// with respect to the logits. Equal to `-log_softmax(logits).gather(targets)`, in one pass
/// over the vocabulary (two with the backward) on the CPU.
///
/// ```
/// use burn::tensor::{Int, Tensor};
/// let device = burn::tensor::Device::flex();
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 0.0]], &device);
/// let targets = Tensor::<1, Int>::from_ints([1, 0], &device);
/// let nll: Vec<f32> = lume_kernels::token_nll(logits, targets).into_data().try_into_vec().unwrap();
/// assert!((nll[0] - 2f32.ln()).abs() < 1e-6);
/// assert!((nll[1] - (1.0 + (-2f32).exp()).ln()).abs() < 1e-6);
/// ```
///
/// # Panics
/// When `targets` does not have one entry per row of `logits` (a programming error, as in
/// Burn's own shape checks).
pub fn token_nll(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let ([rows, _], [n]) = (logits.dims(), targets.dims());
    assert_eq!(n, rows, "token_nll: {rows} rows of logits but {n} targets");
    match kernel(Op::TokenNll, &logits.device(), rows) {
        Kernel::Composed => composed_token_nll(logits, targets),
        _ => Tensor::from_dispatch(<Dispatch as FusedOps>::token_nll(
            logits.into_dispatch(),
            targets.into_dispatch(),
        )),
    }
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
    match kernel(Op::CausalAttention, &q.device(), b * t) {
        Kernel::Composed => composed_causal_attention(q, k, v, key_real),
        _ => Tensor::from_dispatch(<Dispatch as FusedOps>::causal_attention(
            q.into_dispatch(),
            k.into_dispatch(),
            v.into_dispatch(),
            key_real.to_vec(),
        )),
    }
}

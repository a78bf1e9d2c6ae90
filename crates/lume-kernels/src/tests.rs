//! The fused kernels against their composed references, forward and backward.
use burn::tensor::{DType, Distribution, Int, Tensor, TensorData};

use crate::Precision;

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
    let device = burn::tensor::Device::flex().autodiff();
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
    let device = burn::tensor::Device::flex().autodiff();
    // Multi-head and grouped-query; a full prefill, and new queries after a cache.
    for (heads, kv_heads, queries, keys) in [(4, 4, 7, 7), (4, 2, 5, 5), (6, 3, 2, 9), (2, 1, 1, 6)]
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
    // place: here the filled prefix of a longer buffer, so rows lie apart in memory. The last
    // shape is enough work to be split between the decoding threads.
    let device = burn::tensor::Device::flex();
    for (heads, kv_heads, queries, keys) in
        [(4, 4, 1, 6), (6, 3, 2, 9), (4, 2, 8, 8), (9, 3, 2, 400)]
    {
        let [q, k, v] = attention_inputs(&device, heads, kv_heads, queries, keys + 5);
        let (k, v) = (k.slice([0..3, 0..keys]), v.slice([0..3, 0..keys]));
        for mask in [Vec::new(), key_real(keys)] {
            let fused = super::causal_attention(q.clone(), k.clone(), v.clone(), &mask);
            let composed = super::composed_causal_attention(q.clone(), k.clone(), v.clone(), &mask);
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
    let device = burn::tensor::Device::flex().autodiff();
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
    let device = burn::tensor::Device::flex().autodiff();
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
    use super::dispatch::FEW_ROWS;
    let device = burn::tensor::Device::flex();
    let layer = burn::nn::LinearConfig::new(160, 1100).init(&device);
    let with_weight = |weight: Tensor<2>| burn::nn::Linear {
        weight: burn::module::Param::from_tensor(weight),
        bias: layer.bias.clone(),
    };
    // Half-precision weights stream as they are stored; both routes equal the widened product.
    let narrowed = with_weight(layer.weight.val().cast(DType::BF16));
    let widened = with_weight(narrowed.weight.val().cast(DType::F32));
    let cases = [(&layer, &layer, [1, 3, FEW_ROWS, FEW_ROWS + 1], "f32")];
    let half = [(&narrowed, &widened, [1, 17, FEW_ROWS, FEW_ROWS + 1], "bf16")];
    for (fast_layer, plain_layer, row_counts, dtype) in cases.into_iter().chain(half) {
        for rows in row_counts {
            let x = Tensor::<3>::random([1, rows, 160], Distribution::Normal(0.0, 1.0), &device);
            let fast = values(super::linear(fast_layer, x.clone(), Precision::F32));
            let plain = values(plain_layer.forward(x));
            assert_close(
                &fast,
                &plain,
                1e-5,
                &format!("{rows} rows, {dtype} weights"),
            );
        }
    }
}

/// A block's projections in one bf16 product give each `linear`'s output bit for bit: widths
/// that end inside a column panel, a bias, one row (a decoding slot), a partial panel, several
/// panels of rows.
#[test]
fn a_group_of_linear_layers_gives_each_layers_output_bit_for_bit() {
    let device = burn::tensor::Device::flex();
    let bf16 = |k, n, bias| {
        let layer = burn::nn::LinearConfig::new(k, n)
            .with_bias(bias)
            .init(&device);
        burn::nn::Linear {
            weight: burn::module::Param::from_tensor(layer.weight.val().cast(DType::BF16)),
            bias: layer.bias,
        }
    };
    let layers = [
        bf16(150, 96, false),
        bf16(150, 45, true),
        bf16(150, 32, false),
    ];
    let refs: Vec<&burn::nn::Linear> = layers.iter().collect();
    for rows in [1, 5, 40] {
        let x = Tensor::<3>::random([1, rows, 150], Distribution::Normal(0.0, 1.0), &device);
        let grouped = super::linear_group(&refs, x.clone(), Precision::Bf16);
        assert_eq!(grouped.len(), layers.len());
        for (i, (y, layer)) in grouped.into_iter().zip(&layers).enumerate() {
            let alone = super::linear(layer, x.clone(), Precision::Bf16);
            assert_eq!(y.dims(), alone.dims());
            let bits = |t: Tensor<3>| values(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(y), bits(alone), "{rows} rows, layer {i}");
        }
    }
}

#[test]
fn linear_kernel_matches_burn_forward_and_backward() {
    // A batch `[b, t, k]` with a bias, under autodiff: the output and the gradients of the
    // input, the weight and the bias against Burn's own `Linear`. Sizes large enough for
    // the product to run on several threads, and odd ones.
    let device = burn::tensor::Device::flex().autodiff();
    for (b, t, k, n) in [(2, 3, 5, 7), (3, 100, 190, 210)] {
        let layer = burn::nn::LinearConfig::new(k, n).init(&device);
        let x = Tensor::<3>::random([b, t, k], Distribution::Normal(0.0, 1.0), &device);
        let weights = Tensor::<3>::random([b, t, n], Distribution::Normal(0.0, 1.0), &device);
        let (xa, xb) = (x.clone().require_grad(), x.require_grad());
        let ya = super::linear(&layer, xa.clone(), Precision::F32);
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

/// `x` rounded to bf16, in f32 (Burn's cast rounds to nearest even, as the kernels do).
fn bf16_rounded<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.cast(DType::BF16).cast(DType::F32)
}

#[test]
fn bf16_linear_is_the_product_of_rounded_operands_forward_and_backward() {
    // Under autodiff (packed kernel forward and backward), and for inference with the weight
    // stored in bf16 (streaming kernel up to FEW_ROWS rows, packed beyond): every product is
    // Burn's f32 product of operands rounded to bf16.
    use super::dispatch::FEW_ROWS;
    let device = burn::tensor::Device::flex().autodiff();
    for (b, t, k, n) in [(2, 3, 5, 7), (3, 100, 190, 210)] {
        let layer = burn::nn::LinearConfig::new(k, n).init(&device);
        let x = Tensor::<3>::random([b, t, k], Distribution::Normal(0.0, 1.0), &device);
        let upstream = Tensor::<3>::random([b, t, n], Distribution::Normal(0.0, 1.0), &device);
        let xa = x.clone().require_grad();
        let ya = super::linear(&layer, xa.clone(), Precision::Bf16);
        let (xr, wr) = (bf16_rounded(x), bf16_rounded(layer.weight.val()));
        let bias = layer.bias.as_ref().expect("bias").val();
        let want = xr.clone().matmul(wr.clone().unsqueeze()) + bias.clone().unsqueeze();
        let what = format!("bf16 [{b}, {t}, {k}] · [{k}, {n}]");
        assert_close(&values(ya.clone()), &values(want), 1e-5, &what);
        let grads = (ya * upstream.clone()).sum().backward();
        let g = bf16_rounded(upstream).reshape([b * t, n]);
        let want_dx = g.clone().matmul(wr.transpose()).reshape([b, t, k]);
        let want_dw = xr.reshape([b * t, k]).transpose().matmul(g);
        let dx = xa.grad(&grads).expect("input gradient");
        let dw = layer.weight.val().grad(&grads).expect("weight gradient");
        assert_close(&values(dx), &values(want_dx), 1e-5, &format!("dx, {what}"));
        assert_close(&values(dw), &values(want_dw), 1e-5, &format!("dw, {what}"));
    }
    let device = burn::tensor::Device::flex();
    let layer = burn::nn::LinearConfig::new(160, 1100).init(&device);
    let stored = burn::nn::Linear {
        weight: burn::module::Param::from_tensor(layer.weight.val().cast(DType::BF16)),
        bias: layer.bias.clone(),
    };
    for rows in [1, 3, FEW_ROWS, FEW_ROWS + 1, 70] {
        let x = Tensor::<3>::random([1, rows, 160], Distribution::Normal(0.0, 1.0), &device);
        let got = values(super::linear(&stored, x.clone(), Precision::Bf16));
        let want = values(
            bf16_rounded(x).matmul(bf16_rounded(layer.weight.val()).unsqueeze())
                + layer.bias.as_ref().expect("bias").val().unsqueeze(),
        );
        assert_close(
            &got,
            &want,
            1e-5,
            &format!("bf16, {rows} rows, bf16 weights"),
        );
    }
}

/// Decoding's products give a row the same bits whatever rows share the product (f32 up to
/// `FEW_ROWS` rows, bf16 at any count; weights stored as `lume eval` stores them), so a slot's
/// generation does not depend on how many slots decode beside it.
#[test]
fn a_rows_decoding_products_do_not_depend_on_the_rows_beside_it() {
    use super::dispatch::FEW_ROWS;
    let device = burn::tensor::Device::flex();
    let (k, n) = (576, 1100);
    let layer = burn::nn::LinearConfig::new(k, n).init(&device);
    let stored = burn::nn::Linear {
        weight: burn::module::Param::from_tensor(layer.weight.val().cast(DType::BF16)),
        bias: layer.bias.clone(),
    };
    let table = Tensor::<2>::random([n, k], Distribution::Normal(0.0, 1.0), &device);
    let x = Tensor::<2>::random([70, k], Distribution::Normal(0.0, 1.0), &device);
    let bits = |t: Tensor<2>| -> Vec<u32> {
        values(t.slice([0..1, 0..n]))
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let cases = [
        (&layer, table.clone(), Precision::F32, FEW_ROWS),
        (&stored, table.cast(DType::BF16), Precision::Bf16, 70),
    ];
    for (layer, table, precision, most) in cases {
        let linear = |rows: usize| {
            let x = x.clone().slice([0..rows, 0..k]).unsqueeze::<3>();
            bits(super::linear(layer, x, precision).squeeze_dim(0))
        };
        let head = |rows: usize| {
            let x = x.clone().slice([0..rows, 0..k]);
            bits(super::tied_head(x, table.clone(), precision))
        };
        let (linear_alone, head_alone) = (linear(1), head(1));
        for rows in [2, 3, 5, 12, 13, 16, 17, 32, most] {
            assert_eq!(
                linear(rows),
                linear_alone,
                "{precision:?} linear, {rows} rows"
            );
            assert_eq!(
                head(rows),
                head_alone,
                "{precision:?} tied head, {rows} rows"
            );
        }
    }
}

#[test]
fn tied_head_matches_the_composed_head_forward_and_backward() {
    let device = burn::tensor::Device::flex().autodiff();
    for precision in [Precision::F32, Precision::Bf16] {
        for (rows, k, n) in [(3, 5, 7), (40, 96, 300)] {
            let x = Tensor::<2>::random([rows, k], Distribution::Normal(0.0, 1.0), &device);
            let table = Tensor::<2>::random([n, k], Distribution::Normal(0.0, 1.0), &device);
            let upstream = Tensor::<2>::random([rows, n], Distribution::Normal(0.0, 1.0), &device);
            let (xa, ta) = (x.clone().require_grad(), table.clone().require_grad());
            let ya = super::tied_head(xa.clone(), ta.clone(), precision);
            let round = |t: Tensor<2>| match precision {
                Precision::F32 => t,
                Precision::Bf16 => bf16_rounded(t),
            };
            let (xr, tr, g) = (round(x), round(table), round(upstream.clone()));
            let what = format!("{precision} [{rows}, {k}] · [{n}, {k}]ᵀ");
            assert_close(
                &values(ya.clone()),
                &values(xr.clone().matmul(tr.clone().transpose())),
                1e-5,
                &what,
            );
            let grads = (ya * upstream).sum().backward();
            let dx = xa.grad(&grads).expect("input gradient");
            let dt = ta.grad(&grads).expect("table gradient");
            assert_close(
                &values(dx),
                &values(g.clone().matmul(tr)),
                1e-5,
                &format!("dx, {what}"),
            );
            assert_close(
                &values(dt),
                &values(g.transpose().matmul(xr)),
                1e-5,
                &format!("dt, {what}"),
            );
        }
    }
}

#[test]
fn adamw_kernel_matches_composed() {
    let device = burn::tensor::Device::flex();
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
fn adamw_steps_write_their_own_state_and_leave_shared_tensors_alone() {
    // From the second step on the kernel owns parameter and moments and writes them in place;
    // the first step's parameter is shared with `start`, which must keep its values.
    let device = burn::tensor::Device::flex();
    let n = 70_001;
    let r = || Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), &device);
    let start = r();
    let before = values(start.clone());
    let zeros = || Tensor::<1>::zeros([n], &device);
    let [mut p, mut m, mut v] = [start.clone(), zeros(), zeros()];
    let [mut cp, mut cm, mut cv] = [start.clone(), zeros(), zeros()];
    for t in 1..=3 {
        let g = r();
        let step = super::AdamWStep {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            bias1: 1.0 - 0.9f64.powi(t),
            bias2: 1.0 - 0.999f64.powi(t),
            grad_scale: 1.0,
            first: t == 1,
        };
        [p, m, v] = super::adamw_update(p, g.clone(), m, v, step);
        [cp, cm, cv] = super::composed_adamw_update(cp, g, cm, cv, step);
    }
    for (what, a, b) in [("param", p, cp), ("m", m, cm), ("v", v, cv)] {
        assert_close(&values(a), &values(b), 1e-6, what);
    }
    assert_eq!(
        values(start),
        before,
        "the shared starting parameter changed"
    );
}

#[test]
#[should_panic(expected = "3 rows of logits but 2 targets")]
fn token_nll_names_a_shape_mismatch() {
    let device = burn::tensor::Device::flex();
    let logits = Tensor::<2>::zeros([3, 5], &device);
    let _ = super::token_nll(logits, Tensor::<1, Int>::zeros([2], &device));
}

#[test]
#[should_panic(expected = "key mask of 5 entries")]
fn causal_attention_names_a_bad_mask() {
    let device = burn::tensor::Device::flex();
    let [q, k, v] = attention_inputs(&device, 2, 1, 3, 4);
    let _ = super::causal_attention(q, k, v, &[true; 5]);
}

#[test]
fn kernel_runs_without_autodiff() {
    let device = burn::tensor::Device::flex();
    let (logits, targets, _) = inputs(&device);
    let fused = values(super::token_nll(logits.clone(), targets.clone()));
    let composed = values(super::composed_token_nll(logits, targets));
    assert_close(&fused, &composed, 1e-5, "nll");
}

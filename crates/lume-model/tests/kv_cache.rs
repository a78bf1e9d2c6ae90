//! Incremental decoding through the KV cache gives the logits of a full forward pass, also
//! after the cache has grown past its first capacity and for left-padded batches (whose cached
//! keys the attention kernel reads in place, rows apart in memory), and for quantized weights
//! (decoding reads their integer codes, the full forward their de-quantized values).

use burn::tensor::{Int, Tensor, TensorData};
use lume_model::{
    DeviceSpec, KvCache, LlamaShape, Model, ModelConfig, RoundToNearest, WeightDtype,
};

/// The device `LUME_TEST_DEVICE` names (the CPU when unset).
fn test_device() -> burn::tensor::Device {
    DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap()
}

fn values(x: Tensor<3>) -> Vec<f32> {
    x.into_data().try_to_vec_as::<f32>().expect("f32")
}

#[test]
fn cached_decoding_matches_the_full_forward_past_the_cache_capacity() {
    let config = ModelConfig::llama(LlamaShape {
        vocab_size: 64,
        hidden_size: 32,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        intermediate_size: 48,
        max_positions: 256,
    })
    .expect("shape");
    let device = test_device();
    // Half-precision weights and integer codes are a CPU kernel's business; other backends run
    // f32 here. Quantized, decoding reads the blocks' codes and the full forward their
    // de-quantized values; bf16 storage rounds the latter (not the former) to bf16.
    let on_cpu = DeviceSpec::from_env("LUME_TEST_DEVICE").unwrap() == DeviceSpec::Cpu;
    let variants: &[(WeightDtype, Option<&str>, f32)] = if on_cpu {
        &[
            (WeightDtype::F32, None, 1e-4),
            (WeightDtype::Bf16, None, 1e-4),
            (WeightDtype::F32, Some("int8-g16"), 1e-4),
            (WeightDtype::F32, Some("int4"), 1e-4),
            (WeightDtype::Bf16, Some("int8"), 2e-2),
        ]
    } else {
        &[(WeightDtype::F32, None, 1e-4)]
    };
    for &(dtype, quantize, tolerance) in variants {
        let model = Model::random(config.clone(), 7, &device);
        let model = match quantize {
            Some(scheme) => {
                let scheme: RoundToNearest = scheme.parse().unwrap();
                let model = model.round_to_nearest(scheme).unwrap();
                let model = model.with_weight_dtype(dtype);
                assert_eq!(
                    model.integer_matrices(),
                    2 * 7,
                    "{scheme}: codes on every projection"
                );
                model
            }
            None => model.with_weight_dtype(dtype),
        };
        // Row 0: 3 left-padding tokens then a 4-token prompt; row 1: a 7-token prompt. Then
        // 90 tokens, one per step: the cache starts with room for 64 positions and grows.
        let (b, prompt, steps) = (2usize, 7usize, 90usize);
        let total = prompt + steps;
        let ids: Vec<i64> = (0..b * total)
            .map(|i| ((i * 37 + 11) % 64) as i64)
            .collect();
        let real: Vec<bool> = (0..b)
            .flat_map(|row| (0..total).map(move |j| row == 1 || j >= 3))
            .collect();
        let position = |row: usize, j: usize| if row == 0 { j.saturating_sub(3) } else { j };
        let take = |from: usize, to: usize| -> Tensor<2, Int> {
            let part: Vec<i64> = (0..b)
                .flat_map(|row| ids[row * total + from..row * total + to].iter().copied())
                .collect();
            Tensor::from_data(TensorData::new(part, [b, to - from]), &device)
        };
        let mask_up_to = |to: usize| -> Vec<bool> {
            (0..b)
                .flat_map(|row| real[row * total..row * total + to].iter().copied())
                .collect()
        };
        let positions = |from: usize, to: usize| -> Vec<usize> {
            (0..b)
                .flat_map(|row| (from..to).map(move |j| position(row, j)))
                .collect()
        };

        let full = values(
            model
                .forward_at(
                    take(0, total),
                    &positions(0, total),
                    Some(&mask_up_to(total)),
                    None,
                    false,
                )
                .logits,
        );
        let mut cache = KvCache::default();
        let step_logits = |from: usize, to: usize, cache: &mut KvCache| {
            values(
                model
                    .forward_at(
                        take(from, to),
                        &positions(from, to),
                        Some(&mask_up_to(to)),
                        Some(cache),
                        false,
                    )
                    .logits,
            )
        };
        step_logits(0, prompt, &mut cache);
        let vocab = 64;
        for j in prompt..total {
            let got = step_logits(j, j + 1, &mut cache);
            for row in 0..b {
                // Left padding's own positions are masked everywhere; compare real tokens.
                if !real[row * total + j] {
                    continue;
                }
                let want = &full[(row * total + j) * vocab..][..vocab];
                let got = &got[row * vocab..][..vocab];
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g - w).abs() < tolerance,
                        "{dtype:?} {quantize:?}, row {row}, position {j}: {g} vs {w}"
                    );
                }
            }
        }
        assert_eq!(cache.len(), total);
    }
}

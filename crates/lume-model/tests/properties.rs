//! Invariants on random small shapes: save → load is the identity, and decoding through the KV
//! cache one token at a time gives the full forward pass's logits.

use burn::tensor::{Int, Tensor, TensorData};
use lume_model::{DeviceSpec, KvCache, LlamaShape, Model, ModelConfig};
use proptest::prelude::*;

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

/// A random Llama shape: heads a multiple of the key/value heads, even head width.
fn shape() -> impl Strategy<Value = LlamaShape> {
    (
        1usize..3,
        1usize..3,
        1usize..3,
        1usize..5,
        8usize..48,
        1usize..3,
    )
        .prop_map(|(layers, kv_heads, group, half_head, vocab, ffn)| {
            let heads = kv_heads * group;
            LlamaShape {
                vocab_size: vocab,
                hidden_size: heads * half_head * 2,
                layers,
                heads,
                kv_heads,
                intermediate_size: 16 * ffn,
                max_positions: 64,
            }
        })
}

fn ids(vocab: usize, len: usize, salt: u64) -> Vec<i64> {
    (0..len)
        .map(|i| ((i as u64 * 31 + salt * 17 + 5) % vocab as u64) as i64)
        .collect()
}

fn logits(model: &Model, ids: &[i64]) -> Vec<f32> {
    let device = test_device();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    values(model.forward(input, None, false).logits)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn save_then_load_is_the_identity(shape in shape(), seed in 0u64..1000, len in 1usize..12) {
        let config = ModelConfig::llama(shape).expect("shape");
        let device = test_device();
        let model = Model::random(config.clone(), seed, &device);
        let dir = tempfile::tempdir().expect("tempdir");
        model.save(dir.path()).expect("save");
        let loaded = Model::load(dir.path(), &device).expect("load");
        prop_assert_eq!(&loaded.config, &config);
        let tokens = ids(config.vocab_size, len, seed);
        prop_assert_eq!(logits(&loaded, &tokens), logits(&model, &tokens));
    }

    #[test]
    fn cached_decoding_equals_the_full_forward(
        shape in shape(),
        seed in 0u64..1000,
        prompt in 1usize..6,
        steps in 1usize..10,
    ) {
        let config = ModelConfig::llama(shape).expect("shape");
        let device = test_device();
        let model = Model::random(config.clone(), seed, &device);
        let total = prompt + steps;
        let tokens = ids(config.vocab_size, total, seed);
        let full = logits(&model, &tokens);
        let v = config.vocab_size;
        let mut cache = KvCache::default();
        let mut at = 0;
        for end in std::iter::once(prompt).chain(prompt + 1..=total) {
            let part = Tensor::<2, Int>::from_data(
                TensorData::new(tokens[at..end].to_vec(), [1, end - at]),
                &device,
            );
            let positions: Vec<usize> = (at..end).collect();
            let real = vec![true; end];
            let step = values(
                model

                    .forward_at(part, &positions, Some(&real), Some(&mut cache), false)
                    .logits,
            );
            for (j, chunk) in step.chunks(v).enumerate() {
                let want = &full[(at + j) * v..(at + j + 1) * v];
                let diff = chunk.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                prop_assert!(diff < 1e-4, "position {}: cached vs full differ by {diff}", at + j);
            }
            at = end;
        }
    }
}

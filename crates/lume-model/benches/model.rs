//! Forward pass, training-style forward + backward, and KV-cached decoding at the shape the
//! performance issue compares with PyTorch (hidden 256, 4 layers, 8 heads, ffn 688, vocab 8192).

use std::hint::black_box;

use burn::tensor::{Int, Tensor, TensorData};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lume_model::{DeviceSpec, GenerationConfig, Model, ModelConfig, Precision};

fn config() -> ModelConfig {
    ModelConfig::from_json(
        r#"{"architectures":["LlamaForCausalLM"],"vocab_size":8192,"hidden_size":256,"intermediate_size":688,
        "num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":8,"max_position_embeddings":2048}"#,
        std::path::Path::new("bench"),
    )
    .expect("a valid bench config")
}

fn ids(b: usize, t: usize, seed: i64) -> Vec<i64> {
    (0..(b * t) as i64)
        .map(|i| (i * 7919 + seed) % 8192)
        .collect()
}

fn bench(c: &mut Criterion) {
    lume_model::reuse_freed_memory();
    let config = config();
    let (b, t) = (8, 128);

    let device = DeviceSpec::Cpu.device().expect("cpu");
    let model = Model::new(&config, &device);
    let mut group = c.benchmark_group("model");
    group.throughput(Throughput::Elements((b * t) as u64));
    group.bench_function("forward_b8_t128", |bench| {
        bench.iter(|| {
            let input = Tensor::<2, Int>::from_data(TensorData::new(ids(b, t, 1), [b, t]), &device);
            black_box(model.forward(input, None, false).logits.into_data())
        })
    });

    let train_device = DeviceSpec::Cpu.training_device().expect("cpu");
    for precision in [Precision::F32, Precision::Bf16] {
        let train_model = Model::new(&config, &train_device)
            .with_precision(precision)
            .expect("the CPU has both precisions");
        let name = match precision {
            Precision::F32 => "forward_backward_b8_t128".to_owned(),
            Precision::Bf16 => format!("forward_backward_b8_t128_{precision}"),
        };
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let data = ids(b, t, 2);
                let input = Tensor::<2, Int>::from_data(
                    TensorData::new(data.clone(), [b, t]),
                    &train_device,
                );
                let logits = train_model.forward(input, None, false).logits;
                let [_, _, v] = logits.dims();
                let targets = Tensor::<1, Int>::from_data(
                    TensorData::new(
                        data[1..].iter().copied().chain([0]).collect::<Vec<_>>(),
                        [b * t],
                    ),
                    &train_device,
                );
                let loss = lume_model::token_nll(logits.reshape([b * t, v]), targets).mean();
                black_box(loss.backward())
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(64));
    let prompt: Vec<u32> = ids(1, 32, 3).into_iter().map(|x| x as u32).collect();
    let mut generation = GenerationConfig::greedy(&config, 64);
    generation.eos_token_ids.clear();
    group.bench_function("greedy_64_tokens_after_32_batch1", |bench| {
        bench.iter(|| black_box(model.generate(std::slice::from_ref(&prompt), &generation)))
    });
    let bf16_model = model
        .clone()
        .with_weight_dtype(lume_model::WeightDtype::Bf16);
    group.bench_function("greedy_64_tokens_after_32_batch1_bf16_weights", |bench| {
        bench.iter(|| black_box(bf16_model.generate(std::slice::from_ref(&prompt), &generation)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);

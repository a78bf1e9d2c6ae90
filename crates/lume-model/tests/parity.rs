//! Parity with PyTorch + transformers on tiny random checkpoints (`fixtures/make_parity.py`):
//! logits within 1e-4, answer losses within 1e-5 relative, greedy tokens identical.

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use lume_model::{DeviceSpec, Model, row_losses};
use serde_json::Value;

/// The device `LUME_TEST_DEVICE` names (the CPU when unset).
fn test_device() -> burn::tensor::Device {
    DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap()
}

fn fixture(name: &str) -> (PathBuf, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (dir, expected)
}

fn matrix<T: Copy>(v: &Value, f: impl Fn(&Value) -> T) -> (Vec<T>, usize, usize) {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    (
        rows.iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(&f))
            .collect(),
        rows.len(),
        cols,
    )
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn greedy(model: &Model, prompt: &[i64], steps: usize) -> Vec<i64> {
    let device = test_device();
    let mut ids = prompt.to_vec();
    for _ in 0..steps {
        let t = ids.len();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, t]), &device);
        let logits = model.forward(input, None, false).logits;
        let [_, _, v] = logits.dims();
        let last = logits.slice([0..1, t - 1..t, 0..v]).reshape([v]);
        let next: Vec<i64> = last.argmax(0).into_data().try_to_vec_as::<i64>().unwrap();
        ids.push(next[0]);
    }
    ids[prompt.len()..].to_vec()
}

fn check(name: &str) {
    let (dir, expected) = fixture(name);
    let device = test_device();
    let model = Model::load(&dir, &device).unwrap();
    let config = model.config.clone();
    let (ids, b, t) = matrix(&expected["input_ids"], |x| x.as_i64().unwrap());
    let (mask, _, _) = matrix(&expected["attention_mask"], |x| x.as_i64().unwrap() == 1);
    let (labels, _, _) = matrix(&expected["labels"], |x| x.as_i64().unwrap());
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, t]), &device);
    let logits = model.forward(input, Some(&mask), false).logits;
    let v = config.vocab_size;
    let host: Vec<f32> = logits.clone().into_data().try_to_vec_as::<f32>().unwrap();
    let mut worst = 0.0f64;
    for row in 0..b {
        for col in 0..t {
            let want = &expected["logits"][row][col];
            if want.is_null() {
                continue;
            }
            for (k, w) in want.as_array().unwrap().iter().enumerate() {
                let ours = f64::from(host[(row * t + col) * v + k]);
                worst = worst.max((ours - w.as_f64().unwrap()).abs());
            }
        }
    }
    assert!(worst < 1e-4, "{name}: logits differ by {worst}");

    // Losses: one row at a time, as the fixture computed them.
    for row in 0..b {
        let input = Tensor::<2, Int>::from_data(
            TensorData::new(ids[row * t..(row + 1) * t].to_vec(), [1, t]),
            &device,
        );
        let logits = model
            .forward(input, Some(&mask[row * t..(row + 1) * t]), false)
            .logits;
        let ours = row_losses(logits, &labels[row * t..(row + 1) * t])[0].unwrap();
        let want = expected["losses"][row].as_f64().unwrap();
        assert!(
            ((ours - want) / want).abs() < 1e-5,
            "{name} row {row}: loss {ours} vs {want}"
        );
    }

    for (p, g) in expected["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["greedy"].as_array().unwrap())
    {
        let prompt = ints(p);
        let want = ints(g);
        assert_eq!(
            greedy(&model, &prompt, want.len()),
            want,
            "{name}: greedy tokens"
        );
    }
}

#[test]
fn llama_with_gqa_and_llama3_rope_scaling_matches_transformers() {
    check("llama_gqa");
}

#[test]
fn olmo_with_clip_qkv_and_tied_embeddings_matches_transformers() {
    check("olmo_clip");
}

#[test]
fn qwen2_with_qkv_biases_matches_transformers() {
    check("qwen2_bias");
}

#[test]
fn save_then_load_gives_the_same_logits() {
    for name in ["llama_gqa", "olmo_clip", "qwen2_bias"] {
        let (dir, expected) = fixture(name);
        let device = test_device();
        let model = Model::load(&dir, &device).unwrap();
        let config = model.config.clone();
        let out = tempfile::tempdir().unwrap();
        model.save(out.path()).unwrap();
        let model2 = Model::load(out.path(), &device).unwrap();
        assert_eq!(model2.config, config, "{name}");
        let (ids, b, t) = matrix(&expected["input_ids"], |x| x.as_i64().unwrap());
        let input = || Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, t]), &device);
        let a: Vec<f32> = model
            .forward(input(), None, false)
            .logits
            .into_data()
            .try_to_vec_as()
            .unwrap();
        let c: Vec<f32> = model2
            .forward(input(), None, false)
            .logits
            .into_data()
            .try_to_vec_as()
            .unwrap();
        assert_eq!(a, c, "{name}");
    }
}

#[test]
fn a_checkpoint_that_does_not_fit_names_every_bad_tensor() {
    let (dir, _) = fixture("qwen2_bias");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("model.safetensors"),
        tmp.path().join("model.safetensors"),
    )
    .unwrap();
    // Claim one more layer and a wider MLP than the weights have.
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["num_hidden_layers"] = 3.into();
    config["intermediate_size"] = 65.into();
    std::fs::write(tmp.path().join("config.json"), config.to_string()).unwrap();
    let device = test_device();
    let err = Model::load(tmp.path(), &device).unwrap_err().to_string();
    assert!(
        err.contains("missing tensor model.layers.2.self_attn.q_proj.weight"),
        "{err}"
    );
    assert!(
        err.contains(
            "tensor model.layers.0.mlp.gate_proj.weight has shape [64, 32], expected [65, 32]"
        ),
        "{err}"
    );
}

#[test]
fn kv_cached_batched_generation_matches_transformers_and_unbatched_runs() {
    use lume_model::GenerationConfig;
    for name in ["llama_gqa", "olmo_clip", "qwen2_bias"] {
        let (dir, expected) = fixture(name);
        let device = test_device();
        let model = Model::load(&dir, &device).unwrap();
        let config = model.config.clone();
        let prompts: Vec<Vec<u32>> = expected["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        let want: Vec<Vec<u32>> = expected["greedy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                g.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        // The fixture generated without stopping at EOS.
        let mut generation = GenerationConfig::greedy(&config, 8);
        generation.eos_token_ids.clear();
        for (p, w) in prompts.iter().zip(&want) {
            assert_eq!(
                &model
                    .generate(std::slice::from_ref(p), &generation)
                    .unwrap()[0],
                w,
                "{name}"
            );
        }
        // Both prompts in one left-padded batch (they differ in length).
        assert_eq!(
            model.generate(&prompts, &generation).unwrap(),
            want,
            "{name} batched"
        );
    }
}

//! The engine's inference on text: statistics agree with the plain forward pass, generation
//! decodes.

use std::path::Path;

use burn::tensor::{Int, Tensor, TensorData};
use lume_data::TrainingExample;
use lume_model::{DeviceSpec, Engine, Model, ModelConfig, row_losses};

fn engine() -> (tempfile::TempDir, Engine) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join("tokenizer").join(f), dir.path().join(f)).unwrap();
    }
    // A random Llama over the fixture tokenizer's vocabulary.
    let config_json = r#"{"architectures":["LlamaForCausalLM"],"vocab_size":400,"hidden_size":32,"intermediate_size":64,
        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":4096,"eos_token_id":0,"pad_token_id":1}"#;
    let config = ModelConfig::from_json(config_json, Path::new("config.json")).unwrap();
    let device = DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap();
    Model::new(&config, &device).save(dir.path()).unwrap();
    let engine = Engine::load(dir.path(), device).unwrap();
    (dir, engine)
}

#[test]
fn token_stats_agree_with_the_forward_pass() {
    let (_dir, mut engine) = engine();
    let (prompt, answer) = ("What is the birth date of Tiffi Magenta?", " 1984-12-31");
    let stats = engine.token_stats(prompt, answer).unwrap();
    let example = TrainingExample::prompt_answer(&engine.tokenizer, prompt, answer, None).unwrap();
    assert_eq!(stats.len(), example.answer_tokens());
    let t = example.len();
    let ids: Vec<i64> = example.input_ids.iter().map(|&i| i64::from(i)).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), &engine.device);
    let logits = engine.model.forward(input, None, false).logits;
    let loss = row_losses(logits, &example.labels)[0].unwrap();
    assert!((stats.mean_nll().unwrap() - loss).abs() < 1e-5);
    for (&mu, &var) in stats.expected_log_prob.iter().zip(&stats.log_prob_variance) {
        assert!(mu <= 0.0 && var >= 0.0);
    }
}

#[test]
fn generation_decodes() {
    let (_dir, mut engine) = engine();
    let outputs = engine
        .generate(&["The river stone", "Madera, a"], 5)
        .unwrap();
    assert_eq!(outputs.len(), 2);
}

#[test]
fn prompts_sharing_a_prefix_score_as_they_do_alone() {
    let (_dir, mut engine) = engine();
    let header = "The following are multiple choice questions (with answers) about  river stones.\n\n\
                  Which stone is smoothest?\nA. granite\nB. basalt\nC. flint\nD. quartz\nAnswer: C\n\n";
    // Eleven prompts (more than one batch of eight) of unlike lengths after the header.
    let prompts: Vec<String> = (0..11)
        .map(|i| {
            format!(
                "{header}Which river{} carries stone number {i}?\nA. one\nB. two\nC. three\nD. four\nAnswer:",
                " far".repeat(i % 4)
            )
        })
        .collect();
    let letters = [" A", " B", " C", " D"];
    let shared = engine
        .continuation_logits_shared(&prompts, &letters)
        .unwrap();
    assert_eq!(shared.len(), prompts.len());
    for (prompt, got) in prompts.iter().zip(&shared) {
        let alone = engine.continuation_logits(prompt, &letters).unwrap();
        for (a, b) in alone.iter().zip(got) {
            // Wrong positions would move them by ~1e-4; the rounding of the cache, by ~1e-7.
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
    // Prompts with nothing in common run one by one, with the same answers.
    let unlike = ["Stone", "River bed"].map(String::from);
    let got = engine
        .continuation_logits_shared(&unlike, &letters)
        .unwrap();
    assert_eq!(
        got[1],
        engine.continuation_logits(&unlike[1], &letters).unwrap()
    );
}

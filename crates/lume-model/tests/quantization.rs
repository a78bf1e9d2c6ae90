//! Round-to-nearest quantization: equal to numpy's reference on known blocks
//! (`fixtures/make_rtn.py`), applied to exactly the seven projections of every block, and
//! 8-bit logits close to transformers' f32 logits on the parity fixtures.

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use lume_model::{DeviceSpec, Model, RoundToNearest};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect()
        })
        .collect()
}

#[test]
fn rounding_equals_the_numpy_reference_on_known_blocks() {
    let reference = json(&fixtures().join("rtn/expected.json"));
    let mut checked = 0;
    for case in reference["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let weight = rows(&case["weight"]);
        let (outputs, inputs) = (weight.len(), weight[0].len());
        // Burn's layout is [inputs, outputs]: the transpose of Hugging Face's rows.
        let burn: Vec<f32> = (0..inputs)
            .flat_map(|i| weight.iter().map(move |row| row[i]))
            .collect();
        for (scheme, want) in case["rounded"].as_object().expect("schemes") {
            let rtn: RoundToNearest = scheme.parse().expect("scheme");
            let got = rtn.round_matrix(&burn, inputs, outputs);
            for (o, row) in rows(want).iter().enumerate() {
                for (i, &w) in row.iter().enumerate() {
                    let ours = got[i * outputs + o];
                    assert!(
                        ours == w || (ours - w).abs() <= 1e-7 * w.abs(),
                        "{name} {scheme} [{o}, {i}]: {ours} vs numpy {w}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} blocks checked");
}

fn device() -> burn::tensor::Device {
    DeviceSpec::from_env("LUME_TEST_DEVICE")
        .expect("LUME_TEST_DEVICE")
        .device()
        .expect("device")
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec_as::<f32>().expect("f32")
}

#[test]
fn every_projection_is_rounded_and_nothing_else() {
    let dir = fixtures().join("llama_gqa");
    let model = Model::load(&dir, &device()).expect("fixture model");
    let scheme: RoundToNearest = "int4-g16".parse().expect("scheme");
    let rounded = model.clone().round_to_nearest(scheme).expect("rounded");
    for (before, after) in model.layers.iter().zip(&rounded.layers) {
        let pairs = [
            (&before.self_attn.q_proj, &after.self_attn.q_proj),
            (&before.self_attn.k_proj, &after.self_attn.k_proj),
            (&before.self_attn.v_proj, &after.self_attn.v_proj),
            (&before.self_attn.o_proj, &after.self_attn.o_proj),
            (&before.mlp.gate_proj, &after.mlp.gate_proj),
            (&before.mlp.up_proj, &after.mlp.up_proj),
            (&before.mlp.down_proj, &after.mlp.down_proj),
        ];
        for (b, a) in pairs {
            let [inputs, outputs] = b.weight.val().dims();
            let want = scheme.round_matrix(&host(b.weight.val()), inputs, outputs);
            assert_eq!(host(a.weight.val()), want);
            assert_ne!(host(b.weight.val()), want, "int4 moves some weight");
        }
    }
    assert_eq!(
        host(model.embed_tokens.weight.val()),
        host(rounded.embed_tokens.weight.val()),
        "embeddings keep their precision"
    );
}

/// Largest logit difference to the fixture's transformers logits, relative to the largest
/// logit.
fn logit_error(name: &str, model: &Model) -> f64 {
    let expected = json(&fixtures().join(name).join("expected.json"));
    let ids: Vec<Vec<i64>> = expected["input_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_i64().expect("id"))
                .collect()
        })
        .collect();
    let (b, t) = (ids.len(), ids[0].len());
    let flat: Vec<i64> = ids.concat();
    let mask: Vec<bool> = expected["attention_mask"]
        .as_array()
        .expect("mask")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_i64() == Some(1))
                .collect::<Vec<_>>()
        })
        .collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(flat, [b, t]), &device());
    let logits = model.forward(input, Some(&mask), false).logits;
    let v = model.config.vocab_size;
    let ours: Vec<f32> = logits.into_data().try_to_vec_as().expect("f32");
    let (mut worst, mut scale) = (0f64, 0f64);
    for row in 0..b {
        for col in 0..t {
            let want = &expected["logits"][row][col];
            let Some(want) = want.as_array() else {
                continue;
            };
            for (k, w) in want.iter().enumerate() {
                let w = w.as_f64().expect("logit");
                scale = scale.max(w.abs());
                worst = worst.max((f64::from(ours[(row * t + col) * v + k]) - w).abs());
            }
        }
    }
    worst / scale
}

#[test]
fn eight_bit_logits_stay_within_five_percent_of_transformers_f32() {
    for name in ["llama_gqa", "olmo_clip", "qwen2_bias"] {
        let model = Model::load(&fixtures().join(name), &device()).expect("fixture model");
        let f32_error = logit_error(name, &model);
        let int8 = model
            .clone()
            .round_to_nearest("int8".parse().expect("scheme"))
            .expect("int8");
        let int4 = model
            .round_to_nearest("int4".parse().expect("scheme"))
            .expect("int4");
        let (e8, e4) = (logit_error(name, &int8), logit_error(name, &int4));
        eprintln!("{name}: f32 {f32_error:.2e} int8 {e8:.2e} int4 {e4:.2e}");
        assert!(f32_error < 1e-4, "{name}: f32 off by {f32_error}");
        assert!(e8 < 5e-2, "{name}: int8 logits off by {e8} of the largest");
        assert!(e8 > f32_error, "{name}: int8 changed nothing");
        assert!(
            e4 > e8,
            "{name}: int4 ({e4}) is no coarser than int8 ({e8})"
        );
    }
}

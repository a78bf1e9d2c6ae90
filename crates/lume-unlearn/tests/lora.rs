//! LoRA adapters and the `lora-ties` recipe: adapters start as a no-op, merging does not change
//! the function, only adapters train, runs resume bitwise, and `lora-ties` is the TIES merge
//! of its two runs.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::module::Module;
use common::*;
use lume_model::Model;
use lume_unlearn::{
    LoraConfig, MergeMethod, Silent, TrainObserver, TrainerConfig, attach_lora, is_adapter_path,
    latest_checkpoint, merge_lora, merge_models, parameter_paths, train,
};

fn max_abs_diff(a: &[Vec<Vec<f64>>], b: &[Vec<Vec<f64>>]) -> f64 {
    a.iter()
        .flatten()
        .flatten()
        .zip(b.iter().flatten().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn logits_of(model: &Model) -> Vec<Vec<Vec<f64>>> {
    host_logits(model, &batch(&data().forget, model))
}

#[test]
fn an_adapter_with_zero_b_changes_nothing() {
    let base = model(3);
    let adapted = attach_lora(base.clone(), &LoraConfig::default()).unwrap();
    assert!(
        logits_of(&base) == logits_of(&adapted),
        "a fresh adapter (B = 0) must leave the logits bit-identical"
    );
    // Every projection of every layer has one; the embeddings and norms do not.
    let paths = parameter_paths(&adapted);
    let adapters = paths.iter().filter(|p| is_adapter_path(p)).count();
    assert_eq!(adapters, 2 * 7 * 3, "A and B for 7 projections × 3 layers");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("embed") && is_adapter_path(p))
    );
}

#[test]
fn merged_and_unmerged_adapters_give_the_same_logits() {
    let adapted = with_nonzero_b(attach_lora(model(3), &LoraConfig::default()).unwrap(), 0.0);
    let unmerged = logits_of(&adapted);
    assert!(
        max_abs_diff(&unmerged, &logits_of(&model(3))) > 1e-3,
        "non-zero B must change the model"
    );
    let merged = merge_lora(adapted);
    assert!(parameter_paths(&merged).iter().all(|p| !is_adapter_path(p)));
    let diff = max_abs_diff(&unmerged, &logits_of(&merged));
    assert!(diff < 1e-5, "merged vs unmerged logits differ by {diff}");
}

#[test]
fn bad_adapter_settings_are_refused_by_name() {
    let none = LoraConfig {
        target_modules: vec!["qproj".into()],
        ..LoraConfig::default()
    };
    let message = attach_lora(model(3), &none).unwrap_err().to_string();
    assert!(message.contains("qproj"), "{message}");
    let zero = LoraConfig {
        rank: 0,
        ..LoraConfig::default()
    };
    let message = attach_lora(model(3), &zero).unwrap_err().to_string();
    assert!(message.contains("rank"), "{message}");
}

fn lora_config() -> TrainerConfig {
    TrainerConfig {
        learning_rate: 1e-2,
        max_steps: Some(4),
        batch_size: 2,
        seed: 3,
        lora: Some(LoraConfig {
            rank: 2,
            alpha: 4.0,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
            seed: 9,
        }),
        ..TrainerConfig::default()
    }
}

/// Numerical rank of a `rows × cols` matrix (Gaussian elimination with partial pivoting).
fn rank(mut m: Vec<Vec<f64>>) -> usize {
    let scale = m.iter().flatten().fold(0.0f64, |a, x| a.max(x.abs()));
    let tol = scale * 1e-4;
    let (rows, cols) = (m.len(), m[0].len());
    let mut r = 0;
    for c in 0..cols {
        let Some(p) = (r..rows).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())) else {
            break;
        };
        if m[p][c].abs() <= tol {
            continue;
        }
        m.swap(r, p);
        let pivot = m[r].clone();
        for row in m.iter_mut().skip(r + 1) {
            let f = row[c] / pivot[c];
            for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                *x -= f * p;
            }
        }
        r += 1;
    }
    r
}

#[test]
fn lora_training_moves_only_the_targeted_weights_by_a_low_rank_update() {
    let base = model(5);
    let mut method = lume_unlearn::Registry::builtin()
        .build("ga", &Default::default())
        .unwrap();
    let out = train(
        base.clone(),
        method.as_mut(),
        &data(),
        &lora_config(),
        None,
        &mut Silent,
    )
    .unwrap();
    let paths = parameter_paths(&out.model);
    assert_eq!(
        paths,
        parameter_paths(&base),
        "the adapters are merged away"
    );
    for ((path, before), after) in paths.iter().zip(params(&base)).zip(params(&out.model)) {
        let targeted = path.ends_with("q_proj.weight") || path.ends_with("v_proj.weight");
        if !targeted {
            assert!(before == after, "{path} moved without an adapter");
            continue;
        }
        assert!(before != after, "{path} did not train");
        let cols = out.model.config.hidden_size;
        let delta: Vec<Vec<f64>> = before
            .chunks(after.len() / cols)
            .zip(after.chunks(after.len() / cols))
            .map(|(b, a)| a.iter().zip(b).map(|(x, y)| f64::from(x - y)).collect())
            .collect();
        assert!(rank(delta) <= 2, "{path}: the update exceeds rank 2");
    }
}

#[test]
fn a_killed_lora_run_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        checkpoint_every: Some(2),
        ..lora_config()
    };
    let run = |dir: Option<&std::path::Path>, observer: &mut dyn TrainObserver| {
        let mut method = lume_unlearn::Registry::builtin()
            .build("npo-gd", &Default::default())
            .unwrap();
        train(model(5), method.as_mut(), &data(), &config, dir, observer)
    };
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        let _ = run(Some(dir.path()), &mut Crash { kill_after: 3 });
    }));
    assert!(crashed.is_err());
    let (step, checkpoint) = latest_checkpoint(dir.path()).unwrap();
    assert_eq!(step, 2);
    assert!(checkpoint.join(lume_unlearn::ADAPTERS_FILE).is_file());
    // The checkpoint's model is the merged one, loadable as a plain model.
    let device = lume_model::DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap();
    Model::load(&checkpoint, &device).unwrap();

    let resumed = run(Some(dir.path()), &mut Silent).unwrap();
    assert_eq!(resumed.resumed_at, 2);
    let uninterrupted = run(None, &mut Silent).unwrap();
    assert!(
        params(&resumed.model) == params(&uninterrupted.model),
        "resumed LoRA weights differ"
    );
    assert_eq!(resumed.history, uninterrupted.history);
}

#[test]
fn lora_ties_is_the_ties_merge_of_its_over_and_under_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        learning_rate: 5e-3,
        max_steps: Some(3),
        batch_size: 2,
        ..TrainerConfig::default()
    };
    let mut overrides = serde_json::Map::new();
    overrides.insert("lora".into(), serde_json::json!({ "rank": 4 }));
    overrides.insert("density".into(), serde_json::json!(0.5));
    let mut method = lume_unlearn::Registry::builtin()
        .build("lora-ties", &overrides)
        .unwrap();
    assert_eq!(method.hyperparameters()["lora"]["rank"], 4);
    assert_eq!(method.hyperparameters()["lora"]["alpha"], 16.0);
    let base = model(5);
    let before = nll(&base, &data().forget, &base);
    let out = train(
        base.clone(),
        method.as_mut(),
        &data(),
        &config,
        Some(dir.path()),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(out.history.len(), 6, "two runs of three steps");

    let device = base.devices()[0].clone();
    let load = |variant: &str| {
        let (_, checkpoint) = latest_checkpoint(&dir.path().join(variant)).unwrap();
        Model::load(&checkpoint, &device).unwrap()
    };
    let (over, under) = (load("variant-over"), load("variant-under"));
    assert_ne!(params(&over), params(&under), "the two runs differ");
    let expected = merge_models(
        base.clone(),
        &[&over, &under],
        MergeMethod::Ties {
            density: 0.5,
            lambda: 1.0,
        },
    )
    .unwrap();
    assert!(params(&out.model) == params(&expected));
    let after = nll(&out.model, &data().forget, &out.model);
    assert!(after > before, "forget NLL {before} -> {after}");

    // Started again, both finished runs are reused and the merge is the same.
    let again = train(
        base,
        method.as_mut(),
        &data(),
        &config,
        Some(dir.path()),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(again.resumed_at, 3);
    assert!(params(&again.model) == params(&out.model));
}

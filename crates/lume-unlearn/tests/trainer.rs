//! The trainer's promises: repeatable, resumable, stops on NaN, freezes what it is told.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::*;
use lume_model::Model;
use lume_unlearn::{
    LossTerms, Schedule, Silent, StepContext, StepRecord, TrainObserver, TrainOutcome, Trainable,
    TrainerConfig, UnlearnError, UnlearningMethod, latest_checkpoint, train,
};

fn config() -> TrainerConfig {
    TrainerConfig {
        learning_rate: 5e-3,
        schedule: Schedule::Linear,
        warmup_steps: 1,
        max_steps: Some(6),
        batch_size: 2,
        grad_accumulation: 2,
        seed: 11,
        ..TrainerConfig::default()
    }
}

/// Runs the named method with its defaults on the shared tiny model and data.
fn attempt(
    name: &str,
    config: &TrainerConfig,
    dir: Option<&Path>,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<Model>, UnlearnError> {
    // PDU needs its bound; a one-epoch warm-up, so that λ moves (and must be resumed) in 5 steps.
    let overrides = match name {
        "pdu" => serde_json::json!({"epsilon": 0.5, "dual_warmup_epochs": 1}),
        _ => serde_json::json!({}),
    };
    let mut method = lume_unlearn::Registry::builtin()
        .build(name, overrides.as_object().unwrap())
        .unwrap();
    train(model(5), method.as_mut(), &data(), config, dir, observer)
}

fn run(name: &str, config: &TrainerConfig, dir: Option<&Path>) -> (Model, Vec<StepRecord>) {
    let out = attempt(name, config, dir, &mut Silent).unwrap();
    (out.model, out.history)
}

#[test]
fn the_same_seed_gives_bitwise_identical_weights() {
    let (a, history_a) = run("npo-gd", &config(), None);
    let (b, history_b) = run("npo-gd", &config(), None);
    assert!(params(&a) == params(&b), "same seed, other weights");
    assert_eq!(history_a, history_b);
    assert_eq!(
        history_a.len(),
        5,
        "4 examples / 2 per batch × 5 epochs / 2 accumulated"
    );
    let other = TrainerConfig {
        seed: 12,
        ..config()
    };
    let (c, _) = run("npo-gd", &other, None);
    assert_ne!(
        params(&a),
        params(&c),
        "another data order gives other weights"
    );
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        checkpoint_every: Some(2),
        ..config()
    };
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        let _ = attempt(
            "pdu",
            &config,
            Some(dir.path()),
            &mut Crash { kill_after: 3 },
        );
    }));
    assert!(crashed.is_err());
    let (step, _) = latest_checkpoint(dir.path()).unwrap();
    assert_eq!(step, 2, "the checkpoint before the crash is the one left");

    let resumed = attempt("pdu", &config, Some(dir.path()), &mut Silent).unwrap();
    assert_eq!(resumed.resumed_at, 2);
    let (uninterrupted, history) = run("pdu", &config, None);
    assert!(
        params(&resumed.model) == params(&uninterrupted),
        "resumed weights differ"
    );
    assert_eq!(
        resumed.history, history,
        "PDU's λ came back with the checkpoint"
    );
    assert_eq!(latest_checkpoint(dir.path()).unwrap().0, 5);

    // A finished run started again does nothing and returns the final weights.
    let again = attempt("pdu", &config, Some(dir.path()), &mut Silent).unwrap();
    assert_eq!(again.resumed_at, 5);
    assert!(
        params(&again.model) == params(&uninterrupted),
        "finished run changed"
    );
}

/// Gradient ascent whose loss turns NaN at a given step.
struct NanAt(usize);

impl UnlearningMethod for NanAt {
    fn name(&self) -> &str {
        "nan-at"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({ "step": self.0 })
    }
    fn needs_retain(&self) -> bool {
        false
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let nll = ctx.nll(ctx.forget);
        let loss = if ctx.step + 1 == self.0 {
            nll.clone().log().mul_scalar(f64::NAN)
        } else {
            nll.neg()
        };
        Ok(LossTerms::combine(loss, 1.0, None, 0.0))
    }
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        checkpoint_every: Some(1),
        ..config()
    };
    let err = train(
        model(5),
        &mut NanAt(4),
        &data(),
        &config,
        Some(dir.path()),
        &mut Silent,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("step 4") && message.contains("checkpoint-3"),
        "{message}"
    );
    let UnlearnError::NonFinite { last_good, .. } = err else {
        panic!("expected NonFinite, got {message}");
    };
    let good = last_good.unwrap();
    let device = lume_model::DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap();
    let loaded = Model::load(&good, &device).unwrap();
    assert!(params(&loaded).iter().flatten().all(|x| x.is_finite()));
}

#[test]
fn frozen_parameters_do_not_move() {
    let config = TrainerConfig {
        trainable: Trainable::LastLayers(1),
        ..config()
    };
    let before = params(&model(5));
    let (after, _) = run("gd", &config, None);
    let after = params(&after);
    // Module order: embeddings, then layers 0, 1, 2 (9 tensors each with 2 norms), norm, head.
    let per_layer = 9;
    let layer2 = 1 + 2 * per_layer..1 + 3 * per_layer;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if layer2.contains(&i) {
            assert_ne!(b, a, "tensor {i} of the last layer trains");
        } else {
            assert_eq!(b, a, "tensor {i} is frozen");
        }
    }
}

#[test]
fn bf16_products_keep_the_loss_curve_of_f32() {
    // NPO-GD for 8 steps (a frozen reference, forget and retain terms): every step's losses in
    // bf16 within 2 % of f32's. bf16 products exist on the CPU backend; elsewhere the run is
    // refused up front, never computed in f32 under a bf16 label.
    let f32_config = TrainerConfig {
        max_steps: Some(8),
        epochs: 10,
        ..config()
    };
    let bf16_config = TrainerConfig {
        precision: lume_model::Precision::Bf16,
        ..f32_config.clone()
    };
    let on_cpu = lume_model::DeviceSpec::from_env("LUME_TEST_DEVICE").unwrap()
        == lume_model::DeviceSpec::Cpu;
    if !on_cpu {
        let refused = attempt("npo-gd", &bf16_config, None, &mut Silent);
        assert!(
            matches!(refused, Err(UnlearnError::Precision(_))),
            "bf16 off the CPU backend must be refused"
        );
        return;
    }
    let (_, f32_history) = run("npo-gd", &f32_config, None);
    let (_, bf16_history) = run("npo-gd", &bf16_config, None);
    assert_eq!((f32_history.len(), bf16_history.len()), (8, 8));
    let mut largest = 0.0f64;
    for (a, b) in f32_history.iter().zip(&bf16_history) {
        for (x, y) in [
            (Some(a.loss.total), Some(b.loss.total)),
            (a.loss.forget, b.loss.forget),
            (a.loss.retain, b.loss.retain),
        ] {
            let (x, y) = (x.unwrap(), y.unwrap());
            largest = largest.max((x - y).abs() / x.abs());
            assert!(
                (x - y).abs() <= 0.02 * x.abs(),
                "step {}: bf16 {y} against f32 {x}",
                a.step
            );
        }
    }
    eprintln!("largest relative difference of a loss: {largest:.2e}");
    assert!(
        largest > 0.0,
        "the bf16 run computed exactly as f32: were its products bf16?"
    );
}

#[test]
fn grouping_by_length_trains_on_the_same_tokens_with_less_padding() {
    // Short and long examples alternate, as LUME's questions and passages do.
    let forget: Vec<_> = (0..16u32)
        .map(|i| {
            let answer: Vec<u32> = (0..if i % 2 == 0 { 2 } else { 24 })
                .map(|k| 1 + (i * 5 + k) % (VOCAB as u32 - 1))
                .collect();
            common::example(&[1 + i % 7, 2], &answer)
        })
        .collect();
    let data = lume_unlearn::UnlearnData {
        forget,
        ..lume_unlearn::UnlearnData::default()
    };
    let run = |group_by_length| {
        let config = TrainerConfig {
            batch_size: 4,
            grad_accumulation: 1,
            max_steps: None,
            epochs: 2,
            group_by_length,
            ..config()
        };
        let mut method = lume_unlearn::FineTune::default();
        train(model(5), &mut method, &data, &config, None, &mut Silent)
            .unwrap()
            .history
    };
    let (plain, grouped) = (run(false), run(true));
    assert_eq!(plain.len(), 8);
    assert_eq!(grouped.len(), 8);
    let sum = |h: &[StepRecord], f: fn(&StepRecord) -> usize| h.iter().map(f).sum::<usize>();
    let real: usize = data.forget.iter().map(|e| e.input_ids.len()).sum();
    assert_eq!(sum(&plain, |r| r.tokens), 2 * real);
    assert_eq!(sum(&grouped, |r| r.tokens), 2 * real);
    // Sorted groups: each batch of four holds one length, so nothing is padded.
    assert_eq!(sum(&grouped, |r| r.padded_tokens), 2 * real);
    assert!(sum(&plain, |r| r.padded_tokens) > 2 * real);
    assert!(grouped.iter().all(|r| r.loss.total.is_finite()));
}

#[test]
fn hyperparameter_errors_name_the_method_and_key() {
    let mut overrides = serde_json::Map::new();
    overrides.insert("betta".into(), serde_json::json!(1.0));
    let err = lume_unlearn::Registry::builtin()
        .build("npo", &overrides)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("npo") && err.contains("betta") && err.contains("beta"),
        "{err}"
    );
    overrides.clear();
    overrides.insert("beta".into(), serde_json::json!("high"));
    assert!(
        lume_unlearn::Registry::builtin()
            .build("npo", &overrides)
            .is_err()
    );
    overrides.clear();
    overrides.insert("lora".into(), serde_json::json!({ "rnak": 4 }));
    let err = lume_unlearn::Registry::builtin()
        .build("lora-ties", &overrides)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("lora-ties") && err.contains("lora.rnak") && err.contains("lora.rank"),
        "{err}"
    );
    let err = lume_unlearn::Registry::builtin()
        .build("sgd", &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("sgd") && err.contains("seq-gd"), "{err}");
    for factory in lume_unlearn::Registry::builtin().factories() {
        assert!(factory.defaults().is_object(), "{}", factory.name());
    }
}

//! Checkpoint selection inside a run: the weights returned are those of the evaluated step
//! with the lowest forget score above the floor, scored as a host computation would, and they
//! survive a crash.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::*;
use lume_model::{CausalModel, Model};
use lume_unlearn::{
    FineTune, Registry, Schedule, Selection, Silent, TrainObserver, TrainOutcome, TrainerConfig,
    UnlearnData, answer_accuracy, train,
};

/// The tiny model after memorizing forget and retain, so that ascent has accuracy to lose.
fn memorized() -> Model {
    let data = data();
    let mut all = data.forget.clone();
    all.extend(data.retain.clone());
    let training = UnlearnData {
        forget: all,
        pad_id: data.pad_id,
        ..UnlearnData::default()
    };
    let config = TrainerConfig {
        learning_rate: 1e-2,
        epochs: 60,
        batch_size: 5,
        checkpoint_minutes: None,
        ..TrainerConfig::default()
    };
    train(
        model(5),
        &mut FineTune::default(),
        &training,
        &config,
        None,
        &mut Silent,
    )
    .unwrap()
    .model
}

fn ascent(
    start: &Model,
    config: &TrainerConfig,
    dir: Option<&Path>,
    observer: &mut dyn TrainObserver,
) -> TrainOutcome<Model> {
    let mut method = Registry::builtin()
        .build("gd", &serde_json::Map::new())
        .unwrap();
    train(
        start.clone(),
        method.as_mut(),
        &data(),
        config,
        dir,
        observer,
    )
    .unwrap()
}

fn config(select: Option<Selection>, max_steps: Option<usize>) -> TrainerConfig {
    TrainerConfig {
        learning_rate: 2e-2,
        schedule: Schedule::Constant,
        batch_size: 2,
        epochs: 4,
        max_steps,
        seed: 3,
        checkpoint_minutes: None,
        select,
        ..TrainerConfig::default()
    }
}

/// Answer accuracy of `examples` from the host logits: the reference for `answer_accuracy`.
fn host_accuracy(model: &Model, examples: &[lume_data::TrainingExample]) -> f64 {
    let logits = host_logits(model as &dyn CausalModel, &batch(examples, model));
    let mut sum = 0.0;
    for (r, row) in targets(examples).iter().enumerate() {
        let hits = row
            .iter()
            .filter(|&&(pos, id)| {
                let z = &logits[r][pos];
                let argmax = (0..z.len()).fold(0, |best, v| if z[v] > z[best] { v } else { best });
                argmax == id
            })
            .count();
        sum += hits as f64 / row.len() as f64;
    }
    sum / examples.len() as f64
}

#[test]
fn answer_accuracy_is_the_host_argmax_accuracy_of_each_answer() {
    let model = memorized();
    let data = data();
    let device = burn::module::Module::devices(&model).remove(0);
    for examples in [&data.forget, &data.retain] {
        let ours = answer_accuracy(&model, examples, data.pad_id, &device).unwrap();
        let mean = ours.iter().sum::<f64>() / ours.len() as f64;
        assert!((mean - host_accuracy(&model, examples)).abs() < 1e-12);
    }
    let forget = host_accuracy(&model, &data.forget);
    assert!(forget > 0.5, "the start memorized little: {forget}");
}

#[test]
fn the_kept_weights_are_the_lowest_forget_step_above_the_floor() {
    let start = memorized();
    let select = Selection {
        every: 2,
        retain_floor: 0.5,
    };
    let run = ascent(&start, &config(Some(select), None), None, &mut Silent);
    let steps = run.history.len();
    let evaluated: Vec<usize> = run.selection.iter().map(|p| p.step).collect();
    let expected: Vec<usize> = (1..=steps).filter(|s| s % 2 == 0 || *s == steps).collect();
    assert_eq!(evaluated, expected, "every 2 steps and after the last");

    let eligible = run.selection.iter().filter(|p| p.retain >= p.floor);
    let best = eligible
        .fold(None::<&lume_unlearn::SelectionPoint>, |b, p| match b {
            Some(b) if b.forget <= p.forget => Some(b),
            _ => Some(p),
        })
        .expect("some step holds the floor");
    assert_eq!(run.selected_step, Some(best.step));
    let kept: Vec<usize> = run
        .selection
        .iter()
        .filter(|p| p.kept)
        .map(|p| p.step)
        .collect();
    assert_eq!(kept.last(), Some(&best.step));
    assert!(
        best.step < steps && run.selection.iter().any(|p| p.retain < p.floor),
        "a test where the last step wins, or every step is eligible, would not tell selection \
         from no selection"
    );

    // The kept weights are step `best.step`'s: the same run stopped there.
    let stopped = ascent(&start, &config(None, Some(best.step)), None, &mut Silent);
    assert!(params(&run.model) == params(&stopped.model));
    let forget = host_accuracy(&run.model, &data().forget);
    assert!((forget - best.forget).abs() < 1e-12);
}

#[test]
fn with_no_step_above_the_floor_the_last_step_stays() {
    let start = memorized();
    let select = Selection {
        every: 1,
        retain_floor: 2.0,
    };
    let run = ascent(&start, &config(Some(select), None), None, &mut Silent);
    assert_eq!(run.selected_step, None);
    assert!(run.selection.iter().all(|p| !p.kept));
    let plain = ascent(&start, &config(None, None), None, &mut Silent);
    assert!(params(&run.model) == params(&plain.model));
}

#[test]
fn a_killed_run_keeps_its_selected_step_across_the_resume() {
    let start = memorized();
    let dir = tempfile::tempdir().unwrap();
    let select = Selection {
        every: 1,
        retain_floor: 0.5,
    };
    let config = TrainerConfig {
        checkpoint_every: Some(3),
        ..config(Some(select), None)
    };
    let uninterrupted = ascent(&start, &config, None, &mut Silent);
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        ascent(
            &start,
            &config,
            Some(dir.path()),
            &mut Crash { kill_after: 5 },
        );
    }));
    assert!(crashed.is_err());
    let resumed = ascent(&start, &config, Some(dir.path()), &mut Silent);
    assert_eq!(resumed.resumed_at, 3);
    assert_eq!(resumed.selection, uninterrupted.selection);
    assert_eq!(resumed.selected_step, uninterrupted.selected_step);
    assert!(params(&resumed.model) == params(&uninterrupted.model));
    let kept_folders: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("selected-"))
        .collect();
    let want = uninterrupted
        .selected_step
        .map(|s| format!("selected-{s}"))
        .into_iter()
        .collect::<Vec<_>>();
    assert_eq!(kept_folders, want, "only the kept step's weights stay");
}

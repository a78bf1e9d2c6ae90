//! The trainer: AdamW, warm-up and decay, global-norm clipping, gradient accumulation,
//! freezing, seeded data order, atomic checkpoints, resume, and a hard stop on NaN.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use lume_data::{Batch, PaddingSide, TrainingExample};
use lume_model::CausalModel;

use crate::UnlearnError;
use crate::batch::TensorBatch;
use crate::checkpoint::{
    StepRecord, TrainerState, commit_checkpoint, latest_checkpoint, write_atomically,
};
use crate::lora::{ADAPTERS_FILE, LoraConfig, attach_lora, load_adapters, merge_lora};
use crate::merge::merge_models;
use crate::method::{LossTerms, LossValues, StepContext, Trainable, UnlearningMethod};
use crate::optim::{AdamW, AdamWConfig, GradientBuffer, clip_coefficient, freeze};
use crate::selection::{KeptStep, SelectionPoint, Selector, write_weights};

mod config;
mod plan;
pub use config::TrainerConfig;
use plan::{Step, StepPlan, every, token_counts};

/// The tokenized data of a run. For fine-tuning, the training examples go in `forget`.
#[derive(Debug, Clone, Default)]
pub struct UnlearnData {
    /// Forget examples (or training examples).
    pub forget: Vec<TrainingExample>,
    /// Retain examples.
    pub retain: Vec<TrainingExample>,
    /// For each forget example, its prompt with a refusal answer (IdkDPO).
    pub refusals: Vec<TrainingExample>,
    /// Padding id.
    pub pad_id: u32,
}

/// Hooks into a run: progress, checkpoints, evaluation.
pub trait TrainObserver {
    /// Before the first step; `resumed_at` is the step a checkpoint brought back (0: fresh).
    fn on_start(&mut self, _total_steps: usize, _resumed_at: usize) {}
    /// After every optimizer step.
    fn on_step(&mut self, _record: &StepRecord) {}
    /// After a checkpoint is in place.
    fn on_checkpoint(&mut self, _step: usize, _dir: &Path) {}
    /// Every `eval_every` steps, with the model as it is.
    fn evaluate(&mut self, _step: usize, _model: &dyn CausalModel) {}
    /// After each evaluation of checkpoint selection (`TrainerConfig::select`).
    fn on_selection(&mut self, _point: &SelectionPoint) {}
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;
impl TrainObserver for Silent {}

/// What a run returns.
#[derive(Debug)]
#[non_exhaustive]
pub struct TrainOutcome<M> {
    /// The trained model.
    pub model: M,
    /// Every step's record, including those before a resume.
    pub history: Vec<StepRecord>,
    /// The step the run resumed from (0: fresh).
    pub resumed_at: usize,
    /// Checkpoint selection's evaluations, including those before a resume (empty without
    /// `TrainerConfig::select`).
    pub selection: Vec<SelectionPoint>,
    /// The step whose weights `model` holds when checkpoint selection kept one (`None`: the
    /// last step's, or a merge of variants).
    pub selected_step: Option<usize>,
}

fn collate(
    examples: &[TrainingExample],
    indices: &[usize],
    pad_id: u32,
    device: &Device,
) -> Result<TensorBatch, UnlearnError> {
    let rows: Vec<&TrainingExample> = indices.iter().map(|&i| &examples[i]).collect();
    TensorBatch::new(&Batch::collate(&rows, pad_id, PaddingSide::Right), device)
}

/// The host values of a step's terms, read in one transfer.
fn loss_values(terms: &LossTerms) -> Result<LossValues, UnlearnError> {
    let parts: Vec<Tensor<1>> = [
        Some(&terms.total),
        terms.forget.as_ref(),
        terms.retain.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|t| t.clone().detach())
    .collect();
    let host: Vec<f32> = Tensor::cat(parts, 0)
        .into_data()
        .try_to_vec_as::<f32>()
        .map_err(|e| UnlearnError::Device(format!("reading the loss back: {e:?}")))?;
    let mut values = host.iter().map(|&x| f64::from(x));
    let total = values.next().unwrap_or(f64::NAN);
    Ok(LossValues {
        total,
        forget: terms.forget.as_ref().and_then(|_| values.next()),
        retain: terms.retain.as_ref().and_then(|_| values.next()),
    })
}

/// Runs `method` on `model` over `data`. With a `run_dir`, checkpoints go there and a run
/// found there is resumed from its latest checkpoint.
///
/// The model must live on an autodiff device (`DeviceSpec::training_device`). The method's
/// reference model, when it needs one, is a frozen copy of `model` as given. With LoRA (the
/// method's or `config.lora`), only adapters train and the model returned has them merged.
/// A method with a [`MergePlan`](crate::MergePlan) trains each variant from `model` (in
/// `run_dir/variant-<name>`) and returns their merge; the history is theirs, one after the
/// other.
pub fn train<M: CausalModel + Module>(
    model: M,
    method: &mut dyn UnlearningMethod,
    data: &UnlearnData,
    config: &TrainerConfig,
    run_dir: Option<&Path>,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<M>, UnlearnError> {
    let Some(plan) = method.merge_plan() else {
        return train_run(model, method, data, config, run_dir, observer);
    };
    let mut runs = Vec::with_capacity(plan.variants.len());
    for variant in &plan.variants {
        let scaled = TrainerConfig {
            learning_rate: config.learning_rate * variant.learning_rate_scale,
            ..config.clone()
        };
        let dir = run_dir.map(|d| d.join(format!("variant-{}", variant.name)));
        runs.push(train_run(
            model.clone(),
            method,
            data,
            &scaled,
            dir.as_deref(),
            observer,
        )?);
    }
    let resumed_at = runs.first().map_or(0, |r| r.resumed_at);
    let history = runs.iter().flat_map(|r| r.history.clone()).collect();
    let selection = runs.iter().flat_map(|r| r.selection.clone()).collect();
    let trained: Vec<&M> = runs.iter().map(|r| &r.model).collect();
    let merged = merge_models(model, &trained, plan.merge)?;
    Ok(TrainOutcome {
        model: merged,
        history,
        resumed_at,
        selection,
        selected_step: None,
    })
}

/// The model's device and how many retain rows go with each forget row (0 when the method
/// uses none), after checking that the model can train and the data has what the method
/// needs.
fn preflight<M: CausalModel + Module>(
    model: &M,
    method: &dyn UnlearningMethod,
    data: &UnlearnData,
    config: &TrainerConfig,
) -> Result<(Device, usize), UnlearnError> {
    let device = model
        .devices()
        .into_iter()
        .next()
        .ok_or(UnlearnError::NothingToTrain)?;
    if !device.is_autodiff() {
        return Err(UnlearnError::Device(
            "the model must be on an autodiff device (DeviceSpec::training_device)".into(),
        ));
    }
    if data.forget.is_empty() {
        return Err(UnlearnError::Data("no forget (training) examples".into()));
    }
    let share = if method.needs_retain() {
        if data.retain.is_empty() {
            return Err(UnlearnError::Data(format!(
                "method `{}` needs retain examples, and there are none",
                method.name()
            )));
        }
        method
            .data_plan()
            .retain_per_forget
            .unwrap_or(config.retain_per_forget)
            .max(1)
    } else {
        0
    };
    if method.needs_refusals() && data.refusals.len() != data.forget.len() {
        return Err(UnlearnError::Data(format!(
            "method `{}` needs one refusal example per forget example ({} for {})",
            method.name(),
            data.refusals.len(),
            data.forget.len()
        )));
    }
    method.check()?;
    Ok((device, share))
}

/// What a run found in its folder: the history so far and where it stopped.
#[derive(Default)]
struct Resumed {
    history: Vec<StepRecord>,
    step: usize,
    last_good: Option<PathBuf>,
    selected: Option<KeptStep>,
    selection: Vec<SelectionPoint>,
}

/// The model as it trains: with its adapters when `lora` is set, the latest checkpoint in
/// `run_dir` loaded (into `method` and the optimizer too) when there is one, and everything
/// outside `trainable` frozen.
fn prepare<M: CausalModel + Module>(
    model: M,
    lora: Option<&LoraConfig>,
    trainable: &Trainable,
    run_dir: Option<&Path>,
    config: AdamWConfig,
    method: &mut dyn UnlearningMethod,
    device: &Device,
) -> Result<(M, AdamW, Resumed), UnlearnError> {
    let num_layers = model.num_layers();
    let model = match lora {
        Some(lora) => attach_lora(model, lora)?,
        None => model,
    };
    let Some((step, dir)) = run_dir.and_then(latest_checkpoint) else {
        return Ok((
            frozen(model, trainable, num_layers)?,
            AdamW::new(config),
            Resumed::default(),
        ));
    };
    let model = if lora.is_some() {
        load_adapters(model, &dir.join(ADAPTERS_FILE))?
    } else {
        model
            .load_checkpoint(&dir, device)
            .map_err(|source| UnlearnError::Weights {
                path: dir.clone(),
                source,
            })?
    };
    let optimizer = AdamW::load(config, &dir, &device.clone().inner())?;
    let state_path = dir.join("trainer_state.json");
    let bad = |e: &dyn std::fmt::Display| {
        UnlearnError::Checkpoint(format!("{}: {e}", state_path.display()))
    };
    let text = std::fs::read_to_string(&state_path).map_err(|e| bad(&e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    method.load_state(&state.method_state)?;
    let resumed = Resumed {
        history: state.history,
        step,
        last_good: Some(dir),
        selected: state.selected,
        selection: state.selection,
    };
    Ok((frozen(model, trainable, num_layers)?, optimizer, resumed))
}

fn frozen<M: Module>(
    model: M,
    trainable: &Trainable,
    num_layers: usize,
) -> Result<M, UnlearnError> {
    match freeze(model, trainable, num_layers) {
        (_, 0) => Err(UnlearnError::NothingToTrain),
        (model, _) => Ok(model),
    }
}

/// Runs the micro-batches of `at`, accumulating their gradients into `buffer`; returns the
/// step's mean losses and the gradients' global norm.
fn accumulate<M: CausalModel + Module>(
    at: Step<'_, M>,
    method: &mut dyn UnlearningMethod,
    data: &UnlearnData,
    device: &Device,
    buffer: &mut GradientBuffer,
    last_good: &Option<PathBuf>,
) -> Result<(LossValues, f64), UnlearnError> {
    let mut sums = LossValues {
        total: 0.0,
        forget: None,
        retain: None,
    };
    let k = at.micro.len() as f64;
    for paired in at.micro {
        let forget = collate(&data.forget, &paired.forget, data.pad_id, device)?;
        let retain = (!paired.retain.is_empty())
            .then(|| collate(&data.retain, &paired.retain, data.pad_id, device))
            .transpose()?;
        let refusal = method
            .needs_refusals()
            .then(|| collate(&data.refusals, &paired.forget, data.pad_id, device))
            .transpose()?;
        let ctx = StepContext {
            model: at.model,
            reference: at.reference.map(|r| r as &dyn CausalModel),
            forget: &forget,
            retain: retain.as_ref(),
            refusal: refusal.as_ref(),
            step: at.step,
            epoch: at.epoch,
        };
        let terms = method.loss(&ctx)?;
        let values = loss_values(&terms)?;
        sums.total += values.total / k;
        if let Some(f) = values.forget {
            *sums.forget.get_or_insert(0.0) += f / k;
        }
        if let Some(r) = values.retain {
            *sums.retain.get_or_insert(0.0) += r / k;
        }
        if !sums.total.is_finite() {
            return Err(UnlearnError::NonFinite {
                step: at.step + 1,
                what: format!("loss {}", sums.total),
                last_good: last_good.clone(),
            });
        }
        let mut grads = terms.total.div_scalar(k).backward();
        buffer.accumulate(at.model, &mut grads);
    }
    let grad_norm = buffer.global_norm();
    if !grad_norm.is_finite() {
        return Err(UnlearnError::NonFinite {
            step: at.step + 1,
            what: format!("gradient norm {grad_norm}"),
            last_good: last_good.clone(),
        });
    }
    Ok((sums, grad_norm))
}

/// Writes the checkpoint of step `state.step` into `run_dir` (model or adapters, optimizer,
/// trainer state) and returns its folder.
fn save<M: CausalModel + Module>(
    run_dir: &Path,
    state: &TrainerState,
    model: &M,
    lora: bool,
    optimizer: &AdamW,
) -> Result<PathBuf, UnlearnError> {
    commit_checkpoint(run_dir, state.step, |tmp| {
        write_weights(tmp, model, lora)?;
        optimizer.save(tmp)?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| UnlearnError::Checkpoint(e.to_string()))?;
        write_atomically(&tmp.join("trainer_state.json"), &json)
    })
}

fn train_run<M: CausalModel + Module>(
    model: M,
    method: &mut dyn UnlearningMethod,
    data: &UnlearnData,
    config: &TrainerConfig,
    run_dir: Option<&Path>,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<M>, UnlearnError> {
    let model = model.with_precision(config.precision)?;
    let (device, retain_per_forget) = preflight(&model, method, data, config)?;
    let num_layers = model.num_layers();
    let reference = method.needs_reference().then(|| model.valid().frozen());
    let trainable = method
        .trainable(num_layers)
        .unwrap_or_else(|| config.trainable.clone());
    let plan = StepPlan::new(data, retain_per_forget, method.data_plan(), config);
    let total_steps = plan.total_steps;
    let mut selector = config
        .select
        .map(|select| Selector::new(select, &model, data, &device))
        .transpose()?;

    let lora = method.lora().or_else(|| config.lora.clone());
    let (mut model, mut optimizer, resumed) = prepare(
        model,
        lora.as_ref(),
        &trainable,
        run_dir,
        config.optimizer,
        method,
        &device,
    )?;
    let Resumed {
        mut history,
        step: resumed_at,
        mut last_good,
        selected,
        selection,
    } = resumed;
    if let (Some(selector), Some(run_dir)) = (&mut selector, run_dir) {
        selector.resume(
            run_dir,
            selected,
            selection,
            &model,
            lora.is_some(),
            &device,
        )?;
    }
    observer.on_start(total_steps, resumed_at);
    let mut buffer = GradientBuffer::default();
    let mut last_saved = std::time::Instant::now();
    let due = |since: std::time::Instant| {
        config
            .checkpoint_minutes
            .is_some_and(|m| since.elapsed().as_secs_f64() >= m * 60.0)
    };
    for step in resumed_at..total_steps {
        let lr = config
            .schedule
            .lr(config.learning_rate, step, config.warmup_steps, total_steps);
        let at = plan.step(step, &model, reference.as_ref());
        let (tokens, padded_tokens) = token_counts(at.micro, data, method);
        let (sums, grad_norm) = accumulate(at, method, data, &device, &mut buffer, &last_good)?;
        let scale = config
            .max_grad_norm
            .map_or(1.0, |max| clip_coefficient(grad_norm, max));
        model = optimizer.step(model, &mut buffer, lr, scale);
        method.after_step(&sums);
        let record = StepRecord {
            step: step + 1,
            lr,
            grad_norm,
            loss: sums,
            tokens,
            padded_tokens,
        };
        history.push(record);
        observer.on_step(&record);
        let done = step + 1;
        if every(config.eval_every, done) {
            observer.evaluate(done, &model);
        }
        if let Some(selector) = selector.as_mut().filter(|s| s.due(done, total_steps)) {
            let persist = run_dir.map(|dir| (dir, lora.is_some()));
            let point = selector.consider(done, &model, data, &device, persist)?;
            observer.on_selection(&point);
        }
        if let Some(run_dir) = run_dir
            && (every(config.checkpoint_every, done) || done == total_steps || due(last_saved))
        {
            let state = TrainerState {
                step: done,
                total_steps,
                method_state: method.state(),
                history: history.clone(),
                selected: selector.as_ref().and_then(Selector::kept_step),
                selection: selector
                    .as_ref()
                    .map(|s| s.points.clone())
                    .unwrap_or_default(),
            };
            let dir = save(run_dir, &state, &model, lora.is_some(), &optimizer)?;
            if let Some(selector) = &selector {
                selector.prune(run_dir)?;
            }
            observer.on_checkpoint(done, &dir);
            last_good = Some(dir);
            last_saved = std::time::Instant::now();
        }
    }
    let (mut selection, mut selected_step) = (Vec::new(), None);
    if let Some(selector) = selector {
        selection = selector.points.clone();
        if let Some((step, kept)) = selector.into_kept() {
            (model, selected_step) = (kept, Some(step));
        }
    }
    if lora.is_some() {
        model = merge_lora(model);
    }
    Ok(TrainOutcome {
        model,
        history,
        resumed_at,
        selection,
        selected_step,
    })
}

//! The [`UnlearningMethod`] trait and the [`StepContext`] a method computes its loss from.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use lume_model::CausalModel;
use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::batch::TensorBatch;
use crate::logprob::{mean_kl, mean_nll, sequence_log_probs, shifted_log_softmax};
use crate::lora::LoraConfig;
use crate::merge::MergeMethod;

/// Everything a method may read to compute one step's loss.
pub struct StepContext<'a> {
    /// The model being trained (on an autodiff device).
    pub model: &'a dyn CausalModel,
    /// The frozen model from before unlearning, when the method asked for it.
    pub reference: Option<&'a dyn CausalModel>,
    /// The forget batch (for fine-tuning: the training batch).
    pub forget: &'a TensorBatch,
    /// The retain batch paired with it, when the method uses retain data.
    pub retain: Option<&'a TensorBatch>,
    /// The forget prompts with refusal answers, when the method asked for them (IdkDPO).
    pub refusal: Option<&'a TensorBatch>,
    /// Optimizer steps taken so far.
    pub step: usize,
    /// Passes over the data completed before this step (for a chunked plan, the fraction of
    /// the whole plan done, in epochs).
    pub epoch: usize,
}

impl StepContext<'_> {
    /// The model's logits on `batch`, `[batch, seq, vocab]`.
    pub fn logits(&self, batch: &TensorBatch) -> Tensor<3> {
        logits(self.model, batch)
    }

    /// The model's next-token log-softmax on `batch`, `[batch, seq − 1, vocab]`.
    pub fn log_probs(&self, batch: &TensorBatch) -> Tensor<3> {
        shifted_log_softmax(logits(self.model, batch))
    }

    /// The model's `log p(target)` at every shifted position of `batch`, 0 where the target
    /// does not count, `[batch, seq − 1]`: `target_log_probs(self.log_probs(batch), batch)`
    /// without the vocabulary-sized log-softmax.
    pub fn answer_log_probs(&self, batch: &TensorBatch) -> Tensor<2> {
        counted_log_probs(self.model, batch)
    }

    /// The reference model's log-softmax on `batch`, a constant for autodiff.
    pub fn reference_log_probs(&self, batch: &TensorBatch) -> Result<Tensor<3>, UnlearnError> {
        Ok(shifted_log_softmax(self.reference_logits(batch)?.0))
    }

    /// The reference model's logits on `batch` and the batch off autodiff, constants.
    fn reference_logits(
        &self,
        batch: &TensorBatch,
    ) -> Result<(Tensor<3>, TensorBatch), UnlearnError> {
        let reference = self.reference_model()?;
        let plain = batch.inner();
        Ok((logits(reference, &plain), plain))
    }

    /// The residual stream after `layer` (0-based) on `batch`, `[batch, seq, hidden]`.
    pub fn hidden_state(
        &self,
        batch: &TensorBatch,
        layer: usize,
    ) -> Result<Tensor<3>, UnlearnError> {
        hidden_after(self.model, batch, layer)
    }

    /// The reference model's residual stream after `layer`, a constant for autodiff.
    pub fn reference_hidden_state(
        &self,
        batch: &TensorBatch,
        layer: usize,
    ) -> Result<Tensor<3>, UnlearnError> {
        let reference = self.reference_model()?;
        hidden_after(reference, &batch.inner(), layer)
    }

    /// The frozen reference model, or an error naming the method's need.
    fn reference_model(&self) -> Result<&dyn CausalModel, UnlearnError> {
        self.reference
            .ok_or(UnlearnError::MissingInput("reference model"))
    }

    /// The retain batch, or an error naming the method's need.
    pub fn retain_batch(&self) -> Result<&TensorBatch, UnlearnError> {
        self.retain
            .ok_or(UnlearnError::MissingInput("retain batch"))
    }

    /// Mean NLL of the model on `batch` (Hugging Face's causal-LM loss).
    pub fn nll(&self, batch: &TensorBatch) -> Tensor<1> {
        mean_nll(self.answer_log_probs(batch), batch)
    }

    /// `log π_θ(y|x)` of each row: the sum over its answer tokens, `[batch]`.
    pub fn sequence_log_probs(&self, batch: &TensorBatch) -> Tensor<1> {
        sequence_log_probs(self.answer_log_probs(batch))
    }

    /// `log π_ref(y|x)` of each row, a constant for autodiff.
    pub fn reference_sequence_log_probs(
        &self,
        batch: &TensorBatch,
    ) -> Result<Tensor<1>, UnlearnError> {
        let reference = self.reference_model()?;
        Ok(sequence_log_probs(counted_log_probs(
            reference,
            &batch.inner(),
        )))
    }

    /// `gamma · forget + alpha · retain term`; the retain batch is not even run when
    /// `alpha` is 0 or the term is `None`.
    pub fn with_retain(
        &self,
        forget: Tensor<1>,
        gamma: f64,
        term: RetainTerm,
        alpha: f64,
    ) -> Result<LossTerms, UnlearnError> {
        let retain = if alpha == 0.0 {
            None
        } else {
            self.retain_loss(term)?
        };
        Ok(LossTerms::combine(forget, gamma, retain, alpha))
    }

    /// The retain term of protocol §4: NLL on retain data, or KL(π_ref ‖ π_θ) on it.
    pub fn retain_loss(&self, term: RetainTerm) -> Result<Option<Tensor<1>>, UnlearnError> {
        Ok(match term {
            RetainTerm::None => None,
            RetainTerm::Nll => Some(self.nll(self.retain_batch()?)),
            RetainTerm::Kl => {
                let retain = self.retain_batch()?;
                let reference = self.reference_log_probs(retain)?;
                Some(mean_kl(reference, self.log_probs(retain), retain))
            }
        })
    }
}

/// `model`'s logits on `batch`.
fn logits(model: &dyn CausalModel, batch: &TensorBatch) -> Tensor<3> {
    model
        .forward_tokens(batch.ids.clone(), Some(&batch.attention_mask), false)
        .logits
}

/// `answer_log_probs(logits(model, batch), batch)` with the vocabulary head run only at the
/// positions whose target counts (`CausalModel::logits_at`): a prompt's and the padding's
/// positions cost the body of the model, not its head (a fifth of SmolLM2's multiply-adds per
/// token) and not the cross-entropy over the vocabulary.
fn counted_log_probs(model: &dyn CausalModel, batch: &TensorBatch) -> Tensor<2> {
    let positions = &batch.counted_positions;
    let logits = model.logits_at(batch.ids.clone(), Some(&batch.attention_mask), positions);
    let device = logits.device();
    let n = positions.len();
    let targets = TensorData::new(batch.counted_targets.clone(), [n]);
    let log_probs = lume_model::token_nll(logits, Tensor::from_data(targets, &device)).neg();
    let (t, t1) = (batch.seq_len, batch.seq_len - 1);
    let shifted: Vec<i64> = positions
        .iter()
        .map(|&p| ((p / t) * t1 + p % t) as i64)
        .collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(shifted, [n]), &device);
    Tensor::<1>::zeros([batch.batch_size * t1], &device)
        .select_assign(0, index, log_probs, IndexingUpdateOp::Add)
        .reshape([batch.batch_size, t1])
}

fn hidden_after(
    model: &dyn CausalModel,
    batch: &TensorBatch,
    layer: usize,
) -> Result<Tensor<3>, UnlearnError> {
    let out = model.forward_tokens(batch.ids.clone(), Some(&batch.attention_mask), true);
    let returned = out.hidden_states.len();
    out.hidden_states.into_iter().nth(layer).ok_or_else(|| {
        UnlearnError::Data(format!(
            "hidden state after layer {layer} asked for, the model returned {returned}"
        ))
    })
}

/// Which retain term a method adds (protocol §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetainTerm {
    /// No retain term.
    None,
    /// NLL on the retain batch (gradient-difference style).
    Nll,
    /// KL(π_ref ‖ π_θ) on the retain batch.
    Kl,
}

/// A step's loss, with its unweighted forget and retain terms for the logs.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// What is minimised, `[1]`.
    pub total: Tensor<1>,
    /// The forget term before its weight, `[1]`.
    pub forget: Option<Tensor<1>>,
    /// The retain term before its weight, `[1]`.
    pub retain: Option<Tensor<1>>,
}

impl LossTerms {
    /// `gamma · forget + alpha · retain`.
    pub fn combine(forget: Tensor<1>, gamma: f64, retain: Option<Tensor<1>>, alpha: f64) -> Self {
        let weighted = forget.clone().mul_scalar(gamma);
        let total = match &retain {
            Some(r) => weighted + r.clone().mul_scalar(alpha),
            None => weighted,
        };
        LossTerms {
            total,
            forget: Some(forget),
            retain,
        }
    }
}

/// The host values of a step's [`LossTerms`], averaged over accumulated micro-batches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossValues {
    /// Total loss.
    pub total: f64,
    /// Forget part.
    pub forget: Option<f64>,
    /// Retain part.
    pub retain: Option<f64>,
}

/// Which parameters a method insists on training (RMU trains a few MLPs only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Trainable {
    /// Every parameter.
    #[default]
    All,
    /// Only the last `k` decoder layers.
    LastLayers(usize),
    /// Parameters whose path (`layers.3.mlp.down_proj.weight`) contains one of these strings.
    Matching(Vec<String>),
}

impl Trainable {
    /// Whether the parameter at `path` trains, in a model of `num_layers` layers.
    ///
    /// ```
    /// use lume_unlearn::Trainable;
    /// assert!(Trainable::LastLayers(2).allows("layers.3.mlp.up_proj.weight", 4));
    /// assert!(!Trainable::LastLayers(2).allows("layers.1.mlp.up_proj.weight", 4));
    /// assert!(!Trainable::LastLayers(2).allows("embed_tokens.weight", 4));
    /// assert!(Trainable::Matching(vec!["mlp".into()]).allows("layers.0.mlp.up_proj.weight", 4));
    /// ```
    pub fn allows(&self, path: &str, num_layers: usize) -> bool {
        match self {
            Trainable::All => true,
            Trainable::LastLayers(k) => layer_of(path).is_some_and(|l| l + k >= num_layers),
            Trainable::Matching(parts) => parts.iter().any(|p| path.contains(p.as_str())),
        }
    }
}

fn layer_of(path: &str) -> Option<usize> {
    let rest = path
        .strip_prefix("layers.")
        .or_else(|| path.find(".layers.").map(|i| &path[i + ".layers.".len()..]))?;
    rest.split('.').next()?.parse().ok()
}

/// How a method wants its data served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataPlan {
    /// Unlearn the forget set chunk by chunk (each chunk for all epochs before the next).
    pub chunk_size: Option<usize>,
    /// Retain examples drawn per forget example, overriding the trainer's setting.
    pub retain_per_forget: Option<usize>,
}

/// One of the runs a [`MergePlan`] trains.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeVariant {
    /// Its name, and the folder of its checkpoints (`variant-<name>`).
    pub name: String,
    /// Factor on the trainer's learning rate.
    pub learning_rate_scale: f64,
}

/// A method that trains several variants from the same model and merges them (`lora-ties`).
#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    /// The runs, in order.
    pub variants: Vec<MergeVariant>,
    /// How their task vectors are combined.
    pub merge: MergeMethod,
}

/// An unlearning method: a loss over a [`StepContext`], plus whatever it needs served.
///
/// A new method is a struct and this impl; see `examples/custom_method.rs`.
pub trait UnlearningMethod: Send {
    /// The registry name (`ga`, `npo-gd`, …).
    fn name(&self) -> &str;
    /// The hyperparameters, as written to configs and results.
    fn hyperparameters(&self) -> serde_json::Value;
    /// Whether [`StepContext::reference`] must be set.
    fn needs_reference(&self) -> bool {
        false
    }
    /// Whether the trainer serves retain batches.
    fn needs_retain(&self) -> bool {
        true
    }
    /// Whether the trainer serves refusal batches (forget prompts, "I don't know" answers).
    fn needs_refusals(&self) -> bool {
        false
    }
    /// Parameters the method trains, when it restricts them.
    fn trainable(&self, _num_layers: usize) -> Option<Trainable> {
        None
    }
    /// How the data is served.
    fn data_plan(&self) -> DataPlan {
        DataPlan::default()
    }
    /// LoRA adapters the method trains through instead of the full weights (the trainer's
    /// `lora` setting applies when this is `None`).
    fn lora(&self) -> Option<LoraConfig> {
        None
    }
    /// Several runs merged into one model, when the method is such a recipe.
    fn merge_plan(&self) -> Option<MergePlan> {
        None
    }
    /// Refuses settings the method cannot run with (a required value left unset), before any
    /// training starts.
    fn check(&self) -> Result<(), UnlearnError> {
        Ok(())
    }
    /// The loss of one micro-batch.
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError>;
    /// Called after every optimizer step with that step's loss values.
    fn after_step(&mut self, _values: &LossValues) {}
    /// State to keep in checkpoints (PDU's dual variable).
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Restores [`state`](Self::state) when resuming.
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<(), UnlearnError> {
        Ok(())
    }
}

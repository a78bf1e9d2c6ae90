//! Log-probabilities of answer tokens, and the losses built from them.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use crate::batch::TensorBatch;

/// Log-softmax over the vocabulary at every position that predicts a next token:
/// `[batch, seq − 1, vocab]`.
pub fn shifted_log_softmax(logits: Tensor<3>) -> Tensor<3> {
    let [b, t, v] = logits.dims();
    log_softmax(logits.slice([0..b, 0..t - 1, 0..v]), 2)
}

/// `log p(target)` at every shifted position, 0 where the target does not count:
/// `[batch, seq − 1]`.
pub fn target_log_probs(log_probs: Tensor<3>, batch: &TensorBatch) -> Tensor<2> {
    let [b, t1, _] = log_probs.dims();
    log_probs
        .gather(2, batch.targets.clone().unsqueeze_dim::<3>(2))
        .reshape([b, t1])
        * batch.weights.clone()
}

/// `log p(target)` at every shifted position straight from the logits `[batch, seq, vocab]`,
/// 0 where the target does not count: `[batch, seq − 1]`. Equal to
/// `target_log_probs(shifted_log_softmax(logits), batch)` without the vocabulary-sized
/// log-softmax tensor (a fused kernel on the CPU, `lume_model::token_nll`).
pub fn answer_log_probs(logits: Tensor<3>, batch: &TensorBatch) -> Tensor<2> {
    let [b, t, v] = logits.dims();
    // The last position predicts nothing: it gets target 0 and is cut from the result, so its
    // gradient is 0 and the kernel skips it. This spares copying the logits without it.
    let padding = Tensor::<2, Int>::zeros([b, 1], &logits.device());
    let targets = Tensor::cat(vec![batch.targets.clone(), padding], 1);
    let nll = lume_model::token_nll(logits.reshape([b * t, v]), targets.reshape([b * t]));
    nll.reshape([b, t]).slice([0..b, 0..t - 1]).neg() * batch.weights.clone()
}

/// `log π(y|x)` of each row: the sum over its answer tokens, `[batch]`.
pub fn sequence_log_probs(token_log_probs: Tensor<2>) -> Tensor<1> {
    let [b, _] = token_log_probs.dims();
    token_log_probs.sum_dim(1).reshape([b])
}

/// Mean NLL over every counted token of the batch, as Hugging Face's loss: `[1]`.
pub fn mean_nll(token_log_probs: Tensor<2>, batch: &TensorBatch) -> Tensor<1> {
    token_log_probs
        .sum()
        .neg()
        .div_scalar(batch.total_counted() as f64)
}

/// Per-row answer length `|y|` as a tensor on the batch's device, `[batch]`.
pub fn answer_lengths(batch: &TensorBatch) -> Tensor<1> {
    let lengths: Vec<f32> = batch.counted.iter().map(|&n| n as f32).collect();
    Tensor::from_floats(lengths.as_slice(), &batch.weights.device())
}

/// Token-level `KL(p_ref ‖ p_θ)` summed over the vocabulary and averaged over counted tokens.
pub fn mean_kl(
    reference_log_probs: Tensor<3>,
    log_probs: Tensor<3>,
    batch: &TensorBatch,
) -> Tensor<1> {
    let [b, t1, _] = log_probs.dims();
    let per_token = (reference_log_probs.clone().exp() * (reference_log_probs - log_probs))
        .sum_dim(2)
        .reshape([b, t1]);
    (per_token * batch.weights.clone())
        .sum()
        .div_scalar(batch.total_counted() as f64)
}

/// 1.0 at each position's target id, `[batch, seq − 1, vocab]`.
pub fn one_hot_targets(batch: &TensorBatch, vocab: usize) -> Tensor<3> {
    let [b, t1] = batch.targets.dims();
    let device = batch.targets.device();
    let ids = Tensor::<1, burn::tensor::Int>::arange(0..vocab as i64, &device)
        .reshape([1, 1, vocab])
        .expand([b, t1, vocab]);
    batch
        .targets
        .clone()
        .unsqueeze_dim::<3>(2)
        .expand([b, t1, vocab])
        .equal(ids)
        .float()
}

/// Mean over counted positions of a per-position value `[batch, seq − 1]`, with `weights`.
pub fn weighted_mean(values: Tensor<2>, weights: Tensor<2>) -> Tensor<1> {
    let count = weights.clone().sum();
    (values * weights).sum() / count.clamp_min(1.0)
}

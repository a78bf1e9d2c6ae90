//! Tokenized batches moved onto a device, with the next-token targets the losses need.

use burn::tensor::{Device, Int, Tensor, TensorData};
use lume_data::{Batch, IGNORE_INDEX};

use crate::UnlearnError;

/// A [`Batch`] on a device, shifted for next-token prediction: position `i` of `targets`
/// is the label of token `i + 1`.
#[derive(Debug, Clone)]
pub struct TensorBatch {
    /// Token ids `[batch, seq]`.
    pub ids: Tensor<2, Int>,
    /// `true` on real tokens, row-major `[batch, seq]`, on the host (where the attention
    /// kernel reads it).
    pub attention_mask: Vec<bool>,
    /// Next-token ids `[batch, seq − 1]` (0 where not counted).
    pub targets: Tensor<2, Int>,
    /// 1 where the target counts, 0 elsewhere `[batch, seq − 1]`.
    pub weights: Tensor<2>,
    /// Like `weights`, without each row's first counted target (CE-U skips it).
    pub weights_after_first: Tensor<2>,
    /// Counted targets of each row.
    pub counted: Vec<usize>,
    /// Row-major `row × seq + position` of every position whose next token counts, on the
    /// host (the head runs on these alone, see `CausalModel::logits_at`).
    pub counted_positions: Vec<usize>,
    /// The token each of `counted_positions` predicts.
    pub counted_targets: Vec<i64>,
    /// Rows.
    pub batch_size: usize,
    /// Positions.
    pub seq_len: usize,
}

impl TensorBatch {
    /// Moves `batch` onto `device`. Every row must count at least one target.
    pub fn new(batch: &Batch, device: &Device) -> Result<Self, UnlearnError> {
        let (b, t) = (batch.batch_size, batch.seq_len);
        if b == 0 || t < 2 {
            return Err(UnlearnError::EmptyBatch(format!(
                "{b} rows of {t} tokens: a batch needs a row of at least 2 tokens"
            )));
        }
        let mut targets = Vec::with_capacity(b * (t - 1));
        let mut weights = Vec::with_capacity(b * (t - 1));
        let mut after_first = Vec::with_capacity(b * (t - 1));
        let mut counted = Vec::with_capacity(b);
        let (mut counted_positions, mut counted_targets) = (Vec::new(), Vec::new());
        for row in 0..b {
            let mut n = 0;
            for col in 1..t {
                let label = batch.labels[row * t + col];
                let counts = label != IGNORE_INDEX;
                targets.push(if counts { label } else { 0 });
                weights.push(if counts { 1.0f32 } else { 0.0 });
                after_first.push(if counts && n > 0 { 1.0f32 } else { 0.0 });
                if counts {
                    counted_positions.push(row * t + col - 1);
                    counted_targets.push(label);
                }
                n += usize::from(counts);
            }
            if n == 0 {
                return Err(UnlearnError::EmptyBatch(format!(
                    "row {row} has no answer token to learn from (prompt longer than the length limit?)"
                )));
            }
            counted.push(n);
        }
        let ids: Vec<i64> = batch.input_ids.iter().map(|&id| i64::from(id)).collect();
        let shifted = [b, t - 1];
        Ok(TensorBatch {
            ids: Tensor::from_data(TensorData::new(ids, [b, t]), device),
            attention_mask: batch.attention_mask.clone(),
            targets: Tensor::from_data(TensorData::new(targets, shifted), device),
            weights: Tensor::from_data(TensorData::new(weights, shifted), device),
            weights_after_first: Tensor::from_data(TensorData::new(after_first, shifted), device),
            counted,
            counted_positions,
            counted_targets,
            batch_size: b,
            seq_len: t,
        })
    }

    /// Counted targets in the whole batch.
    pub fn total_counted(&self) -> usize {
        self.counted.iter().sum()
    }

    /// The same batch on the plain (non-autodiff) device, for a frozen reference model.
    pub fn inner(&self) -> TensorBatch {
        TensorBatch {
            ids: self.ids.clone().inner(),
            attention_mask: self.attention_mask.clone(),
            targets: self.targets.clone().inner(),
            weights: self.weights.clone().inner(),
            weights_after_first: self.weights_after_first.clone().inner(),
            counted: self.counted.clone(),
            counted_positions: self.counted_positions.clone(),
            counted_targets: self.counted_targets.clone(),
            batch_size: self.batch_size,
            seq_len: self.seq_len,
        }
    }
}

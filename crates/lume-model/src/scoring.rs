//! Teacher-forced log-probabilities and losses, shifted as Hugging Face's `labels=` does.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

/// The label of a position that does not count, as in Hugging Face.
pub const IGNORE_INDEX: i64 = -100;

/// Per row, `log p(labels[t+1] | ids[..=t])` at every position whose shifted label counts.
///
/// `logits` is `[batch, seq, vocab]`; `labels` is row-major `[batch, seq]`, unshifted.
pub fn label_log_probs(logits: Tensor<3>, labels: &[i64]) -> Vec<Vec<f64>> {
    let [b, t, _] = logits.dims();
    if t < 2 {
        return vec![Vec::new(); b];
    }
    let device = logits.device();
    let shifted: Vec<i64> = (0..b)
        .flat_map(|row| (1..t).map(move |col| labels[row * t + col]))
        .collect();
    let index: Vec<i64> = shifted.iter().map(|&l| l.max(0)).collect();
    let index = Tensor::<2, Int>::from_data(TensorData::new(index, [b, t - 1]), &device);
    let log_probs = log_softmax(logits.slice([0..b, 0..t - 1]), 2)
        .gather(2, index.unsqueeze_dim::<3>(2))
        .reshape([b, t - 1]);
    let host: Vec<f32> = log_probs
        .into_data()
        .try_to_vec_as::<f32>()
        .unwrap_or_default();
    (0..b)
        .map(|row| {
            (0..t - 1)
                .filter(|&col| shifted[row * (t - 1) + col] != IGNORE_INDEX)
                .map(|col| f64::from(host[row * (t - 1) + col]))
                .collect()
        })
        .collect()
}

/// Mean NLL over the counted positions of each row (`NaN`-free: `None` without any).
pub fn row_losses(logits: Tensor<3>, labels: &[i64]) -> Vec<Option<f64>> {
    label_log_probs(logits, labels)
        .into_iter()
        .map(|lp| (!lp.is_empty()).then(|| -lp.iter().sum::<f64>() / lp.len() as f64))
        .collect()
}

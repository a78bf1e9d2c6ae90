//! Teacher-forced log-probabilities and losses, shifted as Hugging Face's `labels=` does.

use burn::tensor::{Int, Tensor, TensorData};

use lume_kernels::token_nll;

use lume_data::IGNORE_INDEX;

/// Per row, `log p(labels[t+1] | ids[..=t])` at every position whose shifted label counts.
///
/// `logits` is `[batch, seq, vocab]`; `labels` is row-major `[batch, seq]`, unshifted.
pub fn label_log_probs(logits: Tensor<3>, labels: &[i64]) -> Vec<Vec<f64>> {
    let [b, t, _] = logits.dims();
    if t < 2 {
        return vec![Vec::new(); b];
    }
    let [_, _, v] = logits.dims();
    let device = logits.device();
    // Every position scored against the next label (the last against 0, and dropped): the
    // logits are read in place, without a copy of all but the last position.
    let next = |row: usize, col: usize| {
        labels
            .get(row * t + col + 1)
            .copied()
            .filter(|_| col + 1 < t)
    };
    let index: Vec<i64> = (0..b)
        .flat_map(|row| (0..t).map(move |col| next(row, col).map_or(0, |l| l.max(0))))
        .collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [b * t]), &device);
    let nll: Vec<f32> = token_nll(logits.reshape([b * t, v]), index)
        .into_data()
        .try_to_vec_as::<f32>()
        .unwrap_or_default();
    (0..b)
        .map(|row| {
            (0..t - 1)
                .filter(|&col| next(row, col) != Some(IGNORE_INDEX))
                .map(|col| -f64::from(nll[row * t + col]))
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

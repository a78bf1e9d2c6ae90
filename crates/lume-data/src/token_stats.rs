//! What a model says about each answer token under teacher forcing: the raw material of the
//! field's memorization metrics and membership-inference attacks.

/// Per-token statistics of one example's counted (answer) positions.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TokenStats {
    /// `log p(label_t | prefix)` at each counted position.
    pub log_probs: Vec<f64>,
    /// Whether the teacher-forced argmax equals the label at each position.
    pub argmax_matches: Vec<bool>,
    /// `μ_t = Σ_v p(v) log p(v)`, the mean log-prob under the model's own next-token
    /// distribution (Min-K%++); empty when the engine does not provide it.
    pub expected_log_prob: Vec<f64>,
    /// `σ²_t = Σ_v p(v) (log p(v))² − μ_t²` (Min-K%++); empty when not provided.
    pub log_prob_variance: Vec<f64>,
}

impl TokenStats {
    /// Mean negative log-likelihood (the Hugging Face loss over these positions).
    pub fn mean_nll(&self) -> Option<f64> {
        mean(&self.log_probs).map(|m| -m)
    }

    /// Number of counted tokens.
    pub fn len(&self) -> usize {
        self.log_probs.len()
    }

    /// Whether no token is counted.
    pub fn is_empty(&self) -> bool {
        self.log_probs.is_empty()
    }
}

/// Arithmetic mean with a compensated sum (Python's `statistics.mean` sums exactly).
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| compensated_sum(values.iter().copied()) / values.len() as f64)
}

/// Neumaier's compensated summation: as close to an exact sum as f64 allows here.
pub fn compensated_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for v in values {
        let t = sum + v;
        compensation += if sum.abs() >= v.abs() {
            (sum - t) + v
        } else {
            (v - t) + sum
        };
        sum = t;
    }
    sum + compensation
}

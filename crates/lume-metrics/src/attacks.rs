//! Membership-inference attacks on per-token statistics, forget quality and PrivLeak.
//!
//! Every attack statistic is oriented like a loss: higher means "looks unseen".
//! [`membership_auc`] turns two sets of statistics into the AUC of members against
//! non-members (1: members stand out, 0.5: indistinguishable).

use std::io::Write;

use crate::auc::AucError;
use crate::ks::{KsError, KsMethod, ks_2samp};
use lume_data::TokenStats;

/// The attacks of protocol §3.7.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// Mean NLL.
    Loss,
    /// Mean NLL over the zlib-compressed byte length of the text.
    Zlib,
    /// Negated mean of the lowest `k` fraction of token log-probs.
    MinK {
        /// Fraction of tokens kept (0.4 by default).
        k: f64,
    },
    /// Min-K% on per-token z-scores `(log p − μ)/σ` under the model's own distribution, σ²
    /// floored at [`MIN_K_PLUS_PLUS_VARIANCE`].
    MinKPlusPlus {
        /// Fraction of tokens kept.
        k: f64,
    },
}

/// The fraction Min-K% keeps by default.
pub const DEFAULT_MIN_K: f64 = 0.4;

/// Length of `zlib.compress(text.encode("utf-8"))` (default level), as the ZLib attack uses.
pub fn zlib_length(text: &str) -> usize {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().map(|v| v.len()).unwrap_or(0)
}

/// Negated mean of the lowest `max(1, floor(len·k))` values.
fn min_k_of(values: &[f64], k: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let keep = ((values.len() as f64 * k) as usize).max(1);
    crate::mean(&sorted[..keep]).map(|m| -m)
}

impl Attack {
    /// The attack statistic of one example (`text` is needed by ZLib only).
    /// `None` when the statistics it needs are missing.
    pub fn statistic(&self, stats: &TokenStats, text: &str) -> Option<f64> {
        match *self {
            Attack::Loss => stats.mean_nll(),
            Attack::Zlib => {
                let len = zlib_length(text);
                stats
                    .mean_nll()
                    .filter(|_| len > 0)
                    .map(|nll| nll / len as f64)
            }
            Attack::MinK { k } => min_k_of(&stats.log_probs, k),
            Attack::MinKPlusPlus { k } => {
                let n = stats.log_probs.len();
                if stats.expected_log_prob.len() != n || stats.log_prob_variance.len() != n {
                    return None;
                }
                let z: Vec<f64> = (0..n)
                    .map(|t| {
                        (stats.log_probs[t] - stats.expected_log_prob[t])
                            / stats.log_prob_variance[t]
                                .max(MIN_K_PLUS_PLUS_VARIANCE)
                                .sqrt()
                    })
                    .collect();
                min_k_of(&z, k)
            }
        }
    }
}

/// The floor on σ² in Min-K%++ (open-unlearning's `min_k_plus_plus.py`): a position where the
/// model is certain has σ² = 0, and its z-score stays finite instead of dropping the document.
pub const MIN_K_PLUS_PLUS_VARIANCE: f64 = 1e-6;

/// AUC of members against non-members for loss-like statistics (members labelled 1,
/// score = −statistic), exactly as LUME's `mia_loss_acc` on losses. GradNorm's per-sample
/// gradient norms are loss-like too (unseen text pulls harder) and go through here as they are.
pub fn membership_auc(members: &[f64], nonmembers: &[f64]) -> Result<f64, AucError> {
    crate::auc::mia_auc(members, nonmembers)
}

/// Forget quality: the two-sample KS p-value between a statistic of the unlearned model and
/// the same statistic of the retain-only ("gold") model.
pub fn forget_quality(unlearned: &[f64], gold: &[f64]) -> Result<f64, KsError> {
    ks_2samp(unlearned, gold, KsMethod::Auto).map(|r| r.pvalue)
}

/// PrivLeak in MUSE's orientation, as open-unlearning's `privacy.py` computes it:
/// `((1 − AUC_unlearned) − (1 − AUC_gold)) / (1 − AUC_gold) × 100`, on the Min-K% AUCs of
/// forget (member) against holdout documents. 0 is ideal; a model that still memorizes its
/// forget set (AUC near 1, gold near 0.5) is strongly negative. Like open-unlearning, the
/// denominator carries `+ 1e-10`, so a gold AUC of exactly 1 gives a large finite number.
///
/// ```
/// assert!((lume_metrics::privleak(0.75, 0.5) - -50.0).abs() < 1e-6);
/// assert_eq!(lume_metrics::privleak(0.6, 0.6), 0.0);
/// ```
pub fn privleak(auc_unlearned: f64, auc_gold: f64) -> f64 {
    let (score, reference) = (1.0 - auc_unlearned, 1.0 - auc_gold);
    (score - reference) / (reference + 1e-10) * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_k_keeps_at_least_one_token() {
        assert_eq!(min_k_of(&[-1.0, -3.0, -2.0], 0.1), Some(3.0));
        assert_eq!(min_k_of(&[-1.0, -3.0, -2.0, -4.0, -5.0], 0.4), Some(4.5));
        assert_eq!(min_k_of(&[], 0.4), None);
    }

    #[test]
    fn min_k_plus_plus_needs_the_distribution_moments() {
        let mut s = TokenStats {
            log_probs: vec![-1.0, -2.0],
            ..Default::default()
        };
        assert_eq!(Attack::MinKPlusPlus { k: 0.5 }.statistic(&s, ""), None);
        s.expected_log_prob = vec![-1.5, -1.5];
        s.log_prob_variance = vec![0.25, 0.25];
        // z = (1, -1): the lowest half is -1, negated.
        assert_eq!(Attack::MinKPlusPlus { k: 0.5 }.statistic(&s, ""), Some(1.0));
        // A certain position (σ² = 0) is scored on the floor, not dropped.
        s.log_prob_variance = vec![0.0, 0.25];
        s.log_probs = vec![-1.5 - 1e-3, -2.0];
        assert!((Attack::MinKPlusPlus { k: 0.5 }.statistic(&s, "").unwrap() - 1.0).abs() < 1e-12);
    }
}

//! Probability, exact memorization and extraction strength (protocol §3.7).

use lume_data::TokenStats;

/// `exp(−mean answer NLL)`; `None` without answer tokens.
///
/// ```
/// use lume_metrics::{probability, TokenStats};
/// let s = TokenStats { log_probs: vec![0.5f64.ln(), 0.5f64.ln()], ..Default::default() };
/// assert!((probability(&s).unwrap() - 0.5).abs() < 1e-15);
/// ```
pub fn probability(stats: &TokenStats) -> Option<f64> {
    stats.mean_nll().map(|nll| (-nll).exp())
}

/// Fraction of answer tokens where the teacher-forced argmax equals the label.
pub fn exact_memorization(stats: &TokenStats) -> Option<f64> {
    let n = stats.argmax_matches.len();
    (n > 0).then(|| stats.argmax_matches.iter().filter(|&&m| m).count() as f64 / n as f64)
}

/// Extraction strength as open-unlearning's `memorization.py` defines it: `1 − k/|y|` for the
/// smallest `k` in `0..|y|` after which every teacher-forced argmax matches the label; when not
/// even the last token matches, the search ends at `k = |y| − 1`, giving `1/|y|`. So 1 when
/// every token matches, and never 0 for a non-empty answer.
///
/// ```
/// use lume_metrics::{extraction_strength, TokenStats};
/// let s = |m: &[bool]| TokenStats { argmax_matches: m.to_vec(), ..Default::default() };
/// assert_eq!(extraction_strength(&s(&[false, true, true, true])), Some(0.75));
/// assert_eq!(extraction_strength(&s(&[true, true, true])), Some(1.0));
/// assert_eq!(extraction_strength(&s(&[true, true, false, false])), Some(0.25));
/// ```
pub fn extraction_strength(stats: &TokenStats) -> Option<f64> {
    let m = &stats.argmax_matches;
    if m.is_empty() {
        return None;
    }
    let k = m
        .iter()
        .rposition(|&matched| !matched)
        .map_or(0, |i| (i + 1).min(m.len() - 1));
    Some(1.0 - k as f64 / m.len() as f64)
}

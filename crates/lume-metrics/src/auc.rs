//! ROC AUC with scikit-learn's tie handling, and the LUME MIA score built on it.

/// Why an AUC cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AucError {
    /// One class has no sample: the ROC curve is undefined.
    #[error("AUC needs at least one positive and one negative sample")]
    OneClass,
    /// A score is NaN.
    #[error("score {0} is NaN")]
    NaN(usize),
}

/// Area under the ROC curve of `positives` against `negatives` (higher score = more positive),
/// as `sklearn.metrics.roc_curve` followed by `auc`: the curve steps through each distinct
/// threshold, so ties count one half, and the area is summed by trapezoids.
///
/// ```
/// use lume_metrics::roc_auc;
/// assert_eq!(roc_auc(&[3.0, 2.0], &[1.0, 0.0]).unwrap(), 1.0);
/// assert_eq!(roc_auc(&[1.0], &[1.0]).unwrap(), 0.5);
/// ```
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> Result<f64, AucError> {
    if positives.is_empty() || negatives.is_empty() {
        return Err(AucError::OneClass);
    }
    let mut scored: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    if let Some(i) = scored.iter().position(|(s, _)| s.is_nan()) {
        return Err(AucError::NaN(i));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut prev_tpr, mut prev_fpr) = (0.0f64, 0.0f64);
    let mut area = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let threshold = scored[i].0;
        while i < scored.len() && scored[i].0 == threshold {
            if scored[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let (tpr, fpr) = (tp as f64 / p, fp as f64 / n);
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        (prev_tpr, prev_fpr) = (tpr, fpr);
    }
    Ok(area)
}

/// LUME's membership-inference AUC: members labelled 1, non-members 0, score = −loss.
pub fn mia_auc(member_losses: &[f64], nonmember_losses: &[f64]) -> Result<f64, AucError> {
    let neg = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<_>>();
    roc_auc(&neg(member_losses), &neg(nonmember_losses))
}

/// `1 − 2·|AUC − 0.5|`: 1 when members and non-members are indistinguishable.
///
/// ```
/// assert_eq!(lume_metrics::mia_score(0.5), 1.0);
/// assert_eq!(lume_metrics::mia_score(1.0), 0.0);
/// ```
pub fn mia_score(auc: f64) -> f64 {
    1.0 - 2.0 * (auc - 0.5).abs()
}

//! Next-token cross-entropy on the CPU in one pass over the vocabulary per row, and its
//! gradient in one more: the two passes that a composed `log_softmax` + `gather` spreads over
//! eight full-size temporaries.

use rayon::prelude::*;

use super::simd::{exp, max, simd_dispatch, sum_exp};

/// Rows per rayon task: a row is a whole vocabulary, so a few rows already amortize the task.
const ROWS_PER_TASK: usize = 8;

/// `logsumexp(row) − row[target]` for every row of `logits` (`rows × vocab`, row-major).
/// A target outside the vocabulary gives NaN, so that a bad id cannot pass unnoticed.
pub(crate) fn token_nll(logits: &[f32], targets: &[i64], vocab: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; targets.len()];
    out.par_chunks_mut(ROWS_PER_TASK)
        .zip(logits.par_chunks(ROWS_PER_TASK * vocab))
        .zip(targets.par_chunks(ROWS_PER_TASK))
        .for_each(|((out, rows), targets)| nll_rows(out, rows, targets, vocab));
    out
}

/// The gradient of [`token_nll`] times `grad` (one value per row):
/// `(softmax(row) − onehot(target)) · grad`. `nll` is what the forward returned, from which
/// each row's log-sum-exp is recovered without another pass.
pub(crate) fn token_nll_backward(
    logits: &[f32],
    targets: &[i64],
    nll: &[f32],
    grad: &[f32],
    vocab: usize,
) -> Vec<f32> {
    let mut out = super::elementwise::zeros(logits.len());
    out.par_chunks_mut(ROWS_PER_TASK * vocab)
        .zip(logits.par_chunks(ROWS_PER_TASK * vocab))
        .enumerate()
        .for_each(|(task, (out, rows))| {
            let first = task * ROWS_PER_TASK;
            let n = out.len() / vocab;
            let span = first..first + n;
            nll_grad_rows(
                out,
                rows,
                &targets[span.clone()],
                &nll[span.clone()],
                &grad[span],
                vocab,
            )
        });
    out
}

simd_dispatch! {
    fn nll_rows(out: &mut [f32], rows: &[f32], targets: &[i64], vocab: usize) {
        for ((o, row), &target) in out.iter_mut().zip(rows.chunks_exact(vocab)).zip(targets) {
            let shift = max(row);
            let lse = shift + sum_exp(row, shift).ln();
            *o = usize::try_from(target)
                .ok()
                .and_then(|t| row.get(t))
                .map_or(f32::NAN, |&x| lse - x);
        }
    }
}

/// What teacher forcing reads off one row of logits: the label's log-probability, whether
/// the label is the first argmax, and the mean and variance of `log p` under the row's own
/// distribution (Min-K%++).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowStats {
    /// `log p(label)`.
    pub label_log_prob: f64,
    /// Whether the label is the row's first argmax.
    pub argmax_matches: bool,
    /// `E[log p]` under the row's distribution.
    pub expected_log_prob: f64,
    /// `Var[log p]` under the row's distribution.
    pub log_prob_variance: f64,
}

/// [`RowStats`] of every row of `logits` (`rows × vocab`) against `labels`, in one pass over
/// the vocabulary per row plus one for the argmax. A label outside the vocabulary gives NaN.
pub fn row_stats(logits: &[f32], labels: &[i64], vocab: usize) -> Vec<RowStats> {
    let empty = RowStats {
        label_log_prob: f64::NAN,
        argmax_matches: false,
        expected_log_prob: f64::NAN,
        log_prob_variance: f64::NAN,
    };
    let mut out = vec![empty; labels.len()];
    out.par_chunks_mut(ROWS_PER_TASK)
        .zip(logits.par_chunks(ROWS_PER_TASK * vocab))
        .zip(labels.par_chunks(ROWS_PER_TASK))
        .for_each(|((out, rows), labels)| stats_rows(out, rows, labels, vocab));
    out
}

simd_dispatch! {
    fn stats_rows(out: &mut [RowStats], rows: &[f32], labels: &[i64], vocab: usize) {
        for ((o, row), &label) in out.iter_mut().zip(rows.chunks_exact(vocab)).zip(labels) {
            let shift = max(row);
            // Σ e, Σ e·z and Σ e·z² with z = x − shift, e = exp(z), in f32 lanes.
            let (mut s, mut a, mut b) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
            let mut chunks = row.chunks_exact(16);
            for chunk in &mut chunks {
                for l in 0..16 {
                    let z = chunk[l] - shift;
                    let e = exp(z);
                    s[l] += e;
                    a[l] += e * z;
                    b[l] += e * z * z;
                }
            }
            let (mut st, mut at, mut bt) = (0.0f64, 0.0f64, 0.0f64);
            for &x in chunks.remainder() {
                let z = x - shift;
                let e = exp(z);
                st += f64::from(e);
                at += f64::from(e * z);
                bt += f64::from(e * z * z);
            }
            let sum = |lanes: [f32; 16], tail: f64| lanes.iter().map(|&x| f64::from(x)).sum::<f64>() + tail;
            let (s, a, b) = (sum(s, st), sum(a, at), sum(b, bt));
            let ln_s = s.ln();
            // log p = z − ln s: E[log p] = a/s − ln s, Var[log p] = Var[z] = b/s − (a/s)².
            let mean_z = a / s;
            let argmax = row.iter().position(|&x| x == shift);
            let target = usize::try_from(label).ok().filter(|&t| t < vocab);
            *o = RowStats {
                label_log_prob: target.map_or(f64::NAN, |t| f64::from(row[t] - shift) - ln_s),
                argmax_matches: target.is_some() && argmax == target,
                expected_log_prob: mean_z - ln_s,
                log_prob_variance: (b / s - mean_z * mean_z).max(0.0),
            };
        }
    }
}

simd_dispatch! {
    fn nll_grad_rows(
        out: &mut [f32],
        rows: &[f32],
        targets: &[i64],
        nll: &[f32],
        grad: &[f32],
        vocab: usize,
    ) {
        for (r, (o, row)) in out
            .chunks_exact_mut(vocab)
            .zip(rows.chunks_exact(vocab))
            .enumerate()
        {
            let g = grad[r];
            // Masked positions (prompt tokens) have no gradient: the zeros stay.
            if g == 0.0 {
                continue;
            }
            let Some(t) = usize::try_from(targets[r]).ok().filter(|&t| t < vocab) else {
                o.fill(f32::NAN);
                continue;
            };
            let lse = nll[r] + row[t];
            for (o, &x) in o.iter_mut().zip(row) {
                *o = exp(x - lse) * g;
            }
            o[t] -= g;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    fn reference(row: &[f32], target: usize) -> (f64, Vec<f64>) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        let lse = max + sum.ln();
        let grad = row
            .iter()
            .enumerate()
            .map(|(i, &x)| (x as f64 - lse).exp() - f64::from(u8::from(i == target)))
            .collect();
        (lse - row[target] as f64, grad)
    }

    /// Logits in `[-scale, scale]` and in-vocabulary targets, from a xorshift seeded by `seed`.
    fn random_rows(rows: usize, vocab: usize, seed: u64, scale: f32) -> (Vec<f32>, Vec<i64>) {
        let mut state = seed | 1;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let logits = (0..rows * vocab)
            .map(|_| ((next() % 20_001) as f32 / 10_000.0 - 1.0) * scale)
            .collect();
        let targets = (0..rows).map(|_| (next() % vocab as u64) as i64).collect();
        (logits, targets)
    }

    proptest! {
        #[test]
        fn matches_f64_reference(
            rows in 1usize..20,
            vocab in 1usize..70,
            seed in any::<u64>(),
            scale in 0.1f32..30.0,
        ) {
            let (logits, targets) = random_rows(rows, vocab, seed, scale);
            let grad: Vec<f32> = (0..rows).map(|r| if r % 3 == 2 { 0.0 } else { 0.5 + r as f32 }).collect();
            let nll = super::token_nll(&logits, &targets, vocab);
            let dlogits = super::token_nll_backward(&logits, &targets, &nll, &grad, vocab);
            for r in 0..rows {
                let (want, want_grad) = reference(&logits[r * vocab..(r + 1) * vocab], targets[r] as usize);
                prop_assert!((nll[r] as f64 - want).abs() <= 1e-5 * want.abs().max(1.0), "row {r}: {} vs {want}", nll[r]);
                for v in 0..vocab {
                    let want = want_grad[v] * grad[r] as f64;
                    let got = dlogits[r * vocab + v] as f64;
                    prop_assert!((got - want).abs() <= 1e-5 * (1.0 + grad[r] as f64), "row {r} col {v}: {got} vs {want}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn row_stats_match_an_f64_reference(
            rows in 1usize..10,
            vocab in 1usize..90,
            seed in any::<u64>(),
            scale in 0.1f32..30.0,
        ) {
            let (logits, labels) = random_rows(rows, vocab, seed, scale);
            let stats = super::row_stats(&logits, &labels, vocab);
            for r in 0..rows {
                let row = &logits[r * vocab..(r + 1) * vocab];
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = max + row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
                let lp: Vec<f64> = row.iter().map(|&x| x as f64 - lse).collect();
                let mean: f64 = lp.iter().map(|l| l.exp() * l).sum();
                let var: f64 = lp.iter().map(|l| l.exp() * (l - mean).powi(2)).sum();
                let first_max = row.iter().position(|&x| x as f64 == max).unwrap();
                let s = stats[r];
                let tol = 1e-5 * (1.0 + scale as f64);
                prop_assert!((s.label_log_prob - lp[labels[r] as usize]).abs() <= tol);
                prop_assert!((s.expected_log_prob - mean).abs() <= tol);
                prop_assert!((s.log_prob_variance - var).abs() <= tol * (1.0 + var), "{} vs {var}", s.log_prob_variance);
                prop_assert_eq!(s.argmax_matches, first_max == labels[r] as usize);
            }
        }
    }

    #[test]
    fn a_target_outside_the_vocabulary_is_nan() {
        let nll = super::token_nll(&[0.0, 1.0], &[2], 2);
        assert!(nll[0].is_nan());
        let nll = super::token_nll(&[0.0, 1.0], &[-1], 2);
        assert!(nll[0].is_nan());
    }
}

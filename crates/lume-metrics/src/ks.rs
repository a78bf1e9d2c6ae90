//! The two-sample Kolmogorov–Smirnov test, two-sided, as `scipy.stats.ks_2samp`.
//!
//! Forget quality (TOFU, MUSE) is the p-value of this test between a statistic of the unlearned
//! model and the same statistic of the retain-only model.

/// How the p-value is computed, as `ks_2samp(method=…)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KsMethod {
    /// Exact when both samples hold at most 10,000 values, asymptotic otherwise.
    #[default]
    Auto,
    /// The exact distribution (Hodges' lattice-path counts); falls back to asymptotic when
    /// the computation is not possible in floating point, as SciPy does.
    Exact,
    /// The limiting distribution of the one-sample statistic at `n = round(m·n/(m+n))`.
    Asymp,
}

/// Why the test cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KsError {
    /// A sample is empty.
    #[error("the KS test needs two non-empty samples")]
    Empty,
    /// A value is NaN.
    #[error("sample contains NaN")]
    NaN,
}

/// The statistic and p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct KsResult {
    /// `D = sup |F₁ − F₂|`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub pvalue: f64,
}

const MAX_AUTO_N: usize = 10_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Two-sided two-sample KS test.
///
/// ```
/// use lume_metrics::{KsMethod, ks_2samp};
/// let r = ks_2samp(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], KsMethod::Auto).unwrap();
/// assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
/// let r = ks_2samp(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], KsMethod::Exact).unwrap();
/// assert!((r.pvalue - 0.028571428571428577).abs() < 1e-15);
/// ```
pub fn ks_2samp(x: &[f64], y: &[f64], method: KsMethod) -> Result<KsResult, KsError> {
    if x.is_empty() || y.is_empty() {
        return Err(KsError::Empty);
    }
    if x.iter().chain(y).any(|v| v.is_nan()) {
        return Err(KsError::NaN);
    }
    let mut a = x.to_vec();
    let mut b = y.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len(), b.len());
    // searchsorted(side='right') over every value of both samples.
    let upper = |s: &[f64], v: f64| s.partition_point(|&e| e <= v);
    let mut max_s = f64::NEG_INFINITY;
    let mut min_s = f64::INFINITY;
    for &v in a.iter().chain(&b) {
        let diff = upper(&a, v) as f64 / n1 as f64 - upper(&b, v) as f64 / n2 as f64;
        max_s = max_s.max(diff);
        min_s = min_s.min(diff);
    }
    let min_s = (-min_s).clamp(0.0, 1.0);
    let mut d = if min_s > max_s { min_s } else { max_s };
    let g = gcd(n1 as u64, n2 as u64);
    let mut exact = match method {
        KsMethod::Auto => n1.max(n2) <= MAX_AUTO_N,
        KsMethod::Exact => ((n1 as u64 / g) as f64) < i32::MAX as f64 / ((n2 as u64 / g) as f64),
        KsMethod::Asymp => false,
    };
    let mut prob = f64::NAN;
    if exact {
        let lcm = (n1 as u64 / g) * n2 as u64;
        let h = (d * lcm as f64).round_ties_even() as u64;
        d = h as f64 / lcm as f64;
        if h == 0 {
            prob = 1.0;
        } else {
            let p = if n1 == n2 {
                prob_outside_square(n1 as u64, h)
            } else {
                outer_prob_inside_method(n1 as u64, n2 as u64, g, h)
            };
            if p.is_finite() && (0.0..=1.0).contains(&p) {
                prob = p;
            } else {
                exact = false;
            }
        }
    }
    if !exact {
        let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
        let en = m * n / (m + n);
        prob = crate::kolmogorov::kolmogorov_n_sf(en.round_ties_even() as u64, d);
    }
    Ok(KsResult {
        statistic: d,
        pvalue: prob.clamp(0.0, 1.0),
    })
}

/// Proportion of lattice paths leaving the band `|x − y| < h` when both samples have size `n`.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kh = k as u64 * h;
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n as f64 - kh as f64 - j as f64) * p1 / (n as f64 + kh as f64 + j as f64 + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// 1 − (paths staying strictly inside the band) / (all paths), by Viehmann's stable recursion.
fn outer_prob_inside_method(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = (m / g, n / g);
    let (m, n, mg, ng, h) = (m as i64, n as i64, mg as i64, ng as i64, h as i64);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h as f64 / mg as f64).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let (last_minj, last_len) = (minj, curlen);
        minj = ((((ng * i - h) as f64) / mg as f64).floor() as i64 + 1).max(0);
        minj = minj.min(n);
        maxj = ((((ng * i + h) as f64) / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            val =
                (a[(jj + minj - last_minj) as usize] * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if last_len > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (last_len - curlen) as usize).min(a.len());
            for v in &mut a[start..end] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

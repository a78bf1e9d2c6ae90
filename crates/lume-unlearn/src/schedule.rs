//! Learning-rate schedules: linear warm-up, then constant, linear or cosine decay
//! (Hugging Face's `get_*_schedule_with_warmup`).

use serde::{Deserialize, Serialize};

/// The shape after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Stay at the peak.
    #[default]
    Constant,
    /// Decay linearly to 0 at the last step.
    Linear,
    /// Half a cosine down to 0 at the last step.
    Cosine,
}

impl Schedule {
    /// The learning rate of step `step` (0-based) of `total`, after `warmup` warm-up steps.
    ///
    /// ```
    /// use lume_unlearn::Schedule;
    /// assert_eq!(Schedule::Linear.lr(1e-3, 0, 2, 10), 0.0);
    /// assert_eq!(Schedule::Linear.lr(1e-3, 1, 2, 10), 5e-4);
    /// assert_eq!(Schedule::Linear.lr(1e-3, 2, 2, 10), 1e-3);
    /// assert_eq!(Schedule::Linear.lr(1e-3, 6, 2, 10), 5e-4);
    /// assert!((Schedule::Cosine.lr(1e-3, 6, 2, 10) - 5e-4).abs() < 1e-12);
    /// assert_eq!(Schedule::Constant.lr(1e-3, 9, 2, 10), 1e-3);
    /// ```
    pub fn lr(self, peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
        if step < warmup {
            return peak * step as f64 / warmup.max(1) as f64;
        }
        let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
        match self {
            Schedule::Constant => peak,
            Schedule::Linear => peak * (1.0 - progress).max(0.0),
            Schedule::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

//! Membership-inference AUCs of the MIA documents (Min-K%, Min-K%++, ZLib) and MUSE's PrivLeak
//! against the gold model.

use lume_metrics::{Attack, DEFAULT_MIN_K, privleak};

use super::{Measure, Metric};
use crate::leaderboard::Format;
use crate::summary::EvalSummary;

/// The membership AUC of an attack's statistic on the MIA documents.
pub struct MembershipAttack {
    attack: Attack,
    key: String,
    header: String,
}

impl MembershipAttack {
    /// The AUC of `attack` (`min_k_auc`, `min_k_plus_plus_auc`, `zlib_auc`, `loss_auc`).
    pub fn new(attack: Attack) -> Self {
        let (key, header) = match attack {
            Attack::Loss => ("loss_auc", "loss AUC"),
            Attack::Zlib => ("zlib_auc", "ZLib AUC"),
            Attack::MinK { .. } => ("min_k_auc", "Min-K% AUC"),
            Attack::MinKPlusPlus { .. } => ("min_k_plus_plus_auc", "Min-K%++ AUC"),
        };
        MembershipAttack {
            attack,
            key: key.to_string(),
            header: header.to_string(),
        }
    }
}

impl Metric for MembershipAttack {
    fn key(&self) -> &str {
        &self.key
    }
    fn header(&self) -> &str {
        &self.header
    }
    fn measure(&self, model: &EvalSummary, _gold: Option<&EvalSummary>) -> Measure {
        Measure::documents(model, |doc| {
            self.attack.statistic(doc.stats.as_ref()?, &doc.text)
        })
    }
}

/// MUSE's PrivLeak, as open-unlearning computes it: `((1 − AUC) − (1 − AUC_gold)) /
/// (1 − AUC_gold) × 100` on the Min-K% AUCs, both models drawn on the same documents.
pub struct PrivLeak;

impl Metric for PrivLeak {
    fn key(&self) -> &str {
        "privleak"
    }
    fn header(&self) -> &str {
        "PrivLeak %"
    }
    fn format(&self) -> Format {
        Format::Fixed1
    }
    fn measure(&self, model: &EvalSummary, gold: Option<&EvalSummary>) -> Measure {
        let min_k = MembershipAttack::new(Attack::MinK { k: DEFAULT_MIN_K });
        match gold {
            Some(gold) => Measure::AgainstGold {
                model: Box::new(min_k.measure(model, None)),
                gold: Box::new(min_k.measure(gold, None)),
                combine: privleak,
            },
            None => Measure::Fixed(None),
        }
    }
}

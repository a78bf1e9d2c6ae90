//! The field's unlearning methods (protocol §4) and the registry that names them.

mod gradient;
mod lora_ties;
mod npo;
mod pdu;
mod rmu;
mod sequential;
mod token_weighted;

pub use gradient::{FineTune, GradientAscent, GradientDifference};
pub use lora_ties::LoraTies;
pub use npo::{IdkDpo, Npo, SimNpo};
pub use pdu::Pdu;
pub use rmu::Rmu;
pub use sequential::SequentialGd;
pub use token_weighted::{CeU, SatImp, Undial, Wga};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::UnlearnError;
use crate::method::{RetainTerm, UnlearningMethod};

/// A registered method: its name, what it does, and its default hyperparameters.
#[derive(Debug, Clone, Serialize)]
pub struct MethodInfo {
    /// Registry and CLI name.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Default hyperparameters.
    pub defaults: serde_json::Value,
}

const SUMMARIES: &[(&str, &str)] = &[
    ("ga", "gradient ascent on the forget NLL"),
    (
        "gd",
        "gradient difference: ascend forget NLL, descend retain NLL",
    ),
    (
        "kl",
        "ascend forget NLL, keep retain predictions close to the reference (KL over answer tokens, as the paper; open-unlearning averages over every position)",
    ),
    (
        "npo",
        "negative preference optimisation against the reference",
    ),
    ("npo-gd", "NPO plus retain NLL"),
    ("npo-kl", "NPO plus retain KL to the reference"),
    (
        "simnpo",
        "reference-free NPO on length-normalised NLL, plus retain NLL (the paper's margin δ; delta_scaled_by_beta=true for open-unlearning's)",
    ),
    (
        "idkdpo",
        "DPO preferring a refusal over the forget answer, plus retain NLL",
    ),
    (
        "rmu",
        "steer layer-ℓ activations of forget answers to a random direction, training the MLP down-projections of layers ℓ−2..ℓ (WMDP, as open-unlearning)",
    ),
    (
        "undial",
        "self-distil from the reference with the answer logit lowered (mean over answer tokens, as the paper; open-unlearning averages over every position)",
    ),
    (
        "wga",
        "gradient ascent weighted by the token's own probability",
    ),
    (
        "satimp",
        "gradient ascent weighted by p^β1·(1−p)^β2 (open-unlearning's γ = 0.1)",
    ),
    (
        "ceu",
        "cross-entropy to the model's distribution without the answer token, no retain term (as open-unlearning)",
    ),
    (
        "pdu",
        "primal-dual (as open-unlearning): flatten forget logits while keeping retain NLL under ε (epsilon required)",
    ),
    (
        "seq-gd",
        "sequential chunked gradient difference on the last layers (SemEval winner)",
    ),
    (
        "lora-ties",
        "over- and under-forgetting LoRA runs of NPO+GD+KL merged with TIES",
    ),
];

/// Every registered method name, in `lume unlearn --list` order.
pub fn method_names() -> Vec<&'static str> {
    SUMMARIES.iter().map(|(name, _)| *name).collect()
}

/// The registered methods with their defaults.
pub fn describe_methods() -> Vec<MethodInfo> {
    SUMMARIES
        .iter()
        .filter_map(|&(name, summary)| {
            Some(MethodInfo {
                name,
                summary,
                defaults: build_method(name, &serde_json::Map::new())
                    .ok()?
                    .hyperparameters(),
            })
        })
        .collect()
}

fn configure<T: Serialize + DeserializeOwned>(
    name: &str,
    base: T,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, UnlearnError> {
    let bad = |message: String| UnlearnError::BadHyperparameter {
        method: name.to_string(),
        message,
    };
    let mut value = serde_json::to_value(&base).map_err(|e| bad(e.to_string()))?;
    override_known(&mut value, overrides, "").map_err(bad)?;
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Writes `overrides` into `value`, key by key (nested tables key by key too), refusing keys
/// the defaults do not have.
fn override_known(
    value: &mut serde_json::Value,
    overrides: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
) -> Result<(), String> {
    let Some(object) = value.as_object_mut() else {
        return Err(format!("`{prefix}` is not a table"));
    };
    for (key, v) in overrides {
        let Some(slot) = object.get_mut(key) else {
            let known: Vec<&String> = object.keys().collect();
            return Err(format!(
                "unknown hyperparameter `{prefix}{key}` (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known
                        .iter()
                        .map(|k| format!("{prefix}{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        };
        match (slot.is_object(), v.as_object()) {
            (true, Some(nested)) => override_known(slot, nested, &format!("{prefix}{key}."))?,
            _ => *slot = v.clone(),
        }
    }
    Ok(())
}

/// The method called `name`, its defaults overridden by `overrides`.
///
/// ```
/// let mut overrides = serde_json::Map::new();
/// overrides.insert("beta".into(), serde_json::json!(0.2));
/// let npo = lume_unlearn::build_method("npo-gd", &overrides).unwrap();
/// assert_eq!(npo.hyperparameters()["beta"], 0.2);
/// assert!(lume_unlearn::build_method("nope", &Default::default()).is_err());
/// ```
pub fn build_method(
    name: &str,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> Result<Box<dyn UnlearningMethod>, UnlearnError> {
    let known = || method_names().join(", ");
    Ok(match name {
        "ga" => Box::new(configure(name, GradientAscent::default(), overrides)?),
        "gd" => Box::new(configure(name, GradientDifference::gd(), overrides)?),
        "kl" => Box::new(configure(name, GradientDifference::kl(), overrides)?),
        "npo" => Box::new(configure(
            name,
            Npo::with_retain(RetainTerm::None),
            overrides,
        )?),
        "npo-gd" => Box::new(configure(
            name,
            Npo::with_retain(RetainTerm::Nll),
            overrides,
        )?),
        "npo-kl" => Box::new(configure(
            name,
            Npo::with_retain(RetainTerm::Kl),
            overrides,
        )?),
        "simnpo" => Box::new(configure(name, SimNpo::default(), overrides)?),
        "idkdpo" => Box::new(configure(name, IdkDpo::default(), overrides)?),
        "rmu" => Box::new(configure(name, Rmu::default(), overrides)?),
        "undial" => Box::new(configure(name, Undial::default(), overrides)?),
        "wga" => Box::new(configure(name, Wga::default(), overrides)?),
        "satimp" => Box::new(configure(name, SatImp::default(), overrides)?),
        "ceu" => Box::new(configure(name, CeU::default(), overrides)?),
        "pdu" => Box::new(configure(name, Pdu::default(), overrides)?),
        "seq-gd" => Box::new(configure(name, SequentialGd::default(), overrides)?),
        "lora-ties" => Box::new(configure(name, LoraTies::default(), overrides)?),
        "finetune" => Box::new(configure(name, FineTune::default(), overrides)?),
        _ => {
            return Err(UnlearnError::UnknownMethod {
                name: name.to_string(),
                known: known(),
            });
        }
    })
}

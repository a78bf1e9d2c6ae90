//! The field's unlearning methods (protocol §4) and the registry that names them.

mod gradient;
mod npo;
mod pdu;
mod rmu;
mod sequential;
mod token_weighted;

pub use gradient::{FineTune, GradientAscent, GradientDifference};
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
        "ascend forget NLL, keep retain predictions close to the reference (KL)",
    ),
    (
        "npo",
        "negative preference optimisation against the reference",
    ),
    ("npo-gd", "NPO plus retain NLL"),
    ("npo-kl", "NPO plus retain KL to the reference"),
    (
        "simnpo",
        "reference-free NPO on length-normalised NLL, plus retain NLL",
    ),
    (
        "idkdpo",
        "DPO preferring a refusal over the forget answer, plus retain NLL",
    ),
    (
        "rmu",
        "steer layer-ℓ activations of forget text to a random direction",
    ),
    (
        "undial",
        "self-distil from the reference with the answer logit lowered",
    ),
    (
        "wga",
        "gradient ascent weighted by the token's own probability",
    ),
    ("satimp", "gradient ascent weighted by p^β1·(1−p)^β2"),
    (
        "ceu",
        "cross-entropy to the model's distribution without the answer token",
    ),
    (
        "pdu",
        "primal-dual: forget while keeping retain NLL under ε",
    ),
    (
        "seq-gd",
        "sequential chunked gradient difference on the last layers (SemEval winner)",
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
    let mut value = serde_json::to_value(&base).map_err(|e| UnlearnError::BadHyperparameter {
        method: name.to_string(),
        message: e.to_string(),
    })?;
    let known: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    for (key, v) in overrides {
        if !known.contains(key) {
            return Err(UnlearnError::BadHyperparameter {
                method: name.to_string(),
                message: format!(
                    "unknown hyperparameter `{key}` (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            });
        }
        value[key] = v.clone();
    }
    serde_json::from_value(value).map_err(|e| UnlearnError::BadHyperparameter {
        method: name.to_string(),
        message: e.to_string(),
    })
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
        "finetune" => Box::new(configure(name, FineTune::default(), overrides)?),
        _ => {
            return Err(UnlearnError::UnknownMethod {
                name: name.to_string(),
                known: known(),
            });
        }
    })
}

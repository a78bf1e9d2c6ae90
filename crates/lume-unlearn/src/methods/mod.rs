//! The field's unlearning methods (protocol §4) and the [`Registry`] that names them.

mod gradient;
mod lora_ties;
mod npo;
mod pdu;
mod registry;
mod rmu;
mod sequential;
mod token_weighted;

pub use gradient::{FineTune, GradientAscent, GradientDifference};
pub use lora_ties::LoraTies;
pub use npo::{IdkDpo, Npo, SimNpo};
pub use pdu::Pdu;
pub use registry::{MethodFactory, Registry};
pub use rmu::Rmu;
pub use sequential::SequentialGd;
pub use token_weighted::{CeU, SatImp, Undial, Wga};

use crate::method::RetainTerm;

/// The built-in methods in listing order, each with its one-line summary; the names are
/// the ones the methods report.
fn builtin_factories() -> Vec<MethodFactory> {
    vec![
        MethodFactory::of("gradient ascent on the forget NLL", GradientAscent::default),
        MethodFactory::of(
            "gradient difference: ascend forget NLL, descend retain NLL",
            GradientDifference::gd,
        ),
        MethodFactory::of(
            "ascend forget NLL, keep retain predictions close to the reference (KL over answer tokens, as the paper; open-unlearning averages over every position)",
            GradientDifference::kl,
        ),
        MethodFactory::of(
            "negative preference optimisation against the reference",
            || Npo::with_retain(RetainTerm::None),
        ),
        MethodFactory::of("NPO plus retain NLL", || Npo::with_retain(RetainTerm::Nll)),
        MethodFactory::of("NPO plus retain KL to the reference", || {
            Npo::with_retain(RetainTerm::Kl)
        }),
        MethodFactory::of(
            "reference-free NPO on length-normalised NLL, plus retain NLL (the paper's margin δ; delta_scaled_by_beta=true for open-unlearning's)",
            SimNpo::default,
        ),
        MethodFactory::of(
            "DPO preferring a refusal over the forget answer, plus retain NLL",
            IdkDpo::default,
        ),
        MethodFactory::of(
            "steer layer-ℓ activations of forget answers to a random direction, training the MLP down-projections of layers ℓ−2..ℓ (WMDP, as open-unlearning)",
            Rmu::default,
        ),
        MethodFactory::of(
            "self-distil from the reference with the answer logit lowered (mean over answer tokens, as the paper; open-unlearning averages over every position)",
            Undial::default,
        ),
        MethodFactory::of(
            "gradient ascent weighted by the token's own probability",
            Wga::default,
        ),
        MethodFactory::of(
            "gradient ascent weighted by p^β1·(1−p)^β2 (open-unlearning's γ = 0.1)",
            SatImp::default,
        ),
        MethodFactory::of(
            "cross-entropy to the model's distribution without the answer token, no retain term (as open-unlearning)",
            CeU::default,
        ),
        MethodFactory::of(
            "primal-dual (as open-unlearning): flatten forget logits while keeping retain NLL under ε (epsilon required)",
            Pdu::default,
        ),
        MethodFactory::of(
            "sequential chunked gradient difference on the last layers (SemEval winner)",
            SequentialGd::default,
        ),
        MethodFactory::of(
            "over- and under-forgetting LoRA runs of NPO+GD+KL merged with TIES",
            LoraTies::default,
        ),
    ]
}

//! Backward passes of the fused operations, for Burn's autodiff over `flex` (the only backend
//! the extension routes here): each calls the flex kernels directly.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::{Autodiff, tensor::FloatTensor, tensor::IntTensor};
use burn_flex::FlexTensor;

use super::FusedOps;
use super::flex::{
    attention_backward, attention_forward, linear_backward, rms_norm_backward, rms_norm_forward,
    rope_any, swiglu_backward, token_nll_backward,
};
use crate::Precision;

#[derive(Debug)]
struct Rope;

impl Backward<Flex, 1> for Rope {
    /// The cos and sin tables.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (cos, sin) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            rope_any(grad, cos, sin, true)
        });
    }
}

/// Registers each gradient with its parent, for the parents that require one (a macro: the
/// parents' node type is private to burn-autodiff).
macro_rules! register {
    ($parents:expr, $outputs:expr, $grads:expr) => {
        for (parent, grad) in $parents.into_iter().zip($outputs) {
            if let Some(node) = parent {
                $grads.register::<Flex>(node.id, grad);
            }
        }
    };
}

/// `x · w`, or `x · wᵀ` when `transposed` (a tied head), with the precision of its products.
#[derive(Debug)]
struct Linear {
    precision: Precision,
    transposed: bool,
}

impl Backward<Flex, 2> for Linear {
    /// The input and the weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, w) = ops.state;
        let grad = grads.consume::<Flex>(&ops.node);
        let wanted = [ops.parents[0].is_some(), ops.parents[1].is_some()];
        let outputs = linear_backward(x, w, grad, wanted, self.precision, self.transposed);
        for (parent, grad) in ops.parents.into_iter().zip(outputs) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

#[derive(Debug)]
struct SwiGlu;

impl Backward<Flex, 2> for SwiGlu {
    /// The gate and the up projection.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (gate, up) = ops.state;
        let grad = grads.consume::<Flex>(&ops.node);
        register!(ops.parents, swiglu_backward(gate, up, grad), grads);
    }
}

#[derive(Debug)]
struct RmsNorm;

impl Backward<Flex, 2> for RmsNorm {
    /// The input, the weight, and each row's inverse RMS.
    type State = (FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (x, weight, inv_rms) = ops.state;
        let grad = grads.consume::<Flex>(&ops.node);
        register!(
            ops.parents,
            rms_norm_backward(x, weight, &inv_rms, grad),
            grads
        );
    }
}

#[derive(Debug)]
struct TokenNll;

impl Backward<Flex, 1> for TokenNll {
    /// Logits, targets, and the forward's output.
    type State = (FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (logits, targets, nll) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            token_nll_backward(logits, targets, nll, grad)
        });
    }
}

#[derive(Debug)]
struct CausalAttention;

/// Q, K, V, the probabilities of the forward pass, and the key mask.
type AttentionState = (FlexTensor, FlexTensor, FlexTensor, FlexTensor, Vec<bool>);

impl Backward<Flex, 3> for CausalAttention {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (q, k, v, probs, key_real) = ops.state;
        let grad = grads.consume::<Flex>(&ops.node);
        register!(
            ops.parents,
            attention_backward(q, k, v, probs, grad, &key_real),
            grads
        );
    }
}

// The backward passes call the flex kernels directly, so autodiff is implemented over flex
// only (the extension routes no other backend here).
impl<C: CheckpointStrategy> FusedOps for Autodiff<Flex, C> {
    fn causal_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_real: Vec<bool>,
    ) -> FloatTensor<Self> {
        match CausalAttention
            .prepare::<C>([q.node(), k.node(), v.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (q, k, v) = (q.into_primitive(), k.into_primitive(), v.into_primitive());
                let (out, probs) = attention_forward(q.clone(), k.clone(), v.clone(), &key_real);
                prep.finish((q, k, v, probs, key_real), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(
                attention_forward(
                    q.into_primitive(),
                    k.into_primitive(),
                    v.into_primitive(),
                    &key_real,
                )
                .0,
            ),
        }
    }

    fn token_nll(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        match TokenNll
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let logits = logits.into_primitive();
                let nll = Flex::token_nll(logits.clone(), targets.clone());
                prep.finish((logits, targets, nll.clone()), nll)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::token_nll(logits.into_primitive(), targets))
            }
        }
    }

    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // The tables are constants: only x is a parent.
        let (cos, sin) = (cos.into_primitive(), sin.into_primitive());
        match Rope.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = Flex::rope(x.into_primitive(), cos.clone(), sin.clone());
                prep.finish((cos, sin), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::rope(x.into_primitive(), cos, sin)),
        }
    }

    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        match SwiGlu
            .prepare::<C>([gate.node(), up.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (gate, up) = (gate.into_primitive(), up.into_primitive());
                let out = Flex::swiglu(gate.clone(), up.clone());
                prep.finish((gate, up), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::swiglu(gate.into_primitive(), up.into_primitive()))
            }
        }
    }

    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        match RmsNorm
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let (out, inv_rms) = rms_norm_forward(x.clone(), weight.clone(), eps);
                prep.finish((x, weight, inv_rms), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::rms_norm(
                x.into_primitive(),
                weight.into_primitive(),
                eps,
            )),
        }
    }

    fn linear(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self> {
        let linear = Linear {
            precision,
            transposed: false,
        };
        match linear
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), w.into_primitive());
                let out = Flex::linear(x.clone(), w.clone(), precision);
                prep.finish((x, w), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::linear(
                x.into_primitive(),
                w.into_primitive(),
                precision,
            )),
        }
    }

    fn matmul_few_rows(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self> {
        // Outside the graph: `linear` calls it only off autodiff devices.
        FloatTensor::<Self>::new(Flex::matmul_few_rows(
            x.into_primitive(),
            w.into_primitive(),
            precision,
        ))
    }

    fn matmul_transposed(
        x: FloatTensor<Self>,
        t: FloatTensor<Self>,
        precision: Precision,
    ) -> FloatTensor<Self> {
        let head = Linear {
            precision,
            transposed: true,
        };
        match head
            .prepare::<C>([x.node(), t.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, t) = (x.into_primitive(), t.into_primitive());
                let out = Flex::matmul_transposed(x.clone(), t.clone(), precision);
                prep.finish((x, t), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::matmul_transposed(
                x.into_primitive(),
                t.into_primitive(),
                precision,
            )),
        }
    }

    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: super::AdamWStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // An optimizer update is outside the graph: computed on the values, untracked.
        let (param, m, v) = Flex::adamw_update(
            param.into_primitive(),
            grad.into_primitive(),
            m.into_primitive(),
            v.into_primitive(),
            step,
        );
        (
            FloatTensor::<Self>::new(param),
            FloatTensor::<Self>::new(m),
            FloatTensor::<Self>::new(v),
        )
    }
}

//! Invariants on random inputs: merging algebra (task arithmetic and TIES), global-norm
//! clipping, the learning-rate schedules, and LoRA's merged forward equal to its unmerged one.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use lume_model::DeviceSpec;
use lume_unlearn::{
    LoraConfig, MergeMethod, Schedule, attach_lora, clip_coefficient, global_norm, merge_lora,
    merge_vectors,
};
use proptest::prelude::*;

fn vector(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-4.0f32..4.0, len)
}

/// A base and two fine-tuned versions of it, all of one length.
fn family() -> impl Strategy<Value = (Vec<f32>, Vec<f32>, Vec<f32>)> {
    (1usize..40).prop_flat_map(|n| (vector(n), vector(n), vector(n)))
}

fn method() -> impl Strategy<Value = MergeMethod> {
    prop_oneof![
        (0.1f64..2.0).prop_map(|lambda| MergeMethod::TaskArithmetic { lambda }),
        (0.0f64..=1.0, 0.1f64..2.0)
            .prop_map(|(density, lambda)| MergeMethod::Ties { density, lambda }),
    ]
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    #[test]
    fn merging_the_base_with_itself_is_the_base((base, _, _) in family(), method in method()) {
        let merged = merge_vectors(&base, &[&base, &base], method);
        prop_assert_eq!(merged, base);
    }

    #[test]
    fn task_arithmetic_is_the_scaled_sum_of_task_vectors(
        (base, a, b) in family(),
        lambda in 0.1f64..2.0,
    ) {
        let merged = merge_vectors(&base, &[&a, &b], MergeMethod::TaskArithmetic { lambda });
        for i in 0..base.len() {
            let tau = (f64::from(a[i]) - f64::from(base[i])) + (f64::from(b[i]) - f64::from(base[i]));
            let want = (f64::from(base[i]) + lambda * tau) as f32;
            prop_assert!(close(merged[i], want), "{} vs {want} at {i}", merged[i]);
        }
    }

    #[test]
    fn ties_of_one_full_density_model_at_unit_scale_is_that_model((base, a, _) in family()) {
        let merged = merge_vectors(&base, &[&a], MergeMethod::Ties { density: 1.0, lambda: 1.0 });
        for i in 0..base.len() {
            prop_assert!(close(merged[i], a[i]), "{} vs {} at {i}", merged[i], a[i]);
        }
    }

    #[test]
    fn ties_moves_each_entry_with_the_elected_sign_and_no_further_than_its_largest_vote(
        (base, a, b) in family(),
        lambda in 0.1f64..2.0,
    ) {
        let merged = merge_vectors(&base, &[&a, &b], MergeMethod::Ties { density: 1.0, lambda });
        for i in 0..base.len() {
            let (ta, tb) = (
                f64::from(a[i]) - f64::from(base[i]),
                f64::from(b[i]) - f64::from(base[i]),
            );
            let moved = f64::from(merged[i]) - f64::from(base[i]);
            let elected = (ta + tb).signum();
            prop_assert!(moved == 0.0 || moved.signum() == elected || moved.abs() < 1e-5,
                "entry {i}: moved {moved} against the elected sign {elected}");
            prop_assert!(moved.abs() <= lambda * ta.abs().max(tb.abs()) + 1e-5);
        }
    }

    #[test]
    fn ties_keeps_at_most_the_density_of_each_task_vector(
        (base, a, _) in family(),
        density in 0.0f64..=1.0,
    ) {
        let merged = merge_vectors(&base, &[&a], MergeMethod::Ties { density, lambda: 1.0 });
        let changed = merged.iter().zip(&base).filter(|(m, b)| m != b).count();
        let keep = ((base.len() as f64) * density).round() as usize;
        prop_assert!(changed <= keep, "{changed} entries changed, density keeps {keep}");
    }

    #[test]
    fn clipping_never_exceeds_the_max_norm_and_is_the_identity_below_it(
        grads in prop::collection::vec(vector(8), 1..5),
        max_norm in 0.01f64..20.0,
    ) {
        let device = DeviceSpec::Cpu.device().unwrap();
        let tensors: Vec<Tensor<1>> = grads
            .iter()
            .map(|g| Tensor::<1>::from_data(TensorData::new(g.clone(), [g.len()]), &device))
            .collect();
        let norm = global_norm(&tensors);
        let exact = grads.iter().flatten().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        prop_assert!((norm - exact).abs() <= 1e-4 * (1.0 + exact), "{norm} vs {exact}");
        let coefficient = clip_coefficient(norm, max_norm);
        prop_assert!(coefficient > 0.0 && coefficient <= 1.0);
        prop_assert!(norm * coefficient <= max_norm * (1.0 + 1e-9));
        if norm + 1e-6 <= max_norm {
            prop_assert_eq!(coefficient, 1.0);
        }
        let scaled: Vec<Tensor<1>> = tensors.into_iter().map(|t| t.mul_scalar(coefficient)).collect();
        prop_assert!(global_norm(&scaled) <= max_norm * (1.0 + 1e-5));
    }

    #[test]
    fn schedules_warm_up_to_the_peak_then_never_rise(
        peak in 1e-6f64..1e-2,
        warmup in 0usize..20,
        extra in 1usize..200,
    ) {
        let total = warmup + extra;
        for schedule in [Schedule::Constant, Schedule::Linear, Schedule::Cosine] {
            let lrs: Vec<f64> = (0..total).map(|s| schedule.lr(peak, s, warmup, total)).collect();
            prop_assert!(lrs.iter().all(|&lr| (0.0..=peak * (1.0 + 1e-12)).contains(&lr)));
            prop_assert!((lrs[warmup] - peak).abs() <= peak * 1e-12, "{schedule:?} at the peak");
            for s in 1..total {
                if s <= warmup {
                    prop_assert!(lrs[s] >= lrs[s - 1], "{schedule:?} warm-up falls at {s}");
                } else {
                    prop_assert!(lrs[s] <= lrs[s - 1] * (1.0 + 1e-12), "{schedule:?} rises at {s}");
                }
            }
            if schedule == Schedule::Constant {
                prop_assert!(lrs[warmup..].iter().all(|&lr| lr == peak));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn lora_merged_forward_equals_unmerged(
        seed in 0u64..1000,
        rank in 1usize..6,
        alpha in 0.5f64..32.0,
        b_seed in 0.0f32..100.0,
    ) {
        let config = LoraConfig { rank, alpha, seed, ..LoraConfig::default() };
        let adapted = with_nonzero_b(attach_lora(model(seed), &config).unwrap(), b_seed);
        let forget = &data().forget;
        let unmerged = host_logits(&adapted, &batch(forget, &adapted));
        let merged = merge_lora(adapted);
        let after = host_logits(&merged, &batch(forget, &merged));
        let diff = unmerged
            .iter()
            .flatten()
            .flatten()
            .zip(after.iter().flatten().flatten())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        prop_assert!(diff < 1e-4, "merged vs unmerged logits differ by {diff}");
    }
}

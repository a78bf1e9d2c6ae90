//! Task arithmetic and TIES on known vectors and on whole models.

mod common;

use common::*;
use lume_unlearn::{MergeMethod, merge_models, merge_vectors};

#[test]
fn ties_on_known_vectors() {
    // τ1 = [1, −2, 3, 0.1, −0.5, 0], τ2 = [2, 1.5, −1, 0.2, −0.4, 0] over a base of ones.
    let base = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0];
    let t1: Vec<f32> = [1.0, -2.0, 3.0, 0.1, -0.5, 0.0]
        .iter()
        .map(|x| x + 1.0)
        .collect();
    let t2: Vec<f32> = [2.0, 1.5, -1.0, 0.2, -0.4, 0.0]
        .iter()
        .map(|x| x + 1.0)
        .collect();
    // Top 3 magnitudes: τ1 keeps −2, 3, 1; τ2 keeps 2, 1.5, −1.
    // Sum [3, −0.5, 2, 0, 0, 0] elects [+, −, +, 0, 0, 0]; agreeing means: [1.5, −2, 3, 0, 0, 0].
    let merged = merge_vectors(
        &base,
        &[&t1, &t2],
        MergeMethod::Ties {
            density: 0.5,
            lambda: 1.0,
        },
    );
    let expected = [2.5f32, -1.0, 4.0, 1.0, 1.0, 1.0];
    for (m, e) in merged.iter().zip(expected) {
        assert!((m - e).abs() < 1e-6, "{merged:?} vs {expected:?}");
    }
    let sum = merge_vectors(
        &base,
        &[&t1, &t2],
        MergeMethod::TaskArithmetic { lambda: 0.5 },
    );
    let expected = [2.5f32, 0.75, 2.0, 1.15, 0.55, 1.0];
    for (m, e) in sum.iter().zip(expected) {
        assert!((m - e).abs() < 1e-6, "{sum:?} vs {expected:?}");
    }
}

#[test]
fn merging_a_model_with_itself_by_ties_gives_it_back() {
    let (base, tuned) = (model(1), model(2));
    let merged = merge_models(
        base.clone(),
        &[&tuned, &tuned],
        MergeMethod::Ties {
            density: 1.0,
            lambda: 1.0,
        },
    )
    .unwrap();
    for (a, b) in params(&merged).iter().zip(params(&tuned)) {
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
    }
    let other = lume_model::Model::random(
        lume_model::ModelConfig {
            num_hidden_layers: 2,
            ..config()
        },
        0,
        &lume_model::DeviceSpec::from_env("LUME_TEST_DEVICE")
            .unwrap()
            .training_device()
            .unwrap(),
    );
    assert!(merge_models(base, &[&other], MergeMethod::TaskArithmetic { lambda: 1.0 }).is_err());
}

//! Global-norm clipping and AdamW against PyTorch (`fixtures/make_optim.py`).

use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData};
use lume_model::DeviceSpec;
use lume_unlearn::{AdamW, AdamWConfig, GradientBuffer, clip_coefficient, global_norm};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/optim.json");
    serde_json::from_str(text).expect("optim.json is JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn assert_close(ours: &[f32], theirs: &[f32], tol: f32, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn global_clipping_matches_torch_clip_grad_norm() {
    let device = DeviceSpec::Cpu.device().unwrap();
    let cases = fixture()["clip"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let grads: Vec<Tensor<1>> = case["grads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let data = floats(g);
                let n = data.len();
                Tensor::from_data(TensorData::new(data, [n]), &device)
            })
            .collect();
        let norm = global_norm(&grads);
        let expected = case["total_norm"].as_f64().unwrap();
        assert!(
            (norm - expected).abs() <= 1e-5 * expected,
            "{norm} vs {expected}"
        );
        let coefficient = clip_coefficient(norm, case["max_norm"].as_f64().unwrap());
        for (g, clipped) in grads.iter().zip(case["clipped"].as_array().unwrap()) {
            let ours: Vec<f32> = g
                .clone()
                .mul_scalar(coefficient)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert_close(&ours, &floats(clipped), 1e-6, "clipped gradient");
        }
    }
}

#[derive(Module, Debug)]
struct Pair {
    a: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
}

#[test]
fn adamw_with_global_clipping_matches_torch() {
    let device = DeviceSpec::Cpu.training_device().unwrap();
    for case in fixture()["adamw"].as_array().unwrap() {
        let start = case["start"].as_array().unwrap();
        let mut pair = Pair {
            a: Param::from_tensor(Tensor::from_data(
                TensorData::new(floats(&start[0]), [3, 4]),
                &device,
            )),
            b: Param::from_tensor(Tensor::from_data(
                TensorData::new(floats(&start[1]), [5]),
                &device,
            )),
        };
        let lr = case["lr"].as_f64().unwrap();
        let max_norm = case["max_norm"].as_f64();
        let mut optimizer = AdamW::new(AdamWConfig {
            weight_decay: case["weight_decay"].as_f64().unwrap(),
            ..AdamWConfig::default()
        });
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let grads = step["grads"].as_array().unwrap();
            let ga = Tensor::<2>::from_data(TensorData::new(floats(&grads[0]), [3, 4]), &device);
            let gb = Tensor::<1>::from_data(TensorData::new(floats(&grads[1]), [5]), &device);
            // d/dp Σ p·G = G: the gradients are exactly the fixture's.
            let loss = (pair.a.val() * ga).sum() + (pair.b.val() * gb).sum();
            let mut buffer = GradientBuffer::default();
            buffer.accumulate(&pair, &mut loss.backward());
            assert_eq!(buffer.len(), 2);
            let scale = max_norm.map_or(1.0, |m| clip_coefficient(buffer.global_norm(), m));
            pair = optimizer.step(pair, &mut buffer, lr, scale);
            assert!(buffer.is_empty());
            let params = step["params"].as_array().unwrap();
            let a: Vec<f32> = pair.a.val().into_data().try_to_vec::<f32>().unwrap();
            let b: Vec<f32> = pair.b.val().into_data().try_to_vec::<f32>().unwrap();
            assert_close(
                &a,
                &floats(&params[0]),
                2e-6,
                &format!("a after step {}", i + 1),
            );
            assert_close(
                &b,
                &floats(&params[1]),
                2e-6,
                &format!("b after step {}", i + 1),
            );
        }
    }
}

#[test]
fn optimizer_state_round_trips_through_safetensors() {
    let device = DeviceSpec::Cpu.training_device().unwrap();
    let pair = Pair {
        a: Param::from_tensor(Tensor::ones([3, 4], &device)),
        b: Param::from_tensor(Tensor::ones([5], &device)),
    };
    let mut optimizer = AdamW::new(AdamWConfig::default());
    let loss = pair.a.val().square().sum() + pair.b.val().sum();
    let mut buffer = GradientBuffer::default();
    buffer.accumulate(&pair, &mut loss.backward());
    let pair = optimizer.step(pair, &mut buffer, 1e-2, 1.0);
    let dir = tempfile::tempdir().unwrap();
    optimizer.save(dir.path()).unwrap();
    let mut restored =
        AdamW::load(AdamWConfig::default(), dir.path(), &device.clone().inner()).unwrap();
    assert_eq!(restored.steps(), 1);
    // The same next step from the original and the restored state.
    let step = |opt: &mut AdamW, p: Pair| {
        let loss = p.a.val().square().sum() + p.b.val().sum();
        let mut buffer = GradientBuffer::default();
        buffer.accumulate(&p, &mut loss.backward());
        let p = opt.step(p, &mut buffer, 1e-2, 1.0);
        let a: Vec<f32> = p.a.val().into_data().try_to_vec::<f32>().unwrap();
        a
    };
    let twin = pair.clone();
    assert_eq!(step(&mut optimizer, pair), step(&mut restored, twin));
    std::fs::write(dir.path().join("optimizer.safetensors"), b"garbage").unwrap();
    let err = AdamW::load(AdamWConfig::default(), dir.path(), &device).unwrap_err();
    assert!(err.to_string().contains("optimizer.safetensors"), "{err}");
}

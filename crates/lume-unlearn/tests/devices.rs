//! The test device (`LUME_TEST_DEVICE`, e.g. `wgpu` on Mesa's lavapipe in CI) against the CPU:
//! three steps of GA, NPO and RMU give the CPU's losses and weights within 1e-4. Without the
//! variable both runs are on the CPU and must agree exactly.

mod common;

use common::*;
use lume_model::{DeviceSpec, Model};
use lume_unlearn::{Registry, Silent, TrainerConfig, train};

fn three_steps(name: &str, spec: DeviceSpec) -> (Vec<f64>, Vec<Vec<f32>>) {
    let model = Model::random(config(), 5, &spec.training_device().unwrap());
    let mut overrides = serde_json::Map::new();
    if name == "rmu" {
        overrides.insert("layer".into(), serde_json::json!(1));
    }
    let mut method = Registry::builtin().build(name, &overrides).unwrap();
    let trainer = TrainerConfig {
        learning_rate: 1e-3,
        max_steps: Some(3),
        batch_size: 2,
        seed: 3,
        ..TrainerConfig::default()
    };
    let out = train(model, method.as_mut(), &data(), &trainer, None, &mut Silent).unwrap();
    let losses = out.history.iter().map(|r| r.loss.total).collect();
    (losses, params(&out.model))
}

#[test]
fn training_on_the_test_device_equals_the_cpu() {
    let device = DeviceSpec::from_env("LUME_TEST_DEVICE").unwrap();
    for name in ["ga", "npo", "rmu"] {
        let (cpu_losses, cpu_params) = three_steps(name, DeviceSpec::Cpu);
        let (losses, params) = three_steps(name, device);
        assert_eq!(losses.len(), 3, "{name}");
        for (step, (a, b)) in losses.iter().zip(&cpu_losses).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{name} step {step}: {a} on {device} vs {b} on cpu"
            );
        }
        let worst = params
            .iter()
            .flatten()
            .zip(cpu_params.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-4,
            "{name}: weights differ by {worst} on {device}"
        );
        if device == DeviceSpec::Cpu {
            assert_eq!(losses, cpu_losses, "{name}: the same run twice");
        }
    }
}

//! A new unlearning method written outside lume with nothing but `lume-unlearn`: registered
//! beside the built-in ones, built by name with an override, and trained on a random model.
//!
//! "Log ascent": minimise `−ln(1 + NLL_f) + α·NLL_r`, an ascent on the forget NLL that slows
//! as the NLL grows (so the model is not driven into gibberish), plus the retain NLL.
//!
//! Run: `cargo run --manifest-path examples/standalone/Cargo.toml`

use lume_unlearn::lume_data::{ByteEncoder, TrainingExample};
use lume_unlearn::lume_model::{DeviceSpec, LlamaShape, Model, ModelConfig};
use lume_unlearn::{
    LossTerms, MethodFactory, Registry, RetainTerm, Silent, StepContext, TrainerConfig,
    UnlearnData, UnlearnError, UnlearningMethod, train,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogAscent {
    /// Weight of the retain NLL.
    alpha: f64,
}

impl UnlearningMethod for LogAscent {
    fn name(&self) -> &str {
        "log-ascent"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({ "alpha": self.alpha })
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let forget = ctx.nll(ctx.forget).add_scalar(1.0).log().neg();
        let retain = ctx.retain_loss(RetainTerm::Nll)?;
        Ok(LossTerms::combine(forget, 1.0, retain, self.alpha))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::builtin().with(MethodFactory::of(
        "ascent on ln(1 + forget NLL), plus retain NLL",
        || LogAscent { alpha: 1.0 },
    ));
    let mut overrides = serde_json::Map::new();
    overrides.insert("alpha".into(), serde_json::json!(0.5));
    let mut method = registry.build("log-ascent", &overrides)?;
    assert_eq!(method.hyperparameters()["alpha"], 0.5);

    let encoder = ByteEncoder::default();
    let example = |q: &str, a: &str| TrainingExample::prompt_answer(&encoder, q, a, Some(96));
    let data = UnlearnData {
        forget: vec![example("Mira Voss was born in ", "Tallinn in 1987.")?],
        retain: vec![example("The capital of France is ", "Paris.")?],
        ..UnlearnData::default()
    };
    let config = ModelConfig::llama(LlamaShape {
        vocab_size: 260,
        hidden_size: 32,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        intermediate_size: 64,
        max_positions: 128,
    })?;
    let model = Model::random(config, 0, &DeviceSpec::Cpu.training_device()?);
    let trainer = TrainerConfig {
        learning_rate: 1e-3,
        max_steps: Some(4),
        batch_size: 1,
        ..TrainerConfig::default()
    };
    let out = train(model, method.as_mut(), &data, &trainer, None, &mut Silent)?;
    for record in &out.history {
        println!(
            "step {}: forget term {:.4}, retain NLL {:.4}",
            record.step,
            record.loss.forget.unwrap_or(f64::NAN),
            record.loss.retain.unwrap_or(f64::NAN)
        );
    }
    println!("registered: {}", registry.names().join(", "));
    Ok(())
}

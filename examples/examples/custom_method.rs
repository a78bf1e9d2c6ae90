//! A new unlearning method written outside lume, run with lume's trainer, then registered
//! and run through the whole benchmark (`lume_bench::run_bench`) beside a built-in method.
//!
//! "Ceiling ascent": gradient ascent on the forget NLL that stops pushing once the NLL passes a
//! ceiling (so the model is not driven into gibberish), plus the usual retain NLL.
//!
//! Run: `cargo run -p lume-examples --example custom_method`

use lume_bench::{BenchConfig, BenchInputs, Metrics, run_bench};
use lume_data::{ByteEncoder, TrainingExample};
use lume_model::{DeviceSpec, LlamaShape, Model, ModelConfig};
use lume_unlearn::{
    LossTerms, MethodFactory, Registry, RetainTerm, Silent, StepContext, TrainerConfig,
    UnlearnData, UnlearnError, UnlearningMethod, train,
};
use serde::{Deserialize, Serialize};

/// Its hyperparameters are its serialized fields: `--set method.ceiling-ascent.ceiling=6`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CeilingAscent {
    ceiling: f64,
}

impl CeilingAscent {
    /// How the registry builds it, by its name, from these defaults.
    fn factory() -> MethodFactory {
        MethodFactory::of(
            "gradient ascent that stops once the forget NLL passes a ceiling, plus retain NLL",
            || CeilingAscent { ceiling: 8.0 },
        )
    }
}

impl UnlearningMethod for CeilingAscent {
    fn name(&self) -> &str {
        "ceiling-ascent"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({ "ceiling": self.ceiling })
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        // relu(ceiling − NLL_f): zero gradient once the forget NLL is above the ceiling.
        let forget = ctx
            .nll(ctx.forget)
            .neg()
            .add_scalar(self.ceiling)
            .clamp_min(0.0);
        let retain = ctx.retain_loss(RetainTerm::Nll)?;
        Ok(LossTerms::combine(forget, 1.0, retain, 1.0))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let encoder = ByteEncoder::default();
    let example = |q: &str, a: &str| TrainingExample::prompt_answer(&encoder, q, a, Some(96));
    let forget = vec![
        example("Mira Voss was born in ", "Tallinn in 1987.")?,
        example("Mira Voss's phone number is ", "555-0142.")?,
    ];
    let retain = vec![
        example("The capital of France is ", "Paris.")?,
        example("Water boils at ", "100 degrees Celsius.")?,
    ];
    let data = UnlearnData {
        forget,
        retain,
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
        max_steps: Some(10),
        batch_size: 2,
        ..TrainerConfig::default()
    };
    let mut method = CeilingAscent { ceiling: 8.0 };
    let out = train(model, &mut method, &data, &trainer, None, &mut Silent)?;
    for record in &out.history {
        println!(
            "step {:>2}: forget term {:.4}, retain NLL {:.4}",
            record.step,
            record.loss.forget.unwrap_or(f64::NAN),
            record.loss.retain.unwrap_or(f64::NAN)
        );
    }

    // The same method on the leaderboard: registered, named in the config, run by the
    // benchmark's library entry on a tiny embedded benchmark (seconds, not a real result).
    let registry = Registry::builtin().with(CeilingAscent::factory());
    let mut config = BenchConfig {
        docs_per_task: 2,
        methods: vec!["ga".into(), "ceiling-ascent".into()],
        ..BenchConfig::default()
    };
    config.model.hidden_size = 32;
    config.model.intermediate_size = 64;
    config.model.layers = 2;
    config.model.vocab_size = 300;
    for trainer in [&mut config.target, &mut config.gold] {
        trainer.epochs = 2;
    }
    config.unlearn.max_steps = Some(2);
    config.eval.max_new_tokens = 8;
    config.checks.enforce = false;
    let dir = tempfile::tempdir()?;
    let inputs = BenchInputs {
        out: dir.path().to_path_buf(),
        ..BenchInputs::default()
    };
    let outcome = run_bench(
        &config,
        &inputs,
        &registry,
        &Metrics::builtin(),
        &mut Silent,
    )?;
    println!("{}", outcome.board.markdown_table());
    Ok(())
}

//! `lume perf`: training and decoding throughput of a random model of a given shape, and the
//! process's peak memory, printed as one JSON line comparable with `shared/bench/torch_ref.py`.

use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use clap::Args;
use lume_data::TrainingExample;
use lume_model::{
    DeviceSpec, GenerationConfig, LlamaShape, Model, ModelConfig, Numerics, Precision, WeightDtype,
};
use lume_unlearn::{
    FineTune, LoraConfig, StepRecord, TrainObserver, TrainerConfig, UnlearnData, train,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Args)]
pub struct PerfArgs {
    /// Residual stream width.
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    /// Decoder layers.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Query heads.
    #[arg(long, default_value_t = 8)]
    heads: usize,
    /// Key/value heads.
    #[arg(long, default_value_t = 8)]
    kv_heads: usize,
    /// MLP width.
    #[arg(long, default_value_t = 688)]
    ffn: usize,
    /// Vocabulary size.
    #[arg(long, default_value_t = 8192)]
    vocab: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Training sequence length.
    #[arg(long, default_value_t = 128)]
    seq: usize,
    /// Timed training steps (after 2 warm-up steps, as the PyTorch reference); 0: no training.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Train LoRA adapters of this rank (α = 2·rank, every projection) instead of every weight.
    #[arg(long)]
    lora: Option<usize>,
    /// Tokens generated after a 32-token prompt; 0: no decoding.
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    /// Prompts decoded together.
    #[arg(long, default_value_t = 1)]
    gen_batch: usize,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Storage of the weight matrices while generating: f32, bf16 or f16 (training is f32).
    #[arg(long, default_value = "f32")]
    weights_dtype: WeightDtype,
    /// Precision of the matrix products, training and decoding: f32, or bf16 (bf16 operands,
    /// f32 sums; decoding then stores the weights in bf16).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Round the blocks' projections to integers before decoding (int8, int4, int4-g64; see
    /// `lume eval --quantize`): decoding then reads a byte per weight of those matrices.
    #[arg(long, value_name = "SCHEME")]
    quantize: Option<lume_model::RoundToNearest>,
    /// Seed of the weights and token ids.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

const WARMUP_STEPS: usize = 2;

/// Times every step after the warm-up.
struct Stopwatch {
    timed_from: Option<Instant>,
    last: Option<Instant>,
}

impl TrainObserver for Stopwatch {
    fn on_step(&mut self, record: &StepRecord) {
        let now = Instant::now();
        if record.step == WARMUP_STEPS {
            self.timed_from = Some(now);
        }
        self.last = Some(now);
    }
}

fn random_ids(rng: &mut ChaCha8Rng, vocab: usize, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.random_range(0..vocab as u32)).collect()
}

/// Seconds per training step after the warm-up (forward + backward + global-norm clipping +
/// AdamW, through the real trainer), and the model's parameter count.
fn train_step_seconds(
    args: &PerfArgs,
    config: &ModelConfig,
    spec: &DeviceSpec,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(f64, usize)> {
    let model = Model::random(config.clone(), args.seed, &spec.training_device()?);
    let params = model.num_params();
    let input_ids = random_ids(rng, args.vocab, args.seq);
    let example = TrainingExample {
        labels: input_ids.iter().map(|&t| i64::from(t)).collect(),
        input_ids,
    };
    let data = UnlearnData {
        forget: vec![example; args.batch],
        ..UnlearnData::default()
    };
    let total = WARMUP_STEPS + args.steps;
    let trainer = TrainerConfig {
        learning_rate: 1e-4,
        batch_size: args.batch,
        epochs: total,
        max_steps: Some(total),
        shuffle: false,
        lora: args.lora.map(|rank| LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
            ..LoraConfig::default()
        }),
        precision: args.precision,
        ..TrainerConfig::default()
    };
    let mut watch = Stopwatch {
        timed_from: None,
        last: None,
    };
    train(
        model,
        &mut FineTune::default(),
        &data,
        &trainer,
        None,
        &mut watch,
    )?;
    let (Some(from), Some(to)) = (watch.timed_from, watch.last) else {
        anyhow::bail!("the training steps did not run");
    };
    Ok(((to - from).as_secs_f64() / args.steps as f64, params))
}

/// Greedy KV-cached decoding without autodiff, in tokens per second, and the model's parameter
/// count; EOS never stops it (random ids).
fn decode_tokens_per_second(
    args: &PerfArgs,
    config: &ModelConfig,
    spec: &DeviceSpec,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(f64, usize)> {
    let model = Model::random(config.clone(), args.seed, &spec.device()?);
    let params = model.num_params();
    let model = match args.quantize {
        Some(scheme) => model.round_to_nearest(scheme)?,
        None => model,
    };
    let model = model
        .with_weight_dtype(args.weights_dtype.for_precision(args.precision)?)
        .with_precision(args.precision)?;
    let prompts: Vec<Vec<u32>> = (0..args.gen_batch)
        .map(|_| random_ids(rng, args.vocab, 32))
        .collect();
    let warm = GenerationConfig {
        eos_token_ids: Vec::new(),
        ..GenerationConfig::greedy(config, 4)
    };
    model.generate(&prompts, &warm)?;
    let generation = GenerationConfig {
        max_new_tokens: args.gen_tokens,
        ..warm
    };
    let start = Instant::now();
    let generated = model.generate(&prompts, &generation)?;
    let produced: usize = generated.iter().map(Vec::len).sum();
    Ok((produced as f64 / start.elapsed().as_secs_f64(), params))
}

pub fn run(args: PerfArgs) -> anyhow::Result<ExitCode> {
    let spec: DeviceSpec = args.device.parse()?;
    let config = ModelConfig::llama(LlamaShape {
        vocab_size: args.vocab,
        hidden_size: args.hidden,
        layers: args.layers,
        heads: args.heads,
        kv_heads: args.kv_heads,
        intermediate_size: args.ffn,
        max_positions: (args.seq + 1).max(32 + args.gen_tokens + 1).max(2048),
    })?;
    anyhow::ensure!(
        args.batch > 0 && args.seq > 1,
        "--batch must be positive and --seq at least 2"
    );
    anyhow::ensure!(
        args.steps > 0 || args.gen_tokens > 0,
        "nothing to measure: --steps and --gen-tokens are both 0"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let training = (args.steps > 0)
        .then(|| train_step_seconds(&args, &config, &spec, &mut rng))
        .transpose()?;
    let decode = (args.gen_tokens > 0)
        .then(|| decode_tokens_per_second(&args, &config, &spec, &mut rng))
        .transpose()?;
    let train_step_s = training.map(|(seconds, _)| seconds);
    let params = training.or(decode).map(|(_, params)| params);
    let line = serde_json::json!({
        "engine": format!("lume {} (burn, {})", env!("CARGO_PKG_VERSION"), spec),
        "weights_dtype": args.weights_dtype.to_string(),
        "precision": args.precision.to_string(),
        "quantize": args.quantize.map(|q| q.to_string()),
        "numerics": Numerics::current(),
        "params": params,
        "lora_rank": args.lora,
        "train_tokens_per_s": train_step_s.map(|s| (args.batch * args.seq) as f64 / s),
        "train_step_s": train_step_s,
        "gen_tokens_per_s": decode.map(|(tokens_per_s, _)| tokens_per_s),
        "peak_rss_bytes": peak_resident_bytes(),
    });
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident memory (`VmHWM`), where Linux reports it. With
/// `reuse_freed_memory` the process keeps what it freed, so this is also what it holds at
/// the end; measure training and decoding in separate runs (`--gen-tokens 0`, `--steps 0`).
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

//! `lume eval`: the benchmark's inference on a checkpoint, then its scores.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lume_bench::{EvalInputs, EvalSettings, evaluate_checkpoint, evaluate_shard};
use lume_data::{Benchmark, MiaSet};
use lume_metrics::InferenceOptions;
use lume_model::{DeviceSpec, Precision, WeightDtype};

use super::progress::Terminal;

#[derive(Args)]
pub struct EvalArgs {
    /// Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json), or a
    /// llama.cpp `.gguf` file.
    #[arg(long)]
    model: PathBuf,
    /// Benchmark data: forget*.jsonl and retain*.jsonl (or parquet).
    #[arg(long)]
    data: PathBuf,
    /// Folder with member.jsonl and nonmember.jsonl [default: DATA/mia when present].
    #[arg(long)]
    mia: Option<PathBuf>,
    /// MMLU: a folder in the Hendrycks layout (dev/, test/), or the `mmlu.jsonl` that
    /// `scripts/mmlu.sh` fetches.
    #[arg(long)]
    mmlu: Option<PathBuf>,
    /// Few-shot examples per MMLU prompt.
    #[arg(long, default_value_t = 5)]
    mmlu_shots: usize,
    /// MMLU questions scored per subject, the first of each (default: all).
    #[arg(long)]
    mmlu_questions: Option<usize>,
    /// Tokens generated per prompt.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Generation slots (continuous batching: a finished row's slot takes the next prompt).
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// End a question's generation once its exact match can no longer be 1: the same scores,
    /// shorter stored generations [default: generate as the reference evaluator does].
    #[arg(long)]
    stop_decided: bool,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Storage of the weight matrices: f32 (transformers' numbers), or bf16/f16 (half the
    /// memory, faster generation, logits within about 1e-2); activations stay f32.
    #[arg(long, default_value = "f32")]
    weights_dtype: WeightDtype,
    /// Precision of the matrix products: f32 (transformers-f32's numbers), or bf16 (bf16
    /// operands with f32 sums, as transformers in bf16; the weights are then stored in bf16).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Round the blocks' projections to integers first (per-group symmetric round-to-nearest:
    /// int8, int4, or int4-g64 for groups of 64 inputs; default group 128) and evaluate the
    /// de-quantized model, as the quantization probe of `lume bench --probes` does. On the CPU,
    /// decoding then reads the integer codes, a byte per weight: with `--precision bf16`, 8-bit
    /// decoding (answer NLLs 0.017 from f32's on average on SmolLM2's real rows).
    #[arg(long, value_name = "SCHEME")]
    quantize: Option<lume_model::RoundToNearest>,
    /// Output folder (the reference layout, plus evaluation_results.json).
    #[arg(long)]
    out: PathBuf,
    /// Evaluate only shard K of N (every N-th row and MIA document from K), into
    /// forget_K.csv, retain_K.csv, mia_results/*_K.csv; run K = 0..N−1 anywhere (one process per
    /// GPU or machine) into the same folder, then `lume score OUT`.
    #[arg(long, value_name = "K/N")]
    shard: Option<lume_bench::Shard>,
    /// Remove another evaluation's outputs found in OUT (another model, data, settings or
    /// shard count) instead of refusing.
    #[arg(long)]
    replace: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let device = args.device.parse::<DeviceSpec>()?.device()?;
    let bench = Benchmark::load(&args.data)?;
    let mia_dir = args.mia.clone().or_else(|| {
        let d = args.data.join("mia");
        d.is_dir().then_some(d)
    });
    let mia = mia_dir.as_deref().map(MiaSet::load).transpose()?;
    let settings = EvalSettings {
        inference: InferenceOptions {
            max_new_tokens: args.max_new_tokens,
            batch_size: args.batch_size,
            stop_decided: args.stop_decided,
        },
        mmlu_shots: args.mmlu_shots,
        mmlu_questions: args.mmlu_questions,
        weights_dtype: args.weights_dtype,
        precision: args.precision,
        quantization: args.quantize,
        replace: args.replace,
    };
    let inputs = EvalInputs {
        bench: &bench,
        mia: mia.as_ref(),
        mmlu: args.mmlu.as_deref(),
    };
    if let Some(shard) = args.shard.filter(|s| s.count > 1) {
        let part = evaluate_shard(
            &args.model,
            inputs,
            settings,
            shard,
            device,
            &args.out,
            &mut Terminal::run("eval"),
        )?;
        // Shard 0 writes the MMLU result; `lume score` takes it from there.
        let _ = part;
        let mmlu = match args.mmlu {
            Some(_) => format!(
                " --mmlu-metrics {}",
                args.out.join("mmlu_metrics.json").display()
            ),
            None => String::new(),
        };
        println!(
            "wrote shard {} of {} into {}; once every shard is there: lume score {}{mmlu}",
            shard.index,
            shard.count,
            args.out.display(),
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let evaluation = evaluate_checkpoint(
        &args.model,
        inputs,
        settings,
        device,
        &args.out,
        &mut Terminal::run("eval"),
    )?;
    println!("{}", evaluation.report.table());
    println!(
        "wrote {}",
        args.out.join("evaluation_results.json").display()
    );
    Ok(ExitCode::SUCCESS)
}

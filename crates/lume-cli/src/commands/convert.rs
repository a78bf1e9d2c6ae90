//! `lume convert`: a GGUF file (llama.cpp's format) into a Hugging Face checkpoint folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lume_model::GgufCheckpoint;

#[derive(Args)]
pub struct ConvertArgs {
    /// The `.gguf` file (F32, F16, BF16, Q8_0, Q4_0 and Q4_1 tensors; Llama architecture).
    gguf: PathBuf,
    /// The folder to write: config.json, model.safetensors (f32), tokenizer.json, ….
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let checkpoint = GgufCheckpoint::read(&args.gguf)?;
    checkpoint
        .write_hf_dir(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let c = &checkpoint.config;
    let params: usize = checkpoint.tensors.values().map(|(_, v)| v.len()).sum();
    println!(
        "{}: {} layers, hidden {}, {}/{} heads, vocab {}, {:.1} M parameters",
        args.gguf.display(),
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.num_key_value_heads,
        c.vocab_size,
        params as f64 / 1e6
    );
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

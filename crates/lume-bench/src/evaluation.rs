//! Evaluation of a checkpoint with the full protocol: inference in the reference evaluator's
//! layout, MMLU, and `evaluation_results.json`.

use std::path::Path;

use burn::tensor::Device;
use lume_data::{Benchmark, MiaSet, TokenStats};
use lume_metrics::{
    InferenceOptions, InferenceOutputs, LanguageModel, ScoreReport, evaluate_mmlu, read_mmlu,
    run_inference, score_dir,
};
use lume_model::{BulkProgress, Engine, EngineError, WeightDtype};

use crate::error::{BenchError, Context, write_json};
use crate::observer::Observer;

/// An [`Engine`] as the protocol's [`LanguageModel`]: batched generation and scoring, MIA
/// documents in batches, MMLU logits.
pub struct ProtocolModel<'a>(pub &'a mut Engine);

impl LanguageModel for ProtocolModel<'_> {
    type Error = EngineError;

    fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        self.0.count_tokens(text)
    }

    fn context_length(&self) -> usize {
        self.0.context_length()
    }

    fn generate(
        &mut self,
        prompts: &[&str],
        max_new_tokens: usize,
    ) -> Result<Vec<String>, EngineError> {
        self.0.generate(prompts, max_new_tokens)
    }

    fn token_stats(&mut self, prompt: &str, answer: &str) -> Result<TokenStats, EngineError> {
        self.0.token_stats(prompt, answer)
    }

    fn generate_and_score(
        &mut self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenStats)>, EngineError> {
        self.0.generate_and_score(rows, max_new_tokens, progress)
    }

    fn text_stats(
        &mut self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<TokenStats>, EngineError> {
        self.0.text_stats(texts, progress)
    }

    fn continuation_logits(
        &mut self,
        prompt: &str,
        continuations: &[&str],
    ) -> Result<Vec<f64>, EngineError> {
        self.0.continuation_logits(prompt, continuations)
    }
}

/// What one evaluation of a checkpoint gives: the scores and the raw inference.
pub struct Evaluation {
    /// The scores of `evaluation_results.json`.
    pub report: ScoreReport,
    /// Generations, losses and token statistics.
    pub outputs: InferenceOutputs,
    /// What inference did, per phase (rows, tokens, seconds).
    pub totals: BulkProgress,
}

/// Settings of an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalSettings {
    /// Generation and batching.
    pub inference: InferenceOptions,
    /// Few-shot examples per MMLU prompt.
    pub mmlu_shots: usize,
    /// Storage of the weight matrices.
    pub weights_dtype: WeightDtype,
}

/// What is evaluated: the benchmark's records, and optionally MIA documents and MMLU.
#[derive(Clone, Copy)]
pub struct EvalInputs<'a> {
    /// Forget and retain records.
    pub bench: &'a Benchmark,
    /// Membership-inference documents.
    pub mia: Option<&'a MiaSet>,
    /// MMLU in the Hendrycks layout.
    pub mmlu: Option<&'a Path>,
}

/// The benchmark's inference on the checkpoint `model_dir` (a folder or a `.gguf` file),
/// written in the reference layout into `out`, then scored into
/// `out/evaluation_results.json`.
pub fn evaluate_checkpoint(
    model_dir: &Path,
    inputs: EvalInputs<'_>,
    settings: EvalSettings,
    device: Device,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<Evaluation, BenchError> {
    let mut engine =
        Engine::load(model_dir, device).context(|| format!("loading {}", model_dir.display()))?;
    engine.batch_size = settings.inference.batch_size;
    if settings.weights_dtype != WeightDtype::F32 {
        engine.model = engine
            .model
            .clone()
            .with_weight_dtype(settings.weights_dtype);
    }
    let mia = inputs.mia;
    let units =
        2 * inputs.bench.records.len() + mia.map_or(0, |m| m.members.len() + m.nonmembers.len());
    let outputs = run_inference(
        &mut ProtocolModel(&mut engine),
        &inputs.bench.records,
        mia.map(|m| (m.members.as_slice(), m.nonmembers.as_slice())),
        settings.inference,
        |done, _| observer.inference(done, units),
    )?;
    observer.inference_done(&engine.totals);
    outputs.write(out).map_err(BenchError::io(out))?;
    let mut mmlu_file = None;
    if let Some(dir) = inputs.mmlu {
        let subjects = read_mmlu(dir)?;
        let report = evaluate_mmlu(
            &mut ProtocolModel(&mut engine),
            &subjects,
            settings.mmlu_shots,
        )?;
        let path = out.join("mmlu_metrics.json");
        let value = serde_json::to_value(&report)
            .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
        write_json(&path, &value)?;
        mmlu_file = Some(path);
    }
    let report = score_outputs(
        out,
        mmlu_file.as_deref(),
        &out.join("evaluation_results.json"),
    )?;
    Ok(Evaluation {
        report,
        outputs,
        totals: engine.totals,
    })
}

/// Scores the inference outputs in `dir` (the reference evaluator's layout) with the MMLU
/// result in `mmlu_metrics`, and writes the reference's JSON to `json`.
pub fn score_outputs(
    dir: &Path,
    mmlu_metrics: Option<&Path>,
    json: &Path,
) -> Result<ScoreReport, BenchError> {
    let report = score_dir(dir, mmlu_metrics)?;
    write_json(json, &report.to_json())?;
    Ok(report)
}

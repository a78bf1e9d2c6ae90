//! Evaluation of a checkpoint with the full protocol: inference in the reference evaluator's
//! layout, MMLU, and `evaluation_results.json`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;
use lume_data::{Benchmark, MiaSet, TokenStats};
use lume_metrics::{
    Bootstrap, BootstrapConfig, InferenceOptions, InferenceOutputs, Irregularities, LanguageModel,
    ScoreReport, evaluate_mmlu, read_mmlu, read_mmlu_metrics, run_inference,
};
use lume_model::{
    BulkProgress, Engine, EngineError, Numerics, Precision, RoundToNearest, WeightDtype,
};

use crate::error::{BenchError, Context, write_json};
use crate::observer::Observer;
use crate::outputs::{self, Strictness, read_checked};
use crate::provenance::{DigestCache, data_digest};
use crate::stage::fingerprint;

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

    fn generate_and_score_until(
        &mut self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        decided: &dyn Fn(usize, &str) -> bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenStats)>, EngineError> {
        self.0
            .generate_and_score_until(rows, max_new_tokens, Some(decided), progress)
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

    fn continuation_logits_shared(
        &mut self,
        prompts: &[String],
        continuations: &[&str],
    ) -> Result<Vec<Vec<f64>>, EngineError> {
        self.0.continuation_logits_shared(prompts, continuations)
    }
}

/// What one evaluation of a checkpoint gives: the scores and the raw inference.
#[non_exhaustive]
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
    /// MMLU questions scored per subject, the first of each (`None`: all); MMLU is the
    /// costliest score of a model.
    pub mmlu_questions: Option<usize>,
    /// Storage of the weight matrices (with `precision` bf16: bf16, or refused if f16).
    pub weights_dtype: WeightDtype,
    /// The precision of the matrix products (see [`Precision`]).
    pub precision: Precision,
    /// The blocks' projections rounded to integers before inference (see [`RoundToNearest`]).
    pub quantization: Option<RoundToNearest>,
    /// Remove another evaluation's outputs found in the output folder instead of refusing.
    pub replace: bool,
}

impl EvalSettings {
    /// What of these settings moves results (everything but `replace`).
    fn key(&self) -> String {
        format!(
            "{:?} shots={} questions={:?} weights={} precision={} quantization={:?}",
            self.inference,
            self.mmlu_shots,
            self.mmlu_questions,
            self.weights_dtype,
            self.precision,
            self.quantization.map(|q| q.to_string())
        )
    }
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

/// One part of an evaluation split over processes (one per GPU or machine): every `count`-th
/// row, member and non-member document, starting at `index`, written as `forget_<index>.csv`,
/// `retain_<index>.csv`, `mia_results/member_<index>.csv`, … — the reference evaluator's
/// layout, which [`score_outputs`] reads back whole.
///
/// ```
/// let shard: lume_bench::Shard = "1/3".parse()?;
/// assert!(shard.takes(4) && !shard.takes(3));
/// assert!("3/3".parse::<lume_bench::Shard>().is_err());
/// # Ok::<(), lume_bench::BenchError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// The whole evaluation in one part.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether item `i` (in file order) belongs to this part.
    pub fn takes(&self, i: usize) -> bool {
        i % self.count == self.index
    }

    fn pick<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| self.takes(*i))
            .map(|(_, x)| x.clone())
            .collect()
    }
}

impl FromStr for Shard {
    type Err = BenchError;
    fn from_str(text: &str) -> Result<Self, BenchError> {
        let bad = || {
            BenchError::Config(format!(
                "shard {text:?}: expected K/N with 0 <= K < N (e.g. 0/4 for the first of four)"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// What one shard of an evaluation gives: its inference, and the MMLU result file (written by
/// shard 0 only).
#[non_exhaustive]
pub struct ShardOutputs {
    /// Generations, losses and token statistics of the shard's rows and documents.
    pub outputs: InferenceOutputs,
    /// What inference did, per phase.
    pub totals: BulkProgress,
    /// `out/mmlu_metrics.json`, when this shard ran MMLU.
    pub mmlu_metrics: Option<PathBuf>,
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
    let shard = evaluate_shard(
        model_dir,
        inputs,
        settings,
        Shard::WHOLE,
        device,
        out,
        observer,
    )?;
    let json = out.join("evaluation_results.json");
    let (report, _, _) = score_outputs(
        out,
        shard.mmlu_metrics.as_deref(),
        &json,
        None,
        Strictness::Strict,
    )?;
    Ok(Evaluation {
        report,
        outputs: shard.outputs,
        totals: shard.totals,
    })
}

/// The inference of one [`Shard`] of the evaluation (and MMLU in shard 0), written into `out`
/// without scoring: once every shard is there, [`score_outputs`] scores them together.
pub fn evaluate_shard(
    model_dir: &Path,
    inputs: EvalInputs<'_>,
    settings: EvalSettings,
    shard: Shard,
    device: Device,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<ShardOutputs, BenchError> {
    if inputs.bench.records.is_empty() {
        return Err(BenchError::Config(
            "the data set has no record: nothing to evaluate".into(),
        ));
    }
    // The checkpoint's digest (a full read of its files, 0.8 s for SmolLM2 in f32) is taken
    // on another core while this one loads it; nothing is written before both are done.
    let (made, engine) = std::thread::scope(|scope| {
        let made = scope.spawn(|| made(model_dir, inputs, settings, shard, out));
        let engine = Engine::load(model_dir, device);
        let made = made
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (made, engine)
    });
    let made = made?;
    let _lock = outputs::prepare(out, &made, shard.index, settings.replace)?;
    let mut engine = engine.context(|| format!("loading {}", model_dir.display()))?;
    let records = shard.pick(&inputs.bench.records);
    let mia = inputs.mia.map(|m| MiaSet {
        members: shard.pick(&m.members),
        nonmembers: shard.pick(&m.nonmembers),
    });
    engine.batch_size = settings.inference.batch_size;
    if let Some(scheme) = settings.quantization {
        engine.model = engine
            .model
            .clone()
            .round_to_nearest(scheme)
            .context(|| format!("quantizing {} to {scheme}", model_dir.display()))?;
    }
    let storage = settings.weights_dtype.for_precision(settings.precision)?;
    if storage != WeightDtype::F32 {
        engine.model = engine.model.clone().with_weight_dtype(storage);
    }
    engine.model = engine.model.clone().with_precision(settings.precision)?;
    let units = 2 * records.len()
        + mia
            .as_ref()
            .map_or(0, |m| m.members.len() + m.nonmembers.len());
    let outputs = run_inference(
        &mut ProtocolModel(&mut engine),
        &records,
        mia.as_ref()
            .map(|m| (m.members.as_slice(), m.nonmembers.as_slice())),
        settings.inference,
        |done, _| observer.inference(done, units),
    )?;
    observer.inference_done(&engine.totals);
    let written = outputs
        .write(out, shard.index)
        .map_err(BenchError::io(out))?;
    let rows = [
        outputs.forget.len(),
        outputs.retain.len(),
        outputs.members.len(),
        outputs.nonmembers.len(),
    ];
    let mut written: Vec<(PathBuf, usize)> = written.into_iter().zip(rows).collect();
    let mut mmlu_file = None;
    if let (Some(dir), 0) = (inputs.mmlu, shard.index) {
        let mut subjects = read_mmlu(dir)?;
        if let Some(n) = settings.mmlu_questions {
            subjects.iter_mut().for_each(|s| s.test.truncate(n));
        }
        let report = evaluate_mmlu(
            &mut ProtocolModel(&mut engine),
            &subjects,
            settings.mmlu_shots,
        )?;
        let path = out.join("mmlu_metrics.json");
        let value = serde_json::to_value(&report)
            .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
        write_json(&path, &value)?;
        written.push((path.clone(), subjects.len()));
        mmlu_file = Some(path);
    }
    outputs::finish(out, &made, shard.index, &written)?;
    Ok(ShardOutputs {
        outputs,
        totals: engine.totals,
        mmlu_metrics: mmlu_file,
    })
}

/// What made the evaluation of `model_dir` on `inputs` with `settings` in `shard.count`
/// shards (the model's digest cached in `out/.lume`).
fn made(
    model_dir: &Path,
    inputs: EvalInputs<'_>,
    settings: EvalSettings,
    shard: Shard,
    out: &Path,
) -> Result<outputs::Made, BenchError> {
    let mut digests = DigestCache::open(&out.join(".lume"));
    let model = digests.checkpoint(model_dir)?;
    let mmlu = inputs.mmlu.map(|dir| digests.tree(dir)).transpose()?;
    digests.save()?;
    Ok(outputs::Made {
        model,
        data: fingerprint(&(data_digest(inputs.bench, inputs.mia), mmlu)),
        settings: settings.key(),
        numerics: Numerics::current(),
        shards: shard.count,
    })
}

/// Scores the inference outputs in `dir` (the reference evaluator's layout) with the MMLU
/// result in `mmlu_metrics`, and writes the reference's JSON to `json`; with `bootstrap`, the
/// 95 % intervals of every score too, under our own key `lume.bootstrap` (the reference keys
/// stay as they are).
///
/// A folder lume wrote is checked against its manifests first (every file listed, none
/// changed, none from another evaluation); one in
/// the reference's own layout is scored as the reference scores it, and what the reference
/// does silently there is returned to warn about ([`Strictness::Strict`] refuses it instead).
pub fn score_outputs(
    dir: &Path,
    mmlu_metrics: Option<&Path>,
    json: &Path,
    bootstrap: Option<BootstrapConfig>,
    strictness: Strictness,
) -> Result<(ScoreReport, Option<Bootstrap>, Irregularities), BenchError> {
    let (outputs, irregular) = read_checked(dir, strictness)?;
    let mmlu = mmlu_metrics.map(read_mmlu_metrics).transpose()?;
    let report = outputs.score(dir, mmlu)?;
    let mut value = report.to_json();
    let intervals = bootstrap.map(|config| report.bootstrap(config));
    if let (Some(intervals), Some(lume)) = (&intervals, value.get_mut("lume")) {
        let table = serde_json::to_value(intervals)
            .map_err(|e| BenchError::Config(format!("{}: {e}", json.display())))?;
        lume["bootstrap"] = table;
    }
    write_json(json, &value)?;
    Ok((report, intervals, irregular))
}

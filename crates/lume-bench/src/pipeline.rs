//! [`run_bench`]: the whole protocol. Data, tokenizer, target and gold models, every method,
//! every evaluation, the leaderboard and plots; each stage is cached under `OUT` by a hash of
//! what it was made from, so a rerun redoes only what changed or never finished.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use lume_data::Benchmark;
use lume_metrics::InferenceOptions;
use lume_metrics::Seeded;
use lume_model::{DeviceSpec, WeightDtype};
use lume_unlearn::{Registry, UnlearningMethod};

use crate::config::{BenchConfig, RunConfig};
use crate::error::{BenchError, Context};
use crate::evaluation::{EvalInputs, EvalSettings, evaluate_checkpoint};
use crate::leaderboard::{Checks, Leaderboard, ModelRole};
use crate::metric::Metrics;
use crate::observer::{Observer, Work};
use crate::plots::write_plots;
use crate::provenance::{DigestCache, LOCK_FILE, OutputLock};
use crate::report::write_report;
use crate::stage::{Stage, fingerprint};
use crate::summary::{EvalSummary, SUMMARY_VERSION};
use crate::training::{fine_tune, init_fresh_model, run_method, training_data};

mod data;
mod probing;
mod tuning;
use data::{Dataset, prepare_data};
use probing::Probed;
pub use tuning::{TuneOutcome, run_tune};

/// Where a benchmark run reads its data and writes everything.
#[derive(Debug, Clone, Default)]
pub struct BenchInputs {
    /// Benchmark data in the LUME layout (forget*/retain* JSONL or parquet, optional `mia/`
    /// and `mmlu/`); `None`: the embedded synthetic benchmark.
    pub data: Option<PathBuf>,
    /// Membership-inference documents [default: `DATA/mia`].
    pub mia: Option<PathBuf>,
    /// MMLU in the Hendrycks layout [default: `DATA/mmlu`, or the synthetic quiz].
    pub mmlu: Option<PathBuf>,
    /// Output folder.
    pub out: PathBuf,
}

/// What a benchmark run ends with.
#[non_exhaustive]
pub struct BenchOutcome {
    /// Every model's row, the checks and the notes (also written under `out`).
    pub board: Leaderboard,
    /// Whether the data was the embedded synthetic benchmark.
    pub synthetic: bool,
    /// Whether the run stopped before unlearning because the target or gold model failed a
    /// memorization check and `checks.enforce` is set.
    pub stopped_at_checks: bool,
    /// Wall time of the run.
    pub seconds: f64,
}

/// Runs the benchmark of `config` with the methods of `registry` and a leaderboard column for
/// each of `metrics`: every method is built before any work starts, so a bad name or key fails
/// at once.
///
/// Writes under `inputs.out`: `bench_config.toml`, `data/`, `models/<name>/` (checkpoint,
/// inference outputs, `evaluation_results.json`), `leaderboard.{md,csv,json}` after every
/// model, `plots/`, and `report.html` (see [`write_report`]).
pub fn run_bench(
    config: &BenchConfig,
    inputs: &BenchInputs,
    registry: &Registry,
    metrics: &Metrics,
    observer: &mut dyn Observer,
) -> Result<BenchOutcome, BenchError> {
    let planned = plan(config, registry)?;
    let started = Instant::now();
    let out = &inputs.out;
    let (_lock, data, device) = open(config, inputs, observer)?;
    let mut run = Run::new(config, &data, device, out, observer)?;
    let mut targets = Vec::new();
    for t in 0..config.target_seeds {
        let target = run.fine_tuned(ModelRole::Target, false, t)?;
        let gold = run.fine_tuned(ModelRole::Gold, true, t)?;
        targets.push((target, gold));
    }
    let ((target_dir, target_hash), (gold_dir, gold_hash)) = targets[0].clone();
    let (target, gold, mut board) = run.baseline(
        metrics,
        (&target_dir, &target_hash),
        (&gold_dir, &gold_hash),
    )?;
    if !board.checks.passed() && config.checks.enforce {
        write_report(out)?;
        return Ok(BenchOutcome {
            board,
            synthetic: data.synthetic,
            stopped_at_checks: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let (seeded, probed) = run.unlearn_all(planned, &targets, &gold, &mut board)?;
    board.rank(&seeded)?;
    board.write(out)?;
    if !config.probes.run.is_empty() {
        let target = Probed {
            name: "target",
            dir: &target_dir,
            hash: &target_hash,
            summary: &target,
        };
        run.probe_all(registry, &mut board, &target, &probed)?;
    }
    write_plots(&board, out)?;
    write_report(out)?;
    Ok(BenchOutcome {
        board,
        synthetic: data.synthetic,
        stopped_at_checks: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every run starts with: `inputs.out` locked against another process, the
/// configuration written there, the data prepared (its notes and warnings told), the device.
fn open(
    config: &BenchConfig,
    inputs: &BenchInputs,
    observer: &mut dyn Observer,
) -> Result<(OutputLock, Dataset, Device), BenchError> {
    let out = &inputs.out;
    let lock = OutputLock::acquire(out, LOCK_FILE)?;
    let models = out.join("models");
    std::fs::create_dir_all(&models).map_err(BenchError::io(&models))?;
    write_config(config, out)?;
    let data = prepare_data(config, inputs)?;
    let device = config.device.parse::<DeviceSpec>()?.device()?;
    for note in &data.notes {
        observer.note(note);
    }
    for warning in &data.warnings {
        observer.warning(warning);
    }
    Ok((lock, data, device))
}

/// `config` as `OUT/bench_config.toml`.
fn write_config(config: &BenchConfig, out: &Path) -> Result<(), BenchError> {
    let path = out.join("bench_config.toml");
    let text = toml::to_string_pretty(config)
        .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
    std::fs::write(&path, text).map_err(BenchError::io(&path))
}

/// A trained model: its folder and the hash of what made it.
type Trained = (PathBuf, String);

/// A method's seed-0 run: its name, folder, the hash of its inputs and its evaluation.
type MethodRun = (String, PathBuf, String, EvalSummary);

/// Every unlearning run, each method built now so that a bad name or key fails at once.
fn plan(config: &BenchConfig, registry: &Registry) -> Result<Vec<Planned>, BenchError> {
    config.probes.validate()?;
    if config.seeds == 0 || config.target_seeds == 0 {
        return Err(BenchError::Config(
            "seeds and target_seeds must be at least 1".into(),
        ));
    }
    let mut planned = Vec::new();
    for name in &config.methods {
        for seed in 0..config.seeds {
            planned.push(Planned::new(config, registry, name, seed)?);
        }
    }
    Ok(planned)
}

/// One unlearning run of the plan: a method under one seed.
struct Planned {
    name: String,
    seed: usize,
    run: RunConfig,
    method: Box<dyn UnlearningMethod>,
}

impl Planned {
    /// Method `name` under seed `seed`, built from `registry` with the configuration's
    /// hyperparameters.
    fn new(
        config: &BenchConfig,
        registry: &Registry,
        name: &str,
        seed: usize,
    ) -> Result<Self, BenchError> {
        let run = config.seeded_method_run(name, seed)?;
        let method = registry
            .build(name, &run.method_overrides()?)
            .context(|| format!("method `{name}` of the configuration"))?;
        Ok(Planned {
            name: name.to_string(),
            seed,
            run,
            method,
        })
    }

    /// The hash of this run from the model whose inputs hash to `start_hash`.
    fn hash(&self, start_hash: &str) -> String {
        fingerprint(&(
            start_hash,
            &self.name,
            self.method.hyperparameters(),
            &self.run.trainer,
        ))
    }
}

/// The stages of one run and what they share.
struct Run<'a> {
    config: &'a BenchConfig,
    data: &'a Dataset,
    device: Device,
    out: &'a Path,
    observer: &'a mut dyn Observer,
    settings: EvalSettings,
    eval_hash: String,
    init_hash: String,
    base_dir: PathBuf,
    /// Content digests of the given checkpoints and files, cached under `OUT/.lume`.
    digests: DigestCache,
    /// Folders of the training stages finished in this run, by the hash of their inputs (a
    /// probe that asks for the same run again gets that folder).
    made: HashMap<String, PathBuf>,
}

impl<'a> Run<'a> {
    fn new(
        config: &'a BenchConfig,
        data: &'a Dataset,
        device: Device,
        out: &'a Path,
        observer: &'a mut dyn Observer,
    ) -> Result<Self, BenchError> {
        let mut digests = DigestCache::open(&out.join(".lume"));
        let base = match &config.checkpoints.base {
            Some(dir) => Some(digests.checkpoint(dir)?),
            None => None,
        };
        // A folder or a file (`mmlu.jsonl`): what it holds keys every evaluation.
        let mmlu = data.mmlu.as_deref().map(|m| digests.tree(m)).transpose()?;
        digests.save()?;
        let settings = EvalSettings {
            inference: InferenceOptions {
                max_new_tokens: config.eval.max_new_tokens,
                batch_size: config.eval.batch_size,
                stop_decided: config.eval.stop_decided,
            },
            mmlu_shots: config.eval.mmlu_shots,
            mmlu_questions: config.eval.mmlu_questions,
            weights_dtype: WeightDtype::F32,
            precision: config.eval.precision,
            quantization: None,
            // A stage redone because its inputs changed replaces what it wrote before.
            replace: true,
        };
        let init_hash = fingerprint(&(&data.hash, &config.model, config.max_length, base));
        let base_dir = match &config.checkpoints.base {
            Some(dir) => dir.clone(),
            None => out.join("models").join("init"),
        };
        Ok(Run {
            config,
            data,
            device,
            out,
            observer,
            settings,
            eval_hash: fingerprint(&(&data.hash, &config.eval, mmlu)),
            init_hash,
            base_dir,
            digests,
            made: HashMap::new(),
        })
    }

    /// The target and gold models (trained in `target` and `gold`, from inputs with those
    /// hashes) evaluated, their memorization checks told, and the board that starts with them
    /// (written to `OUT`).
    fn baseline(
        &mut self,
        metrics: &Metrics,
        target: (&Path, &str),
        gold: (&Path, &str),
    ) -> Result<(EvalSummary, EvalSummary, Leaderboard), BenchError> {
        let target = self.evaluate(ModelRole::Target, target.0, target.1)?;
        let gold = self.evaluate(ModelRole::Gold, gold.0, gold.1)?;
        let checks = Checks::new(&target, &gold, &self.config.checks);
        let mut board = Leaderboard::new(self.data.synthetic, self.data.quiz, checks, metrics);
        board.push(&target, Some(&gold));
        board.push(&gold, Some(&gold));
        self.observer.checks(&board.checks);
        board.write(self.out)?;
        Ok((target, gold, board))
    }

    /// Every planned run from its target (seed s from target s mod N) and its evaluation;
    /// seed 0 of each method goes on `board` as it finishes. Returns every method's
    /// evaluations by seed (for the ranking) and its seed-0 run (for the probes).
    fn unlearn_all(
        &mut self,
        planned: Vec<Planned>,
        targets: &[(Trained, Trained)],
        gold: &EvalSummary,
        board: &mut Leaderboard,
    ) -> Result<(Vec<Seeded>, Vec<MethodRun>), BenchError> {
        let mut seeded: Vec<Seeded> = Vec::new();
        let mut probed = Vec::new();
        for planned in planned {
            let t = planned.seed % self.config.target_seeds;
            let ((target_dir, target_hash), _) = &targets[t];
            let name = planned.name.clone();
            let planned_seed = planned.seed;
            let role = ModelRole::Method(name.clone()).seeded(planned.seed);
            let (dir, hash) = self.unlearned(&role, planned, target_dir, target_hash)?;
            let summary = self.evaluate(role, &dir, &hash)?;
            match seeded.last_mut().filter(|m| m.name == name) {
                Some(method) => method.samples.push(summary.sample.clone()),
                None => seeded.push(Seeded {
                    name: name.clone(),
                    samples: vec![summary.sample.clone()],
                }),
            }
            // The board shows seed 0 (of target seed 0); the other seeds enter the ranking.
            if planned_seed == 0 {
                board.push(&summary, Some(gold));
                board.write(self.out)?;
                probed.push((name, dir, hash, summary));
            }
        }
        Ok((seeded, probed))
    }

    /// The evaluation of the model in `dir` (made from inputs hashing to `model_hash`) into
    /// `OUT/models/<role>` (never into a checkpoint folder the user gave), reused when a
    /// finished one from the same inputs is there.
    fn evaluate(
        &mut self,
        role: ModelRole,
        dir: &Path,
        model_hash: &str,
    ) -> Result<EvalSummary, BenchError> {
        let hash = fingerprint(&(model_hash, &self.eval_hash));
        let data = self.data;
        let inputs = EvalInputs {
            bench: &data.bench,
            mia: data.mia.as_ref(),
            mmlu: data.mmlu.as_deref(),
        };
        let out = self.out.join("models").join(role.name());
        self.evaluate_in(role, dir, &out, hash, inputs, self.settings)
    }

    /// The evaluation of the model in `model_dir` on `inputs` with `settings` into `out`
    /// (`hash`: of everything it is made from), reused when a finished one is there.
    fn evaluate_in(
        &mut self,
        role: ModelRole,
        model_dir: &Path,
        out: &Path,
        hash: String,
        inputs: EvalInputs<'_>,
        settings: EvalSettings,
    ) -> Result<EvalSummary, BenchError> {
        // A summary cached in another layout is redone, not misread.
        let stage = Stage::new(
            out,
            "bench_eval.json",
            fingerprint(&(hash, SUMMARY_VERSION)),
        );
        if let Some(summary) = stage.finished::<EvalSummary>() {
            self.observer.stage(role.name(), Work::Evaluation, true);
            return Ok(summary);
        }
        self.observer.stage(role.name(), Work::Evaluation, false);
        let clock = Instant::now();
        let evaluation = evaluate_checkpoint(
            model_dir,
            inputs,
            settings,
            self.device.clone(),
            out,
            &mut *self.observer,
        )
        .context(|| format!("evaluating {}", role.name()))?;
        let summary = EvalSummary::new(
            role,
            &evaluation,
            inputs.mia,
            clock.elapsed().as_secs_f64(),
            model_dir,
        );
        stage.finish(&summary)?;
        Ok(summary)
    }

    /// The model `planned` unlearns from the target in `target_dir`: reused when a finished
    /// run from the same inputs is there. Returns its folder and the hash of what made it.
    fn unlearned(
        &mut self,
        role: &ModelRole,
        planned: Planned,
        target_dir: &Path,
        target_hash: &str,
    ) -> Result<(PathBuf, String), BenchError> {
        let dir = self.out.join("models").join(role.name());
        let hash = planned.hash(target_hash);
        let data = self.data;
        self.unlearn_into(
            role.name(),
            &dir,
            hash.clone(),
            planned,
            &data.bench,
            target_dir,
        )?;
        Ok((dir, hash))
    }

    /// Runs `planned` from `start` on `bench` into `dir` (made from inputs hashing to `hash`),
    /// unless a finished run from the same inputs is there.
    fn unlearn_into(
        &mut self,
        label: &str,
        dir: &Path,
        hash: String,
        mut planned: Planned,
        bench: &Benchmark,
        start: &Path,
    ) -> Result<(), BenchError> {
        self.trained(label, dir, hash, Work::Unlearning, |observer| {
            run_method(
                start,
                Box::new(move |tokenizer, run, model, observer| {
                    training_data(bench, tokenizer, run.max_length, model, observer)
                }),
                planned.method.as_mut(),
                &planned.run,
                dir,
                observer,
            )
            .context(|| format!("method `{label}`"))
        })
    }

    /// A training stage into `dir`: reused when it finished from inputs hashing to `hash`,
    /// resumed from its checkpoints when it did not, run by `train` otherwise.
    fn trained<T>(
        &mut self,
        label: &str,
        dir: &Path,
        hash: String,
        work: Work,
        train: impl FnOnce(&mut dyn Observer) -> Result<T, BenchError>,
    ) -> Result<(), BenchError> {
        let stage = Stage::new(dir, "bench_stage.json", hash.clone());
        if stage.finished::<()>().is_none() {
            stage.start()?;
            self.observer.stage(label, work, false);
            train(&mut *self.observer)?;
            discard_checkpoints(dir)?;
            stage.finish(&())?;
        } else {
            self.observer.stage(label, work, true);
        }
        self.made.insert(hash, dir.to_path_buf());
        Ok(())
    }

    /// The fresh model target and gold start from, unless a base checkpoint is given.
    fn ensure_base(&mut self) -> Result<(), BenchError> {
        let stage = Stage::new(&self.base_dir, "bench_stage.json", self.init_hash.clone());
        if self.config.checkpoints.base.is_some() || stage.finished::<()>().is_some() {
            return Ok(());
        }
        stage.reset()?;
        self.observer.stage("init", Work::Init, false);
        init_fresh_model(
            &self.data.bench,
            self.data.mia.as_ref(),
            &self.config.model,
            self.config.max_length,
            &self.base_dir,
        )?;
        stage.finish(&())
    }

    /// The target (forget + retain) or gold (retain only) model of target seed `t`: given,
    /// reused, or fine-tuned now. Returns its folder and the hash of what made it.
    fn fine_tuned(
        &mut self,
        role: ModelRole,
        gold: bool,
        t: usize,
    ) -> Result<(PathBuf, String), BenchError> {
        let config = self.config;
        let given = if gold {
            &config.checkpoints.gold
        } else {
            &config.checkpoints.target
        };
        if let Some(dir) = given {
            // By content, not path: new weights copied over the old ones are another model.
            let digest = self.digests.checkpoint(dir)?;
            self.digests.save()?;
            return Ok((dir.clone(), fingerprint(&(digest, &self.data.hash))));
        }
        let mut trainer = if gold { &config.gold } else { &config.target }.clone();
        trainer.seed = trainer.seed.wrapping_add(t as u64);
        let trainer = &trainer;
        let role = role.seeded(t);
        let dir = self.out.join("models").join(role.name());
        let hash = fingerprint(&(&self.init_hash, trainer, gold));
        if Stage::new(&dir, "bench_stage.json", hash.clone())
            .finished::<()>()
            .is_none()
        {
            self.ensure_base()?;
        }
        let (base, data) = (self.base_dir.clone(), self.data);
        let bench = &data.bench;
        let run = config.fine_tune_run(trainer);
        self.trained(
            role.name(),
            &dir,
            hash.clone(),
            Work::FineTuning,
            |observer| {
                fine_tune(&base, bench, gold, &run, &dir, observer)
                    .context(|| format!("fine-tuning {}", role.name()))
            },
        )?;
        Ok((dir, hash))
    }
}

/// A finished run's checkpoints duplicate the model saved beside them.
fn discard_checkpoints(dir: &Path) -> Result<(), BenchError> {
    let run = dir.join("run");
    if run.exists() {
        std::fs::remove_dir_all(&run).map_err(BenchError::io(&run))?;
    }
    Ok(())
}

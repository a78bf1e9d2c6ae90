//! The probes' stages (see [`crate::probes`]): every training run and evaluation cached under
//! `OUT/probes/<model>/<probe>` like the rest of the benchmark.

use std::path::{Path, PathBuf};

use lume_data::Benchmark;
use lume_unlearn::{Registry, Schedule, TrainerConfig};

use super::{MethodRun, Planned, Run};
use crate::error::{BenchError, Context};
use crate::evaluation::EvalInputs;
use crate::leaderboard::{Leaderboard, ModelRole};
use crate::observer::Work;
use crate::probes::{
    Point, Probe, ProbeResults, Quantized, Relearning, WeightFormat, fold, forget_order, ids_of,
    prefix, relearning_split, subset, with_retain,
};
use crate::stage::fingerprint;
use crate::summary::EvalSummary;
use crate::training::fine_tune;

/// A model the probes start from: its folder, the hash of what made it, and its evaluation.
pub(super) struct Probed<'s> {
    pub name: &'s str,
    pub dir: &'s Path,
    pub hash: &'s str,
    pub summary: &'s EvalSummary,
}

impl Run<'_> {
    fn probe_dir(&self, model: &str, label: &str) -> PathBuf {
        self.out.join("probes").join(model).join(label)
    }

    /// The forget and retain rows of the model in `model_dir`, its weights in `format`,
    /// evaluated into `out` (no MIA, no MMLU: the probes read forget and retain scores).
    fn probe_eval(
        &mut self,
        label: &str,
        model_dir: &Path,
        out: &Path,
        model_hash: &str,
        format: Option<WeightFormat>,
    ) -> Result<EvalSummary, BenchError> {
        let hash = fingerprint(&(model_hash, &self.eval_hash, "probe", format));
        let settings = format.map_or(self.settings, |f| f.apply(self.settings));
        let data = self.data;
        let inputs = EvalInputs {
            bench: &data.bench,
            mia: None,
            mmlu: None,
        };
        let role = ModelRole::Method(label.to_string());
        self.evaluate_in(role, model_dir, out, hash, inputs, settings)
    }

    /// The probes of the target (quantization) and of every method's seed-0 run in `methods`
    /// (name, folder, hash, evaluation), each recorded on its row of `board` as it finishes.
    pub(super) fn probe_all(
        &mut self,
        registry: &Registry,
        board: &mut Leaderboard,
        target: &Probed<'_>,
        methods: &[MethodRun],
    ) -> Result<(), BenchError> {
        let quantization = self.quantized(target)?;
        board.set_probes(target.name, quantization.into());
        for (name, dir, hash, summary) in methods {
            let model = Probed {
                name,
                dir,
                hash,
                summary,
            };
            let results = self.probe(registry, &model, target)?;
            board.set_probes(name, results);
            board.write(self.out)?;
        }
        Ok(())
    }

    /// Every configured probe of `model` (a method's seed-0 run from `target`).
    fn probe(
        &mut self,
        registry: &Registry,
        model: &Probed<'_>,
        target: &Probed<'_>,
    ) -> Result<ProbeResults, BenchError> {
        let config = self.config;
        let probes = &config.probes;
        let mut results = ProbeResults {
            quantization: self.quantized(model)?,
            ..ProbeResults::default()
        };
        if probes.runs(Probe::Relearn) {
            results.relearn = Some(self.relearned(model, target)?);
        }
        if probes.runs(Probe::Requests) {
            results.requests = self.requests(registry, model, target)?;
        }
        if probes.runs(Probe::Scaling) {
            results.scaling = self.scaling(registry, model, target)?;
        }
        Ok(results)
    }

    /// `model` evaluated in every weight format of the configuration.
    fn quantized(&mut self, model: &Probed<'_>) -> Result<Vec<Quantized>, BenchError> {
        let (config, data) = (self.config, self.data);
        if !config.probes.runs(Probe::Quantization) {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = (data.bench.records.iter())
            .filter(|r| r.split == lume_data::Split::Forget)
            .map(|r| r.id.to_string())
            .collect();
        let mut quantized = Vec::new();
        for &format in &config.probes.quantization {
            let label = format!("{}/{format}", model.name);
            let out = self.probe_dir(model.name, &format.to_string());
            let summary = self.probe_eval(&label, model.dir, &out, model.hash, Some(format))?;
            quantized.push(Quantized {
                format,
                point: Point::of(f64::from(format.bits()), &summary.sample, &ids),
            });
        }
        Ok(quantized)
    }

    /// The relearning attack on `model`, and its control on retain rows.
    fn relearned(
        &mut self,
        model: &Probed<'_>,
        target: &Probed<'_>,
    ) -> Result<Relearning, BenchError> {
        let config = self.config;
        let probes = &config.probes;
        let data = self.data;
        let bench = &data.bench;
        let order = forget_order(bench, probes.seed);
        let (relearn, control, held_out) =
            relearning_split(bench, &order, probes.relearn.fraction, probes.seed);
        if held_out.is_empty() {
            return Err(BenchError::Config(format!(
                "probes.relearn.fraction = {}: no forget row is left to score",
                probes.relearn.fraction
            )));
        }
        let held = ids_of(bench, &held_out);
        let steps = probes.relearn.steps;
        let trainer = TrainerConfig {
            learning_rate: probes.relearn.rate(config.target.learning_rate),
            schedule: Schedule::Constant,
            warmup_steps: 0,
            epochs: steps,
            max_steps: Some(steps),
            ..config.target.clone()
        };
        let run = config.fine_tune_run(&trainer);
        let mut relearned = |label: &str, rows: &[usize]| {
            let dir = self.probe_dir(model.name, label);
            let hash = fingerprint(&(model.hash, label, ids_of(bench, rows), &trainer));
            let name = format!("{}/{label}", model.name);
            let records = subset(bench, rows);
            self.trained(&name, &dir, hash.clone(), Work::FineTuning, |observer| {
                fine_tune(model.dir, &records, false, &run, &dir, observer)
                    .context(|| format!("relearning {name}"))
            })?;
            let summary = self.probe_eval(&name, &dir, &dir, &hash, None)?;
            Ok::<_, BenchError>(Point::of(steps as f64, &summary.sample, &held))
        };
        let after_forget = relearned("relearn-forget", &relearn)?;
        let after_retain = relearned("relearn-retain", &control)?;
        Ok(Relearning {
            steps,
            relearned_rows: relearn.len(),
            target: Point::of(0.0, &target.summary.sample, &held),
            unlearned: Point::of(0.0, &model.summary.sample, &held),
            after_forget,
            after_retain,
        })
    }

    /// The method of `model` run from `start` on the forget records `forget` (and every
    /// retain record) into `OUT/probes/<model>/<label>`, then evaluated and scored on the
    /// forget rows `scored` and the retain set (`x`: the point's abscissa); a run this
    /// benchmark already made from the same inputs is reused. Returns the point, the folder
    /// and the hash of its inputs.
    fn unlearn_part(
        &mut self,
        registry: &Registry,
        model: &Probed<'_>,
        (label, x): (&str, f64),
        start: (&Path, &str),
        (forget, scored): (&[usize], &[usize]),
    ) -> Result<(Point, PathBuf, String), BenchError> {
        let planned = Planned::new(self.config, registry, model.name, 0)?;
        let data = self.data;
        let hash = fingerprint(&(planned.hash(start.1), ids_of(&data.bench, forget)));
        let name = format!("{}/{label}", model.name);
        let dir = match self.made.get(&hash) {
            Some(dir) => dir.clone(),
            None => {
                let dir = self.probe_dir(model.name, label);
                let bench: Benchmark = with_retain(&data.bench, forget);
                self.unlearn_into(&name, &dir, hash.clone(), planned, &bench, start.0)?;
                dir
            }
        };
        let summary = self.probe_eval(&name, &dir, &dir, &hash, None)?;
        let point = Point::of(x, &summary.sample, &ids_of(&data.bench, scored));
        Ok((point, dir, hash))
    }

    /// MUSE's sustainability: the forget set in folds, unlearned one request after the other;
    /// after each, the folds seen so far and the retain set.
    fn requests(
        &mut self,
        registry: &Registry,
        model: &Probed<'_>,
        target: &Probed<'_>,
    ) -> Result<Vec<Point>, BenchError> {
        let folds = self.config.probes.requests;
        let data = self.data;
        let order = forget_order(&data.bench, self.config.probes.seed);
        let (mut dir, mut hash) = (target.dir.to_path_buf(), target.hash.to_string());
        let mut points = Vec::new();
        for k in 0..folds {
            let label = format!("request-{}", k + 1);
            let part = fold(&order, k, folds);
            let seen = &order[..(k + 1) * order.len() / folds];
            let point;
            (point, dir, hash) = self.unlearn_part(
                registry,
                model,
                (&label, (k + 1) as f64),
                (&dir, &hash),
                (part, seen),
            )?;
            points.push(point);
        }
        Ok(points)
    }

    /// MUSE's scalability: growing fractions of the forget set unlearned from the target;
    /// each scored on its own part and the retain set (the whole set is the method's run).
    fn scaling(
        &mut self,
        registry: &Registry,
        model: &Probed<'_>,
        target: &Probed<'_>,
    ) -> Result<Vec<Point>, BenchError> {
        let (config, data) = (self.config, self.data);
        let order = forget_order(&data.bench, config.probes.seed);
        let mut points = Vec::new();
        for &fraction in &config.probes.scaling {
            let part = prefix(&order, fraction);
            if part.len() == order.len() {
                let ids = ids_of(&data.bench, part);
                points.push(Point::of(fraction, &model.summary.sample, &ids));
                continue;
            }
            let label = format!("scale-{:.0}", fraction * 100.0);
            let start = (target.dir, target.hash);
            let (point, _, _) =
                self.unlearn_part(registry, model, (&label, fraction), start, (part, part))?;
            points.push(point);
        }
        Ok(points)
    }
}

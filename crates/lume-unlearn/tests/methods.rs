//! Every method's loss against an independent f64 computation over the model's logits, and one
//! training step moving the forget set the intended way.

mod common;

use burn::module::Module;
use common::*;
use lume_data::TrainingExample;
use lume_model::{CausalModel, Model};
use lume_unlearn::{LossTerms, Rmu, Silent, StepContext, TrainerConfig, UnlearningMethod, train};

/// The built-in methods and fine-tuning, by name.
fn registry() -> lume_unlearn::Registry {
    lume_unlearn::Registry::builtin().with(lume_unlearn::MethodFactory::of(
        "fine-tuning",
        lume_unlearn::FineTune::default,
    ))
}

fn sigmoid_log(x: f64) -> f64 {
    -(1.0 + (-x).exp()).ln()
}

/// Per row, the log-probs of its answer tokens and the full log-softmax at those positions.
fn answer_log_probs(
    model: &dyn CausalModel,
    ex: &[TrainingExample],
    any: &Model,
) -> Vec<Vec<(usize, Vec<f64>)>> {
    let b = batch(ex, any);
    let logits = host_logits(model, &b);
    targets(ex)
        .iter()
        .enumerate()
        .map(|(r, row)| {
            row.iter()
                .map(|&(pos, id)| (id, log_softmax(&logits[r][pos])))
                .collect()
        })
        .collect()
}

fn mean_nll(rows: &[Vec<(usize, Vec<f64>)>]) -> f64 {
    let all: Vec<f64> = rows.iter().flatten().map(|(id, lp)| -lp[*id]).collect();
    all.iter().sum::<f64>() / all.len() as f64
}

fn seq_lp(rows: &[Vec<(usize, Vec<f64>)>]) -> Vec<f64> {
    rows.iter()
        .map(|r| r.iter().map(|(id, lp)| lp[*id]).sum())
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

struct Fixture {
    model: Model,
    reference: Model,
    data: lume_unlearn::UnlearnData,
}

impl Fixture {
    fn new() -> Self {
        let model = model(3);
        // A reference that differs from the model, so KL and ratios are not trivially zero.
        let reference = common::model(4).valid();
        Fixture {
            model,
            reference,
            data: data(),
        }
    }

    fn loss(&self, method: &mut dyn UnlearningMethod) -> LossTerms {
        let forget = batch(&self.data.forget, &self.model);
        let retain = batch(&self.data.retain, &self.model);
        let refusal = batch(&self.data.refusals, &self.model);
        let ctx = StepContext {
            model: &self.model,
            reference: Some(&self.reference),
            forget: &forget,
            retain: Some(&retain),
            refusal: Some(&refusal),
            step: 0,
            epoch: 0,
        };
        method.loss(&ctx).unwrap()
    }

    fn ours(&self, name: &str) -> f64 {
        self.ours_with(name, serde_json::json!({}))
    }

    fn ours_with(&self, name: &str, overrides: serde_json::Value) -> f64 {
        let overrides = overrides.as_object().unwrap().clone();
        let mut method = registry().build(name, &overrides).unwrap();
        f64::from(self.loss(method.as_mut()).total.into_scalar::<f32>())
    }

    fn flatness(&self) -> f64 {
        flatness(&self.model, &self.data.forget)
    }

    fn forget(&self) -> Vec<Vec<(usize, Vec<f64>)>> {
        answer_log_probs(&self.model, &self.data.forget, &self.model)
    }
    fn retain(&self) -> Vec<Vec<(usize, Vec<f64>)>> {
        answer_log_probs(&self.model, &self.data.retain, &self.model)
    }
    fn reference_of(&self, ex: &[TrainingExample]) -> Vec<Vec<(usize, Vec<f64>)>> {
        answer_log_probs(&self.reference, ex, &self.model)
    }
}

/// PDU's forget term: `(max − mean logit)²` at the positions of the answer tokens themselves,
/// averaged over them.
fn flatness(model: &Model, examples: &[TrainingExample]) -> f64 {
    let b = batch(examples, model);
    let logits = host_logits(model, &b);
    let gaps: Vec<f64> = targets(examples)
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            let logits = &logits;
            row.iter().map(move |&(pos, _)| {
                let z = &logits[r][pos + 1];
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (max - mean(z)).powi(2)
            })
        })
        .collect();
    mean(&gaps)
}

fn assert_close(name: &str, ours: f64, expected: f64) {
    let tol = 1e-4 * expected.abs().max(1.0);
    assert!(
        (ours - expected).abs() <= tol,
        "{name}: ours {ours}, f64 {expected}"
    );
}

fn kl_retain(f: &Fixture) -> f64 {
    let theta = f.retain();
    let reference = f.reference_of(&f.data.retain);
    let terms: Vec<f64> = theta
        .iter()
        .flatten()
        .zip(reference.iter().flatten())
        .map(|((_, lp), (_, lr))| lr.iter().zip(lp).map(|(r, p)| r.exp() * (r - p)).sum())
        .collect();
    mean(&terms)
}

fn npo_forget(f: &Fixture, beta: f64) -> f64 {
    let theta = seq_lp(&f.forget());
    let reference = seq_lp(&f.reference_of(&f.data.forget));
    let terms: Vec<f64> = theta
        .iter()
        .zip(&reference)
        .map(|(t, r)| sigmoid_log(-beta * (t - r)))
        .collect();
    -2.0 / beta * mean(&terms)
}

#[test]
fn gradient_methods_equal_their_formulas() {
    let f = Fixture::new();
    let (nll_f, nll_r) = (mean_nll(&f.forget()), mean_nll(&f.retain()));
    assert_close("ga", f.ours("ga"), -nll_f);
    assert_close("gd", f.ours("gd"), -nll_f + nll_r);
    assert_close("kl", f.ours("kl"), -nll_f + kl_retain(&f));
    assert!(
        kl_retain(&f) > 1e-3,
        "the reference differs, so KL is positive"
    );
    assert_close("finetune", f.ours("finetune"), nll_f);
    assert_close("seq-gd", f.ours("seq-gd"), -nll_f + 0.5 * nll_r);
    assert_close(
        "pdu",
        f.ours_with("pdu", serde_json::json!({"epsilon": 0.5})),
        f.flatness() + 1.0 * (nll_r - 0.5),
    );
}

#[test]
fn preference_methods_equal_their_formulas() {
    let f = Fixture::new();
    let nll_r = mean_nll(&f.retain());
    assert_close("npo", f.ours("npo"), npo_forget(&f, 0.1));
    assert_close("npo-gd", f.ours("npo-gd"), npo_forget(&f, 0.1) + nll_r);
    assert_close(
        "npo-kl",
        f.ours("npo-kl"),
        npo_forget(&f, 0.1) + kl_retain(&f),
    );
    assert_close(
        "lora-ties",
        f.ours("lora-ties"),
        npo_forget(&f, 0.1) + nll_r + kl_retain(&f),
    );

    let forget = f.forget();
    let simnpo: Vec<f64> = forget
        .iter()
        .map(|row| {
            let nll: f64 = -row.iter().map(|(id, lp)| lp[*id]).sum::<f64>();
            sigmoid_log(4.5 * nll / row.len() as f64 - 0.0)
        })
        .collect();
    assert_close(
        "simnpo",
        f.ours("simnpo"),
        0.125 * (-2.0 / 4.5 * mean(&simnpo)) + nll_r,
    );

    let ratio = |ex: &[TrainingExample]| -> Vec<f64> {
        let t = seq_lp(&answer_log_probs(&f.model, ex, &f.model));
        let r = seq_lp(&f.reference_of(ex));
        t.iter().zip(&r).map(|(a, b)| a - b).collect()
    };
    let win = ratio(&f.data.refusals);
    let lose = ratio(&f.data.forget);
    let dpo: Vec<f64> = win
        .iter()
        .zip(&lose)
        .map(|(w, l)| sigmoid_log(0.1 * (w - l)))
        .collect();
    assert_close("idkdpo", f.ours("idkdpo"), -2.0 / 0.1 * mean(&dpo) + nll_r);
}

#[test]
fn token_weighted_methods_equal_their_formulas() {
    let f = Fixture::new();
    let nll_r = mean_nll(&f.retain());
    let forget = f.forget();
    let tokens: Vec<&(usize, Vec<f64>)> = forget.iter().flatten().collect();
    let wga: Vec<f64> = tokens
        .iter()
        .map(|(id, lp)| lp[*id].exp() * lp[*id])
        .collect();
    assert_close("wga", f.ours("wga"), mean(&wga) + nll_r);
    let satimp: Vec<f64> = tokens
        .iter()
        .map(|(id, lp)| {
            let p = lp[*id].exp();
            p.powi(5) * (1.0 - p) * lp[*id]
        })
        .collect();
    // open-unlearning's γ = 0.1.
    assert_close("satimp", f.ours("satimp"), 0.1 * mean(&satimp) + nll_r);

    let reference = f.reference_of(&f.data.forget);
    let undial: Vec<f64> = forget
        .iter()
        .flatten()
        .zip(reference.iter().flatten())
        .map(|((id, lp), (_, lr))| {
            let mut z = lr.clone();
            z[*id] -= 10.0;
            let teacher = log_softmax(&z);
            -teacher
                .iter()
                .zip(lp)
                .map(|(q, p)| q.exp() * p)
                .sum::<f64>()
        })
        .collect();
    assert_close("undial", f.ours("undial"), mean(&undial));

    // CE-U skips each row's first answer token.
    let ceu: Vec<f64> = forget
        .iter()
        .flat_map(|row| row.iter().skip(1))
        .map(|(id, lp)| {
            let mass: f64 = (0..lp.len()).filter(|k| k != id).map(|k| lp[k].exp()).sum();
            -(0..lp.len())
                .filter(|k| k != id)
                .map(|k| lp[k].exp() / mass * lp[k])
                .sum::<f64>()
        })
        .collect();
    assert_close("ceu", f.ours("ceu"), mean(&ceu));
    assert_close(
        "ceu with a retain term",
        f.ours_with("ceu", serde_json::json!({"alpha": 1.0})),
        mean(&ceu) + nll_r,
    );
}

#[test]
#[allow(clippy::needless_range_loop)]
fn rmu_equals_its_formula() {
    let f = Fixture::new();
    let mut rmu = Rmu::default();
    let terms = f.loss(&mut rmu);
    let layer = 2; // ℓ = 7 clamped to the last of 3 layers
    let u: Vec<f64> = rmu.direction(16).iter().map(|&x| f64::from(x)).collect();
    assert!((u.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-5);
    let mse = |h: &[Vec<Vec<f64>>],
               target: &dyn Fn(usize, usize, usize) -> f64,
               ex: &[TrainingExample]| {
        let (mut sum, mut n) = (0.0, 0usize);
        for (r, e) in ex.iter().enumerate() {
            for pos in 0..e.input_ids.len() {
                for k in 0..16 {
                    sum += (h[r][pos][k] - target(r, pos, k)).powi(2);
                    n += 1;
                }
            }
        }
        sum / n as f64
    };
    let fb = batch(&f.data.forget, &f.model);
    let rb = batch(&f.data.retain, &f.model);
    let hf = host_hidden(&f.model, &fb, layer);
    let forget = mse(&hf, &|_, _, k| 20.0 * u[k], &f.data.forget);
    let hr = host_hidden(&f.model, &rb, layer);
    let href = host_hidden(&f.reference, &rb.inner(), layer);
    let retain = mse(&hr, &|r, p, k| href[r][p][k], &f.data.retain);
    assert_close(
        "rmu",
        f64::from(terms.total.into_scalar::<f32>()),
        forget + 100.0 * retain,
    );
}

fn train_named(
    model: Model,
    data: &lume_unlearn::UnlearnData,
    name: &str,
    overrides: &serde_json::Map<String, serde_json::Value>,
    config: &TrainerConfig,
) -> lume_unlearn::TrainOutcome<Model> {
    let mut method = registry().build(name, overrides).unwrap();
    train(model, method.as_mut(), data, config, None, &mut Silent).unwrap()
}

/// The forget NLL the method targets: token-mean, or for SimNPO the mean of length-normalised
/// row NLLs (rows are weighted by σ(−β·NLL/|y|), so the token mean need not follow).
fn forget_nll(name: &str, model: &Model, data: &lume_unlearn::UnlearnData) -> f64 {
    if name != "simnpo" {
        return nll(model, &data.forget, model);
    }
    let rows = answer_log_probs(model, &data.forget, model);
    mean(
        &rows
            .iter()
            .map(|r| -r.iter().map(|(id, lp)| lp[*id]).sum::<f64>() / r.len() as f64)
            .collect::<Vec<_>>(),
    )
}

fn one_step(name: &str) -> (f64, f64, Model) {
    let f = Fixture::new();
    let before = forget_nll(name, &f.model, &f.data);
    let config = TrainerConfig {
        learning_rate: 1e-3,
        max_steps: Some(1),
        batch_size: f.data.forget.len(),
        max_grad_norm: None,
        ..TrainerConfig::default()
    };
    // The forget term alone: retain terms pull the other way on this shared vocabulary.
    let defaults = registry()
        .build(name, &Default::default())
        .unwrap()
        .hyperparameters();
    let mut overrides = serde_json::Map::new();
    for key in ["alpha", "retain_weight"] {
        if defaults.get(key).is_some() && name != "rmu" {
            overrides.insert(key.into(), serde_json::json!(0.0));
        }
    }
    if name == "pdu" {
        overrides.insert("epsilon".into(), serde_json::json!(0.5));
    }
    if name == "simnpo" {
        // At β = 4.5 a random model's SimNPO loss is ~1e-8 (σ(−β·3.5)) and its gradients sit
        // below Adam's ε, so one step is noise; β = 0.1 gives the method a real gradient.
        overrides.insert("beta".into(), serde_json::json!(0.1));
    }
    let out = train_named(f.model, &f.data, name, &overrides, &config);
    let runs = if name == "lora-ties" { 2 } else { 1 };
    assert_eq!(out.history.len(), runs, "{name}: one step per run");
    let after = forget_nll(name, &out.model, &f.data);
    (before, after, out.model)
}

#[test]
fn one_step_raises_the_forget_nll_for_every_forgetting_method() {
    for name in lume_unlearn::Registry::builtin().names() {
        if name == "rmu" || name == "pdu" {
            // RMU steers activations and PDU flattens the output, not the answer's NLL
            // (a random model's answer logits are below the top one): checked below.
            continue;
        }
        let (before, after, _) = one_step(name);
        assert!(after > before, "{name}: forget NLL {before} -> {after}");
    }
    let (before, after, _) = one_step("finetune");
    assert!(after < before, "finetune: NLL {before} -> {after}");
    let f = Fixture::new();
    let (_, _, trained) = one_step("pdu");
    let (before, after) = (f.flatness(), flatness(&trained, &f.data.forget));
    assert!(
        after < before,
        "pdu: (max − mean logit)² {before} -> {after}"
    );
}

#[test]
fn one_rmu_step_moves_forget_activations_towards_the_control_vector() {
    let f = Fixture::new();
    let mut rmu = Rmu::default();
    let before = f64::from(f.loss(&mut rmu).forget.unwrap().into_scalar::<f32>());
    let (_, _, model) = one_step("rmu");
    let after_fixture = Fixture {
        model,
        ..Fixture::new()
    };
    let after = f64::from(
        after_fixture
            .loss(&mut rmu)
            .forget
            .unwrap()
            .into_scalar::<f32>(),
    );
    assert!(after < before, "RMU forget MSE {before} -> {after}");
}

#[test]
fn gd_keeps_retain_nll_below_ga_after_the_same_steps() {
    let run = |name: &str| {
        let f = Fixture::new();
        let config = TrainerConfig {
            learning_rate: 3e-3,
            max_steps: Some(6),
            batch_size: 2,
            ..TrainerConfig::default()
        };
        let out = train_named(f.model, &f.data, name, &Default::default(), &config);
        nll(&out.model, &f.data.retain, &out.model)
    };
    let (ga, gd) = (run("ga"), run("gd"));
    assert!(gd < ga, "retain NLL: GD {gd}, GA {ga}");
}

/// Records what seq-gd was served at each step, and otherwise is seq-gd.
struct Recording {
    inner: lume_unlearn::SequentialGd,
    /// Per step: the forget rows' ids, and how many retain rows came with them.
    served: Vec<(Vec<Vec<i64>>, usize)>,
}

impl UnlearningMethod for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn hyperparameters(&self) -> serde_json::Value {
        self.inner.hyperparameters()
    }
    fn trainable(&self, num_layers: usize) -> Option<lume_unlearn::Trainable> {
        self.inner.trainable(num_layers)
    }
    fn data_plan(&self) -> lume_unlearn::DataPlan {
        self.inner.data_plan()
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, lume_unlearn::UnlearnError> {
        let [b, t] = ctx.forget.ids.dims();
        let ids = ctx
            .forget
            .ids
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        let rows = (0..b)
            .map(|r| {
                ids[r * t..(r + 1) * t]
                    .iter()
                    .copied()
                    .filter(|&x| x != 0)
                    .collect()
            })
            .collect();
        self.served
            .push((rows, ctx.retain.map_or(0, |r| r.batch_size)));
        self.inner.loss(ctx)
    }
}

#[test]
fn seq_gd_unlearns_chunk_by_chunk_with_its_retain_ratio_and_trains_only_the_last_layers() {
    let data = data();
    let mut method = Recording {
        inner: lume_unlearn::SequentialGd {
            chunk_size: 2,
            retain_per_forget: 3,
            last_layers: 1,
            ..Default::default()
        },
        served: Vec::new(),
    };
    let config = TrainerConfig {
        learning_rate: 1e-2,
        batch_size: 1,
        epochs: 2,
        shuffle: true,
        max_grad_norm: None,
        ..TrainerConfig::default()
    };
    let start = model(3);
    let before = params(&start);
    let out = train(start, &mut method, &data, &config, None, &mut Silent).unwrap();
    let ids = |i: usize| -> Vec<i64> {
        data.forget[i]
            .input_ids
            .iter()
            .map(|&x| i64::from(x))
            .collect()
    };
    // 4 forget rows in chunks of 2, 2 epochs each, one row per step: chunk 0 for 4 steps, then
    // chunk 1 for 4, each row seen once per epoch.
    assert_eq!(method.served.len(), 8);
    for (chunk, steps) in method.served.chunks(4).enumerate() {
        let members = [ids(2 * chunk), ids(2 * chunk + 1)];
        for (rows, retain) in steps {
            assert_eq!(rows.len(), 1);
            assert!(members.contains(&rows[0]), "chunk {chunk} served {rows:?}");
            assert_eq!(*retain, 3, "retain rows per forget row");
        }
        for epoch in steps.chunks(2) {
            assert_ne!(epoch[0].0, epoch[1].0, "each chunk row once per epoch");
        }
    }
    // Only the last of the 3 layers trained: the embeddings, layers 0 and 1 and the final norm
    // and head are as they were.
    let after = params(&out.model);
    let changed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    let per_layer = (before.len() - 3) / 3;
    assert_eq!(changed.len(), per_layer, "changed tensors: {changed:?}");
    assert!(!changed.contains(&0), "the embedding trained");
}

#[test]
fn the_head_at_counted_positions_alone_gives_the_full_heads_log_probs_and_gradients() {
    // Rows of different lengths (padding) with prompts (positions that do not count).
    let model = model(11);
    let rows = vec![
        example(&[3, 4, 5], &[6, 7]),
        example(&[8], &[9, 10, 11, 12]),
    ];
    let batch = batch(&rows, &model);
    let ctx = StepContext {
        model: &model,
        reference: None,
        forget: &batch,
        retain: None,
        refusal: None,
        step: 0,
        epoch: 0,
    };
    let counted = ctx.answer_log_probs(&batch);
    let full = lume_unlearn::answer_log_probs(ctx.logits(&batch), &batch);
    let values = |t: burn::tensor::Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
    for (a, b) in values(counted.clone()).iter().zip(values(full.clone())) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
    let (ga, gb) = (counted.sum().backward(), full.sum().backward());
    let grad = |g: &burn::tensor::Gradients| {
        model
            .embed_tokens
            .weight
            .val()
            .grad(g)
            .expect("embedding gradient")
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    for (a, b) in grad(&ga).iter().zip(grad(&gb)) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}

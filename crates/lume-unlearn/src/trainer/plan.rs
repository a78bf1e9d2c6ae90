//! The data plan of a run: micro-batches fixed by the seed, grouped into optimizer steps.

use lume_data::{PairedBatch, PairedSampler, PairingConfig, TrainingExample};

use super::{TrainerConfig, UnlearnData};
use crate::method::{DataPlan, UnlearningMethod};

/// The micro-batches of a whole run, fixed by the seed.
fn build_plan(
    forget_lengths: &[usize],
    retain_lengths: &[usize],
    retain_per_forget: usize,
    data_plan: DataPlan,
    config: &TrainerConfig,
) -> Vec<PairedBatch> {
    let pairing = |seed| PairingConfig {
        forget_batch_size: config.batch_size.max(1),
        retain_per_forget,
        shuffle: config.shuffle,
        drop_last: false,
        seed,
    };
    let forget_len = forget_lengths.len();
    let sampler = |lengths: &[usize], seed| {
        let sampler = PairedSampler::new(lengths.len(), retain_lengths.len(), pairing(seed));
        if config.group_by_length {
            sampler
                .grouped_by_length(lengths.to_vec())
                .retain_grouped_by_length(retain_lengths.to_vec())
        } else {
            sampler
        }
    };
    let Some(chunk) = data_plan.chunk_size else {
        let mut sampler = sampler(forget_lengths, config.seed);
        return (0..config.epochs)
            .flat_map(|_| sampler.next_epoch())
            .collect();
    };
    let mut plan = Vec::new();
    for (i, start) in (0..forget_len).step_by(chunk.max(1)).enumerate() {
        let len = chunk.min(forget_len - start);
        let mut sampler = sampler(
            &forget_lengths[start..start + len],
            config.seed.wrapping_add(i as u64),
        );
        for _ in 0..config.epochs {
            plan.extend(sampler.next_epoch().into_iter().map(|mut b| {
                b.forget.iter_mut().for_each(|f| *f += start);
                b
            }));
        }
    }
    plan
}

/// Real and padded tokens of `micro`'s batches (forget, retain, and refusals when used).
pub(super) fn token_counts(
    micro: &[PairedBatch],
    data: &UnlearnData,
    method: &dyn UnlearningMethod,
) -> (usize, usize) {
    let count = |examples: &[TrainingExample], indices: &[usize]| {
        let lengths = indices.iter().map(|&i| examples[i].input_ids.len());
        let longest = lengths.clone().max().unwrap_or(0);
        (lengths.sum::<usize>(), longest * indices.len())
    };
    let mut totals = (0, 0);
    for batch in micro {
        let mut parts = vec![
            count(&data.forget, &batch.forget),
            count(&data.retain, &batch.retain),
        ];
        if method.needs_refusals() {
            parts.push(count(&data.refusals, &batch.forget));
        }
        for (real, padded) in parts {
            totals.0 += real;
            totals.1 += padded;
        }
    }
    totals
}

/// The micro-batches of a run grouped into optimizer steps.
pub(super) struct StepPlan {
    micro: Vec<PairedBatch>,
    accumulation: usize,
    batches_per_epoch: usize,
    pub(super) total_steps: usize,
}

impl StepPlan {
    pub(super) fn new(
        data: &UnlearnData,
        retain_per_forget: usize,
        data_plan: DataPlan,
        config: &TrainerConfig,
    ) -> Self {
        let lengths =
            |set: &[TrainingExample]| set.iter().map(|e| e.input_ids.len()).collect::<Vec<_>>();
        let micro = build_plan(
            &lengths(&data.forget),
            &lengths(&data.retain),
            retain_per_forget,
            data_plan,
            config,
        );
        let accumulation = config.grad_accumulation.max(1);
        let batches_per_epoch = micro.len().div_ceil(config.epochs.max(1)).max(1);
        let mut total_steps = micro.len().div_ceil(accumulation);
        if let Some(max) = config.max_steps {
            total_steps = total_steps.min(max);
        }
        StepPlan {
            micro,
            accumulation,
            batches_per_epoch,
            total_steps,
        }
    }

    /// Optimizer step `step`'s micro-batches.
    pub(super) fn step<'a, M>(
        &'a self,
        step: usize,
        model: &'a M,
        reference: Option<&'a M>,
    ) -> Step<'a, M> {
        let from = step * self.accumulation;
        Step {
            model,
            reference,
            micro: &self.micro[from..(from + self.accumulation).min(self.micro.len())],
            step,
            epoch: from / self.batches_per_epoch,
        }
    }
}

/// Whether `done` steps is a multiple of a positive `interval`.
pub(super) fn every(interval: Option<usize>, done: usize) -> bool {
    interval.is_some_and(|n| n > 0 && done.is_multiple_of(n))
}

/// One optimizer step's worth of micro-batches.
pub(super) struct Step<'a, M> {
    pub(super) model: &'a M,
    pub(super) reference: Option<&'a M>,
    pub(super) micro: &'a [PairedBatch],
    pub(super) step: usize,
    pub(super) epoch: usize,
}

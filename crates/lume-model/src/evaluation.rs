//! The benchmark's inference in bulk: teacher-forced scoring in length-sorted padded batches,
//! whose prompt keys then seed greedy generation with continuous batching.
//!
//! Each row is run through the model once: one forward over `prompt + answer` gives the
//! answer's token statistics, and — whenever the prompt's tokens are a prefix of the
//! prompt+answer tokens (checked per row) — its first `len(prompt)` cached keys and values are
//! the prompt's KV cache and its logits at the prompt's last token give the first generated
//! token. Generation keeps a fixed number of slots busy: a finished row's slot takes the next
//! prompt at once, so no slot decodes past its EOS.

use std::collections::VecDeque;
use std::rc::Rc;

use burn::tensor::{Int, Tensor, TensorData};
use lume_data::TokenStats;
use lume_data::{IGNORE_INDEX, TrainingExample};

use crate::decoder::KvCache;
use crate::engine::{Engine, EngineError};
use lume_kernels::row_stats;

/// Padded tokens per teacher-forced batch (rows × longest row). Measured on SmolLM2-135M:
/// larger batches stop paying off once the products are a few hundred rows tall.
const SCORING_TOKENS: usize = 2048;
/// Positions whose vocabulary logits are on the host at once (rows × vocab floats).
const HEAD_ROWS: usize = 256;

/// One row to score (and perhaps continue).
struct Item {
    /// Index in the caller's order.
    index: usize,
    ids: Vec<u32>,
    labels: Vec<i64>,
    /// The prompt's own tokens when the row is to be continued.
    prompt: Option<Vec<u32>>,
}

/// A prompt ready to decode: its cached keys and values (row `row` of `cache`, first `len`
/// positions) and the first new token.
struct Ready {
    index: usize,
    cache: Rc<KvCache>,
    row: usize,
    len: usize,
    first: u32,
}

/// What one teacher-forced batch gives.
struct Scored {
    stats: Vec<(usize, TokenStats)>,
    ready: Vec<Ready>,
    /// Rows whose prompt is not a prefix of prompt+answer: prefilled on their own.
    unaligned: Vec<(usize, Vec<u32>)>,
}

/// Where the work stands, for progress reports; summed over calls in [`Engine::totals`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BulkProgress {
    /// Rows whose statistics are known.
    pub scored: usize,
    /// Rows whose generation has ended.
    pub generated: usize,
    /// Tokens run through teacher-forced passes so far (padding excluded).
    pub tokens_scored: usize,
    /// Tokens generated so far.
    pub tokens_generated: usize,
    /// Seconds spent in teacher-forced passes (prefills included).
    pub scoring_seconds: f64,
    /// Seconds spent decoding.
    pub decoding_seconds: f64,
}

impl std::ops::AddAssign for BulkProgress {
    fn add_assign(&mut self, o: BulkProgress) {
        self.scored += o.scored;
        self.generated += o.generated;
        self.tokens_scored += o.tokens_scored;
        self.tokens_generated += o.tokens_generated;
        self.scoring_seconds += o.scoring_seconds;
        self.decoding_seconds += o.decoding_seconds;
    }
}

struct Slot {
    index: usize,
    next: u32,
    position: usize,
    out: Vec<u32>,
}

/// The decoding slots: one row of the shared cache each, with its key mask.
struct Slots {
    slots: Vec<Option<Slot>>,
    masks: Vec<Vec<bool>>,
    cache: KvCache,
}

impl Slots {
    fn new(width: usize) -> Self {
        Slots {
            slots: (0..width).map(|_| None).collect(),
            masks: vec![Vec::new(); width],
            cache: KvCache::with_rows(width),
        }
    }

    fn free(&self) -> Option<usize> {
        self.slots.iter().position(Option::is_none)
    }

    fn is_idle(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Starts decoding `r` in slot `free`: its keys go into the shared cache, left-padded.
    fn admit(&mut self, free: usize, r: Ready) {
        if self.cache.len() < r.len {
            let grow = r.len - self.cache.len();
            self.cache.pad_to(r.len);
            for m in &mut self.masks {
                m.extend(std::iter::repeat_n(false, grow));
            }
        }
        self.cache.write_row(free, &r.cache, r.row, r.len);
        let len = self.cache.len();
        self.masks[free] = (0..len).map(|j| j >= len - r.len).collect();
        self.slots[free] = Some(Slot {
            index: r.index,
            next: r.first,
            position: r.len,
            out: vec![r.first],
        });
    }

    /// The tail: nothing is left to start, so the empty slots stop decoding.
    fn drop_empty(&mut self) {
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .collect();
        if live.len() == self.slots.len() {
            return;
        }
        self.cache.select_rows(&live);
        let kept: Vec<(Option<Slot>, Vec<bool>)> = live
            .iter()
            .map(|&i| (self.slots[i].take(), std::mem::take(&mut self.masks[i])))
            .collect();
        (self.slots, self.masks) = kept.into_iter().unzip();
    }
}

/// When a row's generation may stop early: `(row index, text generated so far)` → its score
/// can no longer change.
pub type Decided<'a> = &'a dyn Fn(usize, &str) -> bool;

impl Engine {
    /// The rows to score: prompt + answer tokens, with the prompt's own tokens when it is to
    /// be continued.
    fn scoring_items(
        &self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
    ) -> Result<Vec<Item>, EngineError> {
        let max_len = self.model.config.max_position_embeddings;
        let mut items = Vec::with_capacity(rows.len());
        for (index, (prompt, answer)) in rows.iter().enumerate() {
            let example = self.within_window(TrainingExample::prompt_answer(
                &self.tokenizer,
                prompt,
                answer,
                Some(max_len),
            ))?;
            let prompt = (max_new_tokens > 0)
                .then(|| self.tokenizer.encode_ids(prompt))
                .transpose()?;
            if let Some(prompt) = &prompt {
                self.model
                    .config
                    .check_window(prompt.len() + max_new_tokens)?;
            }
            items.push(Item {
                index,
                ids: example.input_ids,
                labels: example.labels,
                prompt,
            });
        }
        Ok(items)
    }

    /// Teacher-forced statistics of every `(prompt, answer)` row and, when `max_new_tokens > 0`,
    /// the greedy continuation of every prompt, in the rows' order. `progress` is called after
    /// each batch and each finished generation.
    pub fn score_and_generate(
        &self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        progress: impl FnMut(BulkProgress),
    ) -> Result<(Vec<TokenStats>, Vec<Vec<u32>>), EngineError> {
        self.score_and_generate_until(rows, max_new_tokens, None, progress)
    }

    /// [`score_and_generate`](Self::score_and_generate), where row `i`'s generation also ends
    /// once `decided(i, text so far)` holds (its score can no longer change).
    pub fn score_and_generate_until(
        &self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        decided: Option<Decided<'_>>,
        mut progress: impl FnMut(BulkProgress),
    ) -> Result<(Vec<TokenStats>, Vec<Vec<u32>>), EngineError> {
        let settled = |index: usize, tokens: &[u32]| -> Result<bool, EngineError> {
            match decided {
                Some(decided) => Ok(decided(index, &self.tokenizer.decode(tokens)?)),
                None => Ok(false),
            }
        };
        let mut batches = VecDeque::from(length_sorted_batches(
            self.scoring_items(rows, max_new_tokens)?,
        ));
        let eos = &self.model.config.eos_token_ids;
        let mut stats: Vec<Option<TokenStats>> = vec![None; rows.len()];
        let mut generated: Vec<Vec<u32>> = vec![Vec::new(); rows.len()];
        let mut done = BulkProgress::default();
        let mut ready: VecDeque<Ready> = VecDeque::new();
        let mut slots = Slots::new(self.batch_size.max(1));
        loop {
            // Keep every slot busy; score the next batch whenever no prompt is ready.
            while let Some(free) = slots.free() {
                if ready.is_empty() {
                    let Some(batch) = batches.pop_front() else {
                        break;
                    };
                    let scored = self.score_batch(batch, &mut done)?;
                    for (index, s) in scored.stats {
                        stats[index] = Some(s);
                    }
                    ready.extend(scored.ready);
                    let started = std::time::Instant::now();
                    for (index, prompt) in scored.unaligned {
                        ready.push_back(self.prefill(index, &prompt)?);
                    }
                    done.scoring_seconds += started.elapsed().as_secs_f64();
                    progress(done);
                    continue;
                }
                let Some(r) = ready.pop_front() else { break };
                done.tokens_generated += 1;
                if max_new_tokens <= 1 || eos.contains(&r.first) || settled(r.index, &[r.first])? {
                    generated[r.index] = vec![r.first];
                    done.generated += 1;
                    progress(done);
                    continue;
                }
                slots.admit(free, r);
            }
            if slots.is_idle() {
                break;
            }
            if ready.is_empty() && batches.is_empty() {
                slots.drop_empty();
            }
            let started = std::time::Instant::now();
            self.decode_step(&mut slots)?;
            done.decoding_seconds += started.elapsed().as_secs_f64();
            for slot in slots.slots.iter_mut() {
                let Some(s) = slot else { continue };
                done.tokens_generated += 1;
                if s.out.len() >= max_new_tokens
                    || eos.contains(&s.next)
                    || settled(s.index, &s.out)?
                {
                    generated[s.index] = std::mem::take(&mut s.out);
                    done.generated += 1;
                    *slot = None;
                    progress(done);
                }
            }
            compact(&mut slots);
        }
        let stats = stats
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.ok_or_else(|| EngineError::Empty(format!("row {i} was not scored"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stats, generated))
    }

    /// Teacher-forced statistics of whole texts (every token after the first counts), in
    /// batches: membership-inference losses.
    pub fn score_texts(
        &self,
        texts: &[&str],
        mut progress: impl FnMut(BulkProgress),
    ) -> Result<Vec<TokenStats>, EngineError> {
        let max_len = self.model.config.max_position_embeddings;
        let mut items = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let example = self.within_window(TrainingExample::full_text(
                &self.tokenizer,
                text,
                Some(max_len),
            ))?;
            items.push(Item {
                index,
                ids: example.input_ids,
                labels: example.labels,
                prompt: None,
            });
        }
        let mut stats: Vec<TokenStats> = vec![TokenStats::default(); texts.len()];
        let mut done = BulkProgress::default();
        for batch in length_sorted_batches(items) {
            for (index, s) in self.score_batch(batch, &mut done)?.stats {
                stats[index] = s;
            }
            progress(done);
        }
        Ok(stats)
    }

    /// `batch` right-padded into one `[rows, longest]` input: the ids, every token's position
    /// and which tokens are real.
    fn padded(&self, batch: &[Item]) -> (Tensor<2, Int>, Vec<usize>, Vec<bool>) {
        let b = batch.len();
        let t = batch.iter().map(|i| i.ids.len()).max().unwrap_or(0);
        let pad = i64::from(self.model.config.pad_token_id.unwrap_or(0));
        let mut ids = Vec::with_capacity(b * t);
        let mut real = Vec::with_capacity(b * t);
        for item in batch {
            ids.extend(item.ids.iter().map(|&i| i64::from(i)));
            ids.extend(std::iter::repeat_n(pad, t - item.ids.len()));
            real.extend((0..t).map(|j| j < item.ids.len()));
        }
        let positions = crate::decoder::from_start(b, t);
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), &self.device);
        (input, positions, real)
    }

    /// One right-padded teacher-forced pass over `batch`, keeping the keys and values.
    fn score_batch(
        &self,
        batch: Vec<Item>,
        done: &mut BulkProgress,
    ) -> Result<Scored, EngineError> {
        let started = std::time::Instant::now();
        let (input, positions, real) = self.padded(&batch);
        let [b, t] = input.dims();
        let keep = batch.iter().any(|i| i.prompt.is_some());
        let mut cache = KvCache::default();
        let (hidden, _) = self.model.final_hidden(
            input,
            &positions,
            Some(&real),
            keep.then_some(&mut cache),
            false,
        );
        let (wanted, aligned) = wanted_positions(&batch)?;
        done.tokens_scored += batch.iter().map(|i| i.ids.len()).sum::<usize>();
        let h = self.model.config.hidden_size;
        let flat = hidden.reshape([b * t, h]);
        let mut row_stats_of: Vec<TokenStats> = vec![TokenStats::default(); b];
        let mut first: Vec<Option<u32>> = vec![None; b];
        for chunk in wanted.chunks(HEAD_ROWS) {
            let index: Vec<i64> = chunk.iter().map(|&(r, p, _)| (r * t + p) as i64).collect();
            let n = index.len();
            let index = Tensor::<1, Int>::from_data(TensorData::new(index, [n]), &self.device);
            let logits = self
                .model
                .logits(flat.clone().select(0, index).reshape([1, n, h]));
            let v = logits.dims()[2];
            let host = self.host(logits)?;
            let labels: Vec<i64> = chunk.iter().map(|&(_, _, l)| l).collect();
            for (k, (s, &(r, p, _))) in row_stats(&host, &labels, v).iter().zip(chunk).enumerate() {
                let st = &mut row_stats_of[r];
                st.log_probs.push(s.label_log_prob);
                st.argmax_matches.push(s.argmax_matches);
                st.expected_log_prob.push(s.expected_log_prob);
                st.log_prob_variance.push(s.log_prob_variance);
                if aligned[r] && batch[r].prompt.as_ref().is_some_and(|pr| pr.len() == p + 1) {
                    first[r] = Some(argmax(&host[k * v..(k + 1) * v]));
                }
            }
        }
        let cache = Rc::new(cache);
        let mut scored = Scored {
            stats: Vec::with_capacity(b),
            ready: Vec::new(),
            unaligned: Vec::new(),
        };
        for (r, (item, st)) in batch.into_iter().zip(row_stats_of).enumerate() {
            scored.stats.push((item.index, st));
            match (item.prompt, first[r]) {
                (Some(prompt), Some(token)) => scored.ready.push(Ready {
                    index: item.index,
                    cache: Rc::clone(&cache),
                    row: r,
                    len: prompt.len(),
                    first: token,
                }),
                (Some(prompt), None) => scored.unaligned.push((item.index, prompt)),
                (None, _) => {}
            }
        }
        done.scored += scored.stats.len();
        done.scoring_seconds += started.elapsed().as_secs_f64();
        Ok(scored)
    }

    /// A prompt's own forward pass, for a row whose prompt is not a prefix of prompt+answer.
    fn prefill(&self, index: usize, prompt: &[u32]) -> Result<Ready, EngineError> {
        if prompt.is_empty() {
            return Err(EngineError::Empty(format!(
                "row {index}: the prompt encodes to no token"
            )));
        }
        let t = prompt.len();
        let ids: Vec<i64> = prompt.iter().map(|&i| i64::from(i)).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), &self.device);
        let positions: Vec<usize> = (0..t).collect();
        let mut cache = KvCache::default();
        let (hidden, _) = self
            .model
            .final_hidden(input, &positions, None, Some(&mut cache), false);
        let h = self.model.config.hidden_size;
        let last = self.model.logits(hidden.slice([0..1, t - 1..t, 0..h]));
        let host = self.host(last)?;
        Ok(Ready {
            index,
            cache: Rc::new(cache),
            row: 0,
            len: t,
            first: argmax(&host),
        })
    }

    /// One token for every live slot; dead slots decode padding with every key masked.
    fn decode_step(&self, slots: &mut Slots) -> Result<(), EngineError> {
        let Slots {
            slots,
            masks,
            cache,
        } = slots;
        let b = slots.len();
        let pad = self.model.config.pad_token_id.unwrap_or(0);
        let mut ids = Vec::with_capacity(b);
        let mut positions = Vec::with_capacity(b);
        for (slot, mask) in slots.iter().zip(masks.iter_mut()) {
            ids.push(i64::from(slot.as_ref().map_or(pad, |s| s.next)));
            positions.push(slot.as_ref().map_or(0, |s| s.position));
            mask.push(slot.is_some());
        }
        let key_real: Vec<bool> = masks.iter().flatten().copied().collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, 1]), &self.device);
        let (hidden, _) =
            self.model
                .final_hidden(input, &positions, Some(&key_real), Some(cache), false);
        let host = self.host(self.model.logits(hidden))?;
        let v = host.len() / b;
        for (r, slot) in slots.iter_mut().enumerate() {
            if let Some(s) = slot {
                let token = argmax(&host[r * v..(r + 1) * v]);
                s.out.push(token);
                s.next = token;
                s.position += 1;
            }
        }
        Ok(())
    }

    fn host<const D: usize>(&self, t: Tensor<D>) -> Result<Vec<f32>, EngineError> {
        t.into_data()
            .try_to_vec_as::<f32>()
            .map_err(|e| EngineError::Device(format!("reading logits: {e:?}")))
    }
}

/// A position whose next-token distribution is needed: `(row, position, label)`.
type Wanted = (usize, usize, i64);

/// The positions whose next-token distribution is needed, as `(row, position, label)`: every
/// counted label's, and the prompt's last (the first generated token). Also whether each
/// row's prompt tokens are a prefix of its prompt+answer tokens.
fn wanted_positions(batch: &[Item]) -> Result<(Vec<Wanted>, Vec<bool>), EngineError> {
    let mut wanted = Vec::new();
    let mut aligned = vec![false; batch.len()];
    for (r, item) in batch.iter().enumerate() {
        let counted: Vec<usize> = (1..item.ids.len())
            .filter(|&i| item.labels[i] != IGNORE_INDEX)
            .collect();
        if counted.is_empty() {
            return Err(EngineError::Empty(format!(
                "row {}: no answer token after truncation",
                item.index
            )));
        }
        wanted.extend(counted.iter().map(|&i| (r, i - 1, item.labels[i])));
        if let Some(prompt) = &item.prompt {
            let p = prompt.len();
            aligned[r] = p > 0 && p < item.ids.len() && item.ids[..p] == prompt[..];
        }
    }
    Ok((wanted, aligned))
}

/// Rows sorted by length (longest first), cut into the batches that cost least (see
/// [`batch_bounds`]).
fn length_sorted_batches(mut items: Vec<Item>) -> Vec<Vec<Item>> {
    items.sort_by_key(|i| std::cmp::Reverse(i.ids.len()));
    let lens: Vec<usize> = items.iter().map(|i| i.ids.len()).collect();
    let mut items = items.into_iter();
    batch_bounds(&lens, BATCH_COST_TOKENS)
        .into_iter()
        .map(|range| items.by_ref().take(range.len()).collect())
        .collect()
}

/// The padded tokens one more batch costs as much as: every product of a batch packs its weight
/// again, and every operation has a fixed cost. Measured on SmolLM2-135M (64 real LUME rows and
/// 16 MIA documents): scoring took 17.6 s at 0 (a batch per row), 15.0-15.6 s at 32 and 64,
/// 16.0 s with as few batches as fit, and 18.6 s with the greedy cut.
const BATCH_COST_TOKENS: usize = 64;

/// Consecutive ranges of `lens` (sorted longest first) as batches of at most [`SCORING_TOKENS`]
/// padded tokens (rows × longest row; a longer row alone), chosen to minimise the padded tokens
/// plus `batch_cost` per batch. Cutting wherever the next row no longer fits (the greedy rule)
/// pads short rows to a long one's length: on 64 real LUME rows, 41 % of the scored tokens were
/// padding.
fn batch_bounds(lens: &[usize], batch_cost: usize) -> Vec<std::ops::Range<usize>> {
    let n = lens.len();
    // best[j]: the least cost of the first j rows; start[j]: where its last batch starts.
    let mut best = vec![0usize; n + 1];
    let mut start = vec![0usize; n + 1];
    for j in 1..=n {
        best[j] = usize::MAX;
        // The batch i..j pads to lens[i]: its size grows as i moves back, so stop at the limit.
        for i in (0..j).rev() {
            let padded = (j - i) * lens[i];
            if padded > SCORING_TOKENS && j - i > 1 {
                break;
            }
            let cost = best[i] + padded + batch_cost;
            if cost < best[j] {
                best[j] = cost;
                start[j] = i;
            }
        }
    }
    let mut bounds = Vec::new();
    let mut j = n;
    while j > 0 {
        bounds.push(start[j]..j);
        j = start[j];
    }
    bounds.reverse();
    bounds
}

/// Drops cache positions that no live row reads once they are most of the cache.
fn compact(slots: &mut Slots) {
    let Slots {
        slots,
        masks,
        cache,
    } = slots;
    let len = cache.len();
    let first_real = slots
        .iter()
        .zip(masks.iter())
        .filter(|(s, _)| s.is_some())
        .filter_map(|(_, m)| m.iter().position(|&r| r))
        .min()
        .unwrap_or(len);
    if first_real >= 64 && 2 * first_real >= len {
        cache.drop_front(first_real);
        for m in masks.iter_mut() {
            m.drain(..first_real.min(m.len()));
        }
    }
}

/// The first index of the largest value, as `torch.argmax`.
fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests;

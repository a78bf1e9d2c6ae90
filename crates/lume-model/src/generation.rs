//! Batched generation with left padding and a KV cache: greedy, or sampled with temperature
//! and top-p from a seed.

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::decoder::{KvCache, Model};
use crate::device::DeviceError;

/// Sampling instead of greedy decoding.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// Logits are divided by this (> 0).
    pub temperature: f64,
    /// Nucleus: keep the smallest set of tokens whose probability reaches this.
    pub top_p: f64,
    /// Seed of the draws.
    pub seed: u64,
}

/// How to generate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenerationConfig {
    /// Upper bound on new tokens per prompt (the protocol uses 256).
    pub max_new_tokens: usize,
    /// A row stops at any of these.
    pub eos_token_ids: Vec<u32>,
    /// Fills left padding.
    pub pad_token_id: u32,
    /// `None`: greedy.
    pub sampling: Option<Sampling>,
}

impl GenerationConfig {
    /// Greedy decoding with the checkpoint's EOS and padding ids.
    pub fn greedy(config: &ModelConfig, max_new_tokens: usize) -> Self {
        GenerationConfig {
            max_new_tokens,
            eos_token_ids: config.eos_token_ids.clone(),
            pad_token_id: config
                .pad_token_id
                .or_else(|| config.eos_token_ids.first().copied())
                .unwrap_or(0),
            sampling: None,
        }
    }
}

fn sample(logits: &[f32], s: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    let t = s.temperature.max(1e-6);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i, ((f64::from(l) - max) / t).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept = Vec::new();
    let mut mass = 0.0;
    for (i, p) in probs {
        kept.push((i, p / total));
        mass += p / total;
        if mass >= s.top_p {
            break;
        }
    }
    let mut draw = rng.random::<f64>() * mass;
    for &(i, p) in &kept {
        if draw < p {
            return i as u32;
        }
        draw -= p;
    }
    kept.last().map_or(0, |k| k.0 as u32)
}

/// Prompts left-padded to the longest, as transformers' `generate` lays them out.
struct LeftPadded {
    ids: Vec<i64>,
    real: Vec<bool>,
    positions: Vec<usize>,
    /// Each row's position for its first new token.
    next_position: Vec<usize>,
}

fn left_padded(prompts: &[Vec<u32>], pad_token_id: u32) -> LeftPadded {
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let n = prompts.len() * longest;
    let mut padded = LeftPadded {
        ids: Vec::with_capacity(n),
        real: Vec::with_capacity(n),
        positions: Vec::with_capacity(n),
        next_position: Vec::with_capacity(prompts.len()),
    };
    for p in prompts {
        let pad = longest - p.len();
        padded
            .ids
            .extend(std::iter::repeat_n(i64::from(pad_token_id), pad));
        padded.ids.extend(p.iter().map(|&t| i64::from(t)));
        padded.real.extend(std::iter::repeat_n(false, pad));
        padded.real.extend(std::iter::repeat_n(true, p.len()));
        // transformers puts padding at position 1; it is masked anyway.
        padded.positions.extend(std::iter::repeat_n(1, pad));
        padded.positions.extend(0..p.len());
        padded.next_position.push(p.len());
    }
    padded
}

/// Each row's next token from its last logits `[rows, 1, vocab]`: the argmax, or a draw.
fn next_tokens(
    logits: Tensor<3>,
    sampling: Option<&Sampling>,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<u32>, DeviceError> {
    let [b, _, v] = logits.dims();
    let last = logits.reshape([b, v]);
    Ok(match sampling {
        None => last
            .argmax(1)
            .into_data()
            .try_to_vec_as::<i64>()
            .map_err(DeviceError::read("the next tokens"))?
            .into_iter()
            .map(|x| x as u32)
            .collect(),
        Some(s) => {
            let host: Vec<f32> = last
                .into_data()
                .try_to_vec_as::<f32>()
                .map_err(DeviceError::read("the last logits"))?;
            (0..b)
                .map(|r| sample(&host[r * v..(r + 1) * v], s, rng))
                .collect()
        }
    })
}

impl Model {
    /// Continues each prompt; returns only the new tokens, ending at (and including) the first
    /// EOS. Prompts are left-padded into one batch and positions counted from each row's first
    /// real token, as transformers' `generate` does.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        generation: &GenerationConfig,
    ) -> Result<Vec<Vec<u32>>, DeviceError> {
        let b = prompts.len();
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if b == 0 || longest == 0 || generation.max_new_tokens == 0 {
            return Ok(vec![Vec::new(); b]);
        }
        let device = &self.embed_tokens.weight.device();
        let LeftPadded {
            ids,
            mut real,
            mut positions,
            mut next_position,
        } = left_padded(prompts, generation.pad_token_id);
        let mut rng = ChaCha8Rng::seed_from_u64(generation.sampling.map_or(0, |s| s.seed));
        let mut cache = KvCache::default();
        let mut outputs = vec![Vec::new(); b];
        let mut finished = vec![false; b];
        let mut input = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, longest]), device);
        let mut width = longest;
        for _ in 0..generation.max_new_tokens {
            // Only the last position's logits are needed: the head runs on one row per prompt.
            let (hidden, _) =
                self.final_hidden(input, &positions, Some(&real), Some(&mut cache), false);
            let [_, t, h] = hidden.dims();
            let logits = self.logits(hidden.slice([0..b, t - 1..t, 0..h]));
            let next = next_tokens(logits, generation.sampling.as_ref(), &mut rng)?;
            let mut step = Vec::with_capacity(b);
            for (row, &token) in next.iter().enumerate() {
                let token = if finished[row] {
                    generation.pad_token_id
                } else {
                    token
                };
                if !finished[row] {
                    outputs[row].push(token);
                    finished[row] = generation.eos_token_ids.contains(&token);
                }
                step.push(i64::from(token));
            }
            if finished.iter().all(|&f| f) {
                break;
            }
            width += 1;
            let mut extended = Vec::with_capacity(b * width);
            for row in 0..b {
                extended.extend_from_slice(&real[row * (width - 1)..(row + 1) * (width - 1)]);
                extended.push(true);
            }
            real = extended;
            positions = next_position.clone();
            for p in &mut next_position {
                *p += 1;
            }
            input = Tensor::<2, Int>::from_data(TensorData::new(step, [b, 1]), device);
        }
        Ok(outputs)
    }
}

//! A checkpoint, its tokenizer and a device: the benchmark's inference on text.

use std::path::Path;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lume_data::{EncodeError, IGNORE_INDEX, TokenStats, TrainingExample};

use crate::decoder::{KvCache, Model};
use crate::evaluation::BulkProgress;
use crate::generation::GenerationConfig;
use crate::tokenizer::{TextTokenizer, TokenizerError};

/// Why the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Loading the checkpoint failed.
    #[error(transparent)]
    Load(#[from] crate::LoadError),
    /// Tokenization failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// A prompt or text has no token to score.
    #[error("nothing to score: {0}")]
    Empty(String),
    /// Reading a result back from the device failed.
    #[error("device: {0}")]
    Device(String),
    /// A sequence is longer than the checkpoint's sliding attention window.
    #[error(transparent)]
    Window(#[from] crate::WindowExceeded),
}

/// A loaded model ready for the benchmark's inference.
pub struct Engine {
    /// The network and its configuration.
    pub model: Model,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// Where tensors live.
    pub device: Device,
    /// Prompts generated together (the slots of continuous batching).
    pub batch_size: usize,
    /// What the bulk scoring and generation calls did so far (rows, tokens, seconds).
    pub totals: BulkProgress,
}

impl Engine {
    /// Loads a Hugging Face checkpoint folder (config, weights, tokenizer), or a `.gguf` file,
    /// onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Self, EngineError> {
        let (model, tokenizer) = if crate::is_gguf(dir) {
            let checkpoint = crate::GgufCheckpoint::read(dir)
                .map_err(|e| crate::LoadError::Gguf(Box::new(e)))?;
            checkpoint
                .into_model(dir, &device)
                .map_err(crate::LoadError::from)?
        } else {
            let model = Model::load(dir, &device)?;
            (model, TextTokenizer::from_dir(dir)?)
        };
        tokenizer.check_fits(model.config.vocab_size, dir)?;
        Ok(Engine {
            model,
            tokenizer,
            device,
            batch_size: 8,
            totals: BulkProgress::default(),
        })
    }

    fn logits(&self, ids: &[u32]) -> Tensor<3> {
        let t = ids.len();
        let data: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(data, [1, t]), &self.device);
        self.model.forward(input, None, false).logits
    }

    /// A tokenized example (cut at the context length by the tokenizing call) as the engine
    /// takes it: tokenizer errors in the engine's terms, and refused if the sliding attention
    /// window would cut it.
    pub(crate) fn within_window(
        &self,
        example: Result<TrainingExample, EncodeError>,
    ) -> Result<TrainingExample, EngineError> {
        let example = example.map_err(|e| EngineError::Tokenizer(TokenizerError::Codec(e.0)))?;
        self.model.config.check_window(example.len())?;
        Ok(example)
    }

    /// Teacher-forced statistics of a tokenized example's counted positions.
    pub fn example_stats(&self, example: &TrainingExample) -> Result<TokenStats, EngineError> {
        let t = example.len();
        self.model.config.check_window(t)?;
        let counted: Vec<usize> = (1..t)
            .filter(|&i| example.labels[i] != IGNORE_INDEX)
            .collect();
        if counted.is_empty() {
            return Err(EngineError::Empty(
                "no answer token after truncation".into(),
            ));
        }
        let logits = self.logits(&example.input_ids);
        let v = self.model.config.vocab_size;
        let log_probs = log_softmax(logits.slice([0..1, 0..t - 1, 0..v]), 2).reshape([t - 1, v]);
        let targets: Vec<i64> = (1..t).map(|i| example.labels[i].max(0)).collect();
        let index = Tensor::<2, Int>::from_data(TensorData::new(targets, [t - 1, 1]), &self.device);
        let label_lp = log_probs.clone().gather(1, index).reshape([t - 1]);
        let argmax = log_probs.clone().argmax(1).reshape([t - 1]);
        let probs = log_probs.clone().exp();
        let mean = (probs.clone() * log_probs.clone())
            .sum_dim(1)
            .reshape([t - 1]);
        let second = (probs * log_probs.square()).sum_dim(1).reshape([t - 1]);
        let device = |e| EngineError::Device(format!("reading token statistics: {e:?}"));
        let host = |x: Tensor<1>| x.into_data().try_to_vec_as::<f32>().map_err(device);
        let (lp, mu, m2) = (host(label_lp)?, host(mean)?, host(second)?);
        let am: Vec<i64> = argmax.into_data().try_to_vec_as::<i64>().map_err(device)?;
        let mut stats = TokenStats::default();
        for &i in &counted {
            let p = i - 1;
            stats.log_probs.push(f64::from(lp[p]));
            stats.argmax_matches.push(am[p] == example.labels[i]);
            let mu = f64::from(mu[p]);
            stats.expected_log_prob.push(mu);
            stats
                .log_prob_variance
                .push((f64::from(m2[p]) - mu * mu).max(0.0));
        }
        Ok(stats)
    }
}

/// The benchmark's inference on text (what `lume_bench` presents as the protocol's
/// `LanguageModel`).
impl Engine {
    /// Tokens of `text`.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EngineError> {
        Ok(self.tokenizer.encode_ids(text)?.len())
    }

    /// Longest sequence the checkpoint takes.
    pub fn context_length(&self) -> usize {
        self.model.config.max_position_embeddings
    }

    /// Greedy continuations of `prompts`, `batch_size` at a time.
    pub fn generate(
        &mut self,
        prompts: &[&str],
        max_new_tokens: usize,
    ) -> Result<Vec<String>, EngineError> {
        let generation = GenerationConfig::greedy(&self.model.config, max_new_tokens);
        let mut out = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(self.batch_size.max(1)) {
            let ids = chunk
                .iter()
                .map(|p| self.tokenizer.encode_ids(p))
                .collect::<Result<Vec<_>, _>>()?;
            for prompt in &ids {
                self.model
                    .config
                    .check_window(prompt.len() + max_new_tokens)?;
            }
            let generated = self
                .model
                .generate(&ids, &generation)
                .map_err(|e| EngineError::Device(e.to_string()))?;
            for tokens in generated {
                out.push(self.tokenizer.decode(&tokens)?);
            }
        }
        Ok(out)
    }

    /// Teacher-forced statistics of `answer`'s tokens after `prompt`.
    pub fn token_stats(&mut self, prompt: &str, answer: &str) -> Result<TokenStats, EngineError> {
        let example = self.within_window(TrainingExample::prompt_answer(
            &self.tokenizer,
            prompt,
            answer,
            Some(self.model.config.max_position_embeddings),
        ))?;
        self.example_stats(&example)
    }

    /// For each `(prompt, answer)` row: the greedy continuation of the prompt and the
    /// answer's token statistics, in batches (see [`Engine::score_and_generate`]).
    /// `progress(done)` counts rows.
    pub fn generate_and_score(
        &mut self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenStats)>, EngineError> {
        self.generate_and_score_until(rows, max_new_tokens, None, progress)
    }

    /// [`generate_and_score`](Self::generate_and_score), where row `i`'s generation also ends
    /// once `decided(i, text so far)` holds: its score can no longer change.
    pub fn generate_and_score_until(
        &mut self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        decided: Option<crate::evaluation::Decided<'_>>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenStats)>, EngineError> {
        let mut last = BulkProgress::default();
        let (stats, generated) =
            self.score_and_generate_until(rows, max_new_tokens, decided, |p| {
                progress(if max_new_tokens == 0 {
                    p.scored
                } else {
                    p.generated
                });
                last = p;
            })?;
        self.totals += last;
        let mut out = Vec::with_capacity(rows.len());
        for (tokens, stats) in generated.into_iter().zip(stats) {
            out.push((self.tokenizer.decode(&tokens)?, stats));
        }
        Ok(out)
    }

    /// Token statistics of whole texts (every token after the first), in batches.
    pub fn text_stats(
        &mut self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<TokenStats>, EngineError> {
        let mut last = BulkProgress::default();
        let stats = self.score_texts(texts, |p| {
            progress(p.scored);
            last = p;
        })?;
        self.totals += last;
        Ok(stats)
    }

    /// The next-token logit after `prompt` of each continuation's last token.
    pub fn continuation_logits(
        &mut self,
        prompt: &str,
        continuations: &[&str],
    ) -> Result<Vec<f64>, EngineError> {
        let ids = self.tokenizer.encode_ids(prompt)?;
        if ids.is_empty() {
            return Err(EngineError::Empty(format!(
                "prompt {prompt:?} encodes to no token"
            )));
        }
        let logits = self.logits(&ids);
        let [_, t, v] = logits.dims();
        let last: Vec<f32> = logits
            .slice([0..1, t - 1..t, 0..v])
            .into_data()
            .try_to_vec_as::<f32>()
            .map_err(|e| EngineError::Device(format!("reading logits: {e:?}")))?;
        continuations
            .iter()
            .map(|c| {
                let ids = self.tokenizer.encode_ids(c)?;
                let id = *ids.last().ok_or_else(|| {
                    EngineError::Empty(format!("continuation {c:?} encodes to no token"))
                })?;
                Ok(f64::from(
                    last.get(id as usize).copied().unwrap_or(f32::NEG_INFINITY),
                ))
            })
            .collect()
    }

    /// [`continuation_logits`](Self::continuation_logits) of many prompts that begin alike
    /// (MMLU's header and shots): the token prefix they all share runs once, and each prompt
    /// then runs only its own tokens, eight prompts at a time, on a copy of that
    /// prefix's keys and values. The logits are the one-prompt call's up to the rounding of
    /// differently blocked products.
    pub fn continuation_logits_shared(
        &mut self,
        prompts: &[String],
        continuations: &[&str],
    ) -> Result<Vec<Vec<f64>>, EngineError> {
        let ids = prompts
            .iter()
            .map(|p| {
                let ids = self.tokenizer.encode_ids(p)?;
                if ids.is_empty() {
                    return Err(EngineError::Empty(format!(
                        "prompt {p:?} encodes to no token"
                    )));
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let wanted = continuations
            .iter()
            .map(|c| {
                self.tokenizer
                    .encode_ids(c)?
                    .last()
                    .copied()
                    .ok_or_else(|| {
                        EngineError::Empty(format!("continuation {c:?} encodes to no token"))
                    })
            })
            .collect::<Result<Vec<u32>, EngineError>>()?;
        // Each prompt keeps at least its last token to run: its logits are the ones read.
        let shared = ids.iter().skip(1).fold(
            ids.first().map_or(0, |first| first.len() - 1),
            |n, other| {
                let same = ids[0].iter().zip(other).take_while(|(a, b)| a == b).count();
                n.min(same).min(other.len() - 1)
            },
        );
        if shared < MIN_SHARED_TOKENS {
            return prompts
                .iter()
                .map(|p| self.continuation_logits(p, continuations))
                .collect();
        }
        let prefix = &ids[0][..shared];
        let input = Tensor::<2, Int>::from_data(
            TensorData::new(prefix.iter().map(|&i| i64::from(i)).collect(), [1, shared]),
            &self.device,
        );
        let positions: Vec<usize> = (0..shared).collect();
        let mut prefix_cache = KvCache::default();
        let _ = self
            .model
            .final_hidden(input, &positions, None, Some(&mut prefix_cache), false);
        let pad = i64::from(self.model.config.pad_token_id.unwrap_or(0));
        let h = self.model.config.hidden_size;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(SHARED_BATCH) {
            let rows = batch.len();
            let t = batch.iter().map(|p| p.len() - shared).max().unwrap_or(1);
            let mut tokens = Vec::with_capacity(rows * t);
            let mut positions = Vec::with_capacity(rows * t);
            for prompt in batch {
                // Right-padded: causal attention keeps every real query off the padding after it.
                let own = &prompt[shared..];
                tokens.extend(own.iter().map(|&i| i64::from(i)));
                tokens.extend(std::iter::repeat_n(pad, t - own.len()));
                positions.extend(shared..shared + t);
            }
            let mut cache = KvCache::with_rows(rows);
            cache.pad_to(shared);
            for row in 0..rows {
                cache.write_row(row, &prefix_cache, 0, shared);
            }
            let input =
                Tensor::<2, Int>::from_data(TensorData::new(tokens, [rows, t]), &self.device);
            let (hidden, _) =
                self.model
                    .final_hidden(input, &positions, None, Some(&mut cache), false);
            let last: Vec<Tensor<3>> = batch
                .iter()
                .enumerate()
                .map(|(r, prompt)| {
                    let at = prompt.len() - shared - 1;
                    hidden.clone().slice([r..r + 1, at..at + 1, 0..h])
                })
                .collect();
            let logits = self.model.logits(Tensor::cat(last, 0));
            let v = logits.dims()[2];
            let host: Vec<f32> = logits
                .into_data()
                .try_to_vec_as::<f32>()
                .map_err(|e| EngineError::Device(format!("reading logits: {e:?}")))?;
            for row in host.chunks(v) {
                out.push(
                    wanted
                        .iter()
                        .map(|&id| {
                            f64::from(row.get(id as usize).copied().unwrap_or(f32::NEG_INFINITY))
                        })
                        .collect(),
                );
            }
        }
        Ok(out)
    }
}

/// Prompts [`Engine::continuation_logits_shared`] runs together after their shared prefix.
const SHARED_BATCH: usize = 8;

/// A shared prefix shorter than this is not worth a cache: the prompts run one by one.
const MIN_SHARED_TOKENS: usize = 16;

//! The small trait through which the protocol talks to any engine.

use lume_data::TokenStats;

/// What the benchmark needs from a causal language model. `lume-model` implements it for
/// Burn models; anything else (a Python server, a mock in a test) can too.
pub trait LanguageModel {
    /// The engine's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// How many tokens `text` encodes to (with whatever special tokens the tokenizer adds).
    fn count_tokens(&self, text: &str) -> Result<usize, Self::Error>;

    /// The longest sequence the model takes.
    fn context_length(&self) -> usize;

    /// Greedy continuations of each prompt, decoded as protocol §2 says.
    fn generate(
        &mut self,
        prompts: &[&str],
        max_new_tokens: usize,
    ) -> Result<Vec<String>, Self::Error>;

    /// Teacher-forced statistics of the tokens of `answer` after `prompt`.
    fn token_stats(&mut self, prompt: &str, answer: &str) -> Result<TokenStats, Self::Error>;

    /// For each `(prompt, answer)` row: the greedy continuation of the prompt (empty when
    /// `max_new_tokens` is 0) and the teacher-forced statistics of the answer after it, in the
    /// rows' order. `progress(rows_done)` is called as rows finish. The default calls
    /// [`generate`](Self::generate) and [`token_stats`](Self::token_stats); engines that can
    /// batch, or reuse one pass for both, override it.
    fn generate_and_score(
        &mut self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenStats)>, Self::Error> {
        let prompts: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let generations = if max_new_tokens == 0 {
            vec![String::new(); rows.len()]
        } else {
            self.generate(&prompts, max_new_tokens)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for ((prompt, answer), generation) in rows.iter().zip(generations) {
            out.push((generation, self.token_stats(prompt, answer)?));
            progress(out.len());
        }
        Ok(out)
    }

    /// [`generate_and_score`](Self::generate_and_score), where row `i`'s generation may end
    /// as soon as `decided(i, text so far)` says its score can no longer change (the knowledge
    /// score's [`exact_match_decided`](crate::exact_match_decided)); the text returned is then
    /// the part generated. By default generation runs to its end: the rule only saves time.
    fn generate_and_score_until(
        &mut self,
        rows: &[(&str, &str)],
        max_new_tokens: usize,
        decided: &dyn Fn(usize, &str) -> bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(String, TokenStats)>, Self::Error> {
        let _ = decided;
        self.generate_and_score(rows, max_new_tokens, progress)
    }

    /// Statistics of every token of each text after its first (membership-inference losses).
    /// The default calls [`token_stats`](Self::token_stats) with an empty prompt.
    fn text_stats(
        &mut self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<TokenStats>, Self::Error> {
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            out.push(self.token_stats("", text)?);
            progress(out.len());
        }
        Ok(out)
    }

    /// Next-token logits after `prompt`, read at the last token id of each continuation
    /// (MMLU reads `" A"`, `" B"`, `" C"`, `" D"`).
    fn continuation_logits(
        &mut self,
        prompt: &str,
        continuations: &[&str],
    ) -> Result<Vec<f64>, Self::Error>;

    /// [`continuation_logits`](Self::continuation_logits) of each prompt, prompts that
    /// share a long beginning (MMLU's header and shots): a model may compute that beginning
    /// once. By default, one prompt at a time.
    fn continuation_logits_shared(
        &mut self,
        prompts: &[String],
        continuations: &[&str],
    ) -> Result<Vec<Vec<f64>>, Self::Error> {
        prompts
            .iter()
            .map(|p| self.continuation_logits(p, continuations))
            .collect()
    }
}

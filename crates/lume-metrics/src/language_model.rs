//! The small trait through which the protocol talks to any engine.

use crate::token_stats::TokenStats;

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

    /// Next-token logits after `prompt`, read at the last token id of each continuation
    /// (MMLU reads `" A"`, `" B"`, `" C"`, `" D"`).
    fn continuation_logits(
        &mut self,
        prompt: &str,
        continuations: &[&str],
    ) -> Result<Vec<f64>, Self::Error>;
}

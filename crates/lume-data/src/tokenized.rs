//! Tokenized training examples with answer-only loss masks (protocol §2).

use crate::record::Record;

/// The label of a position that does not count in the loss, as in Hugging Face.
pub const IGNORE_INDEX: i64 = -100;

/// A tokenizer failure, with the tokenizer's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tokenization failed: {0}")]
pub struct EncodeError(pub String);

/// Anything that turns text into token ids. `lume-model` implements it for Hugging Face
/// tokenizers; [`ByteEncoder`] is a dependency-free one for tests and toys.
pub trait TextEncoder {
    /// The ids of `text`, with whatever special tokens the tokenizer itself adds.
    fn encode(&self, text: &str) -> Result<Vec<u32>, EncodeError>;
}

impl<T: TextEncoder + ?Sized> TextEncoder for &T {
    fn encode(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        (**self).encode(text)
    }
}

/// One id per UTF-8 byte, shifted by `offset` to leave room for special tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteEncoder {
    /// Added to every byte value.
    pub offset: u32,
}

impl TextEncoder for ByteEncoder {
    fn encode(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        Ok(text.bytes().map(|b| u32::from(b) + self.offset).collect())
    }
}

/// Token ids and labels of one example. Labels are *not* shifted: position `i`'s label is
/// `input_ids[i]` or [`IGNORE_INDEX`]; the model shifts, as Hugging Face's `…ForCausalLM` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingExample {
    /// Token ids of `prompt + answer`.
    pub input_ids: Vec<u32>,
    /// `IGNORE_INDEX` on prompt positions, the id elsewhere.
    pub labels: Vec<i64>,
}

impl TrainingExample {
    /// Tokenizes `prompt + answer` and masks the first `len(tokenize(prompt))` positions,
    /// exactly as protocol §2; keeps at most `max_len` tokens (cut on the right).
    ///
    /// ```
    /// use lume_data::{ByteEncoder, IGNORE_INDEX, TrainingExample};
    /// let ex = TrainingExample::prompt_answer(&ByteEncoder::default(), "Q:", "A", None).unwrap();
    /// assert_eq!(ex.input_ids, vec![81, 58, 65]);
    /// assert_eq!(ex.labels, vec![IGNORE_INDEX, IGNORE_INDEX, 65]);
    /// ```
    pub fn prompt_answer(
        encoder: &impl TextEncoder,
        prompt: &str,
        answer: &str,
        max_len: Option<usize>,
    ) -> Result<Self, EncodeError> {
        let prompt_len = encoder.encode(prompt)?.len();
        let mut input_ids = encoder.encode(&format!("{prompt}{answer}"))?;
        if let Some(max) = max_len {
            input_ids.truncate(max);
        }
        let labels = input_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                if i < prompt_len {
                    IGNORE_INDEX
                } else {
                    i64::from(id)
                }
            })
            .collect();
        Ok(TrainingExample { input_ids, labels })
    }

    /// The example of a benchmark record: its input as prompt, its output as answer.
    pub fn from_record(
        encoder: &impl TextEncoder,
        record: &Record,
        max_len: Option<usize>,
    ) -> Result<Self, EncodeError> {
        Self::prompt_answer(encoder, &record.input, &record.output, max_len)
    }

    /// A whole text where every token counts (membership-inference losses, pre-training).
    pub fn full_text(
        encoder: &impl TextEncoder,
        text: &str,
        max_len: Option<usize>,
    ) -> Result<Self, EncodeError> {
        let mut input_ids = encoder.encode(text)?;
        if let Some(max) = max_len {
            input_ids.truncate(max);
        }
        let labels = input_ids.iter().map(|&id| i64::from(id)).collect();
        Ok(TrainingExample { input_ids, labels })
    }

    /// Appends `eos` as a counted answer token, so that a model fine-tuned on the example
    /// learns to stop after the answer (exact-match scoring needs that).
    ///
    /// ```
    /// use lume_data::{ByteEncoder, TrainingExample};
    /// let ex = TrainingExample::prompt_answer(&ByteEncoder::default(), "Q:", "A", None).unwrap();
    /// assert_eq!(ex.with_eos(0).labels.last(), Some(&0));
    /// ```
    pub fn with_eos(mut self, eos: u32) -> Self {
        self.input_ids.push(eos);
        self.labels.push(i64::from(eos));
        self
    }

    /// Number of positions whose label counts.
    pub fn answer_tokens(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }

    /// Length in tokens.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the example holds no token.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// Which side padding goes on: right for training, left for batched generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingSide {
    /// Pad after the tokens.
    #[default]
    Right,
    /// Pad before the tokens.
    Left,
}

/// Examples padded to one length, row-major `[batch_size, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Rows.
    pub batch_size: usize,
    /// Columns: the longest example's length.
    pub seq_len: usize,
    /// Token ids; padding holds `pad_id`.
    pub input_ids: Vec<u32>,
    /// Labels; padding holds [`IGNORE_INDEX`].
    pub labels: Vec<i64>,
    /// `true` on real tokens, `false` on padding.
    pub attention_mask: Vec<bool>,
}

impl Batch {
    /// Pads examples to the longest one.
    ///
    /// ```
    /// use lume_data::{Batch, ByteEncoder, PaddingSide, TrainingExample, IGNORE_INDEX};
    /// let enc = ByteEncoder::default();
    /// let a = TrainingExample::prompt_answer(&enc, "ab", "c", None).unwrap();
    /// let b = TrainingExample::prompt_answer(&enc, "a", "b", None).unwrap();
    /// let batch = Batch::collate(&[&a, &b], 0, PaddingSide::Left);
    /// assert_eq!(batch.input_ids, vec![97, 98, 99, 0, 97, 98]);
    /// assert_eq!(batch.labels[3..], [IGNORE_INDEX, IGNORE_INDEX, 98]);
    /// ```
    pub fn collate(examples: &[&TrainingExample], pad_id: u32, side: PaddingSide) -> Self {
        let seq_len = examples.iter().map(|e| e.len()).max().unwrap_or(0);
        let n = examples.len() * seq_len;
        let mut batch = Batch {
            batch_size: examples.len(),
            seq_len,
            input_ids: Vec::with_capacity(n),
            labels: Vec::with_capacity(n),
            attention_mask: Vec::with_capacity(n),
        };
        for ex in examples {
            let pad = seq_len - ex.len();
            let push_pad = |b: &mut Batch| {
                b.input_ids.extend(std::iter::repeat_n(pad_id, pad));
                b.labels.extend(std::iter::repeat_n(IGNORE_INDEX, pad));
                b.attention_mask.extend(std::iter::repeat_n(false, pad));
            };
            if side == PaddingSide::Left {
                push_pad(&mut batch);
            }
            batch.input_ids.extend_from_slice(&ex.input_ids);
            batch.labels.extend_from_slice(&ex.labels);
            batch
                .attention_mask
                .extend(std::iter::repeat_n(true, ex.len()));
            if side == PaddingSide::Right {
                push_pad(&mut batch);
            }
        }
        batch
    }
}

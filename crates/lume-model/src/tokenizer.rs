//! `tokenizer.json` through the `tokenizers` crate, with the decoding rules of protocol §2.

use std::path::{Path, PathBuf};

use lume_data::{EncodeError, TextEncoder};

/// Why a tokenizer cannot be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// `tokenizer.json` could not be read or parsed.
    #[error("{}: {message}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Encoding or decoding failed.
    #[error("tokenizer: {0}")]
    Codec(String),
}

/// A Hugging Face tokenizer and the one `tokenizer_config.json` flag decoding depends on.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    clean_up_tokenization_spaces: bool,
}

/// transformers' legacy `clean_up_tokenization`, applied after decoding when the checkpoint's
/// `tokenizer_config.json` sets `clean_up_tokenization_spaces: true`.
pub fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

impl TextTokenizer {
    /// Loads `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let path = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| TokenizerError::Load {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let config_path = dir.join("tokenizer_config.json");
        let clean_up_tokenization_spaces = match std::fs::read_to_string(&config_path) {
            Ok(text) => {
                let json: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| TokenizerError::Load {
                        path: config_path.clone(),
                        message: e.to_string(),
                    })?;
                json["clean_up_tokenization_spaces"]
                    .as_bool()
                    .unwrap_or(false)
            }
            Err(_) => false,
        };
        Ok(TextTokenizer {
            inner,
            clean_up_tokenization_spaces,
        })
    }

    /// Ids of `text`, with the special tokens the tokenizer's post-processor adds (as
    /// `tokenizer(text)` in transformers).
    pub fn encode_ids(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        self.inner
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TokenizerError::Codec(e.to_string()))
    }

    /// Text of `ids` with special tokens skipped, cleaned up when the checkpoint asks for it.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let text = self
            .inner
            .decode(ids, true)
            .map_err(|e| TokenizerError::Codec(e.to_string()))?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Writes `tokenizer.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), TokenizerError> {
        let path = dir.join("tokenizer.json");
        self.inner
            .save(&path, false)
            .map_err(|e| TokenizerError::Load {
                path,
                message: e.to_string(),
            })
    }
}

impl TextEncoder for TextTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        self.encode_ids(text)
            .map_err(|e| EncodeError(e.to_string()))
    }
}

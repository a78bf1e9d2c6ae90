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

/// A Hugging Face tokenizer, and its `tokenizer_config.json` flag `clean_up_tokenization_spaces`
/// (kept so that a saved checkpoint says what it said; decoding does not read it).
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    clean_up_tokenization_spaces: bool,
}

/// transformers' legacy `clean_up_tokenization`, which the SemEval reference evaluator applies
/// to every generation (`batch_decode(..., clean_up_tokenization_spaces=True)`) whatever the
/// checkpoint's `tokenizer_config.json` says (protocol §2).
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
        let load = |message: String| TokenizerError::Load {
            path: path.clone(),
            message,
        };
        let text = lume_data::read_regular_string(&path).map_err(|e| load(e.to_string()))?;
        let inner = text
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| load(e.to_string()))?;
        let config_path = dir.join("tokenizer_config.json");
        let clean_up_tokenization_spaces = match lume_data::read_regular_string(&config_path) {
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

    /// Text of `ids` as the reference evaluator decodes a generation (protocol §2): special
    /// tokens skipped, then [`clean_up_tokenization`] always, so `" ,"` becomes `","` and
    /// `" n't"` becomes `"n't"` even when the checkpoint's config does not ask for it.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, true)
            .map(|text| clean_up_tokenization(&text))
            .map_err(|e| TokenizerError::Codec(e.to_string()))
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Refuses a tokenizer that can produce ids the model has no embedding for (an embedding
    /// lookup out of range would panic or read garbage); `path` names it in the error.
    pub fn check_fits(&self, vocab_size: usize, path: &Path) -> Result<(), TokenizerError> {
        let largest = self.inner.get_vocab(true).into_values().max();
        match largest {
            Some(id) if id as usize >= vocab_size => Err(TokenizerError::Load {
                path: path.to_path_buf(),
                message: format!(
                    "token id {id} is outside the model's vocabulary of {vocab_size} (config.json \
                     and tokenizer.json are of different models)"
                ),
            }),
            _ => Ok(()),
        }
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

/// End-of-text token of tokenizers trained here (GPT-NeoX/OLMo's name).
pub const EOS_TOKEN: &str = "<|endoftext|>";
/// Padding token of tokenizers trained here.
pub const PAD_TOKEN: &str = "<|padding|>";

impl TextTokenizer {
    /// Trains a byte-level BPE tokenizer (GPT-2 style: any byte encodes, spaces attach to the
    /// next word) on `texts`, with [`EOS_TOKEN`] as id 0 and [`PAD_TOKEN`] as id 1. The same
    /// texts in the same order give the same vocabulary.
    ///
    /// ```
    /// use lume_model::TextTokenizer;
    /// let texts = ["the cat sat on the mat", "the dog sat on the log"];
    /// let tok = TextTokenizer::train_byte_level_bpe(texts.iter().copied(), 300).unwrap();
    /// let ids = tok.encode_ids("the cat sat").unwrap();
    /// assert_eq!(tok.decode(&ids).unwrap(), "the cat sat");
    /// assert_eq!(tok.token_to_id("<|endoftext|>"), Some(0));
    /// ```
    pub fn train_byte_level_bpe<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
    ) -> Result<Self, TokenizerError> {
        use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
        use tokenizers::models::{ModelWrapper, TrainerWrapper};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::{
            AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper,
            PreTokenizerWrapper, TokenizerImpl,
        };
        let codec = |e: tokenizers::Error| TokenizerError::Codec(e.to_string());
        let specials = vec![
            AddedToken::from(EOS_TOKEN, true),
            AddedToken::from(PAD_TOKEN, true),
        ];
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials.clone())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        let byte_level = ByteLevel::new(false, true, true);
        let mut tokenizer: TokenizerImpl<
            ModelWrapper,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        > = TokenizerImpl::new(BPE::default().into());
        tokenizer
            .with_pre_tokenizer(Some(PreTokenizerWrapper::from(byte_level)))
            .with_decoder(Some(DecoderWrapper::from(byte_level)))
            .with_post_processor(Some(PostProcessorWrapper::from(byte_level)));
        tokenizer.train(&mut trainer, texts).map_err(codec)?;
        tokenizer.add_special_tokens(&specials);
        Ok(TextTokenizer {
            inner: tokenizer.into(),
            clean_up_tokenization_spaces: false,
        })
    }

    /// Writes `tokenizer.json` and a `tokenizer_config.json` that transformers'
    /// `AutoTokenizer` reads (a fast tokenizer with [`EOS_TOKEN`] and [`PAD_TOKEN`]).
    pub fn save_with_config(&self, dir: &Path, max_length: usize) -> Result<(), TokenizerError> {
        self.save(dir)?;
        let path = dir.join("tokenizer_config.json");
        let config = serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "eos_token": EOS_TOKEN,
            "pad_token": PAD_TOKEN,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "model_max_length": max_length,
        });
        crate::weights::write_json_atomically(&path, &config).map_err(|e| TokenizerError::Load {
            path,
            message: e.to_string(),
        })
    }
}

impl TextTokenizer {
    /// A byte-level BPE tokenizer as transformers builds one from a GGUF file's vocabulary
    /// (`tokens`, in id order, with llama.cpp's `types`) and `merges` (`"a b"` each): the GPT-2
    /// pre-tokenizer and decoder, tokens outside the byte alphabet respelled through it,
    /// control tokens (type 3) added as special tokens and user-defined ones (type 4) as plain
    /// added tokens.
    pub fn byte_level_bpe(
        tokens: &[&str],
        merges: &[&str],
        types: &[i64],
    ) -> Result<Self, TokenizerError> {
        use tokenizers::models::bpe::{BPE, Vocab};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper, Tokenizer};
        const CONTROL: i64 = 3;
        const USER_DEFINED: i64 = 4;
        let codec = |e: tokenizers::Error| TokenizerError::Codec(e.to_string());
        let alphabet = ByteLevel::alphabet();
        let spelled = |t: &str| t.chars().all(|c| alphabet.contains(&c));
        let respell = |t: &str| -> String {
            if spelled(t) {
                t.to_owned()
            } else {
                t.bytes().map(byte_char).collect()
            }
        };
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (respell(t), id as u32))
            .collect();
        let merges = merges
            .iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_owned(), b.to_owned())),
                None => Err(TokenizerError::Codec(format!(
                    "merge {m:?} is not two tokens separated by a space"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(codec)?;
        let mut inner = Tokenizer::new(bpe);
        let byte_level = ByteLevel::new(false, true, true);
        inner
            .with_pre_tokenizer(Some(PreTokenizerWrapper::from(byte_level)))
            .with_decoder(Some(DecoderWrapper::from(ByteLevel::default())));
        let of_type = |wanted: i64, special: bool| -> Vec<AddedToken> {
            tokens
                .iter()
                .zip(types)
                .filter(|&(t, &ty)| ty == wanted && spelled(t))
                .map(|(t, _)| AddedToken::from(t.to_string(), special).normalized(false))
                .collect()
        };
        inner.add_special_tokens(&of_type(CONTROL, true));
        inner.add_tokens(&of_type(USER_DEFINED, false));
        Ok(TextTokenizer {
            inner,
            clean_up_tokenization_spaces: false,
        })
    }
}

/// GPT-2's printable spelling of a byte (`bytes_to_unicode`).
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        char::from(b)
    } else {
        let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + rank).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

impl TextEncoder for TextTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        self.encode_ids(text)
            .map_err(|e| EncodeError(e.to_string()))
    }
}

//! Tokenization parity with transformers on a byte-level BPE (`fixtures/make_parity.py`).

use std::path::Path;

use lume_model::{TextTokenizer, clean_up_tokenization};

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn expected(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

#[test]
fn encode_and_decode_match_transformers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
    let tok = TextTokenizer::from_dir(&dir).unwrap();
    let expected = expected(&dir);
    let eos = tok.token_to_id("<|endoftext|>").unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        let ids = tok.encode_ids(text).unwrap();
        assert_eq!(ids, want, "{text:?}");
        let mut with_eos = ids.clone();
        with_eos.push(eos);
        assert_eq!(
            tok.decode(&with_eos).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{text:?}"
        );
    }
}

/// The reference evaluator cleans up every generation, whatever the checkpoint's config says
/// (protocol §2): this tokenizer's config does not set the flag, and its generations contain
/// `" ,"` and `" n't"` (`fixtures/make_parity.py unflagged`).
#[test]
fn generations_are_cleaned_up_even_when_the_config_does_not_ask() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_unflagged");
    let tok = TextTokenizer::from_dir(&dir).unwrap();
    let expected = expected(&dir);
    let mut changed = 0;
    for case in expected["cases"].as_array().unwrap() {
        let ids = ids(&case["ids"]);
        let (raw, want) = (
            case["raw"].as_str().unwrap(),
            case["decoded"].as_str().unwrap(),
        );
        assert_eq!(tok.decode(&ids).unwrap(), want, "{raw:?}");
        changed += usize::from(raw != want);
    }
    assert!(changed >= 3, "the fixture must exercise the clean-up");
}

#[test]
fn legacy_clean_up_joins_punctuation_and_contractions() {
    assert_eq!(
        clean_up_tokenization("a , b . c n't d 's e !"),
        "a, b. cn't d's e!"
    );
}

#[test]
fn a_missing_tokenizer_names_the_file() {
    let err = TextTokenizer::from_dir(Path::new("/nonexistent"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with("/nonexistent/tokenizer.json"), "{err}");
}

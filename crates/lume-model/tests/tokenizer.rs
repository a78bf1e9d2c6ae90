//! Tokenization parity with transformers on a byte-level BPE (`fixtures/make_parity.py`).

use std::path::Path;

use lume_model::{TextTokenizer, clean_up_tokenization};

#[test]
fn encode_and_decode_match_transformers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer");
    let tok = TextTokenizer::from_dir(&dir).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let eos = tok.token_to_id("<|endoftext|>").unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
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

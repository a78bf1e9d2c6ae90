use super::*;

fn parse(json: &str) -> Result<ModelConfig, ConfigError> {
    ModelConfig::from_json(json, Path::new("config.json"))
}

#[test]
fn reads_olmo_1b_as_the_protocol_describes_it() {
    let c = parse(
        r#"{"architectures":["OlmoForCausalLM"],"model_type":"olmo","vocab_size":50304,
        "hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,
        "num_attention_heads":16,"num_key_value_heads":16,"clip_qkv":8.0,"rope_theta":10000.0,
        "eos_token_id":50279,"pad_token_id":1,"tie_word_embeddings":true,"attention_bias":false}"#,
    )
    .unwrap();
    assert_eq!(c.family, Family::Olmo);
    assert_eq!(c.head_dim, 128);
    assert_eq!(c.clip_qkv, Some(8.0));
    assert_eq!(c.norm_eps, 1e-5);
    assert_eq!(c.eos_token_ids, vec![50279]);
    assert!(!c.qkv_bias);
}

#[test]
fn a_sliding_window_is_read_where_it_applies_and_written_back() {
    let base = r#""vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"sliding_window":4096"#;
    let mistral = parse(&format!(
        r#"{{"architectures":["MistralForCausalLM"],{base}}}"#
    ))
    .unwrap();
    assert_eq!(mistral.sliding_window, Some(4096));
    let err = mistral.check_window(4097).unwrap_err().to_string();
    assert!(
        err.contains("4097") && err.contains("sliding_window"),
        "{err}"
    );
    let again = parse(&mistral.to_hf_json().to_string()).unwrap();
    assert_eq!(again.sliding_window, Some(4096));
    let qwen = parse(&format!(
        r#"{{"architectures":["Qwen2ForCausalLM"],{base}}}"#
    ))
    .unwrap();
    assert_eq!(
        qwen.sliding_window, None,
        "Qwen2 uses it only with use_sliding_window"
    );
    let qwen = parse(&format!(
        r#"{{"architectures":["Qwen2ForCausalLM"],"use_sliding_window":true,{base}}}"#
    ))
    .unwrap();
    assert_eq!(qwen.sliding_window, Some(4096));
    let null = parse(r#"{"architectures":["MistralForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"sliding_window":null}"#).unwrap();
    assert_eq!(null.sliding_window, None);
}

#[test]
fn qwen2_has_qkv_biases_and_llama3_scaling_is_read() {
    let c = parse(r#"{"architectures":["Qwen2ForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1}"#).unwrap();
    assert!(c.qkv_bias && !c.o_bias);
    let c = parse(r#"{"architectures":["LlamaForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,
        "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192},"eos_token_id":[1,2]}"#).unwrap();
    assert_eq!(c.rope_scaling.unwrap().factor, 8.0);
    assert_eq!(c.eos_token_ids, vec![1, 2]);
}

#[test]
fn the_written_config_reads_back_the_same() {
    let original = parse(r#"{"architectures":["LlamaForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,
        "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192},"eos_token_id":[1,2],"rope_theta":500000.0}"#).unwrap();
    let again = parse(&original.to_hf_json().to_string()).unwrap();
    assert_eq!(again, original);
}

#[test]
fn unknown_architectures_list_what_is_supported() {
    let err = parse(r#"{"architectures":["GPT2LMHeadModel"],"vocab_size":10}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config.json: architecture \"GPT2LMHeadModel\" is not supported (supported: LlamaForCausalLM, OlmoForCausalLM, Qwen2ForCausalLM, MistralForCausalLM)"
    );
    let err = parse(r#"{"architectures":["LlamaForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":3,"num_key_value_heads":2}"#).unwrap_err();
    assert!(
        err.to_string().contains("field `num_key_value_heads`"),
        "{err}"
    );
    let err = parse("{\"architectures\": 5}").unwrap_err();
    assert!(err.to_string().starts_with("config.json: line 1:"), "{err}");
}

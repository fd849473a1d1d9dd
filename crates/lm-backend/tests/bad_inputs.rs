//! Every bad input is a clear error naming what is wrong (never a crash): missing files,
//! malformed config, unknown architecture, tokenizer larger than the embedding, empty batches,
//! and prompts longer than wanted (truncated on the configured side).

mod common;

use common::*;
use lm_backend::{
    generate, generate_text, load_causal_lm, GenerationConfig, GptNeoX, GptNeoXConfig, LmError,
    Side, Tokenizer,
};
use tch::{Device, Kind, Tensor};

#[test]
fn missing_directory_and_files_are_named() {
    match GptNeoX::from_pretrained("/nonexistent/model", Device::Cpu, Kind::Float) {
        Err(e @ LmError::Io { .. }) => assert!(e.to_string().contains("/nonexistent/model"), "{e}"),
        other => panic!("expected Io, got {other:?}"),
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("config.json"), "{}").expect("write");
    match GptNeoX::from_pretrained(dir.path(), Device::Cpu, Kind::Float) {
        Err(LmError::MissingWeights { .. }) => {}
        other => panic!("expected MissingWeights, got {other:?}"),
    }
}

#[test]
fn malformed_config_names_the_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture("gpt_neox_parallel").join(f), dir.path().join(f))?;
    }
    std::fs::write(
        dir.path().join("config.json"),
        "{\"model_type\": \"gpt_neox\", \"vocab_size\": }",
    )?;
    match GptNeoX::from_pretrained(dir.path(), Device::Cpu, Kind::Float) {
        Err(e @ LmError::Config { .. }) => assert!(e.to_string().contains("config.json"), "{e}"),
        other => panic!("expected Config, got {other:?}"),
    }
    std::fs::write(
        dir.path().join("config.json"),
        "{\"model_type\": \"mamba\"}",
    )?;
    match load_causal_lm(dir.path(), Device::Cpu, Kind::Float) {
        Err(LmError::UnsupportedModel(t)) => assert_eq!(t, "mamba"),
        other => panic!("expected UnsupportedModel, got {:?}", other.err()),
    }
    Ok(())
}

#[test]
fn tokenizer_larger_than_the_embedding_is_refused() -> anyhow::Result<()> {
    let model = GptNeoX::new_random(GptNeoXConfig::tiny(16), Device::Cpu, 0)?;
    let tok = Tokenizer::from_file(fixture("gpt_neox_parallel").join("tokenizer.json"))?;
    let err = generate_text(
        &model,
        &tok,
        &["Hello"],
        &GenerationConfig::default(),
        Device::Cpu,
    );
    assert!(matches!(err, Err(LmError::InvalidArgument(m)) if m.contains("16 rows")));
    Ok(())
}

#[test]
fn empty_batches_are_errors() -> anyhow::Result<()> {
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    let tok = Tokenizer::from_file(fixture("gpt_neox_parallel").join("tokenizer.json"))?;
    assert!(matches!(
        tok.encode_batch(&[], Device::Cpu),
        Err(LmError::InvalidArgument(_))
    ));
    let empty = Tensor::zeros([0, 3], (Kind::Int64, Device::Cpu));
    assert!(matches!(
        generate(&model, &empty, &empty, &GenerationConfig::default()),
        Err(LmError::InvalidArgument(_))
    ));
    assert!(lm_backend::continuation_logprobs(&model, &[], &[], 0, Device::Cpu).is_err());
    Ok(())
}

#[test]
fn long_prompts_are_truncated_on_the_configured_side() -> anyhow::Result<()> {
    let tok = Tokenizer::from_file(fixture("gpt_neox_parallel").join("tokenizer.json"))?;
    let text = "Once upon a time there was a little robot who liked the weather very much";
    let full = tok.encode(text)?;
    assert!(full.len() > 6);
    let left = tok.with_truncation(Side::Left, Some(6));
    assert_eq!(left.encode(text)?, full[full.len() - 6..].to_vec());
    let tok = Tokenizer::from_file(fixture("gpt_neox_parallel").join("tokenizer.json"))?;
    let right = tok.with_truncation(Side::Right, Some(6));
    assert_eq!(right.encode(text)?, full[..6].to_vec());
    // The model runs on the truncated batch.
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
    let cfg = GenerationConfig::default().with_max_new_tokens(2);
    let (g, _) = generate_text(&model, &right, &[text, "Hi"], &cfg, Device::Cpu)?;
    assert_eq!(g.tokens.len(), 2);
    Ok(())
}

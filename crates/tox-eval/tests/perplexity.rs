//! Perplexity against the teacher-forced log-probs transformers computed for the tiny GPT-NeoX
//! fixture of lm-backend (`tf_sum_logprobs`, written by scripts/fixtures/make_tiny_models.py
//! with transformers 5.23.0, torch 2.11.0, CPU float32; see lm-backend/tests/fixtures/README.md).
#![cfg(feature = "torch")]

use std::collections::HashMap;
use std::path::PathBuf;

use tch::{Device, Kind, Tensor};
use tox_eval::metrics::{perplexity, perplexity_of_texts, Perplexity};
use tox_eval::ToxEvalError;

struct Fixture {
    model: lm_backend::GptNeoX,
    tokenizer: lm_backend::Tokenizer,
    prompts: Vec<String>,
    responses: Vec<String>,
    prompt_ids: Vec<Vec<i64>>,
    response_ids: Vec<Vec<i64>>,
    /// `tf_sum_logprobs` of the reference.
    sums: Vec<f64>,
}

fn fixture() -> anyhow::Result<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures/gpt_neox_parallel");
    let model = lm_backend::GptNeoX::from_pretrained(&dir, Device::Cpu, Kind::Float)?;
    let tokenizer = lm_backend::Tokenizer::from_file(dir.join("tokenizer.json"))?;
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json"))?)?;
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
            .unwrap_or_default()
    };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let pairs = j["teacher_forced"].as_array().cloned().unwrap_or_default();
    let r: HashMap<String, Tensor> = Tensor::read_safetensors(dir.join("reference.safetensors"))?
        .into_iter()
        .collect();
    let sums = r
        .get("tf_sum_logprobs")
        .ok_or_else(|| anyhow::anyhow!("no tf_sum_logprobs"))?;
    Ok(Fixture {
        model,
        tokenizer,
        prompts: pairs.iter().map(|p| text(&p["prompt"])).collect(),
        responses: pairs.iter().map(|p| text(&p["response"])).collect(),
        prompt_ids: pairs.iter().map(|p| ids(&p["prompt_ids"])).collect(),
        response_ids: pairs.iter().map(|p| ids(&p["response_ids"])).collect(),
        sums: Vec::try_from(&sums.to_kind(Kind::Double))?,
    })
}

/// Max relative difference of `got` from the reference built from `tf_sum_logprobs`.
fn check(f: &Fixture, got: &Perplexity, what: &str) -> f64 {
    let mut worst = 0.0f64;
    let (mut total, mut n) = (0.0, 0usize);
    for (i, ids) in f.response_ids.iter().enumerate() {
        let want = (-f.sums[i] / ids.len() as f64).exp();
        worst = worst.max((got.per_text[i] - want).abs() / want);
        assert_eq!(got.n_tokens[i], ids.len(), "{what} text {i}");
        total += f.sums[i];
        n += ids.len();
    }
    let want = (-total / n as f64).exp();
    let corpus = (got.corpus - want).abs() / want;
    eprintln!("{what}: max rel. diff per text {worst:.3e}, corpus {corpus:.3e}");
    assert!(worst < 1e-4, "{what}: per text {worst}");
    assert!(corpus < 1e-4, "{what}: corpus {corpus}");
    worst.max(corpus)
}

#[test]
fn perplexity_matches_reference_logprobs() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut results = Vec::new();
    for batch in [1, 2, 3] {
        let p = perplexity(&f.model, &f.prompt_ids, &f.response_ids, 0, batch)?;
        check(&f, &p, &format!("ids, batch {batch}"));
        results.push(p);
    }
    let spread = results
        .iter()
        .flat_map(|p| p.per_text.iter().zip(&results[0].per_text))
        .map(|(a, b)| (a - b).abs() / b)
        .fold(0.0f64, f64::max);
    eprintln!("max rel. diff between batch sizes {spread:.3e}");
    assert!(spread < 1e-5);
    // The corpus value is the token-weighted pool of the per-text numbers.
    let p = &results[2];
    let again = Perplexity::from_logprob_sums(&p.sum_logprobs, &p.n_tokens)?;
    assert!((again.corpus - p.corpus).abs() <= 1e-12 * p.corpus);
    Ok(())
}

#[test]
fn texts_tokenize_like_the_reference() -> anyhow::Result<()> {
    let f = fixture()?;
    let prompts: Vec<&str> = f.prompts.iter().map(String::as_str).collect();
    let responses: Vec<&str> = f.responses.iter().map(String::as_str).collect();
    let p = perplexity_of_texts(&f.model, &f.tokenizer, &prompts, &responses, 2)?;
    check(&f, &p, "texts, batch 2");
    Ok(())
}

#[test]
fn empty_or_unpaired_inputs_are_errors() -> anyhow::Result<()> {
    let f = fixture()?;
    let err = perplexity(&f.model, &f.prompt_ids, &[vec![1], vec![], vec![2]], 0, 2);
    assert!(
        matches!(
            err,
            Err(ToxEvalError::EmptyText {
                what: "continuation",
                index: 1
            })
        ),
        "{err:?}"
    );
    assert!(err.is_err_and(|e| e.to_string().contains("continuation 1")));
    let err = perplexity_of_texts(&f.model, &f.tokenizer, &["a", "b"], &["x", ""], 4);
    assert!(matches!(
        err,
        Err(ToxEvalError::EmptyText {
            what: "continuation",
            index: 1
        })
    ));
    let err = perplexity(&f.model, &[vec![], vec![3]], &[vec![1], vec![2]], 0, 2);
    assert!(matches!(
        err,
        Err(ToxEvalError::EmptyText {
            what: "prompt",
            index: 0
        })
    ));
    let err = perplexity(&f.model, &f.prompt_ids[..2], &f.response_ids, 0, 2);
    assert!(matches!(err, Err(ToxEvalError::LengthMismatch { .. })));
    let err = perplexity(&f.model, &f.prompt_ids, &f.response_ids, 0, 0);
    assert!(matches!(err, Err(ToxEvalError::InvalidArgument(_))));
    Ok(())
}

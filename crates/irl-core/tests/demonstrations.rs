//! `build_demonstrations` against `transformers.generate` and against itself.
//!
//! The reference is lm-backend's committed GPT-NeoX fixture
//! (`crates/lm-backend/tests/fixtures/gpt_neox_sequential/reference.json`, written by
//! `scripts/fixtures/make_tiny_models.py` with transformers 5.23.0): three prompts and the ids
//! of `model.generate(input_ids, attention_mask, do_sample=False, max_new_tokens=8,
//! pad_token_id=0, eos_token_id=None)` on their left-padded batch.

use std::path::{Path, PathBuf};

use irl_core::{build_demonstrations, Demonstration, DemonstrationConfig, IrlError};
use lm_backend::{load_causal_lm, CausalLm, SamplingConfig, Tokenizer};
use tch::{Device, Kind};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lm-backend/tests/fixtures/gpt_neox_sequential")
}

struct Reference {
    texts: Vec<String>,
    text_ids: Vec<Vec<i64>>,
    new_ids: Vec<Vec<i64>>,
}

fn reference() -> anyhow::Result<Reference> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("reference.json"))?)?;
    let ids = |v: &serde_json::Value| -> anyhow::Result<Vec<Vec<i64>>> {
        Ok(serde_json::from_value(v.clone())?)
    };
    Ok(Reference {
        texts: serde_json::from_value(doc["texts"].clone())?,
        text_ids: ids(&doc["text_ids"])?,
        new_ids: ids(&doc["generate"]["new_ids"])?,
    })
}

fn model() -> anyhow::Result<(Box<dyn CausalLm>, Tokenizer)> {
    let lm = load_causal_lm(fixture(), Device::Cpu, Kind::Float)?;
    Ok((lm, Tokenizer::from_file(fixture().join("tokenizer.json"))?))
}

fn greedy(max_new_tokens: usize, batch_size: usize) -> DemonstrationConfig {
    let mut cfg = DemonstrationConfig::default();
    cfg.generation = cfg
        .generation
        .with_max_new_tokens(max_new_tokens)
        .with_sampling(SamplingConfig::greedy());
    cfg.batch_size = batch_size;
    cfg
}

fn build(
    cfg: &DemonstrationConfig,
    prompts: &[String],
    out: &Path,
) -> anyhow::Result<Vec<Demonstration>> {
    let (lm, tok) = model()?;
    Ok(build_demonstrations(
        lm.as_ref(),
        lm.as_ref(),
        &tok,
        prompts,
        cfg,
        out,
        |_, _| {},
    )?)
}

#[test]
fn greedy_demonstrations_equal_transformers_generate() -> anyhow::Result<()> {
    let r = reference()?;
    let (_, tok) = model()?;
    assert_eq!(
        tok.encode_ids(&r.texts.iter().map(String::as_str).collect::<Vec<_>>())?,
        r.text_ids
    );
    let dir = tempfile::tempdir()?;
    // Batches of 2 and 1 prompts: left padding and per-row stops leave each row as it is alone.
    let mut cfg = greedy(8, 2);
    cfg.stop_at_eos = false;
    let demos = build(&cfg, &r.texts, &dir.path().join("d.jsonl"))?;
    for (d, want) in demos.iter().zip(&r.new_ids) {
        assert_eq!(d.expert, tok.decode(want, true)?);
        assert_eq!(d.baselines, vec![tok.decode(want, true)?]);
    }
    Ok(())
}

#[test]
fn max_length_counts_the_prompt_as_transformers_does() -> anyhow::Result<()> {
    let r = reference()?;
    let (_, tok) = model()?;
    let dir = tempfile::tempdir()?;
    // Prompts of 10, 15 and 2 tokens with max_length 12: 2 new tokens, 1 (at least one, as
    // `generate` gives), and 8 (capped by max_new_tokens).
    let mut cfg = greedy(8, 3);
    cfg.stop_at_eos = false;
    cfg.max_length = Some(12);
    let demos = build(&cfg, &r.texts, &dir.path().join("d.jsonl"))?;
    for ((d, want), n) in demos.iter().zip(&r.new_ids).zip([2, 1, 8]) {
        assert_eq!(d.expert, tok.decode(&want[..n], true)?);
    }
    Ok(())
}

#[test]
fn a_row_stops_at_eos() -> anyhow::Result<()> {
    let r = reference()?;
    let (_, tok) = model()?;
    let dir = tempfile::tempdir()?;
    // Token 50 comes 4th in row 0 and 2nd in row 1; row 2 never emits it.
    let eos = 50;
    assert_eq!((r.new_ids[0][3], r.new_ids[1][1]), (eos, eos));
    assert!(!r.new_ids[2].contains(&eos));
    let mut cfg = greedy(8, 3);
    cfg.generation.eos_token_id = Some(eos);
    let demos = build(&cfg, &r.texts, &dir.path().join("d.jsonl"))?;
    for (d, (want, n)) in demos.iter().zip(r.new_ids.iter().zip([4, 2, 8])) {
        assert_eq!(d.expert, tok.decode(&want[..n], true)?);
    }
    // Without a stop, the rows run on.
    cfg.stop_at_eos = false;
    cfg.generation.eos_token_id = None;
    let full = build(&cfg, &r.texts, &dir.path().join("full.jsonl"))?;
    assert_ne!(full[0].expert, demos[0].expert);
    Ok(())
}

fn sampled(seed: u64) -> DemonstrationConfig {
    let mut cfg = greedy(6, 2);
    cfg.generation = cfg
        .generation
        .with_sampling(SamplingConfig::default().with_top_k(30))
        .with_seed(seed);
    cfg.baselines_per_prompt = 2;
    cfg.with_logprobs = Some(true);
    cfg
}

fn prompts() -> Vec<String> {
    [
        "The weather is",
        "Once upon a time",
        "Hi",
        "A tiny model",
        "Hello there",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn sampled_demonstrations_are_seeded() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let a = build(&sampled(7), &prompts(), &dir.path().join("a.jsonl"))?;
    let b = build(&sampled(7), &prompts(), &dir.path().join("b.jsonl"))?;
    let c = build(&sampled(8), &prompts(), &dir.path().join("c.jsonl"))?;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|d| d.baselines.len() == 2
        && d.baseline_ref_logprobs
            .as_ref()
            .is_some_and(|l| l.len() == 2)
        && d.expert_expert_logprob.is_some()));
    Ok(())
}

#[test]
fn a_resumed_build_equals_an_uninterrupted_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let whole_path = dir.path().join("whole.jsonl");
    let whole = build(&sampled(3), &prompts(), &whole_path)?;
    // A crash after three records: in the middle of the second batch of 2, with a torn fourth.
    let text = std::fs::read_to_string(&whole_path)?;
    let lines: Vec<&str> = text.lines().collect();
    let path = dir.path().join("resumed.jsonl");
    std::fs::write(
        &path,
        format!("{}\n{}", lines[..3].join("\n"), &lines[3][..10]),
    )?;
    let resumed = build(&sampled(3), &prompts(), &path)?;
    assert_eq!(resumed, whole);
    Ok(())
}

#[test]
fn a_file_of_other_prompts_is_refused_by_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("d.jsonl");
    build(&greedy(2, 2), &prompts()[..2], &path)?;
    let mut other = prompts();
    other.swap(0, 1);
    let before = std::fs::read(&path)?;
    match build(&greedy(2, 2), &other, &path).map_err(|e| e.downcast::<IrlError>()) {
        Err(Ok(IrlError::Jsonl { line, message, .. })) => {
            assert_eq!(line, 1);
            assert!(message.contains("Once upon a time"), "{message}");
        }
        other => panic!("expected a JSONL error naming the line, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path)?, before, "nothing written or lost");
    // More records than prompts is refused too.
    let err = build(&greedy(2, 2), &prompts()[..1], &path).expect_err("too many records");
    assert!(format!("{err:#}").contains("only 1 prompts"), "{err:#}");
    Ok(())
}

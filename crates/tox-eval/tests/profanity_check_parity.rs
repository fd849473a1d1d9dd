//! Parity of [`ProfanityCheck`] with the Python package alt-profanity-check 1.9.1.
//!
//! Expected values from `profanity_check.predict_prob(texts)` (scikit-learn 1.9.1, numpy 2.4.6,
//! CPython 3.11), written with the texts by `scripts/fixtures/export_profanity_check.py` into
//! `tests/fixtures/profanity_check_parity.json`.

use std::path::PathBuf;

use anyhow::{ensure, Context};
use serde::Deserialize;
use tox_eval::{ProfanityCheck, ToxicityScorer};

const TOLERANCE: f64 = 1e-6;

/// `probs` are decimal strings (Python's `repr`), parsed with `str::parse` so that the
/// expected values are exact (serde_json's default float parsing may be off by one ulp).
#[derive(Deserialize)]
struct RawFixture {
    texts: Vec<String>,
    probs: Vec<String>,
}

struct Fixture {
    texts: Vec<String>,
    probs: Vec<f64>,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> anyhow::Result<Fixture> {
    let path = manifest_dir().join("tests/fixtures/profanity_check_parity.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let raw: RawFixture = serde_json::from_str(&text)?;
    let probs = raw
        .probs
        .iter()
        .map(|p| {
            p.parse::<f64>()
                .with_context(|| format!("probability {p:?}"))
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let fixture = Fixture {
        texts: raw.texts,
        probs,
    };
    ensure!(
        fixture.texts.len() == fixture.probs.len(),
        "texts and probs differ in length"
    );
    ensure!(fixture.texts.len() >= 5000, "fixture too small");
    Ok(fixture)
}

#[test]
fn matches_predict_proba_on_every_fixture_text() -> anyhow::Result<()> {
    let fixture = fixture()?;
    let scorer = ProfanityCheck::new()?;
    let texts: Vec<&str> = fixture.texts.iter().map(String::as_str).collect();
    let scores = scorer.score(&texts)?;
    ensure!(scores.len() == texts.len());

    let mut max_diff = 0.0f64;
    let mut exact = 0usize;
    let mut failures = Vec::new();
    for (i, (&got, &want)) in scores.iter().zip(&fixture.probs).enumerate() {
        let diff = (got - want).abs();
        max_diff = max_diff.max(diff);
        exact += usize::from(got.to_bits() == want.to_bits());
        if diff > TOLERANCE || diff.is_nan() {
            failures.push(format!(
                "#{i} {:?}: got {got}, want {want}, tokens {:?}",
                texts[i].chars().take(80).collect::<String>(),
                scorer.analyze(texts[i])
            ));
        }
    }
    eprintln!(
        "{} texts: max |diff| = {max_diff:e}, {exact} bit-identical",
        texts.len()
    );
    ensure!(
        failures.is_empty(),
        "{} texts off by more than {TOLERANCE}:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

#[test]
fn single_text_and_batch_scores_agree() -> anyhow::Result<()> {
    let fixture = fixture()?;
    let scorer = ProfanityCheck::new()?;
    let texts: Vec<&str> = fixture.texts.iter().take(500).map(String::as_str).collect();
    let batch = scorer.score(&texts)?;
    for (text, score) in texts.iter().zip(&batch) {
        ensure!(
            scorer.predict_proba(text).to_bits() == score.to_bits(),
            "{text:?}"
        );
    }
    Ok(())
}

#[test]
fn model_file_on_disk_equals_the_embedded_one() -> anyhow::Result<()> {
    let fixture = fixture()?;
    let embedded = ProfanityCheck::new()?;
    let loaded = ProfanityCheck::from_path(manifest_dir().join("data/profanity_check/model.tsv"))?;
    ensure!(loaded.n_features() == embedded.n_features());
    ensure!(loaded.classifiers() == embedded.classifiers());
    let texts: Vec<&str> = fixture.texts.iter().take(300).map(String::as_str).collect();
    ensure!(loaded.score(&texts)? == embedded.score(&texts)?);
    Ok(())
}

#[test]
fn fixture_covers_the_tricky_inputs() -> anyhow::Result<()> {
    let fixture = fixture()?;
    let has = |pred: &dyn Fn(&str) -> bool| fixture.texts.iter().any(|t| pred(t));
    ensure!(has(&|t| t.is_empty()), "empty string");
    ensure!(
        has(&|t| !t.is_empty() && t.trim().is_empty()),
        "whitespace only"
    );
    ensure!(
        has(&|t| t.split_whitespace().count() >= 5000),
        "very long text"
    );
    for probe in [
        'İ', 'ß', 'ẞ', 'Σ', '\u{301}', '\u{200d}', '²', '連', '🖕', '_', '\'',
    ] {
        ensure!(has(&|t| t.contains(probe)), "no text contains {probe:?}");
    }
    ensure!(
        has(&|t| t.contains("ΕΤΗΤΗΣ")),
        "final sigma on a vocabulary word"
    );
    Ok(())
}

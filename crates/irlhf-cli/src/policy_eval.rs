//! Evaluation of a policy on held-out prompts: toxicity of greedy continuations (the paper's
//! mean toxicity and toxic ratio), Expected Maximum Toxicity and Toxicity Probability over k
//! sampled continuations per prompt (RealToxicityPrompts), distinct-n, and the perplexity of
//! the greedy continuations under a judge LM (the original model) — so that a near-zero
//! toxicity that hides degenerate text shows.

use lm_backend::{generate_text, CausalLm, GenerationConfig, SamplingConfig, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::Device;
use tox_eval::{Distinct, ToxicityReport, ToxicityScorer};

use crate::config::EvaluationStage;

/// What [`evaluate_policy`] reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// Mean toxicity of greedy continuations (prompt + continuation scored, as in the paper).
    pub greedy_mean_toxicity: f64,
    /// Share of greedy continuations at or above the threshold (the paper's toxic ratio).
    pub greedy_toxic_ratio: f64,
    /// Sampled continuations: mean, ratio, EMT and TP.
    pub sampled: ToxicityReport,
    /// distinct-1/2/3 of the sampled continuations.
    pub distinct: Distinct,
    /// Perplexity of the greedy continuations under the judge LM.
    pub perplexity: f64,
    /// A few greedy continuations, for reading.
    pub examples: Vec<(String, String)>,
}

/// Evaluates `policy` on `prompts`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_policy(
    name: &str,
    policy: &dyn CausalLm,
    judge: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[String],
    truth: &dyn ToxicityScorer,
    cfg: &EvaluationStage,
    seed: u64,
    device: Device,
) -> anyhow::Result<PolicyReport> {
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let greedy_cfg = GenerationConfig::default()
        .with_max_new_tokens(cfg.max_new_tokens)
        .with_sampling(SamplingConfig::greedy())
        .with_tokenizer_ids(tokenizer);
    let (greedy, greedy_texts) = generate_text(policy, tokenizer, &refs, &greedy_cfg, device)?;
    let full: Vec<String> = prompts
        .iter()
        .zip(&greedy_texts)
        .map(|(p, c)| format!("{p}{c}"))
        .collect();
    let full_refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let greedy_tox = truth.score(&full_refs)?;
    let greedy_mean_toxicity = tox_eval::metrics::mean_toxicity(&greedy_tox)?;
    let greedy_toxic_ratio = tox_eval::metrics::toxic_ratio(&greedy_tox, cfg.threshold)?;

    let mut per_prompt: Vec<Vec<f64>> = vec![Vec::new(); prompts.len()];
    let mut sampled_texts = Vec::new();
    for k in 0..cfg.samples_per_prompt.max(1) {
        let c = greedy_cfg
            .clone()
            .with_sampling(SamplingConfig::default().with_top_k(cfg.top_k))
            .with_seed(seed.wrapping_add(k as u64 * 7919));
        let (_, texts) = generate_text(policy, tokenizer, &refs, &c, device)?;
        let full: Vec<String> = prompts
            .iter()
            .zip(&texts)
            .map(|(p, c)| format!("{p}{c}"))
            .collect();
        let r: Vec<&str> = full.iter().map(String::as_str).collect();
        for (i, s) in truth.score(&r)?.into_iter().enumerate() {
            per_prompt[i].push(s);
        }
        sampled_texts.extend(texts);
    }
    let sampled = ToxicityReport::compute(&per_prompt, cfg.threshold)?;
    let distinct = Distinct::compute(&sampled_texts)?;

    let prompt_ids = tokenizer.encode_ids(&refs)?;
    let perplexity =
        tox_eval::metrics::perplexity(judge, &prompt_ids, &greedy.tokens, tokenizer.pad_id(), 64)?
            .corpus;
    let examples = prompts
        .iter()
        .zip(&greedy_texts)
        .take(5)
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect();
    Ok(PolicyReport {
        name: name.to_owned(),
        greedy_mean_toxicity,
        greedy_toxic_ratio,
        sampled,
        distinct,
        perplexity,
        examples,
    })
}

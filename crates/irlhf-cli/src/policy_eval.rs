//! Evaluation of a policy on held-out prompts, by the paper's protocol
//! (`analysis/evaluate_toxicity_lm.py` of `ai4ai-lab/irl_for_llms`): greedy continuations,
//! the prompt removed and the rest stripped, continuations of fewer than
//! `min_continuation_chars` characters left out, scored by a judge (the paper's: HF
//! `evaluate`'s "toxicity", `facebook/roberta-hate-speech-dynabench-r4-target`), toxic at
//! `threshold`: mean toxicity and toxic ratio. Beyond the paper: Expected Maximum Toxicity and
//! Toxicity Probability over k sampled continuations per prompt (RealToxicityPrompts),
//! distinct-n, and the perplexity of the greedy continuations under a judge LM (the original
//! model), so that a near-zero toxicity that hides degenerate text shows.
//!
//! Prompts go through in batches of `eval_batch_size`, each truncated from the left to fit the
//! policy's context with its new tokens, so peak memory does not grow with the number of
//! prompts.

use lm_backend::{generate, CausalLm, GenerationConfig, SamplingConfig, Side, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::Device;
use tox_eval::{Distinct, ToxicityReport, ToxicityScorer};

use crate::config::{EvaluationStage, ScoredText};

/// What [`evaluate_policy`] reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// The judge that scored the continuations (and whether it is the ground truth).
    #[serde(default)]
    pub judge: String,
    /// What the judge scored.
    #[serde(default = "continuation")]
    pub scored: ScoredText,
    /// Greedy continuations scored (the others were too short).
    #[serde(default)]
    pub greedy_scored: usize,
    /// Mean judge toxicity of the greedy continuations (the paper's mean toxicity).
    pub greedy_mean_toxicity: f64,
    /// Share of greedy continuations at or above the threshold (the paper's toxic ratio).
    pub greedy_toxic_ratio: f64,
    /// Sampled continuations: mean, ratio, EMT and TP (`None` when none were drawn).
    pub sampled: Option<ToxicityReport>,
    /// distinct-1/2/3 of the sampled continuations (of the greedy ones when none were drawn).
    pub distinct: Distinct,
    /// Perplexity of the greedy continuations under the judge LM.
    pub perplexity: f64,
    /// A few greedy continuations, for reading.
    pub examples: Vec<(String, String)>,
}

fn continuation() -> ScoredText {
    ScoredText::Continuation
}

/// The judge of a policy evaluation: a toxicity scorer and how the report names it.
pub struct Judge<'a> {
    /// The scorer.
    pub scorer: &'a dyn ToxicityScorer,
    /// Its name in reports.
    pub name: String,
}

/// The continuations of one decoding of every prompt, batch by batch.
struct Decoded {
    /// Prompt token ids, as fed (truncated to the context).
    prompt_ids: Vec<Vec<i64>>,
    /// New token ids.
    tokens: Vec<Vec<i64>>,
    /// Decoded new tokens.
    texts: Vec<String>,
}

/// Generates a continuation of every prompt in batches of `cfg.eval_batch_size`.
fn decode_all(
    policy: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[String],
    gen: &GenerationConfig,
    cfg: &EvaluationStage,
    device: Device,
) -> anyhow::Result<Decoded> {
    tokenizer.check_fits(policy.info().vocab_size)?;
    // Prompts lose their start to fit the context with the new tokens.
    let room = policy.info().max_positions.map(|p| {
        (p.max(0) as usize)
            .saturating_sub(gen.max_new_tokens)
            .max(1)
    });
    let mut out = Decoded {
        prompt_ids: Vec::new(),
        tokens: Vec::new(),
        texts: Vec::new(),
    };
    let batch_size = cfg.eval_batch_size.max(1);
    for (b, chunk) in prompts.chunks(batch_size).enumerate() {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut ids = tokenizer.encode_ids(&refs)?;
        if let Some(room) = room {
            for row in &mut ids {
                let cut = row.len().saturating_sub(room);
                row.drain(..cut);
            }
        }
        let batch = lm_backend::io::tokenizer::pad_batch(
            ids.clone(),
            tokenizer.pad_id(),
            Side::Left,
            device,
        )?;
        let g = gen.clone().with_seed(tox_eval::seeds::seed_for_index(
            gen.seed,
            "evaluation/batch",
            (b * batch_size) as u64,
        ));
        let generated = generate(policy, &batch.input_ids, &batch.attention_mask, &g)?;
        out.texts
            .extend(tokenizer.decode_batch(&generated.tokens, true)?);
        out.tokens.extend(generated.tokens);
        out.prompt_ids.extend(ids);
    }
    Ok(out)
}

/// The texts the judge scores, and the index of each among the continuations: those of at
/// least `min_continuation_chars` characters once stripped.
fn judged_texts(
    prompts: &[String],
    continuations: &[String],
    cfg: &EvaluationStage,
) -> (Vec<String>, Vec<usize>) {
    let mut texts = Vec::new();
    let mut kept = Vec::new();
    for (i, (p, c)) in prompts.iter().zip(continuations).enumerate() {
        let stripped = c.trim();
        if stripped.chars().count() < cfg.min_continuation_chars {
            continue;
        }
        texts.push(match cfg.scored {
            ScoredText::Continuation => stripped.to_owned(),
            // As generated: stripping would glue the continuation's first word to the prompt.
            ScoredText::PromptAndContinuation => format!("{p}{c}"),
        });
        kept.push(i);
    }
    (texts, kept)
}

/// Scores the kept continuations with the judge.
fn judge_scores(judge: &Judge<'_>, texts: &[String]) -> anyhow::Result<Vec<f64>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Ok(judge.scorer.score(&refs)?)
}

/// Evaluates `policy` on `prompts`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_policy(
    name: &str,
    policy: &dyn CausalLm,
    judge_lm: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[String],
    judge: &Judge<'_>,
    cfg: &EvaluationStage,
    seed: u64,
    device: Device,
) -> anyhow::Result<PolicyReport> {
    let greedy_cfg = GenerationConfig::default()
        .with_max_new_tokens(cfg.max_new_tokens)
        .with_sampling(SamplingConfig::greedy())
        .with_tokenizer_ids(tokenizer)
        .with_model_stops(policy);
    let greedy = decode_all(policy, tokenizer, prompts, &greedy_cfg, cfg, device)?;
    let (texts, _) = judged_texts(prompts, &greedy.texts, cfg);
    let greedy_tox = judge_scores(judge, &texts)?;
    let (greedy_mean_toxicity, greedy_toxic_ratio) = if greedy_tox.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (
            tox_eval::metrics::mean_toxicity(&greedy_tox)?,
            tox_eval::metrics::toxic_ratio(&greedy_tox, cfg.threshold)?,
        )
    };

    let mut per_prompt: Vec<Vec<f64>> = vec![Vec::new(); prompts.len()];
    let mut sampled_texts = Vec::new();
    for k in 0..cfg.samples_per_prompt {
        let c = greedy_cfg
            .clone()
            .with_sampling(SamplingConfig::default().with_top_k(cfg.top_k))
            .with_seed(tox_eval::seeds::seed_for_index(
                seed,
                "evaluation/sample",
                k as u64,
            ));
        let sampled = decode_all(policy, tokenizer, prompts, &c, cfg, device)?;
        let (texts, kept) = judged_texts(prompts, &sampled.texts, cfg);
        for (i, s) in kept.into_iter().zip(judge_scores(judge, &texts)?) {
            per_prompt[i].push(s);
        }
        sampled_texts.extend(sampled.texts);
    }
    // A prompt all of whose samples were too short has nothing to take a maximum over.
    per_prompt.retain(|s| !s.is_empty());
    let sampled = if per_prompt.is_empty() {
        None
    } else {
        Some(ToxicityReport::compute(&per_prompt, cfg.threshold)?)
    };
    let distinct = Distinct::compute(if sampled_texts.is_empty() {
        &greedy.texts
    } else {
        &sampled_texts
    })?;
    let perplexity = tox_eval::metrics::perplexity(
        judge_lm,
        &greedy.prompt_ids,
        &greedy.tokens,
        tokenizer.pad_id(),
        cfg.eval_batch_size.max(1),
    )?
    .corpus;
    let examples = prompts
        .iter()
        .zip(&greedy.texts)
        .take(5)
        .map(|(p, c)| (p.clone(), c.clone()))
        .collect();
    Ok(PolicyReport {
        name: name.to_owned(),
        judge: judge.name.clone(),
        scored: cfg.scored,
        greedy_scored: greedy_tox.len(),
        greedy_mean_toxicity,
        greedy_toxic_ratio,
        sampled,
        distinct,
        perplexity,
        examples,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Mutex;

    use lm_backend::{KvCache, LmInfo};
    use tch::{nn::VarStore, Kind, Tensor};

    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../lm-backend/tests/fixtures/gpt_neox_sequential")
    }

    /// A causal LM that records the largest `[rows, positions]` any forward pass saw
    /// (positions counting the cache): the size of what the evaluation holds at once.
    struct Recording {
        inner: Box<dyn CausalLm>,
        peak: Mutex<(i64, i64)>,
    }

    impl CausalLm for Recording {
        fn info(&self) -> &LmInfo {
            self.inner.info()
        }
        fn var_store(&self) -> &VarStore {
            self.inner.var_store()
        }
        fn var_store_mut(&mut self) -> &mut VarStore {
            self.inner.var_store_mut()
        }
        fn forward_hidden(
            &self,
            input_ids: &Tensor,
            attention_mask: &Tensor,
            cache: Option<&mut KvCache>,
            train: bool,
        ) -> lm_backend::Result<Tensor> {
            let (rows, positions) = attention_mask.size2()?;
            let mut peak = self.peak.lock().unwrap_or_else(|e| e.into_inner());
            *peak = (peak.0.max(rows), peak.1.max(positions));
            drop(peak);
            self.inner
                .forward_hidden(input_ids, attention_mask, cache, train)
        }
        fn lm_head(&self, hidden: &Tensor) -> lm_backend::Result<Tensor> {
            self.inner.lm_head(hidden)
        }
        fn layer_prefix(&self, i: usize) -> String {
            self.inner.layer_prefix(i)
        }
        fn head_prefixes(&self) -> Vec<String> {
            self.inner.head_prefixes()
        }
        fn config_json(&self) -> serde_json::Value {
            self.inner.config_json()
        }
        fn output_weight(&self) -> Option<&Tensor> {
            self.inner.output_weight()
        }
        fn new_cache(&self) -> KvCache {
            self.inner.new_cache()
        }
    }

    fn recording() -> anyhow::Result<Recording> {
        Ok(Recording {
            inner: lm_backend::load_causal_lm(fixture(), Device::Cpu, Kind::Float)?,
            peak: Mutex::new((0, 0)),
        })
    }

    /// A judge that keeps what it was asked to score.
    fn run(
        prompts: &[String],
        cfg: &EvaluationStage,
    ) -> anyhow::Result<(PolicyReport, Vec<String>, (i64, i64))> {
        let policy = recording()?;
        let judge_lm = lm_backend::load_causal_lm(fixture(), Device::Cpu, Kind::Float)?;
        let tok = Tokenizer::from_file(fixture().join("tokenizer.json"))?;
        let seen = Mutex::new(Vec::new());
        let scorer = |texts: &[&str]| -> tox_eval::Result<Vec<f64>> {
            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
            s.extend(texts.iter().map(|t| (*t).to_owned()));
            Ok(texts
                .iter()
                .map(|t| if t.len() % 2 == 0 { 0.9 } else { 0.1 })
                .collect())
        };
        let judge = Judge {
            scorer: &scorer,
            name: "test judge".into(),
        };
        let report = evaluate_policy(
            "p",
            &policy,
            judge_lm.as_ref(),
            &tok,
            prompts,
            &judge,
            cfg,
            0,
            Device::Cpu,
        )?;
        let peak = *policy.peak.lock().unwrap_or_else(|e| e.into_inner());
        let seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((report, seen, peak))
    }

    fn prompts(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("The model number {i} says"))
            .collect()
    }

    fn stage() -> EvaluationStage {
        EvaluationStage {
            max_new_tokens: 6,
            eval_batch_size: 2,
            min_continuation_chars: 0,
            ..EvaluationStage::default()
        }
    }

    #[test]
    fn the_judge_scores_the_stripped_continuation_only() -> anyhow::Result<()> {
        let p = prompts(3);
        let (report, seen, _) = run(&p, &stage())?;
        assert_eq!(seen.len(), 3);
        assert_eq!(report.greedy_scored, 3);
        assert_eq!(report.judge, "test judge");
        for (text, (prompt, cont)) in seen.iter().zip(&report.examples) {
            assert_eq!(text, cont.trim());
            assert!(!text.starts_with(prompt.as_str()));
        }
        let both = EvaluationStage {
            scored: ScoredText::PromptAndContinuation,
            ..stage()
        };
        let (_, seen, _) = run(&p, &both)?;
        assert!(seen.iter().zip(&p).all(|(t, p)| t.starts_with(p.as_str())));
        Ok(())
    }

    #[test]
    fn short_continuations_are_left_out() -> anyhow::Result<()> {
        let p = prompts(3);
        let (all, ..) = run(&p, &stage())?;
        let longest = all
            .examples
            .iter()
            .map(|(_, c)| c.trim().chars().count())
            .max()
            .unwrap_or(0);
        let cfg = EvaluationStage {
            min_continuation_chars: longest + 1,
            ..stage()
        };
        let (report, seen, _) = run(&p, &cfg)?;
        assert!(seen.is_empty());
        assert_eq!(report.greedy_scored, 0);
        assert!(report.greedy_mean_toxicity.is_nan());
        Ok(())
    }

    #[test]
    fn peak_batch_does_not_grow_with_the_prompts_and_long_prompts_fit() -> anyhow::Result<()> {
        let cfg = EvaluationStage {
            samples_per_prompt: 1,
            ..stage()
        };
        let (_, _, few) = run(&prompts(2), &cfg)?;
        let (report, _, many) = run(&prompts(9), &cfg)?;
        assert_eq!(few.0, 2);
        assert_eq!(
            many.0, 2,
            "rows at once: eval_batch_size, not the 9 prompts"
        );
        assert!(report.sampled.is_some());
        // A prompt longer than the fixture's 64 positions is cut to fit with its new tokens.
        let long = vec!["hello ".repeat(100)];
        let (_, _, peak) = run(&long, &cfg)?;
        assert!(peak.1 <= 64, "positions {}", peak.1);
        Ok(())
    }
}

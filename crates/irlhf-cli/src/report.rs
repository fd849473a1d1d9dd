//! The paper's tables, printed and written as Markdown: recovered-reward quality per run
//! (with bootstrap intervals), the non-identifiability summary, PPO, and policy toxicity.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use irl_core::evaluation::ScoredResponses;
use tox_eval::metrics::{bootstrap_cis, BootstrapConfig};
use tox_eval::RewardAgreement;

use crate::pipeline::PipelineResults;

/// The responses and (expert, baseline) pairs of each prompt, for resampling prompts.
struct PromptGroups<'a> {
    scored: &'a ScoredResponses,
    truth: &'a [f64],
    members: Vec<Vec<usize>>,
    pairs: Vec<Vec<(usize, usize)>>,
}

impl<'a> PromptGroups<'a> {
    fn new(scored: &'a ScoredResponses, truth: &'a [f64]) -> Self {
        let n_prompts = scored.prompt_ids.iter().copied().max().map_or(0, |m| m + 1);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_prompts];
        for (i, &p) in scored.prompt_ids.iter().enumerate() {
            members[p].push(i);
        }
        let mut pairs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_prompts];
        for &(e, b) in &scored.pairs {
            pairs[scored.prompt_ids[e]].push((e, b));
        }
        PromptGroups {
            scored,
            truth,
            members,
            pairs,
        }
    }

    fn n_prompts(&self) -> usize {
        self.members.len()
    }

    /// Agreement on the responses of the prompts `idx` (with repetition), as one sample: each
    /// drawn prompt is a new group, its pairs those of the original demonstrations.
    fn agreement(&self, idx: &[usize]) -> Option<(tox_eval::AgreementReport, Vec<f64>, Vec<f64>)> {
        let (mut l, mut t, mut ids, mut pairs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut local = std::collections::HashMap::new();
        for (k, &p) in idx.iter().enumerate() {
            local.clear();
            for &i in &self.members[p] {
                local.insert(i, l.len());
                l.push(self.scored.learned[i]);
                t.push(self.truth[i]);
                ids.push(k);
            }
            pairs.extend(self.pairs[p].iter().map(|(e, b)| (local[e], local[b])));
        }
        let report = RewardAgreement::new(&l, &t)
            .with_pairs(&pairs)
            .with_prompt_ids(&ids)
            .compute()
            .ok()?;
        Some((report, l, t))
    }
}

/// 95% bootstrap intervals over held-out prompts for the headline agreement metrics.
pub fn bootstrap_intervals(
    scored: &ScoredResponses,
    truth: &[f64],
    threshold: f64,
    resamples: usize,
    seed: u64,
) -> anyhow::Result<BTreeMap<String, (f64, f64)>> {
    let mut out = BTreeMap::new();
    if resamples == 0 {
        return Ok(out);
    }
    let groups = PromptGroups::new(scored, truth);
    // One agreement report per resample gives every metric.
    let metrics = |idx: &[usize]| -> Vec<f64> {
        match groups.agreement(idx) {
            Some((r, l, t)) => METRICS
                .iter()
                .map(|name| metric_value(name, &r, &l, &t, threshold))
                .collect(),
            None => vec![f64::NAN; METRICS.len()],
        }
    };
    let cfg = BootstrapConfig::default()
        .with_n_resamples(resamples)
        .with_seed(seed);
    let cis = bootstrap_cis(groups.n_prompts(), METRICS.len(), metrics, &cfg)?;
    for (name, ci) in METRICS.iter().zip(cis) {
        out.insert((*name).to_owned(), (ci.lower, ci.upper));
    }
    Ok(out)
}

const METRICS: [&str; 9] = [
    "sign_accuracy",
    "median_accuracy",
    "calibrated_accuracy",
    "pairwise_accuracy",
    "decisive_pairwise_accuracy",
    "spearman",
    "pearson",
    "kendall",
    "epic",
];

fn metric_value(
    name: &str,
    r: &tox_eval::AgreementReport,
    learned: &[f64],
    truth: &[f64],
    threshold: f64,
) -> f64 {
    match name {
        "sign_accuracy" => r.sign.accuracy,
        "median_accuracy" => r.median.accuracy,
        "pairwise_accuracy" => r.pairwise_preference_accuracy.unwrap_or(f64::NAN),
        "decisive_pairwise_accuracy" => r.decisive_pairwise_accuracy.unwrap_or(f64::NAN),
        "calibrated_accuracy" => {
            let hits = learned
                .iter()
                .zip(truth)
                .filter(|(a, b)| (**a > threshold) == (**b > 0.0))
                .count();
            hits as f64 / learned.len().max(1) as f64
        }
        "spearman" => r.spearman,
        "pearson" => r.pearson,
        "kendall" => r.kendall_tau_b,
        _ => r.epic_distance.unwrap_or(f64::NAN),
    }
}

fn ci(run: &crate::pipeline::IrlRun, key: &str, value: f64) -> String {
    match run.intervals.get(key) {
        Some((lo, hi)) => format!("{value:.3} [{lo:.2}, {hi:.2}]"),
        None => format!("{value:.3}"),
    }
}

/// All tables as Markdown.
pub fn tables(r: &PipelineResults) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Recovered reward vs ground truth (held-out demonstrations, 95% bootstrap intervals over prompts)\n");
    if !r.true_reward.is_empty() {
        let _ = writeln!(s, "True reward: {}.\n", r.true_reward);
    }
    let _ = writeln!(s, "Sign acc / F1: the paper's (reward > 0 = non-toxic; the paper's F1 takes toxic as the positive class, F1 non-tox. the other). Offset-invariant: the learned reward cut at its median, or at the threshold fitted on the validation split (the demonstrations of every fifth training prompt, not trained on; it also picks each run's best epoch and ranks the runs). Pairwise: expert vs baseline pairs ordered as the truth orders them; decisive: only pairs on opposite sides of the truth's toxic threshold.\n");
    if let Some((all, decisive)) = r.truth_prefers_expert {
        let _ = writeln!(s, "The truth itself prefers the expert's response in {all:.3} of these pairs ({decisive:.3} of the decisive ones): a reward that only tells expert from baseline text scores exactly that, and a higher pairwise accuracy needs the reward to rank pairs the expert did not.\n");
    }
    let _ = writeln!(s, "| run | sign acc | sign F1 (paper) | sign F1 non-tox. | median-thr. acc | calibrated acc | pairwise acc | decisive pairwise acc | Pearson | Spearman | Kendall | EPIC |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for run in &r.irl {
        let a = &run.agreement;
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.name,
            ci(run, "sign_accuracy", a.sign.accuracy),
            a.sign.f1_toxic,
            a.sign.f1_non_toxic,
            ci(run, "median_accuracy", a.median.accuracy),
            ci(
                run,
                "calibrated_accuracy",
                a.calibrated.as_ref().map_or(f64::NAN, |c| c.accuracy)
            ),
            ci(
                run,
                "pairwise_accuracy",
                a.pairwise_preference_accuracy.unwrap_or(f64::NAN)
            ),
            ci(
                run,
                "decisive_pairwise_accuracy",
                a.decisive_pairwise_accuracy.unwrap_or(f64::NAN)
            ),
            ci(run, "pearson", a.pearson),
            ci(run, "spearman", a.spearman),
            ci(run, "kendall", a.kendall_tau_b),
            ci(run, "epic", a.epic_distance.unwrap_or(f64::NAN)),
        );
    }
    if r.irl.iter().any(|run| run.dataset_texts.is_some()) {
        let _ = writeln!(s, "\n## Recovered reward on the dataset's texts ({} texts `prompt + ' ' + original continuation`, training and held-out prompts: the population of the paper's headline accuracy)\n", r.dataset_texts);
        let _ = writeln!(s, "| run | sign acc | sign F1 (paper) | sign F1 non-tox. | median-thr. acc | Pearson | Spearman |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for run in &r.irl {
            if let Some(a) = &run.dataset_texts {
                let _ = writeln!(
                    s,
                    "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    run.name,
                    a.sign.accuracy,
                    a.sign.f1_toxic,
                    a.sign.f1_non_toxic,
                    a.median.accuracy,
                    a.pearson,
                    a.spearman
                );
            }
        }
    }
    if let Some(study) = &r.study {
        let _ = writeln!(
            s,
            "\n## Non-identifiability study ({} seeds)\n",
            study.seeds.len()
        );
        let _ = writeln!(s, "{}", study.summary_markdown());
    }
    let _ = writeln!(s, "\n## PPO\n");
    let _ = writeln!(
        s,
        "| run | iterations | first score | last score | last KL | last beta |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let mut runs = vec![
        ("ground truth", &r.ppo_expert),
        (r.ppo_irl_reward.as_str(), &r.ppo_irl),
    ];
    if let Some(h) = &r.ppo_implicit {
        runs.push(("implicit", h));
    }
    for (name, h) in runs {
        if let (Some(f), Some(l)) = (h.first(), h.last()) {
            let _ = writeln!(
                s,
                "| {name} | {} | {:.3} | {:.3} | {:.2} | {:.3} |",
                h.len(),
                f.mean_score,
                l.mean_score,
                l.kl,
                l.beta
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Policy toxicity (held-out prompts; ground truth = {})\n",
        r.ground_truth
    );
    let nan = f64::NAN;
    for p in &r.policies {
        let _ = writeln!(
            s,
            "- {}: judge {}, scoring {}",
            p.name,
            p.judge,
            match p.scored {
                crate::config::ScoredText::Continuation => "the continuation only",
                crate::config::ScoredText::PromptAndContinuation => "prompt + continuation",
            }
        );
    }
    let _ = writeln!(s, "\n| policy | judge | greedy scored | greedy mean tox | greedy toxic ratio | sampled mean tox | sampled toxic ratio | EMT | tox. prob. | distinct-1/2/3 | perplexity |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &r.policies {
        let sampled = p.sampled.as_ref();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2}/{:.2}/{:.2} | {:.2} |",
            p.name,
            p.judge.split(" (").next().unwrap_or(&p.judge),
            p.greedy_scored,
            p.greedy_mean_toxicity,
            p.greedy_toxic_ratio,
            sampled.map_or(nan, |t| t.mean_toxicity),
            sampled.map_or(nan, |t| t.toxic_ratio),
            sampled.map_or(nan, |t| t.expected_max_toxicity),
            sampled.map_or(nan, |t| t.toxicity_probability),
            p.distinct.distinct_1,
            p.distinct.distinct_2,
            p.distinct.distinct_3,
            p.perplexity
        );
    }
    if !r.cpu_numerics.is_empty() {
        let settings: Vec<String> = r
            .cpu_numerics
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "\nCPU numerics: {}.", settings.join(", "));
    }
    let _ = writeln!(s, "\n## Stage timings\n");
    for (name, secs) in &r.timings {
        let _ = writeln!(s, "- {name}: {secs:.1} s");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two prompts, each in two demonstrations (expert + two baselines), laid out as
    /// `irl_core::evaluation::score_responses` lays them out.
    fn repeated_prompts() -> (ScoredResponses, Vec<f64>) {
        let mut prompt_ids = Vec::new();
        let mut pairs = Vec::new();
        for p in [0, 1, 0, 1] {
            let e = prompt_ids.len();
            prompt_ids.extend([p; 3]);
            pairs.extend([(e, e + 1), (e, e + 2)]);
        }
        let learned: Vec<f64> = (0..12).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
        let truth: Vec<f64> = (0..12).map(|i| ((i * 3) % 7) as f64 - 3.0).collect();
        (
            ScoredResponses {
                learned,
                prompt_ids,
                pairs,
            },
            truth,
        )
    }

    #[test]
    fn every_prompt_once_reproduces_the_point_estimates() {
        let (scored, truth) = repeated_prompts();
        let full = RewardAgreement::new(&scored.learned, &truth)
            .with_pairs(&scored.pairs)
            .with_prompt_ids(&scored.prompt_ids)
            .compute()
            .expect("agreement");
        let groups = PromptGroups::new(&scored, &truth);
        assert_eq!(groups.n_prompts(), 2);
        let (resampled, l, t) = groups.agreement(&[0, 1]).expect("agreement");
        for name in METRICS {
            let a = metric_value(name, &full, &scored.learned, &truth, 0.0);
            let b = metric_value(name, &resampled, &l, &t, 0.0);
            assert!(
                (a - b).abs() < 1e-12 || (a.is_nan() && b.is_nan()),
                "{name}: {a} vs {b}"
            );
        }
        // Only expert-baseline pairs are compared: 8 of them, whatever the grouping.
        let pairs: usize = groups.pairs.iter().map(Vec::len).sum();
        assert_eq!(pairs, 8);
    }
}

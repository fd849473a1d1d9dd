//! The paper's tables, printed and written as Markdown: recovered-reward quality per run
//! (with bootstrap intervals), the non-identifiability summary, PPO, and policy toxicity.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use irl_core::evaluation::ScoredResponses;
use tox_eval::metrics::{bootstrap_ci, BootstrapConfig};
use tox_eval::RewardAgreement;

use crate::pipeline::PipelineResults;

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
    let n_prompts = scored.prompt_ids.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_prompts];
    for (i, &p) in scored.prompt_ids.iter().enumerate() {
        members[p].push(i);
    }
    let metric = |name: &'static str| {
        let members = &members;
        move |idx: &[usize]| -> f64 {
            let (mut l, mut t, mut ids, mut pairs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (k, &p) in idx.iter().enumerate() {
                let base = l.len();
                for &i in &members[p] {
                    l.push(scored.learned[i]);
                    t.push(truth[i]);
                    ids.push(k);
                }
                // Within a demonstration the first response is the expert's.
                for j in 1..members[p].len() {
                    pairs.push((base, base + j));
                }
            }
            let r = match RewardAgreement::new(&l, &t)
                .with_pairs(&pairs)
                .with_prompt_ids(&ids)
                .compute()
            {
                Ok(r) => r,
                Err(_) => return f64::NAN,
            };
            match name {
                "sign_accuracy" => r.sign.accuracy,
                "median_accuracy" => r.median.accuracy,
                "pairwise_accuracy" => r.pairwise_preference_accuracy.unwrap_or(f64::NAN),
                "decisive_pairwise_accuracy" => r.decisive_pairwise_accuracy.unwrap_or(f64::NAN),
                "calibrated_accuracy" => {
                    let hits = l
                        .iter()
                        .zip(&t)
                        .filter(|(a, b)| (**a > threshold) == (**b > 0.0))
                        .count();
                    hits as f64 / l.len().max(1) as f64
                }
                "spearman" => r.spearman,
                "pearson" => r.pearson,
                "kendall" => r.kendall_tau_b,
                _ => r.epic_distance.unwrap_or(f64::NAN),
            }
        }
    };
    let cfg = BootstrapConfig::default()
        .with_n_resamples(resamples)
        .with_seed(seed);
    for name in [
        "sign_accuracy",
        "median_accuracy",
        "calibrated_accuracy",
        "pairwise_accuracy",
        "decisive_pairwise_accuracy",
        "spearman",
        "pearson",
        "kendall",
        "epic",
    ] {
        let ci = bootstrap_ci(n_prompts, metric(name), &cfg)?;
        out.insert(name.to_owned(), (ci.lower, ci.upper));
    }
    Ok(out)
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
    let _ = writeln!(s, "Sign acc / F1: the paper's (reward > 0 = non-toxic). Offset-invariant: the learned reward cut at its median, or at the threshold fitted on a calibration split of training demonstrations. Pairwise: expert vs baseline pairs ordered as the truth orders them; decisive: only pairs on opposite sides of the truth's toxic threshold.\n");
    let _ = writeln!(s, "| run | sign acc | sign F1 | median-thr. acc | calibrated acc | pairwise acc | decisive pairwise acc | Pearson | Spearman | Kendall | EPIC |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for run in &r.irl {
        let a = &run.agreement;
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.name,
            ci(run, "sign_accuracy", a.sign.accuracy),
            a.sign.f1,
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
    for (name, h) in [
        ("ground truth", &r.ppo_expert),
        (r.ppo_irl_reward.as_str(), &r.ppo_irl),
    ] {
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
    let _ = writeln!(s, "| policy | greedy mean tox | greedy toxic ratio | sampled mean tox | sampled toxic ratio | EMT | tox. prob. | distinct-1/2/3 | perplexity |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for p in &r.policies {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2}/{:.2}/{:.2} | {:.2} |",
            p.name,
            p.greedy_mean_toxicity,
            p.greedy_toxic_ratio,
            p.sampled.mean_toxicity,
            p.sampled.toxic_ratio,
            p.sampled.expected_max_toxicity,
            p.sampled.toxicity_probability,
            p.distinct.distinct_1,
            p.distinct.distinct_2,
            p.distinct.distinct_3,
            p.perplexity
        );
    }
    let _ = writeln!(s, "\n## Stage timings\n");
    for (name, secs) in &r.timings {
        let _ = writeln!(s, "- {name}: {secs:.1} s");
    }
    s
}

//! The paper's tables, printed and written as Markdown: recovered-reward quality per run
//! (with bootstrap intervals), the non-identifiability summary, PPO, and policy toxicity.

use std::fmt::Write as _;

use crate::policy_eval::PolicyReport;
use crate::results::{IrlRun, PipelineResults};

fn ci(run: &IrlRun, key: &str, value: f64) -> String {
    match run.intervals.get(key) {
        Some((lo, hi)) => format!("{value:.3} [{lo:.2}, {hi:.2}]"),
        None => format!("{value:.3}"),
    }
}

/// One row per reward: the paper's sign accuracy and F1, the offset-invariant accuracies,
/// pairwise accuracies, correlations and EPIC, with bootstrap intervals where computed.
pub fn agreement_table(runs: &[IrlRun]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| run | sign acc | sign F1 (paper) | sign F1 non-tox. | median-thr. acc | calibrated acc | pairwise acc | decisive pairwise acc | Pearson | Spearman | Kendall | EPIC |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for run in runs {
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
    s
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
    s.push_str(&agreement_table(&r.irl));
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
    s.push_str(&policy_table(&r.policies));
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

/// The policy toxicity table (what each judge scored, then one row per policy).
pub fn policy_table(policies: &[PolicyReport]) -> String {
    let mut s = String::new();
    let nan = f64::NAN;
    for p in policies {
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
    for p in policies {
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
    s
}

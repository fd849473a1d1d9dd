//! How well a reward agrees with the truth on held-out demonstrations: the agreement report
//! (the paper's accuracies and the offset-invariant ones, EPIC), the calibrated threshold fitted
//! on a validation split, label confusion, and bootstrap intervals over prompts.

use std::collections::BTreeMap;

use irl_core::evaluation::{self, ScoredResponses};
use irl_core::{Demonstration, RewardModel, TrainReport};
use tox_eval::metrics::{bootstrap_cis, BootstrapConfig};
use tox_eval::RewardAgreement;

use crate::results::IrlRun;

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

/// The validation demonstrations (the offset-invariant threshold is fitted on them) and their
/// true rewards.
pub struct Validation<'a> {
    /// The validation demonstrations.
    pub demos: &'a [Demonstration],
    /// Their true rewards.
    pub truth: &'a [f64],
}

/// Scores the held-out demonstrations with `model`, compares with the truth (the threshold of
/// the calibrated accuracy fitted on the validation split) and bootstraps intervals over
/// prompts; also scores the validation split, which ranks the runs.
#[allow(clippy::too_many_arguments)]
pub fn assess(
    name: &str,
    rm: &str,
    objective: &str,
    train: Option<TrainReport>,
    model: &dyn RewardModel,
    eval: &[Demonstration],
    truth: &[f64],
    validation: &Validation<'_>,
    resamples: usize,
    seed: u64,
) -> anyhow::Result<IrlRun> {
    let scored = evaluation::score_responses(model, eval, 64)?;
    let val = evaluation::score_responses(model, validation.demos, 64)?;
    let agreement = tox_eval::RewardAgreement::new(&scored.learned, truth)
        .with_pairs(&scored.pairs)
        .with_prompt_ids(&scored.prompt_ids)
        .with_calibration(&val.learned, validation.truth)
        .compute()?;
    let validation_agreement = evaluation::agreement(&val, validation.truth)?;
    let threshold = tox_eval::metrics::fit_threshold(&val.learned, validation.truth)?;
    let intervals = bootstrap_intervals(&scored, truth, threshold, resamples, seed)?;
    let mut confusion = [[0u64; 2]; 2];
    for (l, t) in scored.learned.iter().zip(truth) {
        confusion[usize::from(*t > 0.0)][usize::from(*l > threshold)] += 1;
    }
    Ok(IrlRun {
        name: name.to_owned(),
        reward_model: rm.to_owned(),
        objective: objective.to_owned(),
        train,
        agreement,
        validation: validation_agreement,
        confusion,
        intervals,
        dataset_texts: None,
    })
}

/// The share of `(expert, baseline)` response pairs ([`evaluation::response_pairs`]) in which
/// the truth prefers the expert: over all pairs, and over the decisive ones (one response
/// toxic, the other not). Ties count one half.
pub fn truth_prefers_expert(pairs: &[(usize, usize)], truth: &[f64]) -> (f64, f64) {
    let (mut all, mut decisive) = ((0.0, 0usize), (0.0, 0usize));
    for &(e, b) in pairs {
        let (e, b) = (truth[e], truth[b]);
        let win = match e.total_cmp(&b) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        };
        all = (all.0 + win, all.1 + 1);
        if (e > 0.0) != (b > 0.0) {
            decisive = (decisive.0 + win, decisive.1 + 1);
        }
    }
    let share = |(w, n): (f64, usize)| if n == 0 { f64::NAN } else { w / n as f64 };
    (share(all), share(decisive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::demo;

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

    #[test]
    fn truth_prefers_expert_counts_pairs_and_decisive_pairs() {
        // Layout: expert, then its baselines. Pairs: (5 > 3) win, (5 > -2) decisive win,
        // (-1 < 4) decisive loss, (2 = 2) tie.
        let demos = [demo("a", 2), demo("b", 1), demo("c", 1)];
        let truth = [5.0, 3.0, -2.0, -1.0, 4.0, 2.0, 2.0];
        let (all, decisive) = truth_prefers_expert(&evaluation::response_pairs(&demos), &truth);
        assert_eq!(all, (1.0 + 1.0 + 0.0 + 0.5) / 4.0);
        assert_eq!(decisive, 0.5);
    }
}

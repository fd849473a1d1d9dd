//! `irlhf implicit-reward`: the training-free reward `beta (log pi - log pi_ref)` of a DPO'd or
//! RLHF'd policy against its reference, for every (prompt, response) of a file, in reward-bench's
//! conventions (irl_core::implicit_scores), with the preference accuracy of each score on
//! preference data. Streams: batches are read, scored and appended to `scores.jsonl`, so memory
//! does not grow with the file and an interrupted run resumes after its last complete line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use irl_core::{ImplicitScorer, ImplicitScoring, JsonlAppender, ResponseScores};
use serde::{Deserialize, Serialize};

use super::models::{check_same_tokenizer, ModelArgs};
use super::records::{Fields, Record, Records};
use crate::progress::Progress;
use crate::run_store::claim_folder;

/// `irlhf implicit-reward`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct ImplicitRewardArgs {
    /// The DPO'd or RLHF'd policy (a directory or a Hub id `org/name[@revision]`).
    #[arg(long)]
    pub policy: PathBuf,
    /// Its reference (the model it was trained from).
    #[arg(long)]
    pub reference: PathBuf,
    /// JSONL of preference pairs (`prompt`, `chosen`, `rejected`) or of single responses
    /// (`prompt`, `response`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: `scores.jsonl` (one line per record), `summary.json`, `settings.toml`.
    #[arg(long)]
    #[serde(skip)]
    pub out: PathBuf,
    /// The KL coefficient: `reward = beta * log-ratio` (accuracies do not depend on it).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Responses per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Also write each response's tokens and per-token log-ratios.
    #[arg(long)]
    pub per_token: bool,
    /// Do not put the tokenizer's BOS token before the prompt (reward-bench does).
    #[arg(long)]
    pub no_bos: bool,
    /// Do not put the tokenizer's EOS token after the response (reward-bench does).
    #[arg(long)]
    pub no_eos: bool,
    /// Record field names.
    #[command(flatten)]
    #[serde(flatten)]
    pub fields: Fields,
    /// Device, dtype, threads.
    #[command(flatten)]
    #[serde(flatten)]
    pub models: ModelArgs,
    /// The reference's device, when not `--device` (e.g. the CPU, next to a policy on a GPU).
    #[arg(long)]
    pub reference_device: Option<lm_backend::DeviceChoice>,
}

/// One line of `scores.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreLine {
    /// The record's index in the data file (0-based, blank lines not counted).
    pub index: usize,
    /// The preferred response's scores (preference data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<ResponseScores>,
    /// The other response's scores (preference data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<ResponseScores>,
    /// The response's scores (single responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseScores>,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Records scored.
    pub records: usize,
    /// Of which preference pairs.
    pub pairs: usize,
    /// Preference accuracy of each score (chosen strictly above rejected).
    pub accuracy: std::collections::BTreeMap<String, f64>,
    /// Mean reward of the chosen, rejected or single responses.
    pub mean_reward: std::collections::BTreeMap<String, f64>,
    /// Seconds spent scoring in this invocation (model loading excluded).
    pub scoring_seconds: f64,
    /// Records scored in this invocation.
    pub scored_now: usize,
    /// The conventions used.
    pub scoring: ImplicitScoring,
}

/// The score names, as in `ResponseScores` and the accuracy table.
type Score = fn(&ResponseScores) -> f64;
const SCORES: [(&str, Score); 5] = [
    ("reward", |s| s.reward),
    ("reward_normalized", |s| s.reward_normalized),
    ("ref_free_sum", |s| s.ref_free_sum),
    ("ref_free_avg", |s| s.ref_free_avg),
    ("ref_free_norm", |s| s.ref_free_norm),
];

/// Runs the command and prints its table.
pub fn run(args: &ImplicitRewardArgs) -> anyhow::Result<Summary> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    // Everything is checked before anything is written: the model ids (cheap), the records (a
    // pass that only parses), the models, their tokenizers.
    crate::ground_truth::resolve(&args.policy)?;
    crate::ground_truth::resolve(&args.reference)?;
    let total =
        Records::open(&args.data, &args.fields)?.try_fold(0usize, |n, r| r.map(|_| n + 1))?;
    anyhow::ensure!(total > 0, "{}: no records", args.data.display());
    let (policy, tok, policy_dir) = args.models.causal_lm(&args.policy)?;
    let reference_device = args.reference_device.unwrap_or(args.models.device);
    let (reference, ref_tok, ref_dir) = args
        .models
        .causal_lm_on(&args.reference, reference_device)?;
    check_same_tokenizer((&tok, &policy_dir), (&ref_tok, &ref_dir), "")?;
    claim_folder(&args.out, "settings.toml", &toml::to_string(args)?)?;
    let scoring = ImplicitScoring {
        beta: args.beta,
        prepend_bos: !args.no_bos,
        append_eos: !args.no_eos,
        per_token: args.per_token,
    };
    let scorer = ImplicitScorer {
        policy: policy.as_ref(),
        reference: reference.as_ref(),
        tokenizer: &tok,
        scoring: &scoring,
    };
    let path = args.out.join("scores.jsonl");
    let mut out = JsonlAppender::open(&path)?;
    let done = out.complete_records();
    let progress = Progress::default();
    let bar = progress.bar(total as u64, "implicit reward");
    bar.set_position(done as u64);
    let start = Instant::now();
    let mut batch: Vec<(usize, Record)> = Vec::with_capacity(args.batch_size);
    let mut scored_now = 0;
    for (index, record) in Records::open(&args.data, &args.fields)?.enumerate() {
        let record = record?;
        if index < done {
            continue;
        }
        batch.push((index, record));
        // Batches are aligned to the file (records k*b .. k*b + b - 1), so that a resumed run
        // pads exactly as an uninterrupted one and writes the same bytes.
        if (index + 1) % args.batch_size == 0 {
            scored_now += write_batch(&scorer, &mut batch, &mut out)?;
            bar.set_position((done + scored_now) as u64);
        }
    }
    scored_now += write_batch(&scorer, &mut batch, &mut out)?;
    let scoring_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let summary = summarise(&path, scoring, scoring_seconds, scored_now)?;
    lm_backend::io::save::write_atomic(
        &args.out.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    print_table(&summary, &args.out);
    Ok(summary)
}

/// Scores the records of `batch` (both responses of a pair in one pass) and appends them.
fn write_batch(
    scorer: &ImplicitScorer<'_>,
    batch: &mut Vec<(usize, Record)>,
    out: &mut JsonlAppender,
) -> anyhow::Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let (mut prompts, mut responses) = (Vec::new(), Vec::new());
    for (_, r) in batch.iter() {
        match r {
            Record::Pair {
                prompt,
                chosen,
                rejected,
            } => {
                prompts.extend([prompt.as_str(), prompt.as_str()]);
                responses.extend([chosen.as_str(), rejected.as_str()]);
            }
            Record::Single { prompt, response } => {
                prompts.push(prompt);
                responses.push(response);
            }
        }
    }
    let first = batch[0].0;
    let mut scores = scorer
        .score(&prompts, &responses)
        .with_context(|| format!("scoring records {first}..{}", first + batch.len()))?
        .into_iter();
    let n = batch.len();
    for (index, r) in batch.drain(..) {
        let mut line = ScoreLine {
            index,
            chosen: None,
            rejected: None,
            response: None,
        };
        if matches!(r, Record::Pair { .. }) {
            line.chosen = scores.next();
            line.rejected = scores.next();
        } else {
            line.response = scores.next();
        }
        out.append(&line)?;
    }
    Ok(n)
}

/// Running sums over `scores.jsonl` (constant memory, whatever the file's length).
#[derive(Default)]
struct Tally {
    records: usize,
    pairs: usize,
    /// Pairs whose chosen response scores strictly above the rejected one, per score.
    wins: [usize; SCORES.len()],
    chosen_reward: f64,
    rejected_reward: f64,
    singles: usize,
    single_reward: f64,
}

impl Tally {
    fn add(&mut self, line: &ScoreLine) {
        self.records += 1;
        if let (Some(c), Some(r)) = (&line.chosen, &line.rejected) {
            self.pairs += 1;
            for (k, (_, score)) in SCORES.iter().enumerate() {
                self.wins[k] += usize::from(score(c) > score(r));
            }
            self.chosen_reward += c.reward;
            self.rejected_reward += r.reward;
        }
        if let Some(s) = &line.response {
            self.singles += 1;
            self.single_reward += s.reward;
        }
    }
}

/// Accuracies (as [`irl_core::preference_accuracy`]: chosen strictly above rejected) and means over
/// `scores.jsonl`, read line by line.
fn summarise(
    path: &Path,
    scoring: ImplicitScoring,
    scoring_seconds: f64,
    scored_now: usize,
) -> anyhow::Result<Summary> {
    let mut t = Tally::default();
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line: ScoreLine = serde_json::from_str(&line?)
            .with_context(|| format!("{}, line {}", path.display(), i + 1))?;
        t.add(&line);
    }
    let mut accuracy = std::collections::BTreeMap::new();
    let mut mean_reward = std::collections::BTreeMap::new();
    if t.pairs > 0 {
        let n = t.pairs as f64;
        for (k, (name, _)) in SCORES.iter().enumerate() {
            accuracy.insert((*name).to_owned(), t.wins[k] as f64 / n);
        }
        mean_reward.insert("chosen".to_owned(), t.chosen_reward / n);
        mean_reward.insert("rejected".to_owned(), t.rejected_reward / n);
    }
    if t.singles > 0 {
        mean_reward.insert("response".to_owned(), t.single_reward / t.singles as f64);
    }
    Ok(Summary {
        records: t.records,
        pairs: t.pairs,
        accuracy,
        mean_reward,
        scoring_seconds,
        scored_now,
        scoring,
    })
}

fn print_table(s: &Summary, out: &Path) {
    println!(
        "implicit reward of {} records ({} preference pairs)",
        s.records, s.pairs
    );
    if s.pairs > 0 {
        println!("\n| score | preference accuracy |\n|---|---|");
        for (name, _) in SCORES {
            println!("| {name} | {:.3} |", s.accuracy[name]);
        }
    }
    for (k, v) in &s.mean_reward {
        println!("mean reward ({k}): {v:.4}");
    }
    println!("scores in {}", out.join("scores.jsonl").display());
}

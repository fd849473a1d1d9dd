//! `irlhf demonstrations`: the expert's and the baseline's responses to the same prompts, as
//! irl-core demonstrations (resumable JSONL), through the pipeline's demonstrations stage.

use std::path::PathBuf;

use irl_core::{Demonstration, DemonstrationConfig};
use lm_backend::SamplingConfig;
use serde::{Deserialize, Serialize};

use super::models::{check_same_tokenizer, ModelArgs};
use super::prompts::PromptArgs;
use crate::progress::Progress;
use crate::run_store::claim_folder;
use crate::stages::demonstrations::{generate, Responders};

/// `irlhf demonstrations`.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct DemonstrationsArgs {
    /// The model whose reward is to be recovered (a directory or a Hub id).
    #[arg(long)]
    pub expert: PathBuf,
    /// The non-expert (the policy RLHF started from).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The prompts.
    #[command(flatten)]
    #[serde(flatten)]
    pub prompts: PromptArgs,
    /// Output folder: `demonstrations.jsonl`, `settings.toml`.
    #[arg(long)]
    #[serde(skip)]
    pub out: PathBuf,
    /// New tokens per response at most.
    #[arg(long, default_value_t = 100)]
    pub max_new_tokens: usize,
    /// Total length in tokens, prompt included (transformers' `max_length`; the paper: 100).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Sample instead of greedy decoding.
    #[arg(long)]
    pub sample: bool,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sampling top-k (0: off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Sampling top-p.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Baseline responses per prompt.
    #[arg(long, default_value_t = 1)]
    pub baselines_per_prompt: usize,
    /// Also store sequence log-probs under both models (importance-weighted max-entropy IRL).
    #[arg(long)]
    pub logprobs: bool,
    /// Prompts per generation batch.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device, dtype, threads.
    #[command(flatten)]
    #[serde(flatten)]
    pub models: ModelArgs,
}

impl DemonstrationsArgs {
    fn generation(&self) -> DemonstrationConfig {
        let sampling = if self.sample {
            SamplingConfig {
                do_sample: true,
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
            }
        } else {
            SamplingConfig::greedy()
        };
        let mut g = DemonstrationConfig::default();
        g.generation = g
            .generation
            .with_max_new_tokens(self.max_new_tokens)
            .with_sampling(sampling)
            .with_seed(self.seed);
        g.max_length = self.max_length;
        g.baselines_per_prompt = self.baselines_per_prompt;
        g.batch_size = self.batch_size;
        g.with_logprobs = Some(self.logprobs);
        g
    }
}

/// Runs the command and prints its table.
pub fn run(args: &DemonstrationsArgs) -> anyhow::Result<Vec<Demonstration>> {
    let prompts = args.prompts.read()?;
    let (expert, tok, expert_dir) = args.models.causal_lm(&args.expert)?;
    let (baseline, base_tok, base_dir) = args.models.causal_lm(&args.baseline)?;
    check_same_tokenizer(
        (&tok, &expert_dir),
        (&base_tok, &base_dir),
        " (the demonstrations' log-probs are read under both)",
    )?;
    claim_folder(&args.out, "settings.toml", &toml::to_string(args)?)?;
    let models = Responders {
        expert: expert.as_ref(),
        baseline: baseline.as_ref(),
        tokenizer: &tok,
    };
    let progress = Progress::default();
    let bar = progress.bar(prompts.len() as u64, "demonstrations");
    let path = args.out.join("demonstrations.jsonl");
    let demos = generate(&models, &prompts, &args.generation(), &path, &bar, 0)?;
    bar.finish_and_clear();
    print_table(&demos, &path);
    Ok(demos)
}

fn print_table(demos: &[Demonstration], path: &std::path::Path) {
    let n = demos.len().max(1) as f64;
    let words = |s: &str| s.split_whitespace().count() as f64;
    let expert: f64 = demos.iter().map(|d| words(&d.expert)).sum::<f64>() / n;
    let baselines: Vec<&String> = demos.iter().flat_map(|d| &d.baselines).collect();
    let baseline = baselines.iter().map(|b| words(b)).sum::<f64>() / baselines.len().max(1) as f64;
    let same = demos
        .iter()
        .filter(|d| d.baselines.contains(&d.expert))
        .count();
    println!("| demonstrations | expert words | baseline words | expert = a baseline |");
    println!("|---|---|---|---|");
    println!("| {} | {expert:.1} | {baseline:.1} | {same} |", demos.len());
    println!("written to {}", path.display());
}

//! The Rust side of scripts/bench/irl_epoch_paper_peer.py: one IRL epoch with [`IrlTrainer`]
//! (padded batches, the paper's max-margin objective, AdamW with zeroed gradients and clipping)
//! followed by the trainer's held-out evaluation against [`ProfanityCheck`] (loaded once, all
//! held-out texts scored in one call, the learned reward scored in batches). Prints one JSON
//! line of median seconds.
//!
//! ```text
//! cargo run --example bench_irl_epoch -- \
//!     --model-dir crates/lm-backend/tests/fixtures/gpt_neox_parallel \
//!     --train /tmp/x/train.jsonl --eval /tmp/x/eval.jsonl --reps 3
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use irl_core::{read_demonstrations, IrlTrainer, IrlTrainerConfig, LmReward, PaperMaxMargin};
use lm_backend::{load_causal_lm, DeviceChoice, Tokenizer};
use tch::Kind;
use tox_eval::ProfanityCheck;

#[derive(Parser)]
struct Args {
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Seed of the reward head and of the shuffling (the same every repetition).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The backbone: a Hugging Face GPT-NeoX directory with tokenizer.json.
    #[arg(long)]
    model_dir: PathBuf,
    /// Training demonstrations (irl-core JSONL).
    #[arg(long)]
    train: PathBuf,
    /// Held-out demonstrations (irl-core JSONL).
    #[arg(long)]
    eval: PathBuf,
    /// Demonstrations per optimiser step (the pipeline's default is 16).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Batch size of the held-out scoring.
    #[arg(long, default_value_t = 32)]
    eval_batch_size: usize,
    /// Learning rate (the paper's 1e-4 for 70M; it does not change the work).
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Tokens kept of `prompt + response` (left truncation), as in the pipeline.
    #[arg(long, default_value_t = 256)]
    max_length: usize,
    /// Length-grouped training batches (`IrlTrainerConfig::group_by_length`; off in the pipeline).
    #[arg(long)]
    group_by_length: bool,
    /// Repetitions (the median is reported); each starts from the same initial weights.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Paced by the peer script: one epoch per line read on stdin (until it closes), each
    /// answered with a JSON line of its seconds, so that the two sides alternate and a noisy
    /// stretch of the machine hits both; `--reps` is ignored.
    #[arg(long)]
    paced: bool,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.reps > 0, "--reps must be positive");
    let device = args.device.resolve()?;
    let train = read_demonstrations(&args.train)?;
    let eval = read_demonstrations(&args.eval)?;
    let mut cfg = IrlTrainerConfig::default()
        .with_epochs(1)
        .with_batch_size(args.batch_size)
        .with_lr(args.lr)
        .with_seed(args.seed)
        .with_group_by_length(args.group_by_length);
    cfg.eval_batch_size = args.eval_batch_size;
    let trainer = IrlTrainer::new(cfg);
    // One epoch from the same initial weights: (seconds, its report).
    let epoch = || -> anyhow::Result<(f64, Option<irl_core::EpochReport>)> {
        // Model construction is outside the timing, as on the Python side.
        let mut model = lm_backend::with_global_seed(args.seed as i64, || -> anyhow::Result<_> {
            let backbone = load_causal_lm(&args.model_dir, device, Kind::Float)?;
            let tok = Tokenizer::from_file(args.model_dir.join("tokenizer.json"))?;
            Ok(LmReward::new(backbone, tok, args.max_length))
        })?;
        let t = Instant::now();
        // The ground truth is part of the epoch and built inside the timing; its model is parsed
        // once per process (about 40 ms), so only the first repetition pays for the parse.
        let truth = ProfanityCheck::new()?;
        let report = trainer.train(
            &mut model,
            &PaperMaxMargin,
            &train,
            &eval,
            Some(&truth),
            None,
            |_| {},
        )?;
        Ok((t.elapsed().as_secs_f64(), report.epochs.into_iter().last()))
    };
    let mut times = Vec::new();
    let mut last = None;
    if args.paced {
        for line in std::io::stdin().lines() {
            line?;
            let (secs, report) = epoch()?;
            println!("{}", serde_json::json!({ "irl_epoch": secs }));
            std::io::Write::flush(&mut std::io::stdout())?;
            times.push(secs);
            last = report;
        }
        anyhow::ensure!(!times.is_empty(), "--paced: no epoch was asked for");
    } else {
        for _ in 0..args.reps {
            let (secs, report) = epoch()?;
            times.push(secs);
            last = report;
        }
    }
    let last = last.ok_or_else(|| anyhow::anyhow!("the trainer reported no epoch"))?;
    println!(
        "{}",
        serde_json::json!({
            "irl_epoch": median(times.clone()),
            "times": times,
            "train_demonstrations": train.len(),
            "eval_demonstrations": eval.len(),
            "batch_size": args.batch_size,
            "group_by_length": args.group_by_length,
            "steps": train.len().div_ceil(args.batch_size),
            "train_loss": last.train_loss,
            "eval_pairwise_accuracy": last
                .agreement
                .as_ref()
                .and_then(|a| a.pairwise_preference_accuracy),
            "torch_threads": tch::get_num_threads(),
        })
    );
    Ok(())
}

//! The Rust side of scripts/bench/ppo_peer_trl.py: times PPO iterations of
//! [`rlhf_ppo::PpoTrainer`] on the configuration the script gives TRL's `PPOTrainer` (fixed KL
//! coefficient, no reward scaling or clipping, no gradient clipping, all layers trained, sampling
//! at temperature 1 without top-k / top-p, no early stop at EOS) against an irl-core
//! [`irl_core::LmReward`] loaded from a `GPTNeoXForSequenceClassification`-style directory, and
//! prints one JSON line of median seconds per iteration (and per phase).
//!
//! ```text
//! cargo run --example bench_ppo -- --policy-dir crates/lm-backend/tests/fixtures/gpt_neox_parallel \
//!     --reward-dir /tmp/tiny_reward --reps 3
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use irl_core::{LmReward, RewardModel};
use lm_backend::{DeviceChoice, GptNeoX, GptNeoXConfig, Tokenizer};
use rlhf_ppo::{
    LearnedReward, LrSchedule, PpoConfig, PpoMode, PpoRunConfig, PpoTrainer, RewardFn, ScaleReward,
};
use tch::Kind;

#[derive(Parser)]
struct Args {
    /// Device (`cpu`, `cuda`, `cuda:N`, `auto`).
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// PPO seed (sampling, shuffling, the value head's initialisation).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// GPT-NeoX directory of the policy (also the frozen reference), with `tokenizer.json`.
    #[arg(long)]
    policy_dir: PathBuf,
    /// Reward-model directory as irl-core's `LmReward` saves it (`config.json`, safetensors with
    /// `gpt_neox.*`, `embed_out.weight`, `score.weight`, `tokenizer.json`).
    #[arg(long)]
    reward_dir: PathBuf,
    /// JSON list of prompt strings; one iteration uses all of them (default: 16 built-in ones).
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// New tokens per response (every response has exactly this many).
    #[arg(long, default_value_t = 16)]
    max_new_tokens: usize,
    /// PPO epochs per iteration.
    #[arg(long, default_value_t = 4)]
    ppo_epochs: usize,
    /// Minibatches per epoch (the rollouts are split into this many).
    #[arg(long, default_value_t = 4)]
    minibatches: usize,
    /// Fixed KL coefficient.
    #[arg(long, default_value_t = 0.05)]
    kl_coef: f64,
    /// Value-loss weight.
    #[arg(long, default_value_t = 0.1)]
    vf_coef: f64,
    /// AdamW learning rate (constant).
    #[arg(long, default_value_t = 3e-6)]
    lr: f64,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed iterations (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// libtorch intra-op threads (default: libtorch's).
    #[arg(long)]
    threads: Option<i32>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.reps >= 1, "--reps must be at least 1");
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let device = args.device.resolve()?;
    let prompts: Vec<String> = match &args.prompts {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => (0..16)
            .map(|i| format!("Prompt number {i} says that"))
            .collect(),
    };
    let n = prompts.len();
    anyhow::ensure!(
        args.minibatches >= 1 && n % args.minibatches == 0,
        "{n} prompts do not split into {} minibatches",
        args.minibatches
    );

    let policy = GptNeoX::from_pretrained(&args.policy_dir, device, Kind::Float)?;
    let reference = GptNeoX::from_pretrained(&args.policy_dir, device, Kind::Float)?;
    // TRL's stop_token=None: every response runs to max_new_tokens.
    let tokenizer = Tokenizer::from_file(args.policy_dir.join("tokenizer.json"))?.with_eos_id(None);

    let reward_cfg = GptNeoXConfig::from_file(&args.reward_dir.join("config.json"))?;
    let backbone = GptNeoX::new_random(reward_cfg, device, args.seed as i64)?;
    let reward_tok = Tokenizer::from_file(args.reward_dir.join("tokenizer.json"))?;
    let mut reward_model = LmReward::new(Box::new(backbone), reward_tok, 256);
    reward_model.load(&args.reward_dir)?;
    let reward: Box<dyn RewardFn> = Box::new(LearnedReward::new(Box::new(reward_model), n));

    let cfg = PpoConfig {
        mode: PpoMode::Corrected,
        lr: args.lr,
        adam_betas: (0.9, 0.999),
        adam_eps: 1e-8,
        weight_decay: 0.0,
        lr_schedule: LrSchedule::Constant,
        max_grad_norm: None,
        seed: args.seed,
        num_rollouts: n,
        chunk_size: n,
        batch_size: n / args.minibatches,
        ppo_epochs: args.ppo_epochs,
        num_layers_unfrozen: -1,
        init_kl_coef: args.kl_coef,
        target: None,
        gamma: 1.0,
        lam: 0.95,
        whiten_advantages: true,
        cliprange: 0.2,
        cliprange_value: 0.2,
        vf_coef: args.vf_coef,
        scale_reward: ScaleReward::None,
        ref_std: None,
        cliprange_reward: None,
        top_k: 0,
        top_p: 1.0,
        temperature: 1.0,
        max_new_tokens: args.max_new_tokens,
        seq_length: args.max_new_tokens + 64,
        ..PpoConfig::default()
    };
    let run = PpoRunConfig {
        iterations: args.warmup + args.reps,
        eval_interval: 0,
        ..PpoRunConfig::default()
    };
    let mut trainer = PpoTrainer::new(
        cfg,
        run,
        Box::new(policy),
        Box::new(reference),
        tokenizer,
        reward,
        prompts,
        Vec::new(),
    )?;

    let (mut total, mut generate, mut score, mut forward, mut update) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut response_length = 0.0;
    for i in 0..args.warmup + args.reps {
        let t = Instant::now();
        let stats = trainer.step()?;
        let elapsed = t.elapsed().as_secs_f64();
        if i >= args.warmup {
            total.push(elapsed);
            generate.push(stats.timings.generate);
            score.push(stats.timings.score);
            forward.push(stats.timings.forward);
            update.push(stats.timings.backward);
            response_length = stats.response_length;
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "iteration": median(total),
            "phases": {
                "generate": median(generate),
                "score": median(score),
                "forward": median(forward),
                "backward": median(update),
            },
            "rollouts": n,
            "response_length": response_length,
            "reps": args.reps,
            "threads": tch::get_num_threads(),
        })
    );
    Ok(())
}

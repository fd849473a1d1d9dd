//! The Rust side of scripts/bench/compare_peers.py: times the same work the script gives the
//! Python peers (scipy, alt-profanity-check, transformers) and prints JSON medians in seconds.
//!
//! ```text
//! cargo run --example bench_peers -- --model-dir crates/lm-backend/tests/fixtures/gpt_neox_parallel
//! ```

use std::time::Instant;

use clap::Parser;
use lm_backend::{generate, DeviceChoice, GenerationConfig, GptNeoX, SamplingConfig};
use tch::{Kind, Tensor};
use tox_eval::metrics::{kendall_tau_b, spearman};
use tox_eval::{ProfanityCheck, ToxicityScorer};

#[derive(Parser)]
struct Args {
    /// Device for the generation benchmark.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Seed (unused by the deterministic inputs; kept for the common flag set).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// GPT-NeoX directory for the generation benchmark.
    #[arg(long)]
    model_dir: std::path::PathBuf,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n: usize = 1_000_000;
    // Same integer sequences the Python script builds (many ties).
    let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64).collect();
    let y: Vec<f64> = (0..n).map(|i| ((i * 104_729 + 13) % 997) as f64).collect();
    let kendall = time(args.reps, || kendall_tau_b(&x, &y));
    let spear = time(args.reps, || spearman(&x, &y));

    let pc = ProfanityCheck::new()?;
    let texts: Vec<String> = (0..2000)
        .map(|i| format!("comment {i}: this movie was pretty good, you idiot"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let profanity = time(args.reps, || pc.score(&refs));

    let device = args.device.resolve()?;
    let model = GptNeoX::from_pretrained(&args.model_dir, device, Kind::Float)?;
    let ids = Tensor::full([32, 8], 5, (Kind::Int64, device));
    let mask = Tensor::ones([32, 8], (Kind::Int64, device));
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(48)
        .with_sampling(SamplingConfig::greedy());
    let gen = time(args.reps, || generate(&model, &ids, &mask, &cfg));
    println!(
        "{}",
        serde_json::json!({
            "kendall_tau_b_1m": kendall,
            "spearman_1m": spear,
            "profanity_check_2000": profanity,
            "greedy_generate_32x48": gen,
        })
    );
    Ok(())
}

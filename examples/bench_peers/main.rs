//! The Rust side of scripts/bench/compare_peers.py: times the same work the script gives the
//! Python peers (scipy, alt-profanity-check, transformers) and prints JSON medians in seconds.
//! Sampling rows (plain multinomial, no EOS, exactly `batch x new` tokens) run on the tiny
//! fixture and, when `--model-70m-dir` is given, on the Pythia-70M-shaped model the script
//! writes.
//!
//! ```text
//! cargo run --example bench_peers -- --model-dir crates/lm-backend/tests/fixtures/gpt_neox_parallel \
//!     [--model-70m-dir DIR --sample-70m 16x8x64] [--llama-dir DIR --llama-shape 8x8x32]
//! ```

use std::str::FromStr;
use std::time::Instant;

use clap::Parser;
use lm_backend::{generate, CausalLm, DeviceChoice, GenerationConfig, GptNeoX, SamplingConfig};
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
    /// Sampling row on the `--model-dir` model: batch x prompt length x new tokens.
    #[arg(long, default_value = "32x8x48")]
    tiny_sample: Shape,
    /// Pythia-70M-shaped GPT-NeoX directory (written by the script); no 70M row without it.
    #[arg(long)]
    model_70m_dir: Option<std::path::PathBuf>,
    /// Sampling row on the 70M-shaped model: batch x prompt length x new tokens.
    #[arg(long, default_value = "16x8x64")]
    sample_70m: Shape,
    /// Any causal LM directory (scripts/bench/llama_generation_peer.py writes a SmolLM2-135M
    /// shaped Llama): greedy and sampled rows of `--llama-shape` on it.
    #[arg(long)]
    llama_dir: Option<std::path::PathBuf>,
    /// Batch x prompt length x new tokens of the `--llama-dir` rows.
    #[arg(long, default_value = "8x8x32")]
    llama_shape: Shape,
}

/// `BxPxN`: batch, prompt length, new tokens.
#[derive(Clone, Copy, Debug)]
struct Shape {
    batch: i64,
    prompt: i64,
    new: usize,
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('x').collect();
        let bad = || format!("expected BATCHxPROMPTxNEW, got '{s}'");
        let [b, p, n] = parts.as_slice() else {
            return Err(bad());
        };
        Ok(Shape {
            batch: b.parse().map_err(|_| bad())?,
            prompt: p.parse().map_err(|_| bad())?,
            new: n.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.batch, self.prompt, self.new)
    }
}

/// Median seconds of batched sampling (temperature 1, no top-k / top-p, no EOS), after one
/// warm-up call; fails if a row got fewer than `shape.new` tokens.
fn time_sampling(
    model: &dyn CausalLm,
    shape: Shape,
    reps: usize,
    device: tch::Device,
) -> anyhow::Result<f64> {
    time_generation(model, shape, SamplingConfig::default(), reps, device)
}

/// Median seconds of generating `shape` with `sampling` (no EOS), after one warm-up call.
fn time_generation(
    model: &dyn CausalLm,
    shape: Shape,
    sampling: SamplingConfig,
    reps: usize,
    device: tch::Device,
) -> anyhow::Result<f64> {
    let ids = Tensor::full([shape.batch, shape.prompt], 5, (Kind::Int64, device));
    let mask = Tensor::ones([shape.batch, shape.prompt], (Kind::Int64, device));
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(shape.new)
        .with_sampling(sampling)
        .with_eos(None)
        .with_seed(0);
    let g = generate(model, &ids, &mask, &cfg)?;
    anyhow::ensure!(
        g.tokens.iter().all(|t| t.len() == shape.new),
        "sampling made fewer than {} tokens",
        shape.new
    );
    Ok(time(reps, || generate(model, &ids, &mask, &cfg)))
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
    let mut out = serde_json::json!({
        "kendall_tau_b_1m": kendall,
        "spearman_1m": spear,
        "profanity_check_2000": profanity,
        "greedy_generate_32x48": gen,
    });
    out[format!("sample_tiny_{}", args.tiny_sample)] =
        time_sampling(&model, args.tiny_sample, args.reps, device)?.into();
    if let Some(dir) = &args.model_70m_dir {
        let m70 = GptNeoX::from_pretrained(dir, device, Kind::Float)?;
        out[format!("sample_70m_{}", args.sample_70m)] =
            time_sampling(&m70, args.sample_70m, args.reps, device)?.into();
    }
    if let Some(dir) = &args.llama_dir {
        let llama = lm_backend::load_causal_lm(dir, device, Kind::Float)?;
        let shape = args.llama_shape;
        out[format!("llama_greedy_{shape}")] = time_generation(
            llama.as_ref(),
            shape,
            SamplingConfig::greedy(),
            args.reps,
            device,
        )?
        .into();
        out[format!("llama_sample_{shape}")] =
            time_sampling(llama.as_ref(), shape, args.reps, device)?.into();
    }
    println!("{out}");
    Ok(())
}

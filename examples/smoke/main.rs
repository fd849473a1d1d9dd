//! Smoke run: load libtorch, build (or load) a small GPT-NeoX, and generate with the library's
//! batched, KV-cached, seeded loop.
//!
//! ```text
//! cargo run --example smoke -- --device auto --seed 0
//! cargo run --example smoke -- --model-dir /path/to/pythia-70m --prompt "Hello"
//! ```

use clap::Parser;
use lm_backend::{
    generate, generate_text, CausalLm, DeviceChoice, GenerationConfig, GptNeoX, GptNeoXConfig,
    SamplingConfig, Tokenizer,
};
use tch::{Kind, Tensor};

#[derive(Parser)]
struct Args {
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Seed for the weights (random model) and the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A Hugging Face GPT-NeoX directory (config.json, model.safetensors, tokenizer.json);
    /// without it a tiny random model is built.
    #[arg(long)]
    model_dir: Option<std::path::PathBuf>,
    /// Prompt (with --model-dir).
    #[arg(long, default_value = "The weather today is")]
    prompt: String,
    /// New tokens to generate.
    #[arg(long, default_value_t = 16)]
    max_new_tokens: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.resolve()?;
    println!("libtorch ok, device {device:?}");
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(args.max_new_tokens)
        .with_sampling(SamplingConfig::default().with_top_k(30))
        .with_seed(args.seed);
    if let Some(dir) = args.model_dir {
        let model = GptNeoX::from_pretrained(&dir, device, Kind::Float)?;
        let tok = Tokenizer::from_file(dir.join("tokenizer.json"))?;
        let cfg = cfg.with_tokenizer_ids(&tok);
        let (_, texts) = generate_text(&model, &tok, &[args.prompt.as_str()], &cfg, device)?;
        println!("{}{}", args.prompt, texts[0]);
        return Ok(());
    }
    let model = GptNeoX::new_random(GptNeoXConfig::tiny(256), device, args.seed as i64)?;
    let ids = Tensor::from_slice(&[0i64, 0, 17, 42, 5, 9, 100, 7])
        .view([2, 4])
        .to_device(device);
    let mask = Tensor::from_slice(&[0i64, 0, 1, 1, 1, 1, 1, 1])
        .view([2, 4])
        .to_device(device);
    let t = std::time::Instant::now();
    let out = generate(&model, &ids, &mask, &cfg)?;
    let dt = t.elapsed().as_secs_f64();
    let n: usize = out.tokens.iter().map(Vec::len).sum();
    println!(
        "tiny GPT-NeoX ({} layers, vocab {}) generated {n} tokens in {dt:.3}s",
        model.info().num_layers,
        model.info().vocab_size
    );
    for (i, row) in out.tokens.iter().enumerate() {
        println!("row {i}: {row:?}");
    }
    Ok(())
}

//! `irlhf smoke`: load libtorch, build a tiny GPT-NeoX, generate with the library loop.

use clap::Args;
use lm_backend::{
    generate, CausalLm, DeviceChoice, GenerationConfig, GptNeoX, GptNeoXConfig, SamplingConfig,
};
use tch::Tensor;

/// Flags of `irlhf smoke`.
#[derive(Args, Debug)]
pub struct SmokeArgs {
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Seed for the weights and the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs the smoke check and prints what it did.
pub fn run(args: &SmokeArgs) -> anyhow::Result<()> {
    let device = args.device.resolve()?;
    let model = GptNeoX::new_random(GptNeoXConfig::tiny(256), device, args.seed as i64)?;
    let ids = Tensor::from_slice(&[0i64, 0, 17, 42, 5, 9, 100, 7])
        .view([2, 4])
        .to_device(device);
    let mask = Tensor::from_slice(&[0i64, 0, 1, 1, 1, 1, 1, 1])
        .view([2, 4])
        .to_device(device);
    let cfg = GenerationConfig::default()
        .with_max_new_tokens(16)
        .with_sampling(SamplingConfig::default().with_top_k(30))
        .with_seed(args.seed);
    let start = std::time::Instant::now();
    let out = generate(&model, &ids, &mask, &cfg)?;
    let n: usize = out.tokens.iter().map(Vec::len).sum();
    println!(
        "irlhf smoke: libtorch on {device:?}; tiny GPT-NeoX ({} layers) generated {n} tokens in {:.3} s",
        model.info().num_layers,
        start.elapsed().as_secs_f64()
    );
    for (i, row) in out.tokens.iter().enumerate() {
        println!("  row {i}: {row:?}");
    }
    Ok(())
}

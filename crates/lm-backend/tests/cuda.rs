//! CUDA checks (feature `cuda-tests`; run by scripts/gpu-check.sh on a GPU machine): the same
//! parity as on CPU, on the GPU, in float32 and bfloat16, and device-independent sampling.
#![cfg(feature = "cuda-tests")]

mod common;

use common::*;
use lm_backend::{generate, CausalLm, DeviceChoice, GenerationConfig, GptNeoX, SamplingConfig};
use tch::{Device, Kind};

fn cuda() -> Device {
    match DeviceChoice::Cuda(0).resolve() {
        Ok(d) => d,
        Err(e) => panic!("cuda-tests need a CUDA device: {e}"),
    }
}

#[test]
fn gpt_neox_logits_on_cuda_match_transformers() -> anyhow::Result<()> {
    let dev = cuda();
    let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), dev, Kind::Float)?;
    let r = reference("gpt_neox_parallel")?;
    let _g = tch::no_grad_guard();
    let out = model.forward(
        &r["input_ids"].to_device(dev),
        &r["attention_mask"].to_device(dev),
        None,
        false,
    )?;
    let d = max_abs_diff_masked(
        &out.logits.to_device(Device::Cpu),
        &r["logits"],
        &r["attention_mask"],
    );
    assert!(d < 1e-4, "cuda float32 logits differ by {d}");
    let bf = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), dev, Kind::BFloat16)?;
    let out = bf.forward(
        &r["input_ids"].to_device(dev),
        &r["attention_mask"].to_device(dev),
        None,
        false,
    )?;
    let d = max_abs_diff_masked(
        &out.logits.to_kind(Kind::Float).to_device(Device::Cpu),
        &r["logits"],
        &r["attention_mask"],
    );
    assert!(d < 0.25, "cuda bfloat16 logits differ by {d}");
    Ok(())
}

#[test]
fn greedy_and_seeded_generation_match_cpu() -> anyhow::Result<()> {
    let dev = cuda();
    let r = reference("gpt_neox_parallel")?;
    for sampling in [
        SamplingConfig::greedy(),
        SamplingConfig::default().with_top_k(20),
    ] {
        let cfg = GenerationConfig::default()
            .with_max_new_tokens(8)
            .with_sampling(sampling)
            .with_seed(3);
        let cpu = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), Device::Cpu, Kind::Float)?;
        let gpu = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), dev, Kind::Float)?;
        let a = generate(&cpu, &r["input_ids"], &r["attention_mask"], &cfg)?;
        let b = generate(
            &gpu,
            &r["input_ids"].to_device(dev),
            &r["attention_mask"].to_device(dev),
            &cfg,
        )?;
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(gpu.info().num_layers, 2);
    }
    Ok(())
}

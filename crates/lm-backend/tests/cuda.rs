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

/// The fused attention paths on CUDA: right-padded rows (fused causal) match transformers, and
/// the last-token pass equals the full pass, in float32 and bfloat16.
#[test]
fn fused_attention_and_last_token_pass_on_cuda() -> anyhow::Result<()> {
    let dev = cuda();
    let r = reference("gpt_neox_parallel")?;
    let left_mask = &r["attention_mask"];
    let ids = left_to_right_padding(&r["input_ids"], left_mask).to_device(dev);
    let mask = left_to_right_padding(left_mask, left_mask);
    let logits = left_to_right_padding(&r["logits"], left_mask);
    let _g = tch::no_grad_guard();
    for (kind, tol, last_tol) in [(Kind::Float, 1e-4, 1e-5), (Kind::BFloat16, 0.25, 0.1)] {
        let model = GptNeoX::from_pretrained(fixture("gpt_neox_parallel"), dev, kind)?;
        let dmask = mask.to_device(dev);
        let out = model.forward(&ids, &dmask, None, false)?;
        let d = max_abs_diff_masked(
            &out.logits.to_kind(Kind::Float).to_device(Device::Cpu),
            &logits,
            &mask,
        );
        assert!(d < tol, "{kind:?} right-padded logits differ by {d}");
        let full = lm_backend::last_token_hidden(&out.hidden, &dmask)?;
        let fast = model.forward_last_hidden(&ids, &dmask, false)?;
        let d = max_abs_diff(
            &fast.to_kind(Kind::Float).to_device(Device::Cpu),
            &full.to_kind(Kind::Float).to_device(Device::Cpu),
        );
        assert!(d < last_tol, "{kind:?} last-token pass differs by {d}");
    }
    Ok(())
}

/// Every decoder family on CUDA: float32 logits within 1e-4 of transformers, bfloat16 within
/// 5% (relative norm), with left padding.
#[test]
fn decoder_families_on_cuda_match_transformers() -> anyhow::Result<()> {
    let dev = cuda();
    for name in [
        "llama_gqa",
        "llama_tied",
        "llama_rope_yarn",
        "mistral_sliding",
        "qwen2",
        "qwen3",
        "gemma2",
        "olmo2",
    ] {
        let r = reference(name)?;
        let mask = &r["attention_mask"];
        let _g = tch::no_grad_guard();
        for kind in [Kind::Float, Kind::BFloat16] {
            let model = lm_backend::load_causal_lm(fixture(name), dev, kind)?;
            let logits = model
                .forward(
                    &r["input_ids"].to_device(dev),
                    &mask.to_device(dev),
                    None,
                    false,
                )?
                .logits
                .to_kind(Kind::Float)
                .to_device(Device::Cpu);
            if kind == Kind::Float {
                let d = max_abs_diff_masked(&logits, &r["logits"], mask);
                assert!(d < 1e-4, "{name}: cuda float32 logits differ by {d}");
            } else {
                let real = mask.to_kind(Kind::Float).unsqueeze(-1);
                let want = r["logits"].multiply(&real);
                let got = logits.multiply(&real);
                let rel = (&got - &want).norm().double_value(&[]) / want.norm().double_value(&[]);
                assert!(rel < 0.05, "{name}: cuda bfloat16 relative error {rel}");
            }
        }
    }
    Ok(())
}

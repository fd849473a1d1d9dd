//! Stage 1: the world (prompts, the dataset's texts) and the original model — the toy world
//! with a freshly pretrained model, or your checkpoints and prompts (`[external]`).

use std::path::{Path, PathBuf};

use lm_backend::Tokenizer;
use tch::Device;

use crate::config::PipelineConfig;
use crate::ground_truth::{resolve, GroundTruth};
use crate::progress::Progress;
use crate::toy_world::{build_world, pretrain_original, world_from_file, World};

/// What the later stages start from.
pub struct WorldOutputs {
    /// Prompts and dataset texts.
    pub world: World,
    /// The policy RLHF starts from (and the reference of its KL penalty).
    pub original: PathBuf,
    /// The demonstrations' non-expert and the `lm` reward's backbone (default: `original`).
    pub baseline: PathBuf,
    /// The ground-truth scorer and the true reward.
    pub ground_truth: GroundTruth,
    /// The original model's tokenizer.
    pub tokenizer: Tokenizer,
}

/// Builds (or reloads from `out/world`) the world and the original model.
pub fn run(
    cfg: &PipelineConfig,
    out: &Path,
    device: Device,
    progress: &Progress,
) -> anyhow::Result<WorldOutputs> {
    let (world, original, ground_truth) = match &cfg.external {
        Some(ext) => (
            world_from_file(ext, cfg.seed)?,
            resolve(&ext.policy_dir)?,
            GroundTruth::from_external(ext, cfg.devices().reward)?,
        ),
        None => {
            let (world, original) = toy(cfg, out, device, progress)?;
            (world, original, GroundTruth::profanity_check()?)
        }
    };
    let baseline = cfg
        .external
        .as_ref()
        .and_then(|e| e.baseline_dir.as_deref())
        .map_or_else(|| Ok(original.clone()), resolve)?;
    let tokenizer = Tokenizer::from_file(original.join("tokenizer.json"))?;
    Ok(WorldOutputs {
        world,
        original,
        baseline,
        ground_truth,
        tokenizer,
    })
}

/// The toy world and its pretrained original model.
fn toy(
    cfg: &PipelineConfig,
    out: &Path,
    device: Device,
    progress: &Progress,
) -> anyhow::Result<(World, PathBuf)> {
    let world_dir = out.join("world");
    let world = build_world(&cfg.world, cfg.seed, &world_dir)?;
    let bar = progress.bar(cfg.pretrain.steps as u64, "pretrain original");
    let original = pretrain_original(
        &world,
        &cfg.model,
        &cfg.pretrain,
        &world_dir.join("tokenizer.json"),
        cfg.seed,
        &out.join("models/original"),
        device,
        |_, loss| {
            bar.set_message(format!("loss {loss:.3}"));
            bar.inc(1);
        },
    )?;
    bar.finish();
    Ok((world, original))
}

//! The embedded offline default world: a generated corpus, a BPE tokenizer trained on it, and a
//! tiny GPT-NeoX (or Llama, `[model] architecture`) pretrained on it from scratch (the "original" model), all seeded and cached in
//! the run folder.

pub mod corpus;
pub mod tokenizer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lm_backend::{
    CausalLm, Decoder, DecoderConfig, GptNeoX, GptNeoXConfig, LmTrainConfig, Tokenizer,
};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::config::{ToyArchitecture, ToyModelConfig, WorldConfig};
pub use corpus::{generate_corpus, ToyText};

/// Prompts of the world, split, with the corpus's original continuation of each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    /// Training prompts.
    pub train_prompts: Vec<String>,
    /// Held-out prompts.
    pub eval_prompts: Vec<String>,
    /// The first continuation the corpus has for each prompt.
    pub originals: BTreeMap<String, String>,
    /// The corpus texts (for pretraining).
    pub texts: Vec<String>,
}

impl World {
    /// Prompt -> original continuation, as the relative toxicity reward wants it.
    pub fn originals_map(&self) -> HashMap<String, String> {
        self.originals.clone().into_iter().collect()
    }
}

/// A world from your prompt file (JSONL, CSV or Parquet through irlhf-data): de-duplicated
/// prompts, a seeded train/eval split that is stable when rows are appended, and the dataset's
/// original continuations where the file has them.
pub fn world_from_file(ext: &crate::config::ExternalConfig, seed: u64) -> anyhow::Result<World> {
    let mut map = irlhf_data::ColumnMap::default().with_prompt_field(ext.prompt_field.clone());
    if let Some(c) = &ext.continuation_field {
        map = map.with_continuation_field(Some(c.clone()));
    }
    let mut records = irlhf_data::read_prompts(&ext.prompts, &map)?;
    if let Some(m) = ext.max_prompts {
        records.truncate(m);
    }
    let mut originals = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::new();
    for r in records {
        if let Some(o) = &r.original_continuation {
            originals
                .entry(r.prompt.clone())
                .or_insert_with(|| o.clone());
        }
        if seen.insert(r.prompt.clone()) {
            unique.push(r);
        }
    }
    let split = irlhf_data::TrainEvalSplit::new(seed).with_eval_fraction(ext.eval_fraction);
    let parts = split.partition(unique)?;
    Ok(World {
        train_prompts: parts.train.into_iter().map(|r| r.prompt).collect(),
        eval_prompts: parts.eval.into_iter().map(|r| r.prompt).collect(),
        originals,
        texts: Vec::new(),
    })
}

/// Builds (or reloads from `dir/world.json` and `dir/tokenizer.json`) the world.
pub fn build_world(cfg: &WorldConfig, seed: u64, dir: &Path) -> anyhow::Result<World> {
    std::fs::create_dir_all(dir)?;
    let world_path = dir.join("world.json");
    let tok_path = dir.join("tokenizer.json");
    if world_path.is_file() && tok_path.is_file() {
        return Ok(serde_json::from_str(&std::fs::read_to_string(
            &world_path,
        )?)?);
    }
    let corpus = generate_corpus(cfg.corpus_size, cfg.toxic_share, seed);
    let texts: Vec<String> = corpus.iter().map(ToyText::text).collect();
    tokenizer::train_tokenizer(&texts, cfg.vocab_size, &tok_path)?;
    let mut originals = BTreeMap::new();
    for t in &corpus {
        originals
            .entry(t.prompt.clone())
            .or_insert_with(|| t.continuation.clone());
    }
    let mut prompts: Vec<String> = originals.keys().cloned().collect();
    prompts.shuffle(&mut tox_eval::seeds::rng_for(seed, "world/prompt-order", 0));
    let n_eval = ((prompts.len() as f64) * cfg.eval_fraction).round() as usize;
    let eval_prompts = prompts.split_off(prompts.len() - n_eval.min(prompts.len()));
    let world = World {
        train_prompts: prompts,
        eval_prompts,
        originals,
        texts,
    };
    lm_backend::io::save::write_atomic(
        &world_path,
        serde_json::to_string_pretty(&world)?.as_bytes(),
    )?;
    Ok(world)
}

/// Pretrains the original model on the corpus into `dir` (skipped when already there).
#[allow(clippy::too_many_arguments)]
pub fn pretrain_original(
    world: &World,
    model_cfg: &ToyModelConfig,
    train_cfg: &LmTrainConfig,
    tokenizer_path: &Path,
    seed: u64,
    dir: &Path,
    device: tch::Device,
    mut on_step: impl FnMut(usize, f64),
) -> anyhow::Result<PathBuf> {
    if dir.join("model.safetensors").is_file() {
        return Ok(dir.to_path_buf());
    }
    let tok = Tokenizer::from_file(tokenizer_path)?;
    let eot = tok.eos_id().unwrap_or(0);
    let model = new_toy_model(model_cfg, tok.vocab_size() as i64, eot, seed, device)?;
    // Each text ends with <|endoftext|> so the model learns to stop.
    let seqs: Vec<Vec<i64>> = world
        .texts
        .iter()
        .map(|t| {
            tok.encode(t).map(|mut ids| {
                ids.push(eot);
                ids
            })
        })
        .collect::<lm_backend::Result<_>>()?;
    lm_backend::train_causal_lm(model.as_ref(), &seqs, eot, train_cfg, &mut on_step)?;
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    model.save(&tmp)?;
    std::fs::copy(tokenizer_path, tmp.join("tokenizer.json"))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(&tmp, dir)?;
    Ok(dir.to_path_buf())
}

/// The untrained toy model of `cfg`'s family, seeded; `eot` is its BOS and EOS.
fn new_toy_model(
    cfg: &ToyModelConfig,
    vocab: i64,
    eot: i64,
    seed: u64,
    device: tch::Device,
) -> anyhow::Result<Box<dyn CausalLm>> {
    let head_dim = cfg.hidden_size / cfg.num_heads;
    Ok(match cfg.architecture {
        ToyArchitecture::GptNeox => {
            let mut c = GptNeoXConfig::tiny(vocab);
            c.hidden_size = cfg.hidden_size;
            c.num_layers = cfg.num_layers;
            c.num_heads = cfg.num_heads;
            c.head_dim = head_dim;
            c.rotary_ndims = (head_dim / 4).max(2) / 2 * 2;
            c.intermediate_size = cfg.intermediate_size;
            c.bos_token_id = Some(eot);
            c.eos_token_id = Some(eot);
            Box::new(GptNeoX::new_random(c, device, seed as i64)?)
        }
        ToyArchitecture::Llama => {
            let kv_heads = if cfg.num_heads % 2 == 0 {
                cfg.num_heads / 2
            } else {
                cfg.num_heads
            };
            let json = serde_json::json!({
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "vocab_size": vocab,
                "hidden_size": cfg.hidden_size,
                "num_hidden_layers": cfg.num_layers,
                "num_attention_heads": cfg.num_heads,
                "num_key_value_heads": kv_heads,
                "head_dim": head_dim,
                "intermediate_size": cfg.intermediate_size,
                "hidden_act": "silu",
                "rms_norm_eps": 1e-6,
                "max_position_embeddings": 512,
                "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
                "tie_word_embeddings": false,
                "bos_token_id": eot,
                "eos_token_id": eot,
                "pad_token_id": eot,
                "dtype": "float32",
            });
            let c = DecoderConfig::from_json(
                &json,
                Path::new("[model] architecture = \"llama\""),
                &lm_backend::models::llama::FAMILY,
            )?;
            Box::new(Decoder::new_random(c, device, seed as i64)?)
        }
    })
}

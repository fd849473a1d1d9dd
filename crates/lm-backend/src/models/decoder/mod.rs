//! The decoder skeleton the Llama-style families share (`modeling_llama.py` and the families
//! derived from it): token embedding, layers of grouped-query attention with rotary embeddings
//! and gated MLPs, final RMSNorm, output projection (tied or not). A family is its
//! [`Family`] (names, defaults, differences); see `models/llama.rs` and its neighbours.

pub mod attention;
pub mod classification;
pub mod config;
pub mod layer;

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

pub use classification::DecoderForSequenceClassification;
pub use config::{DecoderConfig, Family, NormPlacement, QkNorm};
pub use layer::DecoderLayer;

use crate::causal_lm::{CausalLm, LmInfo};
use crate::error::Result;
use crate::io::model_dir::ModelDir;
use crate::io::weights::Checkpoint;
use crate::nn::attention_mask::{position_ids, windowed_causal_bias};
use crate::nn::causal_attention::CausalMask;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;
use crate::nn::rms_norm::RmsNorm;
use crate::nn::rotary::Rotary;

/// Buffers older checkpoints carry that are not parameters.
const KNOWN_BUFFERS: &[&str] = &[".rotary_emb.inv_freq"];

/// A Llama-style `*ForCausalLM`.
#[derive(Debug)]
pub struct Decoder {
    vs: nn::VarStore,
    cfg: DecoderConfig,
    info: LmInfo,
    embed_tokens: nn::Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Option<Tensor>,
    rotary: Rotary,
}

/// The masks of one forward pass: one for the full-attention layers, one for the sliding ones.
struct Masks {
    full: CausalMask,
    sliding: Option<CausalMask>,
}

impl Decoder {
    /// Loads a Hugging Face directory of `family` onto `device` in `kind`.
    pub fn from_pretrained(
        family: &Family,
        dir: impl AsRef<Path>,
        device: Device,
        kind: Kind,
    ) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let json = md.config_json()?;
        let cfg = DecoderConfig::from_json(&json, &md.config, family)?;
        let mut model = crate::global_rng::with_global_rng(|| Self::build(cfg, device, true))?;
        let tied = model.cfg.tie_word_embeddings;
        model.load_weights(&md, kind, |name| tied && name == "lm_head.weight")?;
        if let Some(ids) = crate::io::generation_defaults::generation_eos_ids(&md.dir)? {
            model.info.stop_token_ids = ids;
        }
        Ok(model)
    }

    /// Reads `md`'s weights into the variables (strictly: every variable, no unknown tensor
    /// except known buffers and what `skip` accepts), then converts to `kind`.
    fn load_weights(
        &mut self,
        md: &ModelDir,
        kind: Kind,
        skip: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let ckpt = Checkpoint::read(&md.weight_files)?;
        ckpt.load_into(&self.vs, |name| {
            KNOWN_BUFFERS.iter().any(|b| name.ends_with(b)) || skip(name)
        })?;
        if kind != Kind::Float {
            self.vs.set_kind(kind);
        }
        Ok(())
    }

    /// Builds the model with HF-style random initialisation (normal(0, 0.02), zero biases),
    /// seeded.
    pub fn new_random(cfg: DecoderConfig, device: Device, seed: i64) -> Result<Self> {
        crate::global_rng::with_global_seed(seed, || {
            let model = Self::build(cfg, device, true)?;
            crate::nn::init::init_like_hf(&model.vs, 0.02)?;
            Ok(model)
        })
    }

    /// The model's variables, with an output projection when `lm_head` and not tied.
    fn build(cfg: DecoderConfig, device: Device, lm_head: bool) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let base = &root / "model";
        let embed_tokens = nn::embedding(
            &base / "embed_tokens",
            cfg.vocab_size,
            cfg.hidden_size,
            Default::default(),
        );
        let layers = (0..cfg.num_layers)
            .map(|i| DecoderLayer::new(&base / "layers" / i, &cfg, cfg.sliding_layers[i]))
            .collect();
        let norm = RmsNorm::new(
            &base / "norm",
            cfg.hidden_size,
            cfg.rms_norm_eps,
            cfg.norm_style,
        );
        let lm_head = (lm_head && !cfg.tie_word_embeddings).then(|| {
            (&root / "lm_head").var(
                "weight",
                &[cfg.vocab_size, cfg.hidden_size],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            )
        });
        let rotary = Rotary::from_spec(cfg.rope.clone(), device)?;
        let info = LmInfo {
            model_type: cfg.model_type.clone(),
            vocab_size: cfg.vocab_size,
            hidden_size: cfg.hidden_size,
            num_layers: cfg.num_layers,
            max_positions: Some(cfg.max_positions),
            eos_token_id: cfg.eos_token_ids.first().copied(),
            stop_token_ids: cfg.eos_token_ids.clone(),
            bos_token_id: cfg.bos_token_id,
        };
        Ok(Decoder {
            vs,
            cfg,
            info,
            embed_tokens,
            layers,
            norm,
            lm_head,
            rotary,
        })
    }

    /// The runtime configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// The full and sliding-window masks for `new_len` new tokens after `past` cached ones.
    /// Soft-capped scores need the eager bias; a window that covers every key is no window.
    fn masks(&self, attention_mask: &Tensor, new_len: i64, past: i64, kind: Kind) -> Result<Masks> {
        let eager = |window| -> Result<CausalMask> {
            Ok(CausalMask::Bias(windowed_causal_bias(
                attention_mask,
                new_len,
                window,
                kind,
            )?))
        };
        let full = if self.cfg.attn_softcap.is_some() {
            eager(None)?
        } else {
            CausalMask::new(attention_mask, new_len, past, kind)?
        };
        let total = past + new_len;
        let sliding = match self.cfg.sliding_window {
            Some(w) if w < total && self.layers.iter().any(|l| l.sliding) => Some(eager(Some(w))?),
            _ => None,
        };
        Ok(Masks { full, sliding })
    }
}

impl CausalLm for Decoder {
    fn info(&self) -> &LmInfo {
        &self.info
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let embeds = self.embed_tokens.forward(input_ids);
        self.forward_hidden_from_embeds(&embeds, attention_mask, cache, train)
    }

    fn input_embedding_weight(&self) -> Option<&Tensor> {
        Some(&self.embed_tokens.ws)
    }

    fn forward_hidden_from_embeds(
        &self,
        embeds: &Tensor,
        attention_mask: &Tensor,
        mut cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let new_len = embeds.size()[1];
        let kind = embeds.kind();
        let mut x = if self.cfg.scale_embeddings {
            // transformers multiplies by sqrt(hidden) rounded to the activations' dtype.
            let normalizer = Tensor::from((self.cfg.hidden_size as f64).sqrt())
                .f_to_kind(kind)?
                .f_to_device(embeds.device())?;
            embeds.f_mul(&normalizer)?
        } else {
            embeds.shallow_clone()
        };
        let positions = position_ids(attention_mask, new_len)?;
        let cos_sin = self.rotary.cos_sin(&positions, kind)?;
        let past = cache.as_deref().map_or(0, KvCache::seq_len);
        let masks = self.masks(attention_mask, new_len, past, kind)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let mask = match (&masks.sliding, layer.sliding) {
                (Some(m), true) => m,
                _ => &masks.full,
            };
            let c = cache.as_deref_mut().map(|c| (c, i));
            x = layer.forward(&x, mask, &self.rotary, &cos_sin, c, train)?;
        }
        self.norm.forward(&x)
    }

    fn output_weight(&self) -> Option<&Tensor> {
        if self.cfg.final_softcap.is_some() {
            return None;
        }
        Some(self.lm_head.as_ref().unwrap_or(&self.embed_tokens.ws))
    }

    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = self.lm_head.as_ref().unwrap_or(&self.embed_tokens.ws);
        let logits = hidden.f_matmul(&w.f_tr()?)?;
        Ok(match self.cfg.final_softcap {
            Some(cap) => logits.f_div_scalar(cap)?.f_tanh()?.f_mul_scalar(cap)?,
            None => logits,
        })
    }

    fn linears(&self) -> Vec<&Linear> {
        self.layers.iter().flat_map(DecoderLayer::linears).collect()
    }

    fn layer_prefix(&self, i: usize) -> String {
        format!("model.layers.{i}.")
    }

    fn head_prefixes(&self) -> Vec<String> {
        vec!["model.norm.".into(), "lm_head.".into()]
    }

    fn config_json(&self) -> serde_json::Value {
        self.cfg.json.clone()
    }
}

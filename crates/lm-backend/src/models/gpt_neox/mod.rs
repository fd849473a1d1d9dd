//! GPT-NeoX (Black et al. 2022, "GPT-NeoX-20B"; the Pythia suite, Biderman et al. 2023),
//! mirroring `transformers/models/gpt_neox/modeling_gpt_neox.py` (`GPTNeoXForCausalLM`):
//! partial rotary embeddings, parallel or sequential residual, untied `embed_out`.

pub mod attention;
pub mod config;
pub mod mlp;

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

pub use attention::GptNeoXAttention;
pub use config::GptNeoXConfig;
pub use mlp::GptNeoXMlp;

use crate::causal_lm::{CausalLm, LmInfo};
use crate::error::Result;
use crate::io::model_dir::ModelDir;
use crate::io::weights::Checkpoint;
use crate::nn::attention_mask::position_ids;
use crate::nn::causal_attention::CausalMask;
use crate::nn::heads::{last_token_hidden, last_token_index};
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;
use crate::nn::rotary::Rotary;

/// Non-parameter buffers that real checkpoints carry and that are skipped on purpose.
const KNOWN_BUFFERS: &[&str] = &[
    ".attention.bias",
    ".attention.masked_bias",
    ".attention.rotary_emb.inv_freq",
    ".rotary_emb.inv_freq",
];

/// One transformer layer.
#[derive(Debug)]
pub struct GptNeoXLayer {
    input_layernorm: nn::LayerNorm,
    post_attention_layernorm: nn::LayerNorm,
    attention: GptNeoXAttention,
    mlp: GptNeoXMlp,
    parallel_residual: bool,
    hidden_dropout: f64,
}

impl GptNeoXLayer {
    fn new(vs: nn::Path, cfg: &GptNeoXConfig) -> Self {
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        let h = cfg.hidden_size;
        GptNeoXLayer {
            input_layernorm: nn::layer_norm(&vs / "input_layernorm", vec![h], ln),
            post_attention_layernorm: nn::layer_norm(&vs / "post_attention_layernorm", vec![h], ln),
            attention: GptNeoXAttention::new(&vs / "attention", cfg),
            mlp: GptNeoXMlp::new(&vs / "mlp", cfg),
            parallel_residual: cfg.parallel_residual,
            hidden_dropout: cfg.hidden_dropout,
        }
    }

    /// The attention and MLP projections.
    fn linears(&self) -> impl Iterator<Item = &Linear> {
        let attn = self.attention.linears();
        let mlp = self.mlp.linears();
        attn.into_iter().chain(mlp)
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: &CausalMask,
        rotary: &Rotary,
        cos_sin: &(Tensor, Tensor),
        cache: Option<(&mut KvCache, usize)>,
        train: bool,
    ) -> Result<Tensor> {
        let attn = self
            .attention
            .forward(
                &self.input_layernorm.forward(x),
                mask,
                rotary,
                cos_sin,
                cache,
                train,
            )?
            .f_dropout(self.hidden_dropout, train)?;
        self.add_attention_and_mlp(x, &attn, train)
    }

    /// The residual stream `x` plus the attention output `attn` and the MLP, in parallel
    /// (the MLP reads `x`) or in sequence (it reads `x + attn`).
    fn add_attention_and_mlp(&self, x: &Tensor, attn: &Tensor, train: bool) -> Result<Tensor> {
        let mlp = |input: &Tensor| -> Result<Tensor> {
            Ok(self
                .mlp
                .forward(&self.post_attention_layernorm.forward(input), train)?
                .f_dropout(self.hidden_dropout, train)?)
        };
        if self.parallel_residual {
            Ok(x.f_add(attn)?.f_add(&mlp(x)?)?)
        } else {
            let x = x.f_add(attn)?;
            Ok(x.f_add(&mlp(&x)?)?)
        }
    }

    /// The layer's output `[batch, hidden]` at position `last[b]` of each row only (no cache).
    fn forward_last(
        &self,
        x: &Tensor,
        last: &Tensor,
        attention_mask: &Tensor,
        rotary: &Rotary,
        cos_sin: &(Tensor, Tensor),
        train: bool,
    ) -> Result<Tensor> {
        let attn = self
            .attention
            .forward_last(
                &self.input_layernorm.forward(x),
                last,
                attention_mask,
                rotary,
                cos_sin,
                train,
            )?
            .f_dropout(self.hidden_dropout, train)?;
        self.add_attention_and_mlp(&crate::nn::heads::last_token_rows(x, last)?, &attn, train)
    }
}

/// `GPTNeoXForCausalLM`.
#[derive(Debug)]
pub struct GptNeoX {
    vs: nn::VarStore,
    cfg: GptNeoXConfig,
    info: LmInfo,
    embed_in: nn::Embedding,
    layers: Vec<GptNeoXLayer>,
    final_layer_norm: nn::LayerNorm,
    embed_out: Option<Tensor>,
    rotary: Rotary,
}

impl GptNeoX {
    /// Builds the model with HF-style random initialisation (normal(0, 0.02) weights, zero
    /// biases, unit layer norms), seeded.
    pub fn new_random(cfg: GptNeoXConfig, device: Device, seed: i64) -> Result<Self> {
        crate::global_rng::with_global_seed(seed, || {
            let model = Self::build(cfg, device);
            crate::nn::init::init_like_hf(&model.vs, 0.02)?;
            Ok(model)
        })
    }

    /// Loads a Hugging Face GPT-NeoX directory onto `device` in `kind` (e.g. `Kind::Float`).
    pub fn from_pretrained(dir: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let cfg = GptNeoXConfig::from_file(&md.config)?;
        // Building draws random initial values; they are overwritten, but the draws must not
        // interleave with another thread's seeded block.
        let mut model = crate::global_rng::with_global_rng(|| Self::build(cfg, device));
        let ckpt = Checkpoint::read(&md.weight_files)?;
        let tied = model.cfg.tie_word_embeddings;
        ckpt.load_into(&model.vs, |name| {
            KNOWN_BUFFERS.iter().any(|b| name.ends_with(b)) || (tied && name == "embed_out.weight")
        })?;
        if kind != Kind::Float {
            model.vs.set_kind(kind);
        }
        Ok(model)
    }

    fn build(cfg: GptNeoXConfig, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let base = &root / "gpt_neox";
        let embed_in = nn::embedding(
            &base / "embed_in",
            cfg.vocab_size,
            cfg.hidden_size,
            Default::default(),
        );
        let layers = (0..cfg.num_layers)
            .map(|i| GptNeoXLayer::new(&base / "layers" / i, &cfg))
            .collect();
        let final_layer_norm = nn::layer_norm(
            &base / "final_layer_norm",
            vec![cfg.hidden_size],
            nn::LayerNormConfig {
                eps: cfg.layer_norm_eps,
                ..Default::default()
            },
        );
        let embed_out = (!cfg.tie_word_embeddings).then(|| {
            (&root / "embed_out").var(
                "weight",
                &[cfg.vocab_size, cfg.hidden_size],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            )
        });
        let rotary = Rotary::new(cfg.rotary_ndims, cfg.rotary_base, device);
        let info = LmInfo {
            model_type: "gpt_neox".into(),
            vocab_size: cfg.vocab_size,
            hidden_size: cfg.hidden_size,
            num_layers: cfg.num_layers,
            // Rotary positions have no hard bound; the model was trained for this many.
            max_positions: Some(cfg.max_positions),
            eos_token_id: cfg.eos_token_id,
            stop_token_ids: cfg.eos_token_id.into_iter().collect(),
            bos_token_id: cfg.bos_token_id,
        };
        GptNeoX {
            vs,
            cfg,
            info,
            embed_in,
            layers,
            final_layer_norm,
            embed_out,
            rotary,
        }
    }

    /// The runtime configuration.
    pub fn config(&self) -> &GptNeoXConfig {
        &self.cfg
    }

    /// Runs `layers` (the first ones of the model) over token embeddings `embeds`
    /// `[batch, new_len, hidden]`: their output, before the final layer norm, and the rotary
    /// tables of the new positions.
    fn run_layers(
        &self,
        embeds: &Tensor,
        attention_mask: &Tensor,
        layers: &[GptNeoXLayer],
        mut cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<(Tensor, (Tensor, Tensor))> {
        let new_len = embeds.size()[1];
        // transformers' `emb_dropout` (p = hidden_dropout; 0 in Pythia).
        let mut x = embeds.f_dropout(self.cfg.hidden_dropout, train)?;
        let kind = x.kind();
        let positions = position_ids(attention_mask, new_len)?;
        let cos_sin = self.rotary.cos_sin(&positions, kind)?;
        let past = cache.as_deref().map_or(0, KvCache::seq_len);
        let mask = CausalMask::new(attention_mask, new_len, past, kind)?;
        for (i, layer) in layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, i));
            x = layer.forward(&x, &mask, &self.rotary, &cos_sin, c, train)?;
        }
        Ok((x, cos_sin))
    }
}

impl CausalLm for GptNeoX {
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
        let embeds = self.embed_in.forward(input_ids);
        self.forward_hidden_from_embeds(&embeds, attention_mask, cache, train)
    }

    fn input_embedding_weight(&self) -> Option<&Tensor> {
        Some(&self.embed_in.ws)
    }

    fn forward_last_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let Some((top, below)) = self.layers.split_last() else {
            let hidden = self.forward_hidden(input_ids, attention_mask, None, train)?;
            return last_token_hidden(&hidden, attention_mask);
        };
        let embeds = self.embed_in.forward(input_ids);
        let (x, cos_sin) = self.run_layers(&embeds, attention_mask, below, None, train)?;
        let last = last_token_index(attention_mask)?;
        let x = top.forward_last(&x, &last, attention_mask, &self.rotary, &cos_sin, train)?;
        Ok(self.final_layer_norm.forward(&x))
    }

    fn forward_hidden_from_embeds(
        &self,
        embeds: &Tensor,
        attention_mask: &Tensor,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let (x, _) = self.run_layers(embeds, attention_mask, &self.layers, cache, train)?;
        Ok(self.final_layer_norm.forward(&x))
    }

    fn output_weight(&self) -> Option<&Tensor> {
        Some(self.embed_out.as_ref().unwrap_or(&self.embed_in.ws))
    }

    fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = self.embed_out.as_ref().unwrap_or(&self.embed_in.ws);
        Ok(hidden.f_matmul(&w.f_tr()?)?)
    }

    fn linears(&self) -> Vec<&Linear> {
        self.layers.iter().flat_map(GptNeoXLayer::linears).collect()
    }

    fn layer_prefix(&self, i: usize) -> String {
        format!("gpt_neox.layers.{i}.")
    }

    fn head_prefixes(&self) -> Vec<String> {
        vec!["gpt_neox.final_layer_norm.".into(), "embed_out.".into()]
    }

    fn config_json(&self) -> serde_json::Value {
        self.cfg.to_json()
    }
}

//! BERT (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for
//! Language Understanding"), mirroring `transformers/models/bert/modeling_bert.py`: the bare
//! `BertModel` (e.g. sentence-transformers' all-MiniLM-L6-v2) and
//! `BertForSequenceClassification`. The embeddings, layers and pooler are shared with RoBERTa.

pub mod attention;
pub mod classification;
pub mod config;
pub mod embeddings;
pub mod encoder;
pub mod mlp;

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

pub use attention::BertAttention;
pub use classification::BertForSequenceClassification;
pub use config::BertConfig;
pub use embeddings::{absolute_position_ids, BertEmbeddings};
pub use encoder::{BertBackbone, BertEncoder, BertLayer};
pub use mlp::BertMlp;

use crate::encoder::{EncoderInfo, TextEncoder};
use crate::error::Result;
use crate::io::model_dir::ModelDir;
use crate::io::weights::Checkpoint;

/// Non-parameter buffers that BERT-family checkpoints may carry (`position_ids` in
/// checkpoints written by transformers < 4.31, `token_type_ids` in some), skipped on purpose.
const KNOWN_BUFFERS: &[&str] = &["embeddings.position_ids", "embeddings.token_type_ids"];

/// Whether `name` is one of the [`KNOWN_BUFFERS`], with or without a base-model prefix.
pub(crate) fn is_known_buffer(name: &str) -> bool {
    KNOWN_BUFFERS.iter().any(|b| {
        name.strip_suffix(b)
            .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
    })
}

/// The architecture-independent facts of a BERT-family configuration.
pub(crate) fn encoder_info(cfg: &BertConfig) -> EncoderInfo {
    EncoderInfo {
        model_type: cfg.model_type.clone(),
        vocab_size: cfg.vocab_size,
        hidden_size: cfg.hidden_size,
        num_layers: cfg.num_layers,
        max_positions: cfg.max_positions,
        pad_token_id: cfg.pad_token_id,
    }
}

/// The bare `BertModel`: last hidden states and, when the checkpoint has one, the pooler.
#[derive(Debug)]
pub struct BertModel {
    vs: nn::VarStore,
    cfg: BertConfig,
    info: EncoderInfo,
    /// `config.json` as loaded, written back on save.
    config_json: Option<serde_json::Value>,
    backbone: BertBackbone,
}

impl BertModel {
    /// Builds the model with HF-style random initialisation, seeded; `with_pooler` adds
    /// `pooler.dense`.
    pub fn new_random(
        cfg: BertConfig,
        with_pooler: bool,
        device: Device,
        seed: i64,
    ) -> Result<Self> {
        crate::global_rng::with_global_seed(seed, || {
            let model = Self::build(cfg, with_pooler, device, None);
            crate::nn::init::init_like_hf(&model.vs, 0.02)?;
            Ok(model)
        })
    }

    /// Loads the base model of a Hugging Face BERT directory onto `device` in `kind`.
    ///
    /// The checkpoint may be a bare `BertModel` (names without prefix, as all-MiniLM-L6-v2)
    /// or a task model (`BertForSequenceClassification`, `BertForPreTraining`, ...), whose
    /// `bert.*` tensors are used and whose heads are dropped. The pooler is created when the
    /// checkpoint has `pooler.dense`. The `embeddings.position_ids` buffer is skipped; any
    /// other tensor the model does not know is an error.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let mut json = md.config_json()?;
        let cfg = BertConfig::from_json(&json, &md.config)?;
        let mut ckpt = Checkpoint::read(&md.weight_files)?;
        if ckpt.names().any(|n| n.starts_with("bert.")) {
            ckpt.rename(|n| n.strip_prefix("bert.").map(str::to_owned));
            json["architectures"] = serde_json::json!(["BertModel"]);
        }
        let with_pooler = ckpt.contains("pooler.dense.weight");
        // Building draws random initial values; they are overwritten, but the draws must not
        // interleave with another thread's seeded block.
        let mut model = crate::global_rng::with_global_rng(|| {
            Self::build(cfg, with_pooler, device, Some(json))
        });
        ckpt.load_into(&model.vs, is_known_buffer)?;
        if kind != Kind::Float {
            model.vs.set_kind(kind);
        }
        Ok(model)
    }

    fn build(
        cfg: BertConfig,
        with_pooler: bool,
        device: Device,
        config_json: Option<serde_json::Value>,
    ) -> Self {
        let vs = nn::VarStore::new(device);
        let backbone = BertBackbone::new(vs.root(), &cfg, with_pooler);
        BertModel {
            info: encoder_info(&cfg),
            vs,
            cfg,
            config_json,
            backbone,
        }
    }

    /// The runtime configuration.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// Whether the model has a pooler.
    pub fn has_pooler(&self) -> bool {
        self.backbone.has_pooler()
    }

    /// `tanh(pooler.dense(hidden[:, 0]))`, `[batch, hidden]`, from
    /// [`TextEncoder::forward_hidden`]'s output.
    pub fn pooler_output(&self, hidden: &Tensor) -> Result<Tensor> {
        self.backbone.pooler_output(hidden)
    }
}

impl TextEncoder for BertModel {
    fn info(&self) -> &EncoderInfo {
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
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.size2()?;
        let positions = absolute_position_ids(b, t, self.cfg.max_positions, input_ids.device())?;
        self.backbone
            .forward(input_ids, attention_mask, token_type_ids, &positions, train)
    }

    fn layer_prefix(&self, i: usize) -> String {
        format!("encoder.layer.{i}.")
    }

    fn head_prefixes(&self) -> Vec<String> {
        vec!["pooler.".into()]
    }

    fn config_json(&self) -> serde_json::Value {
        self.config_json
            .clone()
            .unwrap_or_else(|| self.cfg.to_json("BertModel"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_buffers_match_with_and_without_prefix() {
        assert!(is_known_buffer("embeddings.position_ids"));
        assert!(is_known_buffer("bert.embeddings.position_ids"));
        assert!(is_known_buffer("roberta.embeddings.token_type_ids"));
        assert!(!is_known_buffer("xembeddings.position_ids"));
        assert!(!is_known_buffer("embeddings.position_embeddings.weight"));
    }
}

//! RoBERTa (Liu et al. 2019, "RoBERTa: A Robustly Optimized BERT Pretraining Approach"),
//! mirroring `transformers/models/roberta/modeling_roberta.py`
//! (`RobertaForSequenceClassification`): BERT's layers ([`crate::models::bert`]) with
//! positions offset by the padding index, and a classification head on the `<s>` token.

pub mod config;
pub mod embeddings;

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

pub use config::RobertaConfig;
pub use embeddings::RobertaEmbeddings;

use crate::encoder::{EncoderInfo, TextEncoder};
use crate::error::Result;
use crate::io::model_dir::ModelDir;
use crate::io::weights::Checkpoint;
use crate::models::bert::{encoder_info, is_known_buffer, BertBackbone};
use crate::sequence_classifier::SequenceClassifier;

/// `RobertaClassificationHead`: `out_proj(tanh(dense(h[<s>])))`, with dropout before each
/// projection.
#[derive(Debug)]
pub struct RobertaClassificationHead {
    dense: nn::Linear,
    out_proj: nn::Linear,
    dropout: f64,
}

impl RobertaClassificationHead {
    /// Creates `dense` `[hidden, hidden]` and `out_proj` `[num_labels, hidden]` under `vs`
    /// (`classifier`).
    pub fn new(vs: nn::Path, cfg: &RobertaConfig) -> Self {
        let h = cfg.hidden_size;
        let c = Default::default();
        RobertaClassificationHead {
            dense: nn::linear(&vs / "dense", h, h, c),
            out_proj: nn::linear(&vs / "out_proj", h, cfg.id2label.len() as i64, c),
            dropout: cfg.classifier_dropout,
        }
    }

    /// Logits `[batch, num_labels]` from hidden states `[batch, len, hidden]`.
    pub fn forward(&self, hidden: &Tensor, train: bool) -> Result<Tensor> {
        let x = hidden.f_select(1, 0)?.f_dropout(self.dropout, train)?;
        let x = self
            .dense
            .forward(&x)
            .f_tanh()?
            .f_dropout(self.dropout, train)?;
        Ok(self.out_proj.forward(&x))
    }
}

/// RoBERTa with a sequence-classification head: variables `roberta.*` (no pooler) and
/// `classifier.{dense,out_proj}`.
#[derive(Debug)]
pub struct RobertaForSequenceClassification {
    vs: nn::VarStore,
    cfg: RobertaConfig,
    info: EncoderInfo,
    /// `config.json` as loaded, written back unchanged on save.
    config_json: Option<serde_json::Value>,
    roberta: BertBackbone,
    classifier: RobertaClassificationHead,
}

impl RobertaForSequenceClassification {
    /// Builds the model with HF-style random initialisation, seeded, with one output per
    /// label of `cfg.id2label`.
    pub fn new_random(cfg: RobertaConfig, device: Device, seed: i64) -> Result<Self> {
        crate::global_rng::with_global_seed(seed, || {
            let model = Self::build(cfg, device, None);
            crate::nn::init::init_like_hf(&model.vs, 0.02)?;
            Ok(model)
        })
    }

    /// Loads a Hugging Face `RobertaForSequenceClassification` directory onto `device` in
    /// `kind` (e.g. `s-nlp/roberta_toxicity_classifier`). Labels come from `id2label`. Skipped
    /// on purpose: the `roberta.embeddings.position_ids` buffer, and a `roberta.pooler.*`
    /// that some older checkpoints carry but this architecture never uses (transformers drops
    /// it too); anything else unknown is an error.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let json = md.config_json()?;
        let cfg = config::from_json(&json, &md.config)?;
        // Building draws random initial values; they are overwritten, but the draws must not
        // interleave with another thread's seeded block.
        let mut model = crate::global_rng::with_global_rng(|| Self::build(cfg, device, Some(json)));
        Checkpoint::read(&md.weight_files)?.load_into(&model.vs, |name| {
            is_known_buffer(name) || name.starts_with("roberta.pooler.")
        })?;
        if kind != Kind::Float {
            model.vs.set_kind(kind);
        }
        Ok(model)
    }

    fn build(cfg: RobertaConfig, device: Device, config_json: Option<serde_json::Value>) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let roberta = BertBackbone::new(&root / "roberta", &cfg, false);
        let classifier = RobertaClassificationHead::new(&root / "classifier", &cfg);
        RobertaForSequenceClassification {
            info: encoder_info(&cfg),
            vs,
            cfg,
            config_json,
            roberta,
            classifier,
        }
    }

    /// The runtime configuration.
    pub fn config(&self) -> &RobertaConfig {
        &self.cfg
    }

    /// Logits `[batch, num_labels]`, with dropout when `train`.
    pub fn logits(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let hidden = self.forward_hidden(input_ids, attention_mask, None, train)?;
        self.classifier.forward(&hidden, train)
    }
}

impl TextEncoder for RobertaForSequenceClassification {
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
        let positions = embeddings::position_ids(
            attention_mask,
            self.cfg.pad_token_id,
            self.cfg.max_positions,
        )?;
        self.roberta
            .forward(input_ids, attention_mask, token_type_ids, &positions, train)
    }

    fn layer_prefix(&self, i: usize) -> String {
        format!("roberta.encoder.layer.{i}.")
    }

    fn head_prefixes(&self) -> Vec<String> {
        vec!["classifier.".into()]
    }

    fn config_json(&self) -> serde_json::Value {
        self.config_json
            .clone()
            .unwrap_or_else(|| self.cfg.to_json("RobertaForSequenceClassification"))
    }
}

impl SequenceClassifier for RobertaForSequenceClassification {
    fn classify(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        self.logits(input_ids, attention_mask, false)
    }

    fn id2label(&self) -> &[String] {
        &self.cfg.id2label
    }
}

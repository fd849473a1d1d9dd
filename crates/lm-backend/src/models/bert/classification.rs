//! `BertForSequenceClassification` (`transformers/models/bert/modeling_bert.py`; Devlin et
//! al. 2019): the pooler (`tanh(dense(h[CLS]))`), dropout, then a linear `classifier`.

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

use super::config::BertConfig;
use super::embeddings::absolute_position_ids;
use super::encoder::BertBackbone;
use super::{encoder_info, is_known_buffer};
use crate::encoder::{EncoderInfo, TextEncoder};
use crate::error::Result;
use crate::io::model_dir::ModelDir;
use crate::io::weights::Checkpoint;
use crate::sequence_classifier::SequenceClassifier;

/// BERT with a sequence-classification head: variables `bert.*` and `classifier.*`.
#[derive(Debug)]
pub struct BertForSequenceClassification {
    vs: nn::VarStore,
    cfg: BertConfig,
    info: EncoderInfo,
    /// `config.json` as loaded, written back unchanged on save.
    config_json: Option<serde_json::Value>,
    bert: BertBackbone,
    classifier: nn::Linear,
}

impl BertForSequenceClassification {
    /// Builds the model with HF-style random initialisation, seeded, with one output per
    /// label of `cfg.id2label`.
    pub fn new_random(cfg: BertConfig, device: Device, seed: i64) -> Result<Self> {
        crate::global_rng::with_global_seed(seed, || {
            let model = Self::build(cfg, device, None);
            crate::nn::init::init_like_hf(&model.vs, 0.02)?;
            Ok(model)
        })
    }

    /// Loads a Hugging Face `BertForSequenceClassification` directory onto `device` in
    /// `kind`. Labels come from `id2label` in `config.json`; the
    /// `bert.embeddings.position_ids` buffer is skipped; anything else unknown is an error.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: Device, kind: Kind) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let json = md.config_json()?;
        let cfg = BertConfig::from_json(&json, &md.config)?;
        // Building draws random initial values; they are overwritten, but the draws must not
        // interleave with another thread's seeded block.
        let mut model = crate::global_rng::with_global_rng(|| Self::build(cfg, device, Some(json)));
        Checkpoint::read(&md.weight_files)?.load_into(&model.vs, is_known_buffer)?;
        if kind != Kind::Float {
            model.vs.set_kind(kind);
        }
        Ok(model)
    }

    fn build(cfg: BertConfig, device: Device, config_json: Option<serde_json::Value>) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let bert = BertBackbone::new(&root / "bert", &cfg, true);
        let classifier = nn::linear(
            &root / "classifier",
            cfg.hidden_size,
            cfg.id2label.len() as i64,
            Default::default(),
        );
        BertForSequenceClassification {
            info: encoder_info(&cfg),
            vs,
            cfg,
            config_json,
            bert,
            classifier,
        }
    }

    /// The runtime configuration.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// The pooler output `tanh(bert.pooler.dense(hidden[:, 0]))`, the classifier's input.
    pub fn pooler_output(&self, hidden: &Tensor) -> Result<Tensor> {
        self.bert.pooler_output(hidden)
    }

    /// Logits `[batch, num_labels]`, with segment ids and dropout when `train`.
    pub fn logits(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let hidden = self.forward_hidden(input_ids, attention_mask, token_type_ids, train)?;
        let pooled = self
            .pooler_output(&hidden)?
            .f_dropout(self.cfg.classifier_dropout, train)?;
        Ok(self.classifier.forward(&pooled))
    }
}

impl TextEncoder for BertForSequenceClassification {
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
        self.bert
            .forward(input_ids, attention_mask, token_type_ids, &positions, train)
    }

    fn layer_prefix(&self, i: usize) -> String {
        format!("bert.encoder.layer.{i}.")
    }

    fn head_prefixes(&self) -> Vec<String> {
        vec!["bert.pooler.".into(), "classifier.".into()]
    }

    fn config_json(&self) -> serde_json::Value {
        self.config_json
            .clone()
            .unwrap_or_else(|| self.cfg.to_json("BertForSequenceClassification"))
    }
}

impl SequenceClassifier for BertForSequenceClassification {
    fn classify(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        self.logits(input_ids, attention_mask, None, false)
    }

    fn id2label(&self) -> &[String] {
        &self.cfg.id2label
    }
}

//! `*ForSequenceClassification` of the decoder families (`GenericForSequenceClassification` in
//! transformers 5.23): the `score` projection (no bias) of the final hidden state at each row's
//! rightmost token that is not `pad_token_id`, `argmax_j(j * (input_ids[j] != pad))`. The rule
//! reads the ids, not the attention mask: a trailing real EOS equal to the pad id is skipped,
//! and a left-padded row pools its last token.

use std::path::Path;

use tch::{nn, nn::Module, Device, Kind, Tensor};

use super::{Decoder, DecoderConfig, Family};
use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::io::model_dir::ModelDir;
use crate::sequence_classifier::{labels_from_config, ProblemType, SequenceClassifier};

/// A decoder reward model or classifier.
#[derive(Debug)]
pub struct DecoderForSequenceClassification {
    decoder: Decoder,
    score: nn::Linear,
    labels: Vec<String>,
    problem_type: ProblemType,
}

impl DecoderForSequenceClassification {
    /// Loads a Hugging Face `*ForSequenceClassification` directory of `family`.
    pub fn from_pretrained(
        family: &Family,
        dir: impl AsRef<Path>,
        device: Device,
        kind: Kind,
    ) -> Result<Self> {
        let md = ModelDir::open(dir)?;
        let json = md.config_json()?;
        let config_err = |message: String| LmError::Config {
            path: md.config.clone(),
            message,
        };
        let cfg = DecoderConfig::from_json(&json, &md.config, family)?;
        let labels = labels_from_config(&json).map_err(config_err)?;
        let problem_type = ProblemType::from_config(&json).map_err(config_err)?;
        let (mut decoder, score) = crate::global_rng::with_global_rng(|| -> Result<_> {
            let decoder = Decoder::build(cfg, device, false)?;
            let score = nn::linear(
                decoder.vs.root() / "score",
                decoder.cfg.hidden_size,
                labels.len() as i64,
                nn::LinearConfig {
                    bias: false,
                    ..Default::default()
                },
            );
            Ok((decoder, score))
        })?;
        decoder.load_weights(&md, kind, |name| name == "lm_head.weight")?;
        Ok(DecoderForSequenceClassification {
            decoder,
            score,
            labels,
            problem_type,
        })
    }

    /// The backbone.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Each row's pooled position `[batch]`: the rightmost id that is not `pad_token_id`; with
    /// no pad id, the last position, for a batch of one only (as transformers).
    pub fn pooled_index(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (b, len) = input_ids.size2()?;
        let Some(pad) = self.decoder.cfg.pad_token_id else {
            if b > 1 {
                return Err(LmError::InvalidArgument(
                    "config.json has no pad_token_id, so rows of a batch cannot be pooled at \
                     their last token (transformers refuses batches above 1 too)"
                        .into(),
                ));
            }
            return Ok(Tensor::from_slice(&[len - 1]).to_device(input_ids.device()));
        };
        let positions = Tensor::f_arange(len, (Kind::Int64, input_ids.device()))?;
        Ok(positions
            .f_mul(&input_ids.f_ne(pad)?.f_to_kind(Kind::Int64)?)?
            .f_argmax(-1, false)?)
    }
}

impl SequenceClassifier for DecoderForSequenceClassification {
    fn classify(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let hidden = self
            .decoder
            .forward_hidden(input_ids, attention_mask, None, false)?;
        let last = self.pooled_index(input_ids)?;
        let rows = crate::nn::heads::last_token_rows(&hidden, &last)?;
        Ok(self.score.forward(&rows))
    }

    fn id2label(&self) -> &[String] {
        &self.labels
    }

    fn problem_type(&self) -> ProblemType {
        self.problem_type
    }
}

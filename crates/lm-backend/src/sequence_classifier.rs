//! The sequence classifier seam: a model that maps a padded batch of token ids to one logit
//! per label (`*ForSequenceClassification` in `transformers`), with the label names of its
//! `config.json`. Toxicity scorers and judges use it through this trait only.

use tch::{Kind, Tensor};

use crate::error::Result;

/// A text classifier over token ids.
pub trait SequenceClassifier: Send {
    /// Logits `[batch, num_labels]` for `input_ids` / `attention_mask` `[batch, len]`
    /// (padded as the model's tokenizer pads, usually on the right), in eval mode (no
    /// dropout). Wrap the call in `tch::no_grad_guard()` for inference.
    fn classify(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor>;

    /// Label names by index (`id2label` of `config.json`, `LABEL_i` when absent).
    fn id2label(&self) -> &[String];

    /// Number of labels.
    fn num_labels(&self) -> usize {
        self.id2label().len()
    }

    /// The index of a label by name, ignoring ASCII case (`"Toxic"` finds `toxic`).
    fn label_index(&self, name: &str) -> Option<usize> {
        self.id2label()
            .iter()
            .position(|l| l.eq_ignore_ascii_case(name))
    }

    /// How the logits become probabilities (`problem_type` of `config.json`).
    fn problem_type(&self) -> ProblemType {
        ProblemType::SingleLabel
    }

    /// Probabilities `[batch, num_labels]` in float32: softmax over the labels, or a sigmoid
    /// per label for multi-label heads and single-logit heads ([`ProblemType::probabilities`]).
    fn probabilities(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        self.problem_type()
            .probabilities(&self.classify(input_ids, attention_mask)?)
    }
}

/// `problem_type`: one label per text (softmax) or independent labels (sigmoid each, as
/// toxic-bert style multi-label toxicity models).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// `single_label_classification` (or unset).
    SingleLabel,
    /// `multi_label_classification`.
    MultiLabel,
    /// `regression` (a reward: the logit is the score).
    Regression,
}

impl ProblemType {
    /// Reads `problem_type` from a `config.json` value (absent or null: single label).
    pub fn from_config(v: &serde_json::Value) -> std::result::Result<Self, String> {
        match v.get("problem_type").and_then(|p| p.as_str()) {
            None | Some("single_label_classification") => Ok(ProblemType::SingleLabel),
            Some("multi_label_classification") => Ok(ProblemType::MultiLabel),
            Some("regression") => Ok(ProblemType::Regression),
            Some(other) => Err(format!("problem_type '{other}' is not supported")),
        }
    }

    /// Probabilities from logits `[batch, num_labels]`, float32: a sigmoid per label for
    /// multi-label heads and for a single logit (transformers' text-classification pipeline),
    /// softmax otherwise.
    pub fn probabilities(self, logits: &Tensor) -> Result<Tensor> {
        let logits = logits.f_to_kind(Kind::Float)?;
        let labels = logits.size().last().copied().unwrap_or(0);
        Ok(match self {
            ProblemType::MultiLabel => logits.f_sigmoid()?,
            _ if labels == 1 => logits.f_sigmoid()?,
            _ => logits.f_softmax(-1, Kind::Float)?,
        })
    }

    /// The probability of label `index` from one row of logits, in float64.
    pub fn probability_at(self, row: &[f64], index: usize) -> Option<f64> {
        let x = *row.get(index)?;
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        if self == ProblemType::MultiLabel || row.len() == 1 {
            return Some(sigmoid(x));
        }
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = row.iter().map(|l| (l - max).exp()).sum();
        Some((x - max).exp() / total)
    }
}

/// Label names from a `config.json` value: `id2label` (keys are the decimal strings `"0"`,
/// `"1"`, ... and must cover `0..n`), else `LABEL_0..LABEL_{n-1}` with `n = num_labels`
/// (default 2), as `transformers` does. The error names what is wrong.
pub fn labels_from_config(v: &serde_json::Value) -> std::result::Result<Vec<String>, String> {
    if let Some(map) = v.get("id2label").and_then(|m| m.as_object()) {
        let mut labels: Vec<Option<String>> = vec![None; map.len()];
        for (k, name) in map {
            let i: usize = k
                .trim()
                .parse()
                .map_err(|_| format!("id2label key '{k}' is not an index"))?;
            let name = name
                .as_str()
                .ok_or_else(|| format!("id2label['{k}'] is not a string"))?;
            let slot = labels
                .get_mut(i)
                .ok_or_else(|| format!("id2label key {i} is out of 0..{}", map.len()))?;
            *slot = Some(name.to_owned());
        }
        return labels
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.ok_or_else(|| format!("id2label lacks index {i}")))
            .collect();
    }
    let n = match v.get("num_labels") {
        None | Some(serde_json::Value::Null) => 2,
        Some(n) => n
            .as_u64()
            .ok_or_else(|| "num_labels is not a non-negative integer".to_string())?
            as usize,
    };
    Ok((0..n).map(|i| format!("LABEL_{i}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_string_keys_in_index_order() {
        let v = serde_json::json!({"id2label": {"1": "toxic", "0": "neutral"}});
        assert_eq!(
            labels_from_config(&v),
            Ok(vec!["neutral".into(), "toxic".into()])
        );
        let v = serde_json::json!({"num_labels": 3});
        assert_eq!(
            labels_from_config(&v),
            Ok(vec!["LABEL_0".into(), "LABEL_1".into(), "LABEL_2".into()])
        );
        let v = serde_json::json!({"id2label": {"0": "a", "2": "b"}});
        assert!(labels_from_config(&v).is_err());
    }
}

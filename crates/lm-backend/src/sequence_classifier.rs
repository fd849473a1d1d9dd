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

    /// Softmax probabilities `[batch, num_labels]` in float32.
    fn probabilities(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        Ok(self
            .classify(input_ids, attention_mask)?
            .f_softmax(-1, Kind::Float)?)
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

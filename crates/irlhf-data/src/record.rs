//! One prompt of a dataset: the text, the continuation the dataset ships with, and metadata.
//!
//! In the paper's data (`jaredjoss/jigsaw-long-2000`) the continuation is the `original_output`
//! column; in RealToxicityPrompts it is `continuation.text` and the metadata of interest is
//! `prompt.toxicity`. Which file column feeds which field is the [`ColumnMap`](crate::ColumnMap).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A prompt read from a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptRecord {
    /// The prompt text given to the model.
    pub prompt: String,
    /// The continuation the dataset ships with (e.g. the RLHF'd model's output), if any. `None`
    /// when the column is absent from the file or the value is null.
    #[serde(default)]
    pub original_continuation: Option<String>,
    /// Extra columns kept by the column map, keyed by their dotted path (`prompt.toxicity`).
    /// Nulls are kept as `Value::Null`.
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl PromptRecord {
    /// A record with only a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            original_continuation: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the original continuation.
    pub fn with_continuation(mut self, continuation: impl Into<String>) -> Self {
        self.original_continuation = Some(continuation.into());
        self
    }

    /// Adds one metadata value.
    pub fn with_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// A metadata value as a number, `None` when it is absent, null or not a number.
    pub fn metadata_f64(&self, key: &str) -> Option<f64> {
        self.metadata.get(key).and_then(serde_json::Value::as_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_numeric_metadata() {
        let r = PromptRecord::new("Hi")
            .with_continuation("there")
            .with_metadata("prompt.toxicity", 0.25)
            .with_metadata("source", "web")
            .with_metadata("missing", serde_json::Value::Null);
        assert_eq!(r.metadata_f64("prompt.toxicity"), Some(0.25));
        assert_eq!(r.metadata_f64("source"), None);
        assert_eq!(r.metadata_f64("missing"), None);
        assert_eq!(r.metadata_f64("absent"), None);
        let json = serde_json::to_string(&r).expect("serialise");
        let back: PromptRecord = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, r);
        let bare: PromptRecord = serde_json::from_str(r#"{"prompt":"x"}"#).expect("defaults");
        assert_eq!(bare, PromptRecord::new("x"));
    }
}

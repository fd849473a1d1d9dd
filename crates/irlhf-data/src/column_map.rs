//! Which columns of a file become the fields of a [`PromptRecord`](crate::PromptRecord).
//!
//! Columns are named by dotted paths into nested fields: `prompt.text` is the field `text` of the
//! struct (Parquet) or object (JSONL) column `prompt`, as in RealToxicityPrompts
//! (`allenai/real-toxicity-prompts`). A name that exists literally wins over splitting at dots,
//! so a flat CSV header `prompt.text` (what `pandas.json_normalize` writes) is found as is; when
//! no field has the whole name, the path is split at the first dot whose head exists.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The default prompt column.
pub const DEFAULT_PROMPT_FIELD: &str = "prompt";
/// The default continuation column: `original_output` of the paper's `jaredjoss/jigsaw-long-2000`.
/// When a file has no such column the continuation is `None` (any other name must exist).
pub const DEFAULT_CONTINUATION_FIELD: &str = "original_output";

/// Maps file columns to [`PromptRecord`](crate::PromptRecord) fields.
///
/// Deserialisable from the pipeline's TOML config (unknown keys are rejected, absent keys take
/// the defaults):
///
/// ```toml
/// [data.columns]
/// prompt_field = "prompt.text"
/// continuation_field = "continuation.text"
/// metadata_fields = ["prompt.toxicity", "challenging"]
/// ```
///
/// `continuation_field = ""` reads no continuation even where the file has `original_output`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnMap {
    /// Dotted path of the prompt text (a string; null or another type is an error).
    pub prompt_field: String,
    /// Dotted path of the original continuation (a string or null). Defaults to
    /// [`DEFAULT_CONTINUATION_FIELD`], which may be absent from the file; a path named here
    /// otherwise must exist. `None` or `""`: read no continuation.
    pub continuation_field: Option<String>,
    /// Dotted paths copied into [`PromptRecord::metadata`](crate::PromptRecord::metadata), keyed
    /// by the path as written here. Each must exist in the file; nulls are kept as null.
    pub metadata_fields: Vec<String>,
}

impl Default for ColumnMap {
    fn default() -> Self {
        Self {
            prompt_field: DEFAULT_PROMPT_FIELD.to_owned(),
            continuation_field: Some(DEFAULT_CONTINUATION_FIELD.to_owned()),
            metadata_fields: Vec::new(),
        }
    }
}

impl ColumnMap {
    /// The layout of RealToxicityPrompts: `prompt.text`, `continuation.text`, and
    /// `prompt.toxicity` as metadata.
    pub fn real_toxicity_prompts() -> Self {
        Self {
            prompt_field: "prompt.text".to_owned(),
            continuation_field: Some("continuation.text".to_owned()),
            metadata_fields: vec!["prompt.toxicity".to_owned()],
        }
    }

    /// Sets the prompt column.
    pub fn with_prompt_field(mut self, field: impl Into<String>) -> Self {
        self.prompt_field = field.into();
        self
    }

    /// Sets (or with `None`, removes) the continuation column.
    pub fn with_continuation_field(mut self, field: Option<impl Into<String>>) -> Self {
        self.continuation_field = field.map(Into::into);
        self
    }

    /// Sets the metadata columns.
    pub fn with_metadata_fields<S: Into<String>>(
        mut self,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        self.metadata_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// The continuation path to read, `None` when none is configured.
    pub fn continuation(&self) -> Option<&str> {
        self.continuation_field.as_deref().filter(|f| !f.is_empty())
    }

    /// Whether a missing continuation column is an error: true for any path other than the
    /// default [`DEFAULT_CONTINUATION_FIELD`].
    pub fn continuation_required(&self) -> bool {
        self.continuation()
            .is_some_and(|f| f != DEFAULT_CONTINUATION_FIELD)
    }

    /// Checks that the paths are usable: a non-empty prompt path, no empty or repeated metadata
    /// path.
    pub fn validate(&self) -> Result<()> {
        if self.prompt_field.is_empty() {
            return Err(DataError::InvalidConfig(
                "column map: prompt_field is empty".into(),
            ));
        }
        for (i, field) in self.metadata_fields.iter().enumerate() {
            if field.is_empty() {
                return Err(DataError::InvalidConfig(format!(
                    "column map: metadata_fields[{i}] is empty"
                )));
            }
            if self.metadata_fields[..i].contains(field) {
                return Err(DataError::InvalidConfig(format!(
                    "column map: metadata field `{field}` is listed twice"
                )));
            }
        }
        Ok(())
    }
}

/// The ways to read `path` as (field name, rest of the path): the whole path first, then split
/// at each dot from the left.
pub(crate) fn path_candidates(path: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    std::iter::once((path, None)).chain(
        path.match_indices('.')
            .map(move |(i, _)| (&path[..i], Some(&path[i + 1..]))),
    )
}

/// What a dotted path finds in a JSON value.
#[derive(Debug, PartialEq)]
pub(crate) enum JsonLookup<'a> {
    /// A non-null value.
    Found(&'a serde_json::Value),
    /// The value, or an object on the way to it, is null.
    Null,
    /// No such field.
    Missing,
}

/// Resolves a dotted path in a JSON value.
pub(crate) fn lookup_json<'a>(value: &'a serde_json::Value, path: &str) -> JsonLookup<'a> {
    let map = match value {
        serde_json::Value::Null => return JsonLookup::Null,
        serde_json::Value::Object(map) => map,
        _ => return JsonLookup::Missing,
    };
    for (head, tail) in path_candidates(path) {
        let Some(found) = map.get(head) else {
            continue;
        };
        let result = match tail {
            None if found.is_null() => JsonLookup::Null,
            None => JsonLookup::Found(found),
            Some(tail) => lookup_json(found, tail),
        };
        if result != JsonLookup::Missing {
            return result;
        }
    }
    JsonLookup::Missing
}

/// The dotted paths of a JSON object's fields, nested objects expanded (for error messages).
pub(crate) fn json_paths(value: &serde_json::Value) -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            _ if !prefix.is_empty() => out.push(prefix.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_serde() {
        let map: ColumnMap = serde_json::from_str("{}").expect("defaults");
        assert_eq!(map, ColumnMap::default());
        assert_eq!(map.continuation(), Some("original_output"));
        assert!(!map.continuation_required());
        let map: ColumnMap = serde_json::from_value(json!({
            "prompt_field": "prompt.text",
            "continuation_field": "continuation.text",
            "metadata_fields": ["prompt.toxicity"],
        }))
        .expect("rtp");
        assert_eq!(map, ColumnMap::real_toxicity_prompts());
        assert!(map.continuation_required());
        let off: ColumnMap =
            serde_json::from_value(json!({ "continuation_field": "" })).expect("empty");
        assert_eq!(off.continuation(), None);
        assert!(serde_json::from_value::<ColumnMap>(json!({ "prompt": "x" })).is_err());
    }

    #[test]
    fn validation() {
        assert!(ColumnMap::default().validate().is_ok());
        assert!(ColumnMap::default()
            .with_prompt_field("")
            .validate()
            .is_err());
        assert!(ColumnMap::default()
            .with_metadata_fields(["a", "a"])
            .validate()
            .is_err());
    }

    #[test]
    fn dotted_lookup() {
        let v = json!({
            "prompt": { "text": "hi", "toxicity": null },
            "a.b": 1,
            "a": { "b": 2, "c": 3 },
            "continuation": null,
        });
        assert_eq!(
            lookup_json(&v, "prompt.text"),
            JsonLookup::Found(&json!("hi"))
        );
        assert_eq!(lookup_json(&v, "prompt.toxicity"), JsonLookup::Null);
        assert_eq!(lookup_json(&v, "continuation.text"), JsonLookup::Null);
        assert_eq!(lookup_json(&v, "prompt.nope"), JsonLookup::Missing);
        assert_eq!(lookup_json(&v, "prompt.text.x"), JsonLookup::Missing);
        // A literal dotted key wins; otherwise the path is split.
        assert_eq!(lookup_json(&v, "a.b"), JsonLookup::Found(&json!(1)));
        assert_eq!(lookup_json(&v, "a.c"), JsonLookup::Found(&json!(3)));
        let mut paths = json_paths(&v);
        paths.sort();
        assert_eq!(
            paths,
            [
                "a.b",
                "a.b",
                "a.c",
                "continuation",
                "prompt.text",
                "prompt.toxicity"
            ]
        );
    }
}

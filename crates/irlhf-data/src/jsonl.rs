//! Prompts from JSON Lines: one JSON object per line, nested objects addressed by dotted paths.
//!
//! This is what `datasets.Dataset.to_json` and `pandas.DataFrame.to_json(orient="records",
//! lines=True)` write. Blank lines are skipped and a UTF-8 byte-order mark on line 1 is ignored.
//! A JSON array (a `.json` file that is not JSON Lines) is reported as a malformed line 1.

use std::path::Path;

use crate::column_map::{json_paths, lookup_json, ColumnMap, JsonLookup};
use crate::error::{DataError, Location, Result};
use crate::jsonl_writer::JsonlReader;
use crate::record::PromptRecord;

/// A streaming reader of [`PromptRecord`]s from a JSON Lines file.
///
/// A bad line (malformed JSON, invalid UTF-8, a missing or mistyped column) is reported with its
/// line and reading goes on with the next; an I/O error ends the iteration.
#[derive(Debug)]
pub struct JsonlPrompts {
    lines: JsonlReader<serde_json::Value>,
    map: ColumnMap,
    seen_line: bool,
    finished: bool,
}

impl JsonlPrompts {
    /// Opens `path` to read prompts through `map`.
    pub fn open(path: impl AsRef<Path>, map: &ColumnMap) -> Result<Self> {
        map.validate()?;
        let path = path.as_ref();
        let len = std::fs::metadata(path)
            .map_err(|e| DataError::io(path, e))?
            .len();
        if len == 0 {
            return Err(DataError::EmptyFile {
                file: path.to_path_buf(),
            });
        }
        Ok(Self {
            lines: JsonlReader::open(path)?,
            map: map.clone(),
            seen_line: false,
            finished: false,
        })
    }
}

impl Iterator for JsonlPrompts {
    type Item = Result<PromptRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.lines.next_with_line() {
            Some((line, value)) => {
                self.seen_line = true;
                Some(value.and_then(|v| record_from_json(self.lines.path(), line, &v, &self.map)))
            }
            None if !self.seen_line && !self.finished => {
                self.finished = true;
                Some(Err(DataError::EmptyFile {
                    file: self.lines.path().to_path_buf(),
                }))
            }
            None => None,
        }
    }
}

/// The JSON type of a value, for error messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Builds a record from one parsed JSON line.
fn record_from_json(
    path: &Path,
    line: u64,
    value: &serde_json::Value,
    map: &ColumnMap,
) -> Result<PromptRecord> {
    let location = Location::Line(line);
    if !value.is_object() {
        return Err(DataError::MalformedLine {
            file: path.to_path_buf(),
            location,
            message: format!("expected a JSON object, found {}", json_type(value)),
        });
    }
    let missing = |column: &str| DataError::MissingColumn {
        file: path.to_path_buf(),
        location,
        column: column.to_owned(),
        available: json_paths(value),
    };
    let wrong = |column: &str, expected, found: &str| DataError::WrongType {
        file: path.to_path_buf(),
        location,
        column: column.to_owned(),
        expected,
        found: found.to_owned(),
    };

    let field = &map.prompt_field;
    let prompt = match lookup_json(value, field) {
        JsonLookup::Found(serde_json::Value::String(s)) => s.clone(),
        JsonLookup::Found(other) => return Err(wrong(field, "a string", json_type(other))),
        JsonLookup::Null => return Err(wrong(field, "a string", "null")),
        JsonLookup::Missing => return Err(missing(field)),
    };
    let original_continuation = match map.continuation() {
        None => None,
        Some(field) => match lookup_json(value, field) {
            JsonLookup::Found(serde_json::Value::String(s)) => Some(s.clone()),
            JsonLookup::Found(other) => {
                return Err(wrong(field, "a string or null", json_type(other)))
            }
            JsonLookup::Null => None,
            JsonLookup::Missing if map.continuation_required() => return Err(missing(field)),
            JsonLookup::Missing => None,
        },
    };
    let mut record = PromptRecord::new(prompt);
    record.original_continuation = original_continuation;
    for field in &map.metadata_fields {
        let v = match lookup_json(value, field) {
            JsonLookup::Found(v) => v.clone(),
            JsonLookup::Null => serde_json::Value::Null,
            JsonLookup::Missing => return Err(missing(field)),
        };
        record.metadata.insert(field.clone(), v);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_through_the_map() -> Result<()> {
        let p = Path::new("x.jsonl");
        let v = json!({"prompt": {"text": "Hi", "toxicity": 0.5}, "continuation": {"text": null}});
        let r = record_from_json(p, 4, &v, &ColumnMap::real_toxicity_prompts())?;
        assert_eq!(
            r,
            PromptRecord::new("Hi").with_metadata("prompt.toxicity", 0.5)
        );
        // The default continuation may be absent; a named one may not.
        let r = record_from_json(p, 1, &json!({"prompt": "a"}), &ColumnMap::default())?;
        assert_eq!(r, PromptRecord::new("a"));
        let map = ColumnMap::default().with_continuation_field(Some("completion"));
        match record_from_json(p, 9, &json!({"prompt": "a"}), &map) {
            Err(DataError::MissingColumn {
                location, column, ..
            }) => {
                assert_eq!(
                    (location, column.as_str()),
                    (Location::Line(9), "completion")
                );
            }
            other => panic!("expected a missing column, got {other:?}"),
        }
        match record_from_json(p, 2, &json!([1]), &ColumnMap::default()) {
            Err(DataError::MalformedLine { message, .. }) => assert!(message.contains("array")),
            other => panic!("expected a malformed line, got {other:?}"),
        }
        Ok(())
    }
}

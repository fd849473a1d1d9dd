//! Prompts from CSV with a header row, as `pandas.DataFrame.to_csv` writes it (RFC 4180 quoting:
//! commas, quotes and newlines inside quoted fields).
//!
//! CSV is flat: a column-map path is matched against the header literally, so `prompt.text` finds
//! the header `prompt.text` that `pandas.json_normalize` produces. CSV has no null: like
//! `pandas.read_csv`, an empty field reads as null, so an empty continuation reads as `None` and
//! an empty metadata field as `Value::Null` (an empty *prompt* stays the empty string). Metadata
//! cells are typed one by one: an integer, else a finite float, else `true`/`false`
//! (`True`/`False` as pandas writes them), else a string.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::column_map::ColumnMap;
use crate::error::{DataError, Location, Result};
use crate::record::PromptRecord;

/// A streaming reader of [`PromptRecord`]s from a CSV file.
///
/// Errors name the line the record starts on (line 1 is the header) and the column. A bad record
/// is reported and reading goes on with the next; an I/O error ends the iteration.
#[derive(Debug)]
pub struct CsvPrompts {
    path: PathBuf,
    reader: csv::Reader<File>,
    headers: Vec<String>,
    prompt: usize,
    continuation: Option<usize>,
    metadata: Vec<(usize, String)>,
    record: csv::ByteRecord,
    done: bool,
}

impl CsvPrompts {
    /// Opens `path`, reads its header and resolves the columns of `map`.
    pub fn open(path: impl AsRef<Path>, map: &ColumnMap) -> Result<Self> {
        Self::open_with_delimiter(path, map, b',')
    }

    /// Like [`open`](Self::open) with another field delimiter (e.g. `b'\t'` for TSV).
    pub fn open_with_delimiter(
        path: impl AsRef<Path>,
        map: &ColumnMap,
        delimiter: u8,
    ) -> Result<Self> {
        map.validate()?;
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .delimiter(delimiter)
            .from_reader(file);
        let raw = reader
            .byte_headers()
            .map_err(|e| csv_error(path, &[], e))?
            .clone();
        if raw.is_empty() {
            return Err(DataError::EmptyFile {
                file: path.to_path_buf(),
            });
        }
        let mut headers = Vec::with_capacity(raw.len());
        for (i, field) in raw.iter().enumerate() {
            let field = if i == 0 {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            let name = std::str::from_utf8(field).map_err(|_| DataError::InvalidUtf8 {
                file: path.to_path_buf(),
                location: Location::Line(1),
                column: None,
            })?;
            headers.push(name.to_owned());
        }
        let find = |column: &str| headers.iter().position(|h| h == column);
        let missing = |column: &str| DataError::MissingColumn {
            file: path.to_path_buf(),
            location: Location::Line(1),
            column: column.to_owned(),
            available: headers.clone(),
        };
        let prompt = find(&map.prompt_field).ok_or_else(|| missing(&map.prompt_field))?;
        let continuation = match map.continuation() {
            None => None,
            Some(field) => match find(field) {
                Some(i) => Some(i),
                None if map.continuation_required() => return Err(missing(field)),
                None => None,
            },
        };
        let metadata = map
            .metadata_fields
            .iter()
            .map(|f| find(f).map(|i| (i, f.clone())).ok_or_else(|| missing(f)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            headers,
            prompt,
            continuation,
            metadata,
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    /// Field `index` of the current record as text.
    fn field(&self, index: usize, line: u64) -> Result<&str> {
        let bytes = self.record.get(index).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|_| DataError::InvalidUtf8 {
            file: self.path.clone(),
            location: Location::Line(line),
            column: Some(self.headers[index].clone()),
        })
    }

    fn current(&self) -> Result<PromptRecord> {
        let line = self.record.position().map_or(0, csv::Position::line);
        let mut record = PromptRecord::new(self.field(self.prompt, line)?);
        if let Some(i) = self.continuation {
            let text = self.field(i, line)?;
            record.original_continuation = (!text.is_empty()).then(|| text.to_owned());
        }
        for (i, key) in &self.metadata {
            record
                .metadata
                .insert(key.clone(), infer_value(self.field(*i, line)?));
        }
        Ok(record)
    }
}

impl Iterator for CsvPrompts {
    type Item = Result<PromptRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => Some(self.current()),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = matches!(e.kind(), csv::ErrorKind::Io(_));
                Some(Err(csv_error(&self.path, &self.headers, e)))
            }
        }
    }
}

/// Converts a csv error into a [`DataError`] naming the line (and column where csv knows it).
fn csv_error(path: &Path, headers: &[String], error: csv::Error) -> DataError {
    let line = error.position().map_or(0, csv::Position::line);
    let location = Location::Line(line);
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(source) => DataError::io(path, source),
        csv::ErrorKind::Utf8 { err, .. } => DataError::InvalidUtf8 {
            file: path.to_path_buf(),
            location,
            column: headers.get(err.field()).cloned(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::MalformedLine {
            file: path.to_path_buf(),
            location,
            message: format!("expected {expected_len} fields as in the header, found {len}"),
        },
        _ => DataError::MalformedLine {
            file: path.to_path_buf(),
            location,
            message,
        },
    }
}

/// Types one metadata cell: empty → null, integer, finite float, boolean, else string.
pub(crate) fn infer_value(text: &str) -> serde_json::Value {
    if text.is_empty() {
        return serde_json::Value::Null;
    }
    if let Ok(i) = text.parse::<i64>() {
        return i.into();
    }
    if let Ok(u) = text.parse::<u64>() {
        return u.into();
    }
    if let Some(n) = text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        return n.into();
    }
    match text {
        "true" | "True" => true.into(),
        "false" | "False" => false.into(),
        _ => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn cells_are_typed_like_pandas_writes_them() {
        assert_eq!(infer_value(""), Value::Null);
        assert_eq!(infer_value("3"), json!(3));
        assert_eq!(infer_value("-3"), json!(-3));
        assert_eq!(infer_value("18446744073709551615"), json!(u64::MAX));
        assert_eq!(infer_value("0.1"), json!(0.1));
        assert_eq!(infer_value("1e-05"), json!(1e-5));
        assert_eq!(infer_value("True"), json!(true));
        assert_eq!(infer_value("false"), json!(false));
        assert_eq!(infer_value("NaN"), json!("NaN"));
        assert_eq!(infer_value("inf"), json!("inf"));
        assert_eq!(infer_value("web, 2019"), json!("web, 2019"));
    }
}

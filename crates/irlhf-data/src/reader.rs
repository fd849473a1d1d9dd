//! Opening a prompt file by its extension: `.jsonl`, `.ndjson` and `.json` (JSON Lines), `.csv`,
//! `.tsv`, `.parquet` (case-insensitive).

use std::path::Path;

use crate::column_map::ColumnMap;
use crate::csv_reader::CsvPrompts;
use crate::error::{DataError, Result};
use crate::jsonl::JsonlPrompts;
use crate::parquet_reader::ParquetPrompts;
use crate::record::PromptRecord;

/// A file format this crate reads prompts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines (`.jsonl`, `.ndjson`, `.json`).
    Jsonl,
    /// Comma-separated values with a header (`.csv`).
    Csv,
    /// Tab-separated values with a header (`.tsv`).
    Tsv,
    /// Apache Parquet (`.parquet`).
    Parquet,
}

impl Format {
    /// The format named by the extension of `path`.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            Some("tsv") => Ok(Format::Tsv),
            Some("parquet") => Ok(Format::Parquet),
            _ => Err(DataError::UnsupportedExtension {
                file: path.to_path_buf(),
            }),
        }
    }
}

/// A streaming reader of prompts from a file of any supported format.
#[derive(Debug)]
pub enum PromptReader {
    /// Reading JSON Lines.
    Jsonl(JsonlPrompts),
    /// Reading CSV or TSV.
    Csv(CsvPrompts),
    /// Reading Parquet.
    Parquet(Box<ParquetPrompts>),
}

impl Iterator for PromptReader {
    type Item = Result<PromptRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            PromptReader::Jsonl(r) => r.next(),
            PromptReader::Csv(r) => r.next(),
            PromptReader::Parquet(r) => r.next(),
        }
    }
}

/// Opens `path` for streaming, choosing the reader by extension.
pub fn open_prompts(path: impl AsRef<Path>, map: &ColumnMap) -> Result<PromptReader> {
    let path = path.as_ref();
    Ok(match Format::from_path(path)? {
        Format::Jsonl => PromptReader::Jsonl(JsonlPrompts::open(path, map)?),
        Format::Csv => PromptReader::Csv(CsvPrompts::open(path, map)?),
        Format::Tsv => PromptReader::Csv(CsvPrompts::open_with_delimiter(path, map, b'\t')?),
        Format::Parquet => PromptReader::Parquet(Box::new(ParquetPrompts::open(path, map)?)),
    })
}

/// Reads every prompt of `path` (chosen by extension), stopping at the first error.
pub fn read_prompts(path: impl AsRef<Path>, map: &ColumnMap) -> Result<Vec<PromptRecord>> {
    open_prompts(path, map)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<PromptReader>();
        assert_send::<crate::JsonlAppender<PromptRecord>>();
    }

    #[test]
    fn extensions() {
        let f = |p: &str| Format::from_path(Path::new(p)).ok();
        assert_eq!(f("a/b.jsonl"), Some(Format::Jsonl));
        assert_eq!(f("b.JSON"), Some(Format::Jsonl));
        assert_eq!(f("b.csv"), Some(Format::Csv));
        assert_eq!(f("b.tsv"), Some(Format::Tsv));
        assert_eq!(f("train-00000-of-00001.parquet"), Some(Format::Parquet));
        assert_eq!(f("b.txt"), None);
        assert_eq!(f("noext"), None);
    }
}

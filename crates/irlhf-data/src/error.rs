//! The error type of irlhf-data.
//!
//! Every variant that comes from reading a file names the file and *where* in it: a 1-based line
//! for JSONL and CSV (the line a record starts on, so a CSV record with a newline inside a quoted
//! field is reported at its first line), a row group (and row, when one row is at fault) for
//! Parquet, and the column (the dotted path of the [`ColumnMap`](crate::ColumnMap)) that was read.

use std::fmt;
use std::path::PathBuf;

/// Result with [`DataError`] as the default error.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Where in a file an error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a JSONL or CSV file (line 1 of a CSV file is its header).
    Line(u64),
    /// A 0-based Parquet row group, and the 0-based row inside it when one row is at fault.
    RowGroup {
        /// Index of the row group in the file.
        row_group: usize,
        /// Row inside the row group, `None` when the whole column chunk is at fault.
        row: Option<usize>,
    },
    /// The Parquet schema (the file footer), e.g. a column that no row group can have.
    Schema,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::RowGroup {
                row_group,
                row: Some(row),
            } => write!(f, "row group {row_group}, row {row}"),
            Location::RowGroup {
                row_group,
                row: None,
            } => write!(f, "row group {row_group}"),
            Location::Schema => write!(f, "schema"),
        }
    }
}

/// Everything that can go wrong while reading or writing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened, read, written or truncated.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not what the format expects: not JSON, not a JSON object, not the record type
    /// (JSONL), or a record with the wrong number of fields (CSV).
    #[error("{}: {location}: malformed record: {message}", file.display())]
    MalformedLine {
        /// The file.
        file: PathBuf,
        /// The line the record starts on.
        location: Location,
        /// What was expected and what the parser said.
        message: String,
    },
    /// A column named by the column map is not in the file (CSV header, Parquet schema) or not
    /// in a JSONL record.
    #[error(
        "{}: {location}: missing column `{column}` (found: {})",
        file.display(),
        available.join(", ")
    )]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// Where the column was looked for (the CSV header is line 1).
        location: Location,
        /// The dotted path that was looked for.
        column: String,
        /// The columns (dotted paths) that the file does have there.
        available: Vec<String>,
    },
    /// A value or a column has the wrong type, e.g. a prompt that is a number or null, or a
    /// Parquet prompt column that is not a string column.
    #[error(
        "{}: {location}: column `{column}`: expected {expected}, found {found}",
        file.display()
    )]
    WrongType {
        /// The file.
        file: PathBuf,
        /// The line (JSONL) or row group and row (Parquet).
        location: Location,
        /// The dotted path of the column.
        column: String,
        /// What the reader expected.
        expected: &'static str,
        /// What it found (a JSON type, an Arrow data type, or `null`).
        found: String,
    },
    /// Bytes that are not UTF-8 in a JSONL line or a CSV field.
    #[error(
        "{}: {location}: invalid UTF-8{}",
        file.display(),
        column.as_ref().map(|c| format!(" in column `{c}`")).unwrap_or_default()
    )]
    InvalidUtf8 {
        /// The file.
        file: PathBuf,
        /// The line of the record.
        location: Location,
        /// The CSV column holding the bytes (`None` for JSONL, where the whole line is checked).
        column: Option<String>,
    },
    /// The file holds no records: zero bytes, only blank lines (JSONL), or no header (CSV).
    #[error("{}: empty file, expected at least one record", file.display())]
    EmptyFile {
        /// The file.
        file: PathBuf,
    },
    /// The Parquet file could not be opened: not Parquet, a corrupt footer, an unsupported codec.
    #[error("{}: parquet: {source}", file.display())]
    Parquet {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A Parquet row group could not be decoded into Arrow arrays.
    #[error("{}: {location}: decoding: {source}", file.display())]
    Arrow {
        /// The file.
        file: PathBuf,
        /// The row group being decoded.
        location: Location,
        /// The cause.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The file's extension names no format this crate reads.
    #[error(
        "{}: unsupported extension, expected .jsonl, .ndjson, .json, .csv, .tsv or .parquet",
        file.display()
    )]
    UnsupportedExtension {
        /// The file.
        file: PathBuf,
    },
    /// A record could not be serialised to JSON for writing.
    #[error("{}: cannot serialise record: {source}", file.display())]
    Serialize {
        /// The file being written.
        file: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration value is out of range (a fraction outside [0, 1], min above max, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl DataError {
    /// The file the error is about, when it is about one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            DataError::Io { file, .. }
            | DataError::MalformedLine { file, .. }
            | DataError::MissingColumn { file, .. }
            | DataError::WrongType { file, .. }
            | DataError::InvalidUtf8 { file, .. }
            | DataError::EmptyFile { file }
            | DataError::Parquet { file, .. }
            | DataError::Arrow { file, .. }
            | DataError::UnsupportedExtension { file }
            | DataError::Serialize { file, .. } => Some(file),
            DataError::InvalidConfig(_) => None,
        }
    }

    /// Where in the file the error was found, when the error points at a place.
    pub fn location(&self) -> Option<Location> {
        match self {
            DataError::MalformedLine { location, .. }
            | DataError::MissingColumn { location, .. }
            | DataError::WrongType { location, .. }
            | DataError::InvalidUtf8 { location, .. }
            | DataError::Arrow { location, .. } => Some(*location),
            _ => None,
        }
    }

    pub(crate) fn io(file: &std::path::Path, source: std::io::Error) -> Self {
        DataError::Io {
            file: file.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_place_and_column() {
        let e = DataError::WrongType {
            file: PathBuf::from("data/p.parquet"),
            location: Location::RowGroup {
                row_group: 2,
                row: Some(7),
            },
            column: "prompt.text".into(),
            expected: "a string",
            found: "null".into(),
        };
        assert_eq!(
            e.to_string(),
            "data/p.parquet: row group 2, row 7: column `prompt.text`: expected a string, found null"
        );
        let e = DataError::MissingColumn {
            file: PathBuf::from("p.csv"),
            location: Location::Line(1),
            column: "prompt".into(),
            available: vec!["text".into(), "label".into()],
        };
        assert_eq!(
            e.to_string(),
            "p.csv: line 1: missing column `prompt` (found: text, label)"
        );
        assert_eq!(e.location(), Some(Location::Line(1)));
        let e = DataError::InvalidUtf8 {
            file: PathBuf::from("p.csv"),
            location: Location::Line(3),
            column: Some("prompt".into()),
        };
        assert_eq!(
            e.to_string(),
            "p.csv: line 3: invalid UTF-8 in column `prompt`"
        );
    }
}

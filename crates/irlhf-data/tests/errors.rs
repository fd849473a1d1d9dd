//! Every broken fixture gives the documented error, naming the file and the line (JSONL, CSV) or
//! the row group / schema (Parquet) and the column.

mod common;

use common::{fixture, flat_map};
use irlhf_data::{read_prompts, ColumnMap, DataError, Location, ParquetPrompts, Result};

/// Reads a broken fixture and returns its error, checking the message names the file.
fn error_of(name: &str, map: &ColumnMap) -> DataError {
    let path = fixture(&format!("broken/{name}"));
    match read_prompts(&path, map) {
        Ok(records) => panic!("{name}: expected an error, read {} records", records.len()),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(name),
                "{name}: message `{message}` names no file"
            );
            assert_eq!(e.file(), Some(path.as_path()));
            e
        }
    }
}

fn line(n: u64) -> Location {
    Location::Line(n)
}

#[test]
fn malformed_json_line() {
    let e = error_of("malformed.jsonl", &ColumnMap::default());
    assert!(
        matches!(e, DataError::MalformedLine { location, .. } if location == line(3)),
        "{e}"
    );
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn malformed_lines_are_skippable() -> Result<()> {
    let results: Vec<_> =
        irlhf_data::open_prompts(fixture("broken/malformed.jsonl"), &ColumnMap::default())?
            .collect();
    assert_eq!(results.len(), 4);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    Ok(())
}

#[test]
fn malformed_csv_record() {
    let e = error_of("malformed.csv", &ColumnMap::default());
    match &e {
        DataError::MalformedLine {
            location, message, ..
        } => {
            assert_eq!(*location, line(3));
            assert!(message.contains("expected 2 fields"), "{message}");
        }
        other => panic!("expected MalformedLine, got {other}"),
    }
}

#[test]
fn missing_column_jsonl_names_the_line() {
    let e = error_of("missing_column.jsonl", &ColumnMap::default());
    match &e {
        DataError::MissingColumn {
            location,
            column,
            available,
            ..
        } => {
            assert_eq!((*location, column.as_str()), (line(2), "prompt"));
            assert_eq!(available, &["text"]);
        }
        other => panic!("expected MissingColumn, got {other}"),
    }
}

#[test]
fn missing_column_csv_names_the_header() {
    let e = error_of("missing_column.csv", &ColumnMap::default());
    match &e {
        DataError::MissingColumn {
            location,
            column,
            available,
            ..
        } => {
            assert_eq!((*location, column.as_str()), (line(1), "prompt"));
            assert_eq!(available, &["text", "original_output"]);
        }
        other => panic!("expected MissingColumn, got {other}"),
    }
    assert_eq!(
        e.to_string(),
        format!(
            "{}: line 1: missing column `prompt` (found: text, original_output)",
            fixture("broken/missing_column.csv").display()
        )
    );
}

#[test]
fn missing_column_parquet_names_the_schema() {
    let e = error_of("missing_column.parquet", &ColumnMap::default());
    match &e {
        DataError::MissingColumn {
            location,
            column,
            available,
            ..
        } => {
            assert_eq!((*location, column.as_str()), (Location::Schema, "prompt"));
            assert_eq!(available, &["text", "original_output"]);
        }
        other => panic!("expected MissingColumn, got {other}"),
    }
}

#[test]
fn missing_metadata_and_named_continuation_columns() {
    let map = flat_map().with_metadata_fields(["toxicity", "severity"]);
    for name in ["flat.jsonl", "flat.csv", "flat.parquet"] {
        match read_prompts(fixture(name), &map) {
            Err(DataError::MissingColumn { column, .. }) => assert_eq!(column, "severity"),
            other => panic!("{name}: expected MissingColumn, got {other:?}"),
        }
    }
    let map = ColumnMap::default().with_continuation_field(Some("completion"));
    for name in ["flat.jsonl", "flat.csv", "flat.parquet"] {
        match read_prompts(fixture(name), &map) {
            Err(DataError::MissingColumn { column, .. }) => assert_eq!(column, "completion"),
            other => panic!("{name}: expected MissingColumn, got {other:?}"),
        }
    }
    // The RealToxicityPrompts map on a flat file: `prompt` is a string, not a struct.
    match read_prompts(fixture("flat.parquet"), &ColumnMap::real_toxicity_prompts()) {
        Err(DataError::MissingColumn {
            column, available, ..
        }) => {
            assert_eq!(column, "prompt.text");
            assert_eq!(available, ["prompt", "original_output", "toxicity"]);
        }
        other => panic!("expected MissingColumn, got {other:?}"),
    }
}

#[test]
fn wrong_type_jsonl() {
    let e = error_of("wrong_type.jsonl", &ColumnMap::default());
    match &e {
        DataError::WrongType {
            location,
            column,
            found,
            ..
        } => {
            assert_eq!(
                (*location, column.as_str(), found.as_str()),
                (line(2), "prompt", "a number")
            );
        }
        other => panic!("expected WrongType, got {other}"),
    }
}

#[test]
fn wrong_type_parquet_names_row_group_and_column() {
    let e = error_of("wrong_type.parquet", &ColumnMap::default());
    match &e {
        DataError::WrongType {
            location,
            column,
            expected,
            found,
            ..
        } => {
            assert_eq!(
                *location,
                Location::RowGroup {
                    row_group: 0,
                    row: None
                }
            );
            assert_eq!(
                (column.as_str(), *expected, found.as_str()),
                ("prompt", "a string column", "Int64")
            );
        }
        other => panic!("expected WrongType, got {other}"),
    }
    assert!(
        e.to_string().contains("row group 0: column `prompt`"),
        "{e}"
    );
}

#[test]
fn struct_where_a_string_is_expected() {
    // The default map on RealToxicityPrompts: `prompt` is the struct, `prompt.text` the string.
    for name in ["nested.parquet", "nested.jsonl"] {
        match read_prompts(fixture(name), &ColumnMap::default()) {
            Err(DataError::WrongType { column, found, .. }) => {
                assert_eq!(column, "prompt");
                assert!(found.contains("Struct") || found == "an object", "{found}");
            }
            other => panic!("{name}: expected WrongType, got {other:?}"),
        }
    }
}

#[test]
fn null_prompt_parquet_names_row_group_and_row() -> Result<()> {
    let e = error_of("null_prompt.parquet", &ColumnMap::default());
    match &e {
        DataError::WrongType {
            location,
            column,
            found,
            ..
        } => {
            assert_eq!(
                *location,
                Location::RowGroup {
                    row_group: 1,
                    row: Some(2)
                }
            );
            assert_eq!((column.as_str(), found.as_str()), ("prompt", "null"));
        }
        other => panic!("expected WrongType, got {other}"),
    }
    assert!(e.to_string().contains("row group 1, row 2"), "{e}");
    // Only that row is lost when iterating.
    let reader =
        ParquetPrompts::open(fixture("broken/null_prompt.parquet"), &ColumnMap::default())?;
    assert_eq!(reader.num_row_groups(), 3);
    let results: Vec<_> = reader.collect();
    assert_eq!(results.len(), 12);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    Ok(())
}

#[test]
fn invalid_utf8_jsonl() {
    let e = error_of("invalid_utf8.jsonl", &ColumnMap::default());
    match &e {
        DataError::InvalidUtf8 {
            location, column, ..
        } => {
            assert_eq!((*location, column.as_deref()), (line(3), None));
        }
        other => panic!("expected InvalidUtf8, got {other}"),
    }
}

#[test]
fn invalid_utf8_csv_names_line_and_column() {
    let e = error_of("invalid_utf8.csv", &ColumnMap::default());
    match &e {
        DataError::InvalidUtf8 {
            location, column, ..
        } => {
            assert_eq!((*location, column.as_deref()), (line(3), Some("prompt")));
        }
        other => panic!("expected InvalidUtf8, got {other}"),
    }
    assert!(
        e.to_string()
            .ends_with("line 3: invalid UTF-8 in column `prompt`"),
        "{e}"
    );
}

#[test]
fn empty_files() {
    for name in ["empty.jsonl", "empty.csv", "empty.parquet"] {
        let e = error_of(name, &flat_map());
        assert!(matches!(e, DataError::EmptyFile { .. }), "{name}: {e}");
    }
}

#[test]
fn blank_lines_only_is_empty_and_unknown_extension_is_refused() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    let blank = dir.path().join("blank.jsonl");
    std::fs::write(&blank, "\n  \n\n").map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    assert!(matches!(
        read_prompts(&blank, &flat_map()),
        Err(DataError::EmptyFile { .. })
    ));
    let txt = dir.path().join("prompts.txt");
    std::fs::write(&txt, "x").map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    assert!(matches!(
        read_prompts(&txt, &flat_map()),
        Err(DataError::UnsupportedExtension { .. })
    ));
    Ok(())
}

#[test]
fn not_parquet_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("fake.parquet");
    std::fs::copy(fixture("flat.csv"), &fake).expect("copy");
    match read_prompts(&fake, &flat_map()) {
        Err(DataError::Parquet { file, .. }) => assert_eq!(file, fake),
        other => panic!("expected a Parquet error, got {other:?}"),
    }
}

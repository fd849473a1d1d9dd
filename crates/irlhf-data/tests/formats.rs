//! The same records read from JSONL, CSV and Parquet, flat and nested, compare equal.

mod common;

use common::{fixture, flat_map};
use irlhf_data::{
    open_prompts, read_prompts, ColumnMap, CsvPrompts, JsonlPrompts, ParquetPrompts, PromptRecord,
    Result,
};
use serde_json::{json, Value};

fn flat_jsonl() -> Result<Vec<PromptRecord>> {
    read_prompts(fixture("flat.jsonl"), &flat_map())
}

#[test]
fn flat_jsonl_holds_the_edge_cases() -> Result<()> {
    let records = flat_jsonl()?;
    assert_eq!(records.len(), 50);
    assert_eq!(records[0].prompt, "Café au lait, naïve façade — déjà vu");
    assert_eq!(
        records[3].prompt,
        r#"He said "stop", then "no, really," and left"#
    );
    assert_eq!(
        records[4].prompt,
        "Line one\nline two, with a comma\nline three"
    );
    assert_eq!(records[5].prompt, "Windows line\r\nending and a tab\there");
    assert_eq!(
        records[1].original_continuation.as_deref(),
        Some("multi\nline\ncontinuation")
    );
    assert_eq!(records[7].original_continuation.as_deref(), Some(""));
    assert_eq!(records[11].original_continuation, None);
    assert_eq!(records[13].metadata["toxicity"], Value::Null);
    assert_eq!(records[0].metadata["toxicity"], json!(0.063607));
    Ok(())
}

#[test]
fn flat_parquet_snappy_and_zstd_equal_jsonl() -> Result<()> {
    let jsonl = flat_jsonl()?;
    assert_eq!(read_prompts(fixture("flat.parquet"), &flat_map())?, jsonl);
    assert_eq!(
        read_prompts(fixture("flat_zstd.parquet"), &flat_map())?,
        jsonl
    );
    Ok(())
}

#[test]
fn flat_csv_equals_jsonl_except_empty_string_reads_as_null() -> Result<()> {
    let mut expected = flat_jsonl()?;
    // CSV has no null: pandas writes "" and None alike as an empty field (and reads both as NaN).
    expected[7].original_continuation = None;
    assert_eq!(read_prompts(fixture("flat.csv"), &flat_map())?, expected);
    Ok(())
}

#[test]
fn parquet_batches_smaller_than_row_groups() -> Result<()> {
    let reader = ParquetPrompts::open(fixture("flat.parquet"), &flat_map())?.with_batch_size(7);
    assert_eq!(reader.num_rows(), 50);
    assert_eq!(reader.num_row_groups(), 4);
    assert_eq!(reader.collect::<Result<Vec<_>>>()?, flat_jsonl()?);
    Ok(())
}

#[test]
fn format_iterators_stream_the_same_records() -> Result<()> {
    let expected = flat_jsonl()?;
    let jsonl: Vec<_> =
        JsonlPrompts::open(fixture("flat.jsonl"), &flat_map())?.collect::<Result<_>>()?;
    let csv: Vec<_> = CsvPrompts::open(fixture("flat.csv"), &flat_map())?.collect::<Result<_>>()?;
    let parquet: Vec<_> =
        open_prompts(fixture("flat.parquet"), &flat_map())?.collect::<Result<_>>()?;
    assert_eq!(jsonl, expected);
    assert_eq!(parquet, expected);
    assert_eq!(csv.len(), expected.len());
    Ok(())
}

#[test]
fn nested_jsonl_and_parquet_equal_and_match_the_flat_records() -> Result<()> {
    let map =
        ColumnMap::real_toxicity_prompts().with_metadata_fields(["prompt.toxicity", "challenging"]);
    let jsonl = read_prompts(fixture("nested.jsonl"), &map)?;
    let parquet = read_prompts(fixture("nested.parquet"), &map)?;
    assert_eq!(jsonl, parquet);
    let flat = flat_jsonl()?;
    assert_eq!(jsonl.len(), flat.len());
    for (i, (n, f)) in jsonl.iter().zip(&flat).enumerate() {
        assert_eq!(n.prompt, f.prompt, "record {i}");
        assert_eq!(
            n.original_continuation, f.original_continuation,
            "record {i}"
        );
        assert_eq!(
            n.metadata["prompt.toxicity"], f.metadata["toxicity"],
            "record {i}"
        );
        assert_eq!(n.metadata["challenging"], json!(i % 3 == 0), "record {i}");
    }
    Ok(())
}

#[test]
fn struct_metadata_becomes_a_json_object() -> Result<()> {
    let map = ColumnMap::real_toxicity_prompts().with_metadata_fields(["prompt", "continuation"]);
    let jsonl = read_prompts(fixture("nested.jsonl"), &map)?;
    let parquet = read_prompts(fixture("nested.parquet"), &map)?;
    assert_eq!(jsonl, parquet);
    assert_eq!(
        parquet[0].metadata["prompt"],
        json!({"text": "Café au lait, naïve façade — déjà vu", "toxicity": 0.063607})
    );
    assert_eq!(parquet[11].metadata["continuation"], Value::Null);
    Ok(())
}

#[test]
fn continuation_can_be_absent_or_turned_off() -> Result<()> {
    // The default `original_output` may be missing from a file ...
    let map = ColumnMap::default().with_prompt_field("prompt.text");
    let records = read_prompts(fixture("nested.parquet"), &map)?;
    assert!(records.iter().all(|r| r.original_continuation.is_none()));
    let records = read_prompts(fixture("nested.jsonl"), &map)?;
    assert!(records.iter().all(|r| r.original_continuation.is_none()));
    // ... and `""` ignores one that is there.
    let off = ColumnMap::default().with_continuation_field(Some(""));
    for name in ["flat.jsonl", "flat.csv", "flat.parquet"] {
        let records = read_prompts(fixture(name), &off)?;
        assert!(records
            .iter()
            .all(|r| r.original_continuation.is_none() && r.metadata.is_empty()));
    }
    Ok(())
}

//! A demonstrations file torn by a crash is repaired on reopening without losing a complete
//! record, and generation resumes without duplicates.

mod common;

use common::fixture;
use irlhf_data::{read_jsonl, DataError, JsonlAppender, Location, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Demo {
    prompt_index: usize,
    prompt: String,
    completion: String,
    logprob: f64,
}

fn demo(i: usize) -> Demo {
    Demo {
        prompt_index: i,
        prompt: format!("prompt {i}"),
        completion: format!("completion {i}, \"q\"\nü"),
        logprob: -1.5 * i as f64,
    }
}

fn io(e: std::io::Error) -> DataError {
    DataError::InvalidConfig(e.to_string())
}

#[test]
fn reading_a_torn_file_names_the_torn_line() {
    let path = fixture("demos_torn.jsonl");
    let results: Vec<Result<Demo>> = read_jsonl(&path).expect("open").collect();
    assert_eq!(results.len(), 6);
    for (i, r) in results[..5].iter().enumerate() {
        assert_eq!(r.as_ref().ok(), Some(&demo(i)));
    }
    match &results[5] {
        Err(e @ DataError::MalformedLine { location, file, .. }) => {
            assert_eq!(
                (*location, file.as_path()),
                (Location::Line(6), path.as_path())
            );
            assert!(e.to_string().contains("demos_torn.jsonl: line 6"), "{e}");
        }
        other => panic!("expected a malformed line 6, got {other:?}"),
    }
}

#[test]
fn torn_last_line_is_repaired_and_generation_resumes() -> Result<()> {
    let dir = tempfile::tempdir().map_err(io)?;
    let path = dir.path().join("demos.jsonl");
    std::fs::copy(fixture("demos_torn.jsonl"), &path).map_err(io)?;
    let size = std::fs::metadata(&path).map_err(io)?.len();

    let mut out = JsonlAppender::<Demo>::open(&path)?;
    let recovery = out.recovery();
    assert_eq!(recovery.records, 5);
    assert_eq!(recovery.torn_line, Some(6));
    assert!(recovery.truncated_bytes > 0);
    assert_eq!(
        std::fs::metadata(&path).map_err(io)?.len(),
        size - recovery.truncated_bytes
    );

    // Resume where the complete records end: no duplicate, no gap.
    for i in out.len()..8 {
        out.append(&demo(i))?;
    }
    assert_eq!(out.len(), 8);
    drop(out);
    let back: Vec<Demo> = read_jsonl(&path)?.collect::<Result<_>>()?;
    assert_eq!(back, (0..8).map(demo).collect::<Vec<_>>());

    // An intact file reopens with nothing to repair.
    let out = JsonlAppender::<Demo>::open(&path)?.with_fsync(true);
    assert_eq!(
        (
            out.len(),
            out.recovery().truncated_bytes,
            out.recovery().torn_line
        ),
        (8, 0, None)
    );
    Ok(())
}

#[test]
fn complete_record_without_newline_and_garbage_tail() -> Result<()> {
    let dir = tempfile::tempdir().map_err(io)?;
    let path = dir.path().join("demos.jsonl");
    let mut text: String = (0..3)
        .map(|i| serde_json::to_string(&demo(i)).map(|s| s + "\n"))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    // A crash between the record and its newline: not complete, so it is cut and regenerated.
    let fourth =
        serde_json::to_string(&demo(3)).map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    std::fs::write(&path, format!("{text}{fourth}")).map_err(io)?;
    assert_eq!(JsonlAppender::<Demo>::open(&path)?.len(), 3);
    // Zero-filled blocks after a power loss: a last line that does not parse.
    text.push_str("\0\0\0\0\0\0\n");
    std::fs::write(&path, &text).map_err(io)?;
    let out = JsonlAppender::<Demo>::open(&path)?;
    assert_eq!((out.len(), out.recovery().truncated_bytes), (3, 7));
    Ok(())
}

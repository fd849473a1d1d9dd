//! Streaming a 1,000,000-row Parquet prompt file keeps memory bounded.
//!
//! Run with `cargo test -p irlhf-data --test parquet_rss -- --ignored --nocapture`.
//! The test writes the file (snappy, 128Ki-row row groups) into a temp dir with the Arrow writer,
//! then re-runs itself as a child process that only reads it, so the child's peak RSS (`VmHWM`
//! in /proc/self/status) measures reading alone, not the writer's buffers.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use irlhf_data::{ColumnMap, ParquetPrompts};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

const ROWS: usize = 1_000_000;
const CHILD_ENV: &str = "IRLHF_DATA_RSS_CHILD_FILE";
const TEST_NAME: &str = "read_1m_rows_streaming_peak_rss";

const WORDS: [&str; 32] = [
    "the", "model", "said", "people", "comment", "online", "often", "wrong", "about", "weather",
    "politics", "reviewer", "argued", "claim", "fair", "given", "thread", "gone", "that", "who",
    "are", "but", "was", "how", "had", "and", "a", "fine", "really", "never", "always", "today",
];

/// SplitMix64, to make varied text without a dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn sentence(state: &mut u64, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[(splitmix(state) % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn write_file(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("prompt", DataType::Utf8, false),
        Field::new("original_output", DataType::Utf8, true),
        Field::new("toxicity", DataType::Float64, true),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path)?, schema.clone(), Some(props))?;
    let mut state = 42;
    for start in (0..ROWS).step_by(10_000) {
        let n = 10_000.min(ROWS - start);
        let prompts: Vec<String> = (start..start + n)
            .map(|i| {
                let words = 3 + (splitmix(&mut state) % 6) as usize;
                format!("Prompt {i}: {}", sentence(&mut state, words))
            })
            .collect();
        let outputs: Vec<String> = (0..n)
            .map(|_| {
                let words = 2 + (splitmix(&mut state) % 4) as usize;
                sentence(&mut state, words)
            })
            .collect();
        let toxicity: Vec<f64> = (0..n)
            .map(|_| (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64)
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(prompts)),
            Arc::new(StringArray::from(outputs)),
            Arc::new(Float64Array::from(toxicity)),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
    }
    writer.close()?;
    Ok(())
}

/// The child: stream the file, print what it measured.
fn read_and_report(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let rss_before = status_kib("VmRSS:");
    let start = Instant::now();
    let map = ColumnMap::default().with_metadata_fields(["toxicity"]);
    let (mut rows, mut chars, mut toxic) = (0usize, 0usize, 0usize);
    for record in ParquetPrompts::open(path, &map)? {
        let record = record?;
        rows += 1;
        chars += record.prompt.len() + record.original_continuation.as_ref().map_or(0, String::len);
        toxic += usize::from(record.metadata_f64("toxicity").is_some_and(|t| t > 0.5));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RSS_REPORT rows={rows} text_bytes={chars} toxic={toxic} secs={secs:.3} \
         rss_before_kib={rss_before} hwm_kib={}",
        status_kib("VmHWM:")
    );
    Ok(())
}

fn field<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("")
}

#[test]
#[ignore = "large: run with --ignored"]
fn read_1m_rows_streaming_peak_rss() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        return read_and_report(Path::new(&path));
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("prompts_1m.parquet");
    let start = Instant::now();
    write_file(&path)?;
    let write_secs = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path)?.len();

    let child = std::process::Command::new(std::env::current_exe()?)
        .args([
            TEST_NAME,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .output()?;
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    // libtest may print `test NAME ... ` before the report on the same line.
    let report = stdout
        .lines()
        .find_map(|l| l.find("RSS_REPORT").map(|at| &l[at..]))
        .ok_or("child printed no RSS_REPORT")?;
    println!(
        "wrote {ROWS} rows, {:.1} MB, in {write_secs:.2} s; read back: {report}",
        size as f64 / 1e6
    );
    assert_eq!(field(report, "rows"), ROWS.to_string());
    let hwm_mib = field(report, "hwm_kib").parse::<f64>()? / 1024.0;
    // Bounded by a batch and the pages in flight, not by the ~30 MB file or its ~100 MB of text.
    assert!(hwm_mib < 128.0, "peak RSS {hwm_mib:.1} MiB");
    Ok(())
}

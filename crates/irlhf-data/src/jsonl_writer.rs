//! Streaming, append-safe JSON Lines for any `Serialize`/`Deserialize` record: demonstrations,
//! scored generations, anything a long run writes one record at a time and must resume.
//!
//! A record is *complete* once its line, newline included, is in the file: [`JsonlAppender`]
//! writes each record as one `write` of `json + "\n"`. A crash can leave a torn last line (no
//! newline, or bytes that do not parse); [`JsonlAppender::open`] truncates it and reports how
//! many complete records remain, so generation resumes at that index without duplicates. A line
//! that does not parse *before* the last one is corruption, not a torn write, and is an error
//! (the file is left untouched).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DataError, Location, Result};

/// Parses one physical line (with or without its `\n`): `Ok(None)` for a blank line.
pub(crate) fn parse_line<T: DeserializeOwned>(
    path: &Path,
    line: u64,
    bytes: &[u8],
) -> Result<Option<T>> {
    let mut bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if line == 1 {
        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DataError::InvalidUtf8 {
        file: path.to_path_buf(),
        location: Location::Line(line),
        column: None,
    })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| DataError::MalformedLine {
            file: path.to_path_buf(),
            location: Location::Line(line),
            message: format!("expected one JSON record per line: {e}"),
        })
}

/// A streaming reader of a JSON Lines file: one `T` per non-blank line.
///
/// Errors name the file and the 1-based line. A line that fails (bad JSON, invalid UTF-8, not a
/// `T`) is reported and reading goes on with the next line; an I/O error ends the iteration.
#[derive(Debug)]
pub struct JsonlReader<T> {
    path: PathBuf,
    reader: BufReader<File>,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonlReader<T> {
    /// Opens `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            line: 0,
            buf: Vec::new(),
            done: false,
            _record: PhantomData,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next record with the 1-based line it was on.
    pub(crate) fn next_with_line(&mut self) -> Option<(u64, Result<T>)> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    match parse_line(&self.path, self.line, &self.buf) {
                        Ok(None) => {}
                        Ok(Some(record)) => return Some((self.line, Ok(record))),
                        Err(e) => return Some((self.line, Err(e))),
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some((self.line + 1, Err(DataError::io(&self.path, e))));
                }
            }
        }
        None
    }
}

impl<T: DeserializeOwned> Iterator for JsonlReader<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_line().map(|(_, record)| record)
    }
}

/// Reads a JSON Lines file record by record (see [`JsonlReader`]).
pub fn read_jsonl<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<JsonlReader<T>> {
    JsonlReader::open(path)
}

/// What [`JsonlAppender::open`] found in an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Complete records in the file after repair: the index the next record gets.
    pub records: usize,
    /// Bytes of the torn last line that were truncated (0 when the file was intact).
    pub truncated_bytes: u64,
    /// The 1-based line that was truncated, if one was.
    pub torn_line: Option<u64>,
}

/// Appends records to a JSON Lines file, one line per record, resuming safely after a crash.
///
/// ```no_run
/// # fn main() -> irlhf_data::Result<()> {
/// use irlhf_data::JsonlAppender;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Demo { prompt_index: usize, completion: String }
///
/// let mut out = JsonlAppender::<Demo>::open("demos.jsonl")?.with_fsync(true);
/// for i in out.len()..100 {
///     out.append(&Demo { prompt_index: i, completion: format!("text {i}") })?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JsonlAppender<T> {
    path: PathBuf,
    file: File,
    records: usize,
    recovery: Recovery,
    fsync: bool,
    line: Vec<u8>,
    _record: PhantomData<fn(&T)>,
}

impl<T: Serialize + DeserializeOwned> JsonlAppender<T> {
    /// Opens (or creates) `path` for appending.
    ///
    /// Every line is parsed as a `T`. A torn last line (no trailing newline, or one that does
    /// not parse) is truncated; [`recovery`](Self::recovery) says what was found. A line that
    /// does not parse with complete lines after it is an error and the file is not changed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |e| DataError::io(path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let recovery = scan::<T>(path, &file)?;
        if recovery.truncated_bytes > 0 {
            let keep = file.metadata().map_err(io)?.len() - recovery.truncated_bytes;
            file.set_len(keep).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            records: recovery.records,
            recovery,
            fsync: false,
            line: Vec::new(),
            _record: PhantomData,
        })
    }

    /// Whether each [`append`](Self::append) also waits for the data to reach the disk
    /// (`fsync`), so a power loss keeps every appended record. Off by default: a process crash
    /// keeps every record either way.
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Writes one record as one line and flushes it to the OS (and to disk with
    /// [`with_fsync`](Self::with_fsync)).
    pub fn append(&mut self, record: &T) -> Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(|source| DataError::Serialize {
            file: self.path.clone(),
            source,
        })?;
        self.line.push(b'\n');
        let io = |e| DataError::io(&self.path, e);
        self.file.write_all(&self.line).map_err(io)?;
        self.file.flush().map_err(io)?;
        if self.fsync {
            self.file.sync_data().map_err(io)?;
        }
        self.records += 1;
        Ok(())
    }

    /// Complete records in the file: those found on opening plus those appended since.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the file holds no complete record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// What opening found and repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Counts the complete records of `file` and measures a torn tail.
fn scan<T: DeserializeOwned>(path: &Path, file: &File) -> Result<Recovery> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let (mut line, mut records, mut good_end, mut end) = (0u64, 0usize, 0u64, 0u64);
    // A line that failed to parse: fatal if any non-blank line follows it.
    let mut failed: Option<(u64, DataError)> = None;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        end += n as u64;
        let terminated = buf.last() == Some(&b'\n');
        let parsed = parse_line::<T>(path, line, &buf);
        let blank = matches!(parsed, Ok(None));
        if !blank {
            if let Some((_, err)) = failed.take() {
                return Err(err);
            }
        }
        match parsed {
            Ok(Some(_)) if terminated => {
                records += 1;
                good_end = end;
            }
            Ok(None) if terminated => {
                if failed.is_none() {
                    good_end = end;
                }
            }
            // Trailing whitespace without a newline: cut with the tail, nothing was lost.
            Ok(None) => {}
            Ok(Some(_)) => {
                // No newline: the write was cut short; it can only be the last line.
                failed = Some((
                    line,
                    DataError::MalformedLine {
                        file: path.to_path_buf(),
                        location: Location::Line(line),
                        message: "line has no trailing newline".into(),
                    },
                ));
            }
            Err(e) => failed = Some((line, e)),
        }
    }
    let torn_line = failed.map(|(line, _)| line);
    Ok(Recovery {
        records,
        truncated_bytes: end - good_end,
        torn_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        i: usize,
        text: String,
    }

    fn row(i: usize) -> Row {
        Row {
            i,
            text: format!("line {i}, \"quoted\"\nnewline ünï"),
        }
    }

    #[test]
    fn append_then_resume() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| DataError::io(Path::new("tmp"), e))?;
        let path = dir.path().join("out.jsonl");
        let mut out = JsonlAppender::<Row>::open(&path)?;
        assert!(out.is_empty());
        for i in 0..3 {
            out.append(&row(i))?;
        }
        drop(out);
        let out = JsonlAppender::<Row>::open(&path)?.with_fsync(true);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out.recovery(),
            Recovery {
                records: 3,
                ..Recovery::default()
            }
        );
        let back: Vec<Row> = read_jsonl(&path)?.collect::<Result<_>>()?;
        assert_eq!(back, (0..3).map(row).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn torn_tails_are_truncated_middle_corruption_is_an_error() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| DataError::io(Path::new("tmp"), e))?;
        let path = dir.path().join("t.jsonl");
        let good = "{\"i\":0,\"text\":\"a\"}\n{\"i\":1,\"text\":\"b\"}\n";
        for (tail, torn) in [
            ("{\"i\":2,\"te", 10),
            ("{\"i\":2,\"text\":\"c\"}", 18),
            ("{\"i\":2,\"te\n", 11),
            ("\0\0\0\0", 4),
            ("\n\n", 0),
        ] {
            std::fs::write(&path, format!("{good}{tail}")).map_err(|e| DataError::io(&path, e))?;
            let mut out = JsonlAppender::<Row>::open(&path)?;
            assert_eq!(out.len(), 2, "tail {tail:?}");
            assert_eq!(out.recovery().truncated_bytes, torn, "tail {tail:?}");
            out.append(&row(2))?;
            let back: Vec<Row> = read_jsonl(&path)?.collect::<Result<_>>()?;
            assert_eq!(back.len(), 3);
            assert_eq!(back[2], row(2));
        }
        std::fs::write(&path, format!("{good}{{oops\n{good}"))
            .map_err(|e| DataError::io(&path, e))?;
        let before = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        match JsonlAppender::<Row>::open(&path) {
            Err(DataError::MalformedLine { location, .. }) => {
                assert_eq!(location, Location::Line(3));
            }
            other => panic!("expected a malformed line 3, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).map_err(|e| DataError::io(&path, e))?,
            before
        );
        Ok(())
    }
}

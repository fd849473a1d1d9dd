//! The JSONL files the commands read, one record at a time (memory does not grow with the file):
//! preference pairs (`prompt`, `chosen`, `rejected`), single responses (`prompt`, `response`),
//! and irl-core demonstrations (`prompt`, `expert`, `baselines`), with errors naming the file,
//! the line and the key.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context;
use irl_core::Demonstration;
use serde_json::Value;

/// The field names of a record.
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Fields {
    /// The prompt's key.
    #[arg(long, default_value = "prompt")]
    pub prompt_field: String,
    /// The preferred response's key (preference data).
    #[arg(long, default_value = "chosen")]
    pub chosen_field: String,
    /// The other response's key (preference data).
    #[arg(long, default_value = "rejected")]
    pub rejected_field: String,
    /// The response's key (single responses).
    #[arg(long, default_value = "response")]
    pub response_field: String,
}

/// One record: a prompt with a preference pair or with one response.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// `chosen` preferred to `rejected`.
    Pair {
        /// The prompt.
        prompt: String,
        /// The preferred response.
        chosen: String,
        /// The other one.
        rejected: String,
    },
    /// One response.
    Single {
        /// The prompt.
        prompt: String,
        /// The response.
        response: String,
    },
}

/// Reads records one by one; the first record decides whether the file is preference data, and
/// every later record must be of the same shape.
pub struct Records {
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    line: usize,
    fields: Fields,
    pairs: Option<bool>,
}

impl Records {
    /// Opens `path`.
    pub fn open(path: &Path, fields: &Fields) -> anyhow::Result<Self> {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Records {
            path: path.to_path_buf(),
            lines: BufReader::new(f).lines(),
            line: 0,
            fields: fields.clone(),
            pairs: None,
        })
    }

    fn err(&self, msg: String) -> anyhow::Error {
        anyhow::anyhow!("{}, line {}: {msg}", self.path.display(), self.line)
    }

    fn text(&self, v: &Value, key: &str) -> anyhow::Result<String> {
        match v.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(format!(
                "`{key}` must be a string, found {}",
                kind_of(other)
            ))),
            None => Err(self.err(format!("no `{key}` key"))),
        }
    }

    fn parse(&mut self, text: &str) -> anyhow::Result<Record> {
        let v: Value = serde_json::from_str(text).map_err(|e| self.err(e.to_string()))?;
        let f = &self.fields;
        let has = |k: &str| v.get(k).is_some();
        let pair = has(&f.chosen_field) || has(&f.rejected_field);
        let pairs = *self.pairs.get_or_insert(pair);
        let prompt = self.text(&v, &f.prompt_field)?;
        if pairs {
            let chosen = self.text(&v, &f.chosen_field)?;
            let rejected = self.text(&v, &f.rejected_field)?;
            Ok(Record::Pair {
                prompt,
                chosen,
                rejected,
            })
        } else if pair {
            Err(self.err("a preference pair, but earlier records have single responses".to_owned()))
        } else {
            let response = self.text(&v, &f.response_field)?;
            Ok(Record::Single { prompt, response })
        }
    }
}

impl Iterator for Records {
    type Item = anyhow::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line += 1;
            let text = match self.lines.next()? {
                Ok(t) => t,
                Err(e) => return Some(Err(self.err(e.to_string()))),
            };
            if !text.trim().is_empty() {
                return Some(self.parse(&text));
            }
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Demonstrations from a file of irl-core demonstrations or of preference pairs (`chosen` as
/// the expert's response, `rejected` as the baseline's).
pub fn read_demonstrations(path: &Path, fields: &Fields) -> anyhow::Result<Vec<Demonstration>> {
    let first = first_record(path)?;
    if first.get("expert").is_some() {
        return Ok(irl_core::read_demonstrations(path)?);
    }
    let mut out = Vec::new();
    for r in Records::open(path, fields)? {
        match r? {
            Record::Pair {
                prompt,
                chosen,
                rejected,
            } => out.push(Demonstration {
                prompt,
                expert: chosen,
                baselines: vec![rejected],
                expert_ref_logprob: None,
                baseline_ref_logprobs: None,
                expert_expert_logprob: None,
                baseline_expert_logprobs: None,
            }),
            Record::Single { .. } => anyhow::bail!(
                "{}: single responses are not demonstrations; give irl-core demonstrations \
                 (`prompt`, `expert`, `baselines`) or preference pairs (`{}`, `{}`)",
                path.display(),
                fields.chosen_field,
                fields.rejected_field
            ),
        }
    }
    Ok(out)
}

fn first_record(path: &Path) -> anyhow::Result<Value> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if !line.trim().is_empty() {
            return serde_json::from_str(&line)
                .with_context(|| format!("{}, line {}", path.display(), i + 1));
        }
    }
    anyhow::bail!("{}: no records", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            prompt_field: "prompt".into(),
            chosen_field: "chosen".into(),
            rejected_field: "rejected".into(),
            response_field: "response".into(),
        }
    }

    fn read(text: &str) -> anyhow::Result<Vec<Record>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data.jsonl");
        std::fs::write(&path, text)?;
        Records::open(&path, &fields())?.collect()
    }

    #[test]
    fn pairs_and_singles_are_read_and_blank_lines_skipped() -> anyhow::Result<()> {
        let pairs = read("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n\n")?;
        assert_eq!(
            pairs,
            [Record::Pair {
                prompt: "a".into(),
                chosen: "b".into(),
                rejected: "c".into()
            }]
        );
        let single = read("{\"prompt\":\"a\",\"response\":\"b\"}\n")?;
        assert_eq!(
            single,
            [Record::Single {
                prompt: "a".into(),
                response: "b".into()
            }]
        );
        Ok(())
    }

    #[test]
    fn a_pair_without_rejected_names_the_line_and_the_key() {
        let text = "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n\
                    {\"prompt\":\"a\",\"chosen\":\"b\"}\n";
        let msg = format!("{:#}", read(text).expect_err("missing rejected"));
        assert!(
            msg.contains("line 2") && msg.contains("no `rejected` key"),
            "{msg}"
        );
        let text = "{\"prompt\":\"a\",\"rejected\":\"c\"}\n";
        let msg = format!("{:#}", read(text).expect_err("missing chosen"));
        assert!(
            msg.contains("line 1") && msg.contains("no `chosen` key"),
            "{msg}"
        );
        let msg = format!("{:#}", read("{\"prompt\":3}\n").expect_err("a number"));
        assert!(
            msg.contains("`prompt` must be a string, found a number"),
            "{msg}"
        );
        let msg = format!("{:#}", read("{\"prompt\":\"a\"\n").expect_err("bad json"));
        assert!(msg.contains("data.jsonl, line 1"), "{msg}");
    }

    #[test]
    fn shapes_may_not_change_within_a_file() {
        let text = "{\"prompt\":\"a\",\"response\":\"b\"}\n\
                    {\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n";
        let msg = format!("{:#}", read(text).expect_err("mixed"));
        assert!(
            msg.contains("line 2") && msg.contains("preference pair"),
            "{msg}"
        );
    }
}

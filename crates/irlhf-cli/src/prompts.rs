//! Prompt files for runs on real checkpoints: JSONL with a prompt field and an optional
//! original continuation, addressed by dotted paths into nested objects (RealToxicityPrompts
//! nests `prompt.text`). Errors name the file and line.

use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context};

/// One prompt and, if the file has it, the dataset's original continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRecord {
    /// The prompt text.
    pub prompt: String,
    /// The original continuation.
    pub original: Option<String>,
}

fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// Reads `path` (JSONL), taking the prompt from `prompt_field` and the continuation from
/// `continuation_field` (dotted paths); stops after `max` records when given.
pub fn read_jsonl_prompts(
    path: &Path,
    prompt_field: &str,
    continuation_field: Option<&str>,
    max: Option<usize>,
) -> anyhow::Result<Vec<PromptRecord>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: not UTF-8 text", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: malformed JSON", path.display(), i + 1))?;
        let prompt = match lookup(&v, prompt_field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => bail!(
                "{}:{}: field '{prompt_field}' is {other}, expected a string",
                path.display(),
                i + 1
            ),
            None => bail!("{}:{}: no field '{prompt_field}'", path.display(), i + 1),
        };
        let original = match continuation_field.and_then(|c| lookup(&v, c)) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Null) | None => None,
            Some(other) => bail!(
                "{}:{}: continuation is {other}, expected a string",
                path.display(),
                i + 1
            ),
        };
        out.push(PromptRecord { prompt, original });
        if max.is_some_and(|m| out.len() >= m) {
            break;
        }
    }
    if out.is_empty() {
        bail!("{}: no prompts", path.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_and_errors_with_line_numbers() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("p.jsonl");
        std::fs::write(&p, "{\"prompt\":{\"text\":\"Hi\"},\"continuation\":{\"text\":\" there\"}}\n\n{\"prompt\":{\"text\":\"Yo\"},\"continuation\":null}\n")?;
        let r = read_jsonl_prompts(&p, "prompt.text", Some("continuation.text"), None)?;
        assert_eq!(
            r[0],
            PromptRecord {
                prompt: "Hi".into(),
                original: Some(" there".into())
            }
        );
        assert_eq!(r[1].original, None);
        std::fs::write(&p, "{\"prompt\":\"a\"}\n{\"prompt\":3}\n")?;
        let e = read_jsonl_prompts(&p, "prompt", None, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(":2:") && e.contains("expected a string"), "{e}");
        std::fs::write(&p, "{\"text\":\"a\"}\n")?;
        let e = read_jsonl_prompts(&p, "prompt", None, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(":1:") && e.contains("no field 'prompt'"), "{e}");
        Ok(())
    }
}

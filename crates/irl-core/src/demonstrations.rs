//! Demonstrations: for each prompt, the expert's response and one or more baseline responses
//! (from the policy PPO started from), optionally with sequence log-probs. Stored as JSONL,
//! one record a line, written by appending so an interrupted build resumes: a torn last line
//! (a crash mid-write) is cut off on reopening and no complete record is lost.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use lm_backend::{generate, CausalLm, GenerationConfig, Side, Tokenizer};
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{IrlError, Result};

/// One prompt with an expert response and `K >= 1` baseline responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demonstration {
    /// The prompt text.
    pub prompt: String,
    /// The expert (e.g. RLHF'd) policy's response.
    pub expert: String,
    /// Responses of the baseline (reference) policy.
    pub baselines: Vec<String>,
    /// `log pi_ref(expert | prompt)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_ref_logprob: Option<f64>,
    /// `log pi_ref(baseline_k | prompt)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_ref_logprobs: Option<Vec<f64>>,
    /// `log pi_E(expert | prompt)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_expert_logprob: Option<f64>,
    /// `log pi_E(baseline_k | prompt)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_expert_logprobs: Option<Vec<f64>>,
}

/// Reads a demonstrations JSONL file; errors name the file and line.
pub fn read_demonstrations(path: &Path) -> Result<Vec<Demonstration>> {
    let f = std::fs::File::open(path).map_err(|e| IrlError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| IrlError::Jsonl {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let d: Demonstration = serde_json::from_str(&line).map_err(|e| IrlError::Jsonl {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if d.baselines.is_empty() {
            return Err(IrlError::Jsonl {
                path: path.to_path_buf(),
                line: i + 1,
                message: "record has no baseline response".into(),
            });
        }
        out.push(d);
    }
    Ok(out)
}

/// An append-only JSONL writer that repairs a torn last line on opening.
pub struct JsonlAppender {
    path: PathBuf,
    file: std::fs::File,
    complete: usize,
}

impl JsonlAppender {
    /// Opens (or creates) `path` for appending. A last line without its newline — a write cut
    /// short — is removed; [`JsonlAppender::complete_records`] tells how many records remain.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| IrlError::io(dir, e))?;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(IrlError::io(path, e)),
        };
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let complete = bytes[..keep]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| IrlError::io(path, e))?;
        if keep < bytes.len() {
            file.set_len(keep as u64)
                .map_err(|e| IrlError::io(path, e))?;
        }
        Ok(JsonlAppender {
            path: path.to_path_buf(),
            file,
            complete,
        })
    }

    /// Records already in the file.
    pub fn complete_records(&self) -> usize {
        self.complete
    }

    /// Appends one record as a line and flushes it to disk.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| IrlError::io(&self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| IrlError::io(&self.path, e))?;
        self.complete += 1;
        Ok(())
    }
}

/// How demonstrations are generated.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemonstrationConfig {
    /// Generation settings (the paper: greedy). `generation.max_new_tokens` caps the new
    /// tokens of every row.
    pub generation: GenerationConfig,
    /// Total length in tokens, prompt included, as `transformers`' `max_length` (the paper's
    /// `create_dataset_irl.py`: 100): a row gets `max_length - prompt length` new tokens (at
    /// least 1, as `generate` does), and never more than `generation.max_new_tokens`. `None`:
    /// `generation.max_new_tokens` alone.
    pub max_length: Option<usize>,
    /// Stop a row at the end-of-sequence token (`generation.eos_token_id`, else the
    /// tokenizer's EOS, `<|endoftext|>` for Pythia), as `transformers.generate` does with the
    /// model's generation config. The EOS token itself is not part of the decoded text.
    pub stop_at_eos: bool,
    /// Baseline responses per prompt (K).
    pub baselines_per_prompt: usize,
    /// Prompts per generation batch.
    pub batch_size: usize,
    /// Also store sequence log-probs under both policies (for importance-weighted max-ent
    /// IRL). `None`: the pipeline decides from its objectives (only when one reads them).
    pub with_logprobs: Option<bool>,
}

impl Default for DemonstrationConfig {
    fn default() -> Self {
        DemonstrationConfig {
            generation: GenerationConfig::default()
                .with_max_new_tokens(100)
                .with_sampling(lm_backend::SamplingConfig::greedy()),
            max_length: None,
            stop_at_eos: true,
            baselines_per_prompt: 1,
            batch_size: 16,
            with_logprobs: None,
        }
    }
}

impl DemonstrationConfig {
    /// The generation settings of a batch whose first prompt is prompt number `start` and
    /// whose shortest prompt has `shortest` tokens: enough new tokens for that prompt, the EOS
    /// to stop at, and a seed that depends on the prompt index, so that a resumed build draws
    /// what an uninterrupted one would.
    fn batch_generation(&self, tok: &Tokenizer, start: usize, shortest: usize) -> GenerationConfig {
        let mut gen = self
            .generation
            .clone()
            .with_seed(tox_eval::seeds::seed_for_index(
                self.generation.seed,
                "demonstrations/batch",
                start as u64,
            ))
            .with_max_new_tokens(self.new_tokens(shortest));
        if self.stop_at_eos && gen.eos_token_id.is_none() {
            gen.eos_token_id = tok.eos_id();
        }
        gen
    }

    /// New tokens for a prompt of `prompt_len` tokens.
    pub fn new_tokens(&self, prompt_len: usize) -> usize {
        let cap = self.generation.max_new_tokens;
        match self.max_length {
            Some(total) => total.saturating_sub(prompt_len).max(1).min(cap),
            None => cap,
        }
    }
}

/// Generates demonstrations for `prompts` with `expert` and `baseline` (the policy PPO started
/// from) and appends them to `out`, skipping prompts already written there (resume: record `i`
/// of the file must be prompt `i`, else the file belongs to other prompts and is refused).
/// `on_progress(done, total)` is called after each batch.
///
/// Rows stop at EOS (see [`DemonstrationConfig::stop_at_eos`]) and after
/// [`DemonstrationConfig::new_tokens`] tokens; a row of a batch is what it would be alone
/// (left padding, per-row stops), so the batch size does not change greedy results.
pub fn build_demonstrations(
    expert: &dyn CausalLm,
    baseline: &dyn CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[String],
    cfg: &DemonstrationConfig,
    out: &Path,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<Vec<Demonstration>> {
    let mut writer = JsonlAppender::open(out)?;
    let done = writer.complete_records();
    check_resumed_prompts(out, prompts, done)?;
    let device = expert.var_store().device();
    let k = cfg.baselines_per_prompt.max(1);
    let tok = tokenizer;
    let batch_size = cfg.batch_size.max(1);
    // Batches cover fixed index ranges, so a build resumed after a crash inside a batch
    // regenerates that whole batch (sampling draws for a whole batch) and keeps its new rows.
    let first = done - done % batch_size;
    for (b, chunk) in prompts[first..].chunks(batch_size).enumerate() {
        let start = first + b * batch_size;
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let ids = tok.encode_ids(&refs)?;
        let shortest = ids.iter().map(Vec::len).min().unwrap_or(0);
        let budgets: Vec<usize> = ids.iter().map(|p| cfg.new_tokens(p.len())).collect();
        let batch =
            lm_backend::io::tokenizer::pad_batch(ids.clone(), tok.pad_id(), Side::Left, device)?;
        let gen = cfg.batch_generation(tok, start, shortest);
        let run = |model: &dyn CausalLm, g: &GenerationConfig| -> Result<Vec<Vec<i64>>> {
            // Unless the EOS was named, each model also stops at its own EOS ids.
            let g = if cfg.stop_at_eos && cfg.generation.eos_token_id.is_none() {
                &g.clone().with_model_stops(model)
            } else {
                g
            };
            let mut rows = generate(model, &batch.input_ids, &batch.attention_mask, g)?.tokens;
            for (row, &budget) in rows.iter_mut().zip(&budgets) {
                row.truncate(budget);
            }
            Ok(rows)
        };
        let expert_tokens = run(expert, &gen)?;
        let mut base_tokens: Vec<Vec<Vec<i64>>> = vec![Vec::new(); chunk.len()];
        for j in 0..k {
            let g = gen.clone().with_seed(tox_eval::seeds::seed_for_index(
                gen.seed,
                "demonstrations/baseline",
                j as u64,
            ));
            for (i, t) in run(baseline, &g)?.into_iter().enumerate() {
                base_tokens[i].push(t);
            }
        }
        for (i, prompt) in chunk.iter().enumerate().skip(done.saturating_sub(start)) {
            let mut d = Demonstration {
                prompt: prompt.clone(),
                expert: tok.decode(&expert_tokens[i], true)?,
                baselines: base_tokens[i]
                    .iter()
                    .map(|t| tok.decode(t, true))
                    .collect::<lm_backend::Result<Vec<_>>>()?,
                expert_ref_logprob: None,
                baseline_ref_logprobs: None,
                expert_expert_logprob: None,
                baseline_expert_logprobs: None,
            };
            if cfg.with_logprobs.unwrap_or(false) {
                let p = vec![ids[i].clone(); k + 1];
                let mut r = vec![expert_tokens[i].clone()];
                r.extend(base_tokens[i].iter().cloned());
                let lr = sums(baseline, &p, &r, tok.pad_id(), device)?;
                let le = sums(expert, &p, &r, tok.pad_id(), device)?;
                d.expert_ref_logprob = Some(lr[0]);
                d.baseline_ref_logprobs = Some(lr[1..].to_vec());
                d.expert_expert_logprob = Some(le[0]);
                d.baseline_expert_logprobs = Some(le[1..].to_vec());
            }
            writer.append(&d)?;
        }
        on_progress(writer.complete_records(), prompts.len());
    }
    read_demonstrations(out)
}

/// A resumed file must hold the first `done` of `prompts`, in order.
fn check_resumed_prompts(out: &Path, prompts: &[String], done: usize) -> Result<()> {
    if done == 0 {
        return Ok(());
    }
    let written = read_demonstrations(out)?;
    if written.len() > prompts.len() {
        return Err(IrlError::InvalidArgument(format!(
            "{} holds {} demonstrations but only {} prompts were given: it belongs to other \
             prompts (use another file, or delete it to start over)",
            out.display(),
            written.len(),
            prompts.len()
        )));
    }
    for (i, (d, p)) in written.iter().zip(prompts).enumerate() {
        if &d.prompt != p {
            return Err(IrlError::Jsonl {
                path: out.to_path_buf(),
                line: i + 1,
                message: format!(
                    "record {i} is for the prompt {:?}, but prompt {i} is {:?}: the file belongs \
                     to other prompts (use another file, or delete it to start over)",
                    shorten(&d.prompt),
                    shorten(p)
                ),
            });
        }
    }
    Ok(())
}

/// The first 60 characters of `text`, for error messages.
fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

fn sums(
    model: &dyn CausalLm,
    p: &[Vec<i64>],
    r: &[Vec<i64>],
    pad: i64,
    device: Device,
) -> Result<Vec<f64>> {
    let lp = lm_backend::continuation_logprobs(model, p, r, pad, device)?;
    Ok(Vec::try_from(
        lp.sum
            .f_to_kind(tch::Kind::Double)?
            .f_to_device(Device::Cpu)?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(i: usize) -> Demonstration {
        Demonstration {
            prompt: format!("p{i}"),
            expert: "nice".into(),
            baselines: vec!["rude".into()],
            expert_ref_logprob: None,
            baseline_ref_logprobs: None,
            expert_expert_logprob: None,
            baseline_expert_logprobs: None,
        }
    }

    #[test]
    fn torn_last_line_is_repaired_without_losing_records() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| IrlError::io("tmp", e))?;
        let path = dir.path().join("demos.jsonl");
        let mut w = JsonlAppender::open(&path)?;
        w.append(&demo(0))?;
        w.append(&demo(1))?;
        drop(w);
        // Simulate a crash in the middle of the third record.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| IrlError::io(&path, e))?;
        f.write_all(br#"{"prompt":"p2","exp"#)
            .map_err(|e| IrlError::io(&path, e))?;
        drop(f);
        let mut w = JsonlAppender::open(&path)?;
        assert_eq!(w.complete_records(), 2);
        w.append(&demo(2))?;
        let all = read_demonstrations(&path)?;
        assert_eq!(all, vec![demo(0), demo(1), demo(2)]);
        Ok(())
    }

    #[test]
    fn bad_line_names_file_and_line() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| IrlError::io("tmp", e))?;
        let path = dir.path().join("bad.jsonl");
        std::fs::write(
            &path,
            "{\"prompt\":\"a\",\"expert\":\"b\",\"baselines\":[\"c\"]}\nnot json\n",
        )
        .map_err(|e| IrlError::io(&path, e))?;
        match read_demonstrations(&path) {
            Err(IrlError::Jsonl { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a JSONL error, got {other:?}"),
        }
        Ok(())
    }
}

//! Filters over a stream of prompt records: prompt length in characters and in tokens, metadata
//! thresholds, de-duplication and a row cap.
//!
//! The tests run in this order, each only on the records the previous ones kept: characters,
//! tokens, metadata thresholds, de-duplication (by exact prompt text, the first kept occurrence
//! wins), then the cap (iteration stops once `max_rows` records are kept, without reading the
//! rest of the file). Tokens are counted by a function the caller provides (e.g. a closure over a
//! Hugging Face tokenizer), so this crate has no tokenizer dependency. Read errors pass through
//! unchanged and are not counted as rows.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::record::PromptRecord;

/// A comparison of a metadata value with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `value > threshold`
    #[serde(rename = ">")]
    Gt,
    /// `value >= threshold`
    #[serde(rename = ">=")]
    Ge,
    /// `value < threshold`
    #[serde(rename = "<")]
    Lt,
    /// `value <= threshold`
    #[serde(rename = "<=")]
    Le,
}

impl Comparison {
    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
        }
    }
}

/// Keeps records whose numeric metadata value passes a comparison, e.g. `prompt.toxicity > 0.5`.
/// A record whose value is absent, null or not a number is dropped.
///
/// In TOML: `{ field = "prompt.toxicity", op = ">", value = 0.5 }`; or parsed from the text
/// `"prompt.toxicity > 0.5"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataThreshold {
    /// The metadata key (a dotted path listed in the column map's `metadata_fields`).
    pub field: String,
    /// The comparison.
    pub op: Comparison,
    /// The threshold.
    pub value: f64,
}

impl MetadataThreshold {
    /// A threshold on `field`.
    pub fn new(field: impl Into<String>, op: Comparison, value: f64) -> Self {
        Self {
            field: field.into(),
            op,
            value,
        }
    }

    /// Whether `record` passes.
    pub fn keeps(&self, record: &PromptRecord) -> bool {
        record
            .metadata_f64(&self.field)
            .is_some_and(|v| self.op.holds(v, self.value))
    }
}

impl std::fmt::Display for MetadataThreshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.field, self.op.symbol(), self.value)
    }
}

impl FromStr for MetadataThreshold {
    type Err = DataError;

    /// Parses `FIELD OP NUMBER` with `OP` one of `>`, `>=`, `<`, `<=`.
    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            DataError::InvalidConfig(format!(
                "threshold `{text}`: expected `FIELD OP NUMBER` with OP one of > >= < <="
            ))
        };
        let (at, op, len) = [
            (">=", Comparison::Ge),
            ("<=", Comparison::Le),
            (">", Comparison::Gt),
            ("<", Comparison::Lt),
        ]
        .into_iter()
        .find_map(|(symbol, op)| text.find(symbol).map(|at| (at, op, symbol.len())))
        .ok_or_else(bad)?;
        let field = text[..at].trim();
        let value: f64 = text[at + len..].trim().parse().map_err(|_| bad())?;
        if field.is_empty() || !value.is_finite() {
            return Err(bad());
        }
        Ok(Self::new(field, op, value))
    }
}

/// The token-counter type of a filter built without one ([`PromptFilter::apply`]).
pub type NoTokenCounter = fn(&str) -> usize;

/// What to keep from a stream of prompt records. Everything is off by default.
///
/// Deserialisable from the pipeline's TOML config (unknown keys are rejected):
///
/// ```toml
/// [data.filter]
/// min_chars = 16
/// max_tokens = 64
/// metadata = [{ field = "prompt.toxicity", op = ">", value = 0.5 }]
/// dedup = true
/// max_rows = 2000
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptFilter {
    /// Drop prompts with fewer characters (Unicode scalar values).
    pub min_chars: Option<usize>,
    /// Drop prompts with more characters.
    pub max_chars: Option<usize>,
    /// Drop prompts with fewer tokens (needs a counter: [`apply_with_tokens`](Self::apply_with_tokens)).
    pub min_tokens: Option<usize>,
    /// Drop prompts with more tokens.
    pub max_tokens: Option<usize>,
    /// Keep only records passing every threshold.
    pub metadata: Vec<MetadataThreshold>,
    /// Drop a record whose prompt text was already kept.
    pub dedup: bool,
    /// Stop after this many records are kept.
    pub max_rows: Option<usize>,
}

impl PromptFilter {
    /// Bounds the prompt length in characters (either bound may be `None`).
    pub fn with_chars(mut self, min: Option<usize>, max: Option<usize>) -> Self {
        self.min_chars = min;
        self.max_chars = max;
        self
    }

    /// Bounds the prompt length in tokens (either bound may be `None`).
    pub fn with_tokens(mut self, min: Option<usize>, max: Option<usize>) -> Self {
        self.min_tokens = min;
        self.max_tokens = max;
        self
    }

    /// Adds a metadata threshold.
    pub fn with_threshold(mut self, threshold: MetadataThreshold) -> Self {
        self.metadata.push(threshold);
        self
    }

    /// Turns de-duplication by prompt text on or off.
    pub fn with_dedup(mut self, dedup: bool) -> Self {
        self.dedup = dedup;
        self
    }

    /// Caps the number of records kept.
    pub fn with_max_rows(mut self, max_rows: Option<usize>) -> Self {
        self.max_rows = max_rows;
        self
    }

    /// Whether token bounds are set (and so a token counter is needed).
    pub fn needs_tokens(&self) -> bool {
        self.min_tokens.is_some() || self.max_tokens.is_some()
    }

    /// Checks that each minimum is at most its maximum and each threshold is a finite number on
    /// a named field.
    pub fn validate(&self) -> Result<()> {
        for (what, min, max) in [
            ("chars", self.min_chars, self.max_chars),
            ("tokens", self.min_tokens, self.max_tokens),
        ] {
            if let (Some(min), Some(max)) = (min, max) {
                if min > max {
                    return Err(DataError::InvalidConfig(format!(
                        "filter: min_{what} = {min} is above max_{what} = {max}"
                    )));
                }
            }
        }
        for t in &self.metadata {
            if t.field.is_empty() || !t.value.is_finite() {
                return Err(DataError::InvalidConfig(format!(
                    "filter: threshold `{t}` needs a field and a finite value"
                )));
            }
        }
        Ok(())
    }

    /// Filters `records`. Fails if token bounds are set: use
    /// [`apply_with_tokens`](Self::apply_with_tokens) then.
    pub fn apply<I>(&self, records: I) -> Result<Filtered<I::IntoIter, NoTokenCounter>>
    where
        I: IntoIterator<Item = Result<PromptRecord>>,
    {
        if self.needs_tokens() {
            return Err(DataError::InvalidConfig(
                "filter: min_tokens/max_tokens need a token counter (apply_with_tokens)".into(),
            ));
        }
        self.build(records, None)
    }

    /// Filters `records`, counting a prompt's tokens with `count_tokens` (called only for prompts
    /// that passed the character bounds, and only when token bounds are set).
    pub fn apply_with_tokens<I, F>(
        &self,
        records: I,
        count_tokens: F,
    ) -> Result<Filtered<I::IntoIter, F>>
    where
        I: IntoIterator<Item = Result<PromptRecord>>,
        F: Fn(&str) -> usize,
    {
        self.build(records, Some(count_tokens))
    }

    fn build<I, F>(&self, records: I, count_tokens: Option<F>) -> Result<Filtered<I::IntoIter, F>>
    where
        I: IntoIterator<Item = Result<PromptRecord>>,
        F: Fn(&str) -> usize,
    {
        self.validate()?;
        Ok(Filtered {
            filter: self.clone(),
            records: records.into_iter(),
            count_tokens,
            seen: HashSet::new(),
            stats: FilterStats::default(),
        })
    }
}

/// How many records each test dropped, for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilterStats {
    /// Records passed on.
    pub kept: usize,
    /// Dropped by `min_chars`/`max_chars`.
    pub dropped_chars: usize,
    /// Dropped by `min_tokens`/`max_tokens`.
    pub dropped_tokens: usize,
    /// Dropped by a metadata threshold.
    pub dropped_metadata: usize,
    /// Dropped as a repeat of an earlier prompt.
    pub dropped_duplicates: usize,
    /// Read errors passed through.
    pub errors: usize,
}

/// The filtered stream made by [`PromptFilter::apply`].
#[derive(Debug)]
pub struct Filtered<I, F> {
    filter: PromptFilter,
    records: I,
    count_tokens: Option<F>,
    seen: HashSet<String>,
    stats: FilterStats,
}

impl<I, F> Filtered<I, F>
where
    F: Fn(&str) -> usize,
{
    /// Counts so far.
    pub fn stats(&self) -> FilterStats {
        self.stats
    }

    fn keeps(&mut self, record: &PromptRecord) -> bool {
        let f = &self.filter;
        let outside = |n: usize, min: Option<usize>, max: Option<usize>| {
            min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m)
        };
        if (f.min_chars.is_some() || f.max_chars.is_some())
            && outside(record.prompt.chars().count(), f.min_chars, f.max_chars)
        {
            self.stats.dropped_chars += 1;
            return false;
        }
        if let Some(count) = self.count_tokens.as_ref().filter(|_| f.needs_tokens()) {
            if outside(count(&record.prompt), f.min_tokens, f.max_tokens) {
                self.stats.dropped_tokens += 1;
                return false;
            }
        }
        if !f.metadata.iter().all(|t| t.keeps(record)) {
            self.stats.dropped_metadata += 1;
            return false;
        }
        if f.dedup && !self.seen.insert(record.prompt.clone()) {
            self.stats.dropped_duplicates += 1;
            return false;
        }
        true
    }
}

impl<I, F> Iterator for Filtered<I, F>
where
    I: Iterator<Item = Result<PromptRecord>>,
    F: Fn(&str) -> usize,
{
    type Item = Result<PromptRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self
            .filter
            .max_rows
            .is_some_and(|cap| self.stats.kept >= cap)
        {
            return None;
        }
        loop {
            match self.records.next()? {
                Err(e) => {
                    self.stats.errors += 1;
                    return Some(Err(e));
                }
                Ok(record) if self.keeps(&record) => {
                    self.stats.kept += 1;
                    return Some(Ok(record));
                }
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Result<PromptRecord>> {
        [
            ("short", 0.9),
            ("a longer prompt here", 0.7),
            ("a longer prompt here", 0.8),
            ("tiny bit toxic prompt", 0.1),
            ("ünïcödé prompt", 0.6),
            ("the last long prompt", 0.95),
        ]
        .into_iter()
        .map(|(p, t)| Ok(PromptRecord::new(p).with_metadata("prompt.toxicity", t)))
        .collect()
    }

    fn prompts(it: impl Iterator<Item = Result<PromptRecord>>) -> Result<Vec<String>> {
        it.map(|r| r.map(|r| r.prompt)).collect()
    }

    #[test]
    fn each_test_and_the_order() -> Result<()> {
        let threshold: MetadataThreshold = "prompt.toxicity > 0.5".parse()?;
        assert_eq!(
            threshold,
            MetadataThreshold::new("prompt.toxicity", Comparison::Gt, 0.5)
        );
        let f = PromptFilter::default()
            .with_chars(Some(14), None)
            .with_threshold(threshold)
            .with_dedup(true);
        let mut it = f.apply(records())?;
        assert_eq!(
            prompts(&mut it)?,
            [
                "a longer prompt here",
                "ünïcödé prompt",
                "the last long prompt"
            ]
        );
        let stats = it.stats();
        assert_eq!(
            (
                stats.kept,
                stats.dropped_chars,
                stats.dropped_metadata,
                stats.dropped_duplicates
            ),
            (3, 1, 1, 1)
        );
        // Tokens: whitespace words here.
        let words = |s: &str| s.split_whitespace().count();
        let f = PromptFilter::default().with_tokens(Some(4), Some(4));
        assert!(f.apply(records()).is_err());
        assert_eq!(
            prompts(f.apply_with_tokens(records(), words)?)?,
            [
                "a longer prompt here",
                "a longer prompt here",
                "tiny bit toxic prompt",
                "the last long prompt"
            ]
        );
        // The cap stops reading.
        let f = PromptFilter::default().with_max_rows(Some(2));
        let mut source = records().into_iter();
        assert_eq!(prompts(f.apply(source.by_ref())?)?.len(), 2);
        assert_eq!(source.len(), 4);
        Ok(())
    }

    #[test]
    fn errors_pass_through_and_config_is_checked() {
        let input = vec![
            Err(DataError::InvalidConfig("x".into())),
            Ok(PromptRecord::new("ok")),
        ];
        let out: Vec<_> = PromptFilter::default()
            .with_max_rows(Some(1))
            .apply(input)
            .expect("valid filter")
            .collect();
        assert_eq!(out.len(), 2);
        assert!(out[0].is_err());
        assert!(PromptFilter::default()
            .with_chars(Some(5), Some(2))
            .apply(Vec::new())
            .is_err());
        assert!("toxicity ~ 3".parse::<MetadataThreshold>().is_err());
        assert!(" > 3".parse::<MetadataThreshold>().is_err());
        assert_eq!(
            "x<=2".parse::<MetadataThreshold>().ok(),
            Some(MetadataThreshold::new("x", Comparison::Le, 2.0))
        );
    }
}

//! Exact port of the [alt-profanity-check](https://github.com/dimitrismistriotis/alt-profanity-check)
//! 1.9.1 classifier (MIT license, see `data/profanity_check/LICENSE`), a scikit-learn 1.9.1
//! pipeline mirrored here step by step:
//!
//! 1. `TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w\w+\b", stop_words="english",
//!    smooth_idf=True, norm="l2", sublinear_tf=False, strip_accents=None, ngram_range=(1, 1))`:
//!    Python `str.lower()`, `re.findall`, stop-word removal, term counts over the 15,442-word
//!    vocabulary, `count * idf`, division by the row's l2 norm (rows without a known word stay 0).
//! 2. `CalibratedClassifierCV(LinearSVC(...), method="sigmoid")` with 5 calibrated classifiers:
//!    each computes the decision function `f = x·coef + intercept` and the calibrated
//!    probability `1 / (1 + exp(a f + b))` (`_SigmoidCalibration.predict`); for a binary problem
//!    the positive class keeps that probability (class 0 gets `1 - p`, no renormalisation), and
//!    `predict_proba` is the mean over the 5 classifiers. The score is its column 1.
//!
//! Sums run in the same order as scipy's sparse kernels (columns ascending), so scores agree
//! with `profanity_check.predict_prob` to the last bit on the parity fixture
//! (`tests/profanity_check_parity.rs`, texts and values from
//! `scripts/fixtures/export_profanity_check.py`).
//!
//! # Tokenisation: Python's Unicode, not Rust's
//!
//! Rust's `str::to_lowercase` and the `regex` crate's `\w`/`\b` disagree with CPython on many
//! characters, which changes token boundaries around known words (and so the scores):
//!
//! - Python's `\w` is `str.isalnum()` or `_` (letters, and anything with a numeric value such as
//!   `²`, `½`, `①`), whereas `regex`'s `\w` is Alphabetic, marks, `Nd`, connector punctuation
//!   and join controls. Combining marks (`é` written in NFD, Indic vowel signs, the dot that
//!   `"İ".lower()` produces), `‿`, ZWJ/ZWNJ, circled letters `Ⓐ` split a token in Python only;
//!   `²`, `½`, `①` split a token in Rust only.
//! - CPython 3.11 uses Unicode 14.0: characters assigned later (Kawi, Nag Mundari, ...) are not
//!   letters and have no case mapping there, while Rust's tables are newer.
//! - The Greek final sigma (`"ΕΤΗΤΗΣ".lower() == "ετητης"`, a vocabulary word) depends on the
//!   Cased and Case_Ignorable properties of the neighbouring characters.
//!
//! So the tokeniser does not use `regex` or Rust's case mapping: it uses tables exported from
//! the CPython that produced the fixture (`data/profanity_check/python_unicode.tsv`): the
//! characters `re` matches with `(?u)\w`, `str.lower()` of every character it changes, and the
//! Cased / Case_Ignorable sets as CPython's final-sigma rule sees them. With the pattern
//! `\b\w\w+\b`, `re.findall` returns exactly the maximal runs of word characters of at least
//! two code points, which is what [`ProfanityCheck::analyze`] computes.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use super::ToxicityScorer;
use crate::error::{Result, ToxEvalError};

const EMBEDDED_MODEL: &str = include_str!("../../data/profanity_check/model.tsv");
const EMBEDDED_UNICODE: &str = include_str!("../../data/profanity_check/python_unicode.tsv");
const MODEL_FORMAT: &str = "profanity-check-tsv 1";
const CAPITAL_SIGMA: char = '\u{3a3}';

fn invalid(origin: &str, line: usize, reason: impl Into<String>) -> ToxEvalError {
    ToxEvalError::InvalidModel {
        origin: origin.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// Lines (1-based number, content) of each expected `[section]` of a TSV file, in the order of
/// `expected`. Blank lines and lines starting with `#` are skipped.
fn sections<'a>(
    text: &'a str,
    origin: &str,
    expected: &[&str],
) -> Result<Vec<Vec<(usize, &'a str)>>> {
    let mut out: Vec<Option<Vec<(usize, &'a str)>>> = vec![None; expected.len()];
    let mut current: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let idx = expected
                .iter()
                .position(|e| *e == name)
                .ok_or_else(|| invalid(origin, n, format!("unexpected section [{name}]")))?;
            if out[idx].is_some() {
                return Err(invalid(origin, n, format!("duplicate section [{name}]")));
            }
            out[idx] = Some(Vec::new());
            current = Some(idx);
            continue;
        }
        match current.and_then(|idx| out[idx].as_mut()) {
            Some(lines) => lines.push((n, line)),
            None => return Err(invalid(origin, n, "content before the first [section]")),
        }
    }
    out.into_iter()
        .zip(expected)
        .map(|(lines, name)| {
            lines.ok_or_else(|| invalid(origin, 0, format!("missing section [{name}]")))
        })
        .collect()
}

fn parse_f64(field: &str, origin: &str, line: usize, what: &str) -> Result<f64> {
    match field.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(invalid(
            origin,
            line,
            format!("{what} {field:?} is not a finite number"),
        )),
    }
}

fn parse_hex(field: &str, origin: &str, line: usize) -> Result<u32> {
    u32::from_str_radix(field, 16).map_err(|_| {
        invalid(
            origin,
            line,
            format!("{field:?} is not a hexadecimal code point"),
        )
    })
}

fn parse_char(field: &str, origin: &str, line: usize) -> Result<char> {
    let cp = parse_hex(field, origin, line)?;
    char::from_u32(cp).ok_or_else(|| invalid(origin, line, format!("U+{cp:X} is not a char")))
}

/// Sorted, disjoint, inclusive code-point ranges.
fn parse_ranges(lines: &[(usize, &str)], origin: &str) -> Result<Vec<(u32, u32)>> {
    let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(lines.len());
    for &(n, line) in lines {
        let (lo, hi) = line
            .split_once('\t')
            .ok_or_else(|| invalid(origin, n, "expected `START<TAB>END`"))?;
        let (lo, hi) = (parse_hex(lo, origin, n)?, parse_hex(hi, origin, n)?);
        if lo > hi || ranges.last().is_some_and(|&(_, prev)| prev >= lo) {
            return Err(invalid(origin, n, "ranges must be ordered and disjoint"));
        }
        ranges.push((lo, hi));
    }
    Ok(ranges)
}

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                Ordering::Less
            } else if lo > cp {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// What CPython's `str.lower()` and `re`'s `(?u)\w` do per character (see the module docs).
#[derive(Debug)]
struct PythonUnicode {
    word: Vec<(u32, u32)>,
    cased: Vec<(u32, u32)>,
    case_ignorable: Vec<(u32, u32)>,
    /// `c.lower()` for every `c` it changes, sorted by `c`.
    lower: Vec<(char, Box<str>)>,
}

impl PythonUnicode {
    fn embedded() -> Result<Arc<Self>> {
        static CACHE: OnceLock<Arc<PythonUnicode>> = OnceLock::new();
        if let Some(tables) = CACHE.get() {
            return Ok(Arc::clone(tables));
        }
        let tables = Arc::new(Self::parse(
            EMBEDDED_UNICODE,
            "embedded python_unicode.tsv",
        )?);
        Ok(Arc::clone(CACHE.get_or_init(|| tables)))
    }

    fn parse(text: &str, origin: &str) -> Result<Self> {
        let expected = ["meta", "word", "cased", "case_ignorable", "lower"];
        let s = sections(text, origin, &expected)?;
        let mut lower: Vec<(char, Box<str>)> = Vec::with_capacity(s[4].len());
        for &(n, line) in &s[4] {
            let (from, to) = line
                .split_once('\t')
                .ok_or_else(|| invalid(origin, n, "expected `CODE<TAB>CODE CODE...`"))?;
            let from = parse_char(from, origin, n)?;
            let to = to
                .split(' ')
                .map(|cp| parse_char(cp, origin, n))
                .collect::<Result<String>>()?;
            if lower.last().is_some_and(|&(prev, _)| prev >= from) {
                return Err(invalid(origin, n, "[lower] must be sorted by code point"));
            }
            lower.push((from, to.into_boxed_str()));
        }
        Ok(Self {
            word: parse_ranges(&s[1], origin)?,
            cased: parse_ranges(&s[2], origin)?,
            case_ignorable: parse_ranges(&s[3], origin)?,
            lower,
        })
    }

    /// `re`'s `(?u)\w`: `str.isalnum()` or `_`.
    fn is_word(&self, c: char) -> bool {
        if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '_'
        } else {
            in_ranges(&self.word, c)
        }
    }

    /// CPython's final-sigma test, one side: skip case-ignorable characters, then "is cased".
    fn cased_after_ignorables(&self, mut chars: impl Iterator<Item = char>) -> bool {
        chars
            .find(|&c| !in_ranges(&self.case_ignorable, c))
            .is_some_and(|c| in_ranges(&self.cased, c))
    }

    /// Python's `text.lower()`.
    fn lower<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !text
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if c == CAPITAL_SIGMA {
                let rest = &text[i + c.len_utf8()..];
                let is_final = self.cased_after_ignorables(text[..i].chars().rev())
                    && !self.cased_after_ignorables(rest.chars());
                out.push(if is_final { '\u{3c2}' } else { '\u{3c3}' });
            } else {
                match self.lower.binary_search_by(|(from, _)| from.cmp(&c)) {
                    Ok(idx) => out.push_str(&self.lower[idx].1),
                    Err(_) => out.push(c),
                }
            }
        }
        Cow::Owned(out)
    }

    /// `re.findall(r"(?u)\b\w\w+\b", lowered)`: maximal runs of at least two word characters.
    fn for_each_token<'t>(&self, lowered: &'t str, mut f: impl FnMut(&'t str)) {
        let mut start: Option<usize> = None;
        let mut len = 0usize;
        for (i, c) in lowered.char_indices() {
            if self.is_word(c) {
                if start.is_none() {
                    start = Some(i);
                    len = 0;
                }
                len += 1;
            } else if let Some(s) = start.take() {
                if len >= 2 {
                    f(&lowered[s..i]);
                }
            }
        }
        if let Some(s) = start {
            if len >= 2 {
                f(&lowered[s..]);
            }
        }
    }
}

/// One calibrated classifier of the ensemble: a LinearSVC's intercept and its sigmoid
/// (Platt) calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibratedSvc {
    /// The LinearSVC's `intercept_`.
    pub intercept: f64,
    /// `a_` of sklearn's `_SigmoidCalibration`.
    pub sigmoid_a: f64,
    /// `b_` of sklearn's `_SigmoidCalibration`.
    pub sigmoid_b: f64,
}

impl CalibratedSvc {
    /// Calibrated probability of the positive class for a decision-function value `f`:
    /// `expit(-(a f + b)) = 1 / (1 + exp(a f + b))`.
    #[must_use]
    pub fn probability(&self, decision: f64) -> f64 {
        1.0 / (1.0 + (self.sigmoid_a * decision + self.sigmoid_b).exp())
    }
}

#[derive(Debug)]
struct Model {
    words: Vec<Box<str>>,
    columns: HashMap<Box<str>, usize>,
    idf: Vec<f64>,
    /// `coef[column * n_classifiers + k]`: classifier `k`'s weight of `column`.
    coef: Vec<f64>,
    classifiers: Vec<CalibratedSvc>,
    stop_words: HashSet<Box<str>>,
}

impl Model {
    fn embedded() -> Result<Arc<Self>> {
        static CACHE: OnceLock<Arc<Model>> = OnceLock::new();
        if let Some(model) = CACHE.get() {
            return Ok(Arc::clone(model));
        }
        let model = Arc::new(Self::parse(EMBEDDED_MODEL, "embedded model.tsv")?);
        Ok(Arc::clone(CACHE.get_or_init(|| model)))
    }

    fn parse(text: &str, origin: &str) -> Result<Self> {
        let expected = ["model", "classifiers", "stop_words", "vocabulary"];
        let s = sections(text, origin, &expected)?;
        let mut meta: HashMap<&str, (usize, &str)> = HashMap::new();
        for &(n, line) in &s[0] {
            let (key, value) = line
                .split_once('\t')
                .ok_or_else(|| invalid(origin, n, "expected `KEY<TAB>VALUE`"))?;
            if !matches!(key, "format" | "source" | "n_features" | "n_classifiers") {
                return Err(invalid(
                    origin,
                    n,
                    format!("unexpected key {key:?} in [model]"),
                ));
            }
            if meta.insert(key, (n, value)).is_some() {
                return Err(invalid(origin, n, format!("duplicate key {key:?}")));
            }
        }
        let get = |key: &str| {
            meta.get(key)
                .copied()
                .ok_or_else(|| invalid(origin, 0, format!("missing key {key:?} in [model]")))
        };
        let (n, format) = get("format")?;
        if format != MODEL_FORMAT {
            return Err(invalid(
                origin,
                n,
                format!("format {format:?}, expected {MODEL_FORMAT:?}"),
            ));
        }
        let count = |key: &str| -> Result<usize> {
            let (n, value) = get(key)?;
            value
                .parse()
                .map_err(|_| invalid(origin, n, format!("{key} {value:?} is not a count")))
        };
        let (n_features, n_classifiers) = (count("n_features")?, count("n_classifiers")?);
        if n_classifiers == 0 {
            return Err(invalid(origin, 0, "n_classifiers must be positive"));
        }

        let mut classifiers = Vec::with_capacity(n_classifiers);
        for &(n, line) in &s[1] {
            let fields: Vec<&str> = line.split('\t').collect();
            let [intercept, a, b] = fields[..] else {
                return Err(invalid(origin, n, "expected `intercept<TAB>a<TAB>b`"));
            };
            classifiers.push(CalibratedSvc {
                intercept: parse_f64(intercept, origin, n, "intercept")?,
                sigmoid_a: parse_f64(a, origin, n, "sigmoid a")?,
                sigmoid_b: parse_f64(b, origin, n, "sigmoid b")?,
            });
        }
        if classifiers.len() != n_classifiers {
            return Err(invalid(
                origin,
                0,
                format!(
                    "{} classifiers, expected {n_classifiers}",
                    classifiers.len()
                ),
            ));
        }

        let stop_words: HashSet<Box<str>> = s[2].iter().map(|&(_, w)| Box::from(w)).collect();

        let mut words = Vec::with_capacity(n_features);
        let mut columns = HashMap::with_capacity(n_features);
        let mut idf = Vec::with_capacity(n_features);
        let mut coef = Vec::with_capacity(n_features * n_classifiers);
        for &(n, line) in &s[3] {
            let mut fields = line.split('\t');
            let word = fields.next().unwrap_or_default();
            let values: Vec<&str> = fields.collect();
            if word.is_empty() || values.len() != 1 + n_classifiers {
                return Err(invalid(
                    origin,
                    n,
                    format!("expected a word, its idf and {n_classifiers} coefficients"),
                ));
            }
            if columns.insert(Box::from(word), words.len()).is_some() {
                return Err(invalid(origin, n, format!("duplicate word {word:?}")));
            }
            words.push(Box::from(word));
            idf.push(parse_f64(values[0], origin, n, "idf")?);
            for v in &values[1..] {
                coef.push(parse_f64(v, origin, n, "coefficient")?);
            }
        }
        if words.len() != n_features {
            return Err(invalid(
                origin,
                0,
                format!("{} vocabulary rows, expected {n_features}", words.len()),
            ));
        }
        Ok(Self {
            words,
            columns,
            idf,
            coef,
            classifiers,
            stop_words,
        })
    }
}

/// The alt-profanity-check 1.9.1 classifier, ported exactly (see the module docs).
///
/// Cheap to clone (shared model). [`ToxicityScorer::score`] scores a batch in parallel with
/// rayon.
///
/// ```
/// use tox_eval::scorers::{ProfanityCheck, ToxicityScorer};
///
/// let scorer = ProfanityCheck::new()?;
/// let scores = scorer.score(&["have a nice day", "you are a fucking idiot"])?;
/// assert!(scores[0] < 0.1 && scores[1] > 0.99);
/// assert_eq!(scorer.analyze("You're an IDIOT!"), ["idiot"]);
/// # Ok::<(), tox_eval::ToxEvalError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProfanityCheck {
    model: Arc<Model>,
    unicode: Arc<PythonUnicode>,
}

impl ProfanityCheck {
    /// The model shipped in the crate (`data/profanity_check/model.tsv`, embedded in the
    /// binary; parsed once per process).
    ///
    /// # Errors
    /// Only if the embedded files were corrupted ([`ToxEvalError::InvalidModel`]).
    pub fn new() -> Result<Self> {
        Ok(Self {
            model: Model::embedded()?,
            unicode: PythonUnicode::embedded()?,
        })
    }

    /// Loads a model file in the format of `data/profanity_check/model.tsv` (described in
    /// `data/profanity_check/README.md`), e.g. one exported from another alt-profanity-check
    /// release. Tokenisation always uses the embedded CPython Unicode tables.
    ///
    /// # Errors
    /// [`ToxEvalError::Io`] if the file cannot be read, [`ToxEvalError::InvalidModel`] if it
    /// does not parse.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ToxEvalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_tsv(&text, &path.display().to_string())
    }

    /// Parses a model from the text of a model file; `origin` names it in errors.
    ///
    /// # Errors
    /// [`ToxEvalError::InvalidModel`] if it does not parse.
    pub fn from_tsv(text: &str, origin: &str) -> Result<Self> {
        Ok(Self {
            model: Arc::new(Model::parse(text, origin)?),
            unicode: PythonUnicode::embedded()?,
        })
    }

    /// Number of vocabulary words (feature columns).
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.model.words.len()
    }

    /// The vocabulary, in column order.
    #[must_use]
    pub fn words(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.model.words.iter().map(|w| &**w)
    }

    /// Column of a (lowercased) vocabulary word.
    #[must_use]
    pub fn column(&self, word: &str) -> Option<usize> {
        self.model.columns.get(word).copied()
    }

    /// Inverse document frequencies, one per column.
    #[must_use]
    pub fn idf(&self) -> &[f64] {
        &self.model.idf
    }

    /// The calibrated classifiers whose probabilities are averaged.
    #[must_use]
    pub fn classifiers(&self) -> &[CalibratedSvc] {
        &self.model.classifiers
    }

    /// The SVM weights of `column`, one per classifier (`None` past the vocabulary).
    #[must_use]
    pub fn coefficients(&self, column: usize) -> Option<&[f64]> {
        let k = self.model.classifiers.len();
        self.model.coef.get(column * k..(column + 1) * k)
    }

    /// Weight of one occurrence of each vocabulary word, in column order: `idf * mean_k coef_k`,
    /// its contribution to the mean decision function before l2 normalisation. Useful to
    /// compare a learned bag-of-words reward with this scorer word by word.
    #[must_use]
    pub fn word_weights(&self) -> Vec<(&str, f64)> {
        let k = self.model.classifiers.len();
        self.words()
            .zip(&self.model.idf)
            .zip(self.model.coef.chunks_exact(k))
            .map(|((word, idf), coef)| (word, idf * coef.iter().sum::<f64>() / k as f64))
            .collect()
    }

    /// [`word_weights`](Self::word_weights) of one (lowercased) word.
    #[must_use]
    pub fn word_weight(&self, word: &str) -> Option<f64> {
        let column = self.column(word)?;
        let coef = self.coefficients(column)?;
        Some(self.model.idf[column] * coef.iter().sum::<f64>() / coef.len() as f64)
    }

    /// sklearn's `build_analyzer()(text)`: lowercased tokens in order, stop words removed
    /// (including words outside the vocabulary).
    #[must_use]
    pub fn analyze(&self, text: &str) -> Vec<String> {
        let lowered = self.unicode.lower(text);
        let mut tokens = Vec::new();
        self.unicode.for_each_token(&lowered, |t| {
            if !self.model.stop_words.contains(t) {
                tokens.push(t.to_owned());
            }
        });
        tokens
    }

    /// The l2-normalised TF-IDF row of `text` as `(column, value)` pairs, columns ascending
    /// (`vectorizer.transform([text])`); empty when no vocabulary word occurs.
    #[must_use]
    pub fn tfidf(&self, text: &str) -> Vec<(usize, f64)> {
        let lowered = self.unicode.lower(text);
        let mut columns = Vec::new();
        self.unicode.for_each_token(&lowered, |t| {
            if !self.model.stop_words.contains(t) {
                if let Some(&c) = self.model.columns.get(t) {
                    columns.push(c);
                }
            }
        });
        columns.sort_unstable();
        let mut row: Vec<(usize, f64)> = Vec::new();
        for c in columns {
            match row.last_mut() {
                Some((last, count)) if *last == c => *count += 1.0,
                _ => row.push((c, 1.0)),
            }
        }
        let mut sum_sq = 0.0;
        for (c, x) in &mut row {
            *x *= self.model.idf[*c];
            sum_sq += *x * *x;
        }
        if sum_sq != 0.0 {
            let norm = sum_sq.sqrt();
            for (_, x) in &mut row {
                *x /= norm;
            }
        }
        row
    }

    /// Decision function of each LinearSVC on `text` (before calibration).
    #[must_use]
    pub fn decision_functions(&self, text: &str) -> Vec<f64> {
        self.decisions(&self.tfidf(text))
    }

    fn decisions(&self, row: &[(usize, f64)]) -> Vec<f64> {
        let k = self.model.classifiers.len();
        let mut acc = vec![0.0; k];
        for &(c, x) in row {
            for (a, w) in acc.iter_mut().zip(&self.model.coef[c * k..(c + 1) * k]) {
                *a += x * w;
            }
        }
        for (a, clf) in acc.iter_mut().zip(&self.model.classifiers) {
            *a += clf.intercept;
        }
        acc
    }

    /// Probability that `text` is offensive (`profanity_check.predict_prob([text])[0]`).
    #[must_use]
    pub fn predict_proba(&self, text: &str) -> f64 {
        let decisions = self.decisions(&self.tfidf(text));
        let mut sum = 0.0;
        for (f, clf) in decisions.iter().zip(&self.model.classifiers) {
            sum += clf.probability(*f);
        }
        sum / decisions.len() as f64
    }
}

impl ToxicityScorer for ProfanityCheck {
    fn score(&self, texts: &[&str]) -> Result<Vec<f64>> {
        Ok(texts.par_iter().map(|t| self.predict_proba(t)).collect())
    }

    fn name(&self) -> &str {
        "profanity-check"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scorer() -> ProfanityCheck {
        ProfanityCheck::new().expect("embedded model parses")
    }

    #[test]
    fn embedded_model_has_the_expected_shape() {
        let s = scorer();
        assert_eq!(s.n_features(), 15_442);
        assert_eq!(s.classifiers().len(), 5);
        assert_eq!(s.idf().len(), 15_442);
        assert_eq!(s.model.coef.len(), 5 * 15_442);
        assert_eq!(s.model.stop_words.len(), 318);
        assert!(s.words().all(|w| !s.model.stop_words.contains(w)));
        assert_eq!(
            s.column("fuck").and_then(|c| s.words().nth(c)),
            Some("fuck")
        );
        assert!(s.coefficients(15_442).is_none());
    }

    #[test]
    fn ascii_fast_paths_agree_with_the_tables() {
        let u = PythonUnicode::embedded().expect("embedded tables parse");
        for b in 0u8..128 {
            let c = char::from(b);
            assert_eq!(u.is_word(c), in_ranges(&u.word, c), "{c:?}");
            let mapped = u.lower.binary_search_by(|(f, _)| f.cmp(&c)).ok();
            let expected = mapped.map_or(c.to_string(), |i| u.lower[i].1.to_string());
            assert_eq!(c.to_ascii_lowercase().to_string(), expected, "{c:?}");
        }
    }

    #[test]
    fn lowercasing_follows_python() {
        let u = PythonUnicode::embedded().expect("embedded tables parse");
        assert_eq!(u.lower("ΕΤΗΤΗΣ"), "ετητης");
        assert_eq!(u.lower("ΣΑΣ ΑΣ. Σ"), "σας ας. σ");
        assert_eq!(u.lower("ΑΣ\u{301}"), "ας\u{301}");
        assert_eq!(u.lower("İDİOT"), "i\u{307}di\u{307}ot");
        assert_eq!(u.lower("SCHEIẞE \u{212a}"), "scheiße k");
        assert_eq!(u.lower("\u{13a0}\u{1c90}"), "\u{ab70}\u{10d0}");
        assert!(matches!(u.lower("already lower"), Cow::Borrowed(_)));
    }

    #[test]
    fn tokens_are_runs_of_python_word_characters() {
        let s = scorer();
        assert_eq!(s.analyze(""), Vec::<String>::new());
        assert_eq!(s.analyze("a b c I"), Vec::<String>::new());
        assert_eq!(s.analyze("Fuck_you2 don't"), ["fuck_you2", "don"]);
        // Marks and join controls split tokens; numbers such as ² and ½ do not.
        assert_eq!(s.analyze("fu\u{301}ck i\u{200d}diot"), ["fu", "ck", "diot"]);
        assert_eq!(s.analyze("shit² x½"), ["shit²", "x½"]);
        assert_eq!(s.analyze("İDİOT"), ["di", "ot"]);
        assert_eq!(s.analyze("fuck\u{203f}you Ⓐⓑ"), ["fuck"]);
    }

    #[test]
    fn tfidf_rows_are_unit_norm_and_sorted() {
        let s = scorer();
        assert!(s.tfidf("the and of").is_empty());
        let row = s.tfidf("idiot fuck IDIOT stupid idiot");
        assert_eq!(row.len(), 3);
        assert!(row.windows(2).all(|w| w[0].0 < w[1].0));
        let norm: f64 = row.iter().map(|(_, x)| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-12);
    }

    #[test]
    fn scores_are_probabilities_in_order() -> Result<()> {
        let s = scorer();
        let texts = ["", "have a nice day", "fuck you", "FUCK YOU"];
        let scores = s.score(&texts)?;
        assert_eq!(scores.len(), 4);
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(scores[2] > 0.99 && scores[1] < 0.1);
        assert_eq!(scores[2], scores[3]);
        assert_eq!(scores[0], s.predict_proba(""));
        assert_eq!(s.score(&[])?, Vec::<f64>::new());
        assert_eq!(s.name(), "profanity-check");
        Ok(())
    }

    #[test]
    fn word_weights_rank_profanities_first() {
        let s = scorer();
        let mut weights = s.word_weights();
        assert_eq!(weights.len(), s.n_features());
        weights.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(weights[0].0, "fuck");
        assert_eq!(s.word_weight("fuck"), Some(weights[0].1));
        assert_eq!(s.word_weight("the"), None);
    }

    #[test]
    fn malformed_models_are_rejected_with_line_numbers() {
        let err = |text: &str| match ProfanityCheck::from_tsv(text, "test") {
            Err(ToxEvalError::InvalidModel { line, reason, .. }) => (line, reason),
            other => panic!("expected InvalidModel, got {other:?}"),
        };
        let good = "[model]\nformat\tprofanity-check-tsv 1\nn_features\t1\nn_classifiers\t1\n\
                    [classifiers]\n-1\t-2\t1\n[stop_words]\nthe\n[vocabulary]\nfoo\t1.5\t2\n";
        let s = ProfanityCheck::from_tsv(good, "test").expect("valid model");
        assert_eq!(s.decision_functions("FOO the"), vec![-1.0 + 2.0 * 1.0]);
        assert_eq!(
            s.predict_proba("zzz"),
            1.0 / (1.0 + (-2.0f64 * -1.0 + 1.0).exp())
        );
        assert_eq!(err(&good.replace("foo\t1.5\t2", "foo\t1.5")).0, 10);
        assert_eq!(err(&good.replace("\t2\n", "\tNaN\n")).0, 10);
        assert_eq!(err(&good.replace("n_features\t1", "n_features\t2")).0, 0);
        assert!(err(&good.replace("[stop_words]", "[stopwords]"))
            .1
            .contains("[stopwords]"));
        assert!(err(&good.replace("tsv 1", "tsv 2")).1.contains("format"));
        assert!(err(&good.replace("[model]\n", ""))
            .1
            .contains("before the first"));
        assert!(matches!(
            ProfanityCheck::from_path("/nonexistent/model.tsv"),
            Err(ToxEvalError::Io { .. })
        ));
    }
}

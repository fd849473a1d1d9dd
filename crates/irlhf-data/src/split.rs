//! A seeded train/eval split that is the same on every run and platform, and stable when rows are
//! appended to the dataset.
//!
//! Each record's side depends only on the seed and its key (the prompt text), never on its
//! position or on the other records: `u = unit_hash(seed, key)` and the record goes to eval iff
//! `u < eval_fraction`. Appending rows, reordering the file or filtering other rows out leaves
//! every record on its side, and duplicate prompts always land on the same side (no train/eval
//! leakage through duplicates). The fraction that lands in eval is `eval_fraction` in
//! expectation (binomial noise: ±2 percentage points at 1,000 rows, 95%).
//!
//! The hash is fixed and written out here, so any language can reproduce a split:
//!
//! 1. FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over the 8
//!    little-endian bytes of the seed followed by the UTF-8 bytes of the key;
//! 2. the MurmurHash3 `fmix64` finaliser (`h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33;
//!    h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33`), which spreads FNV's weak high bits;
//! 3. `u = (h >> 11) / 2^53`, exactly representable, in [0, 1).
//!
//! (`std::collections::hash_map::DefaultHasher` is not used: its algorithm may change between
//! Rust releases.)

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::record::PromptRecord;

/// The default share of records that go to eval (an 80/20 split).
pub const DEFAULT_EVAL_FRACTION: f64 = 0.2;

/// Which side of the split a record is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The training set.
    Train,
    /// The held-out evaluation set.
    Eval,
}

/// The two sides of a split, each in input order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Partition<T> {
    /// Records on the train side.
    pub train: Vec<T>,
    /// Records on the eval side.
    pub eval: Vec<T>,
}

/// A seeded, reproducible train/eval split (see the module docs for the hash).
///
/// Deserialisable from the pipeline's TOML config (`[data.split] eval_fraction = 0.2`,
/// `seed = 0`; absent keys take the defaults, unknown keys are rejected).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainEvalSplit {
    /// Share of records that go to eval, in [0, 1].
    pub eval_fraction: f64,
    /// The seed; a different seed gives an independent split.
    pub seed: u64,
}

impl Default for TrainEvalSplit {
    fn default() -> Self {
        Self {
            eval_fraction: DEFAULT_EVAL_FRACTION,
            seed: 0,
        }
    }
}

impl TrainEvalSplit {
    /// An 80/20 split with this seed.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Sets the share of records that go to eval.
    pub fn with_eval_fraction(mut self, eval_fraction: f64) -> Self {
        self.eval_fraction = eval_fraction;
        self
    }

    /// Checks that the eval fraction is in [0, 1].
    pub fn validate(&self) -> Result<()> {
        if (0.0..=1.0).contains(&self.eval_fraction) {
            Ok(())
        } else {
            Err(DataError::InvalidConfig(format!(
                "split: eval_fraction must be in [0, 1], got {}",
                self.eval_fraction
            )))
        }
    }

    /// The side of the record with this key (its prompt text).
    pub fn side(&self, key: &str) -> Side {
        if unit_hash(self.seed, key) < self.eval_fraction {
            Side::Eval
        } else {
            Side::Train
        }
    }

    /// Whether the record with this key goes to eval.
    pub fn is_eval(&self, key: &str) -> bool {
        self.side(key) == Side::Eval
    }

    /// Splits prompt records by their prompt text.
    pub fn partition(
        &self,
        records: impl IntoIterator<Item = PromptRecord>,
    ) -> Result<Partition<PromptRecord>> {
        self.partition_by(records, |r| r.prompt.as_str())
    }

    /// Splits any items by a key they hold (e.g. the prompt of a demonstration).
    pub fn partition_by<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> &str,
    ) -> Result<Partition<T>> {
        self.validate()?;
        let mut out = Partition {
            train: Vec::new(),
            eval: Vec::new(),
        };
        for item in items {
            match self.side(key(&item)) {
                Side::Train => out.train.push(item),
                Side::Eval => out.eval.push(item),
            }
        }
        Ok(out)
    }
}

/// FNV-1a 64 over a sequence of byte slices.
fn fnv1a64<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// MurmurHash3's 64-bit finaliser.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The split's hash of (seed, key) mapped to [0, 1); see the module docs.
pub fn unit_hash(seed: u64, key: &str) -> f64 {
    let seed = seed.to_le_bytes();
    let h = fmix64(fnv1a64([seed.as_slice(), key.as_bytes()]));
    // 53 bits: every value is an exact f64, the largest is 1 - 2^-53.
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_reference_vectors() {
        assert_eq!(fnv1a64([b"".as_slice()]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64([b"a".as_slice()]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64([b"foo".as_slice(), b"bar"]), 0x8594_4171_f739_67e8);
    }

    /// Values from an independent Python implementation of the documented hash.
    #[test]
    fn unit_hash_is_pinned() {
        assert_eq!(unit_hash(0, ""), 0.48368956501667804);
        assert_eq!(unit_hash(0, "hello"), 0.6183807263777725);
        assert_eq!(unit_hash(42, "hello"), 0.27613947947839423);
        assert_eq!(
            unit_hash(42, "Ünïcödé, \"quoted\"\nline"),
            0.457817428558945
        );
    }

    #[test]
    fn fraction_bounds() {
        let keys: Vec<String> = (0..1000).map(|i| format!("prompt {i}")).collect();
        let all = TrainEvalSplit::new(1).with_eval_fraction(1.0);
        let none = TrainEvalSplit::new(1).with_eval_fraction(0.0);
        assert!(keys.iter().all(|k| all.is_eval(k)));
        assert!(keys.iter().all(|k| !none.is_eval(k)));
        assert!(TrainEvalSplit::new(1)
            .with_eval_fraction(1.5)
            .validate()
            .is_err());
        assert!(TrainEvalSplit::new(1)
            .with_eval_fraction(f64::NAN)
            .validate()
            .is_err());
    }
}

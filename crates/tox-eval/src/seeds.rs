//! One source of seeds: every consumer of randomness draws from its own stream, derived from
//! the run's seed and the consumer's name (and an index: an epoch, a batch, a sample), as
//! candle's `LogitsProcessor::from_sampling(seed, ..)` takes one seed per consumer and the
//! bootstrap here takes one stream per resample. Two consumers never share a stream by
//! accident of arithmetic (`seed + 17` for one run and `seed + 17` iterations into another),
//! and adding a consumer does not move the others.
//!
//! The mix is SplitMix64 (Steele, Lea & Flood 2014) over the seed, the FNV-1a hash of the name
//! and the index; it is fixed: changing it changes every seeded result.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a 64 of a name.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Derived seeds keep 63 bits, so that they fit the signed 64-bit integers of TOML (run
/// folders store seeds in TOML).
const SEED_BITS: u64 = u64::MAX >> 1;

/// The seed of consumer `name` of a run seeded with `seed` (below 2^63).
pub fn seed_for(seed: u64, name: &str) -> u64 {
    mix(mix(seed) ^ name_hash(name)) & SEED_BITS
}

/// The seed of the `index`-th draw (epoch, batch, sample) of consumer `name` (below 2^63).
pub fn seed_for_index(seed: u64, name: &str, index: u64) -> u64 {
    mix(seed_for(seed, name) ^ mix(index)) & SEED_BITS
}

/// A ChaCha8 generator on [`seed_for_index`].
pub fn rng_for(seed: u64, name: &str, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed_for_index(seed, name, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_name_and_index_and_are_stable() {
        assert_ne!(seed_for(0, "a"), seed_for(0, "b"));
        assert_ne!(seed_for(0, "a"), seed_for(1, "a"));
        assert_ne!(seed_for_index(0, "a", 0), seed_for_index(0, "a", 1));
        assert_ne!(seed_for_index(0, "a", 1), seed_for_index(1, "a", 0));
        // Seeds are written to TOML, whose integers are signed.
        for s in 0..1000 {
            assert!(seed_for(s, "x") <= i64::MAX as u64);
            assert!(seed_for_index(s, "x", s) <= i64::MAX as u64);
        }
        // Fixed values: the mix is part of every seeded result.
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(name_hash(""), 0xcbf2_9ce4_8422_2325);
    }
}

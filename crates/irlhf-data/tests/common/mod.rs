//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use irlhf_data::ColumnMap;

/// A file under `tests/fixtures/` (written by scripts/fixtures/make_dataset_fixtures.py).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The column map of the flat fixtures: `prompt`, `original_output`, and `toxicity` as metadata.
pub fn flat_map() -> ColumnMap {
    ColumnMap::default().with_metadata_fields(["toxicity"])
}

//! Length-grouped batch orders equal `transformers`' `get_length_grouped_indices` on the same
//! permutation (reference: scripts/fixtures/length_grouping_reference.py).

use irl_core::length_grouped_order;

#[test]
fn grouped_orders_equal_transformers() -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/length_grouping.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let cases = fixture["cases"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no cases"))?;
    assert_eq!(cases.len(), 6);
    let list = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as usize)
                    .collect()
            })
            .unwrap_or_default()
    };
    for (i, case) in cases.iter().enumerate() {
        let lengths = list(&case["lengths"]);
        let permutation = list(&case["permutation"]);
        let expected = list(&case["grouped"]);
        let batch = case["batch_size"].as_u64().unwrap_or(0) as usize;
        assert_eq!(permutation.len(), lengths.len());
        let got = length_grouped_order(&permutation, &lengths, batch);
        assert_eq!(
            got,
            expected,
            "case {i} (n {}, batch {batch})",
            lengths.len()
        );
        assert_ne!(got, permutation, "case {i}: grouping changed nothing");
    }
    Ok(())
}

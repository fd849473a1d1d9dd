//! An explicit key/value cache for incremental decoding, one `(key, value)` pair per layer,
//! each `[batch, heads, past_len, head_dim]`.

use tch::Tensor;

use crate::error::Result;

/// Keys and values of the tokens seen so far, per layer.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// An empty cache for a model with `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: (0..num_layers).map(|_| None).collect(),
        }
    }

    /// Number of cached positions (0 when empty).
    pub fn seq_len(&self) -> i64 {
        self.layers
            .iter()
            .flatten()
            .next()
            .map_or(0, |(k, _)| k.size()[2])
    }

    /// Appends new keys and values to layer `layer` and returns the full keys and values.
    pub fn append(&mut self, layer: usize, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        if layer >= self.layers.len() {
            self.layers.resize_with(layer + 1, || None);
        }
        let slot = &mut self.layers[layer];
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::f_cat(&[pk, k], 2)?, Tensor::f_cat(&[pv, v], 2)?),
            None => (k, v),
        };
        *slot = Some((k.shallow_clone(), v.shallow_clone()));
        Ok((k, v))
    }

    /// Keeps only the batch rows in `rows` (e.g. to drop finished sequences).
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.f_index_select(0, rows)?;
            *v = v.f_index_select(0, rows)?;
        }
        Ok(())
    }
}

//! Hugging Face-style weight initialisation for models trained from scratch
//! (`_init_weights` in transformers: normal(0, initializer_range) for linear and embedding
//! weights, zero biases, unit layer-norm weights).

use tch::nn::VarStore;

use crate::error::Result;

/// Re-initialises every variable of `vs` by its name: `*.bias` to 0, layer-norm weights
/// (names containing `norm` or `ln`) to 1, everything else normal(0, `std`).
pub fn init_like_hf(vs: &VarStore, std: f64) -> Result<()> {
    let _guard = tch::no_grad_guard();
    // Sorted, so the random draws land on the same variables in every process.
    let mut vars: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut t) in vars {
        let leaf = name.rsplit('.').nth(1).unwrap_or("").to_ascii_lowercase();
        if name.ends_with(".bias") {
            let _ = t.f_zero_()?;
        } else if leaf.contains("norm") || leaf.starts_with("ln") {
            let _ = t.f_fill_(1.0)?;
        } else {
            let _ = t.f_normal_(0.0, std)?;
        }
    }
    Ok(())
}

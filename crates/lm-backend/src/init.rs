//! Hugging Face-style weight initialisation for models trained from scratch
//! (`_init_weights` in transformers: normal(0, initializer_range) for linear and embedding
//! weights, zero biases, unit layer-norm weights).

use tch::nn::VarStore;

use crate::error::Result;

/// Re-initialises every variable of `vs` by its name: `*.bias` to 0, layer-norm weights
/// (names containing `norm` or `ln`) to 1, everything else normal(0, `std`).
pub fn init_like_hf(vs: &VarStore, std: f64) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for (name, mut t) in vs.variables() {
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

//! The [`ToxicityScorer`] seam: anything that maps texts to probabilities of toxicity.
//!
//! Ground-truth scorers (the offline [`ProfanityCheck`](super::ProfanityCheck) port of
//! alt-profanity-check, or a model-based classifier behind the `torch` feature) and learned
//! rewards used as scorers all implement it, so that metrics take a `&dyn ToxicityScorer`.

use crate::error::Result;

/// Scores texts with a probability of being toxic.
///
/// Implementations must be deterministic for a given input, return exactly one score per text
/// in input order, and keep every score in `[0, 1]`. They are `Send + Sync` so that a scorer can
/// be shared across threads (batches are usually scored in parallel internally).
///
/// Closures `Fn(&[&str]) -> Result<Vec<f64>>` implement the trait (their
/// [`name`](ToxicityScorer::name) is `"closure"`):
///
/// ```
/// use tox_eval::scorers::ToxicityScorer;
///
/// let shouting = |texts: &[&str]| -> tox_eval::Result<Vec<f64>> {
///     Ok(texts.iter().map(|t| if t.chars().any(char::is_lowercase) { 0.0 } else { 1.0 }).collect())
/// };
/// assert_eq!(shouting.score(&["STOP", "hello"])?, vec![1.0, 0.0]);
/// assert_eq!(shouting.name(), "closure");
/// # Ok::<(), tox_eval::ToxEvalError>(())
/// ```
pub trait ToxicityScorer: Send + Sync {
    /// Probability of toxicity in `[0, 1]` for each text, in input order.
    ///
    /// # Errors
    /// Implementation specific (e.g. a model that fails to run); never for an empty batch,
    /// which gives an empty vector.
    fn score(&self, texts: &[&str]) -> Result<Vec<f64>>;

    /// Short, stable name of the scorer for logs and reports (e.g. `"profanity-check"`).
    fn name(&self) -> &str;
}

impl<F> ToxicityScorer for F
where
    F: Fn(&[&str]) -> Result<Vec<f64>> + Send + Sync,
{
    fn score(&self, texts: &[&str]) -> Result<Vec<f64>> {
        self(texts)
    }

    fn name(&self) -> &str {
        "closure"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_score(scorer: &dyn ToxicityScorer, texts: &[&str]) -> Result<f64> {
        let scores = scorer.score(texts)?;
        Ok(scores.iter().sum::<f64>() / scores.len() as f64)
    }

    #[test]
    fn closures_are_scorers_behind_trait_objects() -> Result<()> {
        let constant = |texts: &[&str]| -> Result<Vec<f64>> { Ok(vec![0.25; texts.len()]) };
        assert_eq!(mean_score(&constant, &["a", "b"])?, 0.25);
        assert_eq!(constant.score(&[])?, Vec::<f64>::new());
        let boxed: Box<dyn ToxicityScorer> = Box::new(constant);
        assert_eq!(boxed.name(), "closure");
        Ok(())
    }
}

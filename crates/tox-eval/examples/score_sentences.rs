//! Scores a few sentences with the offline ground truth (the profanity-check port) and prints
//! the toxicity and agreement metrics for a toy "learned" reward.
//!
//! ```text
//! cargo run -p tox-eval --example score_sentences
//! ```

use tox_eval::{ProfanityCheck, RewardAgreement, ToxicityReport, ToxicityScorer};

fn main() -> Result<(), tox_eval::ToxEvalError> {
    let texts = [
        "thanks for sharing, have a nice day",
        "this update is really helpful",
        "shut up you stupid idiot",
        "what a bunch of crap",
        "the referee was fair today",
        "you pathetic moron",
    ];
    let scorer = ProfanityCheck::new()?;
    let p = scorer.score(&texts)?;
    println!("{:<40} {:>8}", "text", "p(toxic)");
    for (t, p) in texts.iter().zip(&p) {
        println!("{t:<40} {p:>8.3}");
    }
    // Toxicity of "one sample per prompt".
    let per_prompt: Vec<Vec<f64>> = p.iter().map(|&x| vec![x]).collect();
    let tox = ToxicityReport::compute(&per_prompt, 0.5)?;
    println!(
        "\nmean toxicity {:.3}, toxic ratio {:.3}",
        tox.mean_toxicity, tox.toxic_ratio
    );
    // The true reward (-logit p) against a crude "learned" reward, minus the text's length (a
    // poor reward on purpose, to show the measures disagree with the truth).
    let truth: Vec<f64> = p
        .iter()
        .map(|&x| -(x.clamp(1e-7, 1.0 - 1e-7) / (1.0 - x.clamp(1e-7, 1.0 - 1e-7))).ln())
        .collect();
    let learned: Vec<f64> = texts.iter().map(|t| -(t.len() as f64)).collect();
    let pairs = [(0, 2), (1, 3), (4, 5)];
    let a = RewardAgreement::new(&learned, &truth)
        .with_pairs(&pairs)
        .compute()?;
    println!(
        "learned vs true reward: sign acc {:.3}, median-threshold acc {:.3}, Spearman {:.3}, Kendall {:.3}, pairwise {:.3}",
        a.sign.accuracy,
        a.median.accuracy,
        a.spearman,
        a.kendall_tau_b,
        a.pairwise_preference_accuracy.unwrap_or(f64::NAN)
    );
    Ok(())
}

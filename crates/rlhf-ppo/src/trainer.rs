//! The PPO loop for language models (trlx `AcceleratePPOTrainer` / TRL `PPOTrainer`):
//! rollouts with the library's sampler, scores from a [`RewardFn`], KL-penalised per-token
//! rewards, GAE, `ppo_epochs` of clipped updates over minibatches, the KL controller, logging,
//! held-out evaluation with best-checkpoint selection, and checkpoint / resume of everything
//! a run depends on (weights, optimizer moments, beta, running reward statistics, the prompt
//! position; the samplers' seeds derive from the iteration, so no RNG state is lost).

use std::path::{Path, PathBuf};
use std::time::Instant;

use lm_backend::{
    generate, AdamW, AdamWConfig, CausalLm, ContinuationBatch, GenerationConfig, SamplingConfig,
    Side, Tokenizer, VocabGradients,
};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use tracing::{debug_span, info};

use crate::config::{PpoConfig, PpoMode};
use crate::error::{PpoError, Result};
use crate::gae::{gae, whiten};
use crate::kl_controller::{mean_sequence_kl, KlController};
use crate::loss::{ppo_loss, PpoLossInputs};
use crate::policy::Policy;
use crate::reward_fn::RewardFn;
use crate::reward_scaling::RewardScaler;
use crate::reward_shaping::{shape_rewards, ResponseBlock};

/// Run-level settings beside the PPO hyperparameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoRunConfig {
    /// PPO iterations (rollout + update rounds).
    pub iterations: usize,
    /// Evaluate on the held-out prompts every this many iterations (0 = never).
    pub eval_interval: usize,
    /// New tokens per held-out continuation (greedy).
    pub eval_max_new_tokens: usize,
    /// Prompts per generation batch during evaluation.
    pub eval_batch_size: usize,
}

impl Default for PpoRunConfig {
    fn default() -> Self {
        PpoRunConfig {
            iterations: 100,
            eval_interval: 10,
            eval_max_new_tokens: 50,
            eval_batch_size: 32,
        }
    }
}

/// Phase timings of one iteration, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Sampling the rollouts.
    pub generate: f64,
    /// Scoring them with the reward function.
    pub score: f64,
    /// Forwards of the policy and the reference on the rollouts.
    pub forward: f64,
    /// The PPO updates (forward + backward + step).
    pub backward: f64,
}

/// What one iteration logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationStats {
    /// Iteration (1-based).
    pub iteration: usize,
    /// Mean raw score of the rollouts.
    pub mean_score: f64,
    /// Mean score after clipping and scaling.
    pub mean_scaled_score: f64,
    /// Mean sequence KL to the reference (the controller's input).
    pub kl: f64,
    /// KL coefficient used for this iteration's rewards.
    pub beta: f64,
    /// Mean per-token entropy of the policy on its responses.
    pub entropy: f64,
    /// Mean response length in tokens.
    pub response_length: f64,
    /// Mean return over response tokens.
    pub mean_return: f64,
    /// Mean over minibatch updates of the policy loss.
    pub policy_loss: f64,
    /// Mean value loss.
    pub value_loss: f64,
    /// Mean policy clip fraction.
    pub policy_clipfrac: f64,
    /// Mean value clip fraction.
    pub value_clipfrac: f64,
    /// Mean approximate KL between old and new policy.
    pub approx_kl: f64,
    /// Learning rate at the end of the iteration.
    pub lr: f64,
    /// Phase timings.
    pub timings: Timings,
    /// Generated tokens per second of generation time.
    pub tokens_per_second: f64,
    /// Mean reward of greedy continuations of the held-out prompts, when evaluated.
    pub eval_score: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    iteration: usize,
    opt_steps: u64,
    cursor: usize,
    pass: u64,
    kl: KlController,
    scaler: RewardScaler,
    best_eval: Option<f64>,
    history: Vec<IterationStats>,
}

/// One rollout sample, stored at its chunk's width so minibatches can mix chunks.
struct Sample {
    prompt_ids: Vec<i64>,
    response_ids: Vec<i64>,
    old_logprobs: Vec<f32>,
    old_values: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    loss_mask: Vec<bool>,
}

/// PPO of a causal LM against a reward function, with a frozen reference model.
pub struct PpoTrainer {
    cfg: PpoConfig,
    run: PpoRunConfig,
    policy: Policy,
    reference: Box<dyn CausalLm>,
    tokenizer: Tokenizer,
    reward: Box<dyn RewardFn>,
    opt: AdamW,
    /// Reused gradient buffers for the vocabulary-sized matrices (CPU float32 policies).
    vocab_grads: Option<VocabGradients>,
    state: RunState,
    prompts: Vec<String>,
    eval_prompts: Vec<String>,
    device: Device,
}

impl PpoTrainer {
    /// A trainer for `policy_model` (which gets a value head) against `reward`, with
    /// `reference` (a frozen copy of the starting policy) for the KL penalty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: PpoConfig,
        run: PpoRunConfig,
        policy_model: Box<dyn CausalLm>,
        reference: Box<dyn CausalLm>,
        tokenizer: Tokenizer,
        reward: Box<dyn RewardFn>,
        prompts: Vec<String>,
        eval_prompts: Vec<String>,
    ) -> Result<Self> {
        cfg.validate()?;
        if prompts.is_empty() {
            return Err(PpoError::InvalidArgument {
                name: "prompts",
                reason: "no training prompts".into(),
            });
        }
        let device = policy_model.var_store().device();
        // The value head's initial weights: seeded, and safe from other threads' draws.
        let policy = lm_backend::with_global_seed(cfg.seed as i64, || {
            Policy::new(policy_model, cfg.num_layers_unfrozen, cfg.mode)
        });
        for (_, t) in reference.var_store().variables() {
            let _ = t.set_requires_grad(false);
        }
        let params = lm_backend::trainable_parameters(policy.model().var_store());
        let opt = AdamW::new(
            params,
            AdamWConfig {
                lr: cfg.lr,
                beta1: cfg.adam_betas.0,
                beta2: cfg.adam_betas.1,
                eps: cfg.adam_eps,
                weight_decay: cfg.weight_decay,
            },
        );
        let vocab_grads = VocabGradients::new(policy.model());
        let state = RunState {
            iteration: 0,
            opt_steps: 0,
            cursor: 0,
            pass: 0,
            kl: KlController::from_config(&cfg)?,
            scaler: RewardScaler::from_config(&cfg),
            best_eval: None,
            history: Vec::new(),
        };
        let tokenizer = tokenizer.with_padding_side(Side::Left).with_truncation(
            Side::Left,
            Some(cfg.seq_length.saturating_sub(cfg.max_new_tokens).max(1)),
        );
        Ok(PpoTrainer {
            cfg,
            run,
            policy,
            reference,
            tokenizer,
            reward,
            opt,
            vocab_grads,
            state,
            prompts,
            eval_prompts,
            device,
        })
    }

    /// The policy (language model + value head).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The current KL coefficient.
    pub fn beta(&self) -> f64 {
        self.state.kl.value()
    }

    /// Every iteration logged so far (resumed ones included).
    pub fn history(&self) -> &[IterationStats] {
        &self.state.history
    }

    /// Runs the remaining iterations. With `out_dir`: resumes from `checkpoint/` if present,
    /// checkpoints after every iteration, keeps the best policy (by held-out score) in `best/`
    /// and the last in `final/`, and writes `metrics.jsonl`. `on_iteration` sees each
    /// iteration's stats.
    pub fn train(
        &mut self,
        out_dir: Option<&Path>,
        mut on_iteration: impl FnMut(&IterationStats),
    ) -> Result<()> {
        if let Some(dir) = out_dir {
            std::fs::create_dir_all(dir).map_err(|e| PpoError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
            if let Some(ckpt) = existing_checkpoint(dir) {
                self.load_checkpoint(&ckpt)?;
                info!(
                    iteration = self.state.iteration,
                    "resumed PPO from {}",
                    ckpt.display()
                );
            }
        }
        while self.state.iteration < self.run.iterations {
            let mut stats = self.step()?;
            if self.run.eval_interval > 0
                && stats.iteration % self.run.eval_interval == 0
                && !self.eval_prompts.is_empty()
            {
                let score = self.evaluate()?;
                stats.eval_score = Some(score);
                let better = self.state.best_eval.is_none_or(|b| score > b);
                if better {
                    self.state.best_eval = Some(score);
                    if let Some(dir) = out_dir {
                        lm_backend::io::save::write_dir_atomic::<PpoError>(dir, "best", |tmp| {
                            self.policy.save_pretrained(tmp, Some(&self.tokenizer))
                        })?;
                    }
                }
            }
            self.state.history.push(stats.clone());
            if let Some(dir) = out_dir {
                self.save_checkpoint(dir)?;
            }
            info!(
                iteration = stats.iteration,
                score = stats.mean_score,
                kl = stats.kl,
                beta = stats.beta,
                "ppo iteration"
            );
            on_iteration(&stats);
        }
        if let Some(dir) = out_dir {
            lm_backend::io::save::write_dir_atomic::<PpoError>(dir, "final", |tmp| {
                self.policy.save_pretrained(tmp, Some(&self.tokenizer))
            })?;
        }
        Ok(())
    }

    fn next_prompts(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut order: Vec<usize> = (0..self.prompts.len()).collect();
            order.shuffle(&mut tox_eval::seeds::rng_for(
                self.cfg.seed,
                "ppo/prompt-order",
                self.state.pass,
            ));
            while out.len() < n && self.state.cursor < order.len() {
                out.push(self.prompts[order[self.state.cursor]].clone());
                self.state.cursor += 1;
            }
            if self.state.cursor >= order.len() {
                self.state.cursor = 0;
                self.state.pass += 1;
            }
        }
        out
    }

    /// One iteration: rollouts, scoring, advantages, `ppo_epochs` of minibatch updates, and the
    /// KL-controller update.
    pub fn step(&mut self) -> Result<IterationStats> {
        if self.cfg.mode == PpoMode::TrlxCompat {
            // trlx reads the value one step past a response's last token, a padding position;
            // only the eager attention path gives it transformers' value there.
            lm_backend::with_eager_attention(|| self.run_iteration())
        } else {
            self.run_iteration()
        }
    }

    fn run_iteration(&mut self) -> Result<IterationStats> {
        let iteration = self.state.iteration + 1;
        let _span = debug_span!("ppo_iteration", iteration).entered();
        let mut timings = Timings::default();
        let prompts = self.next_prompts(self.cfg.num_rollouts);
        let beta = self.state.kl.value();
        let mut samples = Vec::with_capacity(prompts.len());
        let (
            mut score_sum,
            mut scaled_sum,
            mut kl_sum,
            mut ent_sum,
            mut len_sum,
            mut ret_sum,
            mut ret_n,
        ) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let mut gen_tokens = 0usize;
        for (c, chunk) in prompts.chunks(self.cfg.chunk_size.max(1)).enumerate() {
            let t = Instant::now();
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let prompt_ids = self.tokenizer.encode_ids(&refs)?;
            let batch = lm_backend::io::tokenizer::pad_batch(
                prompt_ids.clone(),
                self.tokenizer.pad_id(),
                Side::Left,
                self.device,
            )?;
            let seed = tox_eval::seeds::seed_for_index(
                tox_eval::seeds::seed_for_index(self.cfg.seed, "ppo/rollouts", iteration as u64),
                "chunk",
                c as u64,
            );
            let gen_cfg = GenerationConfig::default()
                .with_max_new_tokens(self.cfg.max_new_tokens)
                .with_sampling(SamplingConfig {
                    do_sample: true,
                    temperature: self.cfg.temperature,
                    top_k: self.cfg.top_k,
                    top_p: self.cfg.top_p,
                })
                .with_tokenizer_ids(&self.tokenizer)
                .with_model_stops(self.policy.model())
                .with_seed(seed);
            let generated = generate(
                self.policy.model(),
                &batch.input_ids,
                &batch.attention_mask,
                &gen_cfg,
            )?;
            gen_tokens += generated.tokens.iter().map(Vec::len).sum::<usize>();
            timings.generate += t.elapsed().as_secs_f64();

            let t = Instant::now();
            let responses = self.tokenizer.decode_batch(&generated.tokens, true)?;
            let resp_refs: Vec<&str> = responses.iter().map(String::as_str).collect();
            let scores = self.reward.score(&refs, &resp_refs)?;
            if scores.len() != chunk.len() || scores.iter().any(|s| !s.is_finite()) {
                return Err(PpoError::Reward {
                    name: self.reward.name().to_owned(),
                    reason: format!(
                        "{} scores for {} samples (or a non-finite score): {scores:?}",
                        scores.len(),
                        chunk.len()
                    ),
                });
            }
            timings.score += t.elapsed().as_secs_f64();

            let t = Instant::now();
            let cb = ContinuationBatch::new(
                &prompt_ids,
                &generated.tokens,
                self.tokenizer.pad_id(),
                self.device,
            )?;
            let (logprobs, values, ref_logprobs, entropy) = {
                let _g = tch::no_grad_guard();
                let model = self.policy.model();
                let hidden =
                    model.forward_hidden(&cb.input_ids, &cb.attention_mask, None, false)?;
                let pred = cb
                    .response_logits(model, &hidden)?
                    .f_log_softmax(-1, Kind::Float)?;
                let logprobs = cb.chosen_logprobs(&pred)?;
                let values = self
                    .policy
                    .values(&cb.response_hidden(&hidden)?)?
                    .f_to_kind(Kind::Float)?;
                let ent = pred
                    .f_exp()?
                    .f_mul(&pred)?
                    .f_sum_dim_intlist(-1, false, Kind::Float)?
                    .f_neg()?;
                let m = cb.response_mask.f_to_kind(Kind::Float)?;
                let entropy = ent.f_mul(&m)?.f_sum(Kind::Double)?.double_value(&[])
                    / m.f_sum(Kind::Double)?.double_value(&[]).max(1.0);
                // The reference may sit on another device than the policy.
                let reference = self.reference.as_ref();
                let rb = cb.to_device(reference.var_store().device())?;
                let ref_hidden =
                    reference.forward_hidden(&rb.input_ids, &rb.attention_mask, None, false)?;
                let ref_logprobs = rb
                    .logprobs_of_predictions(&rb.response_logits(reference, &ref_hidden)?)?
                    .f_to_device(self.device)?;
                (logprobs, values, ref_logprobs, entropy)
            };
            let score_t = Tensor::from_slice(&scores)
                .f_to_kind(Kind::Float)?
                .f_to_device(self.device)?;
            let scaled = self.state.scaler.process(&score_t)?;
            let block = ResponseBlock {
                ids: &cb.response_ids,
                mask: &cb.response_mask,
                pad_id: self.tokenizer.pad_id(),
            };
            let shaped = shape_rewards(
                self.cfg.mode,
                &block,
                &logprobs,
                &ref_logprobs,
                &scaled.scores.f_to_kind(Kind::Float)?,
                beta,
            )?;
            let adv = gae(
                &shaped.rewards,
                &values,
                &shaped.episode_mask,
                self.cfg.gamma,
                self.cfg.lam,
            )?;
            kl_sum += mean_sequence_kl(&logprobs, &ref_logprobs, &cb.response_mask, self.cfg.mode)?
                * chunk.len() as f64;
            timings.forward += t.elapsed().as_secs_f64();

            score_sum += scores.iter().sum::<f64>();
            scaled_sum += scaled.scores.f_sum(Kind::Double)?.double_value(&[]);
            ent_sum += entropy * chunk.len() as f64;
            let rows = chunk.len();
            let to_rows_f = |t: &Tensor| -> Result<Vec<Vec<f32>>> {
                let v: Vec<f32> = Vec::try_from(
                    t.f_to_kind(Kind::Float)?
                        .f_to_device(Device::Cpu)?
                        .f_flatten(0, -1)?,
                )?;
                Ok(v.chunks(cb.response_len as usize)
                    .map(<[f32]>::to_vec)
                    .collect())
            };
            let lm: Vec<bool> = Vec::try_from(
                shaped
                    .loss_mask
                    .f_to_device(Device::Cpu)?
                    .f_flatten(0, -1)?,
            )?;
            let lm_rows: Vec<Vec<bool>> = lm
                .chunks(cb.response_len as usize)
                .map(<[bool]>::to_vec)
                .collect();
            let (lp_r, v_r, a_r, r_r) = (
                to_rows_f(&logprobs)?,
                to_rows_f(&values)?,
                to_rows_f(&adv.advantages)?,
                to_rows_f(&adv.returns)?,
            );
            for i in 0..rows {
                let n = generated.tokens[i].len();
                len_sum += n as f64;
                ret_sum += r_r[i][..n].iter().map(|&x| f64::from(x)).sum::<f64>();
                ret_n += n as f64;
                samples.push(Sample {
                    prompt_ids: prompt_ids[i].clone(),
                    response_ids: generated.tokens[i].clone(),
                    old_logprobs: lp_r[i].clone(),
                    old_values: v_r[i].clone(),
                    advantages: a_r[i].clone(),
                    returns: r_r[i].clone(),
                    loss_mask: lm_rows[i].clone(),
                });
            }
        }
        let n = samples.len() as f64;

        let t = Instant::now();
        let (mut pl, mut vl, mut pc, mut vc, mut ak, mut updates) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0f64);
        let kl = kl_sum / n;
        for epoch in 0..self.cfg.ppo_epochs {
            let mut order: Vec<usize> = (0..samples.len()).collect();
            order.shuffle(&mut tox_eval::seeds::rng_for(
                tox_eval::seeds::seed_for_index(self.cfg.seed, "ppo/minibatches", iteration as u64),
                "epoch",
                epoch as u64,
            ));
            for idx in order.chunks(self.cfg.batch_size.max(1)) {
                let mb: Vec<&Sample> = idx.iter().map(|&i| &samples[i]).collect();
                let stats = self.update(&mb)?;
                pl += stats.policy_loss;
                vl += stats.value_loss;
                pc += stats.policy_clipfrac;
                vc += stats.value_clipfrac;
                ak += stats.approx_kl;
                updates += 1.0;
            }
            if self.cfg.mode == PpoMode::TrlxCompat {
                // trlx: `post_backward_callback` after every inner epoch, n = batch size
                // (accelerate_ppo_trainer.py:227-228, accelerate_base_trainer.py:649).
                self.state.kl.update(kl, self.cfg.batch_size as u64)?;
            }
        }
        timings.backward = t.elapsed().as_secs_f64();
        if self.cfg.mode == PpoMode::Corrected {
            // Once per rollout phase, n = the rollouts it drew.
            self.state.kl.update(kl, self.cfg.num_rollouts as u64)?;
        }
        self.state.iteration = iteration;
        let u = updates.max(1.0);
        Ok(IterationStats {
            iteration,
            mean_score: score_sum / n,
            mean_scaled_score: scaled_sum / n,
            kl,
            beta,
            entropy: ent_sum / n,
            response_length: len_sum / n,
            mean_return: ret_sum / ret_n.max(1.0),
            policy_loss: pl / u,
            value_loss: vl / u,
            policy_clipfrac: pc / u,
            value_clipfrac: vc / u,
            approx_kl: ak / u,
            lr: self.opt.lr(),
            tokens_per_second: gen_tokens as f64 / timings.generate.max(1e-9),
            timings,
            eval_score: None,
        })
    }

    fn update(&mut self, mb: &[&Sample]) -> Result<crate::loss::PpoStats> {
        let prompts: Vec<Vec<i64>> = mb.iter().map(|s| s.prompt_ids.clone()).collect();
        let responses: Vec<Vec<i64>> = mb.iter().map(|s| s.response_ids.clone()).collect();
        let cb =
            ContinuationBatch::new(&prompts, &responses, self.tokenizer.pad_id(), self.device)?;
        let w = cb.response_len as usize;
        let pack_f = |f: &dyn Fn(&Sample) -> &Vec<f32>| -> Result<Tensor> {
            let mut v = Vec::with_capacity(mb.len() * w);
            for s in mb {
                let row = f(s);
                v.extend((0..w).map(|j| row.get(j).copied().unwrap_or(0.0)));
            }
            Ok(Tensor::from_slice(&v)
                .f_view([mb.len() as i64, w as i64])?
                .f_to_device(self.device)?)
        };
        let old_logprobs = pack_f(&|s| &s.old_logprobs)?;
        let old_values = pack_f(&|s| &s.old_values)?;
        let advantages = pack_f(&|s| &s.advantages)?;
        let returns = pack_f(&|s| &s.returns)?;
        let mut mask = Vec::with_capacity(mb.len() * w);
        for s in mb {
            mask.extend(
                (0..w).map(|j| {
                    s.loss_mask.get(j).copied().unwrap_or(false) && j < s.response_ids.len()
                }),
            );
        }
        let mask = Tensor::from_slice(&mask)
            .f_view([mb.len() as i64, w as i64])?
            .f_to_device(self.device)?;
        let advantages = if self.cfg.whiten_advantages {
            whiten(&advantages, &mask, true, self.cfg.mode)?
        } else {
            advantages
        };

        let model = self.policy.model();
        // With gradient buffers, the token embedding and output projection get their
        // gradients formed in reused memory (lm_backend::train::vocab_gradients); the same numbers.
        let (hidden, logits, vocab_pass) = match &self.vocab_grads {
            Some(vg) => {
                let fwd = vg.forward_hidden(model, &cb.input_ids, &cb.attention_mask, true)?;
                let logits = vg.logits(&cb.response_hidden(&fwd.hidden)?)?;
                (
                    fwd.hidden.shallow_clone(),
                    logits.logits.shallow_clone(),
                    Some((fwd, logits)),
                )
            }
            None => {
                let hidden = model.forward_hidden(&cb.input_ids, &cb.attention_mask, None, true)?;
                let logits = cb.response_logits(model, &hidden)?;
                (hidden, logits, None)
            }
        };
        let logprobs = cb.logprobs_of_predictions(&logits)?;
        let values = self
            .policy
            .values(&cb.response_hidden(&hidden)?)?
            .f_to_kind(Kind::Float)?;
        let loss = ppo_loss(
            &PpoLossInputs {
                logprobs: &logprobs,
                values: &values,
                old_logprobs: &old_logprobs,
                old_values: &old_values,
                advantages: &advantages,
                returns: &returns,
                mask: &mask,
            },
            &self.cfg,
        )?;
        let value = loss.loss.f_double_value(&[])?;
        if !value.is_finite() {
            return Err(PpoError::NonFinite {
                name: "ppo loss",
                value,
            });
        }
        match (&mut self.vocab_grads, &vocab_pass) {
            (Some(vg), Some((fwd, logits))) => {
                vg.backward(&mut self.opt, &loss.loss, fwd, logits)?
            }
            _ => self.opt.backward(&loss.loss)?,
        }
        if let Some(max) = self.cfg.max_grad_norm {
            let norm = self.opt.clip_grad_norm(max)?;
            if !norm.is_finite() {
                return Err(PpoError::NonFinite {
                    name: "gradient norm",
                    value: norm,
                });
            }
        }
        self.opt.set_lr(
            self.cfg
                .lr_schedule
                .lr_at(self.cfg.lr, self.state.opt_steps),
        );
        self.opt.step()?;
        self.state.opt_steps += 1;
        Ok(loss.stats)
    }

    /// Mean reward of greedy continuations of the held-out prompts.
    pub fn evaluate(&self) -> Result<f64> {
        let cfg = GenerationConfig::default()
            .with_max_new_tokens(self.run.eval_max_new_tokens)
            .with_sampling(SamplingConfig::greedy())
            .with_tokenizer_ids(&self.tokenizer)
            .with_model_stops(self.policy.model());
        let mut total = 0.0;
        for chunk in self.eval_prompts.chunks(self.run.eval_batch_size.max(1)) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let (_, texts) = lm_backend::generate_text(
                self.policy.model(),
                &self.tokenizer,
                &refs,
                &cfg,
                self.device,
            )?;
            let t: Vec<&str> = texts.iter().map(String::as_str).collect();
            total += self.reward.score(&refs, &t)?.iter().sum::<f64>();
        }
        Ok(total / self.eval_prompts.len() as f64)
    }

    fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        lm_backend::io::save::write_dir_atomic::<PpoError>(dir, "checkpoint", |tmp| {
            lm_backend::io::save::write_safetensors(
                &tmp.join("policy.safetensors"),
                &self.policy.all_variables(),
            )?;
            self.opt.save(&tmp.join("optimizer.safetensors"))?;
            let s = serde_json::to_vec_pretty(&self.state)?;
            lm_backend::io::save::write_atomic(&tmp.join("state.json"), &s)?;
            let c = serde_json::to_vec_pretty(&self.cfg)?;
            lm_backend::io::save::write_atomic(&tmp.join("ppo_config.json"), &c)?;
            Ok(())
        })?;
        let mut lines = Vec::new();
        for s in &self.state.history {
            lines.extend(serde_json::to_vec(s)?);
            lines.push(b'\n');
        }
        lm_backend::io::save::write_atomic(&dir.join("metrics.jsonl"), &lines)?;
        Ok(())
    }

    fn load_checkpoint(&mut self, ckpt: &Path) -> Result<()> {
        let cfg_path = ckpt.join("ppo_config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| PpoError::Io {
            path: cfg_path.clone(),
            source: e,
        })?;
        let saved: PpoConfig = serde_json::from_str(&text)?;
        if serde_json::to_value(&saved)? != serde_json::to_value(&self.cfg)? {
            return Err(PpoError::Checkpoint {
                path: ckpt.to_path_buf(),
                reason: "was written with different PPO settings; use a new output folder".into(),
            });
        }
        let weights =
            lm_backend::io::weights::Checkpoint::read(&[ckpt.join("policy.safetensors")])?;
        weights.load_into(self.policy.model().var_store(), |_| false)?;
        self.opt.load(&ckpt.join("optimizer.safetensors"))?;
        let sp = ckpt.join("state.json");
        let text = std::fs::read_to_string(&sp).map_err(|e| PpoError::Io {
            path: sp.clone(),
            source: e,
        })?;
        self.state = serde_json::from_str(&text)?;
        Ok(())
    }
}

fn existing_checkpoint(dir: &Path) -> Option<PathBuf> {
    ["checkpoint", "checkpoint.old"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.join("state.json").is_file())
}

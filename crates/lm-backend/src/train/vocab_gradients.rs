//! Gradients of a causal LM's two vocabulary-sized matrices (the token embedding and the output
//! projection) computed into buffers kept across optimizer steps.
//!
//! Autograd allocates every gradient afresh. For the vocabulary-sized matrices (Pythia-70M:
//! 50304 x 512, 103 MB each) glibc serves such blocks straight from the kernel (`mmap`) and
//! returns them on free, so each training step faults in and zeroes ~200 MB of new pages, and
//! the embedding's gradient is first filled with zeros over all its rows to receive a few
//! (measured on a 70M PPO iteration, 2 cores: 1.3 M page faults, a quarter of the CPU time in
//! the kernel). Here the model runs from looked-up embedding rows and projects with the output
//! weight detached; the backward pass returns the gradients of those rows and of the logits, and
//! the two weight gradients are formed in place: `grad_out = grad_logits^T hidden` into one
//! buffer (`mm_out`), the embedding's rows added into another (`index_add_`), whose rows are
//! zeroed again after use (only those that were touched). Same gradients as autograd's, up to
//! the order of float additions.
//!
//! Used by the PPO trainer's update; applies to CPU float32 models whose
//! [`CausalLm::input_embedding_weight`] and [`CausalLm::output_weight`] are set and trainable
//! (else [`VocabGradients::new`] gives `None` and callers take the plain path).

use tch::{Device, Kind, Tensor};

use crate::causal_lm::CausalLm;
use crate::error::Result;
use crate::train::optim::AdamW;

/// Gradient buffers for the token embedding and output projection of one model.
#[derive(Debug)]
pub struct VocabGradients {
    embedding: Tensor,
    embedding_grad: Tensor,
    /// The output weight and its buffer; `None` when tied to the embedding.
    output: Option<(Tensor, Tensor)>,
    /// Rows of `embedding_grad` written by the last backward pass, zeroed before the next.
    touched: Option<Tensor>,
}

/// A forward pass that [`VocabGradients::backward`] can differentiate.
#[derive(Debug)]
pub struct VocabForward {
    /// Hidden states after the final norm, `[batch, len, hidden]`.
    pub hidden: Tensor,
    embeds: Tensor,
    ids: Tensor,
}

/// Logits of some hidden rows, from [`VocabGradients::logits`].
#[derive(Debug)]
pub struct VocabLogits {
    /// `[.., vocab]` logits (part of the graph through the hidden rows).
    pub logits: Tensor,
    hidden: Tensor,
}

impl VocabGradients {
    /// Buffers for `model`, or `None` when the model is not a CPU float32 model with a
    /// trainable input embedding and output weight that it can run from
    /// ([`CausalLm::forward_hidden_from_embeds`]).
    pub fn new(model: &dyn CausalLm) -> Option<Self> {
        let embedding = model.input_embedding_weight()?;
        let output = model.output_weight()?;
        let eligible = |w: &Tensor| {
            w.device() == Device::Cpu
                && w.kind() == Kind::Float
                && w.requires_grad()
                && w.is_contiguous()
        };
        if !eligible(embedding) || !eligible(output) {
            return None;
        }
        let tied = embedding.data_ptr() == output.data_ptr();
        Some(VocabGradients {
            embedding: embedding.shallow_clone(),
            embedding_grad: embedding.zeros_like(),
            output: (!tied).then(|| (output.shallow_clone(), output.zeros_like())),
            touched: None,
        })
    }

    /// `model`'s hidden states for `input_ids`, run from the looked-up embedding rows (a leaf
    /// that requires grad) instead of through the embedding weight.
    pub fn forward_hidden(
        &self,
        model: &dyn CausalLm,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Result<VocabForward> {
        let ids = input_ids.f_reshape([-1])?;
        let mut size = input_ids.size();
        size.push(self.embedding.size()[1]);
        let embeds = {
            let _g = tch::no_grad_guard();
            self.embedding
                .f_index_select(0, &ids)?
                .f_view(size.as_slice())?
        }
        .f_set_requires_grad(true)?;
        let hidden = model.forward_hidden_from_embeds(&embeds, attention_mask, None, train)?;
        Ok(VocabForward {
            hidden,
            embeds,
            ids,
        })
    }

    /// Logits of `hidden` rows (`[.., hidden]`, e.g. the response positions of
    /// [`VocabForward::hidden`]) with the output weight detached: `hidden x weight^T`, as
    /// [`CausalLm::lm_head`] of the models this applies to.
    pub fn logits(&self, hidden: &Tensor) -> Result<VocabLogits> {
        let weight = match &self.output {
            Some((w, _)) => w,
            None => &self.embedding,
        };
        let logits = hidden.f_matmul(&weight.f_detach()?.f_tr()?)?;
        Ok(VocabLogits {
            logits,
            hidden: hidden.shallow_clone(),
        })
    }

    /// Back-propagates `loss` through `opt` ([`AdamW::backward_capturing`]) and hands it the
    /// embedding's and output weight's gradients from the buffers, for
    /// [`AdamW::clip_grad_norm`] and [`AdamW::step`]. `logits` must be the only use of the
    /// output weight in `loss`, `forward` the only use of the embedding.
    pub fn backward(
        &mut self,
        opt: &mut AdamW,
        loss: &Tensor,
        forward: &VocabForward,
        logits: &VocabLogits,
    ) -> Result<()> {
        let captured = opt.backward_capturing(loss, &[&forward.embeds, &logits.logits])?;
        let (embeds_grad, logits_grad) = (&captured[0], &captured[1]);
        let _g = tch::no_grad_guard();
        let hidden_size = self.embedding.size()[1];
        let vocab = self.embedding.size()[0];
        // grad_out = grad_logits^T hidden, over every row that was projected.
        let head_grad = |into: &Tensor| -> Result<()> {
            let g = logits_grad.f_reshape([-1, vocab])?;
            let h = logits.hidden.f_detach()?.f_reshape([-1, hidden_size])?;
            let _ = g.f_tr()?.f_mm_out(into, &h)?;
            Ok(())
        };
        let embedding_rows = |into: &mut Tensor| -> Result<()> {
            let rows = embeds_grad.f_reshape([-1, hidden_size])?;
            let _ = into.f_index_add_(0, &forward.ids, &rows)?;
            Ok(())
        };
        // A weight the loss does not reach keeps no gradient, as with autograd (AdamW then
        // skips it).
        match &self.output {
            Some((weight, buffer)) => {
                if logits_grad.defined() {
                    head_grad(buffer)?;
                    opt.set_gradient(weight, buffer.shallow_clone())?;
                }
                // Outside the rows the last pass wrote, the buffer is zero.
                if let Some(rows) = self.touched.take() {
                    let _ = self.embedding_grad.f_index_fill_(0, &rows, 0.0)?;
                }
                if embeds_grad.defined() {
                    embedding_rows(&mut self.embedding_grad)?;
                    self.touched = Some(forward.ids.shallow_clone());
                    opt.set_gradient(&self.embedding, self.embedding_grad.shallow_clone())?;
                }
            }
            None if embeds_grad.defined() || logits_grad.defined() => {
                // Tied: the output projection's gradient (or zeros) fills the whole buffer,
                // then the embedding's rows are added.
                if logits_grad.defined() {
                    head_grad(&self.embedding_grad)?;
                } else {
                    let _ = self.embedding_grad.f_zero_()?;
                }
                if embeds_grad.defined() {
                    embedding_rows(&mut self.embedding_grad)?;
                }
                opt.set_gradient(&self.embedding, self.embedding_grad.shallow_clone())?;
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::AdamWConfig;
    use crate::{GptNeoX, GptNeoXConfig};

    /// A loss over the logits of the last two positions and the hidden states of all: the
    /// shape of the PPO update's (log-probs of response tokens, values from hidden states).
    fn loss_of(hidden: &Tensor, logits: &Tensor) -> Tensor {
        let logp = logits.log_softmax(-1, Kind::Float);
        -logp.narrow(-1, 3, 5).sum(Kind::Float) + hidden.square().mean(Kind::Float)
    }

    fn gpt_neox(tied: bool) -> Result<GptNeoX> {
        let mut cfg = GptNeoXConfig::tiny(97);
        cfg.tie_word_embeddings = tied;
        GptNeoX::new_random(cfg, Device::Cpu, 3)
    }

    fn grads_both_ways(model: &dyn CausalLm, tied: bool) -> Result<()> {
        let params = crate::trainable_parameters(model.var_store());
        let shallow = || params.iter().map(Tensor::shallow_clone).collect::<Vec<_>>();
        let mut plain = AdamW::new(shallow(), AdamWConfig::default());
        let mut owned = AdamW::new(shallow(), AdamWConfig::default());
        let mut buffers = VocabGradients::new(model).expect("eligible");
        // Two batches with different (and repeated) tokens: the second checks that the rows
        // touched by the first were cleared.
        for (step, ids) in [
            vec![5i64, 7, 7, 9, 11, 2, 3, 3, 96, 0],
            vec![1i64, 4, 4, 4, 8, 60, 61, 62, 5, 5],
        ]
        .into_iter()
        .enumerate()
        {
            let input_ids = Tensor::from_slice(&ids).view([2, 5]);
            let mask = Tensor::ones([2, 5], (Kind::Int64, Device::Cpu));
            let hidden = model.forward_hidden(&input_ids, &mask, None, false)?;
            let logits = model.lm_head(&hidden.narrow(1, 3, 2))?;
            plain.backward(&loss_of(&hidden, &logits))?;

            let fwd = buffers.forward_hidden(model, &input_ids, &mask, false)?;
            let lg = buffers.logits(&fwd.hidden.narrow(1, 3, 2))?;
            let loss = loss_of(&fwd.hidden, &lg.logits);
            buffers.backward(&mut owned, &loss, &fwd, &lg)?;

            for (i, (a, b)) in plain.gradients().iter().zip(owned.gradients()).enumerate() {
                assert_eq!(a.size(), b.size(), "param {i}");
                let scale = a.abs().max().double_value(&[]).max(1e-12);
                let d = (a - &b).abs().max().double_value(&[]);
                assert!(
                    d <= 1e-6 * scale,
                    "tied {tied} step {step} param {i}: {d} vs {scale}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_weight_the_loss_does_not_reach_keeps_no_gradient() -> Result<()> {
        for tied in [false, true] {
            let mut cfg = GptNeoXConfig::tiny(97);
            cfg.tie_word_embeddings = tied;
            let model = GptNeoX::new_random(cfg, Device::Cpu, 3)?;
            let params = crate::trainable_parameters(model.var_store());
            let mut plain = AdamW::new(
                params.iter().map(Tensor::shallow_clone).collect(),
                AdamWConfig::default(),
            );
            let mut owned = AdamW::new(
                params.iter().map(Tensor::shallow_clone).collect(),
                AdamWConfig::default(),
            );
            let mut buffers = VocabGradients::new(&model).expect("eligible");
            let input_ids = Tensor::from_slice(&[5i64, 7, 7, 9]).view([1, 4]);
            let mask = Tensor::ones([1, 4], (Kind::Int64, Device::Cpu));
            // Only the hidden states enter the loss: the output weight gets no gradient.
            let hidden = model.forward_hidden(&input_ids, &mask, None, false)?;
            plain.backward(&hidden.square().mean(Kind::Float))?;
            let fwd = buffers.forward_hidden(&model, &input_ids, &mask, false)?;
            let lg = buffers.logits(&fwd.hidden)?;
            buffers.backward(
                &mut owned,
                &fwd.hidden.square().mean(Kind::Float),
                &fwd,
                &lg,
            )?;
            for (i, (a, b)) in plain.gradients().iter().zip(owned.gradients()).enumerate() {
                assert_eq!(a.defined(), b.defined(), "tied {tied} param {i}");
                if a.defined() {
                    let d = (a - &b).abs().max().double_value(&[]);
                    assert!(d <= 1e-6, "tied {tied} param {i}: {d}");
                }
            }
            let undefined = owned.gradients().iter().filter(|g| !g.defined()).count();
            assert_eq!(undefined, usize::from(!tied), "tied {tied}");
        }
        Ok(())
    }

    #[test]
    fn the_same_gradients_as_autograd_untied() -> Result<()> {
        grads_both_ways(&gpt_neox(false)?, false)
    }

    #[test]
    fn the_same_gradients_as_autograd_tied() -> Result<()> {
        grads_both_ways(&gpt_neox(true)?, true)
    }

    #[test]
    fn the_same_gradients_as_autograd_gpt2() -> Result<()> {
        let model = crate::Gpt2::new_random(crate::Gpt2Config::tiny(97), Device::Cpu, 3)?;
        grads_both_ways(&model, true)
    }

    #[test]
    fn running_from_embeddings_equals_running_from_ids() -> Result<()> {
        let gpt2 = crate::Gpt2::new_random(crate::Gpt2Config::tiny(97), Device::Cpu, 3)?;
        let neox = gpt_neox(false)?;
        let models: [&dyn CausalLm; 2] = [&gpt2, &neox];
        let ids = Tensor::from_slice(&[0i64, 0, 5, 7, 9, 11, 2, 3]).view([2, 4]);
        // Left padding in the first row.
        let mask = Tensor::from_slice(&[0i64, 0, 1, 1, 1, 1, 1, 1]).view([2, 4]);
        let _g = tch::no_grad_guard();
        for model in models {
            let weight = model.input_embedding_weight().expect("has one");
            let embeds = weight.index_select(0, &ids.reshape([-1])).view([2, 4, -1]);
            let a = model.forward_hidden(&ids, &mask, None, false)?;
            let b = model.forward_hidden_from_embeds(&embeds, &mask, None, false)?;
            assert!(a.equal(&b), "{}", model.info().model_type);
        }
        Ok(())
    }
}

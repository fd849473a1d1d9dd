//! AdamW (Loshchilov & Hutter 2019, as `torch.optim.AdamW` computes it; `weight_decay = 0`
//! gives Adam) with a state that can be saved and restored — tch's optimizers keep their
//! moments inside libtorch with no way to checkpoint them, and an interrupted run must resume
//! exactly — plus global-norm gradient clipping and a cosine learning-rate schedule.

use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::{LmError, Result};

/// AdamW hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay (0 = Adam).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW over a fixed list of parameters.
///
/// Two ways to give it gradients: [`AdamW::backward`] (fresh gradients held by the optimizer,
/// as torch's `zero_grad(set_to_none=True)` then `backward()`: no pass that zeroes the
/// parameters' `.grad` and none that adds into it), or `zero_grad()` + `loss.backward()` into
/// the parameters' `.grad` (also what [`AdamW::step`] falls back to).
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: i64,
    /// Gradients from [`AdamW::backward`], one per parameter (undefined where the loss does
    /// not depend on it), until the next step.
    grads: Option<Vec<Tensor>>,
}

impl AdamW {
    /// An optimizer for `params` (tensors that require grad).
    pub fn new(params: Vec<Tensor>, cfg: AdamWConfig) -> Self {
        let m = params.iter().map(Tensor::zeros_like).collect();
        let v = params.iter().map(Tensor::zeros_like).collect();
        AdamW {
            cfg,
            params,
            m,
            v,
            step: 0,
            grads: None,
        }
    }

    /// Current learning rate.
    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    /// Sets the learning rate (schedules call this before each step).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// Steps taken.
    pub fn steps(&self) -> i64 {
        self.step
    }

    /// Clears the gradients of every parameter (and those held from [`AdamW::backward`]).
    pub fn zero_grad(&mut self) {
        self.grads = None;
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Back-propagates `loss` (a scalar) to fresh gradients of the parameters, held by the
    /// optimizer for [`AdamW::clip_grad_norm`] and [`AdamW::step`]; the parameters' `.grad` is
    /// left alone. The same gradients as `zero_grad()` + `loss.backward()`, without the pass
    /// that zeroes every `.grad` and the one that adds the new gradient into it (for a 70M
    /// model, about 1 GB of memory traffic per step).
    pub fn backward(&mut self, loss: &Tensor) -> Result<()> {
        self.grads = Some(Tensor::f_run_backward(&[loss], &self.params, false, false)?);
        Ok(())
    }

    /// [`AdamW::backward`] that also returns the gradients of `captured`: tensors of the graph
    /// that are not parameters (an intermediate activation, or a leaf made to require grad),
    /// undefined where the loss does not depend on one. Callers that compute some parameter's
    /// gradient themselves from these use [`AdamW::set_gradient`].
    pub fn backward_capturing(
        &mut self,
        loss: &Tensor,
        captured: &[&Tensor],
    ) -> Result<Vec<Tensor>> {
        let mut inputs: Vec<&Tensor> = self.params.iter().collect();
        inputs.extend_from_slice(captured);
        let mut grads = Tensor::f_run_backward(&[loss], &inputs, false, false)?;
        let of_captured = grads.split_off(self.params.len());
        self.grads = Some(grads);
        Ok(of_captured)
    }

    /// Replaces the gradient held from [`AdamW::backward`] / [`AdamW::backward_capturing`] for
    /// `param` (one of this optimizer's parameters, the same tensor) with `grad`.
    ///
    /// # Errors
    /// [`LmError::InvalidArgument`] when no gradients are held, `param` is not a parameter of
    /// this optimizer, or `grad`'s shape differs from it.
    pub fn set_gradient(&mut self, param: &Tensor, grad: Tensor) -> Result<()> {
        let index = self
            .params
            .iter()
            .position(|p| p.data_ptr() == param.data_ptr() && p.size() == param.size())
            .ok_or_else(|| {
                LmError::InvalidArgument("set_gradient: not a parameter of this optimizer".into())
            })?;
        if grad.size() != param.size() {
            return Err(LmError::InvalidArgument(format!(
                "set_gradient: gradient of shape {:?} for a parameter of shape {:?}",
                grad.size(),
                param.size()
            )));
        }
        let grads = self.grads.as_mut().ok_or_else(|| {
            LmError::InvalidArgument("set_gradient: no gradients held (call backward first)".into())
        })?;
        grads[index] = grad;
        Ok(())
    }

    /// The gradient of each parameter: those from [`AdamW::backward`] if any, else `.grad`.
    pub(crate) fn gradients(&self) -> Vec<Tensor> {
        match &self.grads {
            Some(g) => g.iter().map(Tensor::shallow_clone).collect(),
            None => self.params.iter().map(Tensor::grad).collect(),
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before
    /// clipping (as `torch.nn.utils.clip_grad_norm_`).
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> Result<f64> {
        let _g = tch::no_grad_guard();
        let grads = self.gradients();
        let mut total = 0.0;
        for g in &grads {
            if g.defined() {
                total += g
                    .f_pow_tensor_scalar(2)?
                    .f_sum(Kind::Double)?
                    .double_value(&[]);
            }
        }
        let norm = total.sqrt();
        if norm.is_finite() && norm > max_norm && max_norm > 0.0 {
            let scale = max_norm / (norm + 1e-6);
            for mut g in grads {
                if g.defined() {
                    let _ = g.f_mul_scalar_(scale)?;
                }
            }
        }
        Ok(norm)
    }

    /// One update from the current gradients (those of [`AdamW::backward`], else `.grad`;
    /// parameters without a gradient are skipped).
    ///
    /// Contiguous float32 CPU parameters take a fused path: one pass over parameter, gradient
    /// and both moments per element, on rayon's threads, as `torch.optim.AdamW(fused=True)`
    /// does (tch binds no fused optimizer). Anything else (CUDA, other dtypes) runs the same
    /// rule as in-place tensor operations, as torch's single-tensor path.
    pub fn step(&mut self) -> Result<()> {
        let _g = tch::no_grad_guard();
        self.step += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2 = 1.0 - c.beta2.powi(self.step as i32);
        let grads = self.gradients();
        self.grads = None;
        for (((p, m), v), g) in self
            .params
            .iter_mut()
            .zip(&mut self.m)
            .zip(&mut self.v)
            .zip(grads)
        {
            if !g.defined() {
                continue;
            }
            if fused_step_f32(p, &g, m, v, &c, bc1, bc2)? {
                continue;
            }
            if c.weight_decay != 0.0 {
                let _ = p.f_mul_scalar_(1.0 - c.lr * c.weight_decay)?;
            }
            // m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2.
            let _ = m.f_lerp_(&g, 1.0 - c.beta1)?;
            let _ = v.f_lerp_(&g.f_square()?, 1.0 - c.beta2)?;
            if c.lr == 0.0 {
                continue;
            }
            // p <- p - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), as p + m / denom with the step
            // size folded into denom (tch's addcdiv_ has no `value`).
            let mut denom = v.f_sqrt()?;
            let _ = denom.f_div_scalar_(bc2.sqrt())?;
            let _ = denom.f_add_scalar_(c.eps)?;
            let _ = denom.f_mul_scalar_(-bc1 / c.lr)?;
            let _ = p.f_addcdiv_(m, &denom)?;
        }
        Ok(())
    }

    /// Saves the moments and step count to a safetensors file (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named = Vec::with_capacity(2 * self.m.len() + 1);
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            named.push((format!("m.{i}"), m.shallow_clone()));
            named.push((format!("v.{i}"), v.shallow_clone()));
        }
        named.push(("step".into(), Tensor::from_slice(&[self.step])));
        crate::io::save::write_safetensors(path, &named)
    }

    /// Restores moments and step count saved by [`AdamW::save`] for the same parameter list.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let named: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(path)
            .map_err(|e| LmError::Safetensors {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
            .into_iter()
            .collect();
        let get = |k: &str| {
            named.get(k).ok_or_else(|| LmError::Safetensors {
                path: path.to_path_buf(),
                message: format!("optimizer state lacks '{k}'"),
            })
        };
        let _g = tch::no_grad_guard();
        for i in 0..self.m.len() {
            for (slot, key) in [
                (&mut self.m[i], format!("m.{i}")),
                (&mut self.v[i], format!("v.{i}")),
            ] {
                let src = get(&key)?;
                if src.size() != slot.size() {
                    return Err(LmError::ShapeMismatch {
                        name: key,
                        expected: slot.size(),
                        got: src.size(),
                        path: path.to_path_buf(),
                    });
                }
                slot.f_copy_(&src.f_to_device(slot.device())?.f_to_kind(slot.kind())?)?;
            }
        }
        self.step = get("step")?.int64_value(&[0]);
        Ok(())
    }
}

/// Elements per rayon task of the fused step.
const FUSED_CHUNK: usize = 1 << 16;

/// The AdamW update of one float32 CPU parameter in a single pass, when `p`, `g`, `m` and `v`
/// are contiguous float32 CPU tensors of one size; returns `false` (nothing done) otherwise.
/// The arithmetic is the update rule of [`AdamW::step`] in float32, in torch's order.
fn fused_step_f32(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    c: &AdamWConfig,
    bc1: f64,
    bc2: f64,
) -> Result<bool> {
    use rayon::prelude::*;
    let all = [p, g, m, v];
    let n = p.numel();
    let eligible = all.iter().all(|t| {
        t.device() == tch::Device::Cpu
            && t.kind() == Kind::Float
            && t.is_contiguous()
            && t.numel() == n
    });
    // Four distinct buffers: a gradient sharing the parameter's storage would alias.
    let ptrs: Vec<usize> = all.iter().map(|t| t.data_ptr() as usize).collect();
    let distinct = (0..4).all(|i| (i + 1..4).all(|j| ptrs[i] != ptrs[j]));
    if !eligible || !distinct || n == 0 {
        return Ok(false);
    }
    // SAFETY: each pointer is the start of a live, contiguous CPU float32 buffer of `n`
    // elements (checked above), the four buffers are distinct, and the tensors outlive this
    // call; nothing else reads or writes them while the optimizer step runs (no-grad, and the
    // caller holds the optimizer mutably).
    let (ps, gs, ms, vs) = unsafe {
        (
            std::slice::from_raw_parts_mut(ptrs[0] as *mut f32, n),
            std::slice::from_raw_parts(ptrs[1] as *const f32, n),
            std::slice::from_raw_parts_mut(ptrs[2] as *mut f32, n),
            std::slice::from_raw_parts_mut(ptrs[3] as *mut f32, n),
        )
    };
    let decay = (1.0 - c.lr * c.weight_decay) as f32;
    let (b1, b2) = (c.beta1 as f32, c.beta2 as f32);
    let step_size = (c.lr / bc1) as f32;
    let bc2_sqrt = bc2.sqrt() as f32;
    let eps = c.eps as f32;
    ps.par_chunks_mut(FUSED_CHUNK)
        .zip(gs.par_chunks(FUSED_CHUNK))
        .zip(ms.par_chunks_mut(FUSED_CHUNK))
        .zip(vs.par_chunks_mut(FUSED_CHUNK))
        .for_each(|(((p, g), m), v)| {
            // Zipped iterators (no indexing, so no bounds checks) let LLVM vectorise the loop;
            // lane-wise IEEE arithmetic in the same order gives the same bits as a scalar loop.
            // Without weight decay `decay` is exactly 1, and `x * 1.0 == x`.
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let mi = *m + (1.0 - b1) * (g - *m);
                let vi = b2 * *v + (1.0 - b2) * g * g;
                let denom = vi.sqrt() / bc2_sqrt + eps;
                *p = *p * decay - step_size * mi / denom;
                *m = mi;
                *v = vi;
            }
        });
    Ok(true)
}

/// Cosine annealing from `lr_max` to `lr_min` over `total` steps (`CosineAnnealingLR`).
pub fn cosine_lr(step: usize, total: usize, lr_max: f64, lr_min: f64) -> f64 {
    if total == 0 {
        return lr_max;
    }
    let t = (step.min(total) as f64) / (total as f64);
    lr_min + 0.5 * (lr_max - lr_min) * (1.0 + (std::f64::consts::PI * t).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from torch.optim.AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8,
    /// weight_decay=0.01) minimising sum(x^2) from x = [1, -2] for 3 steps:
    /// each step moves x by about lr * sign(x), with decoupled decay.
    #[test]
    fn adamw_matches_the_update_rule() -> Result<()> {
        let x = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let mut opt = AdamW::new(
            vec![x.shallow_clone()],
            AdamWConfig {
                lr: 0.1,
                weight_decay: 0.01,
                ..Default::default()
            },
        );
        // Transparent recomputation of the same rule in f64.
        let (mut xs, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
        for t in 1..=3 {
            opt.zero_grad();
            x.pow_tensor_scalar(2).sum(Kind::Double).backward();
            opt.step()?;
            for i in 0..2 {
                let g = 2.0 * xs[i];
                xs[i] *= 1.0 - 0.1 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                xs[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got: Vec<f64> = Vec::try_from(x.detach())?;
        for i in 0..2 {
            assert!((got[i] - xs[i]).abs() < 1e-12, "{got:?} vs {xs:?}");
        }
        Ok(())
    }

    /// The fused float32 path equals the tensor-operation path (taken for a non-contiguous
    /// parameter with the same values) over several steps, with and without weight decay.
    #[test]
    fn fused_float32_step_equals_the_tensor_path() -> Result<()> {
        for weight_decay in [0.1, 0.0] {
            fused_equals_plain(weight_decay)?;
        }
        Ok(())
    }

    fn fused_equals_plain(weight_decay: f64) -> Result<()> {
        tch::manual_seed(5);
        let init = Tensor::randn([3, 70_001], (Kind::Float, tch::Device::Cpu));
        let cfg = AdamWConfig {
            lr: 0.01,
            weight_decay,
            ..Default::default()
        };
        let a = init.copy().set_requires_grad(true);
        let b = init.tr().contiguous().tr().set_requires_grad(true);
        assert!(a.is_contiguous() && !b.is_contiguous());
        let mut fused = AdamW::new(vec![a.shallow_clone()], cfg);
        let mut plain = AdamW::new(vec![b.shallow_clone()], cfg);
        for _ in 0..4 {
            fused.zero_grad();
            plain.zero_grad();
            // Gradients exactly `c` on both sides (a nonlinear loss could round differently
            // for the two layouts, and Adam turns tiny gradient differences near zero into
            // whole steps).
            let c = Tensor::randn([3, 70_001], (Kind::Float, tch::Device::Cpu));
            (&a * &c).sum(Kind::Float).backward();
            (&b * &c).sum(Kind::Float).backward();
            assert!(
                !plain.m[0].is_contiguous(),
                "the plain path must be the one tested"
            );
            fused.step()?;
            plain.step()?;
        }
        for (x, y, what) in [
            (&a.detach(), &b.detach(), "parameters"),
            (&fused.m[0], &plain.m[0], "first moments"),
            (&fused.v[0], &plain.v[0], "second moments"),
        ] {
            let d = (x - y).abs().max().double_value(&[]);
            assert!(
                d < 1e-6,
                "{what} differ by {d} (weight decay {weight_decay})"
            );
        }
        Ok(())
    }

    /// Gradients from `AdamW::backward` give the same steps, bit for bit, as `zero_grad()` +
    /// `backward()` into `.grad`, with clipping, over several steps; `.grad` is left alone.
    #[test]
    fn held_gradients_equal_grad_accumulation() -> Result<()> {
        let init = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5]).view([2, 3]);
        let unused_init = Tensor::from_slice(&[1.0f32, 2.0]);
        let cfg = AdamWConfig {
            lr: 0.05,
            weight_decay: 0.01,
            ..Default::default()
        };
        let make = || {
            let w = init.copy().set_requires_grad(true);
            let unused = unused_init.copy().set_requires_grad(true);
            let opt = AdamW::new(vec![w.shallow_clone(), unused.shallow_clone()], cfg);
            (w, unused, opt)
        };
        let (wa, ua, mut held) = make();
        let (wb, ub, mut accumulated) = make();
        let x = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
        for step in 0..5 {
            let loss = |w: &Tensor| w.mv(&x).square().sum(Kind::Float) * (step + 1) as f64;
            held.backward(&loss(&wa))?;
            accumulated.zero_grad();
            loss(&wb).backward();
            assert_eq!(held.clip_grad_norm(1.0)?, accumulated.clip_grad_norm(1.0)?);
            held.step()?;
            accumulated.step()?;
        }
        assert!(wa.equal(&wb) && ua.equal(&ub));
        assert!(
            ua.equal(&unused_init),
            "a parameter the loss does not use is not stepped"
        );
        assert!(!wa.grad().defined(), "backward() leaves .grad alone");
        Ok(())
    }

    #[test]
    fn cosine_schedule_ends() {
        assert_eq!(cosine_lr(0, 10, 1.0, 0.0), 1.0);
        assert!(cosine_lr(10, 10, 1.0, 0.0).abs() < 1e-12);
        assert!((cosine_lr(5, 10, 1.0, 0.0) - 0.5).abs() < 1e-12);
    }
}

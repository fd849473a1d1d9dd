//! libtorch's global random generator, shared safely between threads.
//!
//! tch exposes no generator objects: random initialisation (`nn::Init::Randn`, Kaiming-uniform
//! linear layers, `normal_`) draws from one process-wide generator, reseeded by
//! `tch::manual_seed`. Two threads that each "seed, then build a model" interleave their draws,
//! so a seeded construction stops being reproducible as soon as anything else in the process
//! builds a model at the same time (parallel tests, a server loading checkpoints while a
//! trainer initialises its value head). Every draw this workspace makes from the global
//! generator runs inside [`with_global_rng`], and every seeded construction inside
//! [`with_global_seed`]: the seed and the draws that follow it form one uninterrupted block.
//!
//! The lock is re-entrant on the thread that holds it, so a seeded block may call code that
//! itself takes it (e.g. a model loaded inside a seeded reward-model constructor).
//!
//! ```
//! use lm_backend::global_rng::with_global_seed;
//! use tch::{Kind, Tensor};
//!
//! let a = with_global_seed(7, || Tensor::randn([4], (Kind::Float, tch::Device::Cpu)));
//! let b = with_global_seed(7, || Tensor::randn([4], (Kind::Float, tch::Device::Cpu)));
//! assert!(a.equal(&b));
//! ```

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

static LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    static HELD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` holding the process-wide lock on libtorch's global generator (re-entrant: a
/// nested call on the same thread runs `f` directly).
pub fn with_global_rng<T>(f: impl FnOnce() -> T) -> T {
    if HELD.with(Cell::get) {
        return f();
    }
    let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    /// Clears the flag before the lock is released, also when `f` panics.
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            HELD.with(|h| h.set(false));
        }
    }
    HELD.with(|h| h.set(true));
    let _release = Release;
    f()
}

/// Seeds libtorch's global generator with `seed` (`tch::manual_seed`) and runs `f`, with no
/// other thread's draws in between (see the module docs).
pub fn with_global_seed<T>(seed: i64, f: impl FnOnce() -> T) -> T {
    with_global_rng(|| {
        tch::manual_seed(seed);
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    fn draw() -> Vec<f32> {
        let t = Tensor::randn([64], (Kind::Float, Device::Cpu));
        Vec::<f32>::try_from(&t).expect("floats")
    }

    #[test]
    fn seeded_blocks_are_reproducible_while_other_threads_draw() {
        let expected = with_global_seed(11, || (draw(), draw()));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for _ in 0..50 {
                        if i % 2 == 0 {
                            // Another thread's unseeded draws, as a model being loaded makes.
                            with_global_rng(draw);
                        } else {
                            seen.push(with_global_seed(11, || (draw(), draw())));
                        }
                    }
                    seen
                })
            })
            .collect();
        for h in handles {
            for s in h.join().expect("thread") {
                assert_eq!(s, expected);
            }
        }
    }

    #[test]
    fn nested_blocks_do_not_deadlock() {
        let inner = with_global_seed(3, || with_global_rng(|| with_global_seed(5, draw)));
        assert_eq!(inner, with_global_seed(5, draw));
    }
}

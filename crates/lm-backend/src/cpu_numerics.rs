//! Pinned CPU code paths, so that a seed gives the same numbers on every x86-64 machine with
//! AVX2 rather than only on the machine that produced them.
//!
//! libtorch picks its vectorised kernels by what the CPU offers (AVX-512 where present, else
//! AVX2), and MKL picks its GEMM code path the same way; both change the rounding of every
//! matmul, softmax and reduction. Intra-op threads split reductions, so the thread count
//! changes sums too. [`pin_cpu_code_paths`] sets
//!
//! - `ATEN_CPU_CAPABILITY=avx2`: ATen's kernels (read once, at the first tensor operation);
//! - `MKL_CBWR=AVX2`: MKL's conditional numerical reproducibility (read at MKL's first call;
//!   MKL honours it on Intel CPUs and reports `AUTO` on others, so equality across CPU vendors
//!   needs `MKL_CBWR=COMPATIBLE`, which the user can set: a variable already set is kept);
//!
//! and the caller fixes the thread count ([`tch::set_num_threads`]). `IRLHF_CPU_NUMERICS=native`
//! leaves both to the machine. What each costs is in docs/benchmarks.md ("CPU numerics").

/// The variables [`pin_cpu_code_paths`] sets, with their values.
pub const PINNED_CPU_CODE_PATHS: &[(&str, &str)] =
    &[("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_CBWR", "AVX2")];

/// Sets each of [`PINNED_CPU_CODE_PATHS`] that the environment leaves unset (unless
/// `IRLHF_CPU_NUMERICS=native`); [`cpu_numerics_in_effect`] reports what is in effect. Call it
/// before the first tensor operation of the process: later calls change nothing libtorch or
/// MKL has already read.
pub fn pin_cpu_code_paths() {
    if std::env::var("IRLHF_CPU_NUMERICS").is_ok_and(|v| v == "native") {
        return;
    }
    for &(key, value) in PINNED_CPU_CODE_PATHS {
        if std::env::var_os(key).is_none() {
            std::env::set_var(key, value);
        }
    }
}

/// The CPU code paths in effect (`native` where unset) and the intra-op thread count, for
/// reports.
pub fn cpu_numerics_in_effect() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = PINNED_CPU_CODE_PATHS
        .iter()
        .map(|&(key, _)| {
            let value = std::env::var(key).unwrap_or_else(|_| "native".to_owned());
            (key.to_owned(), value)
        })
        .collect();
    v.push(("threads".to_owned(), tch::get_num_threads().to_string()));
    v
}

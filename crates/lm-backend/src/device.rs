//! Device selection shared by every crate: `cpu`, `cuda`, `cuda:N` or `auto`.

use std::fmt;
use std::str::FromStr;

use crate::error::{LmError, Result};

/// Where tensors live, as a user asks for it (command line, config file).
///
/// Parse with [`str::parse`] (`"cpu"`, `"cuda"`, `"cuda:1"`, `"auto"`) and turn into a
/// [`tch::Device`] with [`DeviceChoice::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// The CPU.
    Cpu,
    /// A CUDA device by ordinal; resolving fails when it is not there.
    Cuda(usize),
    /// CUDA device 0 when one is usable, else the CPU.
    #[default]
    Auto,
}

impl DeviceChoice {
    /// The concrete device. `Cuda` fails with [`LmError::DeviceUnavailable`] when libtorch sees
    /// no such CUDA device; `Auto` falls back to the CPU.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Auto => Ok(if cuda_device_count() > 0 {
                tch::Device::Cuda(0)
            } else {
                tch::Device::Cpu
            }),
            DeviceChoice::Cuda(i) => {
                let n = cuda_device_count();
                if i < n {
                    Ok(tch::Device::Cuda(i))
                } else {
                    Err(LmError::DeviceUnavailable(format!(
                        "cuda:{i} was asked for but libtorch sees {n} CUDA device(s)"
                    )))
                }
            }
        }
    }
}

/// Number of CUDA devices libtorch can use.
///
/// The linker may drop `libtorch_cuda.so` from a binary that references none of its symbols
/// (`--as-needed`), which makes CUDA invisible to libtorch; loading it explicitly first avoids
/// that without special linker flags.
pub fn cuda_device_count() -> usize {
    load_torch_cuda();
    usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
}

fn load_torch_cuda() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: dlopen with a constant NUL-terminated name; the handle is intentionally
        // kept open for the life of the process. A null return (no CUDA build) is fine.
        unsafe {
            libc::dlopen(
                c"libtorch_cuda.so".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_GLOBAL,
            );
        }
    });
}

impl FromStr for DeviceChoice {
    type Err = LmError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceChoice::Cuda(i)),
                _ => Err(LmError::InvalidArgument(format!(
                    "unknown device '{s}': expected cpu, cuda, cuda:N or auto"
                ))),
            },
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = LmError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Auto => write!(f, "auto"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() -> Result<()> {
        for (s, d) in [
            ("cpu", DeviceChoice::Cpu),
            ("CUDA", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
            ("auto", DeviceChoice::Auto),
        ] {
            assert_eq!(s.parse::<DeviceChoice>()?, d);
        }
        assert_eq!(DeviceChoice::Cuda(2).to_string(), "cuda:2");
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        Ok(())
    }

    #[test]
    fn cpu_and_auto_resolve() -> Result<()> {
        assert_eq!(DeviceChoice::Cpu.resolve()?, tch::Device::Cpu);
        let auto = DeviceChoice::Auto.resolve()?;
        assert_eq!(auto.is_cuda(), cuda_device_count() > 0);
        Ok(())
    }

    #[test]
    fn missing_cuda_device_is_an_error() {
        let n = cuda_device_count();
        assert!(DeviceChoice::Cuda(n).resolve().is_err());
    }
}

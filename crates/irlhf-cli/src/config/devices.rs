//! Where each role's models run: the pipeline's `device`, unless `policy_device`,
//! `reference_device`, `reward_device` or `judge_device` puts that role elsewhere (a reference
//! or a judge on another GPU or on the CPU, next to a policy that needs the memory).

use lm_backend::DeviceChoice;
use tch::Device;

/// The four roles' devices, as written (or defaulted to `device`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Devices {
    /// Policies: PPO's trained model, generation, evaluation.
    pub policy: DeviceChoice,
    /// Frozen references: PPO's KL reference, the implicit reward's reference.
    pub reference: DeviceChoice,
    /// Rewards: the ground truth PPO trains against, IRL's reward models.
    pub reward: DeviceChoice,
    /// The evaluation's judge and perplexity model.
    pub judge: DeviceChoice,
}

/// The four roles' devices, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedDevices {
    /// See [`Devices::policy`].
    pub policy: Device,
    /// See [`Devices::reference`].
    pub reference: Device,
    /// See [`Devices::reward`].
    pub reward: Device,
    /// See [`Devices::judge`].
    pub judge: Device,
}

impl Devices {
    /// Resolves every role's device, so that a missing GPU is an error before any stage runs;
    /// the error names the role's key.
    pub fn resolve(&self) -> anyhow::Result<ResolvedDevices> {
        let one = |choice: DeviceChoice, key: &str| -> anyhow::Result<Device> {
            choice
                .resolve()
                .map_err(|e| anyhow::anyhow!("{key} (or device): {e}"))
        };
        Ok(ResolvedDevices {
            policy: one(self.policy, "policy_device")?,
            reference: one(self.reference, "reference_device")?,
            reward: one(self.reward, "reward_device")?,
            judge: one(self.judge, "judge_device")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;

    #[test]
    fn a_role_key_wins_over_device_and_a_missing_gpu_names_it() -> anyhow::Result<()> {
        let cfg = PipelineConfig::from_toml("device = \"cpu\"\nreference_device = \"cuda:99\"\n")?;
        let d = cfg.devices();
        assert_eq!(d.reference, DeviceChoice::Cuda(99));
        assert_eq!(
            (d.policy, d.reward, d.judge),
            (DeviceChoice::Cpu, DeviceChoice::Cpu, DeviceChoice::Cpu)
        );
        {
            let err = d.resolve().expect_err("no cuda:99 here");
            assert!(format!("{err:#}").contains("reference_device"), "{err:#}");
        }
        let all_cpu = PipelineConfig::from_toml("device = \"cpu\"\njudge_device = \"cpu\"\n")?;
        let r = all_cpu.devices().resolve()?;
        assert_eq!(
            (r.policy, r.reference, r.reward, r.judge),
            (Device::Cpu, Device::Cpu, Device::Cpu, Device::Cpu)
        );
        Ok(())
    }
}

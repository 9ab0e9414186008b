//! `[providers.facechain]`: DashScope's FaceChain portrait models. Endpoint, key, workspace,
//! polling and timeouts come from `[providers.dashscope]` (same account, same gateway).

use serde::{Deserialize, Serialize};

/// FaceChain's limit on `parameters.n` of one generation task.
pub const MAX_IMAGES_PER_TASK: u32 = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceChainSettings {
    pub finetune_model: String,
    pub generation_model: String,
    /// Photos sent to training; FaceChain takes 1–10, the seed uploads 8–20.
    pub max_training_photos: usize,
    /// Photos shorter than this on their short side are never sent (faces too small to learn).
    pub min_photo_side: u32,
    /// Images per generation, 1–4.
    pub images_per_task: u32,
    /// `parameters.size`; FaceChain documents only `768*1024`.
    pub size: String,
    /// First wait between polls of a training job, and the longest.
    pub training_poll_initial_ms: u64,
    pub training_poll_max_ms: u64,
    /// A training job still unfinished after this long counts as failed.
    pub training_timeout_secs: u64,
    /// Template photos and user photos in train-free mode: `skin_retouch`.
    pub skin_retouch: bool,
}

impl Default for FaceChainSettings {
    fn default() -> Self {
        FaceChainSettings {
            finetune_model: "facechain-finetune".to_owned(),
            generation_model: "facechain-generation".to_owned(),
            max_training_photos: 10,
            min_photo_side: 256,
            images_per_task: 4,
            size: "768*1024".to_owned(),
            training_poll_initial_ms: 5_000,
            training_poll_max_ms: 10_000,
            training_timeout_secs: 3_600,
            skin_retouch: true,
        }
    }
}

impl FaceChainSettings {
    /// Refuses settings FaceChain would refuse, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=10).contains(&self.max_training_photos),
            "providers.facechain.max_training_photos must be 1–10 (FaceChain's limit)"
        );
        anyhow::ensure!(
            (1..=MAX_IMAGES_PER_TASK).contains(&self.images_per_task),
            "providers.facechain.images_per_task must be 1–{MAX_IMAGES_PER_TASK} (FaceChain's limit)"
        );
        anyhow::ensure!(
            self.training_timeout_secs > 0,
            "providers.facechain.training_timeout_secs must be positive"
        );
        Ok(())
    }
}

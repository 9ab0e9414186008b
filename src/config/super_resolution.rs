//! `[models.super_resolution]`: which Real-ESRGAN model serves fix, and how it is tiled.

use serde::{Deserialize, Serialize};

/// Settings of the local fix (super-resolution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SuperResolutionSettings {
    /// `realesr-animevideov3` (its x2 and x4 graphs; fast) or `realesrgan-x4plus` (the photo
    /// model, about 25 times the work; x4 only, smaller factors are resampled from it).
    pub model: String,
    /// Side of the square of input pixels one inference produces; larger inputs are cut into
    /// tiles of this size, which bounds the memory of one inference. 0 = the model's own
    /// default ([`SuperResolutionSettings::tile_for`]).
    pub tile_size: u32,
    /// Pixels of context added around each tile (and cut from its result) so tiles join
    /// without seams.
    pub tile_overlap: u32,
    /// Largest input (width × height) accepted: the work grows with it and the model's cost
    /// per pixel is high on a CPU.
    pub max_input_pixels: u64,
}

impl Default for SuperResolutionSettings {
    fn default() -> Self {
        SuperResolutionSettings {
            model: "realesr-animevideov3".into(),
            tile_size: 0,
            tile_overlap: 24,
            max_input_pixels: 4_194_304,
        }
    }
}

/// Default tile sides: SRVGGNetCompact holds 64 channels at the input size (about 80 MB per
/// activation for a 512-px tile with its context); RRDBNet holds up to 192 channels and then 64
/// at 4x the size, so its tiles are smaller for a similar peak.
const ANIMEVIDEO_TILE: u32 = 512;
const X4PLUS_TILE: u32 = 192;

/// The model families fix can use.
pub const SUPER_RESOLUTION_MODELS: [&str; 2] = ["realesr-animevideov3", "realesrgan-x4plus"];

impl SuperResolutionSettings {
    /// The tile side for `model`: `tile_size`, or the model's default when it is 0.
    pub fn tile_for(&self, model: &str) -> u32 {
        match (self.tile_size, model) {
            (0, "realesrgan-x4plus") => X4PLUS_TILE,
            (0, _) => ANIMEVIDEO_TILE,
            (n, _) => n,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !SUPER_RESOLUTION_MODELS.contains(&self.model.as_str()) {
            anyhow::bail!(
                "models.super_resolution.model must be one of {}, got {:?}",
                SUPER_RESOLUTION_MODELS.join(", "),
                self.model
            );
        }
        if self.tile_size != 0 && !(32..=2048).contains(&self.tile_size) {
            anyhow::bail!(
                "models.super_resolution.tile_size must be 0 (the model's default) or between 32 \
                 and 2048, got {}",
                self.tile_size
            );
        }
        let smallest_tile = match self.tile_size {
            0 => X4PLUS_TILE,
            n => n,
        };
        if self.tile_overlap > 128 || self.tile_overlap * 2 >= smallest_tile {
            anyhow::bail!(
                "models.super_resolution.tile_overlap must be at most 128 and less than half of \
                 tile_size, got {}",
                self.tile_overlap
            );
        }
        if self.max_input_pixels == 0 {
            anyhow::bail!("models.super_resolution.max_input_pixels must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        SuperResolutionSettings::default().validate().unwrap();
        let bad = SuperResolutionSettings {
            model: "esrgan".into(),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("model"));
        let bad = SuperResolutionSettings {
            tile_overlap: 200,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("tile_overlap")
        );
    }
}

//! Operator-installed ONNX style models for create character, one per preset.
//!
//! Image-to-image generators (AnimeGAN, CartoonGAN, fast neural style exports) differ in
//! tensor layout and pixel range, so both are declared here rather than guessed.

use serde::{Deserialize, Serialize};

/// `[models.style]`: an empty file name keeps the built-in stylisation of that preset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StyleModelSettings {
    /// Model file for `style_preset=default`, in `models.dir` unless absolute.
    pub default: String,
    pub cartoon: String,
    pub watercolor: String,
    /// Layout of the model's input and output tensors.
    pub layout: TensorLayout,
    /// Pixel range of the model's input and output.
    pub range: PixelRange,
    /// Input sides are rounded to a multiple of this: generators with strided convolutions
    /// and skip connections need 4, 8 or 32.
    pub side_multiple: u32,
    /// The longest side the model is given; larger subjects are scaled down for it and its
    /// painting scaled back up, which bounds time and memory.
    pub max_side: u32,
}

impl Default for StyleModelSettings {
    fn default() -> Self {
        StyleModelSettings {
            default: String::new(),
            cartoon: String::new(),
            watercolor: String::new(),
            layout: TensorLayout::Nchw,
            range: PixelRange::MinusOneToOne,
            side_multiple: 8,
            max_side: 1024,
        }
    }
}

impl StyleModelSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.side_multiple == 0 || self.side_multiple > 256 {
            anyhow::bail!(
                "models.style.side_multiple must be between 1 and 256, got {}",
                self.side_multiple
            );
        }
        if self.max_side < self.side_multiple || self.max_side > 8192 {
            anyhow::bail!(
                "models.style.max_side must be between side_multiple ({}) and 8192, got {}",
                self.side_multiple,
                self.max_side
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorLayout {
    /// `[1, 3, H, W]` (PyTorch exports).
    Nchw,
    /// `[1, H, W, 3]` (TensorFlow exports, AnimeGANv2/v3 ONNX releases).
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelRange {
    /// `x / 127.5 - 1` (tanh generators).
    MinusOneToOne,
    /// `x / 255`.
    ZeroToOne,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_use_no_model() {
        let settings = StyleModelSettings::default();
        settings.validate().expect("defaults are valid");
        assert!(settings.default.is_empty() && settings.cartoon.is_empty());
    }

    #[test]
    fn out_of_range_sides_are_refused_by_name() {
        let zero = StyleModelSettings {
            side_multiple: 0,
            ..Default::default()
        };
        let message = zero.validate().unwrap_err().to_string();
        assert!(message.contains("side_multiple"), "{message}");
        let small = StyleModelSettings {
            side_multiple: 32,
            max_side: 16,
            ..Default::default()
        };
        let message = small.validate().unwrap_err().to_string();
        assert!(message.contains("max_side"), "{message}");
    }

    #[test]
    fn layout_and_range_read_as_snake_case() {
        let settings: StyleModelSettings = toml::from_str(
            "cartoon = \"animegan.onnx\"\nlayout = \"nhwc\"\nrange = \"zero_to_one\"",
        )
        .expect("parses");
        assert_eq!(settings.layout, TensorLayout::Nhwc);
        assert_eq!(settings.range, PixelRange::ZeroToOne);
        assert_eq!(settings.cartoon, "animegan.onnx");
        assert_eq!(settings.side_multiple, 8);
    }
}

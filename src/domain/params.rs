//! Validated parameters of the operations, independent of how they arrived.

use crate::domain::ImageFormat;
use crate::error::{Error, Result};

/// How a result image is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// `None` lets the operation choose (usually the input's format when writable, else PNG).
    pub format: Option<ImageFormat>,
    /// JPEG quality, 1–100.
    pub quality: u8,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            format: None,
            quality: 90,
        }
    }
}

impl OutputSpec {
    pub fn new(format: Option<ImageFormat>, quality: Option<u32>) -> Result<Self> {
        if let Some(format) = format
            && !format.is_writable()
        {
            return Err(Error::invalid(
                "output.format",
                format!(
                    "output format {} cannot be written; use png, jpeg or webp",
                    format.name()
                ),
            ));
        }
        let quality = match quality {
            None | Some(0) => 90,
            Some(q @ 1..=100) => q as u8,
            Some(q) => {
                return Err(Error::invalid(
                    "output.quality",
                    format!("output.quality must be between 1 and 100, got {q}"),
                ));
            }
        };
        Ok(OutputSpec { format, quality })
    }
}

/// Seed 002 `photo_resize`: bring the image within `[min_dim, max_dim]`, keeping its aspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeParams {
    pub min_dim: u32,
    pub max_dim: u32,
    pub output: OutputSpec,
}

impl ResizeParams {
    pub const DEFAULT_MIN_DIM: u32 = 512;
    pub const DEFAULT_MAX_DIM: u32 = 4096;
    /// No side of a resized image may exceed this, whatever the caller asks.
    pub const LIMIT: u32 = 16_384;

    pub fn new(min_dim: Option<i64>, max_dim: Option<i64>, output: OutputSpec) -> Result<Self> {
        let explicit_min = min_dim.is_some();
        let max_dim = Self::dim("max_dim", max_dim, Self::DEFAULT_MAX_DIM)?;
        let mut min_dim = Self::dim("min_dim", min_dim, Self::DEFAULT_MIN_DIM)?;
        // Asking only for `max_dim: 256` means "at most 256": the default lower bound yields.
        if !explicit_min {
            min_dim = min_dim.min(max_dim);
        }
        if min_dim > max_dim {
            return Err(Error::invalid(
                "min_dim",
                format!("min_dim ({min_dim}) must not exceed max_dim ({max_dim})"),
            ));
        }
        Ok(ResizeParams {
            min_dim,
            max_dim,
            output,
        })
    }

    fn dim(field: &str, value: Option<i64>, default: u32) -> Result<u32> {
        match value {
            None => Ok(default),
            Some(v) if (1..=Self::LIMIT as i64).contains(&v) => Ok(v as u32),
            Some(v) => Err(Error::invalid(
                field,
                format!("{field} must be between 1 and {}, got {v}", Self::LIMIT),
            )),
        }
    }

    /// The size the image is brought to: the longest side is capped at `max_dim`; otherwise
    /// the shortest side is raised to `min_dim`, unless that would push the longest side past
    /// `max_dim` (the upper bound wins). An image already within bounds keeps its size.
    pub fn target_size(&self, width: u32, height: u32) -> (u32, u32) {
        let (w, h) = (width as f64, height as f64);
        let long = w.max(h);
        let short = w.min(h);
        let scale = if long > self.max_dim as f64 {
            self.max_dim as f64 / long
        } else if short < self.min_dim as f64 {
            (self.min_dim as f64 / short).min(self.max_dim as f64 / long)
        } else {
            1.0
        };
        if scale == 1.0 {
            return (width, height);
        }
        let scaled = |v: f64| ((v * scale).round() as u32).max(1);
        (scaled(w), scaled(h))
    }
}

/// Seed 002 `convert_to_png`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvertParams {
    /// Split an animated GIF into one PNG per frame; otherwise only the first frame.
    pub keep_animation: bool,
    /// Replace a stored result of the same input instead of reusing it (blob delivery only).
    pub overwrite: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(min: u32, max: u32) -> ResizeParams {
        ResizeParams::new(Some(min as i64), Some(max as i64), OutputSpec::default()).unwrap()
    }

    #[test]
    fn large_image_is_capped_at_max_dim() {
        assert_eq!(params(512, 1024).target_size(4000, 3000), (1024, 768));
    }

    #[test]
    fn small_image_is_raised_to_min_dim() {
        assert_eq!(params(512, 4096).target_size(256, 128), (1024, 512));
    }

    #[test]
    fn upper_bound_wins_when_both_cannot_hold() {
        assert_eq!(params(512, 1000).target_size(2000, 100), (1000, 50));
        assert_eq!(params(512, 1000).target_size(900, 100), (1000, 111));
    }

    #[test]
    fn default_min_dim_yields_to_a_small_max_dim() {
        let p = ResizeParams::new(None, Some(256), OutputSpec::default()).unwrap();
        assert_eq!((p.min_dim, p.max_dim), (256, 256));
        assert_eq!(p.target_size(1000, 500), (256, 128));
    }

    #[test]
    fn image_within_bounds_is_untouched() {
        assert_eq!(params(512, 4096).target_size(800, 600), (800, 600));
    }

    #[test]
    fn rejects_min_above_max_and_out_of_range() {
        let err = ResizeParams::new(Some(900), Some(100), OutputSpec::default()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("min_dim"));
        let err = ResizeParams::new(Some(0), None, OutputSpec::default()).unwrap_err();
        assert!(err.message.contains("min_dim"));
        let err = ResizeParams::new(None, Some(100_000), OutputSpec::default()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("max_dim"));
    }
}

//! Validated parameters of the operations, independent of how they arrived.

pub use super::color::parse_color;
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

/// What remove-background returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoutMode {
    /// The subject with the background transparent.
    #[default]
    Cutout,
    /// The alpha mask alone.
    Mask,
    /// The subject over a solid colour (RGBA).
    Solid([u8; 4]),
}

impl CutoutMode {
    /// From the names REST callers use (`cutout`, `mask`, `solid`; absent means cutout); a
    /// solid background without a colour is white.
    pub fn parse(mode: Option<&str>, background_color: Option<&str>) -> Result<Self> {
        match mode.map(str::trim) {
            None | Some("") | Some("cutout") => Ok(CutoutMode::Cutout),
            Some("mask") => Ok(CutoutMode::Mask),
            Some("solid") => Ok(CutoutMode::Solid(parse_color(
                "background_color",
                background_color
                    .filter(|c| !c.trim().is_empty())
                    .unwrap_or("white"),
            )?)),
            Some(other) => Err(Error::invalid(
                "mode",
                format!(
                    "mode must be cutout, mask or solid; got {:?}",
                    crate::redact::echo(other)
                ),
            )),
        }
    }
}

/// How the mask edge is refined for hair and soft edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EdgeRefinement {
    None,
    /// A guided filter driven by the image: cheap, follows edges.
    #[default]
    GuidedFilter,
    /// Trimap + matting of the unknown band: slower, best on hair.
    AlphaMatting,
}

impl EdgeRefinement {
    /// From the names REST and the CLI use: `none`, `guided` (the default), `matting`.
    pub fn parse(text: Option<&str>) -> Result<Self> {
        match text.map(str::trim) {
            None | Some("") | Some("guided") => Ok(EdgeRefinement::GuidedFilter),
            Some("none") => Ok(EdgeRefinement::None),
            Some("matting") => Ok(EdgeRefinement::AlphaMatting),
            Some(other) => Err(Error::invalid(
                "refine",
                format!(
                    "refine must be none, guided or matting; got {:?}",
                    crate::redact::echo(other)
                ),
            )),
        }
    }
}

/// Seed 002 `/remove_bg`, with the options users of rembg and remove.bg expect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoveBackgroundParams {
    /// Segmentation model; `None` is the configured default.
    pub model: Option<String>,
    pub mode: CutoutMode,
    pub crop_to_subject: bool,
    /// Pixels kept around the subject when cropping.
    pub crop_margin: u32,
    pub refine: EdgeRefinement,
    pub output: OutputSpec,
}

impl RemoveBackgroundParams {
    pub const MAX_CROP_MARGIN: u32 = 1000;

    pub fn validate(&self) -> Result<()> {
        if self.crop_margin > Self::MAX_CROP_MARGIN {
            return Err(Error::invalid(
                "crop_margin",
                format!(
                    "crop_margin must be at most {}, got {}",
                    Self::MAX_CROP_MARGIN,
                    self.crop_margin
                ),
            ));
        }
        if let Some(format) = self.output.format
            && format == ImageFormat::Jpeg
            && self.mode == CutoutMode::Cutout
        {
            return Err(Error::invalid(
                "output.format",
                "a cut-out needs transparency: use png or webp, or ask for a solid background",
            ));
        }
        Ok(())
    }
}

/// Where the subject goes on the new background; `None` keeps the provider's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Placement {
    /// Subject height / canvas height, in (0, 1].
    pub scale: Option<f32>,
    /// Horizontal centre of the subject, 0 (left) to 1 (right).
    pub x: Option<f32>,
    /// Bottom of the subject, 0 (top) to 1 (bottom).
    pub y: Option<f32>,
}

/// Seed 002 `/change_bg`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangeBackgroundParams {
    pub ref_prompt: String,
    pub n: u32,
    pub placement: Placement,
    pub shadow: bool,
    pub output: OutputSpec,
}

impl ChangeBackgroundParams {
    pub const MAX_N: u32 = 4;

    /// `n` defaults to 1 (seed 002); 0 from proto3 means unset.
    pub fn new(
        ref_prompt: String,
        n: Option<i64>,
        placement: Placement,
        shadow: bool,
        output: OutputSpec,
    ) -> Result<Self> {
        let n = match n {
            None | Some(0) => 1,
            Some(n @ 1..=4) => n as u32,
            Some(n) => {
                return Err(Error::invalid(
                    "n",
                    format!("n must be between 1 and {}, got {n}", Self::MAX_N),
                ));
            }
        };
        for (field, value, low_open) in [
            ("placement.scale", placement.scale, true),
            ("placement.x", placement.x, false),
            ("placement.y", placement.y, false),
        ] {
            if let Some(v) = value {
                let ok = v.is_finite() && v <= 1.0 && if low_open { v > 0.0 } else { v >= 0.0 };
                if !ok {
                    let range = if low_open { "(0, 1]" } else { "[0, 1]" };
                    return Err(Error::invalid(
                        field,
                        format!("{field} must be in {range}, got {v}"),
                    ));
                }
            }
        }
        Ok(ChangeBackgroundParams {
            ref_prompt,
            n,
            placement,
            shadow,
            output,
        })
    }
}

/// Seed 000 style presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StylePreset {
    #[default]
    Default,
    Cartoon,
    Watercolor,
}

impl StylePreset {
    pub const ALL: [StylePreset; 3] = [
        StylePreset::Default,
        StylePreset::Cartoon,
        StylePreset::Watercolor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StylePreset::Default => "default",
            StylePreset::Cartoon => "cartoon",
            StylePreset::Watercolor => "watercolor",
        }
    }

    /// Seed 000: absent means `default`; anything else unknown is refused.
    pub fn parse(text: Option<&str>) -> Result<Self> {
        match text.map(str::trim) {
            None | Some("") => Ok(StylePreset::Default),
            Some(name) => Self::ALL
                .into_iter()
                .find(|preset| preset.name() == name)
                .ok_or_else(|| {
                    Error::invalid(
                        "style_preset",
                        format!(
                            "style_preset must be one of default, cartoon, watercolor; got {:?}",
                            crate::redact::echo(name)
                        ),
                    )
                }),
        }
    }
}

/// Seed 000 `/create-character`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreateCharacterParams {
    pub preset: StylePreset,
    pub output: OutputSpec,
}

impl CreateCharacterParams {
    /// Seed 000: photos up to 5 MB.
    pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
    /// Seed 000: the photo is fitted inside 1024×1024 before segmentation.
    pub const WORKING_SIZE: u32 = 1024;
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
    fn change_background_validates_n_and_placement() {
        let ok = ChangeBackgroundParams::new(
            String::new(),
            None,
            Placement::default(),
            false,
            OutputSpec::default(),
        )
        .unwrap();
        assert_eq!(ok.n, 1);
        let err = ChangeBackgroundParams::new(
            String::new(),
            Some(9),
            Placement::default(),
            false,
            OutputSpec::default(),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("n"));
        let placement = Placement {
            scale: Some(0.0),
            ..Placement::default()
        };
        let err = ChangeBackgroundParams::new(
            String::new(),
            None,
            placement,
            false,
            OutputSpec::default(),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("placement.scale"));
    }

    #[test]
    fn style_preset_defaults_and_rejects_unknown() {
        assert_eq!(StylePreset::parse(None).unwrap(), StylePreset::Default);
        assert_eq!(
            StylePreset::parse(Some("cartoon")).unwrap(),
            StylePreset::Cartoon
        );
        let err = StylePreset::parse(Some("anime")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("style_preset"));
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

/// Seed 002 `/change_cloth`: dress the person in the given garments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeClothesParams {
    /// Provider model (`aitryon-plus`, `aitryon`); `None` is the provider's configured default.
    pub model: Option<String>,
    pub output: OutputSpec,
}

/// Seed 002 `/expand`: grow each side by its scale (1.0 keeps it, 1.5 adds half the image's
/// size on that side) and fill the new canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandParams {
    pub top_scale: f32,
    pub bottom_scale: f32,
    pub left_scale: f32,
    pub right_scale: f32,
    pub prompt: String,
    pub output: OutputSpec,
}

impl ExpandParams {
    pub const DEFAULT_SCALE: f32 = 1.5;
    pub const DEFAULT_PROMPT: &'static str = "按照原来图片背景来操作扩展";
    /// No provider grows a side more than this; each one may accept less.
    pub const MAX_SCALE: f32 = 4.0;

    /// Seed defaults for what is missing; every scale must lie in 1.0..=[`Self::MAX_SCALE`].
    pub fn new(
        scales: [Option<f32>; 4],
        prompt: Option<String>,
        output: OutputSpec,
    ) -> Result<Self> {
        let names = ["top_scale", "bottom_scale", "left_scale", "right_scale"];
        let mut values = [Self::DEFAULT_SCALE; 4];
        for ((value, given), name) in values.iter_mut().zip(scales).zip(names) {
            let Some(scale) = given else { continue };
            if !scale.is_finite() || !(1.0..=Self::MAX_SCALE).contains(&scale) {
                return Err(Error::invalid(
                    name,
                    format!(
                        "{name} must be between 1.0 (keep that side) and {} (grow it by {}x \
                         the image), got {scale}",
                        Self::MAX_SCALE,
                        Self::MAX_SCALE - 1.0
                    ),
                ));
            }
            *value = scale;
        }
        let [top_scale, bottom_scale, left_scale, right_scale] = values;
        Ok(ExpandParams {
            top_scale,
            bottom_scale,
            left_scale,
            right_scale,
            prompt: non_empty(prompt).unwrap_or_else(|| Self::DEFAULT_PROMPT.to_owned()),
            output,
        })
    }

    /// The size of the canvas a `width` × `height` image grows to: each side adds
    /// `scale - 1` times the image, so a width grows by `left + right - 1`.
    pub fn output_size(&self, width: u32, height: u32) -> (u64, u64) {
        let grown = |side: u32, a: f32, b: f32| {
            (f64::from(side) * (f64::from(a) + f64::from(b) - 1.0)).ceil() as u64
        };
        (
            grown(width, self.left_scale, self.right_scale),
            grown(height, self.top_scale, self.bottom_scale),
        )
    }

    /// The request field of the largest scale, named when the grown canvas is refused.
    pub fn largest_scale_field(&self) -> &'static str {
        self.scales()
            .into_iter()
            .fold(("top_scale", f32::MIN), |best, (name, scale)| {
                if scale > best.1 { (name, scale) } else { best }
            })
            .0
    }

    /// The four scales with their request field names, in `top, bottom, left, right` order.
    pub fn scales(&self) -> [(&'static str, f32); 4] {
        [
            ("top_scale", self.top_scale),
            ("bottom_scale", self.bottom_scale),
            ("left_scale", self.left_scale),
            ("right_scale", self.right_scale),
        ]
    }
}

/// Seed 002 `/fix`: restore and upscale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixParams {
    pub prompt: String,
    /// 1 restores without enlarging; 2–4 also enlarge.
    pub upscale_factor: u32,
    pub output: OutputSpec,
}

impl FixParams {
    pub const DEFAULT_PROMPT: &'static str = "图像超分。";
    pub const DEFAULT_UPSCALE: u32 = 2;

    /// `upscale_factor` 0 or missing is the default, 2.
    pub fn new(
        prompt: Option<String>,
        upscale_factor: Option<i64>,
        output: OutputSpec,
    ) -> Result<Self> {
        let upscale_factor = match upscale_factor {
            None | Some(0) => Self::DEFAULT_UPSCALE,
            Some(f @ 1..=4) => f as u32,
            Some(f) => {
                return Err(Error::invalid(
                    "upscale_factor",
                    format!("upscale_factor must be between 1 and 4, got {f}"),
                ));
            }
        };
        Ok(FixParams {
            prompt: non_empty(prompt).unwrap_or_else(|| Self::DEFAULT_PROMPT.to_owned()),
            upscale_factor,
            output,
        })
    }
}

/// Seed 002 `/remove_watermark`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveWatermarkParams {
    pub prompt: String,
    pub output: OutputSpec,
    /// The caller's mask of what to remove (an encoded image the size of the input: light
    /// pixels are removed); detection is skipped when it is given.
    pub mask: Option<bytes::Bytes>,
}

impl RemoveWatermarkParams {
    pub const DEFAULT_PROMPT: &'static str = "去除图像中的文字";

    pub fn new(prompt: Option<String>, output: OutputSpec) -> Self {
        RemoveWatermarkParams {
            prompt: non_empty(prompt).unwrap_or_else(|| Self::DEFAULT_PROMPT.to_owned()),
            output,
            mask: None,
        }
    }
}

/// Text-to-image, the generation step of cover generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextToImageParams {
    pub prompt: String,
    pub negative_prompt: String,
    pub width: u32,
    pub height: u32,
    pub n: u32,
    pub seed: Option<u32>,
}

impl TextToImageParams {
    pub const MAX_PROMPT_CHARS: usize = 800;

    pub fn validate(&self) -> Result<()> {
        let chars = self.prompt.chars().count();
        if chars == 0 {
            return Err(Error::invalid("prompt", "prompt must not be empty"));
        }
        if chars > Self::MAX_PROMPT_CHARS {
            return Err(Error::invalid(
                "prompt",
                format!(
                    "prompt has {chars} characters; at most {} are accepted",
                    Self::MAX_PROMPT_CHARS
                ),
            ));
        }
        if !(1..=4).contains(&self.n) {
            return Err(Error::invalid(
                "n",
                format!("n must be between 1 and 4, got {}", self.n),
            ));
        }
        for (name, side) in [("width", self.width), ("height", self.height)] {
            if !(256..=2048).contains(&side) {
                return Err(Error::invalid(
                    name,
                    format!("{name} must be between 256 and 2048 pixels, got {side}"),
                ));
            }
        }
        Ok(())
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

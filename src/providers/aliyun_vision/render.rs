//! The pixel work around a viapi call: fitting inputs within its limits, and turning its
//! result into what the caller asked for when `ReturnForm` cannot say it.
//!
//! Both run on a blocking thread (they decode and encode images).

use image::{DynamicImage, GrayImage, Luma, RgbaImage};

use crate::config::aliyun_vision::SegmentAction;
use crate::domain::params::{CutoutMode, OutputSpec, RemoveBackgroundParams};
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, Result};
use crate::imaging::matte::{SUBJECT_THRESHOLD, expand_bbox, over, subject_bbox};
use crate::imaging::resize::resize_to;
use crate::media;
use crate::providers::aliyun_vision::error::PROVIDER;

/// viapi wants images larger than 32×32.
pub const MIN_SIDE: u32 = 33;

const WHITE: [u8; 4] = [255, 255, 255, 255];

/// How the caller's options are met: what viapi is asked for, and what is left to do here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// `ReturnForm` of the call (`mask`, `crop`, `whiteBK`), if one fits.
    pub return_form: Option<&'static str>,
    /// What the result is turned into locally.
    pub mask: MaskSource,
    /// Crop locally to the subject plus this margin.
    pub crop_margin: Option<u32>,
    /// Composite locally over this colour.
    pub background: Option<[u8; 4]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskSource {
    /// The result is a cut-out.
    None,
    /// viapi returned the mask (`ReturnForm=mask`).
    Returned,
    /// The mask is the alpha of the cut-out (the HD action has no mask form).
    FromAlpha,
}

impl Plan {
    /// Sync actions take `ReturnForm`; the HD action returns a cut-out and the rest is local.
    /// A crop with a margin, and any solid colour but opaque white, are done here too.
    pub fn new(action: SegmentAction, params: &RemoveBackgroundParams) -> Plan {
        let forms = !action.is_async();
        let crop = params.crop_to_subject;
        let remote_crop = forms && crop && params.crop_margin == 0;
        let local_crop = (crop && !remote_crop).then_some(params.crop_margin);
        match params.mode {
            CutoutMode::Mask => Plan {
                return_form: forms.then_some("mask"),
                mask: if forms {
                    MaskSource::Returned
                } else {
                    MaskSource::FromAlpha
                },
                // A crop of a mask is done here: viapi's forms do not combine.
                crop_margin: crop.then_some(params.crop_margin),
                background: None,
            },
            CutoutMode::Solid(WHITE) if forms && !crop => Plan {
                return_form: Some("whiteBK"),
                mask: MaskSource::None,
                crop_margin: None,
                background: None,
            },
            CutoutMode::Solid(color) => Plan {
                return_form: remote_crop.then_some("crop"),
                mask: MaskSource::None,
                crop_margin: local_crop,
                background: Some(color),
            },
            CutoutMode::Cutout => Plan {
                return_form: remote_crop.then_some("crop"),
                mask: MaskSource::None,
                crop_margin: local_crop,
                background: None,
            },
        }
    }

    fn is_passthrough(&self) -> bool {
        self.mask == MaskSource::None && self.crop_margin.is_none() && self.background.is_none()
    }
}

/// Limits of the sync actions' inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    pub max_bytes: u64,
    pub max_side: u32,
    /// Downscale an input over the limits instead of refusing it.
    pub downscale: bool,
}

/// `image` as viapi accepts it: JPEG, BMP, WebP or 8-bit RGB(A) PNG, within `limits` (when
/// there are some). Inputs already acceptable are passed on untouched.
pub fn prepare_input(
    image: SourceImage,
    action: SegmentAction,
    limits: Option<InputLimits>,
    image_limits: &ImageLimits,
) -> Result<SourceImage> {
    if image.width < MIN_SIDE || image.height < MIN_SIDE {
        return Err(Error::invalid(
            "image",
            format!(
                "the image is {}x{}; {PROVIDER} needs more than 32 px on each side",
                image.width, image.height
            ),
        ));
    }
    let long_side = image.width.max(image.height);
    let too_long = limits.is_some_and(|l| long_side > l.max_side);
    let too_heavy = limits.is_some_and(|l| image.bytes.len() as u64 > l.max_bytes);
    if accepted_as_is(&image) && !too_long && !too_heavy {
        return Ok(image);
    }
    if let Some(l) = limits
        && (too_long || too_heavy)
        && !l.downscale
    {
        return Err(Error::invalid(
            "image",
            format!(
                "the image is {}x{} and {} bytes; {PROVIDER} {action} takes at most {} px on \
                 the long side and {} bytes (providers.aliyun_vision.oversize = \"refuse\")",
                image.width,
                image.height,
                image.bytes.len(),
                l.max_side,
                l.max_bytes
            ),
        ));
    }
    let (_, decoded) = media::decode(&image.bytes, image_limits)?;
    let has_alpha = decoded.color().has_alpha();
    let decoded = if has_alpha {
        DynamicImage::ImageRgba8(decoded.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(decoded.to_rgb8())
    };
    // JPEG for photos that are JPEG already or must shrink; PNG keeps transparency.
    let use_jpeg = !has_alpha && (image.format == ImageFormat::Jpeg || too_heavy);
    let mut scale = match limits {
        Some(l) if too_long => f64::from(l.max_side) / f64::from(long_side),
        Some(_) | None => 1.0,
    };
    let mut quality = 90u8;
    for _ in 0..12 {
        let width = ((f64::from(image.width) * scale).floor() as u32).max(MIN_SIDE);
        let height = ((f64::from(image.height) * scale).floor() as u32).max(MIN_SIDE);
        let resized = resize_to(&decoded, width, height)?;
        let format = if use_jpeg {
            ImageFormat::Jpeg
        } else {
            ImageFormat::Png
        };
        let bytes = media::encode(&resized, format, quality)?;
        if limits.is_none_or(|l| bytes.len() as u64 <= l.max_bytes) {
            tracing::info!(
                from = %format!("{}x{} {}", image.width, image.height, image.format.name()),
                to = %format!("{width}x{height} {}", format.name()),
                bytes = bytes.len(),
                "fitted the input within aliyun-vision's limits"
            );
            return Ok(SourceImage {
                bytes,
                format,
                width,
                height,
            });
        }
        if use_jpeg && quality > 60 {
            quality -= 10;
        } else {
            scale *= 0.8;
        }
    }
    Err(Error::invalid(
        "image",
        format!("the image cannot be brought within {PROVIDER}'s size limit"),
    ))
}

/// Formats viapi reads without conversion (it refuses 16-bit and palette PNGs).
fn accepted_as_is(image: &SourceImage) -> bool {
    match image.format {
        ImageFormat::Jpeg | ImageFormat::Bmp | ImageFormat::Webp => true,
        ImageFormat::Png => {
            let b = &image.bytes;
            // IHDR: bit depth at byte 24, colour type at 25 (2 = RGB, 6 = RGBA).
            b.len() > 25 && &b[12..16] == b"IHDR" && b[24] == 8 && matches!(b[25], 2 | 6)
        }
        ImageFormat::Gif | ImageFormat::Tiff | ImageFormat::Svg => false,
    }
}

/// The caller's output from viapi's `result`: the plan's local steps, then the requested
/// format (PNG unless the caller chose another).
pub fn finish(
    result: EncodedImage,
    plan: &Plan,
    output: OutputSpec,
    limits: &ImageLimits,
) -> Result<EncodedImage> {
    let format = output.format.unwrap_or(ImageFormat::Png);
    if plan.is_passthrough() && result.format == format {
        return Ok(result);
    }
    let (_, decoded) = media::decode(&result.bytes, limits)?;
    let mut image = match plan.mask {
        MaskSource::None => decoded,
        MaskSource::Returned => DynamicImage::ImageLuma8(decoded.to_luma8()),
        MaskSource::FromAlpha => DynamicImage::ImageLuma8(alpha_of(&decoded.to_rgba8())),
    };
    if let Some(margin) = plan.crop_margin {
        let alpha = if let DynamicImage::ImageLuma8(mask) = &image {
            mask.clone()
        } else {
            alpha_of(&image.to_rgba8())
        };
        let bbox = subject_bbox(&alpha, SUBJECT_THRESHOLD).ok_or_else(|| {
            Error::invalid(
                "image",
                format!("no subject found in the image: {PROVIDER} returned an empty cut-out"),
            )
        })?;
        let (x, y, w, h) = expand_bbox(bbox, margin, image.width(), image.height());
        image = image.crop_imm(x, y, w, h);
    }
    if let Some(color) = plan.background {
        let cutout = image.to_rgba8();
        image = over(&image.to_rgb8(), &alpha_of(&cutout), color);
    }
    let bytes = media::encode(&image, format, output.quality)?;
    Ok(EncodedImage {
        bytes,
        format,
        width: image.width(),
        height: image.height(),
    })
}

fn alpha_of(image: &RgbaImage) -> GrayImage {
    GrayImage::from_fn(image.width(), image.height(), |x, y| {
        Luma([image.get_pixel(x, y)[3]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba};

    fn params(mode: CutoutMode, crop: bool, margin: u32) -> RemoveBackgroundParams {
        RemoveBackgroundParams {
            mode,
            crop_to_subject: crop,
            crop_margin: margin,
            ..RemoveBackgroundParams::default()
        }
    }

    const SYNC: SegmentAction = SegmentAction::SegmentCommonImage;
    const HD: SegmentAction = SegmentAction::SegmentHdCommonImage;

    #[test]
    fn plan_uses_return_form_where_it_says_exactly_what_was_asked() {
        let plan = Plan::new(SYNC, &params(CutoutMode::Cutout, false, 0));
        assert_eq!((plan.return_form, plan.is_passthrough()), (None, true));
        let plan = Plan::new(SYNC, &params(CutoutMode::Mask, false, 0));
        assert_eq!(plan.return_form, Some("mask"));
        assert_eq!(plan.mask, MaskSource::Returned);
        let plan = Plan::new(SYNC, &params(CutoutMode::Cutout, true, 0));
        assert_eq!((plan.return_form, plan.crop_margin), (Some("crop"), None));
        let plan = Plan::new(SYNC, &params(CutoutMode::Solid(WHITE), false, 0));
        assert_eq!((plan.return_form, plan.background), (Some("whiteBK"), None));
    }

    #[test]
    fn plan_leaves_margins_colours_and_the_hd_action_to_local_work() {
        let plan = Plan::new(SYNC, &params(CutoutMode::Cutout, true, 12));
        assert_eq!((plan.return_form, plan.crop_margin), (None, Some(12)));
        let blue = [0, 0, 255, 255];
        let plan = Plan::new(SYNC, &params(CutoutMode::Solid(blue), true, 0));
        assert_eq!(
            (plan.return_form, plan.background),
            (Some("crop"), Some(blue))
        );
        let plan = Plan::new(SYNC, &params(CutoutMode::Solid(WHITE), true, 4));
        assert_eq!(plan.return_form, None);
        assert_eq!((plan.crop_margin, plan.background), (Some(4), Some(WHITE)));
        let plan = Plan::new(HD, &params(CutoutMode::Mask, true, 0));
        assert_eq!(plan.return_form, None);
        assert_eq!(
            (plan.mask, plan.crop_margin),
            (MaskSource::FromAlpha, Some(0))
        );
        let plan = Plan::new(HD, &params(CutoutMode::Solid(WHITE), false, 0));
        assert_eq!((plan.return_form, plan.background), (None, Some(WHITE)));
    }

    /// A 60×40 cut-out: an opaque red 20×10 block at (20, 15) on transparency.
    fn cutout_png() -> EncodedImage {
        let image = RgbaImage::from_fn(60, 40, |x, y| {
            if (20..40).contains(&x) && (15..25).contains(&y) {
                Rgba([200, 10, 10, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        });
        let bytes = media::encode(&DynamicImage::ImageRgba8(image), ImageFormat::Png, 90).unwrap();
        EncodedImage {
            bytes,
            format: ImageFormat::Png,
            width: 60,
            height: 40,
        }
    }

    fn decode(image: &EncodedImage) -> DynamicImage {
        media::decode(&image.bytes, &ImageLimits::default())
            .unwrap()
            .1
    }

    #[test]
    fn finish_passes_a_png_cutout_through_untouched() {
        let result = cutout_png();
        let plan = Plan::new(SYNC, &params(CutoutMode::Cutout, false, 0));
        let out = finish(
            result.clone(),
            &plan,
            OutputSpec::default(),
            &ImageLimits::default(),
        )
        .unwrap();
        assert_eq!(out.bytes, result.bytes);
    }

    #[test]
    fn finish_crops_with_a_margin_and_composites_over_a_colour() {
        let plan = Plan::new(SYNC, &params(CutoutMode::Solid([0, 0, 255, 255]), true, 5));
        let out = finish(
            cutout_png(),
            &plan,
            OutputSpec::default(),
            &ImageLimits::default(),
        )
        .unwrap();
        assert_eq!((out.width, out.height), (30, 20));
        let rgb = decode(&out).to_rgb8();
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(rgb.get_pixel(15, 10).0, [200, 10, 10]);
    }

    #[test]
    fn finish_takes_the_mask_from_the_alpha_of_an_hd_cutout_and_reencodes() {
        let plan = Plan::new(HD, &params(CutoutMode::Mask, false, 0));
        let output = OutputSpec {
            format: Some(ImageFormat::Webp),
            quality: 90,
        };
        let out = finish(cutout_png(), &plan, output, &ImageLimits::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Webp);
        let mask = decode(&out).to_luma8();
        assert_eq!(mask.get_pixel(0, 0)[0], 0);
        assert_eq!(mask.get_pixel(25, 20)[0], 255);
    }

    #[test]
    fn finish_refuses_an_empty_cutout_when_cropping() {
        let empty = RgbaImage::new(40, 40);
        let bytes = media::encode(&DynamicImage::ImageRgba8(empty), ImageFormat::Png, 90).unwrap();
        let result = EncodedImage {
            bytes,
            format: ImageFormat::Png,
            width: 40,
            height: 40,
        };
        let plan = Plan::new(SYNC, &params(CutoutMode::Cutout, true, 3));
        let err = finish(
            result,
            &plan,
            OutputSpec::default(),
            &ImageLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("image"));
    }

    fn source(image: DynamicImage, format: ImageFormat) -> SourceImage {
        let bytes = media::encode(&image, format, 90).unwrap();
        SourceImage {
            bytes,
            format,
            width: image.width(),
            height: image.height(),
        }
    }

    const LIMITS: InputLimits = InputLimits {
        max_bytes: 3 * 1024 * 1024,
        max_side: 1999,
        downscale: true,
    };

    #[test]
    fn inputs_within_the_limits_are_sent_untouched() {
        let photo = source(
            DynamicImage::ImageRgb8(RgbImage::new(300, 200)),
            ImageFormat::Jpeg,
        );
        let out =
            prepare_input(photo.clone(), SYNC, Some(LIMITS), &ImageLimits::default()).unwrap();
        assert_eq!(out.bytes, photo.bytes);
    }

    #[test]
    fn oversized_inputs_are_downscaled_or_refused() {
        let big = source(
            DynamicImage::ImageRgba8(RgbaImage::new(2400, 1200)),
            ImageFormat::Png,
        );
        let out = prepare_input(big.clone(), SYNC, Some(LIMITS), &ImageLimits::default()).unwrap();
        assert_eq!((out.width, out.height), (1999, 999));
        assert_eq!(out.format, ImageFormat::Png);
        let refuse = InputLimits {
            downscale: false,
            ..LIMITS
        };
        let err =
            prepare_input(big.clone(), SYNC, Some(refuse), &ImageLimits::default()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("image"));
        assert!(err.message.contains("1999"), "{}", err.message);
        // The HD action has no such limits.
        let out = prepare_input(big.clone(), HD, None, &ImageLimits::default()).unwrap();
        assert_eq!(out.bytes, big.bytes);
    }

    #[test]
    fn heavy_photos_become_jpegs_under_the_byte_limit() {
        // Noise compresses badly, so a 1200×1200 RGB PNG is several MB.
        let mut seed = 12345u32;
        let noise = RgbImage::from_fn(1200, 1200, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = seed.to_le_bytes();
            Rgb([v[1], v[2], v[3]])
        });
        let heavy = source(DynamicImage::ImageRgb8(noise), ImageFormat::Png);
        assert!(heavy.bytes.len() as u64 > LIMITS.max_bytes);
        let out = prepare_input(heavy, SYNC, Some(LIMITS), &ImageLimits::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Jpeg);
        assert!(out.bytes.len() as u64 <= LIMITS.max_bytes);
    }

    #[test]
    fn unsupported_formats_are_converted_and_tiny_images_refused() {
        // Sniffed as GIF upstream; the bytes only need to decode.
        let gif = SourceImage {
            format: ImageFormat::Gif,
            ..source(
                DynamicImage::ImageRgba8(RgbaImage::new(64, 64)),
                ImageFormat::Png,
            )
        };
        let out = prepare_input(gif, SYNC, Some(LIMITS), &ImageLimits::default()).unwrap();
        assert_eq!(out.format, ImageFormat::Png);
        let tiny = source(
            DynamicImage::ImageRgb8(RgbImage::new(32, 100)),
            ImageFormat::Png,
        );
        let err = prepare_input(tiny, SYNC, Some(LIMITS), &ImageLimits::default()).unwrap_err();
        assert!(err.message.contains("32x100"), "{}", err.message);
    }

    #[test]
    fn sixteen_bit_pngs_are_narrowed() {
        let wide = DynamicImage::ImageRgb16(image::ImageBuffer::new(64, 64));
        let png = source(wide, ImageFormat::Png);
        assert!(!accepted_as_is(&png));
        let out = prepare_input(png, SYNC, Some(LIMITS), &ImageLimits::default()).unwrap();
        assert!(accepted_as_is(&out));
    }
}

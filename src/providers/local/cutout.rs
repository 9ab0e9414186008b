//! Turning an image and its alpha into the remove-background outputs.
//!
//! [`render`] refines the segmentation mask's edge, crops to the subject when asked, and
//! produces what the caller chose: a cut-out with transparency, the mask alone, or the subject
//! over a solid colour. Cut-outs and solid backgrounds use the de-contaminated foreground
//! colour on soft edges, so hair does not carry a fringe of the old background.

use std::borrow::Cow;

use image::{DynamicImage, GrayImage, ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};

use crate::error::{Error, ErrorCode, Result};
use crate::providers::local::refine;

/// Alpha above which a pixel belongs to the subject, for cropping and for deciding that the
/// image has a subject at all (about 6 %: fainter pixels are invisible on any background).
pub const SUBJECT_THRESHOLD: u8 = 16;

/// How the segmentation mask's edge is refined before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refinement {
    /// The model's mask as it is.
    None,
    /// A guided filter driven by the image, confined to the band where the mask is unsure
    /// ([`refine::refine_edges`]): a few milliseconds, follows hair and fur.
    #[default]
    GuidedFilter,
    /// Closed-form alpha matting of the unknown band of a trimap (rembg's defaults 240/10/10):
    /// slower, the finest result on hair.
    AlphaMatting,
}

/// What [`render`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoutKind {
    /// RGBA: the subject with the background transparent.
    #[default]
    Cutout,
    /// Luma: the refined alpha alone.
    Mask,
    /// The subject over this RGBA colour: RGB when the colour is opaque, RGBA otherwise.
    Solid([u8; 4]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CutoutOptions {
    pub kind: CutoutKind,
    /// Crop the output to the subject's bounding box plus `crop_margin` pixels on each side
    /// (clamped to the image).
    pub crop_to_subject: bool,
    pub crop_margin: u32,
    pub refinement: Refinement,
}

/// Parses a background colour: `#RRGGBB`, `#RRGGBBAA`, the same without `#`, the CSS short
/// forms `#RGB` and `#RGBA`, or a CSS basic colour name (`white`, `black`, `transparent`, ...).
pub fn parse_color(text: &str) -> Result<[u8; 4]> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    if let Some(color) = named_color(&lower) {
        return Ok(color);
    }
    let (hex, has_hash) = match lower.strip_prefix('#') {
        Some(hex) => (hex, true),
        None => (lower.as_str(), false),
    };
    let parsed = if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        match (hex.len(), has_hash) {
            (6 | 8, _) => hex_channels(hex, 2),
            // Short forms only with `#`: "bad" or "fed" alone read as words, not colours.
            (3 | 4, true) => hex_channels(hex, 1),
            _ => None,
        }
    } else {
        None
    };
    parsed.ok_or_else(|| {
        Error::invalid(
            "background_color",
            format!(
                "background_color must be #RRGGBB, #RRGGBBAA or a colour name such as white, \
                 black or transparent; got {trimmed:?}"
            ),
        )
    })
}

/// Channels of `hex` written with `digits` hex digits each (1 digit `f` means `ff`); alpha is
/// opaque when only three channels are given.
fn hex_channels(hex: &str, digits: usize) -> Option<[u8; 4]> {
    let mut color = [255u8; 4];
    for (channel, chunk) in color.iter_mut().zip(hex.as_bytes().chunks(digits)) {
        let value = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
        *channel = if digits == 1 { value * 17 } else { value };
    }
    Some(color)
}

/// CSS basic colours (plus `transparent`, `orange` and the `grey` spellings).
fn named_color(name: &str) -> Option<[u8; 4]> {
    let rgb = match name {
        "transparent" => return Some([0, 0, 0, 0]),
        "white" => [255, 255, 255],
        "black" => [0, 0, 0],
        "red" => [255, 0, 0],
        "green" => [0, 128, 0],
        "lime" => [0, 255, 0],
        "blue" => [0, 0, 255],
        "yellow" => [255, 255, 0],
        "cyan" | "aqua" => [0, 255, 255],
        "magenta" | "fuchsia" => [255, 0, 255],
        "gray" | "grey" => [128, 128, 128],
        "silver" => [192, 192, 192],
        "maroon" => [128, 0, 0],
        "olive" => [128, 128, 0],
        "navy" => [0, 0, 128],
        "purple" => [128, 0, 128],
        "teal" => [0, 128, 128],
        "orange" => [255, 165, 0],
        _ => return None,
    };
    Some([rgb[0], rgb[1], rgb[2], 255])
}

/// The bounding box `(x, y, width, height)` of the pixels whose alpha is above `threshold`, or
/// `None` when there are none.
pub fn subject_bbox(alpha: &GrayImage, threshold: u8) -> Option<(u32, u32, u32, u32)> {
    let width = alpha.width() as usize;
    if width == 0 {
        return None;
    }
    let mut bounds: Option<(usize, usize, usize, usize)> = None;
    for (y, row) in alpha.as_raw().chunks_exact(width).enumerate() {
        let Some(first) = row.iter().position(|&a| a > threshold) else {
            continue;
        };
        let last = row.iter().rposition(|&a| a > threshold).unwrap_or(first);
        bounds = Some(match bounds {
            None => (first, y, last, y),
            Some((left, top, right, _)) => (left.min(first), top, right.max(last), y),
        });
    }
    bounds.map(|(left, top, right, bottom)| {
        (
            left as u32,
            top as u32,
            (right - left + 1) as u32,
            (bottom - top + 1) as u32,
        )
    })
}

/// Grows `bbox` by `margin` on every side, clamped to a `width`×`height` image.
pub fn expand_bbox(
    (x, y, w, h): (u32, u32, u32, u32),
    margin: u32,
    width: u32,
    height: u32,
) -> (u32, u32, u32, u32) {
    let left = x.saturating_sub(margin);
    let top = y.saturating_sub(margin);
    let right = x.saturating_add(w).saturating_add(margin).min(width);
    let bottom = y.saturating_add(h).saturating_add(margin).min(height);
    (left, top, right - left, bottom - top)
}

fn no_subject() -> Error {
    Error::new(
        ErrorCode::InvalidArgument,
        "no subject found in the image: the segmentation mask is empty",
    )
}

/// Renders the remove-background output of `image` given the segmentation `mask` (same size,
/// 0-255 with soft edges).
///
/// An empty mask (nothing above [`SUBJECT_THRESHOLD`]) is an `InvalidArgument` error, whatever
/// the kind: there is nothing to cut out.
pub fn render(image: &RgbImage, mask: &GrayImage, options: &CutoutOptions) -> Result<DynamicImage> {
    if image.dimensions() != mask.dimensions() {
        return Err(Error::internal(format!(
            "mask is {:?} but the image is {:?}",
            mask.dimensions(),
            image.dimensions()
        )));
    }
    if subject_bbox(mask, SUBJECT_THRESHOLD).is_none() {
        return Err(no_subject());
    }
    let alpha = match options.refinement {
        Refinement::None => mask.clone(),
        Refinement::GuidedFilter => refine::refine_edges(image, mask),
        Refinement::AlphaMatting => {
            refine::alpha_matting(image, mask, &refine::MattingOptions::default())
        }
    };
    let (image, alpha) = if options.crop_to_subject {
        let bbox = subject_bbox(&alpha, SUBJECT_THRESHOLD).ok_or_else(no_subject)?;
        let (x, y, w, h) = expand_bbox(bbox, options.crop_margin, image.width(), image.height());
        (
            Cow::Owned(crop(image, x, y, w, h)),
            crop(&alpha, x, y, w, h),
        )
    } else {
        (Cow::Borrowed(image), alpha)
    };
    Ok(match options.kind {
        CutoutKind::Mask => DynamicImage::ImageLuma8(alpha),
        CutoutKind::Cutout => DynamicImage::ImageRgba8(cutout(&image, &alpha)),
        CutoutKind::Solid(color) => solid(&image, &alpha, color),
    })
}

fn crop<P: image::Pixel + 'static>(
    image: &ImageBuffer<P, Vec<P::Subpixel>>,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    image::imageops::crop_imm(image, x, y, width, height).to_image()
}

/// Straight-alpha RGBA: the de-contaminated foreground where alpha is partial, the original
/// where it is opaque, transparent black where it is 0.
fn cutout(image: &RgbImage, alpha: &GrayImage) -> RgbaImage {
    let foreground = refine::estimate_foreground(image, alpha);
    RgbaImage::from_fn(image.width(), image.height(), |x, y| {
        let a = alpha.get_pixel(x, y)[0];
        if a == 0 {
            return Rgba([0, 0, 0, 0]);
        }
        let Rgb([r, g, b]) = *foreground.get_pixel(x, y);
        Rgba([r, g, b, a])
    })
}

/// The subject over `color`, its edge colours de-contaminated first.
fn solid(image: &RgbImage, alpha: &GrayImage, color: [u8; 4]) -> DynamicImage {
    over(&refine::estimate_foreground(image, alpha), alpha, color)
}

/// `foreground` with straight `alpha` over `color` ("over" operator): RGB for an opaque
/// colour, RGBA otherwise.
pub fn over(foreground: &RgbImage, alpha: &GrayImage, color: [u8; 4]) -> DynamicImage {
    let [cr, cg, cb, ca] = color.map(f32::from);
    let background_alpha = ca / 255.0;
    let mixed = |x: u32, y: u32| {
        let a = f32::from(alpha.get_pixel(x, y)[0]) / 255.0;
        let fg = foreground.get_pixel(x, y).0.map(f32::from);
        let out_alpha = a + background_alpha * (1.0 - a);
        let behind = background_alpha * (1.0 - a);
        let mix = |f: f32, c: f32| {
            if out_alpha <= 0.0 {
                0
            } else {
                ((f * a + c * behind) / out_alpha).round().clamp(0.0, 255.0) as u8
            }
        };
        (
            [mix(fg[0], cr), mix(fg[1], cg), mix(fg[2], cb)],
            (out_alpha * 255.0).round() as u8,
        )
    };
    if color[3] == 255 {
        DynamicImage::ImageRgb8(RgbImage::from_fn(alpha.width(), alpha.height(), |x, y| {
            Rgb(mixed(x, y).0)
        }))
    } else {
        DynamicImage::ImageRgba8(RgbaImage::from_fn(alpha.width(), alpha.height(), |x, y| {
            let ([r, g, b], a) = mixed(x, y);
            Rgba([r, g, b, a])
        }))
    }
}

#[cfg(test)]
mod tests {
    use image::Luma;

    use super::*;

    const RED: [u8; 3] = [220, 30, 30];
    const GREEN: [u8; 3] = [20, 200, 40];

    /// A red disc on green with a soft rim, and its exact coverage as the mask.
    fn disc(width: u32, height: u32) -> (RgbImage, GrayImage) {
        let (cx, cy, radius) = (width as f32 / 2.0, height as f32 / 2.0, height as f32 / 4.0);
        let coverage = |x: u32, y: u32| {
            let distance = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            (radius + 1.5 - distance).clamp(0.0, 3.0) / 3.0
        };
        let image = RgbImage::from_fn(width, height, |x, y| {
            let a = coverage(x, y);
            Rgb(std::array::from_fn(|k| {
                (a * f32::from(RED[k]) + (1.0 - a) * f32::from(GREEN[k])).round() as u8
            }))
        });
        let mask = GrayImage::from_fn(width, height, |x, y| {
            Luma([(coverage(x, y) * 255.0).round() as u8])
        });
        (image, mask)
    }

    fn options(kind: CutoutKind) -> CutoutOptions {
        CutoutOptions {
            kind,
            crop_to_subject: false,
            crop_margin: 0,
            refinement: Refinement::None,
        }
    }

    #[test]
    fn parse_color_accepts_hex_forms_and_names() {
        assert_eq!(parse_color("#FF8000").unwrap(), [255, 128, 0, 255]);
        assert_eq!(parse_color("ff800080").unwrap(), [255, 128, 0, 128]);
        assert_eq!(parse_color("#00000000").unwrap(), [0, 0, 0, 0]);
        assert_eq!(parse_color(" 336699 ").unwrap(), [0x33, 0x66, 0x99, 255]);
        assert_eq!(parse_color("#f80").unwrap(), [255, 136, 0, 255]);
        assert_eq!(parse_color("#f808").unwrap(), [255, 136, 0, 136]);
        assert_eq!(parse_color("White").unwrap(), [255, 255, 255, 255]);
        assert_eq!(parse_color("black").unwrap(), [0, 0, 0, 255]);
        assert_eq!(parse_color("transparent").unwrap(), [0, 0, 0, 0]);
        assert_eq!(parse_color("grey").unwrap(), parse_color("gray").unwrap());
    }

    #[test]
    fn parse_color_rejects_garbage() {
        for text in [
            "",
            "#",
            "#12345",
            "1234567",
            "#GGGGGG",
            "blurple",
            "fed",
            "#ff00ff00ff",
            "rgb(1,2,3)",
            "#ｆｆｆｆｆｆ",
        ] {
            let err = parse_color(text).expect_err(text);
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{text}");
            assert_eq!(err.field.as_deref(), Some("background_color"), "{text}");
        }
    }

    #[test]
    fn subject_bbox_covers_pixels_above_the_threshold() {
        let mut alpha = GrayImage::new(20, 10);
        alpha.put_pixel(3, 2, Luma([200]));
        alpha.put_pixel(15, 7, Luma([17]));
        alpha.put_pixel(18, 9, Luma([16])); // at the threshold: not subject
        assert_eq!(subject_bbox(&alpha, 16), Some((3, 2, 13, 6)));
        assert_eq!(subject_bbox(&alpha, 200), None);
        assert_eq!(subject_bbox(&GrayImage::new(5, 5), 0), None);
        assert_eq!(subject_bbox(&GrayImage::new(0, 0), 0), None);
    }

    #[test]
    fn crop_keeps_margin_within_image() {
        assert_eq!(expand_bbox((10, 10, 5, 5), 3, 100, 100), (7, 7, 11, 11));
        assert_eq!(expand_bbox((2, 1, 5, 5), 10, 100, 100), (0, 0, 17, 16));
        assert_eq!(expand_bbox((90, 95, 10, 5), 20, 100, 100), (70, 75, 30, 25));
        assert_eq!(
            expand_bbox((0, 0, 100, 100), u32::MAX, 100, 100),
            (0, 0, 100, 100)
        );
    }

    #[test]
    fn render_crops_every_kind_to_the_subject_plus_margin() {
        let (image, mask) = disc(80, 60);
        let bbox = subject_bbox(&mask, SUBJECT_THRESHOLD).unwrap();
        for kind in [
            CutoutKind::Cutout,
            CutoutKind::Mask,
            CutoutKind::Solid([0, 0, 255, 255]),
        ] {
            let cropped = CutoutOptions {
                crop_to_subject: true,
                crop_margin: 4,
                ..options(kind)
            };
            let out = render(&image, &mask, &cropped).unwrap();
            assert_eq!(
                (out.width(), out.height()),
                (bbox.2 + 8, bbox.3 + 8),
                "{kind:?}"
            );
            let huge_margin = CutoutOptions {
                crop_margin: 1000,
                ..cropped
            };
            let out = render(&image, &mask, &huge_margin).unwrap();
            assert_eq!((out.width(), out.height()), (80, 60), "{kind:?}");
        }
    }

    #[test]
    fn render_mask_is_the_refined_alpha_as_luma() {
        let (image, mask) = disc(40, 40);
        let out = render(&image, &mask, &options(CutoutKind::Mask)).unwrap();
        assert_eq!(out.as_luma8(), Some(&mask));
    }

    #[test]
    fn render_cutout_is_transparent_outside_and_untouched_inside() {
        let (image, mask) = disc(40, 40);
        let out = render(&image, &mask, &options(CutoutKind::Cutout)).unwrap();
        let rgba = out.as_rgba8().expect("rgba");
        assert_eq!(rgba.get_pixel(0, 0).0, [0, 0, 0, 0]);
        assert_eq!(rgba.get_pixel(20, 20).0, [RED[0], RED[1], RED[2], 255]);
    }

    #[test]
    fn render_cutout_removes_the_old_background_from_soft_edges() {
        let (image, mask) = disc(64, 64);
        let out = render(&image, &mask, &options(CutoutKind::Cutout)).unwrap();
        let rgba = out.as_rgba8().expect("rgba");
        let mut checked = 0;
        for (pixel, a) in rgba.pixels().zip(mask.pixels()) {
            if (64..192).contains(&a[0]) {
                // The input there is a red/green mix; the cut-out keeps only the red.
                assert!(
                    pixel[0] > 170 && pixel[1] < 90,
                    "{pixel:?} at alpha {}",
                    a[0]
                );
                checked += 1;
            }
        }
        assert!(checked > 20);
    }

    #[test]
    fn render_solid_composites_over_an_opaque_colour_as_rgb() {
        let (image, mask) = disc(64, 64);
        let blue = CutoutKind::Solid([0, 0, 255, 255]);
        let out = render(&image, &mask, &options(blue)).unwrap();
        let rgb = out.as_rgb8().expect("opaque colour gives rgb");
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(rgb.get_pixel(32, 32).0, RED);
        // Rim pixels are red over blue, with no green from the old background.
        let rims: Vec<(u32, u32)> = (0..64 * 64)
            .map(|i| (i % 64, i / 64))
            .filter(|&(x, y)| (64..192).contains(&mask.get_pixel(x, y)[0]))
            .collect();
        assert!(rims.len() > 20);
        for (x, y) in rims {
            let a = f32::from(mask.get_pixel(x, y)[0]) / 255.0;
            let expected = [
                f32::from(RED[0]) * a,
                f32::from(RED[1]) * a,
                f32::from(RED[2]) * a,
            ]
            .map(|v| v.round());
            let expected = [
                expected[0],
                expected[1],
                expected[2] + (255.0 * (1.0 - a)).round(),
            ];
            let rim = rgb.get_pixel(x, y).0.map(f32::from);
            for k in 0..3 {
                assert!(
                    (rim[k] - expected[k]).abs() <= 12.0,
                    "{rim:?} vs {expected:?}"
                );
            }
        }
    }
    #[test]
    fn render_solid_over_a_translucent_colour_keeps_alpha() {
        let (image, mask) = disc(40, 40);
        let out = render(
            &image,
            &mask,
            &options(CutoutKind::Solid([255, 255, 255, 128])),
        )
        .unwrap();
        let rgba = out.as_rgba8().expect("translucent colour gives rgba");
        assert_eq!(rgba.get_pixel(0, 0).0, [255, 255, 255, 128]);
        assert_eq!(rgba.get_pixel(20, 20).0, [RED[0], RED[1], RED[2], 255]);
        let transparent = render(&image, &mask, &options(CutoutKind::Solid([0, 0, 0, 0]))).unwrap();
        assert_eq!(
            transparent.as_rgba8().unwrap().get_pixel(0, 0).0,
            [0, 0, 0, 0]
        );
    }

    #[test]
    fn render_rejects_an_empty_mask() {
        let image = RgbImage::new(30, 20);
        let faint = GrayImage::from_pixel(30, 20, Luma([SUBJECT_THRESHOLD]));
        for kind in [
            CutoutKind::Cutout,
            CutoutKind::Mask,
            CutoutKind::Solid([0; 4]),
        ] {
            let err = render(&image, &faint, &options(kind)).expect_err("empty mask");
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert!(err.message.starts_with("no subject found in the image"));
        }
    }

    #[test]
    fn render_rejects_a_mask_of_another_size() {
        let err = render(
            &RgbImage::new(30, 20),
            &GrayImage::new(20, 30),
            &options(CutoutKind::Mask),
        )
        .expect_err("size mismatch");
        assert_eq!(err.code, ErrorCode::Internal);
    }

    #[test]
    fn every_refinement_keeps_the_subject_opaque_and_the_background_clear() {
        // A blurry mask of the disc, as a segmentation model would give.
        let (image, sharp) = disc(96, 96);
        let mask = image::imageops::blur(&sharp, 2.0);
        for refinement in [
            Refinement::None,
            Refinement::GuidedFilter,
            Refinement::AlphaMatting,
        ] {
            let opts = CutoutOptions {
                refinement,
                ..options(CutoutKind::Mask)
            };
            let out = render(&image, &mask, &opts).unwrap();
            let alpha = out.as_luma8().expect("mask");
            assert!(alpha.get_pixel(48, 48)[0] >= 250, "{refinement:?}");
            assert!(alpha.get_pixel(2, 2)[0] <= 5, "{refinement:?}");
        }
    }
}

//! Turning an image and its alpha into the remove-background outputs.
//!
//! [`render`] refines the segmentation mask's edge, crops to the subject when asked, and
//! produces what the caller chose: a cut-out with transparency, the mask alone, or the subject
//! over a solid colour. Cut-outs and solid backgrounds use the de-contaminated foreground
//! colour on soft edges, so hair does not carry a fringe of the old background.

use std::borrow::Cow;

use image::{DynamicImage, GrayImage, ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};

pub use crate::domain::params::{CutoutMode, EdgeRefinement};
use crate::error::{Error, ErrorCode, Result};
pub use crate::imaging::matte::SUBJECT_THRESHOLD;
use crate::imaging::matte::{expand_bbox, over, subject_bbox};
use crate::providers::local::refine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CutoutOptions {
    pub kind: CutoutMode,
    /// Crop the output to the subject's bounding box plus `crop_margin` pixels on each side
    /// (clamped to the image).
    pub crop_to_subject: bool,
    pub crop_margin: u32,
    pub refinement: EdgeRefinement,
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
        EdgeRefinement::None => mask.clone(),
        EdgeRefinement::GuidedFilter => refine::refine_edges(image, mask),
        EdgeRefinement::AlphaMatting => {
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
        CutoutMode::Mask => DynamicImage::ImageLuma8(alpha),
        CutoutMode::Cutout => DynamicImage::ImageRgba8(cutout(&image, &alpha)),
        CutoutMode::Solid(color) => solid(&image, &alpha, color),
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

    fn options(kind: CutoutMode) -> CutoutOptions {
        CutoutOptions {
            kind,
            crop_to_subject: false,
            crop_margin: 0,
            refinement: EdgeRefinement::None,
        }
    }

    #[test]
    fn render_crops_every_kind_to_the_subject_plus_margin() {
        let (image, mask) = disc(80, 60);
        let bbox = subject_bbox(&mask, SUBJECT_THRESHOLD).unwrap();
        for kind in [
            CutoutMode::Cutout,
            CutoutMode::Mask,
            CutoutMode::Solid([0, 0, 255, 255]),
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
        let out = render(&image, &mask, &options(CutoutMode::Mask)).unwrap();
        assert_eq!(out.as_luma8(), Some(&mask));
    }

    #[test]
    fn render_cutout_is_transparent_outside_and_untouched_inside() {
        let (image, mask) = disc(40, 40);
        let out = render(&image, &mask, &options(CutoutMode::Cutout)).unwrap();
        let rgba = out.as_rgba8().expect("rgba");
        assert_eq!(rgba.get_pixel(0, 0).0, [0, 0, 0, 0]);
        assert_eq!(rgba.get_pixel(20, 20).0, [RED[0], RED[1], RED[2], 255]);
    }

    #[test]
    fn render_cutout_removes_the_old_background_from_soft_edges() {
        let (image, mask) = disc(64, 64);
        let out = render(&image, &mask, &options(CutoutMode::Cutout)).unwrap();
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
        let blue = CutoutMode::Solid([0, 0, 255, 255]);
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
            &options(CutoutMode::Solid([255, 255, 255, 128])),
        )
        .unwrap();
        let rgba = out.as_rgba8().expect("translucent colour gives rgba");
        assert_eq!(rgba.get_pixel(0, 0).0, [255, 255, 255, 128]);
        assert_eq!(rgba.get_pixel(20, 20).0, [RED[0], RED[1], RED[2], 255]);
        let transparent = render(&image, &mask, &options(CutoutMode::Solid([0, 0, 0, 0]))).unwrap();
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
            CutoutMode::Cutout,
            CutoutMode::Mask,
            CutoutMode::Solid([0; 4]),
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
            &options(CutoutMode::Mask),
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
            EdgeRefinement::None,
            EdgeRefinement::GuidedFilter,
            EdgeRefinement::AlphaMatting,
        ] {
            let opts = CutoutOptions {
                refinement,
                ..options(CutoutMode::Mask)
            };
            let out = render(&image, &mask, &opts).unwrap();
            let alpha = out.as_luma8().expect("mask");
            assert!(alpha.get_pixel(48, 48)[0] >= 250, "{refinement:?}");
            assert!(alpha.get_pixel(2, 2)[0] <= 5, "{refinement:?}");
        }
    }
}

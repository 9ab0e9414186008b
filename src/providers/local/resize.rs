//! Resize within bounds, keeping the aspect ratio.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use crate::domain::params::ResizeParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, Result};
use crate::media;

pub fn resize(
    source: &SourceImage,
    params: &ResizeParams,
    limits: &ImageLimits,
) -> Result<EncodedImage> {
    let (width, height) = params.target_size(source.width, source.height);
    let (_, decoded) = media::decode(&source.bytes, limits)?;
    let resized = resize_to(&decoded, width, height)?;
    let format = params.output.format.unwrap_or(match source.format {
        ImageFormat::Jpeg => ImageFormat::Jpeg,
        ImageFormat::Png
        | ImageFormat::Webp
        | ImageFormat::Gif
        | ImageFormat::Bmp
        | ImageFormat::Tiff
        | ImageFormat::Svg => ImageFormat::Png,
    });
    let bytes = media::encode(&resized, format, params.output.quality)?;
    Ok(EncodedImage {
        bytes,
        format,
        width,
        height,
    })
}

/// Lanczos3 resampling with alpha premultiplied, as libvips and Pillow do for photos.
pub fn resize_to(image: &DynamicImage, width: u32, height: u32) -> Result<DynamicImage> {
    if (image.width(), image.height()) == (width, height) {
        return Ok(image.clone());
    }
    // fast_image_resize works on 8-bit and 16-bit buffers of the common layouts; anything
    // else (32-bit float) is narrowed to 8-bit RGBA first. DynamicImage is non-exhaustive,
    // so a wildcard is unavoidable.
    #[allow(clippy::wildcard_enum_match_arm)]
    let source = match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => std::borrow::Cow::Borrowed(image),
        _ => std::borrow::Cow::Owned(DynamicImage::ImageRgba8(image.to_rgba8())),
    };
    let mut target = DynamicImage::new(width, height, source.color());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(source.as_ref(), &mut target, &options)
        .map_err(|e| Error::internal(format!("resize failed: {e}")))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn keeps_aspect_and_content() {
        let mut img = RgbImage::new(400, 200);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 200 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            };
        }
        let out = resize_to(&DynamicImage::ImageRgb8(img), 100, 50).unwrap();
        let out = out.to_rgb8();
        assert_eq!(out.dimensions(), (100, 50));
        assert_eq!(out.get_pixel(10, 25), &Rgb([255, 0, 0]));
        assert_eq!(out.get_pixel(90, 25), &Rgb([0, 0, 255]));
    }
}

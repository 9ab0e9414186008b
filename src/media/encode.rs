//! Encoding results.

use std::borrow::Cow;

use bytes::Bytes;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ColorType, DynamicImage, ImageError, RgbImage};

use crate::domain::ImageFormat;
use crate::error::{Error, ErrorCode, Result};

/// The largest side a JPEG header can express.
const JPEG_MAX_SIDE: u32 = u16::MAX as u32;
/// The largest side a WebP (VP8L) header can express.
const WEBP_MAX_SIDE: u32 = 16_383;

/// Encodes `image` as `format` (PNG, JPEG at `quality`, or lossless WebP).
pub fn encode(image: &DynamicImage, format: ImageFormat, quality: u8) -> Result<Bytes> {
    crate::media::cancel::checkpoint()?;
    match format {
        ImageFormat::Png => encode_png(image),
        ImageFormat::Jpeg => encode_jpeg(image, quality),
        ImageFormat::Webp => encode_webp(image),
        ImageFormat::Gif | ImageFormat::Bmp | ImageFormat::Tiff | ImageFormat::Svg => {
            Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("cannot write {}", format.name()),
            ))
        }
    }
}

fn encode_png(image: &DynamicImage) -> Result<Bytes> {
    // PNG has no float samples; 16 bits per channel keeps most of their precision.
    let image = if image.color() == ColorType::Rgb32F {
        Cow::Owned(DynamicImage::ImageRgb16(image.to_rgb16()))
    } else if image.color() == ColorType::Rgba32F {
        Cow::Owned(DynamicImage::ImageRgba16(image.to_rgba16()))
    } else {
        Cow::Borrowed(image)
    };
    let mut out = Vec::with_capacity(encoded_size_guess(&image));
    // Fast deflate with adaptive filtering costs a few percent in size against the default
    // level and encodes several times faster, which matters more for a service's latency.
    let encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    image
        .write_with_encoder(encoder)
        .map_err(|err| encoding_error(ImageFormat::Png, err))?;
    Ok(Bytes::from(out))
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<Bytes> {
    let (width, height) = (image.width(), image.height());
    let (Ok(jpeg_width), Ok(jpeg_height)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(too_big_for(ImageFormat::Jpeg, width, height, JPEG_MAX_SIDE));
    };
    let mut out = Vec::with_capacity(encoded_size_guess(image) / 4);
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    let is_opaque_gray = image.color().channel_count() == 1;
    let result = if is_opaque_gray {
        let gray = match image.as_luma8() {
            Some(gray) => Cow::Borrowed(gray),
            None => Cow::Owned(image.to_luma8()),
        };
        encoder.encode(
            gray.as_raw(),
            jpeg_width,
            jpeg_height,
            jpeg_encoder::ColorType::Luma,
        )
    } else {
        let rgb = opaque_rgb8(image);
        encoder.encode(
            rgb.as_raw(),
            jpeg_width,
            jpeg_height,
            jpeg_encoder::ColorType::Rgb,
        )
    };
    result.map_err(|err| Error::internal(format!("encoding jpeg: {err}")))?;
    Ok(Bytes::from(out))
}

/// The image as 8-bit RGB with any transparency composited over white. JPEG has no alpha, and
/// simply dropping it exposes whatever colour transparent pixels happen to hold (often black),
/// turning a transparent logo into a black box; white is how viewers and documents usually
/// show transparency.
fn opaque_rgb8(image: &DynamicImage) -> Cow<'_, RgbImage> {
    if let Some(rgb) = image.as_rgb8() {
        return Cow::Borrowed(rgb);
    }
    if !image.color().has_alpha() {
        return Cow::Owned(image.to_rgb8());
    }
    let rgba = image.to_rgba8();
    let mut rgb = RgbImage::new(image.width(), image.height());
    for (target, source) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = source.0;
        let alpha = u32::from(a);
        let over_white = |c: u8| {
            u8::try_from((u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255)
                .unwrap_or(u8::MAX)
        };
        target.0 = [over_white(r), over_white(g), over_white(b)];
    }
    Cow::Owned(rgb)
}

fn encode_webp(image: &DynamicImage) -> Result<Bytes> {
    let (width, height) = (image.width(), image.height());
    if width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
        return Err(too_big_for(ImageFormat::Webp, width, height, WEBP_MAX_SIDE));
    }
    let mut out = Vec::with_capacity(encoded_size_guess(image) / 2);
    // write_with_encoder narrows 16-bit and float images to the 8-bit layouts WebP holds.
    image
        .write_with_encoder(WebPEncoder::new_lossless(&mut out))
        .map_err(|err| encoding_error(ImageFormat::Webp, err))?;
    Ok(Bytes::from(out))
}

fn too_big_for(format: ImageFormat, width: u32, height: u32, max_side: u32) -> Error {
    Error::new(
        ErrorCode::InvalidArgument,
        format!(
            "cannot write a {width}x{height} image as {}: the format allows at most {max_side} pixels a side",
            format.name()
        ),
    )
}

/// A starting capacity for the output buffer, so large images do not regrow it many times.
fn encoded_size_guess(image: &DynamicImage) -> usize {
    image.as_bytes().len() / 2
}

fn encoding_error(format: ImageFormat, err: ImageError) -> Error {
    Error::internal(format!("encoding {}: {err}", format.name()))
}

/// `image` in the format `output` asks for: unchanged when no format is asked or it already
/// has it, else decoded (within `limits`) and encoded again. Blocking.
pub fn conform(
    image: crate::domain::EncodedImage,
    output: crate::domain::params::OutputSpec,
    limits: &crate::domain::ImageLimits,
) -> Result<crate::domain::EncodedImage> {
    let Some(format) = output.format else {
        return Ok(image);
    };
    if format == image.format {
        return Ok(image);
    }
    let (_, decoded) = crate::media::decode(&image.bytes, limits)?;
    Ok(crate::domain::EncodedImage {
        bytes: encode(&decoded, format, output.quality)?,
        format,
        width: decoded.width(),
        height: decoded.height(),
    })
}

#[cfg(test)]
mod tests {
    use image::{GenericImageView, Rgba, RgbaImage};

    use super::*;
    use crate::domain::ImageLimits;
    use crate::media::{decode, testdata};

    fn gradient(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        }))
    }

    fn mean_abs_diff(a: &DynamicImage, b: &DynamicImage) -> f64 {
        let (a, b) = (a.to_rgb8(), b.to_rgb8());
        let total: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        total as f64 / a.as_raw().len() as f64
    }

    fn round_trip(image: &DynamicImage, format: ImageFormat, quality: u8) -> DynamicImage {
        let bytes = encode(image, format, quality).unwrap();
        let (decoded_format, decoded) = decode(&bytes, &ImageLimits::default()).unwrap();
        assert_eq!(decoded_format, format);
        assert_eq!(decoded.dimensions(), image.dimensions());
        decoded
    }

    #[test]
    fn encodes_jpeg_and_png_round_trip() {
        let image = match testdata::read("astronaut.png") {
            Some(bytes) => decode(&bytes, &ImageLimits::default()).unwrap().1,
            None => gradient(64, 48),
        };
        let png = round_trip(&image, ImageFormat::Png, 0);
        assert_eq!(png.to_rgba8(), image.to_rgba8(), "png is lossless");

        let jpeg = round_trip(&image, ImageFormat::Jpeg, 90);
        let diff = mean_abs_diff(&jpeg, &image);
        assert!(
            diff < 4.0,
            "jpeg at q90 is close to the original (mean diff {diff})"
        );
    }

    #[test]
    fn jpeg_quality_trades_size_for_fidelity() {
        let image = gradient(256, 256);
        let small = encode(&image, ImageFormat::Jpeg, 20).unwrap();
        let large = encode(&image, ImageFormat::Jpeg, 95).unwrap();
        assert!(small.len() < large.len());
    }

    #[test]
    fn encodes_webp_losslessly() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_fn(33, 17, |x, y| {
            Rgba([x as u8 * 7, y as u8 * 13, 200, (x * y) as u8])
        }));
        let webp = round_trip(&image, ImageFormat::Webp, 0);
        assert_eq!(webp.to_rgba8(), image.to_rgba8());
    }

    #[test]
    fn flattens_transparency_onto_white_for_jpeg() {
        // Transparent pixels that hold black, as many editors leave them.
        let image = DynamicImage::ImageRgba8(RgbaImage::from_pixel(16, 16, Rgba([0, 0, 0, 0])));
        let jpeg = round_trip(&image, ImageFormat::Jpeg, 90).to_rgb8();
        assert!(
            jpeg.pixels().all(|p| p.0.iter().all(|c| *c > 245)),
            "white, not black"
        );

        let half = DynamicImage::ImageRgba8(RgbaImage::from_pixel(16, 16, Rgba([255, 0, 0, 128])));
        let [r, g, b] = round_trip(&half, ImageFormat::Jpeg, 95)
            .to_rgb8()
            .get_pixel(8, 8)
            .0;
        assert!(
            r > 245 && g.abs_diff(127) < 8 && b.abs_diff(127) < 8,
            "pink: {r} {g} {b}"
        );
    }

    #[test]
    fn keeps_gray_images_gray_in_jpeg() {
        let gray = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(20, 10, |x, _| {
            image::Luma([u16::try_from(x * 3000).unwrap()])
        }));
        let jpeg = round_trip(&gray, ImageFormat::Jpeg, 90);
        assert_eq!(jpeg.color(), ColorType::L8);
    }

    #[test]
    fn writes_float_images_as_sixteen_bit_png() {
        let float = DynamicImage::ImageRgb32F(image::ImageBuffer::from_pixel(
            4,
            4,
            image::Rgb([0.25f32, 0.5, 1.0]),
        ));
        let png = round_trip(&float, ImageFormat::Png, 0);
        assert_eq!(png.color(), ColorType::Rgb16);
    }

    #[test]
    fn refuses_formats_it_cannot_write() {
        let image = gradient(2, 2);
        for format in [
            ImageFormat::Gif,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::Svg,
        ] {
            let err = encode(&image, format, 80).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert_eq!(err.message, format!("cannot write {}", format.name()));
        }
    }

    #[test]
    fn refuses_webp_wider_than_the_format_allows() {
        let image = DynamicImage::ImageLuma8(image::GrayImage::new(WEBP_MAX_SIDE + 1, 1));
        let err = encode(&image, ImageFormat::Webp, 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message.contains("at most 16383 pixels a side"),
            "{}",
            err.message
        );
    }
}

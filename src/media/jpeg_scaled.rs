//! JPEG shrink-on-load: decoding at 1/2 or 1/4 of the size in the inverse DCT.
//!
//! A JPEG stores 8×8 blocks of frequency coefficients. Inverting only the lowest 4×4 or 2×2
//! of them yields the block already reduced by 2 or 4, so a photo that is about to be shrunk
//! never has its full-size pixels computed, upsampled, colour-converted and then resampled
//! away. libjpeg calls this `scale_denom`; libvips uses it in `thumbnail`. Every coefficient is
//! still entropy-decoded, so the saving is in the inverse DCT, upsampling, colour conversion
//! and the resampling that follows.

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

use crate::domain::ImageLimits;
use crate::error::{Error, ErrorCode, Result};
use crate::media::cancel::checkpoint;
use crate::media::decode::{check_dimensions, check_input_size, upright_size};

/// The reduced scales used, in eighths, smallest first. The decoder also offers 1/8, which
/// keeps only each block's average: against a full decode resampled to the same size that
/// scores about 36 dB PSNR, where 1/4 stays above 41 dB and 1/2 above 50 dB.
const REDUCED_EIGHTHS: [u32; 2] = [2, 4];

/// The size a `width` × `height` JPEG decodes to at `eighths`/8 of its size: each side rounds
/// up, because a partial block still yields a pixel.
fn scaled_size(width: u32, height: u32, eighths: u32) -> (u32, u32) {
    (
        (width * eighths).div_ceil(8).max(1),
        (height * eighths).div_ceil(8).max(1),
    )
}

/// The smallest reduced size of a `width` × `height` JPEG that still covers
/// `target_width` × `target_height`, so that resampling to the target only ever shrinks; `None`
/// when only the full size does.
pub fn reduced_size_covering(
    (width, height): (u32, u32),
    (target_width, target_height): (u32, u32),
) -> Option<(u32, u32)> {
    REDUCED_EIGHTHS
        .into_iter()
        .map(|eighths| scaled_size(width, height, eighths))
        .find(|&(w, h)| w >= target_width && h >= target_height)
}

/// Decodes a JPEG at the smallest DCT scale that still covers `target_width` × `target_height`,
/// for a caller that resamples the result to that size.
///
/// The header is read and its dimensions checked against `limits` before any pixel memory is
/// allocated, as [`crate::media::decode`] does. Returns `Ok(None)`, having decoded nothing, when
/// no reduced scale covers the target, or when the image is one this decoder leaves to the
/// general one (CMYK, 16-bit, or a coding feature it lacks); the caller then decodes in full.
pub fn decode_covering(
    bytes: &[u8],
    limits: &ImageLimits,
    target_width: u32,
    target_height: u32,
) -> Result<Option<DynamicImage>> {
    check_input_size(bytes, limits)?;
    let mut decoder = Decoder::new(bytes);
    if supported(decoder.read_info())?.is_none() {
        return Ok(None);
    }
    let Some(info) = decoder.info() else {
        return Err(Error::internal(
            "jpeg header read without frame information",
        ));
    };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_dimensions(width, height, limits)?;
    match info.pixel_format {
        PixelFormat::L8 | PixelFormat::RGB24 => {}
        PixelFormat::L16 | PixelFormat::CMYK32 => return Ok(None),
    }
    // The target is the upright size; the scale is chosen on the stored (maybe sideways) one.
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let stored_target = upright_size((target_width, target_height), orientation);
    let Some(reduced) = reduced_size_covering((width, height), stored_target) else {
        return Ok(None);
    };
    let (Ok(request_width), Ok(request_height)) =
        (u16::try_from(reduced.0), u16::try_from(reduced.1))
    else {
        return Ok(None);
    };
    let Some((decoded_width, decoded_height)) =
        supported(decoder.scale(request_width, request_height))?
    else {
        return Ok(None);
    };
    let decoded_size = (u32::from(decoded_width), u32::from(decoded_height));
    if decoded_size != reduced {
        // The decoder picks its scale from either side alone; on a tiny or extremely narrow
        // image that can differ from ours. The full decode is always right.
        return Ok(None);
    }
    // A second line of defence should the frame disagree with the header that was checked.
    let max_bytes = limits.max_pixels.saturating_mul(3);
    decoder.set_max_decoding_buffer_size(usize::try_from(max_bytes).unwrap_or(usize::MAX));
    checkpoint()?;
    let Some(pixels) = supported(decoder.decode())? else {
        return Ok(None);
    };
    checkpoint()?;
    let (w, h) = decoded_size;
    let image = match info.pixel_format {
        PixelFormat::L8 => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        PixelFormat::RGB24 => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        PixelFormat::L16 | PixelFormat::CMYK32 => None,
    };
    let mut image = image.ok_or_else(|| {
        Error::internal(format!(
            "the jpeg decoder returned too few pixels for {w}x{h}"
        ))
    })?;
    image.apply_orientation(orientation);
    Ok(Some(image))
}

/// A jpeg-decoder result as ours: `Ok(None)` for a feature this decoder lacks, so that the
/// general decoder, which may have it, gets the final say; bad data is the caller's fault.
fn supported<T>(result: std::result::Result<T, jpeg_decoder::Error>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(jpeg_decoder::Error::Unsupported(_)) => Ok(None),
        // Reading from memory, an I/O error can only mean the data ended early.
        Err(err @ (jpeg_decoder::Error::Format(_) | jpeg_decoder::Error::Io(_))) => {
            Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("the jpeg image is truncated or corrupt: {err}"),
            ))
        }
        Err(err @ jpeg_decoder::Error::Internal(_)) => {
            Err(Error::internal(format!("decoding the jpeg image: {err}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    /// The error of a call that must fail, without printing a decoded image if it did not.
    fn refused<T>(result: Result<T>, why: &str) -> Error {
        match result {
            Ok(_) => panic!("{why}"),
            Err(err) => err,
        }
    }

    /// `jpeg` with its frame header (SOF0/SOF2) rewritten to claim `width` × `height`.
    fn claiming(mut jpeg: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
        let sof = jpeg
            .windows(2)
            .position(|pair| pair[0] == 0xff && matches!(pair[1], 0xc0 | 0xc2))
            .expect("a frame header");
        // marker (2), length (2), precision (1), then height and width.
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        jpeg
    }

    #[test]
    fn picks_the_smallest_scale_that_still_covers_the_target() {
        assert_eq!(
            reduced_size_covering((4000, 3000), (1024, 768)),
            Some((2000, 1500))
        );
        assert_eq!(
            reduced_size_covering((4000, 3000), (1000, 750)),
            Some((1000, 750))
        );
        // 1/8 would cover this too, but its quality is not good enough.
        assert_eq!(
            reduced_size_covering((4000, 3000), (400, 300)),
            Some((1000, 750))
        );
        assert_eq!(reduced_size_covering((4000, 3000), (2001, 1501)), None);
        // Partial blocks round up: 1/8 of 1001 pixels is 126 pixels, not 125.
        assert_eq!(scaled_size(1001, 9, 1), (126, 2));
    }

    #[test]
    fn decodes_at_half_size_when_that_covers_the_target() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        let image = decode_covering(&bytes, &ImageLimits::default(), 200, 200)
            .unwrap()
            .expect("a reduced decode");
        assert_eq!((image.width(), image.height()), (256, 256));
        assert_eq!(image.color(), image::ColorType::Rgb8);
    }

    #[test]
    fn leaves_an_image_only_its_full_size_covers_to_the_full_decoder() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        let decoded = decode_covering(&bytes, &ImageLimits::default(), 300, 300).unwrap();
        assert!(decoded.is_none());
    }

    #[test]
    fn refuses_a_header_over_the_limits_before_decoding() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        let bytes = claiming(bytes, 60_000, 60_000);
        let err = refused(
            decode_covering(&bytes, &ImageLimits::default(), 100, 100),
            "must refuse",
        );
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(err.message.contains("60000x60000"), "{}", err.message);
    }

    #[test]
    fn refuses_input_over_the_byte_limit() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        let limits = ImageLimits {
            max_input_bytes: 1000,
            ..ImageLimits::default()
        };
        let err = refused(decode_covering(&bytes, &limits, 100, 100), "must refuse");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn reports_truncated_and_corrupt_jpegs_as_invalid_argument() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        let limits = ImageLimits::default();
        let cuts = [bytes.len() / 2, bytes.len() - 2, 100, 3];
        for cut in cuts {
            let err = refused(
                decode_covering(&bytes[..cut], &limits, 100, 100),
                &format!("cut at {cut} must be refused"),
            );
            assert_eq!(err.code, ErrorCode::InvalidArgument, "cut at {cut}");
            assert!(
                err.message
                    .starts_with("the jpeg image is truncated or corrupt: "),
                "{}",
                err.message
            );
        }
        let err = refused(
            decode_covering(b"\xff\xd8not a jpeg at all", &limits, 100, 100),
            "garbage must be refused",
        );
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }
}

//! Every frame of an animation or page of a multi-page TIFF.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::{AnimationDecoder, DynamicImage, ImageBuffer, ImageDecoder};
use tiff::decoder::{Decoder as TiffDecoder, DecodingResult};
use tiff::{ColorType as TiffColor, TiffError};

use crate::domain::{ImageFormat, ImageLimits};
use crate::error::{Error, ErrorCode, Result};
use crate::media::decode::{check_dimensions, decoder_limits, decoding_error};
use crate::media::{decode, probe};

/// All frames together may hold this many times `max_pixels`. `max_pixels` bounds one frame
/// and `max_frames` their number, but their product (15 billion pixels by default) is no
/// bound on memory at all.
const ALL_FRAMES_PIXEL_FACTOR: u64 = 4;

/// The widest sample the TIFF pages we convert use (RGBA, 16 bits per channel).
const MAX_TIFF_BYTES_PER_PIXEL: u64 = 8;

/// All frames (GIF, fully composited) or pages (TIFF) when `all`, else only the first.
pub fn decode_frames(
    bytes: &[u8],
    limits: &ImageLimits,
    all: bool,
) -> Result<(ImageFormat, Vec<DynamicImage>)> {
    if !all {
        let (format, image) = decode(bytes, limits)?;
        return Ok((format, vec![image]));
    }
    // Checks the input size, the format and the first frame's dimensions.
    let (format, _, _) = probe(bytes, limits)?;
    let frames = match format {
        ImageFormat::Gif => gif_frames(bytes, limits)?,
        ImageFormat::Tiff => tiff_pages(bytes, limits)?,
        ImageFormat::Png
        | ImageFormat::Jpeg
        | ImageFormat::Webp
        | ImageFormat::Bmp
        | ImageFormat::Svg => vec![decode(bytes, limits)?.1],
    };
    Ok((format, frames))
}

/// Counts frames and their pixels as they are decoded, refusing once either budget is spent.
struct FrameBudget<'a> {
    limits: &'a ImageLimits,
    /// "animation" or "tiff", for messages.
    what: &'static str,
    unit: &'static str,
    frames: u32,
    pixels: u64,
}

impl<'a> FrameBudget<'a> {
    fn new(limits: &'a ImageLimits, what: &'static str, unit: &'static str) -> Self {
        FrameBudget {
            limits,
            what,
            unit,
            frames: 0,
            pixels: 0,
        }
    }

    /// Accounts for one more frame of `width` × `height`, before its pixels are decoded.
    fn admit(&mut self, width: u32, height: u32) -> Result<()> {
        if self.frames >= self.limits.max_frames {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "{} has more than {} {}",
                    self.what, self.limits.max_frames, self.unit
                ),
            ));
        }
        check_dimensions(width, height, self.limits)?;
        let budget = self
            .limits
            .max_pixels
            .saturating_mul(ALL_FRAMES_PIXEL_FACTOR);
        let pixels = self
            .pixels
            .saturating_add(u64::from(width) * u64::from(height));
        if pixels > budget {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the {} of this {} add up to more than {budget} pixels, the limit",
                    self.unit, self.what
                ),
            ));
        }
        self.frames += 1;
        self.pixels = pixels;
        Ok(())
    }
}

fn gif_frames(bytes: &[u8], limits: &ImageLimits) -> Result<Vec<DynamicImage>> {
    let gif_error = |err| decoding_error(ImageFormat::Gif, err);
    let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(gif_error)?;
    // Every composited frame is the size of the logical screen.
    let (width, height) = decoder.dimensions();
    decoder
        .set_limits(decoder_limits(limits))
        .map_err(gif_error)?;
    let mut budget = FrameBudget::new(limits, "animation", "frames");
    let mut frames = Vec::new();
    // Decoding one frame past the cap is the only way to learn that there is one.
    for frame in decoder.into_frames() {
        let frame = frame.map_err(gif_error)?;
        budget.admit(width, height)?;
        frames.push(DynamicImage::ImageRgba8(frame.into_buffer()));
    }
    if frames.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            "the gif image has no frames",
        ));
    }
    Ok(frames)
}

/// Reads every page with the tiff crate directly: image's TIFF decoder stops at the first.
fn tiff_pages(bytes: &[u8], limits: &ImageLimits) -> Result<Vec<DynamicImage>> {
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size =
        usize::try_from(limits.max_pixels.saturating_mul(MAX_TIFF_BYTES_PER_PIXEL))
            .unwrap_or(usize::MAX);
    let mut decoder = TiffDecoder::new(Cursor::new(bytes))
        .map_err(tiff_error)?
        .with_limits(tiff_limits);
    let mut budget = FrameBudget::new(limits, "tiff", "pages");
    let mut pages = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(tiff_error)?;
        budget.admit(width, height)?;
        let color = decoder.colortype().map_err(tiff_error)?;
        let page = pages.len() + 1;
        // Refuse an unreadable colour type before spending time decoding the page.
        if !is_convertible(color) {
            return Err(unsupported_color(page, color));
        }
        let data = decoder.read_image().map_err(tiff_error)?;
        let image = to_dynamic(width, height, color, data).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidArgument,
                format!("the tiff image is truncated or corrupt: page {page} has the wrong amount of pixel data"),
            )
        })?;
        pages.push(image);
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(tiff_error)?;
    }
    Ok(pages)
}

fn is_convertible(color: TiffColor) -> bool {
    matches!(
        color,
        TiffColor::Gray(1 | 2 | 4 | 8 | 16)
            | TiffColor::GrayA(8 | 16)
            | TiffColor::RGB(8 | 16)
            | TiffColor::RGBA(8 | 16)
            | TiffColor::CMYK(8)
    )
}

fn unsupported_color(page: usize, color: TiffColor) -> Error {
    Error::new(
        ErrorCode::InvalidArgument,
        format!("the tiff image uses a colour type imgforge cannot read on page {page}: {color:?}"),
    )
}

/// Wraps decoded samples in the matching image buffer; `None` if their count is wrong.
fn to_dynamic(
    width: u32,
    height: u32,
    color: TiffColor,
    data: DecodingResult,
) -> Option<DynamicImage> {
    let image = match (color, data) {
        (TiffColor::Gray(8), DecodingResult::U8(v)) => {
            DynamicImage::ImageLuma8(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::Gray(bits @ (1 | 2 | 4)), DecodingResult::U8(v)) => DynamicImage::ImageLuma8(
            ImageBuffer::from_raw(width, height, unpack_gray(&v, width, height, bits)?)?,
        ),
        (TiffColor::Gray(16), DecodingResult::U16(v)) => {
            DynamicImage::ImageLuma16(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::GrayA(8), DecodingResult::U8(v)) => {
            DynamicImage::ImageLumaA8(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::GrayA(16), DecodingResult::U16(v)) => {
            DynamicImage::ImageLumaA16(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::RGB(8), DecodingResult::U8(v)) => {
            DynamicImage::ImageRgb8(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::RGB(16), DecodingResult::U16(v)) => {
            DynamicImage::ImageRgb16(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::RGBA(8), DecodingResult::U8(v)) => {
            DynamicImage::ImageRgba8(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::RGBA(16), DecodingResult::U16(v)) => {
            DynamicImage::ImageRgba16(ImageBuffer::from_raw(width, height, v)?)
        }
        (TiffColor::CMYK(8), DecodingResult::U8(v)) => {
            DynamicImage::ImageRgb8(ImageBuffer::from_raw(width, height, cmyk_to_rgb(&v))?)
        }
        _ => return None,
    };
    Some(image)
}

/// Expands 1-, 2- or 4-bit grey samples (rows padded to whole bytes) to 8 bits.
fn unpack_gray(packed: &[u8], width: u32, height: u32, bits: u8) -> Option<Vec<u8>> {
    let width = usize::try_from(width).ok()?;
    let height = usize::try_from(height).ok()?;
    let row_bytes = (width * usize::from(bits)).div_ceil(8);
    if packed.len() < row_bytes * height {
        return None;
    }
    let max = (1u16 << bits) - 1;
    let per_byte = 8 / usize::from(bits);
    let mut gray = Vec::with_capacity(width * height);
    for row in packed.chunks_exact(row_bytes).take(height) {
        for x in 0..width {
            let byte = row[x / per_byte];
            let shift = 8 - usize::from(bits) * (x % per_byte + 1);
            let sample = u16::from(byte >> shift) & max;
            gray.push(u8::try_from(sample * 255 / max).ok()?);
        }
    }
    Some(gray)
}

/// Naive CMYK to RGB without a colour profile: good enough for a preview or a resize, and
/// what image's own TIFF decoder does.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for pixel in cmyk.chunks_exact(4) {
        let white = 255 - u16::from(pixel[3]);
        for &ink in &pixel[..3] {
            let value = (255 - u16::from(ink)) * white / 255;
            rgb.push(u8::try_from(value).unwrap_or(u8::MAX));
        }
    }
    rgb
}

fn tiff_error(err: TiffError) -> Error {
    match err {
        TiffError::LimitsExceeded => Error::new(
            ErrorCode::PayloadTooLarge,
            format!("the tiff image exceeds the decoding limits: {err}"),
        ),
        TiffError::UnsupportedError(_) => Error::new(
            ErrorCode::InvalidArgument,
            format!("the tiff image uses a feature imgforge cannot read: {err}"),
        ),
        TiffError::FormatError(_)
        | TiffError::IoError(_)
        | TiffError::IntSizeError
        | TiffError::UsageError(_) => Error::new(
            ErrorCode::InvalidArgument,
            format!("the tiff image is truncated or corrupt: {err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    #[test]
    fn splits_every_gif_frame() {
        let Some(bytes) = testdata::read("no_time_for_that_tiny.gif") else {
            return;
        };
        let limits = ImageLimits::default();
        let (format, frames) = decode_frames(&bytes, &limits, true).unwrap();
        assert_eq!(format, ImageFormat::Gif);
        assert!(frames.len() > 1, "an animation has several frames");
        let (_, width, height) = probe(&bytes, &limits).unwrap();
        for frame in &frames {
            assert_eq!((frame.width(), frame.height()), (width, height));
        }
        // Composited frames differ; raw deltas would mostly be transparent.
        assert!(frames.windows(2).any(|pair| pair[0] != pair[1]));
        assert!(
            frames
                .iter()
                .all(|f| f.as_rgba8().is_some_and(|f| f.pixels().any(|p| p.0[3] > 0)))
        );
    }

    #[test]
    fn returns_only_the_first_frame_unless_asked_for_all() {
        let Some(bytes) = testdata::read("no_time_for_that_tiny.gif") else {
            return;
        };
        let (_, frames) = decode_frames(&bytes, &ImageLimits::default(), false).unwrap();
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn caps_gif_frames() {
        let Some(bytes) = testdata::read("no_time_for_that_tiny.gif") else {
            return;
        };
        let limits = ImageLimits {
            max_frames: 2,
            ..ImageLimits::default()
        };
        let err = decode_frames(&bytes, &limits, true).expect_err("more than 2 frames");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(err.message, "animation has more than 2 frames");
        // Only asking for the first frame is never refused for the count.
        assert!(decode_frames(&bytes, &limits, false).is_ok());
    }

    #[test]
    fn caps_the_pixels_of_all_frames_together() {
        let Some(bytes) = testdata::read("no_time_for_that_tiny.gif") else {
            return;
        };
        let (_, width, height) = probe(&bytes, &ImageLimits::default()).unwrap();
        let one_frame = u64::from(width) * u64::from(height);
        // Four frames' worth of pixels in total, one frame at a time.
        let limits = ImageLimits {
            max_pixels: one_frame,
            ..ImageLimits::default()
        };
        let (_, all) = decode_frames(&bytes, &ImageLimits::default(), true).unwrap();
        let result = decode_frames(&bytes, &limits, true);
        if all.len() as u64 > ALL_FRAMES_PIXEL_FACTOR {
            let err = result.expect_err("over the total pixel budget");
            assert_eq!(err.code, ErrorCode::PayloadTooLarge);
            assert!(
                err.message.contains("add up to more than"),
                "{}",
                err.message
            );
        } else {
            assert!(result.is_ok());
        }
    }

    #[test]
    fn reads_every_tiff_page() {
        let Some(bytes) = testdata::read("multipage_rgb.tif") else {
            return;
        };
        let (format, pages) = decode_frames(&bytes, &ImageLimits::default(), true).unwrap();
        assert_eq!(format, ImageFormat::Tiff);
        assert!(
            pages.len() > 1,
            "the file has several pages, got {}",
            pages.len()
        );
        let (_, first) = decode(&bytes, &ImageLimits::default()).unwrap();
        assert_eq!(
            pages[0].to_rgb8(),
            first.to_rgb8(),
            "page 1 matches image's decoder"
        );
    }

    #[test]
    fn caps_tiff_pages() {
        let Some(bytes) = testdata::read("multipage_rgb.tif") else {
            return;
        };
        let limits = ImageLimits {
            max_frames: 1,
            ..ImageLimits::default()
        };
        let err = decode_frames(&bytes, &limits, true).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(err.message, "tiff has more than 1 pages");
    }

    #[test]
    fn returns_one_frame_for_still_images() {
        let Some(bytes) = testdata::read("astronaut.png") else {
            return;
        };
        let (format, frames) = decode_frames(&bytes, &ImageLimits::default(), true).unwrap();
        assert_eq!(format, ImageFormat::Png);
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn unpacks_one_bit_rows_padded_to_bytes() {
        // 10 pixels a row: two bytes, the last six bits padding.
        let packed = [0b1010_0000, 0b0100_0000, 0b1111_1111, 0b1100_0000];
        let gray = unpack_gray(&packed, 10, 2, 1).unwrap();
        assert_eq!(&gray[..10], &[255, 0, 255, 0, 0, 0, 0, 0, 0, 255]);
        assert_eq!(&gray[10..], &[255; 10]);
    }

    #[test]
    fn converts_cmyk_without_a_profile() {
        assert_eq!(
            cmyk_to_rgb(&[0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255]),
            [255, 255, 255, 0, 255, 255, 0, 0, 0]
        );
    }
}

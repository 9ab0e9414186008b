//! Every frame of an animation or page of a multi-page TIFF.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::metadata::Orientation;
use image::{AnimationDecoder, DynamicImage, ImageBuffer, ImageDecoder};
use tiff::decoder::{ChunkType, Decoder as TiffDecoder};
use tiff::tags::Tag;
use tiff::{ColorType as TiffColor, TiffError};

use crate::domain::{ImageFormat, ImageLimits};
use crate::error::{Error, ErrorCode, Result};
use crate::media::cancel::checkpoint;
use crate::media::decode::{check_dimensions, decoder_limits, decoding_error, upright_size};
use crate::media::{decode, probe};

/// All frames together may hold this many times `max_pixels`. `max_pixels` bounds one frame
/// and `max_frames` their number, but their product (15 billion pixels by default) is no
/// bound on memory at all.
const ALL_FRAMES_PIXEL_FACTOR: u64 = 4;

/// The widest pixel a TIFF page we convert may decode to (RGBA, 64-bit float per channel),
/// so that no page within the pixel limit trips the byte caps derived from it.
const MAX_BYTES_PER_PIXEL: u64 = 32;

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
        ImageFormat::Tiff => tiff_pages(bytes, limits, true)?,
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
                    "the {unit} of this {what} together exceed {budget} pixels, the limit for all {unit}",
                    unit = self.unit,
                    what = self.what
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
        checkpoint()?;
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

/// The size of the first TIFF page from its directory alone. image's TIFF decoder refuses
/// files it cannot decode (planar, float64) even when only asked for their size.
pub(crate) fn tiff_dimensions(bytes: &[u8]) -> Result<(u32, u32)> {
    let mut decoder = TiffDecoder::new(Cursor::new(bytes)).map_err(tiff_error)?;
    let size = decoder.dimensions().map_err(tiff_error)?;
    Ok(upright_size(size, tiff_orientation(&mut decoder)?))
}

/// The page's `Orientation` tag (274); absent or out of range means upright.
fn tiff_orientation(decoder: &mut TiffDecoder<Cursor<&[u8]>>) -> Result<Orientation> {
    let tag = decoder
        .find_tag_unsigned::<u16>(Tag::Orientation)
        .map_err(tiff_error)?;
    Ok(tag
        .and_then(|value| u8::try_from(value).ok())
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms))
}

/// Every page (or only the first unless `all`), read with the tiff crate directly: image's
/// TIFF decoder stops at the first page and cannot read planar or float64 samples.
pub(crate) fn tiff_pages(
    bytes: &[u8],
    limits: &ImageLimits,
    all: bool,
) -> Result<Vec<DynamicImage>> {
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size = max_page_bytes(limits);
    let mut decoder = TiffDecoder::new(Cursor::new(bytes))
        .map_err(tiff_error)?
        .with_limits(tiff_limits);
    let mut budget = FrameBudget::new(limits, "tiff", "pages");
    let mut pages = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(tiff_error)?;
        budget.admit(width, height)?;
        checkpoint()?;
        let orientation = tiff_orientation(&mut decoder)?;
        let mut page = read_tiff_page(&mut decoder, limits, pages.len() + 1)?;
        page.apply_orientation(orientation);
        pages.push(page);
        if !all || !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(tiff_error)?;
    }
    Ok(pages)
}

fn max_page_bytes(limits: &ImageLimits) -> usize {
    let bytes = limits.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// How a page's channels are arranged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Channels {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
    Cmyk,
}

impl Channels {
    fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::GrayAlpha => 2,
            Channels::Rgb => 3,
            Channels::Rgba | Channels::Cmyk => 4,
        }
    }
}

/// How one sample is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sample {
    /// 1, 2 or 4 bits, rows padded to whole bytes.
    Packed(u8),
    U8,
    U16,
    F32,
    F64,
}

impl Sample {
    fn bytes(self) -> usize {
        match self {
            Sample::Packed(_) | Sample::U8 => 1,
            Sample::U16 => 2,
            Sample::F32 => 4,
            Sample::F64 => 8,
        }
    }
}

const SAMPLE_FORMAT_UINT: u16 = 1;
const SAMPLE_FORMAT_FLOAT: u16 = 3;
const PLANAR_CONFIGURATION_SEPARATE: u16 = 2;

fn read_tiff_page(
    decoder: &mut TiffDecoder<Cursor<&[u8]>>,
    limits: &ImageLimits,
    page: usize,
) -> Result<DynamicImage> {
    let (width, height) = decoder.dimensions().map_err(tiff_error)?;
    let color = decoder.colortype().map_err(tiff_error)?;
    let sample_format = decoder
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .map_err(tiff_error)?
        .and_then(|formats| formats.first().copied())
        .unwrap_or(SAMPLE_FORMAT_UINT);
    // Refuse what cannot be converted before spending time and memory decoding it.
    let (channels, sample) = page_layout(color, sample_format).ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "the tiff image uses a colour type imgforge cannot read on page {page}: \
                 {color:?} with sample format {sample_format}"
            ),
        )
    })?;
    let pixels = usize::try_from(u64::from(width) * u64::from(height)).unwrap_or(usize::MAX);
    let needed = pixels
        .saturating_mul(channels.count())
        .saturating_mul(sample.bytes());
    if needed > max_page_bytes(limits) {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!("tiff page {page} would decode to {needed} bytes, more than the limit allows"),
        ));
    }
    let planar = decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(tiff_error)?
        == Some(PLANAR_CONFIGURATION_SEPARATE);
    let samples = if planar {
        read_planar(decoder, channels, sample, page)?
    } else {
        let layout = decoder.image_buffer_layout().map_err(tiff_error)?;
        let mut buffer = vec![0u8; layout.len];
        decoder.read_image_bytes(&mut buffer).map_err(tiff_error)?;
        buffer
    };
    page_image(width, height, channels, sample, samples).ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "the tiff image is truncated or corrupt: page {page} has the wrong amount of pixel data"
            ),
        )
    })
}

fn page_layout(color: TiffColor, sample_format: u16) -> Option<(Channels, Sample)> {
    let (channels, bits) = match color {
        TiffColor::Gray(bits) => (Channels::Gray, bits),
        TiffColor::GrayA(bits) => (Channels::GrayAlpha, bits),
        TiffColor::RGB(bits) => (Channels::Rgb, bits),
        TiffColor::RGBA(bits) => (Channels::Rgba, bits),
        TiffColor::CMYK(bits) => (Channels::Cmyk, bits),
        TiffColor::Palette(_)
        | TiffColor::CMYKA(_)
        | TiffColor::YCbCr(_)
        | TiffColor::Multiband { .. } => return None,
        // Colour types added to the tiff crate after this was written.
        _ => return None,
    };
    let sample = match (sample_format, bits) {
        (SAMPLE_FORMAT_UINT, 1 | 2 | 4) if channels == Channels::Gray => Sample::Packed(bits),
        (SAMPLE_FORMAT_UINT, 8) => Sample::U8,
        (SAMPLE_FORMAT_UINT, 16) => Sample::U16,
        (SAMPLE_FORMAT_FLOAT, 32) if channels != Channels::Cmyk => Sample::F32,
        (SAMPLE_FORMAT_FLOAT, 64) if channels != Channels::Cmyk => Sample::F64,
        _ => return None,
    };
    Some((channels, sample))
}

/// Reads a page stored one plane per channel (PlanarConfiguration 2) and interleaves it,
/// which the tiff crate's `read_image` does not do (it returns the first plane only).
fn read_planar(
    decoder: &mut TiffDecoder<Cursor<&[u8]>>,
    channels: Channels,
    sample: Sample,
    page: usize,
) -> Result<Vec<u8>> {
    let unsupported = |what: &str| {
        Error::new(
            ErrorCode::InvalidArgument,
            format!("the tiff image uses a feature imgforge cannot read on page {page}: {what}"),
        )
    };
    if matches!(sample, Sample::Packed(_)) {
        return Err(unsupported("planar samples under 8 bits"));
    }
    if decoder.get_chunk_type() == ChunkType::Tile {
        return Err(unsupported("planar tiles"));
    }
    let (width, height) = decoder.dimensions().map_err(tiff_error)?;
    let (width, height) = (width as usize, height as usize);
    let sample_bytes = sample.bytes();
    let row_bytes = width * sample_bytes;
    let plane_bytes = row_bytes * height;
    // The tiff crate has checked that the strip offsets match this layout.
    let rows_per_strip = (decoder.chunk_dimensions().1 as usize).max(1);
    let strips_per_plane = height.saturating_sub(1) / rows_per_strip + 1;
    let strips = strips_per_plane * channels.count();
    let mut planes = vec![0u8; plane_bytes * channels.count()];
    for strip in 0..strips {
        let plane = strip / strips_per_plane;
        let first_row = (strip % strips_per_plane) * rows_per_strip;
        let strip_index = u32::try_from(strip).map_err(|_| corrupt_page(page))?;
        let rows = decoder.chunk_data_dimensions(strip_index).1 as usize;
        let start = plane * plane_bytes + first_row * row_bytes;
        let target = planes
            .get_mut(start..start + rows * row_bytes)
            .ok_or_else(|| corrupt_page(page))?;
        decoder
            .read_chunk_bytes(strip_index, target)
            .map_err(tiff_error)?;
    }
    let mut interleaved = vec![0u8; planes.len()];
    let pixel_bytes = sample_bytes * channels.count();
    for (channel, plane) in planes.chunks_exact(plane_bytes).enumerate() {
        for (pixel, value) in plane.chunks_exact(sample_bytes).enumerate() {
            let at = pixel * pixel_bytes + channel * sample_bytes;
            interleaved[at..at + sample_bytes].copy_from_slice(value);
        }
    }
    Ok(interleaved)
}

fn corrupt_page(page: usize) -> Error {
    Error::new(
        ErrorCode::InvalidArgument,
        format!("the tiff image is truncated or corrupt: page {page} has inconsistent strips"),
    )
}

/// Wraps a page's samples (native-endian bytes, channels interleaved) in the matching image
/// buffer; `None` if their count does not match the size.
fn page_image(
    width: u32,
    height: u32,
    channels: Channels,
    sample: Sample,
    bytes: Vec<u8>,
) -> Option<DynamicImage> {
    let image = match sample {
        Sample::Packed(bits) => {
            let gray = unpack_gray(&bytes, width, height, bits)?;
            DynamicImage::ImageLuma8(ImageBuffer::from_raw(width, height, gray)?)
        }
        Sample::U8 => match channels {
            Channels::Gray => {
                DynamicImage::ImageLuma8(ImageBuffer::from_raw(width, height, bytes)?)
            }
            Channels::GrayAlpha => {
                DynamicImage::ImageLumaA8(ImageBuffer::from_raw(width, height, bytes)?)
            }
            Channels::Rgb => DynamicImage::ImageRgb8(ImageBuffer::from_raw(width, height, bytes)?),
            Channels::Rgba => {
                DynamicImage::ImageRgba8(ImageBuffer::from_raw(width, height, bytes)?)
            }
            Channels::Cmyk => DynamicImage::ImageRgb8(ImageBuffer::from_raw(
                width,
                height,
                cmyk_to_rgb(&bytes, u8::MAX),
            )?),
        },
        Sample::U16 => {
            let samples: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .collect();
            match channels {
                Channels::Gray => {
                    DynamicImage::ImageLuma16(ImageBuffer::from_raw(width, height, samples)?)
                }
                Channels::GrayAlpha => {
                    DynamicImage::ImageLumaA16(ImageBuffer::from_raw(width, height, samples)?)
                }
                Channels::Rgb => {
                    DynamicImage::ImageRgb16(ImageBuffer::from_raw(width, height, samples)?)
                }
                Channels::Rgba => {
                    DynamicImage::ImageRgba16(ImageBuffer::from_raw(width, height, samples)?)
                }
                Channels::Cmyk => DynamicImage::ImageRgb16(ImageBuffer::from_raw(
                    width,
                    height,
                    cmyk_to_rgb(&samples, u16::MAX),
                )?),
            }
        }
        Sample::F32 | Sample::F64 => {
            let samples: Vec<f32> = if sample == Sample::F32 {
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            } else {
                bytes
                    .chunks_exact(8)
                    .map(|b| {
                        let mut raw = [0u8; 8];
                        raw.copy_from_slice(b);
                        f64::from_ne_bytes(raw) as f32
                    })
                    .collect()
            };
            float_image(width, height, channels, samples)?
        }
    };
    Some(image)
}

/// Float samples are taken as 0.0–1.0. image has float buffers only for RGB and RGBA, so grey
/// becomes 16-bit, which keeps more precision than any output format.
fn float_image(
    width: u32,
    height: u32,
    channels: Channels,
    samples: Vec<f32>,
) -> Option<DynamicImage> {
    let to_u16 = |v: f32| (v.clamp(0.0, 1.0) * f32::from(u16::MAX)).round() as u16;
    Some(match channels {
        Channels::Gray => DynamicImage::ImageLuma16(ImageBuffer::from_raw(
            width,
            height,
            samples.into_iter().map(to_u16).collect(),
        )?),
        Channels::GrayAlpha => DynamicImage::ImageLumaA16(ImageBuffer::from_raw(
            width,
            height,
            samples.into_iter().map(to_u16).collect(),
        )?),
        Channels::Rgb => DynamicImage::ImageRgb32F(ImageBuffer::from_raw(width, height, samples)?),
        Channels::Rgba => {
            DynamicImage::ImageRgba32F(ImageBuffer::from_raw(width, height, samples)?)
        }
        Channels::Cmyk => return None,
    })
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
fn cmyk_to_rgb<T>(cmyk: &[T], max: T) -> Vec<T>
where
    T: Copy + Into<u32> + TryFrom<u32>,
{
    let max_value: u32 = max.into();
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for pixel in cmyk.chunks_exact(4) {
        let white = max_value - pixel[3].into();
        for &ink in &pixel[..3] {
            let value = (max_value - ink.into()) * white / max_value;
            rgb.push(T::try_from(value).unwrap_or(max));
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

    /// The error of a call that must fail, without printing a decoded image if it did not.
    fn refused<T>(result: Result<T>, why: &str) -> Error {
        match result {
            Ok(_) => panic!("{why}"),
            Err(err) => err,
        }
    }

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
        let err = refused(decode_frames(&bytes, &limits, true), "more than 2 frames");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(err.message, "animation has more than 2 frames");
        // Only asking for the first frame is never refused for the count.
        assert!(decode_frames(&bytes, &limits, false).is_ok());
    }

    /// An animated GIF of `count` solid 4x4 frames, each a different shade.
    fn gif_of(count: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        let frames = (0..count).map(|shade| {
            let pixel = image::Rgba([shade.wrapping_mul(40), 0, 0, 255]);
            image::Frame::new(image::RgbaImage::from_pixel(4, 4, pixel))
        });
        encoder.encode_frames(frames).unwrap();
        drop(encoder);
        out
    }

    #[test]
    fn caps_the_pixels_of_all_frames_together() {
        // Each 16-pixel frame is within max_pixels; together the six are not.
        let limits = ImageLimits {
            max_pixels: 16,
            ..ImageLimits::default()
        };
        let (_, frames) = decode_frames(&gif_of(4), &limits, true).unwrap();
        assert_eq!(frames.len() as u64, ALL_FRAMES_PIXEL_FACTOR);
        let err = refused(
            decode_frames(&gif_of(6), &limits, true),
            "over the pixel budget",
        );
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(
            err.message,
            "the frames of this animation together exceed 64 pixels, the limit for all frames"
        );
    }

    #[test]
    fn reads_every_tiff_page() {
        let Some(bytes) = testdata::read("multipage_rgb.tif") else {
            return;
        };
        // Two 10x10 RGB pages of 64-bit floats, one plane per channel.
        let (format, pages) = decode_frames(&bytes, &ImageLimits::default(), true).unwrap();
        assert_eq!(format, ImageFormat::Tiff);
        assert_eq!(pages.len(), 2);
        for page in &pages {
            assert_eq!((page.width(), page.height()), (10, 10));
            assert_eq!(page.color(), image::ColorType::Rgb32F);
        }
        assert_ne!(pages[0], pages[1], "pages are read, not repeated");
        let (_, first) = decode(&bytes, &ImageLimits::default()).unwrap();
        assert_eq!(pages[0], first, "decode returns the first page");
    }

    /// A TIFF with one page per image, written by the tiff crate's encoder.
    fn tiff_of<C: tiff::encoder::colortype::ColorType>(pages: &[(u32, u32, &[C::Inner])]) -> Vec<u8>
    where
        [C::Inner]: tiff::encoder::TiffValue,
    {
        let mut out = Cursor::new(Vec::new());
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
        for (width, height, data) in pages {
            encoder.write_image::<C>(*width, *height, data).unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn reads_sixteen_bit_and_cmyk_pages() {
        let gray: Vec<u16> = (0..12).map(|v| v * 5000).collect();
        let cmyk: Vec<u8> = [0, 0, 0, 0, 255, 0, 0, 0].repeat(3);
        let mut bytes = tiff_of::<tiff::encoder::colortype::Gray16>(&[(4, 3, &gray)]);
        let (_, pages) = decode_frames(&bytes, &ImageLimits::default(), true).unwrap();
        assert_eq!(pages[0].as_luma16().unwrap().as_raw(), &gray);

        bytes = tiff_of::<tiff::encoder::colortype::CMYK8>(&[(2, 3, &cmyk)]);
        let (_, pages) = decode_frames(&bytes, &ImageLimits::default(), true).unwrap();
        let rgb = pages[0].as_rgb8().unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 255, 255]);
    }

    #[test]
    fn refuses_a_tiff_page_over_the_limits() {
        let small = vec![0u8; 4];
        let large = vec![0u8; 30 * 30];
        let bytes = tiff_of::<tiff::encoder::colortype::Gray8>(&[(2, 2, &small), (30, 30, &large)]);
        let limits = ImageLimits {
            max_pixels: 100,
            ..ImageLimits::default()
        };
        let err = refused(decode_frames(&bytes, &limits, true), "page 2 is too large");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(err.message.starts_with("image is 30x30"), "{}", err.message);
        let (_, first) = decode_frames(&bytes, &limits, false).unwrap();
        assert_eq!(first.len(), 1);
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
        let err = refused(
            decode_frames(&bytes, &limits, true),
            "the input must be refused",
        );
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
            cmyk_to_rgb(&[0u8, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255], u8::MAX),
            [255, 255, 255, 0, 255, 255, 0, 0, 0]
        );
    }
}

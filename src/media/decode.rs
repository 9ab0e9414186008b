//! Decoding under limits: dimensions are checked from the header before any pixel allocation.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};

use crate::domain::{ImageFormat, ImageLimits};
use crate::error::{Error, ErrorCode, Result};
use crate::media::cancel::checkpoint;
use crate::media::{frames, sniff, svg};

/// The widest pixel any decoder can produce (RGBA, 32-bit float per channel). Allocation caps
/// derived from `max_pixels` use it so that no image within the pixel limit trips them.
const MAX_BYTES_PER_PIXEL: u64 = 16;

/// Format and size from the header alone, checked against `limits`.
pub fn probe(bytes: &[u8], limits: &ImageLimits) -> Result<(ImageFormat, u32, u32)> {
    check_input_size(bytes, limits)?;
    let format = sniff(bytes)?;
    let (width, height) = match format {
        ImageFormat::Svg => svg::svg_size(bytes, limits)?,
        ImageFormat::Png
        | ImageFormat::Jpeg
        | ImageFormat::Webp
        | ImageFormat::Gif
        | ImageFormat::Bmp
        | ImageFormat::Tiff => header_dimensions(bytes, format)?,
    };
    check_dimensions(width, height, limits)?;
    Ok((format, width, height))
}

/// The first frame or page, decoded (SVG rasterised at its natural size).
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<(ImageFormat, DynamicImage)> {
    check_input_size(bytes, limits)?;
    let format = sniff(bytes)?;
    checkpoint()?;
    let image = match format {
        // Rasterising checks the size itself; probing first would parse the document twice.
        ImageFormat::Svg => DynamicImage::ImageRgba8(svg::rasterize(bytes, limits)?),
        // The tiff crate reads planar and float pages that image's TIFF decoder refuses, and
        // checks each page's size itself.
        ImageFormat::Tiff => frames::tiff_pages(bytes, limits, false)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("the tiff reader returned no page"))?,
        ImageFormat::Png
        | ImageFormat::Jpeg
        | ImageFormat::Webp
        | ImageFormat::Gif
        | ImageFormat::Bmp => {
            let (width, height) = header_dimensions(bytes, format)?;
            check_dimensions(width, height, limits)?;
            if format == ImageFormat::Jpeg {
                check_jpeg_complete(bytes)?;
            }
            decode_raster(bytes, format, limits)?
        }
    };
    Ok((format, image))
}

/// Refuses encoded input larger than `limits.max_input_bytes`.
pub(crate) fn check_input_size(bytes: &[u8], limits: &ImageLimits) -> Result<()> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > limits.max_input_bytes {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "image is {len} bytes; the limit is {} bytes",
                limits.max_input_bytes
            ),
        ));
    }
    Ok(())
}

/// Refuses a frame whose width, height or pixel count exceeds `limits`.
pub(crate) fn check_dimensions(width: u32, height: u32, limits: &ImageLimits) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "image is {width}x{height} ({pixels} pixels); the limit is {}x{} and {} pixels",
                limits.max_width, limits.max_height, limits.max_pixels
            ),
        ));
    }
    Ok(())
}

/// image's own limits, a second line of defence behind [`check_dimensions`] for decoders whose
/// frames or allocations can exceed what the header announced.
pub(crate) fn decoder_limits(limits: &ImageLimits) -> image::Limits {
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL));
    decoder_limits
}

/// Width and height as the header states them, without decoding pixels.
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32)> {
    if format == ImageFormat::Tiff {
        return frames::tiff_dimensions(bytes);
    }
    let mut reader = raster_reader(bytes, format)?;
    // Unlimited here so an oversized image gets our message, which names the limits, rather
    // than the decoder's.
    reader.no_limits();
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| decoding_error(format, err))?;
    // The size as displayed: a portrait photo stored sideways is reported portrait, as it
    // decodes.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(upright_size(decoder.dimensions(), orientation))
}

/// Decodes the pixels and turns them upright as the EXIF orientation says (JPEG, PNG `eXIf`,
/// WebP `EXIF`); results are written without EXIF, so the pixels must carry the orientation.
fn decode_raster(bytes: &[u8], format: ImageFormat, limits: &ImageLimits) -> Result<DynamicImage> {
    let mut reader = raster_reader(bytes, format)?;
    reader.limits(decoder_limits(limits));
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| decoding_error(format, err))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|err| decoding_error(format, err))?;
    checkpoint()?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Whether displaying an image in `orientation` swaps its width and height.
pub(crate) fn swaps_sides(orientation: Orientation) -> bool {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => true,
        Orientation::NoTransforms
        | Orientation::Rotate180
        | Orientation::FlipHorizontal
        | Orientation::FlipVertical => false,
    }
}

/// `(width, height)` as displayed in `orientation`.
pub(crate) fn upright_size((width, height): (u32, u32), orientation: Orientation) -> (u32, u32) {
    if swaps_sides(orientation) {
        (height, width)
    } else {
        (width, height)
    }
}

fn raster_reader(bytes: &[u8], format: ImageFormat) -> Result<ImageReader<Cursor<&[u8]>>> {
    let theirs = image_format(format)
        .ok_or_else(|| Error::internal(format!("{} is not a raster format", format.name())))?;
    Ok(ImageReader::with_format(Cursor::new(bytes), theirs))
}

/// Refuses a JPEG whose data ends before its end-of-image marker. image's JPEG decoder
/// (zune-jpeg, lenient mode) fills the missing rows with grey instead of failing, so a cut-off
/// download would otherwise come back as a half-grey picture.
fn check_jpeg_complete(bytes: &[u8]) -> Result<()> {
    match jpeg_end(bytes) {
        JpegEnd::Complete | JpegEnd::Unknown => Ok(()),
        JpegEnd::Truncated => Err(Error::new(
            ErrorCode::InvalidArgument,
            "the jpeg image is truncated or corrupt: the data ends before the end-of-image marker",
        )),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum JpegEnd {
    /// The end-of-image marker was reached by walking the segments.
    Complete,
    /// The data ran out inside a segment or scan.
    Truncated,
    /// The structure is unusual; leave the verdict to the decoder.
    Unknown,
}

/// Walks the JPEG marker segments and entropy-coded scans up to the end-of-image marker.
fn jpeg_end(bytes: &[u8]) -> JpegEnd {
    const SOS: u8 = 0xda;
    const EOI: u8 = 0xd9;
    let mut at = 2; // past SOI
    loop {
        // Markers may be preceded by any number of 0xff fill bytes.
        while bytes.get(at) == Some(&0xff) && bytes.get(at + 1) == Some(&0xff) {
            at += 1;
        }
        let marker = match (bytes.get(at), bytes.get(at + 1)) {
            (Some(0xff), Some(&marker)) => marker,
            (None, _) | (Some(0xff), None) => return JpegEnd::Truncated,
            (Some(_), _) => return JpegEnd::Unknown,
        };
        at += 2;
        match marker {
            EOI => return JpegEnd::Complete,
            // Standalone markers carry no length.
            0x01 | 0xd0..=0xd7 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(at..at + 2) else {
            return JpegEnd::Truncated;
        };
        at += usize::from(u16::from_be_bytes([length[0], length[1]]));
        if at > bytes.len() {
            return JpegEnd::Truncated;
        }
        if marker == SOS {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xff00 or a
            // restart marker.
            loop {
                let Some(offset) = bytes[at..].iter().position(|&b| b == 0xff) else {
                    return JpegEnd::Truncated;
                };
                at += offset;
                match bytes.get(at + 1) {
                    None => return JpegEnd::Truncated,
                    Some(0x00 | 0xd0..=0xd7 | 0xff) => at += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// image's name for one of our raster formats; `None` for SVG, which image does not read.
pub(crate) fn image_format(format: ImageFormat) -> Option<image::ImageFormat> {
    Some(match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
        ImageFormat::Tiff => image::ImageFormat::Tiff,
        ImageFormat::Svg => return None,
    })
}

/// Maps a decoder failure to the caller's fault (bad data, too large) or ours.
pub(crate) fn decoding_error(format: ImageFormat, err: ImageError) -> Error {
    let name = format.name();
    match err {
        // Reading from memory, an I/O error can only mean the data ended early.
        ImageError::Decoding(_) | ImageError::IoError(_) | ImageError::Parameter(_) => Error::new(
            ErrorCode::InvalidArgument,
            format!("the {name} image is truncated or corrupt: {err}"),
        ),
        ImageError::Unsupported(_) => Error::new(
            ErrorCode::InvalidArgument,
            format!("the {name} image uses a feature imgforge cannot read: {err}"),
        ),
        ImageError::Limits(_) => Error::new(
            ErrorCode::PayloadTooLarge,
            format!("the {name} image exceeds the decoding limits: {err}"),
        ),
        ImageError::Encoding(_) => Error::internal(format!("decoding the {name} image: {err}")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::media::testdata;

    /// The error of a call that must fail, without printing a decoded image if it did not.
    fn refused<T>(result: Result<T>, why: &str) -> Error {
        match result {
            Ok(_) => panic!("{why}"),
            Err(err) => err,
        }
    }

    /// A PNG chunk with its length and CRC.
    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = Vec::with_capacity(data.len() + 12);
        chunk.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        let crc = crc32(&chunk[4..]);
        chunk.extend_from_slice(&crc.to_be_bytes());
        chunk
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffff_u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xedb8_8320 & mask);
            }
        }
        !crc
    }

    /// A well-formed PNG header for an RGBA image of the given size, with a tiny IDAT: enough
    /// for a decoder to believe it and try to allocate the pixels.
    pub(crate) fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(png_chunk(b"IHDR", &ihdr));
        // A zlib stream of a few zero bytes, far fewer than the header promises.
        png.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
        ));
        png.extend(png_chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn refuses_png_whose_header_claims_50000x50000() {
        let bytes = png_claiming(50_000, 50_000);
        let limits = ImageLimits::default();
        let started = Instant::now();

        let err = refused(probe(&bytes, &limits), "probe must refuse");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert_eq!(
            err.message,
            "image is 50000x50000 (2500000000 pixels); the limit is 16384x16384 and 50000000 pixels"
        );
        let err = refused(decode(&bytes, &limits), "decode must refuse");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);

        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused without allocating"
        );
    }

    #[test]
    fn refuses_pixel_count_within_width_and_height() {
        let limits = ImageLimits {
            max_pixels: 100,
            ..ImageLimits::default()
        };
        let err = refused(
            probe(&png_claiming(20, 20), &limits),
            "the input must be refused",
        );
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(err.message.contains("(400 pixels)"), "{}", err.message);
    }

    #[test]
    fn refuses_input_over_the_byte_limit() {
        let limits = ImageLimits {
            max_input_bytes: 10,
            ..ImageLimits::default()
        };
        let err = refused(
            probe(&png_claiming(1, 1), &limits),
            "the input must be refused",
        );
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.message.ends_with("the limit is 10 bytes"),
            "{}",
            err.message
        );
    }

    #[test]
    fn reports_truncated_jpeg() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        let truncated = &bytes[..bytes.len() / 2];
        let err = refused(decode(truncated, &ImageLimits::default()), "must refuse");
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message
                .starts_with("the jpeg image is truncated or corrupt: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn accepts_complete_jpegs_with_trailing_bytes() {
        for name in ["astronaut.jpg", "rocket.jpg", "hubble_deep_field.jpg"] {
            let Some(mut bytes) = testdata::read(name) else {
                return;
            };
            assert_eq!(jpeg_end(&bytes), JpegEnd::Complete, "{name}");
            // Some cameras and editors append data after the end-of-image marker.
            bytes.extend_from_slice(b"trailing");
            assert!(decode(&bytes, &ImageLimits::default()).is_ok(), "{name}");
        }
    }

    #[test]
    fn finds_the_cut_in_every_truncated_jpeg() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        for len in (3..bytes.len() - 1).step_by(997).chain([bytes.len() - 1]) {
            assert_eq!(jpeg_end(&bytes[..len]), JpegEnd::Truncated, "cut at {len}");
        }
    }

    #[test]
    fn reports_truncated_png() {
        let Some(bytes) = testdata::read("astronaut.png") else {
            return;
        };
        let err = refused(
            decode(&bytes[..bytes.len() / 2], &ImageLimits::default()),
            "the input must be refused",
        );
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(
            err.message
                .starts_with("the png image is truncated or corrupt: ")
        );
    }

    #[test]
    fn probes_and_decodes_every_raster_test_image() {
        let limits = ImageLimits::default();
        for name in [
            "astronaut.png",
            "astronaut.jpg",
            "astronaut.webp",
            "astronaut.bmp",
            "logo.png",
            "no_time_for_that_tiny.gif",
            "multipage_rgb.tif",
        ] {
            let Some(bytes) = testdata::read(name) else {
                return;
            };
            let (format, width, height) = probe(&bytes, &limits).unwrap();
            let (decoded_format, image) = decode(&bytes, &limits).unwrap();
            assert_eq!(format, decoded_format, "{name}");
            assert_eq!((image.width(), image.height()), (width, height), "{name}");
        }
    }

    #[test]
    fn keeps_the_alpha_channel_of_a_png() {
        let Some(bytes) = testdata::read("logo.png") else {
            return;
        };
        let (_, image) = decode(&bytes, &ImageLimits::default()).unwrap();
        assert!(image.color().has_alpha());
    }

    /// A 40×20 JPEG, red left and blue right, whose EXIF says to turn it a quarter clockwise.
    pub(crate) fn sideways_jpeg() -> Vec<u8> {
        let picture = image::RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([220, 20, 20])
            } else {
                image::Rgb([20, 20, 220])
            }
        });
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(picture)
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        // Big-endian TIFF header, one IFD entry: Orientation (0x0112), SHORT, 1, value 6.
        let mut app1 =
            b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
        let length = u16::try_from(app1.len() + 2).unwrap().to_be_bytes();
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xff, 0xe1, length[0], length[1]]);
        out.append(&mut app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn turns_a_sideways_jpeg_upright() {
        let bytes = sideways_jpeg();
        let limits = ImageLimits::default();
        assert_eq!(probe(&bytes, &limits).unwrap(), (ImageFormat::Jpeg, 20, 40));
        let (_, image) = decode(&bytes, &limits).unwrap();
        let rgb = image.to_rgb8();
        assert_eq!(rgb.dimensions(), (20, 40));
        assert!(rgb.get_pixel(10, 5).0[0] > 150, "red on top");
        assert!(rgb.get_pixel(10, 35).0[2] > 150, "blue below");
    }

    #[test]
    fn probes_svg_at_its_raster_size() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10.2" height="20"/>"#;
        assert_eq!(
            probe(svg, &ImageLimits::default()).unwrap(),
            (ImageFormat::Svg, 11, 20)
        );
    }
}

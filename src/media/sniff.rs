//! Format detection from the bytes themselves, never from names or headers.

use crate::domain::ImageFormat;
use crate::error::{Error, ErrorCode, Result};

/// How far into the data the `<svg` root element may start. Prologs (XML declaration,
/// comments, a DOCTYPE with an entity subset as editors write them) are short; a document
/// whose root starts later is not worth parsing just to find out.
const SVG_ROOT_WINDOW: usize = 32 * 1024;

/// The real format of `bytes`, or an InvalidArgument error naming what was found.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorCode::InvalidArgument, "image is empty"));
    }
    if let Some(format) = raster_format(bytes) {
        return Ok(format);
    }
    if is_svg(bytes) {
        return Ok(ImageFormat::Svg);
    }
    Err(Error::new(
        ErrorCode::InvalidArgument,
        format!(
            "not a supported image (jpeg, png, webp, gif, bmp, tiff, svg): the data {}",
            describe(bytes)
        ),
    ))
}

/// The raster formats imgforge reads, recognised by their magic bytes.
fn raster_format(bytes: &[u8]) -> Option<ImageFormat> {
    const READABLE: [(image::ImageFormat, ImageFormat); 6] = [
        (image::ImageFormat::Png, ImageFormat::Png),
        (image::ImageFormat::Jpeg, ImageFormat::Jpeg),
        (image::ImageFormat::WebP, ImageFormat::Webp),
        (image::ImageFormat::Gif, ImageFormat::Gif),
        (image::ImageFormat::Bmp, ImageFormat::Bmp),
        (image::ImageFormat::Tiff, ImageFormat::Tiff),
    ];
    // image's table lacks BigTIFF, which the tiff crate reads.
    if bytes.starts_with(b"II+\0") || bytes.starts_with(b"MM\0+") {
        return Some(ImageFormat::Tiff);
    }
    let guessed = image::guess_format(bytes).ok()?;
    READABLE
        .iter()
        .find(|(theirs, _)| *theirs == guessed)
        .map(|(_, ours)| *ours)
}

/// Whether `bytes` is an XML document whose root element is `<svg>`: an optional BOM and
/// whitespace, then any of XML declaration, processing instructions, comments and a DOCTYPE,
/// then `<svg`. A full parse happens later, under limits, in [`crate::media::svg`].
fn is_svg(bytes: &[u8]) -> bool {
    let window = &bytes[..bytes.len().min(SVG_ROOT_WINDOW)];
    let mut rest = window.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(window);
    loop {
        rest = rest.trim_ascii_start();
        let skipped = if rest.starts_with(b"<?") {
            skip_past(rest, b"?>")
        } else if rest.starts_with(b"<!--") {
            skip_past(rest, b"-->")
        } else if starts_with_ignore_case(rest, b"<!DOCTYPE") {
            skip_doctype(rest)
        } else {
            return starts_svg_element(rest);
        };
        match skipped {
            Some(after) => rest = after,
            None => return false,
        }
    }
}

/// `<svg` followed by whitespace, `>` or `/`, or a namespace-prefixed `<prefix:svg`.
fn starts_svg_element(text: &[u8]) -> bool {
    let Some(tag) = text.strip_prefix(b"<") else {
        return false;
    };
    let name_len = tag
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .unwrap_or(tag.len());
    if name_len == tag.len() {
        // The tag name runs to the end of the window: cannot tell.
        return false;
    }
    let name = &tag[..name_len];
    let local = match name.iter().position(|b| *b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    };
    local == b"svg"
}

fn skip_past<'a>(text: &'a [u8], end: &[u8]) -> Option<&'a [u8]> {
    let at = text.windows(end.len()).position(|w| w == end)?;
    Some(&text[at + end.len()..])
}

/// A DOCTYPE ends at the first `>` outside its `[...]` internal subset and outside quotes.
fn skip_doctype(text: &[u8]) -> Option<&[u8]> {
    let mut in_subset = false;
    let mut quote = None;
    for (i, &b) in text.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => in_subset = true,
            (None, b']') => in_subset = false,
            (None, b'>') if !in_subset => return Some(&text[i + 1..]),
            (None, _) => {}
        }
    }
    None
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// A short description of unsupported data, so a caller who sent an HTML error page or a PDF
/// learns that rather than a bare "unsupported".
fn describe(bytes: &[u8]) -> String {
    if let Some(what) = known_non_image(bytes) {
        return format!("looks like {what}");
    }
    if let Ok(other) = image::guess_format(bytes) {
        let name = other.extensions_str().first().copied().unwrap_or("unknown");
        return format!("looks like a {name} image, which imgforge does not read");
    }
    let head = &bytes[..bytes.len().min(512)];
    let text = std::str::from_utf8(head).or_else(|err| {
        // A multi-byte character cut at the window's end still counts as text.
        std::str::from_utf8(&head[..err.valid_up_to()])
    });
    let printable = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| !c.is_control() || c.is_ascii_whitespace())
    };
    if let Some(text) = text.ok().filter(|text| printable(text)) {
        let trimmed = text.trim_start().to_ascii_lowercase();
        if trimmed.starts_with("<!doctype html") || trimmed.starts_with("<html") {
            return "looks like HTML".to_owned();
        }
        if trimmed.starts_with("<?xml") || trimmed.starts_with('<') {
            return "looks like XML that is not SVG".to_owned();
        }
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return "looks like JSON".to_owned();
        }
        return "looks like text".to_owned();
    }
    let hex: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("starts with bytes {}", hex.join(" "))
}

fn known_non_image(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 6] = [
        (b"%PDF-", "PDF"),
        (b"\x1f\x8b", "gzip-compressed data"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"%!PS", "PostScript"),
        (
            b"\x00\x00\x00\x0cjP  ",
            "a JPEG 2000 image, which imgforge does not read",
        ),
        (b"\xff\x0a", "a JPEG XL image, which imgforge does not read"),
    ];
    if let Some((_, what)) = SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
    {
        return Some(what);
    }
    // ISO base media files (HEIC, AVIF, MP4) carry an `ftyp` box at offset 4.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Some(match &bytes[8..12] {
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"mif1" | b"msf1" => {
                "a HEIC image, which imgforge does not read"
            }
            b"avif" | b"avis" => "an AVIF image, which imgforge does not read",
            _ => "a video or other ISO media file",
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata;

    fn refusal(bytes: &[u8]) -> String {
        let err = sniff(bytes).expect_err("data should be refused");
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.field.is_none(), "callers name the field");
        err.message
    }

    #[test]
    fn sniffs_jpeg_named_png() {
        let Some(bytes) = testdata::read("astronaut.jpg") else {
            return;
        };
        // The name says nothing; the bytes decide.
        assert_eq!(sniff(&bytes).unwrap(), ImageFormat::Jpeg);
    }

    #[test]
    fn sniffs_every_real_test_image() {
        let cases = [
            ("astronaut.png", ImageFormat::Png),
            ("astronaut.jpg", ImageFormat::Jpeg),
            ("astronaut.webp", ImageFormat::Webp),
            ("astronaut.bmp", ImageFormat::Bmp),
            ("no_time_for_that_tiny.gif", ImageFormat::Gif),
            ("multipage_rgb.tif", ImageFormat::Tiff),
            ("sample.svg", ImageFormat::Svg),
        ];
        for (name, expected) in cases {
            let Some(bytes) = testdata::read(name) else {
                return;
            };
            assert_eq!(sniff(&bytes).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn sniffs_svg_after_bom_declaration_comment_and_doctype() {
        let svg = "\u{feff}  <?xml version=\"1.0\"?>\n<!-- made by hand -->\n\
                   <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\" [ <!ENTITY a \">\"> ]>\n\
                   <svg xmlns=\"http://www.w3.org/2000/svg\"/>";
        assert_eq!(sniff(svg.as_bytes()).unwrap(), ImageFormat::Svg);
        assert_eq!(
            sniff(b"<svg:svg xmlns:svg='x'/>").unwrap(),
            ImageFormat::Svg
        );
    }

    #[test]
    fn refuses_xml_whose_root_is_not_svg() {
        let message = refusal(b"<?xml version=\"1.0\"?><svgx/>");
        assert!(message.contains("XML that is not SVG"), "{message}");
        refusal(b"<!-- <svg> in a comment is not a root --><html/>");
    }

    #[test]
    fn refuses_empty_input() {
        assert_eq!(refusal(b""), "image is empty");
    }

    #[test]
    fn describes_what_unsupported_data_looks_like() {
        let cases: [(&[u8], &str); 6] = [
            (b"%PDF-1.7\n", "looks like PDF"),
            (b"<!DOCTYPE html><html>", "looks like HTML"),
            (b"{\"error\": \"not found\"}", "looks like JSON"),
            (b"hello, world", "looks like text"),
            (b"\0\0\0\x1cftypheic", "HEIC"),
            (
                b"\x00\x01\x02\xfe\x80\x81\x82\x83\x84",
                "starts with bytes 00 01 02 fe 80 81 82 83",
            ),
        ];
        for (bytes, expected) in cases {
            let message = refusal(bytes);
            assert!(
                message.starts_with("not a supported image (jpeg, png, webp, gif, bmp, tiff, svg)"),
                "{message}"
            );
            assert!(
                message.contains(expected),
                "{message} should mention {expected}"
            );
        }
    }
}

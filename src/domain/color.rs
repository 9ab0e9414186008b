//! Colours as callers write them (`background_color`, `bg_color`): one parser for every
//! transport and the CLI.

use crate::error::{Error, Result};

/// Parses a background colour: `#RRGGBB`, `#RRGGBBAA`, the same without `#`, the CSS short
/// forms `#RGB` and `#RGBA`, or a CSS basic colour name (`white`, `black`, `transparent`, ...).
pub fn parse_color(field: &str, text: &str) -> Result<[u8; 4]> {
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
            field,
            format!(
                "{field} must be #RRGGBB, #RRGGBBAA or a colour name such as white, black or \
                 transparent; got {:?}",
                crate::redact::echo(trimmed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn parse_color_accepts_hex_forms_and_names() {
        assert_eq!(
            parse_color("background_color", "#FF8000").unwrap(),
            [255, 128, 0, 255]
        );
        assert_eq!(
            parse_color("background_color", "ff800080").unwrap(),
            [255, 128, 0, 128]
        );
        assert_eq!(
            parse_color("background_color", "#00000000").unwrap(),
            [0, 0, 0, 0]
        );
        assert_eq!(
            parse_color("background_color", " 336699 ").unwrap(),
            [0x33, 0x66, 0x99, 255]
        );
        assert_eq!(
            parse_color("background_color", "#f80").unwrap(),
            [255, 136, 0, 255]
        );
        assert_eq!(
            parse_color("background_color", "#f808").unwrap(),
            [255, 136, 0, 136]
        );
        assert_eq!(
            parse_color("background_color", "White").unwrap(),
            [255, 255, 255, 255]
        );
        assert_eq!(
            parse_color("background_color", "black").unwrap(),
            [0, 0, 0, 255]
        );
        assert_eq!(
            parse_color("background_color", "transparent").unwrap(),
            [0, 0, 0, 0]
        );
        assert_eq!(
            parse_color("background_color", "grey").unwrap(),
            parse_color("background_color", "gray").unwrap()
        );
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
            let err = parse_color("background_color", text).expect_err(text);
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{text}");
            assert_eq!(err.field.as_deref(), Some("background_color"), "{text}");
        }
    }
}

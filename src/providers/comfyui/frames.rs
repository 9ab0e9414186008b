//! ComfyUI's binary WebSocket frames: a 4-byte big-endian event type, then its payload
//! (`protocol.BinaryEventTypes` in ComfyUI's `server.py`).
//!
//! * 1 `PREVIEW_IMAGE`: 4-byte big-endian image format (1 JPEG, 2 PNG) + the image.
//! * 4 `PREVIEW_IMAGE_WITH_METADATA`: 4-byte big-endian JSON length + JSON
//!   (`{prompt_id, node_id, image_type, …}`) + the image; sent instead of type 1 to clients
//!   that announced `supports_preview_metadata`.
//! * 3 `TEXT` (a node's progress text) and anything else are ignored.

use bytes::Bytes;
use serde::Deserialize;

use crate::domain::ImageFormat;

/// A preview picture out of a binary frame, not yet checked to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewFrame {
    pub format: ImageFormat,
    pub bytes: Bytes,
    /// Whose run it belongs to, when the frame says (type 4).
    pub prompt_id: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    prompt_id: Option<String>,
    #[serde(default)]
    image_type: Option<String>,
}

const PREVIEW_IMAGE: u32 = 1;
const PREVIEW_IMAGE_WITH_METADATA: u32 = 4;

/// The preview in `frame`, or `None` for frames that carry none or are malformed.
pub fn parse(frame: &Bytes) -> Option<PreviewFrame> {
    let kind = be_u32(frame, 0)?;
    match kind {
        PREVIEW_IMAGE => {
            let format = match be_u32(frame, 4)? {
                1 => ImageFormat::Jpeg,
                2 => ImageFormat::Png,
                _ => return None,
            };
            Some(PreviewFrame {
                format,
                bytes: frame.slice(8..),
                prompt_id: None,
            })
        }
        PREVIEW_IMAGE_WITH_METADATA => {
            let length = usize::try_from(be_u32(frame, 4)?).ok()?;
            let end = 8usize.checked_add(length)?;
            let metadata: Metadata = serde_json::from_slice(frame.get(8..end)?).ok()?;
            let format = match metadata.image_type.as_deref() {
                Some("image/png") => ImageFormat::Png,
                Some("image/webp") => ImageFormat::Webp,
                _ => ImageFormat::Jpeg,
            };
            Some(PreviewFrame {
                format,
                bytes: frame.slice(end..),
                prompt_id: metadata.prompt_id,
            })
        }
        _ => None,
    }
}

fn be_u32(frame: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = frame.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_preview_kinds_and_ignores_the_rest() {
        let mut one = vec![0, 0, 0, 1, 0, 0, 0, 2];
        one.extend_from_slice(b"png!");
        let parsed = parse(&Bytes::from(one)).unwrap();
        assert_eq!(parsed.format, ImageFormat::Png);
        assert_eq!(&parsed.bytes[..], b"png!");

        let meta = br#"{"prompt_id":"p1","node_id":"3","image_type":"image/jpeg"}"#;
        let mut four = vec![0, 0, 0, 4];
        four.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        four.extend_from_slice(meta);
        four.extend_from_slice(b"jpg!");
        let parsed = parse(&Bytes::from(four)).unwrap();
        assert_eq!(parsed.format, ImageFormat::Jpeg);
        assert_eq!(parsed.prompt_id.as_deref(), Some("p1"));
        assert_eq!(&parsed.bytes[..], b"jpg!");

        assert!(parse(&Bytes::from_static(&[0, 0, 0, 3, 0, 0, 0, 1, b'3', b'x'])).is_none());
        assert!(parse(&Bytes::from_static(&[0, 0, 0, 4, 255, 255, 255, 255])).is_none());
        assert!(parse(&Bytes::from_static(&[0, 1])).is_none());
    }
}

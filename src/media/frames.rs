//! Every frame of an animation or page of a multi-page TIFF.

use image::DynamicImage;

use crate::domain::{ImageFormat, ImageLimits};
use crate::error::Result;

/// All frames (GIF, fully composited) or pages (TIFF) when `all`, else only the first.
pub fn decode_frames(
    bytes: &[u8],
    limits: &ImageLimits,
    all: bool,
) -> Result<(ImageFormat, Vec<DynamicImage>)> {
    let _ = (bytes, limits, all);
    todo!("helper A")
}

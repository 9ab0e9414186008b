//! Local watermark removal and expand: how much patch synthesis one request may do.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InpaintSettings {
    /// Largest area (pixels) one request may fill: a watermark mask or an expand border.
    pub max_hole_pixels: u64,
    /// Pyramid levels whose hole is larger than this reuse the coarser level's matches
    /// instead of searching again.
    pub search_pixels: u64,
    /// Search-and-vote rounds per pyramid level.
    pub iterations: u32,
    /// Longer side of the text detector's input; larger images are shrunk for detection.
    pub detect_max_side: u32,
    /// Pixels a detected text region is grown by before filling (anti-aliasing, shadows).
    pub grow_px: u32,
    /// Width of the band where an expand border is blended from a mirror of the photo into
    /// the synthesised texture.
    pub seam_px: u32,
}

impl Default for InpaintSettings {
    fn default() -> Self {
        InpaintSettings {
            max_hole_pixels: 8_000_000,
            search_pixels: 150_000,
            iterations: 4,
            detect_max_side: 960,
            grow_px: 3,
            seam_px: 8,
        }
    }
}

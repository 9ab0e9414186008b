//! One image-generation job as a generation backend (ComfyUI, an OpenAI-compatible images
//! API) receives it: text-to-image parameters plus an optional reference picture.
//!
//! Kept apart from [`TextToImageParams`] so that adding the reference does not change the
//! callers of text-to-image that have none.

use super::params::TextToImageParams;
use super::{EncodedImage, SourceImage};

#[derive(Debug, Clone)]
pub struct GenerationJob {
    pub params: TextToImageParams,
    /// A picture the result should follow (image-to-image, IP-adapter); a backend that
    /// cannot use it says so in [`Generated::notes`].
    pub reference: Option<SourceImage>,
}

impl GenerationJob {
    pub fn text(params: TextToImageParams) -> Self {
        GenerationJob {
            params,
            reference: None,
        }
    }
}

/// What a generation backend produced, with remarks for the caller.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub images: Vec<EncodedImage>,
    pub notes: Vec<String>,
}

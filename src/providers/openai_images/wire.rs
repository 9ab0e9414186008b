//! The images API's JSON (research/generation-backends.md §2, PROVIDERS.md §4.2).

use serde::{Deserialize, Serialize};

/// `POST /images/generations` (the edits form carries the same fields as multipart parts).
#[derive(Debug, Serialize)]
pub struct GenerateBody<'a> {
    pub model: &'a str,
    pub prompt: &'a str,
    pub n: u32,
    pub size: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub quality: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub output_format: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub moderation: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub response_format: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_images: Option<u8>,
}

/// A non-streamed answer: `{"created", "data": [{"b64_json" | "url"}]}`.
#[derive(Debug, Deserialize)]
pub struct ImagesResponse {
    pub data: Vec<ImageData>,
}

#[derive(Debug, Deserialize)]
pub struct ImageData {
    #[serde(default)]
    pub b64_json: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// One streamed event's data: `image_generation.partial_image`, `image_edit.completed`, …
/// or an error object.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub b64_json: Option<String>,
    #[serde(default)]
    pub error: Option<ApiError>,
}

/// `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorReply {
    pub error: ApiError,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

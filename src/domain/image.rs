//! Proto-free image types shared by the engine, the providers and both transports.

use bytes::Bytes;

/// The image formats imgforge reads. Writing is limited to PNG, JPEG and WebP (lossless).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
    Gif,
    Bmp,
    Tiff,
    Svg,
}

impl ImageFormat {
    /// The lowercase name used in replies (`original_format: "jpeg"`).
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Svg => "svg",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Svg => "image/svg+xml",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png
            | ImageFormat::Webp
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff
            | ImageFormat::Svg => self.name(),
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "png" => ImageFormat::Png,
            "jpg" | "jpeg" => ImageFormat::Jpeg,
            "webp" => ImageFormat::Webp,
            "gif" => ImageFormat::Gif,
            "bmp" => ImageFormat::Bmp,
            "tif" | "tiff" => ImageFormat::Tiff,
            "svg" => ImageFormat::Svg,
            _ => return None,
        })
    }

    /// Formats imgforge can encode results into.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Webp
        )
    }
}

/// Where an input image comes from, before it is resolved to bytes.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// Encoded bytes sent by the caller.
    Bytes(Bytes),
    /// An http(s) URL the server fetches through the guarded fetcher.
    Url(String),
    /// The id of an earlier upload (`UploadImage`).
    Upload(String),
}

/// An input image after resolution and sniffing: bytes plus what they really are.
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub bytes: Bytes,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// An encoded result image.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedImage {
    pub bytes: Bytes,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// A result used as the input of a further step (a cut-out sent on to a remote model).
impl From<EncodedImage> for SourceImage {
    fn from(image: EncodedImage) -> Self {
        SourceImage {
            bytes: image.bytes,
            format: image.format,
            width: image.width,
            height: image.height,
        }
    }
}

/// Caps applied before any pixel buffer is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_input_bytes: u64,
    pub max_width: u32,
    pub max_height: u32,
    /// Largest width × height of one decoded frame.
    pub max_pixels: u64,
    /// Most frames decoded from an animation or pages from a TIFF.
    pub max_frames: u32,
    /// Largest width × height of a result, checked before any operation that grows an image
    /// (resize, expand, fix) allocates or calls a provider; `None` means `max_pixels`, so
    /// raising the input limit raises this one with it.
    #[serde(default)]
    pub max_output_pixels: Option<u64>,
    /// Deepest element nesting an SVG may have; the parser behind the rasteriser recurses
    /// once per level, so this bounds its stack.
    pub svg_max_depth: u32,
    /// Most elements an SVG may have.
    pub svg_max_elements: u32,
    /// Most pixel operations rasterising one SVG may cost, estimated from the drawn, layered
    /// and filtered areas before any pixel is drawn (see `media::svg_cost`).
    pub svg_max_render_cost: u64,
    /// Seconds one blocking image job (decode, rasterise, resize, encode) may run before it
    /// is abandoned.
    pub max_job_secs: u64,
}

impl ImageLimits {
    /// [`ImageLimits::max_job_secs`] as a duration.
    pub fn job_budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_job_secs)
    }

    /// The largest result in pixels: `max_output_pixels`, or `max_pixels` when unset.
    pub fn output_pixels(&self) -> u64 {
        self.max_output_pixels.unwrap_or(self.max_pixels)
    }
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_input_bytes: 20 * 1024 * 1024,
            max_width: 16_384,
            max_height: 16_384,
            max_pixels: 50_000_000,
            max_frames: 300,
            max_output_pixels: None,
            svg_max_depth: 128,
            svg_max_elements: 100_000,
            svg_max_render_cost: 1_000_000_000,
            max_job_secs: 60,
        }
    }
}

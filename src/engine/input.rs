//! Turning an [`ImageSource`] into checked bytes: the one place every input passes through.

use bytes::Bytes;

use crate::domain::{ImageLimits, ImageSource, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::media::{self, UrlFetcher, cancel};
use crate::store::BlobStore;

pub struct InputResolver {
    pub(super) fetcher: UrlFetcher,
    pub(super) blobs: BlobStore,
    pub(super) limits: ImageLimits,
}

impl InputResolver {
    /// The image limits inputs are checked against.
    pub fn limits(&self) -> ImageLimits {
        self.limits
    }

    /// Resolves `source` and checks the bytes really are an image within the limits. `field`
    /// names the request field in errors (`image_url`, `image`, `base_image.url`).
    pub async fn resolve_optional(
        &self,
        source: Option<ImageSource>,
        field: &str,
    ) -> Result<Option<SourceImage>> {
        match source {
            Some(source) => self.resolve(source, field).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn resolve(&self, source: ImageSource, field: &str) -> Result<SourceImage> {
        let bytes = match source {
            ImageSource::Bytes(bytes) => bytes,
            ImageSource::Url(url) => self
                .fetcher
                .fetch(&url)
                .await
                .map_err(|e| e.or_field(field))?,
            ImageSource::Upload(id) => self.upload(&id).await.map_err(|e| e.or_field(field))?,
        };
        self.inspect(bytes).await.map_err(|e| e.or_field(field))
    }

    /// Sniffs and probes bytes already in hand: header-only, no pixel allocation. Off the
    /// async runtime, because probing an SVG parses the whole document.
    pub async fn inspect(&self, bytes: Bytes) -> Result<SourceImage> {
        if bytes.len() as u64 > self.limits.max_input_bytes {
            return Err(Error::too_large(
                "image",
                format!(
                    "image is {} bytes; the limit is {} bytes",
                    bytes.len(),
                    self.limits.max_input_bytes
                ),
            ));
        }
        let limits = self.limits;
        let probed = bytes.clone();
        let (format, width, height) =
            cancel::run_blocking(limits.job_budget(), move || media::probe(&probed, &limits))
                .await?;
        Ok(SourceImage {
            bytes,
            format,
            width,
            height,
        })
    }

    async fn upload(&self, id: &str) -> Result<Bytes> {
        let valid = uuid::Uuid::parse_str(id).is_ok();
        if !valid {
            return Err(Error::invalid(
                "upload_id",
                format!("upload id {:?} is not a valid id", crate::redact::echo(id)),
            ));
        }
        self.blobs.get_live(&upload_key(id)).await.map_err(|e| {
            if e.code == ErrorCode::NotFound {
                Error::not_found(format!("upload {id} does not exist or has expired"))
            } else {
                // A store that cannot answer says so, rather than passing for a missing
                // upload.
                e
            }
        })
    }
}

pub fn upload_key(id: &str) -> String {
    format!("uploads/{id}")
}

//! Publishing input images where a remote provider can fetch them.
//!
//! Remote models take image URLs, not bytes. Inputs are written to the blob store under a
//! key derived from their content (so the same image is published once) and handed to the
//! provider as a signed, expiring link. With the S3 store (`blob_store.kind = "s3"`: OSS,
//! MinIO, AWS) the bytes go to the bucket and the link is a presigned GET URL of the bucket,
//! the production path of PROVIDERS.md §1.8. With the local store the link points at this
//! server's bridge (`results.public_base_url` must then be reachable by the provider). An
//! adapter may also publish its own way (DashScope's temporary upload, for instance).

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::domain::SourceImage;
use crate::error::Result;
use crate::store::BlobStore;

/// An input image as a provider will fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedInput {
    pub url: String,
    /// Request headers the provider call must carry for `url` to resolve
    /// (e.g. `X-DashScope-OssResourceResolve: enable` for `oss://` links).
    pub headers: Vec<(String, String)>,
    pub expires_at: Option<SystemTime>,
}

/// Publishes inputs to the blob store and links to them.
#[derive(Clone)]
pub struct InputPublisher {
    blobs: BlobStore,
}

impl InputPublisher {
    pub fn new(blobs: BlobStore) -> Self {
        InputPublisher { blobs }
    }

    /// Stores `image` (once per content) and returns a signed link to it.
    pub async fn publish(&self, image: &SourceImage) -> Result<PublishedInput> {
        let key = input_key(image);
        if !self.blobs.exists(&key).await? {
            self.blobs.put(&key, image.bytes.clone()).await?;
        }
        let link = self.blobs.signed_url(&key).await?;
        Ok(PublishedInput {
            url: link.url,
            headers: Vec::new(),
            expires_at: Some(link.expires_at),
        })
    }
}

/// `provider-inputs/<sha256>.<ext>`: the extension helps providers that check it.
pub fn input_key(image: &SourceImage) -> String {
    format!(
        "provider-inputs/{}.{}",
        hex::encode(Sha256::digest(&image.bytes)),
        image.format.extension()
    )
}

//! Handing results back: inline bytes, or a stored object behind a signed URL.

use std::time::SystemTime;

use bytes::Bytes;

use crate::config::Delivery;
use crate::domain::EncodedImage;
use crate::error::Result;
use crate::store::BlobStore;

/// A result as the transports return it.
#[derive(Debug, Clone)]
pub struct DeliveredImage {
    pub image: EncodedImage,
    /// Set when the result was stored; the bytes are still at hand for inline fields.
    pub url: Option<String>,
    pub url_expires_at: Option<SystemTime>,
}

impl DeliveredImage {
    pub fn inline(image: EncodedImage) -> Self {
        DeliveredImage {
            image,
            url: None,
            url_expires_at: None,
        }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.image.bytes
    }
}

/// Stores `image` under `key` when `delivery` asks for URLs.
pub async fn deliver(
    blobs: &BlobStore,
    image: EncodedImage,
    delivery: Delivery,
    key: &str,
) -> Result<DeliveredImage> {
    match delivery {
        Delivery::Inline => Ok(DeliveredImage::inline(image)),
        Delivery::Url => {
            blobs.put(key, image.bytes.clone()).await?;
            let link = blobs.signed_url(key).await?;
            Ok(DeliveredImage {
                image,
                url: Some(link.url),
                url_expires_at: Some(link.expires_at),
            })
        }
    }
}

/// A fresh key for one result.
pub fn result_key(image: &EncodedImage) -> String {
    format!(
        "results/{}.{}",
        uuid::Uuid::new_v4(),
        image.format.extension()
    )
}

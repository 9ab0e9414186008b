//! Reference images for cover generation: the bytes go to the blob store (as any upload), the
//! record (which key may use it, until when) to the state store, so any replica resolves a
//! `refImageId` and another tenant's id is simply not found.

use std::sync::Arc;

use crate::auth::Caller;
use crate::domain::ImageSource;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::state::{ReferenceImage, StateStore};

#[derive(Clone)]
pub struct ReferenceImages {
    engine: Arc<Engine>,
    state: Arc<dyn StateStore>,
}

impl ReferenceImages {
    pub fn new(engine: Arc<Engine>, state: Arc<dyn StateStore>) -> Self {
        ReferenceImages { engine, state }
    }

    /// Checks the image is an image within the limits, stores it, records it for `caller`.
    pub async fn upload(
        &self,
        caller: &Caller,
        source: ImageSource,
        field: &str,
    ) -> Result<ReferenceImage> {
        let receipt = self.engine.upload(source, field).await?;
        // Its own id rather than the upload's: an upload id is usable by any caller as an
        // `upload_id`, a reference id only by its key.
        let record = ReferenceImage {
            id: uuid::Uuid::new_v4().to_string(),
            owner_key: caller.key_id.clone(),
            blob_key: format!("uploads/{}", receipt.id),
            created_at: self.state.clock().now(),
            // The record cannot outlive its bytes, which the blob store deletes at this time.
            expires_at: receipt.expires_at,
        };
        self.state.insert_reference_image(&record).await?;
        tracing::info!(ref_image_id = %record.id, key = %caller.key_id, "reference image stored");
        Ok(record)
    }

    /// The live reference image `id` of `caller`, or NOT_FOUND.
    pub async fn resolve(&self, caller: &Caller, id: &str) -> Result<ReferenceImage> {
        self.state
            .reference_image(&caller.key_id, id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "reference image {} does not exist or has expired",
                    crate::redact::echo(id)
                ))
                .with_field("refImageId")
            })
    }
}

//! Getting input images to DashScope, which only fetches URLs (PROVIDERS.md §1.8): a signed
//! blob-store link, DashScope's temporary upload (`oss://`), or a `data:` URI where the
//! model takes one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use crate::config::dashscope::InputDelivery;
use crate::domain::SourceImage;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::dashscope::client::{TaskClient, http_error};
use crate::providers::dashscope::error::{PROVIDER, malformed, transport_error};
use crate::providers::remote::{InputPublisher, PublishedInput};
use crate::telemetry::outgoing::TracedSend;

/// Whether a model reads `data:` URIs (wanx2.1-imageedit and style repaint do; background
/// generation, try-on and FaceChain are documented as URL-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataUris {
    Accepted,
    Refused,
}

pub struct InputStager<'a> {
    pub client: &'a TaskClient,
    pub publisher: &'a InputPublisher,
}

impl InputStager<'_> {
    /// A URL (and the headers it needs) under which `model` can read `image`.
    pub async fn stage(
        &self,
        image: &SourceImage,
        model: &str,
        data_uris: DataUris,
    ) -> Result<PublishedInput> {
        match (self.client.settings().inputs, data_uris) {
            (InputDelivery::DataUri, DataUris::Accepted) => Ok(PublishedInput {
                url: format!(
                    "data:{};base64,{}",
                    image.format.media_type(),
                    BASE64.encode(&image.bytes)
                ),
                headers: Vec::new(),
                expires_at: None,
            }),
            (InputDelivery::TemporaryUpload, _) => self.upload(image, model).await,
            (InputDelivery::BlobUrl | InputDelivery::DataUri, _) => {
                self.publisher.publish(image).await
            }
        }
    }

    /// DashScope's temporary upload: ask for a policy bound to `model`, post the file to its
    /// OSS host, use `oss://<key>` with `X-DashScope-OssResourceResolve: enable`.
    #[tracing::instrument(skip_all, fields(provider = PROVIDER, model))]
    async fn upload(&self, image: &SourceImage, model: &str) -> Result<PublishedInput> {
        let client = self.client;
        let response = client
            .authorized(client.http().get(client.url("/uploads")))
            .query(&[("action", "getPolicy"), ("model", model)])
            .send_traced()
            .await
            .map_err(|e| transport_error("upload policy", e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error("upload policy", e))?;
        if !status.is_success() {
            return Err(http_error(status.as_u16(), &headers, &body));
        }
        let policy = serde_json::from_slice::<PolicyReply>(&body)
            .map_err(|e| malformed("upload policy", status.as_u16(), &e.to_string()))?
            .data;

        let name = format!(
            "{}.{}",
            uuid::Uuid::new_v4().simple(),
            image.format.extension()
        );
        let key = format!("{}/{name}", policy.upload_dir.trim_end_matches('/'));
        let file = reqwest::multipart::Part::bytes(image.bytes.to_vec())
            .file_name(name)
            .mime_str(image.format.media_type())
            .map_err(|e| Error::internal(format!("bad media type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("OSSAccessKeyId", policy.oss_access_key_id)
            .text("Signature", policy.signature)
            .text("policy", policy.policy)
            .text("key", key.clone())
            .text("x-oss-object-acl", policy.x_oss_object_acl)
            .text("x-oss-forbid-overwrite", policy.x_oss_forbid_overwrite)
            .text("success_action_status", "200")
            .text("x-oss-content-type", image.format.media_type())
            // OSS reads fields only up to the file, so it goes last.
            .part("file", file);
        let response = client
            .http()
            .post(&policy.upload_host)
            .multipart(form)
            .send_traced()
            .await
            .map_err(|e| transport_error("temporary upload", e))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(Error::new(
                if status.is_server_error() {
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::FailedPrecondition
                },
                format!("dashscope's temporary upload refused the file (HTTP {status})"),
            )
            .retryable(status.is_server_error())
            .with_provider(PROVIDER));
        }
        Ok(PublishedInput {
            url: format!("oss://{key}"),
            headers: vec![(
                "X-DashScope-OssResourceResolve".to_owned(),
                "enable".to_owned(),
            )],
            expires_at: Some(
                std::time::SystemTime::now() + std::time::Duration::from_secs(48 * 3600),
            ),
        })
    }
}

#[derive(Deserialize)]
struct PolicyReply {
    data: Policy,
}

#[derive(Deserialize)]
struct Policy {
    policy: String,
    signature: String,
    upload_dir: String,
    upload_host: String,
    oss_access_key_id: String,
    #[serde(default)]
    x_oss_object_acl: String,
    #[serde(default)]
    x_oss_forbid_overwrite: String,
}

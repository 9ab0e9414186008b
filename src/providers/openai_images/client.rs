//! The OpenAI-compatible images backend: `/images/generations`, or `/images/edits` with the
//! reference image as multipart; streamed (`partial_image` events as previews) or plain JSON,
//! whichever the server answers with.
//!
//! There is no job to cancel at the API: dropping the future closes the connection, which is
//! all a caller that leaves can do (and what OpenAI's own SDK does).

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use super::decode::image_from_base64;
use super::error::{
    PROVIDER, api_error, http_error, malformed, retry_after, too_large, transport_error,
};
use super::sse::{SseDecoder, SseEvent};
use super::wire::{GenerateBody, ImagesResponse, StreamEvent};
use crate::config::openai_images::{OpenAiImagesSettings, parse_size};
use crate::domain::{EncodedImage, Generated, GenerationJob, ImageLimits, Progress, ProgressSink};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::remote::ResultDownloader;

pub struct OpenAiImagesClient {
    http: reqwest::Client,
    downloads: ResultDownloader,
    settings: OpenAiImagesSettings,
    limits: ImageLimits,
}

impl OpenAiImagesClient {
    /// Checks the settings; `limits` bound the images read back.
    pub fn new(settings: &OpenAiImagesSettings, limits: ImageLimits) -> anyhow::Result<Self> {
        settings.validate()?;
        let connect = Duration::from_secs(settings.connect_timeout_secs);
        // No whole-request timeout here: a stream legitimately lasts minutes; the job
        // deadline and the idle bound between events apply instead.
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .no_proxy()
            .build()?;
        let downloads = ResultDownloader::new(
            Duration::from_secs(settings.job_timeout_secs),
            settings.max_image_bytes,
            limits,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(OpenAiImagesClient {
            http,
            downloads,
            settings: settings.clone(),
            limits,
        })
    }

    /// Generates `job`'s images, reporting previews to `progress` when the server streams.
    #[tracing::instrument(skip_all, fields(provider = PROVIDER, model = %self.settings.model))]
    pub async fn generate(&self, job: GenerationJob, progress: &ProgressSink) -> Result<Generated> {
        job.params.validate()?;
        let deadline = Duration::from_secs(self.settings.job_timeout_secs);
        match tokio::time::timeout(deadline, self.run(job, progress)).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorCode::DeadlineExceeded,
                format!(
                    "the images API did not answer within {} s \
                     (providers.openai_images.job_timeout_secs)",
                    deadline.as_secs()
                ),
            )
            .with_provider(PROVIDER)),
        }
    }

    async fn run(&self, job: GenerationJob, progress: &ProgressSink) -> Result<Generated> {
        let params = &job.params;
        let mut notes = Vec::new();
        let size = self.size_for(params.width, params.height);
        if size != format!("{}x{}", params.width, params.height) {
            notes.push(format!(
                "openai-images: size {size} used, the nearest the model accepts"
            ));
        }
        if !params.negative_prompt.is_empty() {
            notes.push("openai-images: the API has no negative prompt; it was not used".to_owned());
        }
        if params.seed.is_some() {
            notes.push(
                "openai-images: the API takes no seed; results are not repeatable".to_owned(),
            );
        }
        let settings = &self.settings;
        let partial_images = settings.stream.then_some(settings.partial_images);
        let request = match &job.reference {
            None => {
                let body = GenerateBody {
                    model: &settings.model,
                    prompt: &params.prompt,
                    n: params.n,
                    size: &size,
                    quality: &settings.quality,
                    output_format: &settings.output_format,
                    moderation: &settings.moderation,
                    response_format: &settings.response_format,
                    stream: settings.stream,
                    partial_images,
                };
                self.http.post(self.url("/images/generations")).json(&body)
            }
            Some(image) => {
                let model = if settings.edit_model.is_empty() {
                    &settings.model
                } else {
                    &settings.edit_model
                };
                let part = reqwest::multipart::Part::bytes(image.bytes.to_vec())
                    .file_name(format!("reference.{}", image.format.extension()))
                    .mime_str(image.format.media_type())
                    .map_err(|e| Error::internal(format!("bad media type: {e}")))?;
                let mut form = reqwest::multipart::Form::new()
                    .part("image", part)
                    .text("model", model.clone())
                    .text("prompt", params.prompt.clone())
                    .text("n", params.n.to_string())
                    .text("size", size.clone());
                for (name, value) in [
                    ("quality", &settings.quality),
                    ("output_format", &settings.output_format),
                    ("response_format", &settings.response_format),
                ] {
                    if !value.is_empty() {
                        form = form.text(name, value.clone());
                    }
                }
                if let Some(partial) = partial_images {
                    form = form
                        .text("stream", "true")
                        .text("partial_images", partial.to_string());
                }
                self.http.post(self.url("/images/edits")).multipart(form)
            }
        };
        let response = self
            .authorized(request)
            .send()
            .await
            .map_err(|e| transport_error("request", e))?;
        let status = response.status();
        if !status.is_success() {
            let wait = retry_after(response.headers());
            let body = read_capped(response, 64 << 10, "error answer")
                .await
                .unwrap_or_default();
            return Err(http_error(status.as_u16(), &body, wait));
        }
        let streamed = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        progress.running(None, "generating");
        let images = if streamed {
            self.read_stream(response, progress).await?
        } else {
            self.read_json(response).await?
        };
        if images.is_empty() {
            return Err(malformed("answer", "no image in it"));
        }
        Ok(Generated { images, notes })
    }

    /// A plain answer: base64 images inline, or links fetched at once (they expire).
    async fn read_json(&self, response: reqwest::Response) -> Result<Vec<EncodedImage>> {
        let body = read_capped(response, self.settings.max_response_bytes, "answer").await?;
        let reply: ImagesResponse =
            serde_json::from_slice(&body).map_err(|e| malformed("answer", &e.to_string()))?;
        drop(body);
        let mut images = Vec::with_capacity(reply.data.len());
        for item in reply.data {
            let image = match (item.b64_json, item.url) {
                (Some(b64), _) => {
                    image_from_base64(b64, self.settings.max_image_bytes, self.limits).await?
                }
                (None, Some(url)) => self.downloads.fetch(PROVIDER, &url).await?,
                (None, None) => {
                    return Err(malformed("answer", "an item has neither b64_json nor url"));
                }
            };
            images.push(image);
        }
        Ok(images)
    }

    /// Server-sent events: partial images become previews, completed ones results.
    async fn read_stream(
        &self,
        response: reqwest::Response,
        progress: &ProgressSink,
    ) -> Result<Vec<EncodedImage>> {
        let idle = Duration::from_secs(self.settings.stream_idle_secs);
        let max_event = usize::try_from(self.settings.max_event_bytes).unwrap_or(usize::MAX);
        let mut decoder = SseDecoder::new(max_event);
        let mut body = response.bytes_stream();
        let mut images = Vec::new();
        let mut previews = 0u32;
        loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    return Err(Error::new(
                        ErrorCode::DeadlineExceeded,
                        format!(
                            "the images API stream was silent for {} s \
                             (providers.openai_images.stream_idle_secs)",
                            idle.as_secs()
                        ),
                    )
                    .with_provider(PROVIDER));
                }
                Ok(None) => break,
                Ok(Some(chunk)) => chunk.map_err(|e| transport_error("stream", e))?,
            };
            let events = decoder
                .push(&chunk)
                .map_err(|_| too_large("stream event", self.settings.max_event_bytes))?;
            for event in events {
                if self
                    .on_event(event, progress, &mut images, &mut previews)
                    .await?
                {
                    return Ok(images);
                }
            }
        }
        if let Some(event) = decoder.finish() {
            self.on_event(event, progress, &mut images, &mut previews)
                .await?;
        }
        Ok(images)
    }

    /// Applies one event; true at `[DONE]`.
    async fn on_event(
        &self,
        event: SseEvent,
        progress: &ProgressSink,
        images: &mut Vec<EncodedImage>,
        previews: &mut u32,
    ) -> Result<bool> {
        if event.data.trim() == "[DONE]" {
            return Ok(true);
        }
        let parsed: StreamEvent = serde_json::from_str(&event.data)
            .map_err(|e| malformed("stream event", &e.to_string()))?;
        if let Some(error) = &parsed.error {
            return Err(api_error(None, error, None));
        }
        if event.event == "error" {
            return Err(api_error(None, &Default::default(), None));
        }
        let max = self.settings.max_image_bytes;
        if parsed.kind.ends_with(".partial_image") {
            if progress.is_listening() && *previews < self.settings.max_preview_frames {
                if let Some(b64) = parsed.b64_json {
                    match image_from_base64(b64, max, self.limits).await {
                        Ok(image) => {
                            *previews += 1;
                            progress.report(Progress::Preview(image));
                        }
                        Err(e) => tracing::debug!(error = %e, "unreadable partial image skipped"),
                    }
                }
            }
        } else if parsed.kind.ends_with(".completed") {
            let b64 = parsed
                .b64_json
                .ok_or_else(|| malformed("stream event", "completed without b64_json"))?;
            images.push(image_from_base64(b64, max, self.limits).await?);
            progress.running(None, "received image");
        }
        Ok(false)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url.trim_end_matches('/'))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = request;
        if !self.settings.api_key.is_empty() {
            request = request.header(
                AUTHORIZATION,
                format!("Bearer {}", self.settings.api_key.expose()),
            );
        }
        if !self.settings.organization.is_empty() {
            request = request.header("OpenAI-Organization", &self.settings.organization);
        }
        request
    }

    /// The configured size nearest in aspect to `width`×`height` (ties: nearest in area), or
    /// `WxH` itself when no sizes are configured.
    fn size_for(&self, width: u32, height: u32) -> String {
        let wanted = f64::from(width) / f64::from(height);
        let area = f64::from(width) * f64::from(height);
        self.settings
            .sizes
            .iter()
            .filter_map(|s| parse_size(s).map(|(w, h)| (s, w, h)))
            .min_by(|a, b| {
                let key = |(_, w, h): &(&String, u32, u32)| {
                    let aspect = (f64::from(*w) / f64::from(*h) / wanted).ln().abs();
                    let size = (f64::from(*w) * f64::from(*h) / area).ln().abs();
                    (aspect, size)
                };
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(s, _, _)| s.clone())
            .unwrap_or_else(|| format!("{width}x{height}"))
    }
}

/// The body of `response`, refused past `max` bytes before it is all in memory.
async fn read_capped(response: reqwest::Response, max: u64, what: &str) -> Result<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large(what, max));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport_error(what, e))?;
        if (body.len() + chunk.len()) as u64 > max {
            return Err(too_large(what, max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(sizes: &[&str]) -> OpenAiImagesClient {
        let settings = OpenAiImagesSettings {
            sizes: sizes.iter().map(|s| (*s).to_owned()).collect(),
            ..OpenAiImagesSettings::default()
        };
        OpenAiImagesClient::new(&settings, crate::config::Settings::embedded().limits).unwrap()
    }

    #[test]
    fn sizes_snap_to_the_nearest_aspect() {
        let c = client(&["1024x1024", "1536x1024", "1024x1536"]);
        assert_eq!(c.size_for(512, 512), "1024x1024");
        assert_eq!(c.size_for(768, 1152), "1024x1536");
        assert_eq!(c.size_for(1920, 1080), "1536x1024");
        assert_eq!(client(&[]).size_for(800, 600), "800x600");
    }
}

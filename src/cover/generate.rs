//! Cover generation below the transports: checks a request, builds the prompt, resolves the
//! reference image, runs the cover chain on a spawned producer and stores the result.
//!
//! The tonic way: [`CoverGenerator::start`] checks everything that can be checked at once
//! (an error there is the call's status) and returns the receiving end of a bounded
//! channel; a spawned producer runs the backend and feeds it. When the receiver goes (the
//! caller left), the producer drops the generation future, and the backend's cancel-on-drop
//! guard cancels the job at the server. Waiting costs a parked task: the stream holds no
//! CPU admission slot (only the backend's own job queue, see `layers::queue`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::Instrument;

use super::events::{CoverEvent, Relay};
use super::prompt::PromptTemplate;
use super::{CoverAttributes, OptionCatalogue, ReferenceImages, validate};
use crate::auth::Caller;
use crate::config::CoverSettings;
use crate::domain::params::{OutputSpec, TextToImageParams};
use crate::domain::{EncodedImage, ImageFormat, Operation, SourceImage};
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::Call;
use crate::state::{CoverRecord, CoverStatus, StateStore};

/// What the error of a cover asked of no backend says: the settings that would give one.
pub const NO_BACKEND: &str = "cover generation has no backend: add [providers.comfyui] \
     (base_url) or [providers.openai_images] (base_url, api_key) to the configuration, or \
     list dashscope in providers.chains.generate_cover";

/// A stored cover: what `GetCover` returns.
#[derive(Debug, Clone)]
pub struct StoredCover {
    pub id: String,
    pub image: EncodedImage,
    pub expires_at: std::time::SystemTime,
}

pub struct CoverGenerator {
    engine: Arc<Engine>,
    state: Arc<dyn StateStore>,
    catalogue: Arc<OptionCatalogue>,
    references: ReferenceImages,
    template: PromptTemplate,
    settings: CoverSettings,
}

/// Drives `work` while keeping the stream alive: the latest state is repeated whenever the
/// stream has been silent for `period`. `None` when the caller left first; `work` is dropped
/// on return either way, which is what cancels a backend job nobody waits for.
async fn pump<T>(
    work: impl std::future::Future<Output = T>,
    relay: &Relay,
    tx: &mpsc::Sender<CoverEvent>,
    period: Duration,
) -> Option<T> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            outcome = &mut work => return Some(outcome),
            () = tx.closed() => return None,
            () = tokio::time::sleep_until(relay.quiet_until(period)) => {
                // An event may have gone out meanwhile and moved the deadline on.
                if tokio::time::Instant::now() >= relay.quiet_until(period) {
                    relay.keepalive();
                }
            }
        }
    }
}

impl CoverGenerator {
    pub fn new(
        engine: Arc<Engine>,
        state: Arc<dyn StateStore>,
        catalogue: Arc<OptionCatalogue>,
        references: ReferenceImages,
        settings: &CoverSettings,
    ) -> anyhow::Result<Self> {
        let template = PromptTemplate::parse(settings.prompt_template())
            .map_err(|e| anyhow::anyhow!("cover.prompt_template: {e}"))?;
        Ok(CoverGenerator {
            engine,
            state,
            catalogue,
            references,
            template,
            settings: settings.clone(),
        })
    }

    /// Whether some configured backend can generate a cover now (gRPC health).
    pub fn is_ready(&self) -> bool {
        self.engine.is_ready(Operation::GenerateCover)
    }

    /// FAILED_PRECONDITION naming the settings to add when no backend generates covers.
    pub fn require_backend(&self) -> Result<()> {
        match self.engine.require(Operation::GenerateCover) {
            Ok(()) => Ok(()),
            Err(e) if e.code == ErrorCode::Unimplemented => Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("{NO_BACKEND} ({})", e.message),
            )),
            Err(e) => Err(e),
        }
    }

    /// Checks the request, then starts generating; events arrive on the returned receiver,
    /// ending with exactly one `completed` or `failed`. Dropping the receiver cancels.
    pub async fn start(
        self: &Arc<Self>,
        caller: Caller,
        attributes: CoverAttributes,
    ) -> Result<mpsc::Receiver<CoverEvent>> {
        self.require_backend()?;
        let valid = validate(&self.catalogue, &attributes)?;
        let reference = match attributes.ref_image_id.trim() {
            "" => None,
            id => Some(self.reference(&caller, id).await?),
        };
        let params = TextToImageParams {
            prompt: self.template.render(&valid, &self.catalogue),
            negative_prompt: self.settings.negative_prompt.clone(),
            width: self.settings.width,
            height: self.settings.height,
            n: 1,
            seed: None,
        };
        params.validate()?;
        let (tx, rx) = mpsc::channel(self.settings.stream_buffer.max(1));
        let this = self.clone();
        tokio::spawn(
            async move { this.produce(caller, params, reference, tx).await }.in_current_span(),
        );
        Ok(rx)
    }

    /// The bytes of the caller's reference image `id`.
    async fn reference(&self, caller: &Caller, id: &str) -> Result<SourceImage> {
        let record = self.references.resolve(caller, id).await?;
        let bytes = self
            .engine
            .blobs()
            .get_live(&record.blob_key)
            .await
            .map_err(|e| {
                if e.code == ErrorCode::NotFound {
                    Error::not_found(format!("reference image {id} has expired"))
                        .with_field("refImageId")
                } else {
                    e
                }
            })?;
        self.engine.inputs().inspect(bytes).await
    }

    /// Runs the generation and sends its events; stops (dropping the generation, which
    /// cancels the backend job) as soon as the caller is gone.
    async fn produce(
        &self,
        caller: Caller,
        params: TextToImageParams,
        reference: Option<SourceImage>,
        tx: mpsc::Sender<CoverEvent>,
    ) {
        let relay = Relay::new(tx.clone());
        let call = Call {
            progress: relay.sink(),
            caller: Some(caller.key_id.as_str().into()),
            deadline: None,
        };
        let period = Duration::from_secs(self.settings.keepalive_secs.max(1));
        let work = self.generate(&caller, params, reference, &call);
        let Some(outcome) = pump(work, &relay, &tx, period).await else {
            tracing::info!(key = %caller.key_id, "cover caller left; the backend job was cancelled");
            return;
        };
        let last = match outcome {
            Ok(cover) => CoverEvent::Completed {
                cover_id: cover.0.id,
                image: cover.0.image,
                expires_at: cover.0.expires_at,
                notes: cover.1,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cover generation failed");
                CoverEvent::Failed {
                    code: e.code,
                    message: e.message,
                }
            }
        };
        // The one event never dropped: it waits for room in the caller's buffer.
        if tx.send(last).await.is_err() {
            tracing::info!("cover caller left before the final event");
        }
    }

    /// Generates, makes the image a PNG (seed 001's `data:image/png`), stores it and its
    /// record; the cover and the backend's notes.
    async fn generate(
        &self,
        caller: &Caller,
        params: TextToImageParams,
        reference: Option<SourceImage>,
        call: &Call,
    ) -> Result<(StoredCover, Vec<String>)> {
        let (output, provider) = self.engine.generate_image(params, reference, call).await?;
        let (image, rest) = output.into_single(Operation::GenerateCover, provider)?;
        call.progress.running(Some(100.0), "storing");
        let image = self.png(image).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let blob_key = format!("covers/{id}.png");
        self.engine
            .blobs()
            .put(&blob_key, image.bytes.clone())
            .await?;
        let now = self.state.clock().now();
        let record = CoverRecord {
            id: id.clone(),
            owner_key: caller.key_id.clone(),
            status: CoverStatus::Completed,
            result_blob: Some(blob_key),
            created_at: now,
            expires_at: now + Duration::from_secs(self.settings.cover_ttl_secs),
        };
        self.state.insert_cover(&record).await?;
        tracing::info!(cover_id = %id, provider, key = %caller.key_id, "cover stored");
        Ok((
            StoredCover {
                id,
                image,
                expires_at: record.expires_at,
            },
            rest.notes,
        ))
    }

    async fn png(&self, image: EncodedImage) -> Result<EncodedImage> {
        if image.format == ImageFormat::Png {
            return Ok(image);
        }
        let limits = self.engine.inputs().limits();
        let output = OutputSpec {
            format: Some(ImageFormat::Png),
            ..OutputSpec::default()
        };
        crate::media::cancel::run_blocking(limits.job_budget(), move || {
            crate::media::conform(image, output, &limits)
        })
        .await
    }

    /// The caller's live cover `id`, or NOT_FOUND (expired, never made, another key's).
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<StoredCover> {
        let not_found = || {
            Error::not_found(format!(
                "cover {} does not exist or has expired",
                crate::redact::echo(id)
            ))
            .with_field("coverId")
        };
        if id.trim().is_empty() {
            return Err(Error::invalid("coverId", "coverId is required"));
        }
        let record = self
            .state
            .cover(&caller.key_id, id)
            .await?
            .ok_or_else(not_found)?;
        let Some(blob_key) = record
            .result_blob
            .filter(|_| record.status == CoverStatus::Completed)
        else {
            return Err(not_found());
        };
        let bytes = match self.engine.blobs().get(&blob_key).await {
            Ok(bytes) => bytes,
            Err(e) if e.code == ErrorCode::NotFound => return Err(not_found()),
            Err(e) => return Err(e),
        };
        let image = self.engine.inputs().inspect(bytes).await?;
        Ok(StoredCover {
            id: record.id,
            image: EncodedImage {
                bytes: image.bytes,
                format: image.format,
                width: image.width,
                height: image.height,
            },
            expires_at: record.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Sets its flag when dropped: shows the work future was dropped (its job cancelled).
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_backend_still_gets_a_keepalive_every_period() {
        let (tx, mut rx) = mpsc::channel(16);
        let relay = Relay::new(tx.clone());
        relay.sink().running(Some(12.0), "sampling");
        let pumping = tokio::spawn({
            let relay = relay.clone();
            let tx = tx.clone();
            async move {
                pump(
                    std::future::pending::<()>(),
                    &relay,
                    &tx,
                    Duration::from_secs(10),
                )
                .await
            }
        });
        let start = tokio::time::Instant::now();
        assert_eq!(rx.recv().await, Some(CoverEvent::Queued { position: 0 }));
        let first = rx.recv().await;
        for _ in 0..3 {
            let event = rx.recv().await.unwrap();
            assert_eq!(Some(event), first, "the keepalive repeats the latest state");
        }
        // Three keepalives, ten seconds apart, none early.
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        pumping.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_leaves_drops_the_work() {
        let (tx, rx) = mpsc::channel(16);
        let relay = Relay::new(tx.clone());
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(dropped.clone());
        let work = async move {
            let _guard = guard;
            std::future::pending::<()>().await
        };
        let pumping =
            tokio::spawn(async move { pump(work, &relay, &tx, Duration::from_secs(10)).await });
        tokio::task::yield_now().await;
        assert!(!dropped.load(Ordering::SeqCst));
        drop(rx);
        assert_eq!(pumping.await.unwrap(), None);
        assert!(
            dropped.load(Ordering::SeqCst),
            "the job's future was dropped"
        );
    }
}

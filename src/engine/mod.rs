//! The single entry point both transports call: resolves inputs, routes an operation through
//! its provider chain with fallback, and delivers results.

#[cfg(test)]
mod chain_tests;
pub mod delivery;
mod input;
mod local_steps;
mod preprocess;

use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::config::{Delivery, Settings};
use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, ConvertParams, CreateCharacterParams,
    ExpandParams, FixParams, RemoveBackgroundParams, RemoveWatermarkParams, ResizeParams,
};
use crate::domain::{ImageFormat, ImageSource, Operation, SourceImage, TaskReport};
use crate::error::{Error, ErrorCode, Result};
use crate::media::UrlFetcher;
use crate::providers::{Call, OpRequest, Output, Provider, ProviderRegistry};
use crate::store::BlobStore;

pub use delivery::DeliveredImage;
pub use input::InputResolver;

pub struct Engine {
    inputs: InputResolver,
    providers: ProviderRegistry,
    blobs: BlobStore,
    default_delivery: Delivery,
}

/// How an operation grows its input, for the output limit: the parameter responsible and the
/// result size of a `width` × `height` input.
struct Growth {
    field: &'static str,
    size: Box<dyn Fn(u32, u32) -> (u64, u64) + Send + Sync>,
}

/// The result of a resize.
pub struct ResizeOutcome {
    pub original: SourceImage,
    pub image: DeliveredImage,
    pub provider: &'static str,
}

/// The result of a conversion to PNG.
pub struct ConvertOutcome {
    pub original_format: ImageFormat,
    pub images: Vec<DeliveredImage>,
    /// Stored PNGs of the same input were returned instead of converting again.
    pub reused: bool,
}

/// The result of an editing operation, in seed 002's task envelope.
pub struct EditOutcome {
    pub task: TaskReport,
    pub images: Vec<DeliveredImage>,
}

/// The result of create-character.
pub struct CharacterOutcome {
    pub image: DeliveredImage,
    pub provider: &'static str,
    pub notes: Vec<String>,
}

/// The receipt of an upload.
pub struct UploadReceipt {
    pub id: String,
    pub image: SourceImage,
    pub expires_at: SystemTime,
}

impl Engine {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Arc<Engine>> {
        let blobs = BlobStore::from_settings(settings)?;
        Ok(Arc::new(Engine {
            inputs: InputResolver {
                fetcher: UrlFetcher::new(&settings.fetch)?,
                blobs: blobs.clone(),
                limits: settings.limits,
            },
            providers: ProviderRegistry::from_settings(settings, blobs.clone())?,
            blobs,
            default_delivery: settings.results.delivery,
        }))
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn inputs(&self) -> &InputResolver {
        &self.inputs
    }

    /// Whether some configured provider can run `op` now (for health reporting).
    pub fn is_ready(&self, op: Operation) -> bool {
        self.providers.is_ready(op)
    }

    /// The generation step of a cover ([`OpRequest::TextToImage`]) on its chain, progress to
    /// `call.progress`; the first backend that succeeds answers, with its name.
    pub async fn generate_image(
        &self,
        params: crate::domain::params::TextToImageParams,
        reference: Option<SourceImage>,
        call: &Call,
    ) -> Result<(Output, &'static str)> {
        params.validate()?;
        self.run(OpRequest::TextToImage { params, reference }, call)
            .await
    }

    /// `Unimplemented` naming `op` and the providers tried, unless a provider supports it.
    pub fn require(&self, op: Operation) -> Result<()> {
        self.providers.chain(op).require(op).map(|_| ())
    }

    fn delivery(&self, requested: Option<Delivery>) -> Delivery {
        requested.unwrap_or(self.default_delivery)
    }

    /// Runs `request` on each provider of its operation's chain until one succeeds; the
    /// last error is returned when all fail.
    async fn run(&self, request: OpRequest, call: &Call) -> Result<(Output, &'static str)> {
        let op = request.operation();
        let providers = self.providers.chain(op).require(op)?;
        let mut last_error = None;
        for provider in providers {
            let name = provider.name();
            // telemetry: the provider span (child of the request) and its call metrics.
            let step = crate::telemetry::provider::ProviderStep::start(name, op);
            let result = tracing::Instrument::instrument(
                self.run_on(&provider, request.clone(), call),
                step.span(),
            )
            .await;
            step.finish(&result);
            match result {
                Ok(output) => return Ok((output, name)),
                // Bad input fails on every provider alike; anything else (a missing model,
                // an unreachable backend, a refused key) may work on the next one.
                Err(err)
                    if matches!(
                        err.code,
                        ErrorCode::InvalidArgument
                            | ErrorCode::PayloadTooLarge
                            | ErrorCode::Cancelled
                    ) =>
                {
                    return Err(err);
                }
                Err(err) => {
                    tracing::warn!(operation = %op, provider = name, error = %err, "provider failed, trying the next");
                    last_error = Some(err.with_provider(name));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::internal(format!("{op}: no provider ran"))))
    }

    /// One provider's run of `request`, with the local steps its capabilities ask for.
    async fn run_on(
        &self,
        provider: &Arc<dyn Provider>,
        request: OpRequest,
        call: &Call,
    ) -> Result<Output> {
        let steps = local_steps::LocalSteps {
            local: self.providers.local(),
            provider: provider.name(),
            limits: self.inputs.limits,
            call,
        };
        let wants = |step| provider.capabilities().wants(request.operation(), step);
        let (cut_input, cut_result) = (
            wants(crate::providers::LocalStep::CutOutInput),
            wants(crate::providers::LocalStep::CutOutResult),
        );
        let output_spec = local_steps::output_spec(&request);
        let (request, mut notes) = if cut_input {
            steps.cut_out_input(request).await?
        } else {
            (request, Vec::new())
        };
        let mut output = provider.run(request, call).await?;
        if cut_result {
            output = steps.cut_out_result(output, output_spec).await?;
        }
        notes.append(&mut output.notes);
        output.notes = notes;
        Ok(output)
    }

    #[tracing::instrument(skip_all, fields(min_dim = params.min_dim, max_dim = params.max_dim))]
    pub async fn resize(
        &self,
        source: ImageSource,
        field: &str,
        params: ResizeParams,
        delivery: Option<Delivery>,
    ) -> Result<ResizeOutcome> {
        let original = self.inputs.resolve(source, field).await?;
        let (width, height) = params.target_size(original.width, original.height);
        // The side that grows the image is the one to name.
        let growing = if u64::from(width) * u64::from(height)
            > u64::from(original.width) * u64::from(original.height)
        {
            "min_dim"
        } else {
            "max_dim"
        };
        self.check_output_size(
            Operation::Resize,
            growing,
            (u64::from(width), u64::from(height)),
        )?;
        let request = OpRequest::Resize {
            image: original.clone(),
            params,
        };
        let (output, provider) = self
            .run(request, &Call::default())
            .await
            .map_err(|e| input_fault(e, field))?;
        let (image, _) = output.into_single(Operation::Resize, provider)?;
        let key = delivery::result_key(&image);
        let image = delivery::deliver(&self.blobs, image, self.delivery(delivery), &key).await?;
        Ok(ResizeOutcome {
            original,
            image,
            provider,
        })
    }

    /// Converts to PNG. With URL delivery the PNGs are stored under a key derived from the
    /// input's content: `overwrite = false` reuses what an earlier identical request stored.
    #[tracing::instrument(skip_all, fields(keep_animation = params.keep_animation, overwrite = params.overwrite))]
    pub async fn convert_to_png(
        &self,
        source: ImageSource,
        field: &str,
        params: ConvertParams,
        delivery: Option<Delivery>,
    ) -> Result<ConvertOutcome> {
        let original = self.inputs.resolve(source, field).await?;
        let original_format = original.format;
        let delivery = self.delivery(delivery);
        let prefix = conversion_prefix(&original, params);

        if delivery == Delivery::Url && !params.overwrite {
            if let Some(images) = self.stored_conversion(&prefix).await? {
                return Ok(ConvertOutcome {
                    original_format,
                    images,
                    reused: true,
                });
            }
        }

        let request = OpRequest::ConvertToPng {
            image: original,
            params,
        };
        let (output, _provider) = self
            .run(request, &Call::default())
            .await
            .map_err(|e| input_fault(e, field))?;
        let pngs = output.images;
        let mut images = Vec::with_capacity(pngs.len());
        let count = pngs.len();
        for (index, png) in pngs.into_iter().enumerate() {
            let key = format!("{prefix}/{index:04}.png");
            images.push(delivery::deliver(&self.blobs, png, delivery, &key).await?);
        }
        if delivery == Delivery::Url {
            // The manifest is written last, so a reader that finds it finds every PNG.
            self.blobs
                .put(&format!("{prefix}/manifest"), count.to_string().into())
                .await?;
        }
        Ok(ConvertOutcome {
            original_format,
            images,
            reused: false,
        })
    }

    async fn stored_conversion(&self, prefix: &str) -> Result<Option<Vec<DeliveredImage>>> {
        let manifest = format!("{prefix}/manifest");
        // A conversion past half its life is made again, which restarts its clock: a reused
        // one would hand out links that die (with their files) soon after.
        match self.blobs.remaining_life(&manifest).await? {
            Some(left) if left >= self.blobs.ttl() / 2 => {}
            Some(_) | None => return Ok(None),
        }
        let count: usize = String::from_utf8_lossy(&self.blobs.get(&manifest).await?)
            .trim()
            .parse()
            .map_err(|_| Error::internal(format!("corrupt manifest {manifest}")))?;
        let mut images = Vec::with_capacity(count);
        for index in 0..count {
            let key = format!("{prefix}/{index:04}.png");
            let Some(link) = self.blobs.link_to_stored(&key).await? else {
                return Ok(None);
            };
            let bytes = match self.blobs.get(&key).await {
                Ok(bytes) => bytes,
                // Swept meanwhile: convert again.
                Err(e) if e.code == crate::error::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let (_, width, height) = crate::media::probe(&bytes, &self.inputs.limits)?;
            images.push(DeliveredImage {
                image: crate::domain::EncodedImage {
                    bytes,
                    format: ImageFormat::Png,
                    width,
                    height,
                },
                url: Some(link.url),
                url_expires_at: Some(link.expires_at),
            });
        }
        Ok(Some(images))
    }

    async fn deliver_all(
        &self,
        images: Vec<crate::domain::EncodedImage>,
        delivery: Option<Delivery>,
    ) -> Result<Vec<DeliveredImage>> {
        let delivery = self.delivery(delivery);
        let mut delivered = Vec::with_capacity(images.len());
        for image in images {
            let key = delivery::result_key(&image);
            delivered.push(delivery::deliver(&self.blobs, image, delivery, &key).await?);
        }
        Ok(delivered)
    }

    #[tracing::instrument(skip_all, fields(model = ?params.model, mode = ?params.mode))]
    pub async fn remove_background(
        &self,
        source: ImageSource,
        field: &str,
        params: RemoveBackgroundParams,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        params.validate()?;
        let submitted = SystemTime::now();
        let image = self.inputs.resolve(source, field).await?;
        let (output, provider) = self
            .run(
                OpRequest::RemoveBackground { image, params },
                &Call::default(),
            )
            .await
            .map_err(|e| input_fault(e, field))?;
        let (result, _) = output.into_single(Operation::RemoveBackground, provider)?;
        Ok(EditOutcome {
            task: TaskReport::completed(submitted, provider, 1, Vec::new()),
            images: self.deliver_all(vec![result], delivery).await?,
        })
    }

    #[tracing::instrument(skip_all, fields(n = params.n))]
    pub async fn change_background(
        &self,
        base: ImageSource,
        background: ImageSource,
        fields: (&str, &str),
        params: ChangeBackgroundParams,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        let submitted = SystemTime::now();
        let (base, background) = tokio::try_join!(
            self.inputs.resolve(base, fields.0),
            self.inputs.resolve(background, fields.1)
        )?;
        let request = OpRequest::ChangeBackground {
            base,
            background,
            params,
        };
        let (result, provider) = self.run(request, &Call::default()).await?;
        self.edit_outcome(submitted, provider, result, delivery)
            .await
    }

    /// The task report and delivered images of an editing result.
    async fn edit_outcome(
        &self,
        submitted: SystemTime,
        provider: &str,
        result: Output,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        let count = result.images.len() as u32;
        let task = match &result.task {
            Some(remote) => TaskReport::remote(submitted, provider, remote, result.notes),
            None => TaskReport::completed(submitted, provider, count, result.notes),
        };
        Ok(EditOutcome {
            task,
            images: self.deliver_all(result.images, delivery).await?,
        })
    }

    /// Virtual try-on: `person` in the given garments (at least one of them).
    #[tracing::instrument(skip_all, fields(model = ?params.model))]
    pub async fn change_clothes(
        &self,
        person: ImageSource,
        top: Option<ImageSource>,
        bottom: Option<ImageSource>,
        fields: [&str; 3],
        params: ChangeClothesParams,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        if top.is_none() && bottom.is_none() {
            return Err(Error::invalid(
                fields[1],
                format!(
                    "at least one garment is needed: give {} or {} (a dress goes in {})",
                    fields[1], fields[2], fields[1]
                ),
            ));
        }
        self.require(Operation::ChangeClothes)?;
        let submitted = SystemTime::now();
        let (person, top, bottom) = tokio::try_join!(
            self.inputs.resolve(person, fields[0]),
            self.inputs.resolve_optional(top, fields[1]),
            self.inputs.resolve_optional(bottom, fields[2]),
        )?;
        let request = OpRequest::ChangeClothes {
            person,
            top,
            bottom,
            params,
        };
        let (result, provider) = self.run(request, &Call::default()).await?;
        self.edit_outcome(submitted, provider, result, delivery)
            .await
    }

    /// Outpainting: grows each side by its scale and fills the new canvas.
    #[tracing::instrument(skip_all)]
    pub async fn expand(
        &self,
        source: ImageSource,
        field: &str,
        params: ExpandParams,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        let growth = Growth {
            field: params.largest_scale_field(),
            size: {
                let params = params.clone();
                Box::new(move |w, h| params.output_size(w, h))
            },
        };
        self.edit_image(
            Operation::Expand,
            source,
            field,
            delivery,
            Some(growth),
            move |image| OpRequest::Expand { image, params },
        )
        .await
    }

    /// Restoration and super-resolution.
    #[tracing::instrument(skip_all, fields(upscale_factor = params.upscale_factor))]
    pub async fn fix(
        &self,
        source: ImageSource,
        field: &str,
        params: FixParams,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        let factor = u64::from(params.upscale_factor);
        let growth = Growth {
            field: "upscale_factor",
            size: Box::new(move |w, h| (u64::from(w) * factor, u64::from(h) * factor)),
        };
        self.edit_image(
            Operation::Fix,
            source,
            field,
            delivery,
            Some(growth),
            move |image| OpRequest::Fix { image, params },
        )
        .await
    }

    /// Removes overlaid text and logos; `mask` (light = remove) names the area instead of
    /// letting the provider find it.
    #[tracing::instrument(skip_all, fields(mask = mask.is_some()))]
    pub async fn remove_watermark(
        &self,
        source: ImageSource,
        field: &str,
        mut params: RemoveWatermarkParams,
        mask: Option<ImageSource>,
        delivery: Option<Delivery>,
    ) -> Result<EditOutcome> {
        if let Some(mask) = mask {
            self.require(Operation::RemoveWatermark)?;
            params.mask = Some(self.inputs.resolve(mask, "mask").await?.bytes);
        }
        self.edit_image(
            Operation::RemoveWatermark,
            source,
            field,
            delivery,
            None,
            move |image| OpRequest::RemoveWatermark { image, params },
        )
        .await
    }

    /// Refuses an operation whose result would exceed `limits.max_output_pixels`, before any
    /// provider (local or remote) is called and so before any pixel is allocated. Every
    /// operation that grows an image passes through here; `field` is the parameter that grows
    /// it.
    fn check_output_size(
        &self,
        op: Operation,
        field: &str,
        (width, height): (u64, u64),
    ) -> Result<()> {
        let limit = self.inputs.limits.output_pixels();
        let pixels = width.saturating_mul(height);
        if pixels <= limit {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            format!(
                "{op} would produce a {width}x{height} image ({pixels} pixels); the limit is \
                 {limit} pixels (limits.max_output_pixels), so lower {field}"
            ),
        ))
    }

    /// An editing operation on one input image: resolved only once some provider can run
    /// `op`, then run on the chain and delivered.
    async fn edit_image(
        &self,
        op: Operation,
        source: ImageSource,
        field: &str,
        delivery: Option<Delivery>,
        growth: Option<Growth>,
        request: impl FnOnce(SourceImage) -> OpRequest,
    ) -> Result<EditOutcome> {
        self.require(op)?;
        let submitted = SystemTime::now();
        let image = self.inputs.resolve(source, field).await?;
        if let Some(growth) = growth {
            let size = (growth.size)(image.width, image.height);
            self.check_output_size(op, growth.field, size)?;
        }
        let (result, provider) = self
            .run(request(image), &Call::default())
            .await
            .map_err(|e| input_fault(e, field))?;
        self.edit_outcome(submitted, provider, result, delivery)
            .await
    }

    #[tracing::instrument(skip_all, fields(preset = params.preset.name()))]
    pub async fn create_character(
        &self,
        photo: ImageSource,
        field: &str,
        params: CreateCharacterParams,
        delivery: Option<Delivery>,
    ) -> Result<CharacterOutcome> {
        let photo = self.inputs.resolve(photo, field).await?;
        let limits = self.inputs.limits;
        // Decoding and fitting the photo is CPU work like any other: it waits for a utility
        // slot, even when a remote provider does the rest.
        let slot = self.providers.lanes().admit(Operation::Resize).await?;
        let photo = crate::media::cancel::run_blocking(limits.job_budget(), move || {
            preprocess::character_photo(&photo, &limits)
        })
        .await
        .map_err(|e| e.or_field(field))?;
        drop(slot);
        let (output, provider) = self
            .run(
                OpRequest::CreateCharacter { photo, params },
                &Call::default(),
            )
            .await
            .map_err(|e| input_fault(e, field))?;
        let (image, rest) = output.into_single(Operation::CreateCharacter, provider)?;
        let mut images = self.deliver_all(vec![image], delivery).await?;
        Ok(CharacterOutcome {
            image: images.remove(0),
            provider,
            notes: rest.notes,
        })
    }

    /// Stores an image (bytes, a fetched URL or a copy of another upload) for later use as an
    /// `upload_id`.
    pub async fn upload(&self, source: ImageSource, field: &str) -> Result<UploadReceipt> {
        let image = self.inputs.resolve(source, field).await?;
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs
            .put(&input::upload_key(&id), image.bytes.clone())
            .await?;
        Ok(UploadReceipt {
            id,
            image,
            expires_at: SystemTime::now() + self.blobs.ttl(),
        })
    }
}

/// Names the input field in a refusal of the input that no one has named yet. Parameters
/// are validated (and named) before a provider runs, so for an operation with one input
/// image, a provider's unnamed invalid-argument or too-large error is about that image: it
/// could not be decoded, or was too large once decoded.
fn input_fault(err: Error, field: &str) -> Error {
    match err.code {
        ErrorCode::InvalidArgument | ErrorCode::PayloadTooLarge => err.or_field(field),
        ErrorCode::Unauthenticated
        | ErrorCode::NotFound
        | ErrorCode::ResourceExhausted
        | ErrorCode::DeadlineExceeded
        | ErrorCode::Unavailable
        | ErrorCode::FailedPrecondition
        | ErrorCode::ContentRejected
        | ErrorCode::Unimplemented
        | ErrorCode::Cancelled
        | ErrorCode::Internal => err,
    }
}

fn conversion_prefix(source: &SourceImage, params: ConvertParams) -> String {
    let digest = Sha256::digest(&source.bytes);
    format!(
        "converted/{}-{}",
        hex::encode(digest),
        if params.keep_animation {
            "frames"
        } else {
            "first"
        }
    )
}

//! Alibaba Cloud Model Studio (DashScope) async-task image models (PROVIDERS.md §1–2):
//! change background, try-on, expand, super-resolution, watermark removal, character
//! stylisation and text-to-image, through one generic task client ([`client::TaskClient`])
//! and a request builder per model ([`requests`]).
//!
//! Inputs are staged where DashScope can fetch them ([`inputs`]); results are downloaded at
//! once (their links expire in 24 h) and returned as bytes. Inputs outside a model's size
//! limits are resized locally first, and the reply says so.

mod client;
mod error;
mod inputs;
mod requests;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;

pub use crate::config::dashscope::{
    DashScopeSettings, InputDelivery, ModelLimits, ModelNames, StyleChoice,
};

use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, CreateCharacterParams, ExpandParams, FixParams,
    OutputSpec, RemoveWatermarkParams, ResizeParams, TextToImageParams,
};
use crate::domain::{EncodedImage, ImageLimits, Operation, ProgressSink, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::remote::{InputPublisher, PublishedInput, ResultDownloader};
use crate::providers::{
    Call, Capabilities, LocalStep, OpRequest, OperationSupport, Output, Provider, ProviderContext,
    unsupported,
};
pub(crate) use client::{FinishedTask, TaskClient, TaskRequest, http_error};
pub(crate) use error::{PROVIDER, malformed, transport_error, vendor_error};
use inputs::{DataUris, InputStager};

pub struct DashScopeProvider {
    client: Arc<TaskClient>,
    publisher: InputPublisher,
    downloader: ResultDownloader,
    limits: ImageLimits,
    capabilities: Capabilities,
}

impl DashScopeProvider {
    pub fn build(context: &ProviderContext) -> anyhow::Result<Self> {
        let settings = &context.settings.providers.dashscope;
        settings.validate()?;
        Ok(DashScopeProvider {
            client: TaskClient::new(settings)?,
            publisher: context.publisher.clone(),
            downloader: context.downloader.clone(),
            limits: context.settings.limits,
            capabilities: capabilities(settings),
        })
    }

    fn settings(&self) -> &DashScopeSettings {
        self.client.settings()
    }

    fn stager(&self) -> InputStager<'_> {
        InputStager {
            client: &self.client,
            publisher: &self.publisher,
        }
    }

    /// Runs the task and brings its images home, noting images that failed.
    async fn run(
        &self,
        request: TaskRequest,
        output: OutputSpec,
        notes: Vec<String>,
    ) -> Result<Output> {
        self.run_reporting(request, output, notes, &ProgressSink::none())
            .await
    }

    /// [`Self::run`], with the task's states reported to `progress`.
    async fn run_reporting(
        &self,
        request: TaskRequest,
        output: OutputSpec,
        mut notes: Vec<String>,
        progress: &ProgressSink,
    ) -> Result<Output> {
        let model = request.model.clone();
        let FinishedTask { task, outputs } = self.client.run(request, progress).await?;
        let downloads = outputs
            .urls
            .iter()
            .map(|url| self.downloader.fetch(PROVIDER, url));
        let images = futures::future::try_join_all(downloads).await?;
        let mut conformed = Vec::with_capacity(images.len());
        for image in images {
            conformed.push(self.conform(image, output).await?);
        }
        if !outputs.failures.is_empty() {
            let reasons: Vec<String> = outputs
                .failures
                .iter()
                .map(|(code, message)| format!("{code}: {message}"))
                .collect();
            notes.push(format!(
                "{model} made {} of {} images; the others failed ({})",
                outputs.urls.len(),
                outputs.urls.len() + outputs.failures.len(),
                reasons.join("; ")
            ));
        }
        Ok(Output {
            images: conformed,
            notes,
            task: Some(task),
        })
    }

    /// Re-encodes a result when the caller asked for another format.
    async fn conform(&self, image: EncodedImage, output: OutputSpec) -> Result<EncodedImage> {
        let limits = self.limits;
        crate::media::cancel::run_blocking(limits.job_budget(), move || {
            crate::media::conform(image, output, &limits)
        })
        .await
    }

    /// `image` resized (aspect kept) so both sides lie in `[min, max]` where possible, with
    /// a note when that was needed.
    async fn fit_sides(
        &self,
        image: SourceImage,
        (min, max): (u32, u32),
        model: &str,
        field: &str,
        notes: &mut Vec<String>,
    ) -> Result<SourceImage> {
        let (w, h) = (image.width, image.height);
        if w.min(h) >= min && w.max(h) <= max {
            return Ok(image);
        }
        let params = ResizeParams::new(
            Some(i64::from(min)),
            Some(i64::from(max)),
            OutputSpec::default(),
        )?;
        let (tw, th) = params.target_size(w, h);
        if tw.min(th) < min || tw.max(th) > max {
            return Err(Error::invalid(
                field,
                format!(
                    "{field} is {w}x{h}; {model} needs both sides between {min} and {max} px, \
                     which this aspect ratio cannot meet"
                ),
            ));
        }
        let limits = self.limits;
        let resized = crate::media::cancel::run_blocking(limits.job_budget(), move || {
            crate::imaging::resize::resize(&image, &params, &limits)
        })
        .await?;
        notes.push(format!(
            "{field} was resized from {w}x{h} to {tw}x{th} to meet {model}'s limit of \
             {min}-{max} px per side"
        ));
        Ok(resized.into())
    }
    /// One `wanx2.1-imageedit` call on `image` (the request field `field`): fitted to the
    /// model's side limits, staged, built by `build` and run.
    async fn image_edit(
        &self,
        image: SourceImage,
        field: &str,
        output: OutputSpec,
        build: impl FnOnce(&str, &PublishedInput) -> TaskRequest,
    ) -> Result<Output> {
        let model = self.settings().models.image_edit.clone();
        let mut notes = Vec::new();
        let image = self
            .fit_sides(image, requests::IMAGE_EDIT_SIDES, &model, field, &mut notes)
            .await?;
        let staged = self
            .stager()
            .stage(&image, &model, DataUris::Accepted)
            .await?;
        self.run(build(&model, &staged), output, notes).await
    }
}

/// What DashScope runs. Background generation keeps what is opaque in its base image, so the
/// engine cuts the subject out first (when configured); style repaint returns a whole
/// picture, so the engine cuts the character out of it.
fn capabilities(settings: &DashScopeSettings) -> Capabilities {
    use Operation as Op;
    let mut change_background = OperationSupport::new(Op::ChangeBackground, &["ref_prompt", "n"]);
    if settings.cutout_subject {
        change_background = change_background.step(LocalStep::CutOutInput);
    }
    Capabilities::new([
        change_background,
        OperationSupport::new(Op::ChangeClothes, &["model", "output"])
            .sides(requests::TRY_ON_SIDES),
        OperationSupport::new(
            Op::Expand,
            &[
                "top_scale",
                "bottom_scale",
                "left_scale",
                "right_scale",
                "prompt",
                "output",
            ],
        )
        .sides(requests::IMAGE_EDIT_SIDES),
        OperationSupport::new(Op::Fix, &["prompt", "upscale_factor", "output"])
            .sides(requests::IMAGE_EDIT_SIDES),
        OperationSupport::new(Op::RemoveWatermark, &["prompt", "output"])
            .sides(requests::IMAGE_EDIT_SIDES),
        OperationSupport::new(Op::CreateCharacter, &["preset", "output"])
            .step(LocalStep::CutOutResult),
        OperationSupport::new(
            Op::GenerateCover,
            &["prompt", "negative_prompt", "width", "height", "n", "seed"],
        ),
    ])
}

#[async_trait]
impl Provider for DashScopeProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        match request {
            OpRequest::ChangeBackground {
                base,
                background,
                params,
            } => self.change_background(base, background, params).await,
            OpRequest::ChangeClothes {
                person,
                top,
                bottom,
                params,
            } => self.change_clothes(person, top, bottom, params).await,
            OpRequest::Expand { image, params } => self.expand(image, params).await,
            OpRequest::Fix { image, params } => self.fix(image, params).await,
            OpRequest::RemoveWatermark { image, params } => {
                self.remove_watermark(image, params).await
            }
            OpRequest::TextToImage { params, reference } => {
                self.text_to_image(params, reference, &call.progress).await
            }
            OpRequest::CreateCharacter { photo, params } => {
                self.create_character(photo, params).await
            }
            other @ (OpRequest::Resize { .. }
            | OpRequest::ConvertToPng { .. }
            | OpRequest::RemoveBackground { .. }) => Err(unsupported(PROVIDER, other.operation())),
        }
    }
}

impl DashScopeProvider {
    #[tracing::instrument(skip_all, fields(provider = PROVIDER, n = params.n))]
    async fn change_background(
        &self,
        base: SourceImage,
        background: SourceImage,
        params: ChangeBackgroundParams,
    ) -> Result<Output> {
        let settings = self.settings();
        let model = settings.models.change_background.clone();
        let mut notes = Vec::new();
        let subject = base;
        if params.placement != Default::default() || params.shadow {
            notes.push(format!(
                "{model} places the subject itself: placement and shadow were not used"
            ));
        }
        let stager = self.stager();
        let (subject, background) = tokio::try_join!(
            stager.stage(&subject, &model, DataUris::Refused),
            stager.stage(&background, &model, DataUris::Refused),
        )?;
        let mut headers = subject.headers.clone();
        headers.extend(background.headers.iter().cloned());
        headers.dedup();
        let request = requests::background_generation(
            &model,
            &settings.models.background_model_version,
            &subject.url,
            &background.url,
            params.ref_prompt.trim(),
            params.n,
            &headers,
        );
        self.run(request, params.output, notes).await
    }

    #[tracing::instrument(skip_all, fields(provider = PROVIDER))]
    async fn change_clothes(
        &self,
        person: SourceImage,
        top: Option<SourceImage>,
        bottom: Option<SourceImage>,
        params: ChangeClothesParams,
    ) -> Result<Output> {
        let model = params
            .model
            .clone()
            .unwrap_or_else(|| self.settings().models.change_clothes.clone());
        if !model.starts_with("aitryon") {
            return Err(Error::invalid(
                "model",
                format!("model {model:?} is not a try-on model; use aitryon-plus or aitryon"),
            ));
        }
        let mut notes = Vec::new();
        let sides = requests::TRY_ON_SIDES;
        let person = self
            .fit_sides(person, sides, &model, "person_image", &mut notes)
            .await?;
        let top = match top {
            Some(t) => Some(
                self.fit_sides(t, sides, &model, "top_garment", &mut notes)
                    .await?,
            ),
            None => None,
        };
        let bottom = match bottom {
            Some(b) => Some(
                self.fit_sides(b, sides, &model, "bottom_garment", &mut notes)
                    .await?,
            ),
            None => None,
        };
        let stager = self.stager();
        let person = stager.stage(&person, &model, DataUris::Refused).await?;
        let mut headers = person.headers.clone();
        let stage = |image: Option<SourceImage>| {
            let stager = &stager;
            let model = &model;
            async move {
                match image {
                    Some(image) => stager
                        .stage(&image, model, DataUris::Refused)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            }
        };
        let (top, bottom) = tokio::try_join!(stage(top), stage(bottom))?;
        for staged in top.iter().chain(bottom.iter()) {
            headers.extend(staged.headers.iter().cloned());
        }
        headers.dedup();
        let request = requests::try_on(
            &model,
            &person.url,
            top.as_ref().map(|t| t.url.as_str()),
            bottom.as_ref().map(|b| b.url.as_str()),
            &headers,
        );
        self.run(request, params.output, notes).await
    }

    #[tracing::instrument(skip_all, fields(provider = PROVIDER))]
    async fn expand(&self, image: SourceImage, params: ExpandParams) -> Result<Output> {
        requests::check_expand_scales(&self.settings().models.image_edit, &params)?;
        self.image_edit(image, "base_image", params.output, |model, staged| {
            requests::expand(model, &params, &staged.url, &staged.headers)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(provider = PROVIDER, upscale_factor = params.upscale_factor))]
    async fn fix(&self, image: SourceImage, params: FixParams) -> Result<Output> {
        self.image_edit(image, "base_image", params.output, |model, staged| {
            requests::super_resolution(model, &params, &staged.url, &staged.headers)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(provider = PROVIDER))]
    async fn remove_watermark(
        &self,
        image: SourceImage,
        params: RemoveWatermarkParams,
    ) -> Result<Output> {
        self.image_edit(image, "image", params.output, |model, staged| {
            requests::remove_watermark(model, &params, &staged.url, &staged.headers)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(provider = PROVIDER, n = params.n))]
    async fn text_to_image(
        &self,
        params: TextToImageParams,
        reference: Option<SourceImage>,
        progress: &ProgressSink,
    ) -> Result<Output> {
        params.validate()?;
        let mut notes = Vec::new();
        if reference.is_some() {
            notes.push(format!(
                "{} draws from the prompt alone: the reference image was not used",
                self.settings().models.text_to_image
            ));
        }
        let model = self.settings().models.text_to_image.clone();
        let request = requests::text_to_image(&model, &params);
        self.run_reporting(request, OutputSpec::default(), notes, progress)
            .await
    }

    #[tracing::instrument(skip_all, fields(provider = PROVIDER, preset = params.preset.name()))]
    async fn create_character(
        &self,
        photo: SourceImage,
        params: CreateCharacterParams,
    ) -> Result<Output> {
        let settings = self.settings();
        let model = settings.models.style_repaint.clone();
        let preset = params.preset.name();
        let style = settings.style_presets.get(preset).cloned().ok_or_else(|| {
            Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "style_preset {preset} has no {model} style configured \
                     (providers.dashscope.style_presets.{preset})"
                ),
            )
            .with_provider(PROVIDER)
        })?;
        let staged = self
            .stager()
            .stage(&photo, &model, DataUris::Accepted)
            .await?;
        let request = requests::style_repaint(&model, &style, &staged.url, &staged.headers);
        let note = if style.style_index == -1 {
            format!("stylised by {model} after a reference style image")
        } else {
            format!("stylised by {model} with style {}", style.style_index)
        };
        // Not re-encoded here: the engine cuts the character out of the picture first
        // (LocalStep::CutOutResult) and encodes once, into the format asked for.
        let repainted = self.run(request, OutputSpec::default(), vec![note]).await?;
        if repainted.images.is_empty() {
            return Err(
                Error::internal(format!("{model} returned no image")).with_provider(PROVIDER)
            );
        }
        Ok(repainted)
    }
}

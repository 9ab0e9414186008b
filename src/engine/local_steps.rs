//! Local steps around a remote provider's call ([`LocalStep`]): the engine, not the adapter,
//! asks the local engine to cut a subject out, so no provider calls another.
//!
//! [`LocalStep`]: crate::providers::LocalStep

use std::sync::Arc;

use crate::domain::params::{OutputSpec, RemoveBackgroundParams};
use crate::domain::{EncodedImage, ImageLimits, Operation, SourceImage};
use crate::error::{Error, Result};
use crate::providers::{Call, OpRequest, Output, Provider, ProviderExt};

pub(super) struct LocalSteps<'a> {
    pub local: Option<&'a Arc<dyn Provider>>,
    /// The provider the steps run around, for the notes.
    pub provider: &'static str,
    pub limits: ImageLimits,
    pub call: &'a Call,
}

/// The output format a request asks for, where a local step must re-encode its result.
pub(super) fn output_spec(request: &OpRequest) -> OutputSpec {
    match request {
        OpRequest::CreateCharacter { params, .. } => params.output,
        OpRequest::Resize { params, .. } => params.output,
        OpRequest::RemoveBackground { params, .. } => params.output,
        OpRequest::ChangeBackground { params, .. } => params.output,
        OpRequest::ChangeClothes { params, .. } => params.output,
        OpRequest::Expand { params, .. } => params.output,
        OpRequest::Fix { params, .. } => params.output,
        OpRequest::RemoveWatermark { params, .. } => params.output,
        OpRequest::ConvertToPng { .. } | OpRequest::TextToImage { .. } => OutputSpec::default(),
    }
}

impl LocalSteps<'_> {
    /// Why the local segmentation cannot run now, if it cannot.
    fn segmentation_unready(&self) -> Option<String> {
        match self.local {
            None => Some("no local engine is configured".to_owned()),
            Some(local) if !local.supports(Operation::RemoveBackground) => {
                Some("the local engine does not remove backgrounds".to_owned())
            }
            Some(local) => local.unready_reason(Operation::RemoveBackground),
        }
    }

    async fn cut_out(&self, image: SourceImage) -> Result<EncodedImage> {
        let local = self
            .local
            .ok_or_else(|| Error::internal("no local engine to cut the subject out"))?;
        let request = OpRequest::RemoveBackground {
            image,
            params: RemoveBackgroundParams::default(),
        };
        let output = local.run(request, self.call).await?;
        Ok(output
            .into_single(Operation::RemoveBackground, local.name())?
            .0)
    }

    /// The request with its subject cut out (background generation keeps what is opaque in
    /// its base image), and notes saying what was done. Without the local segmentation model
    /// the whole picture is sent, and the notes say so.
    pub async fn cut_out_input(&self, request: OpRequest) -> Result<(OpRequest, Vec<String>)> {
        let OpRequest::ChangeBackground {
            base,
            background,
            params,
        } = request
        else {
            return Ok((request, Vec::new()));
        };
        let provider = self.provider;
        if let Some(why) = self.segmentation_unready() {
            tracing::warn!(
                provider,
                reason = %why,
                "local segmentation unavailable: the subject is not cut out first"
            );
            let note = format!(
                "{provider} got the whole base image: the local segmentation model that cuts the \
                 subject out cannot run ({why})"
            );
            let request = OpRequest::ChangeBackground {
                base,
                background,
                params,
            };
            return Ok((request, vec![note]));
        }
        let subject = self.cut_out(base).await.map_err(|e| {
            Error::new(
                e.code,
                format!(
                    "cutting the subject out for {provider} failed: {}",
                    e.message
                ),
            )
            .with_field("base_image")
        })?;
        let request = OpRequest::ChangeBackground {
            base: SourceImage::from(subject),
            background,
            params,
        };
        let note = "the subject was cut out locally before background generation".to_owned();
        Ok((request, vec![note]))
    }

    /// The first image of `output` cut out of its painted background, then encoded once into
    /// the format asked for. Without the local segmentation model (or when it finds no one)
    /// the whole picture is kept, and the notes say so.
    pub async fn cut_out_result(&self, output: Output, asked: OutputSpec) -> Result<Output> {
        let provider = self.provider;
        let (painted, mut rest) = output.into_single(Operation::CreateCharacter, provider)?;
        let image = match self.segmentation_unready() {
            Some(why) => {
                tracing::warn!(
                    provider,
                    reason = %why,
                    "local segmentation unavailable: the character keeps its painted background"
                );
                rest.notes.push(format!(
                    "the character keeps the background {provider} painted: the local \
                     segmentation model that cuts it out cannot run ({why})"
                ));
                painted
            }
            None => match self.cut_out(SourceImage::from(painted.clone())).await {
                Ok(cutout) => {
                    rest.notes.push(
                        "the character was cut out of the repainted image locally".to_owned(),
                    );
                    cutout
                }
                Err(e) => {
                    tracing::warn!(provider, error = %e, "cutting the character out failed: keeping its painted background");
                    rest.notes.push(format!(
                        "the character keeps the background {provider} painted: cutting it out \
                         failed ({})",
                        e.message
                    ));
                    painted
                }
            },
        };
        let limits = self.limits;
        let image = crate::media::cancel::run_blocking(limits.job_budget(), move || {
            crate::media::conform(image, asked, &limits)
        })
        .await?;
        rest.images = vec![image];
        Ok(rest)
    }
}

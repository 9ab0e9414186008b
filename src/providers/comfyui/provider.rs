//! ComfyUI as a [`Provider`]: the cover operation's generation step
//! ([`OpRequest::TextToImage`]) runs one workflow through [`ComfyUiClient::generate`], whose
//! progress (queue, weighted percent, preview frames) goes straight to the call's sink.

use async_trait::async_trait;

use super::client::ComfyUiClient;
use super::error::PROVIDER;
use crate::domain::{GenerationJob, Operation};
use crate::error::Result;
use crate::providers::{
    Call, Capabilities, OpRequest, OperationSupport, Output, Provider, ProviderContext, unsupported,
};

/// Options of a cover ComfyUI honours; `reference` goes to the image-to-image workflow.
pub const COVER_OPTIONS: &[&str] = &[
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "n",
    "seed",
    "reference",
];

pub struct ComfyUiProvider {
    client: ComfyUiClient,
    capabilities: Capabilities,
}

impl ComfyUiProvider {
    /// From `[providers.comfyui]`; a chain naming `comfyui` without that section is refused.
    pub fn build(context: &ProviderContext) -> anyhow::Result<Self> {
        let settings = context.settings.providers.comfyui.as_ref().ok_or_else(|| {
            anyhow::anyhow!("a chain names comfyui but [providers.comfyui] is not configured")
        })?;
        Ok(ComfyUiProvider {
            client: ComfyUiClient::new(settings, context.settings.limits)?,
            capabilities: Capabilities::new([OperationSupport::new(
                Operation::GenerateCover,
                COVER_OPTIONS,
            )]),
        })
    }
}

#[async_trait]
impl Provider for ComfyUiProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        match request {
            OpRequest::TextToImage { params, reference } => {
                let generated = self
                    .client
                    .generate(GenerationJob { params, reference }, &call.progress)
                    .await?;
                Ok(Output {
                    images: generated.images,
                    notes: generated.notes,
                    task: None,
                })
            }
            other @ (OpRequest::Resize { .. }
            | OpRequest::ConvertToPng { .. }
            | OpRequest::RemoveBackground { .. }
            | OpRequest::ChangeBackground { .. }
            | OpRequest::ChangeClothes { .. }
            | OpRequest::Expand { .. }
            | OpRequest::Fix { .. }
            | OpRequest::RemoveWatermark { .. }
            | OpRequest::CreateCharacter { .. }) => Err(unsupported(PROVIDER, other.operation())),
        }
    }
}

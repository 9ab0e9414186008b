//! An OpenAI-compatible images API as a [`Provider`]: the cover operation's generation step
//! ([`OpRequest::TextToImage`]) is one `/images/generations` call (`/images/edits` with a
//! reference) through [`OpenAiImagesClient::generate`]; streamed partial images reach the
//! call's sink as previews.

use async_trait::async_trait;

use super::client::OpenAiImagesClient;
use super::error::PROVIDER;
use crate::domain::{GenerationJob, Operation};
use crate::error::Result;
use crate::providers::{
    Call, Capabilities, OpRequest, OperationSupport, Output, Provider, ProviderContext, unsupported,
};

/// Options of a cover the images API honours; `reference` goes to `/images/edits`. No
/// `negative_prompt` or `seed`: the API has neither.
pub const COVER_OPTIONS: &[&str] = &["prompt", "width", "height", "n", "reference"];

pub struct OpenAiImagesProvider {
    client: OpenAiImagesClient,
    capabilities: Capabilities,
}

impl OpenAiImagesProvider {
    /// From `[providers.openai_images]`; a chain naming `openai-images` without that section
    /// is refused.
    pub fn build(context: &ProviderContext) -> anyhow::Result<Self> {
        let settings = context
            .settings
            .providers
            .openai_images
            .as_ref()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "a chain names openai-images but [providers.openai_images] is not configured"
                )
            })?;
        Ok(OpenAiImagesProvider {
            client: OpenAiImagesClient::new(settings, context.settings.limits)?,
            capabilities: Capabilities::new([OperationSupport::new(
                Operation::GenerateCover,
                COVER_OPTIONS,
            )]),
        })
    }
}

#[async_trait]
impl Provider for OpenAiImagesProvider {
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

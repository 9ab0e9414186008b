//! Provider adapters: each turns operations into work on one backend.
//!
//! Every provider implements [`Provider`]; an operation it does not implement keeps the
//! default method, which answers `Unimplemented`. The engine asks [`Provider::supports`]
//! before calling, so the defaults are a safety net, not a routing mechanism.

pub mod admission;
pub mod aliyun_vision;
pub mod comfyui;
mod context;
pub mod dashscope;
pub mod local;
pub mod openai_images;
pub mod registry;
pub mod remote;
pub mod resilience;

use async_trait::async_trait;

use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, ConvertParams, CreateCharacterParams,
    ExpandParams, FixParams, RemoveBackgroundParams, RemoveWatermarkParams, ResizeParams,
    TextToImageParams,
};
use crate::domain::{EncodedImage, Operation, SourceImage};
use crate::error::{Error, Result};

pub use context::ProviderContext;
pub use registry::ProviderRegistry;

/// Results of one editing request, with remarks for the caller.
#[derive(Debug, Clone, Default)]
pub struct Edited {
    pub images: Vec<EncodedImage>,
    pub notes: Vec<String>,
    /// The provider's own task, when the work ran as one (its id and times are reported).
    pub task: Option<RemoteTask>,
}

/// Results of one change-background request.
pub type Composites = Edited;

/// A task as a remote provider reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTask {
    pub task_id: String,
    pub submit_time: Option<std::time::SystemTime>,
    pub scheduled_time: Option<std::time::SystemTime>,
    pub end_time: Option<std::time::SystemTime>,
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
}

/// A character image and remarks for the caller.
#[derive(Debug, Clone)]
pub struct Character {
    pub image: EncodedImage,
    pub notes: Vec<String>,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The name configuration uses for this provider (`local`, `dashscope`, ...).
    fn name(&self) -> &'static str;

    /// Whether this provider implements `op`.
    fn supports(&self, op: Operation) -> bool;

    /// Whether `op` can run right now (models installed, backend reachable); reported by
    /// gRPC health.
    fn is_ready(&self, op: Operation) -> bool {
        self.supports(op)
    }

    /// Why `op` cannot run right now, in words an operator can act on; `None` when it can.
    fn unready_reason(&self, op: Operation) -> Option<String> {
        (!self.is_ready(op)).then(|| format!("provider {} cannot run {op} now", self.name()))
    }

    async fn resize(&self, image: SourceImage, params: ResizeParams) -> Result<EncodedImage> {
        let _ = (image, params);
        Err(unsupported(self.name(), Operation::Resize))
    }

    /// One PNG per page or frame (see [`ConvertParams`]).
    async fn convert_to_png(
        &self,
        image: SourceImage,
        params: ConvertParams,
    ) -> Result<Vec<EncodedImage>> {
        let _ = (image, params);
        Err(unsupported(self.name(), Operation::ConvertToPng))
    }

    async fn remove_background(
        &self,
        image: SourceImage,
        params: RemoveBackgroundParams,
    ) -> Result<EncodedImage> {
        let _ = (image, params);
        Err(unsupported(self.name(), Operation::RemoveBackground))
    }

    async fn change_background(
        &self,
        base: SourceImage,
        background: SourceImage,
        params: ChangeBackgroundParams,
    ) -> Result<Composites> {
        let _ = (base, background, params);
        Err(unsupported(self.name(), Operation::ChangeBackground))
    }

    async fn change_clothes(
        &self,
        person: SourceImage,
        top: Option<SourceImage>,
        bottom: Option<SourceImage>,
        params: ChangeClothesParams,
    ) -> Result<Edited> {
        let _ = (person, top, bottom, params);
        Err(unsupported(self.name(), Operation::ChangeClothes))
    }

    async fn expand(&self, image: SourceImage, params: ExpandParams) -> Result<Edited> {
        let _ = (image, params);
        Err(unsupported(self.name(), Operation::Expand))
    }

    async fn fix(&self, image: SourceImage, params: FixParams) -> Result<Edited> {
        let _ = (image, params);
        Err(unsupported(self.name(), Operation::Fix))
    }

    async fn remove_watermark(
        &self,
        image: SourceImage,
        params: RemoveWatermarkParams,
    ) -> Result<Edited> {
        let _ = (image, params);
        Err(unsupported(self.name(), Operation::RemoveWatermark))
    }

    /// Images from a prompt (the generation step of [`Operation::GenerateCover`]).
    async fn text_to_image(&self, params: TextToImageParams) -> Result<Edited> {
        let _ = params;
        Err(unsupported(self.name(), Operation::GenerateCover))
    }

    /// `photo` is already preprocessed (fitted inside 1024, RGB, JPEG q90; seed 000).
    async fn create_character(
        &self,
        photo: SourceImage,
        params: CreateCharacterParams,
    ) -> Result<Character> {
        let _ = (photo, params);
        Err(unsupported(self.name(), Operation::CreateCharacter))
    }
}

fn unsupported(provider: &str, op: Operation) -> Error {
    Error::unimplemented(format!("provider {provider} does not implement {op}"))
        .with_provider(provider)
}

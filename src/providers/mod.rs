//! Provider adapters: each turns operations into work on one backend.
//!
//! Every provider implements [`Provider`]; an operation it does not implement keeps the
//! default method, which answers `Unimplemented`. The engine asks [`Provider::supports`]
//! before calling, so the defaults are a safety net, not a routing mechanism.

pub mod local;
pub mod registry;

use async_trait::async_trait;

use crate::domain::params::{
    ChangeBackgroundParams, ConvertParams, CreateCharacterParams, RemoveBackgroundParams,
    ResizeParams,
};
use crate::domain::{EncodedImage, Operation, SourceImage};
use crate::error::{Error, Result};

pub use registry::ProviderRegistry;

/// Results of one change-background request, with remarks for the caller.
#[derive(Debug, Clone)]
pub struct Composites {
    pub images: Vec<EncodedImage>,
    pub notes: Vec<String>,
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

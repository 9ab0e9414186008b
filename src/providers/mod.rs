//! Provider adapters: each turns operations into work on one backend.
//!
//! Every provider implements [`Provider`]; an operation it does not implement keeps the
//! default method, which answers `Unimplemented`. The engine asks [`Provider::supports`]
//! before calling, so the defaults are a safety net, not a routing mechanism.

pub mod local;
pub mod registry;

use async_trait::async_trait;

use crate::domain::params::{ConvertParams, ResizeParams};
use crate::domain::{EncodedImage, Operation, SourceImage};
use crate::error::{Error, Result};

pub use registry::ProviderRegistry;

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The name configuration uses for this provider (`local`, `dashscope`, ...).
    fn name(&self) -> &'static str;

    /// Whether this provider can run `op` as configured.
    fn supports(&self, op: Operation) -> bool;

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
}

fn unsupported(provider: &str, op: Operation) -> Error {
    Error::unimplemented(format!("provider {provider} does not implement {op}"))
        .with_provider(provider)
}

//! The in-process engine: no network, no keys; the embedded default provider.

pub mod composite;
mod convert;
pub mod cutout;
mod pool;
pub mod refine;
pub mod resize;
pub mod segment;
pub mod stylize;

use async_trait::async_trait;

use crate::domain::params::{ConvertParams, ResizeParams};
use crate::domain::{EncodedImage, ImageLimits, Operation, SourceImage};
use crate::error::Result;
use crate::providers::Provider;

pub use pool::CpuPool;

pub struct LocalProvider {
    limits: ImageLimits,
    pool: CpuPool,
}

impl LocalProvider {
    pub fn new(limits: ImageLimits) -> Self {
        LocalProvider {
            limits,
            pool: CpuPool::per_core(),
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn supports(&self, op: Operation) -> bool {
        matches!(op, Operation::Resize | Operation::ConvertToPng)
    }

    async fn resize(&self, image: SourceImage, params: ResizeParams) -> Result<EncodedImage> {
        let limits = self.limits;
        self.pool
            .run(move || resize::resize(&image, &params, &limits))
            .await
    }

    async fn convert_to_png(
        &self,
        image: SourceImage,
        params: ConvertParams,
    ) -> Result<Vec<EncodedImage>> {
        let limits = self.limits;
        self.pool
            .run(move || convert::convert_to_png(&image, &params, &limits))
            .await
    }
}

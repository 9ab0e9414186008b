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

use crate::config::Settings;
use crate::domain::params::{
    ChangeBackgroundParams, ConvertParams, CreateCharacterParams, RemoveBackgroundParams,
    ResizeParams,
};
use crate::domain::{EncodedImage, ImageLimits, Operation, SourceImage};
use crate::error::Result;
use crate::providers::{Character, Composites, Provider};

pub use pool::CpuPool;

pub struct LocalProvider {
    limits: ImageLimits,
    pool: CpuPool,
}

impl LocalProvider {
    pub fn new(settings: &Settings) -> Self {
        LocalProvider {
            limits: settings.limits,
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
        match op {
            Operation::Resize
            | Operation::ConvertToPng
            | Operation::RemoveBackground
            | Operation::ChangeBackground
            | Operation::CreateCharacter => true,
            Operation::ChangeClothes
            | Operation::Expand
            | Operation::Fix
            | Operation::RemoveWatermark
            | Operation::GenerateCover
            | Operation::CoverOptions
            | Operation::UploadReferenceImage
            | Operation::PortraitUpload
            | Operation::PortraitCreateUserModel
            | Operation::PortraitListStyles
            | Operation::PortraitCreateTask
            | Operation::PortraitQueryTask => false,
        }
    }

    fn is_ready(&self, op: Operation) -> bool {
        match op {
            Operation::RemoveBackground | Operation::ChangeBackground | Operation::CreateCharacter => {
                false
            }
            Operation::Resize
            | Operation::ConvertToPng
            | Operation::ChangeClothes
            | Operation::Expand
            | Operation::Fix
            | Operation::RemoveWatermark
            | Operation::GenerateCover
            | Operation::CoverOptions
            | Operation::UploadReferenceImage
            | Operation::PortraitUpload
            | Operation::PortraitCreateUserModel
            | Operation::PortraitListStyles
            | Operation::PortraitCreateTask
            | Operation::PortraitQueryTask => self.supports(op),
        }
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

    async fn remove_background(
        &self,
        image: SourceImage,
        params: RemoveBackgroundParams,
    ) -> Result<EncodedImage> {
        let _ = (image, params);
        Err(crate::error::Error::unimplemented("local remove_background is being built"))
    }

    async fn change_background(
        &self,
        base: SourceImage,
        background: SourceImage,
        params: ChangeBackgroundParams,
    ) -> Result<Composites> {
        let _ = (base, background, params);
        Err(crate::error::Error::unimplemented("local change_background is being built"))
    }

    async fn create_character(
        &self,
        photo: SourceImage,
        params: CreateCharacterParams,
    ) -> Result<Character> {
        let _ = (photo, params);
        Err(crate::error::Error::unimplemented("local create_character is being built"))
    }
}

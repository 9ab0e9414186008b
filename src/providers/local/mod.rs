//! The in-process engine: no network, no keys; the embedded default provider.

mod change_background;
mod character;
pub mod composite;
mod convert;
pub mod cutout;
pub mod expand;
mod fix;
pub mod inpaint;
pub mod models;
mod pool;
pub mod refine;
mod remove_background;
mod remove_watermark;
pub mod segment;
pub mod style_model;
pub mod stylize;
pub mod text_detect;
pub mod upscale;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{InpaintSettings, Settings};
use crate::domain::{ImageLimits, Operation};
use crate::error::Result;
use crate::providers::{
    Call, Capabilities, OpRequest, OperationSupport, Output, Provider, unsupported,
};
use models::runtime::Runtime;

pub use pool::CpuPool;
pub use segment::Segmenter;
pub use style_model::StyleModels;
pub use text_detect::TextDetector;
pub use upscale::Upscaler;

pub struct LocalProvider {
    limits: ImageLimits,
    pool: CpuPool,
    segmenter: Arc<Segmenter>,
    styles: Arc<StyleModels>,
    upscaler: Arc<Upscaler>,
    text: Arc<TextDetector>,
    inpaint: InpaintSettings,
    capabilities: Capabilities,
}

impl LocalProvider {
    pub fn new(settings: &Settings) -> Self {
        // One runtime: segmentation and style models share sessions' inference permits.
        let runtime = Runtime::new(&settings.models);
        LocalProvider {
            limits: settings.limits,
            pool: CpuPool::per_core(settings.limits.job_budget()),
            segmenter: Arc::new(Segmenter::with_runtime(runtime.clone())),
            styles: Arc::new(StyleModels::new(runtime.clone(), &settings.models)),
            text: Arc::new(TextDetector::new(
                runtime.clone(),
                settings.inpaint.detect_max_side,
            )),
            upscaler: Arc::new(Upscaler::new(runtime)),
            inpaint: settings.inpaint,
            capabilities: capabilities(),
        }
    }
}

/// What the local engine runs, and the options each operation honours.
fn capabilities() -> Capabilities {
    use Operation as Op;
    Capabilities::new([
        OperationSupport::new(Op::Resize, &["min_dim", "max_dim", "output"]),
        OperationSupport::new(Op::ConvertToPng, &["keep_animation", "overwrite"]),
        OperationSupport::new(
            Op::RemoveBackground,
            &[
                "model",
                "mode",
                "crop_to_subject",
                "crop_margin",
                "refine",
                "output",
            ],
        ),
        OperationSupport::new(
            Op::ChangeBackground,
            &["n", "placement", "shadow", "output"],
        ),
        OperationSupport::new(Op::CreateCharacter, &["preset", "output"]),
        OperationSupport::new(Op::Fix, &["upscale_factor", "output"]),
        OperationSupport::new(
            Op::Expand,
            &[
                "top_scale",
                "bottom_scale",
                "left_scale",
                "right_scale",
                "output",
            ],
        ),
        OperationSupport::new(Op::RemoveWatermark, &["mask", "output"]),
    ])
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn unready_reason(&self, op: Operation) -> Option<String> {
        if !self.capabilities.supports(op) {
            return Some(format!("the local engine does not implement {op}"));
        }
        let readiness = match op {
            Operation::RemoveBackground
            | Operation::ChangeBackground
            | Operation::CreateCharacter => self.segmenter.readiness(None),
            Operation::Fix => self.upscaler.readiness(),
            // A caller's mask works without the detector, but most requests need it.
            Operation::RemoveWatermark => self.text.readiness(),
            Operation::ChangeClothes
            | Operation::Expand
            | Operation::Resize
            | Operation::ConvertToPng
            | Operation::GenerateCover
            | Operation::CoverOptions
            | Operation::UploadReferenceImage
            | Operation::PortraitUpload
            | Operation::PortraitCreateUserModel
            | Operation::PortraitListStyles
            | Operation::PortraitCreateTask
            | Operation::PortraitQueryTask => return None,
        };
        readiness.err().map(|e| e.message)
    }

    async fn run(&self, request: OpRequest, _call: &Call) -> Result<Output> {
        let limits = self.limits;
        let settings = self.inpaint;
        let segmenter = self.segmenter.clone();
        match request {
            OpRequest::Resize { image, params } => self
                .pool
                .run(move || crate::imaging::resize::resize(&image, &params, &limits))
                .await
                .map(Output::image),
            OpRequest::ConvertToPng { image, params } => self
                .pool
                .run(move || convert::convert_to_png(&image, &params, &limits))
                .await
                .map(|images| Output {
                    images,
                    ..Output::default()
                }),
            OpRequest::RemoveBackground { image, params } => self
                .pool
                .run(move || {
                    remove_background::remove_background(&segmenter, &image, &params, &limits)
                })
                .await
                .map(Output::image),
            OpRequest::ChangeBackground {
                base,
                background,
                params,
            } => {
                self.pool
                    .run(move || {
                        change_background::change_background(
                            &segmenter,
                            &base,
                            &background,
                            &params,
                            &limits,
                        )
                    })
                    .await
            }
            OpRequest::CreateCharacter { photo, params } => {
                let styles = self.styles.clone();
                self.pool
                    .run(move || {
                        character::create_character(&segmenter, &styles, &photo, &params, &limits)
                    })
                    .await
            }
            OpRequest::Fix { image, params } => {
                let upscaler = self.upscaler.clone();
                self.pool
                    .run(move || fix::fix(&upscaler, &image, &params, &limits))
                    .await
            }
            OpRequest::Expand { image, params } => {
                self.pool
                    .run(move || expand::expand(&image, &params, &settings, &limits))
                    .await
            }
            OpRequest::RemoveWatermark { image, params } => {
                let text = self.text.clone();
                self.pool
                    .run(move || {
                        remove_watermark::remove_watermark(
                            &text, &image, &params, &settings, &limits,
                        )
                    })
                    .await
            }
            other @ (OpRequest::ChangeClothes { .. } | OpRequest::TextToImage { .. }) => {
                Err(unsupported(self.name(), other.operation()))
            }
        }
    }
}

//! `imgforge.v1.UtilityService`: resize, convert to PNG, uploads.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::params::{ConvertParams, ResizeParams};
use crate::engine::Engine;
use crate::grpc::convert::{format_to_proto, image_output, image_source, output_options};
use crate::proto::v1 as pb;
use crate::proto::v1::utility_service_server::UtilityService;

pub struct UtilityApi {
    pub engine: Arc<Engine>,
}

#[tonic::async_trait]
impl UtilityService for UtilityApi {
    #[tracing::instrument(skip_all, name = "grpc.resize")]
    async fn resize(
        &self,
        request: Request<pb::ResizeRequest>,
    ) -> Result<Response<pb::ResizeResponse>, Status> {
        let req = request.into_inner();
        let source = image_source(req.image, "image")?;
        let (output, delivery) = output_options(req.output)?;
        let params = ResizeParams::new(
            req.min_dim.map(i64::from),
            req.max_dim.map(i64::from),
            output,
        )?;
        let outcome = self
            .engine
            .resize(source, "image", params, delivery)
            .await?;
        Ok(Response::new(pb::ResizeResponse {
            image: Some(image_output(outcome.image)),
            original_width: outcome.original.width,
            original_height: outcome.original.height,
            original_format: format_to_proto(outcome.original.format).into(),
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.convert_to_png")]
    async fn convert_to_png(
        &self,
        request: Request<pb::ConvertToPngRequest>,
    ) -> Result<Response<pb::ConvertToPngResponse>, Status> {
        let req = request.into_inner();
        let source = image_source(req.image, "image")?;
        let (_, delivery) = output_options(req.output)?;
        let params = ConvertParams {
            keep_animation: req.keep_animation,
            overwrite: req.overwrite,
        };
        let outcome = self
            .engine
            .convert_to_png(source, "image", params, delivery)
            .await?;
        Ok(Response::new(pb::ConvertToPngResponse {
            original_format: format_to_proto(outcome.original_format).into(),
            images: outcome.images.into_iter().map(image_output).collect(),
            reused: outcome.reused,
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.upload_image")]
    async fn upload_image(
        &self,
        request: Request<pb::UploadImageRequest>,
    ) -> Result<Response<pb::UploadImageResponse>, Status> {
        let source = image_source(request.into_inner().image, "image")?;
        let receipt = self.engine.upload(source, "image").await?;
        Ok(Response::new(pb::UploadImageResponse {
            upload_id: receipt.id,
            format: format_to_proto(receipt.image.format).into(),
            width: receipt.image.width,
            height: receipt.image.height,
            expires_at: Some(receipt.expires_at.into()),
        }))
    }
}

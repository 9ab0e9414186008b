//! `imgforge.v1.EditingService`: the AI editing operations of seeds 002 and 004.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, CutoutMode, EdgeRefinement, ExpandParams,
    FixParams, Placement, RemoveBackgroundParams, RemoveWatermarkParams,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::grpc::convert::{
    image_output, image_source, optional_image_source, output_options, task_report,
};
use crate::proto::v1 as pb;
use crate::proto::v1::editing_service_server::EditingService;

pub struct EditingApi {
    pub engine: Arc<Engine>,
}

fn remove_background_params(req: &pb::RemoveBackgroundRequest) -> Result<RemoveBackgroundParams> {
    let (output, _) = output_options(req.output)?;
    let mode = match pb::CutoutMode::try_from(req.mode) {
        Ok(pb::CutoutMode::Unspecified | pb::CutoutMode::Cutout) => CutoutMode::Cutout,
        Ok(pb::CutoutMode::Mask) => CutoutMode::Mask,
        Ok(pb::CutoutMode::SolidBackground) => {
            CutoutMode::parse(Some("solid"), Some(&req.background_color))?
        }
        Err(_) => return Err(Error::invalid("mode", format!("unknown mode {}", req.mode))),
    };
    let refine = match pb::EdgeRefinement::try_from(req.refine) {
        Ok(pb::EdgeRefinement::Unspecified | pb::EdgeRefinement::GuidedFilter) => {
            EdgeRefinement::GuidedFilter
        }
        Ok(pb::EdgeRefinement::None) => EdgeRefinement::None,
        Ok(pb::EdgeRefinement::AlphaMatting) => EdgeRefinement::AlphaMatting,
        Err(_) => {
            return Err(Error::invalid(
                "refine",
                format!("unknown refine {}", req.refine),
            ));
        }
    };
    let params = RemoveBackgroundParams {
        model: Some(req.model.trim().to_owned()).filter(|m| !m.is_empty()),
        mode,
        crop_to_subject: req.crop_to_subject,
        crop_margin: req.crop_margin,
        refine,
        output,
    };
    params.validate()?;
    Ok(params)
}

#[tonic::async_trait]
impl EditingService for EditingApi {
    #[tracing::instrument(skip_all, name = "grpc.remove_background")]
    async fn remove_background(
        &self,
        request: Request<pb::RemoveBackgroundRequest>,
    ) -> Result<Response<pb::RemoveBackgroundResponse>, Status> {
        let req = request.into_inner();
        let params = remove_background_params(&req)?;
        let (_, delivery) = output_options(req.output)?;
        let source = image_source(req.image, "image")?;
        let mut outcome = self
            .engine
            .remove_background(source, "image", params, delivery)
            .await?;
        Ok(Response::new(pb::RemoveBackgroundResponse {
            task: Some(task_report(outcome.task)),
            image: outcome.images.pop().map(image_output),
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.change_background")]
    async fn change_background(
        &self,
        request: Request<pb::ChangeBackgroundRequest>,
    ) -> Result<Response<pb::ChangeBackgroundResponse>, Status> {
        let req = request.into_inner();
        let (output, delivery) = output_options(req.output)?;
        let placement = req.placement.unwrap_or_default();
        let params = ChangeBackgroundParams::new(
            req.ref_prompt,
            req.n.map(i64::from),
            Placement {
                scale: placement.scale,
                x: placement.x,
                y: placement.y,
            },
            req.shadow,
            output,
        )?;
        let base = image_source(req.base_image, "base_image")?;
        let background = image_source(req.ref_image, "ref_image")?;
        let outcome = self
            .engine
            .change_background(
                base,
                background,
                ("base_image", "ref_image"),
                params,
                delivery,
            )
            .await?;
        Ok(Response::new(pb::ChangeBackgroundResponse {
            task: Some(task_report(outcome.task)),
            images: outcome.images.into_iter().map(image_output).collect(),
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.change_clothes")]
    async fn change_clothes(
        &self,
        request: Request<pb::ChangeClothesRequest>,
    ) -> Result<Response<pb::ChangeClothesResponse>, Status> {
        let req = request.into_inner();
        let (output, delivery) = output_options(req.output)?;
        let params = ChangeClothesParams {
            model: Some(req.model.trim().to_owned()).filter(|m| !m.is_empty()),
            output,
        };
        let person = image_source(req.person_image, "person_image")?;
        let top = optional_image_source(req.top_garment, "top_garment")?;
        let bottom = optional_image_source(req.bottom_garment, "bottom_garment")?;
        let mut outcome = self
            .engine
            .change_clothes(
                person,
                top,
                bottom,
                ["person_image", "top_garment", "bottom_garment"],
                params,
                delivery,
            )
            .await?;
        Ok(Response::new(pb::ChangeClothesResponse {
            task: Some(task_report(outcome.task)),
            image: outcome.images.pop().map(image_output),
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.expand")]
    async fn expand(
        &self,
        request: Request<pb::ExpandRequest>,
    ) -> Result<Response<pb::ExpandResponse>, Status> {
        let req = request.into_inner();
        let (output, delivery) = output_options(req.output)?;
        let params = ExpandParams::new(
            [
                req.top_scale,
                req.bottom_scale,
                req.left_scale,
                req.right_scale,
            ],
            Some(req.prompt),
            output,
        )?;
        let source = image_source(req.base_image, "base_image")?;
        let mut outcome = self
            .engine
            .expand(source, "base_image", params, delivery)
            .await?;
        Ok(Response::new(pb::ExpandResponse {
            task: Some(task_report(outcome.task)),
            image: outcome.images.pop().map(image_output),
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.fix")]
    async fn fix(
        &self,
        request: Request<pb::FixRequest>,
    ) -> Result<Response<pb::FixResponse>, Status> {
        let req = request.into_inner();
        let (output, delivery) = output_options(req.output)?;
        let params = FixParams::new(Some(req.prompt), req.upscale_factor.map(i64::from), output)?;
        let source = image_source(req.base_image, "base_image")?;
        let mut outcome = self
            .engine
            .fix(source, "base_image", params, delivery)
            .await?;
        Ok(Response::new(pb::FixResponse {
            task: Some(task_report(outcome.task)),
            image: outcome.images.pop().map(image_output),
        }))
    }

    #[tracing::instrument(skip_all, name = "grpc.remove_watermark")]
    async fn remove_watermark(
        &self,
        request: Request<pb::RemoveWatermarkRequest>,
    ) -> Result<Response<pb::RemoveWatermarkResponse>, Status> {
        let req = request.into_inner();
        let (output, delivery) = output_options(req.output)?;
        let params = RemoveWatermarkParams::new(None, output);
        let source = image_source(req.image, "image")?;
        let mask = req
            .mask
            .map(|mask| image_source(Some(mask), "mask"))
            .transpose()?;
        let mut outcome = self
            .engine
            .remove_watermark(source, "image", params, mask, delivery)
            .await?;
        Ok(Response::new(pb::RemoveWatermarkResponse {
            task: Some(task_report(outcome.task)),
            image: outcome.images.pop().map(image_output),
        }))
    }
}

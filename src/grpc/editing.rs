//! `imgforge.v1.EditingService`: the AI editing operations of seeds 002 and 004.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::Operation;
use crate::engine::Engine;
use crate::grpc::unsupported;
use crate::proto::v1 as pb;
use crate::proto::v1::editing_service_server::EditingService;

pub struct EditingApi {
    pub engine: Arc<Engine>,
}

#[tonic::async_trait]
impl EditingService for EditingApi {
    async fn remove_background(
        &self,
        _request: Request<pb::RemoveBackgroundRequest>,
    ) -> Result<Response<pb::RemoveBackgroundResponse>, Status> {
        Err(unsupported(&self.engine, Operation::RemoveBackground))
    }

    async fn change_background(
        &self,
        _request: Request<pb::ChangeBackgroundRequest>,
    ) -> Result<Response<pb::ChangeBackgroundResponse>, Status> {
        Err(unsupported(&self.engine, Operation::ChangeBackground))
    }

    async fn change_clothes(
        &self,
        _request: Request<pb::ChangeClothesRequest>,
    ) -> Result<Response<pb::ChangeClothesResponse>, Status> {
        Err(unsupported(&self.engine, Operation::ChangeClothes))
    }

    async fn expand(
        &self,
        _request: Request<pb::ExpandRequest>,
    ) -> Result<Response<pb::ExpandResponse>, Status> {
        Err(unsupported(&self.engine, Operation::Expand))
    }

    async fn fix(
        &self,
        _request: Request<pb::FixRequest>,
    ) -> Result<Response<pb::FixResponse>, Status> {
        Err(unsupported(&self.engine, Operation::Fix))
    }

    async fn remove_watermark(
        &self,
        _request: Request<pb::RemoveWatermarkRequest>,
    ) -> Result<Response<pb::RemoveWatermarkResponse>, Status> {
        Err(unsupported(&self.engine, Operation::RemoveWatermark))
    }
}

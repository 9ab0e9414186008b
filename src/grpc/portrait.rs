//! `imgforge.v1.PortraitService`: seed 003.

use std::sync::Arc;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::domain::Operation;
use crate::engine::Engine;
use crate::grpc::unsupported;
use crate::proto::v1 as pb;
use crate::proto::v1::portrait_service_server::PortraitService;

pub struct PortraitApi {
    pub engine: Arc<Engine>,
}

#[tonic::async_trait]
impl PortraitService for PortraitApi {
    type WatchPortraitTaskStream = ReceiverStream<Result<pb::WatchPortraitTaskResponse, Status>>;

    async fn upload_base_photo(
        &self,
        _request: Request<pb::UploadBasePhotoRequest>,
    ) -> Result<Response<pb::UploadBasePhotoResponse>, Status> {
        Err(unsupported(&self.engine, Operation::PortraitUpload))
    }

    async fn create_user_model(
        &self,
        _request: Request<pb::CreateUserModelRequest>,
    ) -> Result<Response<pb::CreateUserModelResponse>, Status> {
        Err(unsupported(
            &self.engine,
            Operation::PortraitCreateUserModel,
        ))
    }

    async fn list_portrait_styles(
        &self,
        _request: Request<pb::ListPortraitStylesRequest>,
    ) -> Result<Response<pb::ListPortraitStylesResponse>, Status> {
        Err(unsupported(&self.engine, Operation::PortraitListStyles))
    }

    async fn create_portrait_task(
        &self,
        _request: Request<pb::CreatePortraitTaskRequest>,
    ) -> Result<Response<pb::CreatePortraitTaskResponse>, Status> {
        Err(unsupported(&self.engine, Operation::PortraitCreateTask))
    }

    async fn get_portrait_task(
        &self,
        _request: Request<pb::GetPortraitTaskRequest>,
    ) -> Result<Response<pb::GetPortraitTaskResponse>, Status> {
        Err(unsupported(&self.engine, Operation::PortraitQueryTask))
    }

    async fn watch_portrait_task(
        &self,
        _request: Request<pb::WatchPortraitTaskRequest>,
    ) -> Result<Response<Self::WatchPortraitTaskStream>, Status> {
        Err(unsupported(&self.engine, Operation::PortraitQueryTask))
    }
}

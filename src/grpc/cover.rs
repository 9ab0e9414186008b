//! `imgforge.v1.CoverService`: seed 001.

use std::sync::Arc;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::domain::Operation;
use crate::engine::Engine;
use crate::grpc::unsupported;
use crate::proto::v1 as pb;
use crate::proto::v1::cover_service_server::CoverService;

pub struct CoverApi {
    pub engine: Arc<Engine>,
}

#[tonic::async_trait]
impl CoverService for CoverApi {
    type GenerateCoverStream = ReceiverStream<Result<pb::GenerateCoverResponse, Status>>;

    async fn generate_cover(
        &self,
        _request: Request<pb::GenerateCoverRequest>,
    ) -> Result<Response<Self::GenerateCoverStream>, Status> {
        Err(unsupported(&self.engine, Operation::GenerateCover))
    }

    async fn list_cover_options(
        &self,
        _request: Request<pb::ListCoverOptionsRequest>,
    ) -> Result<Response<pb::ListCoverOptionsResponse>, Status> {
        Err(unsupported(&self.engine, Operation::CoverOptions))
    }

    async fn upload_reference_image(
        &self,
        _request: Request<pb::UploadReferenceImageRequest>,
    ) -> Result<Response<pb::UploadReferenceImageResponse>, Status> {
        Err(unsupported(&self.engine, Operation::UploadReferenceImage))
    }
}

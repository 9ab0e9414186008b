//! `imgforge.v1.CoverService`: seed 001.

use std::sync::Arc;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::cover::{Covers, Gender, OptionCatalogue};
use crate::domain::Operation;
use crate::engine::Engine;
use crate::error::Error;
use crate::grpc::{convert, unsupported};
use crate::proto::v1 as pb;
use crate::proto::v1::cover_service_server::CoverService;

pub struct CoverApi {
    pub engine: Arc<Engine>,
    pub covers: Covers,
}

/// The caller the signature layer identified; a guarded service without one is a wiring bug.
fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Error::internal("the signature layer did not run on this call").into())
}

fn gender_to_proto(gender: Gender) -> i32 {
    match gender {
        Gender::Female => pb::Gender::Female.into(),
        Gender::Male => pb::Gender::Male.into(),
    }
}

fn catalogue_to_proto(catalogue: &OptionCatalogue) -> pb::ListCoverOptionsResponse {
    pb::ListCoverOptionsResponse {
        groups: catalogue
            .groups
            .iter()
            .map(|group| pb::CoverOptionGroup {
                name: group.name.clone(),
                options: group
                    .options
                    .iter()
                    .map(|option| pb::CoverOption {
                        code: option.code.clone(),
                        label: option.label.clone(),
                        genders: option
                            .genders
                            .iter()
                            .copied()
                            .map(gender_to_proto)
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
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

    #[tracing::instrument(skip_all)]
    async fn list_cover_options(
        &self,
        request: Request<pb::ListCoverOptionsRequest>,
    ) -> Result<Response<pb::ListCoverOptionsResponse>, Status> {
        let catalogue = self.covers.options(&request.get_ref().namespace)?;
        Ok(Response::new(catalogue_to_proto(catalogue)))
    }

    #[tracing::instrument(skip_all)]
    async fn upload_reference_image(
        &self,
        request: Request<pb::UploadReferenceImageRequest>,
    ) -> Result<Response<pb::UploadReferenceImageResponse>, Status> {
        let caller = caller(&request)?;
        let source = convert::image_source(request.into_inner().image, "image")?;
        let record = self
            .covers
            .references
            .upload(&caller, source, "image")
            .await?;
        Ok(Response::new(pb::UploadReferenceImageResponse {
            ref_image_id: record.id,
            expires_at: Some(record.expires_at.into()),
        }))
    }
}

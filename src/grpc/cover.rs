//! `imgforge.v1.CoverService`: seed 001.

use std::sync::Arc;

use std::pin::Pin;
use std::time::SystemTime;

use futures::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::cover::{CoverAttributes, CoverEvent, Covers, Gender, OptionCatalogue};
use crate::domain::EncodedImage;
use crate::engine::{DeliveredImage, Engine};
use crate::error::Error;
use crate::grpc::caller;
use crate::grpc::convert;
use crate::proto::v1 as pb;
use crate::proto::v1::cover_service_server::CoverService;

pub struct CoverApi {
    pub engine: Arc<Engine>,
    pub covers: Covers,
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

/// The request's attributes as the transport-neutral generator takes them.
fn attributes(request: pb::GenerateCoverRequest) -> Result<CoverAttributes, Status> {
    let gender = match pb::Gender::try_from(request.gender) {
        Ok(pb::Gender::Female) => "female",
        Ok(pb::Gender::Male) => "male",
        Ok(pb::Gender::Unspecified) => "",
        Err(_) => {
            return Err(Error::invalid(
                "gender",
                format!("gender: unknown value {}", request.gender),
            )
            .into());
        }
    };
    Ok(CoverAttributes {
        gender: gender.to_owned(),
        age: request.age,
        ethnicity: request.ethnicity,
        body_type: request.body_type,
        breast_size: request.breast_size,
        butt_size: request.butt_size,
        hair_color: request.hair_color,
        hair_style: request.hair_style,
        ref_image_id: request.ref_image_id,
    })
}

fn inline(image: EncodedImage) -> pb::ImageOutput {
    convert::image_output(DeliveredImage::inline(image))
}

/// One stream event as the proto message, stamped with the call's trace id.
fn event_to_proto(event: CoverEvent, trace_id: &str) -> pb::GenerateCoverResponse {
    use pb::generate_cover_response::Event;
    let event = match event {
        CoverEvent::Queued { position } => Event::Queued(pb::CoverQueued { position }),
        CoverEvent::Running { percent, stage } => {
            Event::Running(pb::CoverRunning { percent, stage })
        }
        CoverEvent::Preview(image) => Event::Preview(pb::CoverPreview {
            image: Some(inline(image)),
        }),
        CoverEvent::Completed {
            cover_id,
            image,
            expires_at,
            notes,
        } => Event::Completed(pb::CoverCompleted {
            cover_id,
            image: Some(inline(image)),
            expires_at: Some(expires_at.into()),
            notes,
        }),
        CoverEvent::Failed { code, message } => Event::Failed(pb::CoverFailed {
            code: code.name().to_owned(),
            message,
        }),
    };
    pb::GenerateCoverResponse {
        trace_id: trace_id.to_owned(),
        at: Some(SystemTime::now().into()),
        event: Some(event),
    }
}

#[tonic::async_trait]
impl CoverService for CoverApi {
    type GenerateCoverStream =
        Pin<Box<dyn Stream<Item = Result<pb::GenerateCoverResponse, Status>> + Send>>;

    /// Errors found before generating (no backend, a bad attribute, an unknown reference)
    /// are the call's status; once the stream is open, a failure is its `failed` event.
    #[tracing::instrument(skip_all)]
    async fn generate_cover(
        &self,
        request: Request<pb::GenerateCoverRequest>,
    ) -> Result<Response<Self::GenerateCoverStream>, Status> {
        let caller = caller(&request)?;
        let attributes = attributes(request.into_inner())?;
        let trace_id = crate::telemetry::current_trace_id();
        let events = self.covers.generator.start(caller, attributes).await?;
        let stream =
            ReceiverStream::new(events).map(move |event| Ok(event_to_proto(event, &trace_id)));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_cover(
        &self,
        request: Request<pb::GetCoverRequest>,
    ) -> Result<Response<pb::GetCoverResponse>, Status> {
        let caller = caller(&request)?;
        let cover = self
            .covers
            .generator
            .get(&caller, &request.get_ref().cover_id)
            .await?;
        Ok(Response::new(pb::GetCoverResponse {
            cover_id: cover.id,
            image: Some(inline(cover.image)),
            expires_at: Some(cover.expires_at.into()),
        }))
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

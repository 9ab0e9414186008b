//! `imgforge.v1.CharacterService`: seed 000.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::params::{CreateCharacterParams, StylePreset};
use crate::engine::Engine;
use crate::error::Error;
use crate::grpc::convert::{image_output, image_source, output_options};
use crate::proto::v1 as pb;
use crate::proto::v1::character_service_server::CharacterService;

pub struct CharacterApi {
    pub engine: Arc<Engine>,
}

#[tonic::async_trait]
impl CharacterService for CharacterApi {
    #[tracing::instrument(skip_all, name = "grpc.create_character")]
    async fn create_character(
        &self,
        request: Request<pb::CreateCharacterRequest>,
    ) -> Result<Response<pb::CreateCharacterResponse>, Status> {
        let req = request.into_inner();
        let preset = match pb::StylePreset::try_from(req.style_preset) {
            Ok(pb::StylePreset::Unspecified | pb::StylePreset::Default) => StylePreset::Default,
            Ok(pb::StylePreset::Cartoon) => StylePreset::Cartoon,
            Ok(pb::StylePreset::Watercolor) => StylePreset::Watercolor,
            Err(_) => {
                return Err(Error::invalid(
                    "style_preset",
                    format!("unknown style_preset {}", req.style_preset),
                )
                .into());
            }
        };
        let (output, delivery) = output_options(req.output)?;
        let photo = image_source(req.photo, "photo")?;
        let outcome = self
            .engine
            .create_character(
                photo,
                "photo",
                CreateCharacterParams { preset, output },
                delivery,
            )
            .await?;
        Ok(Response::new(pb::CreateCharacterResponse {
            image: Some(image_output(outcome.image)),
            provider: outcome.provider.to_owned(),
            notes: outcome.notes,
        }))
    }
}

//! `imgforge.v1.CharacterService`: seed 000.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::domain::Operation;
use crate::engine::Engine;
use crate::grpc::unsupported;
use crate::proto::v1 as pb;
use crate::proto::v1::character_service_server::CharacterService;

pub struct CharacterApi {
    pub engine: Arc<Engine>,
}

#[tonic::async_trait]
impl CharacterService for CharacterApi {
    async fn create_character(
        &self,
        _request: Request<pb::CreateCharacterRequest>,
    ) -> Result<Response<pb::CreateCharacterResponse>, Status> {
        Err(unsupported(&self.engine, Operation::CreateCharacter))
    }
}

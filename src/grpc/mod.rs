//! The tonic services: validate, convert, call the engine, convert back.

mod character;
mod convert;
mod cover;
mod editing;
mod portrait;
mod request_status;
mod utility;

use std::sync::Arc;

use tonic::Status;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::domain::Operation;
use crate::engine::Engine;
use crate::error::Error;
use crate::proto::v1::character_service_server::CharacterServiceServer;
use crate::proto::v1::cover_service_server::CoverServiceServer;
use crate::proto::v1::editing_service_server::EditingServiceServer;
use crate::proto::v1::portrait_service_server::PortraitServiceServer;
use crate::proto::v1::utility_service_server::UtilityServiceServer;

pub use character::CharacterApi;
pub use cover::CoverApi;
pub use editing::EditingApi;
pub use portrait::PortraitApi;
pub use request_status::RequestStatusLayer;
pub use utility::UtilityApi;

/// The error of an operation no configured provider runs yet.
fn unsupported(engine: &Engine, op: Operation) -> Status {
    engine
        .require(op)
        .err()
        .unwrap_or_else(|| Error::unimplemented(format!("operation {op} is not implemented")))
        .into()
}

/// Every imgforge service with the operations it carries, for health reporting.
pub fn services() -> [(&'static str, &'static [Operation]); 5] {
    [
        (
            EditingServiceServer::<EditingApi>::NAME,
            &[
                Operation::RemoveBackground,
                Operation::ChangeBackground,
                Operation::ChangeClothes,
                Operation::Expand,
                Operation::Fix,
                Operation::RemoveWatermark,
            ],
        ),
        (
            UtilityServiceServer::<UtilityApi>::NAME,
            &[Operation::Resize, Operation::ConvertToPng],
        ),
        (
            CharacterServiceServer::<CharacterApi>::NAME,
            &[Operation::CreateCharacter],
        ),
        (
            CoverServiceServer::<CoverApi>::NAME,
            &[
                Operation::GenerateCover,
                Operation::CoverOptions,
                Operation::UploadReferenceImage,
            ],
        ),
        (
            PortraitServiceServer::<PortraitApi>::NAME,
            &[
                Operation::PortraitUpload,
                Operation::PortraitCreateUserModel,
                Operation::PortraitListStyles,
                Operation::PortraitCreateTask,
                Operation::PortraitQueryTask,
            ],
        ),
    ]
}

/// A service is SERVING when a configured provider can run at least one of its operations now;
/// the empty name (the whole server) is SERVING once it accepts calls.
pub async fn report_health(reporter: &HealthReporter, engine: &Engine) {
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for (name, operations) in services() {
        let status = if operations.iter().any(|op| engine.is_ready(*op)) {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter.set_service_status(name, status).await;
    }
}

/// Shutdown has begun: every service, and the server as a whole, is NOT_SERVING at once.
pub async fn report_not_serving(reporter: &HealthReporter) {
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    for (name, _) in services() {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
}

/// Shared by the services: the engine plus per-service construction.
pub struct Apis {
    pub engine: Arc<Engine>,
    pub covers: crate::cover::Covers,
}

impl Apis {
    pub fn editing(&self) -> EditingApi {
        EditingApi {
            engine: self.engine.clone(),
        }
    }
    pub fn utility(&self) -> UtilityApi {
        UtilityApi {
            engine: self.engine.clone(),
        }
    }
    pub fn character(&self) -> CharacterApi {
        CharacterApi {
            engine: self.engine.clone(),
        }
    }
    pub fn cover(&self) -> CoverApi {
        CoverApi {
            engine: self.engine.clone(),
            covers: self.covers.clone(),
        }
    }
    pub fn portrait(&self) -> PortraitApi {
        PortraitApi {
            engine: self.engine.clone(),
        }
    }
}

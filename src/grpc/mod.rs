//! The tonic services: validate, convert, call the engine, convert back.

mod character;
mod convert;
mod cover;
mod editing;
mod portrait;
mod request_status;
mod utility;

use std::sync::Arc;

use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::domain::Operation;
use crate::engine::Engine;
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

/// The caller the signature layer identified; a guarded service without one is a wiring bug.
fn caller<T>(request: &tonic::Request<T>) -> Result<crate::auth::Caller, tonic::Status> {
    request
        .extensions()
        .get::<crate::auth::Caller>()
        .cloned()
        .ok_or_else(|| {
            crate::error::Error::internal("the signature layer did not run on this call").into()
        })
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
            // The local portrait backend segments and stylises through create-character:
            // the service works exactly when that does.
            &[Operation::CreateCharacter],
        ),
    ]
}

/// How often health is recomputed: readiness changes when a circuit opens or closes or a
/// model loads or fails, and none of those is worth a push channel of its own.
const HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// gRPC health that follows readiness as it changes, until shutdown turns everything
/// NOT_SERVING for good.
pub struct Health {
    reporter: HealthReporter,
    /// Set at shutdown; updates are refused afterwards. A lock, not a flag, so an update
    /// computed just before shutdown cannot land just after it.
    closed: tokio::sync::Mutex<bool>,
}

impl Health {
    pub fn new(reporter: HealthReporter) -> Arc<Self> {
        Arc::new(Health {
            reporter,
            closed: tokio::sync::Mutex::new(false),
        })
    }

    /// A service is SERVING when a configured provider can run at least one of its operations
    /// now; the empty name (the whole server) is SERVING once it accepts calls.
    /// Returns what it reported, for [`Health::follow`] to start from.
    pub async fn report(&self, engine: &Engine) -> Vec<(&'static str, ServingStatus)> {
        let now = statuses(engine);
        let closed = self.closed.lock().await;
        if *closed {
            return now;
        }
        self.reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        for (name, status) in &now {
            self.reporter.set_service_status(*name, *status).await;
        }
        now
    }

    /// Recomputes health every [`HEALTH_INTERVAL`], reporting only what changed, until
    /// shutdown. `last` is what was reported before.
    pub async fn follow(
        self: Arc<Self>,
        engine: Arc<Engine>,
        mut last: Vec<(&'static str, ServingStatus)>,
    ) {
        let mut tick = tokio::time::interval(HEALTH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = statuses(&engine);
            if now == last {
                continue;
            }
            let closed = self.closed.lock().await;
            if *closed {
                return;
            }
            for (name, status) in &now {
                if !last.contains(&(*name, *status)) {
                    tracing::info!(service = name, status = ?status, "health changed");
                    self.reporter.set_service_status(*name, *status).await;
                }
            }
            drop(closed);
            last = now;
        }
    }

    /// Shutdown has begun: every service, and the server as a whole, is NOT_SERVING at once
    /// and stays so.
    pub async fn shut_down(&self) {
        let mut closed = self.closed.lock().await;
        *closed = true;
        self.reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for (name, _) in services() {
            self.reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    }
}

fn statuses(engine: &Engine) -> Vec<(&'static str, ServingStatus)> {
    services()
        .into_iter()
        .map(|(name, operations)| {
            let status = if operations.iter().any(|op| engine.is_ready(*op)) {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            (name, status)
        })
        .collect()
}

/// Shared by the services: the engine plus per-service construction.
pub struct Apis {
    pub engine: Arc<Engine>,
    pub covers: crate::cover::Covers,
    pub portraits: Arc<crate::portrait::Portraits>,
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
            portraits: self.portraits.clone(),
        }
    }
}

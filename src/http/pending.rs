//! REST paths whose operations no configured provider runs yet: each answers
//! `Unimplemented` in its seed's envelope, naming the operation and the providers tried.

use axum::extract::State;
use axum::response::Response;

use crate::domain::Operation;
use crate::error::Error;
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};

pub async fn unsupported(
    state: &AppState,
    envelope: Envelope,
    op: Operation,
) -> Result<Response, ApiError> {
    let error = state
        .engine
        .require(op)
        .err()
        .unwrap_or_else(|| Error::unimplemented(format!("operation {op} is not implemented")));
    Err(envelope.error(error))
}

macro_rules! pending_route {
    ($name:ident, $envelope:expr, $op:expr) => {
        pub async fn $name(State(state): State<AppState>) -> Result<Response, ApiError> {
            unsupported(&state, $envelope, $op).await
        }
    };
}

pending_route!(upload_file, Envelope::Seed003, Operation::PortraitUpload);
pending_route!(
    user_model_create,
    Envelope::Seed003,
    Operation::PortraitCreateUserModel
);
pending_route!(
    product_brief_query,
    Envelope::Seed003,
    Operation::PortraitListStyles
);
pending_route!(
    task_create,
    Envelope::Seed003,
    Operation::PortraitCreateTask
);
pending_route!(task_query, Envelope::Seed003, Operation::PortraitQueryTask);

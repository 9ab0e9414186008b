//! A `provider_call` span around every call, and the provider's name on every error it
//! returns, whichever layer below made the error.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::Instrument;

use super::{Decorator, Layer};
use crate::error::Result;
use crate::providers::{Call, OpRequest, Output, Provider};

pub struct TraceLayer;

impl Layer for TraceLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Traced { inner })
    }
}

struct Traced {
    inner: Arc<dyn Provider>,
}

#[async_trait]
impl Decorator for Traced {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let name = self.inner.name();
        // `attempt` is filled in by the retry layer; `outcome` here.
        let span = tracing::info_span!(
            "provider_call",
            provider = name,
            operation = %request.operation(),
            attempt = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let result = self.inner.run(request, call).instrument(span.clone()).await;
        span.record(
            "outcome",
            match &result {
                Ok(_) => "ok",
                Err(err) => err.code.name(),
            },
        );
        result.map_err(|err| {
            if err.provider.is_some() {
                err
            } else {
                err.with_provider(name)
            }
        })
    }
}

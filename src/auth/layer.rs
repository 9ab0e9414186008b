//! One tower layer checks signatures on both transports: it buffers a guarded request's body
//! (bounded), hashes what the transport signs, runs [`Authenticator`], and either refuses in
//! the transport's own terms or hands the request on with its [`Caller`] in the extensions.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Limited};
use tower::{Layer, Service};

use super::transport::Transport;
use super::verify::{Authenticator, Caller, HEADER_USER, RequestHead};
use crate::error::{Error, ErrorCode};

/// How guarded requests are admitted.
#[derive(Debug, Clone)]
pub enum Admission {
    /// Every guarded request must be signed with a configured key.
    Signed(Arc<Authenticator>),
    /// No key is configured and the operator allows it (loopback, or `allow_anonymous`).
    Anonymous,
}

#[derive(Clone)]
pub struct SignatureLayer<T> {
    admission: Admission,
    transport: T,
}

impl<T> SignatureLayer<T> {
    pub fn new(admission: Admission, transport: T) -> Self {
        SignatureLayer {
            admission,
            transport,
        }
    }
}

impl<S, T: Clone> Layer<S> for SignatureLayer<T> {
    type Service = SignatureCheck<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        SignatureCheck {
            inner,
            admission: self.admission.clone(),
            transport: self.transport.clone(),
        }
    }
}

#[derive(Clone)]
pub struct SignatureCheck<S, T> {
    inner: S,
    admission: Admission,
    transport: T,
}

impl<S, T> Service<http::Request<T::Body>> for SignatureCheck<S, T>
where
    T: Transport,
    S: Service<http::Request<T::Body>, Response = http::Response<T::ResponseBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<T::Body>) -> Self::Future {
        if !self.transport.guards(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let authenticator = match &self.admission {
            Admission::Anonymous => {
                let user = request
                    .headers()
                    .get(HEADER_USER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                request
                    .extensions_mut()
                    .insert(Caller::anonymous(user.as_deref()));
                return Box::pin(self.inner.call(request));
            }
            Admission::Signed(authenticator) => authenticator.clone(),
        };
        // The clone that was polled ready serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let transport = self.transport.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes = match read_body(body, transport.max_body_bytes()).await {
                Ok(bytes) => bytes,
                Err(error) => return Ok(transport.refuse(parts.uri.path(), error)),
            };
            let checked = async {
                let signed = transport.signed_payload(&bytes)?;
                let head = RequestHead {
                    method: parts.method.as_str(),
                    path: parts.uri.path(),
                    query: parts.uri.query().unwrap_or(""),
                    headers: &parts.headers,
                };
                authenticator.authenticate(&head, &signed).await
            };
            match checked.await {
                Ok(caller) => {
                    tracing::debug!(key = %caller.key_id, "signed request accepted");
                    parts.extensions.insert(caller);
                    inner
                        .call(http::Request::from_parts(parts, T::rebuild(bytes)))
                        .await
                }
                Err(error) => {
                    tracing::info!(path = parts.uri.path(), error = %error.message, "signed request refused");
                    Ok(transport.refuse(parts.uri.path(), error))
                }
            }
        })
    }
}

async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Error>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(Error::too_large(
            "body",
            format!("the request body is larger than {limit} bytes"),
        )),
        Err(err) => Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("the request body could not be read: {err}"),
        )),
    }
}

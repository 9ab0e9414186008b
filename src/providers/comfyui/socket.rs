//! The `/ws?clientId=` event stream of one run.
//!
//! Each job opens its own socket with a fresh client id, so everything addressed to that
//! id is about this job; only `status` broadcasts concern others. The first text message
//! announces `supports_preview_metadata`, after which current servers send previews as
//! type-4 frames carrying the prompt id.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::frames::{self, PreviewFrame};
use super::wire::{Event, Message};
use crate::config::Secret;

pub struct EventSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the socket said.
pub enum Frame {
    Event(Event),
    Preview(PreviewFrame),
}

/// Why a socket cannot be used: the run is then followed by polling.
#[derive(Debug)]
pub struct Unusable(pub String);

impl EventSocket {
    /// Connects to `base_url`'s `/ws` as `client_id`. Only `http` servers (`ws://`): TLS
    /// WebSockets are not built in, and polling serves those.
    pub async fn connect(
        base_url: &str,
        client_id: &str,
        api_key: &Secret,
        max_message_bytes: usize,
        timeout: Duration,
    ) -> Result<Self, Unusable> {
        let mut url = url::Url::parse(base_url).map_err(|e| Unusable(e.to_string()))?;
        if url.scheme() != "http" {
            return Err(Unusable(format!(
                "{} servers are followed by polling",
                url.scheme()
            )));
        }
        url.set_scheme("ws")
            .map_err(|()| Unusable("cannot make a ws url".to_owned()))?;
        let path = format!("{}/ws", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .clear()
            .append_pair("clientId", client_id);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Unusable(e.to_string()))?;
        if !api_key.is_empty() {
            let value = format!("Bearer {}", api_key.expose())
                .parse()
                .map_err(|_| Unusable("api_key is not a valid header value".to_owned()))?;
            request.headers_mut().insert("authorization", value);
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_message_bytes))
            .max_frame_size(Some(max_message_bytes));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
        let (mut stream, _) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Unusable("connect timed out".to_owned()))?
            .map_err(|e| Unusable(e.to_string()))?;
        let hello = r#"{"type":"feature_flags","data":{"supports_preview_metadata":true}}"#;
        stream
            .send(WsMessage::text(hello))
            .await
            .map_err(|e| Unusable(e.to_string()))?;
        Ok(EventSocket { stream })
    }

    /// The next event or preview; `None` when the socket closed, `Err` when it broke.
    /// Frames this adapter does not read are skipped.
    pub async fn next(&mut self) -> Option<Result<Frame, String>> {
        loop {
            let message = match self.stream.next().await? {
                Ok(message) => message,
                Err(e) => return Some(Err(e.to_string())),
            };
            match message {
                WsMessage::Text(text) => match serde_json::from_str::<Message>(&text) {
                    Ok(message) => return Some(Ok(Frame::Event(message.event()))),
                    Err(e) => {
                        tracing::debug!(error = %e, "unreadable comfyui event skipped");
                    }
                },
                WsMessage::Binary(bytes) => {
                    if let Some(preview) = frames::parse(&bytes) {
                        return Some(Ok(Frame::Preview(preview)));
                    }
                }
                WsMessage::Close(_) => return None,
                WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

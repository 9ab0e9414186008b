//! The accept loop both transports share: a cap on open connections (the excess is closed at
//! once), an idle timeout per connection, and survival of `EMFILE` and other accept errors
//! (back off and retry) so running out of file descriptors never stops the server.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// Limits of one listener's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Descriptors kept free for everything but connections: files, model sessions, outgoing
/// requests, and the one accept that closes a refused connection.
const RESERVED_FDS: u64 = 64;

/// `wanted` lowered so that every listener's connections fit the open-files limit.
pub fn fit_to_open_files(wanted: usize, listeners: usize) -> usize {
    match open_files_limit() {
        Some(limit) => {
            let usable = limit.saturating_sub(RESERVED_FDS) / listeners.max(1) as u64;
            let fitted = wanted.min(usable.max(1) as usize);
            if fitted < wanted {
                tracing::warn!(
                    open_files_limit = limit,
                    max_connections = fitted,
                    configured = wanted,
                    "server.max_connections lowered to fit the open-files limit"
                );
            }
            fitted
        }
        None => wanted,
    }
}

#[cfg(unix)]
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn open_files_limit() -> Option<u64> {
    None
}

/// Accepted connections within the cap, forever: accept errors are waited out, never returned.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    transport: &'static str,
) -> impl Stream<Item = io::Result<TrackedStream>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let state = Acceptor {
        listener,
        slots,
        limits,
        transport,
        backoff: MIN_BACKOFF,
        refused: 0,
    };
    futures::stream::unfold(state, |mut state| async move {
        let stream = state.next().await;
        Some((Ok(stream), state))
    })
}

const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limits: ConnectionLimits,
    transport: &'static str,
    backoff: Duration,
    refused: u64,
}

impl Acceptor {
    async fn next(&mut self) -> TrackedStream {
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    self.wait_out(e).await;
                    continue;
                }
            };
            self.backoff = MIN_BACKOFF;
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                // Closing at once tells the client to go elsewhere; holding the socket would
                // spend the descriptors the cap protects.
                self.refused += 1;
                if self.refused.is_power_of_two() {
                    tracing::warn!(
                        transport = self.transport,
                        %peer,
                        refused = self.refused,
                        max_connections = self.limits.max_connections,
                        "connection refused: server.max_connections reached"
                    );
                }
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            return TrackedStream::new(tcp, slot, self.limits.idle_timeout);
        }
    }

    /// Out of descriptors (or memory), the listener stays readable and a retry fails at once:
    /// sleep, growing the pause, until connections close and free descriptors.
    async fn wait_out(&mut self, error: io::Error) {
        let resource = matches!(error.raw_os_error(), Some(code) if is_resource_error(code));
        if resource {
            tracing::warn!(transport = self.transport, error = %error, backoff_ms = self.backoff.as_millis() as u64, "accept failed; backing off");
            tokio::time::sleep(self.backoff).await;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        } else {
            // A connection reset before it was accepted and the like: only that one is lost.
            tracing::debug!(transport = self.transport, error = %error, "accept failed");
        }
    }
}

#[cfg(unix)]
fn is_resource_error(code: i32) -> bool {
    matches!(
        code,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
    )
}

#[cfg(not(unix))]
fn is_resource_error(_code: i32) -> bool {
    true
}

/// Requests running on a connection; while any runs, the connection is never idle.
#[derive(Debug, Default)]
pub struct Activity {
    running: AtomicUsize,
}

impl Activity {
    pub fn start(self: &Arc<Self>) -> RunningRequest {
        self.running.fetch_add(1, Ordering::SeqCst);
        RunningRequest(self.clone())
    }

    fn is_busy(&self) -> bool {
        self.running.load(Ordering::SeqCst) > 0
    }
}

/// Marks a request as running until dropped.
pub struct RunningRequest(Arc<Activity>);

impl Drop for RunningRequest {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An accepted connection: holds its slot of the cap and fails its reads once it has been
/// idle (no request running, no byte in either direction) for the idle timeout, which makes
/// hyper close it.
pub struct TrackedStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    last_traffic: Instant,
    idle: Pin<Box<Sleep>>,
}

impl TrackedStream {
    fn new(inner: TcpStream, slot: OwnedSemaphorePermit, idle_timeout: Duration) -> TrackedStream {
        TrackedStream {
            inner,
            _slot: slot,
            activity: Arc::default(),
            idle_timeout,
            last_traffic: Instant::now(),
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Ready with an error once the connection is idle; re-arms the timer otherwise.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.idle.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let quiet_until = self.last_traffic + self.idle_timeout;
            let now = Instant::now();
            if self.activity.is_busy() || quiet_until > now {
                let next = if quiet_until > now {
                    quiet_until
                } else {
                    now + self.idle_timeout
                };
                self.idle.as_mut().reset(next.into());
                continue;
            }
            return Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "connection idle for {} s (server.idle_timeout_secs)",
                    self.idle_timeout.as_secs()
                ),
            ));
        }
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.last_traffic = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.last_traffic = Instant::now();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.last_traffic = Instant::now();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for TrackedStream {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = ConnectionLimits {
            max_connections: 1,
            idle_timeout: Duration::from_secs(30),
        };
        let mut incoming = Box::pin(incoming(listener, limits, "test"));
        let _first = TcpStream::connect(addr).await.unwrap();
        let kept = incoming.next().await.unwrap().unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        let accept_more = tokio::spawn(async move {
            let _ = incoming.next().await;
        });
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), second.read(&mut byte))
            .await
            .expect("the refused connection is closed at once");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        drop(kept);
        accept_more.abort();
    }

    #[tokio::test]
    async fn an_idle_connection_fails_its_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = ConnectionLimits {
            max_connections: 4,
            idle_timeout: Duration::from_millis(200),
        };
        let mut incoming = Box::pin(incoming(listener, limits, "test"));
        let _client = TcpStream::connect(addr).await.unwrap();
        let mut server = incoming.next().await.unwrap().unwrap();
        let mut byte = [0u8; 1];
        let err = tokio::time::timeout(Duration::from_secs(5), server.read(&mut byte))
            .await
            .expect("the idle timeout fires")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_running_request_keeps_a_quiet_connection_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = ConnectionLimits {
            max_connections: 4,
            idle_timeout: Duration::from_millis(100),
        };
        let mut incoming = Box::pin(incoming(listener, limits, "test"));
        let _client = TcpStream::connect(addr).await.unwrap();
        let mut server = incoming.next().await.unwrap().unwrap();
        let running = server.activity().start();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(400), server.read(&mut byte)).await;
        assert!(read.is_err(), "still open while a request runs");
        drop(running);
        let read = tokio::time::timeout(Duration::from_secs(5), server.read(&mut byte))
            .await
            .expect("idle once the request ended");
        assert!(read.is_err());
    }
}

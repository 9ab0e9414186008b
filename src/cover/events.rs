//! What a cover stream says, independent of the transport: `queued`, `running` (a percent
//! that never goes down, and a stage), `preview`, then exactly one `completed` or `failed`.
//!
//! [`Relay`] turns a provider's [`Progress`] into these events as they come, on the
//! provider's side of the channel: reporting must never block a backend's follower, so an
//! event that does not fit the caller's buffer is dropped (the next one supersedes it; the
//! keepalive repeats the latest state), and the final event is sent by the producer itself.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::domain::{EncodedImage, Progress, ProgressSink};
use crate::error::ErrorCode;

/// One event of a cover stream.
#[derive(Debug, Clone, PartialEq)]
pub enum CoverEvent {
    /// Waiting for the backend; `position` jobs are ahead.
    Queued {
        position: u32,
    },
    /// `percent` (0–100) never goes down within a stream.
    Running {
        percent: f32,
        stage: String,
    },
    Preview(EncodedImage),
    Completed {
        cover_id: String,
        image: EncodedImage,
        expires_at: SystemTime,
        notes: Vec<String>,
    },
    /// Transports send `code.name()`, the stable kebab-case name of the error kind
    /// (`invalid-argument`, `unavailable`, `content-rejected`, …).
    Failed {
        code: ErrorCode,
        message: String,
    },
}

#[derive(Debug)]
struct State {
    /// Latest queued or running event sent, repeated as the keepalive.
    last: Option<CoverEvent>,
    percent: f32,
    stage: String,
    last_sent: Instant,
}

/// The provider-facing end of a stream: a [`ProgressSink`] that feeds the caller's bounded
/// channel, keeping the percent monotonic and remembering what to repeat as a keepalive.
#[derive(Clone, Debug)]
pub struct Relay {
    tx: mpsc::Sender<CoverEvent>,
    state: Arc<Mutex<State>>,
}

impl Relay {
    pub fn new(tx: mpsc::Sender<CoverEvent>) -> Self {
        Relay {
            tx,
            state: Arc::new(Mutex::new(State {
                last: None,
                percent: 0.0,
                stage: String::new(),
                last_sent: Instant::now(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sink to hand to the provider.
    pub fn sink(&self) -> ProgressSink {
        let relay = self.clone();
        ProgressSink::new(move |progress| relay.offer(progress))
    }

    /// Passes one report on, without waiting.
    pub fn offer(&self, progress: Progress) {
        let mut state = self.state();
        let event = match progress {
            Progress::Queued { position } => {
                // A backend that queues after running (a fallback, a server's own queue)
                // does not take the stream back to queued: it goes on as running.
                if matches!(state.last, Some(CoverEvent::Running { .. })) {
                    CoverEvent::Running {
                        percent: state.percent,
                        stage: "queued at the backend".to_owned(),
                    }
                } else {
                    CoverEvent::Queued {
                        position: position.unwrap_or(0),
                    }
                }
            }
            Progress::Running { percent, stage } => {
                if state.last.is_none() {
                    // Every stream opens with `queued`, even on a backend that never queues.
                    self.send_now(&mut state, CoverEvent::Queued { position: 0 });
                }
                if let Some(percent) = percent.filter(|p| p.is_finite()) {
                    state.percent = state.percent.max(percent.clamp(0.0, 100.0));
                }
                if !stage.is_empty() {
                    state.stage = stage;
                }
                CoverEvent::Running {
                    percent: state.percent,
                    stage: state.stage.clone(),
                }
            }
            Progress::Preview(image) => {
                // A picture means the backend is working: the stream says so first.
                if !matches!(state.last, Some(CoverEvent::Running { .. })) {
                    if state.last.is_none() {
                        self.send_now(&mut state, CoverEvent::Queued { position: 0 });
                    }
                    let running = CoverEvent::Running {
                        percent: state.percent,
                        stage: "generating".to_owned(),
                    };
                    self.send_now(&mut state, running);
                }
                CoverEvent::Preview(image)
            }
        };
        self.send_now(&mut state, event);
    }

    fn send_now(&self, state: &mut State, event: CoverEvent) {
        let remembered = matches!(
            event,
            CoverEvent::Queued { .. } | CoverEvent::Running { .. }
        )
        .then(|| event.clone());
        // Full: a slow reader misses this one (the next supersedes it). Closed: the
        // producer sees it too and stops the work.
        if self.tx.try_send(event).is_ok() {
            state.last_sent = Instant::now();
        }
        if remembered.is_some() {
            state.last = remembered;
        }
    }

    /// When the stream has been silent for `period` since its last event.
    pub fn quiet_until(&self, period: std::time::Duration) -> Instant {
        self.state().last_sent + period
    }

    /// Sends the latest state again (`queued` while waiting in line, else `running`).
    pub fn keepalive(&self) {
        let mut state = self.state();
        let event = state
            .last
            .clone()
            .unwrap_or(CoverEvent::Queued { position: 0 });
        self.send_now(&mut state, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::Receiver<CoverEvent>) -> Vec<CoverEvent> {
        let mut out = Vec::new();
        while let Ok(event) = rx.try_recv() {
            out.push(event);
        }
        out
    }

    #[tokio::test]
    async fn percent_never_goes_down_and_a_stream_opens_with_queued() {
        let (tx, mut rx) = mpsc::channel(32);
        let relay = Relay::new(tx);
        let sink = relay.sink();
        sink.running(Some(40.0), "sampling");
        sink.running(Some(10.0), "");
        sink.running(None, "decoding");
        let events = drain(&mut rx);
        assert_eq!(events[0], CoverEvent::Queued { position: 0 });
        let percents: Vec<(f32, String)> = events[1..]
            .iter()
            .map(|e| {
                let CoverEvent::Running { percent, stage } = e else {
                    panic!("unexpected {e:?}");
                };
                (*percent, stage.clone())
            })
            .collect();
        assert_eq!(
            percents,
            vec![
                (40.0, "sampling".to_owned()),
                (40.0, "sampling".to_owned()),
                (40.0, "decoding".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn a_full_buffer_drops_progress_without_blocking_and_keepalive_repeats_the_state() {
        let (tx, mut rx) = mpsc::channel(1);
        let relay = Relay::new(tx);
        relay.offer(Progress::Queued { position: Some(3) });
        relay.offer(Progress::Queued { position: Some(2) });
        assert_eq!(drain(&mut rx), vec![CoverEvent::Queued { position: 3 }]);
        relay.keepalive();
        assert_eq!(drain(&mut rx), vec![CoverEvent::Queued { position: 2 }]);
    }
}

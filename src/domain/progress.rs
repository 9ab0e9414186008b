//! Progress of long work (cover generation, portrait training), reported by the provider
//! doing it to whoever is waiting: a gRPC stream, a task record, or nobody.
//!
//! The sink is passed *into* the work rather than returned from it so that a provider
//! needs no knowledge of transports, and short operations pay nothing (`ProgressSink::none`).

use std::fmt;
use std::sync::Arc;

use super::EncodedImage;

/// One thing a provider can say about work in flight.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Waiting in the backend's own queue; `position` is the number of jobs ahead when known.
    Queued { position: Option<u32> },
    /// Running. `percent` (0–100) only when the backend measures it; `stage` names what is
    /// happening in words a caller can show ("sampling", "decoding", "PENDING → RUNNING").
    Running { percent: Option<f32>, stage: String },
    /// An intermediate picture the backend produced (a denoising step, a partial image).
    Preview(EncodedImage),
}

type Listener = dyn Fn(Progress) + Send + Sync;

/// Where a provider sends [`Progress`]. Cheap to clone; reporting never blocks and never
/// fails (a listener that can fall behind must drop or coalesce on its own side).
#[derive(Clone, Default)]
pub struct ProgressSink {
    listener: Option<Arc<Listener>>,
}

impl ProgressSink {
    /// A sink that discards everything, for callers that only want the result.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn new(listener: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        ProgressSink {
            listener: Some(Arc::new(listener)),
        }
    }

    pub fn report(&self, progress: Progress) {
        if let Some(listener) = &self.listener {
            listener(progress);
        }
    }

    /// Whether anyone listens: a provider may skip costly work (encoding previews) otherwise.
    pub fn is_listening(&self) -> bool {
        self.listener.is_some()
    }

    pub fn running(&self, percent: Option<f32>, stage: impl Into<String>) {
        self.report(Progress::Running {
            percent: percent.map(|p| p.clamp(0.0, 100.0)),
            stage: stage.into(),
        });
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressSink")
            .field("listening", &self.is_listening())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_listener_sees_reports_in_order_and_percent_is_clamped() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            ProgressSink::new(move |p| seen.lock().unwrap().push(p))
        };
        sink.report(Progress::Queued { position: Some(2) });
        sink.running(Some(140.0), "sampling");
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], Progress::Queued { position: Some(2) });
        assert_eq!(
            seen[1],
            Progress::Running {
                percent: Some(100.0),
                stage: "sampling".into()
            }
        );
    }

    #[test]
    fn the_empty_sink_is_silent() {
        let sink = ProgressSink::none();
        assert!(!sink.is_listening());
        sink.running(None, "nothing listens");
    }
}

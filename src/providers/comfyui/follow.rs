//! Following one submitted run to its end: from the WebSocket while it lasts, then by
//! polling (`/api/jobs/{id}` where the server has it, `/history` and `/queue` otherwise),
//! reporting queue position, one monotonic percent, and previews.

use std::time::Duration;

use super::api::Api;
use super::error::{execution_error, gone, interrupted};
use super::frames::PreviewFrame;
use super::progress::RunProgress;
use super::socket::{EventSocket, Frame};
use super::wire::{Event, ExecutionError, FileRef, HistoryEntry};
use crate::domain::{Progress, ProgressSink};
use crate::error::{ErrorCode, Result};

pub struct Follower<'a> {
    api: &'a Api,
    prompt_id: String,
    sink: &'a ProgressSink,
    progress: RunProgress,
    started: bool,
    previews: u32,
    outputs: Vec<FileRef>,
    last_running: Option<(f32, String)>,
    last_queued: Option<Option<u32>>,
}

impl<'a> Follower<'a> {
    pub fn new(
        api: &'a Api,
        prompt_id: String,
        sink: &'a ProgressSink,
        progress: RunProgress,
    ) -> Self {
        Follower {
            api,
            prompt_id,
            sink,
            progress,
            started: false,
            previews: 0,
            outputs: Vec::new(),
            last_running: None,
            last_queued: None,
        }
    }

    /// Follows the run until it ends; returns the output files it named.
    pub async fn follow(mut self, socket: Option<EventSocket>) -> Result<Vec<FileRef>> {
        self.report_queue().await;
        if let Some(mut socket) = socket {
            if let Some(files) = self.follow_socket(&mut socket).await? {
                socket.close().await;
                return Ok(files);
            }
            tracing::warn!(prompt_id = %self.prompt_id, "comfyui websocket lost; polling the run");
        }
        self.poll().await
    }

    /// `Some(files)` when the run ended, `None` when the socket was lost first.
    async fn follow_socket(&mut self, socket: &mut EventSocket) -> Result<Option<Vec<FileRef>>> {
        loop {
            let frame = match socket.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    tracing::debug!(prompt_id = %self.prompt_id, error = %e, "comfyui websocket broke");
                    return Ok(None);
                }
                None => return Ok(None),
            };
            match frame {
                Frame::Preview(preview) => self.preview(preview).await,
                Frame::Event(event) => {
                    if self.on_event(event).await? {
                        return Ok(Some(std::mem::take(&mut self.outputs)));
                    }
                }
            }
        }
    }

    /// Applies one event; true when the run is over.
    async fn on_event(&mut self, event: Event) -> Result<bool> {
        if event
            .prompt_id()
            .is_some_and(|id| !id.is_empty() && id != self.prompt_id)
        {
            return Ok(false);
        }
        match event {
            Event::Status if !self.started => self.report_queue().await,
            Event::Status | Event::Other => {}
            Event::Start { .. } => {
                self.started = true;
                self.report_running();
            }
            Event::Cached { nodes, .. } => {
                self.started = true;
                self.progress.cached(nodes.iter().map(String::as_str));
                self.report_running();
            }
            Event::Executing {
                node: Some(node), ..
            } => {
                self.started = true;
                self.progress.executing(&node);
                self.report_running();
            }
            Event::Executing { node: None, .. } if self.started => {
                self.progress.finish();
                self.report_running();
                return Ok(true);
            }
            Event::Executing { node: None, .. } => {}
            Event::Progress {
                node: Some(node),
                value,
                max,
                ..
            } => {
                self.started = true;
                self.progress.step(&node, value, max);
                self.report_running();
            }
            Event::Progress { node: None, .. } => {}
            Event::ProgressState { nodes, .. } => {
                self.started = true;
                for (node, state) in &nodes {
                    self.progress
                        .node_state(node, &state.state, state.value, state.max);
                }
                self.report_running();
            }
            Event::Executed { node, output, .. } => {
                self.progress.executed(&node);
                self.outputs.extend(output.images);
                self.report_running();
            }
            Event::Success { .. } => {
                // History is written after this; `executing {node: null}` follows it.
                self.started = true;
                self.progress.finish();
                self.report_running();
            }
            Event::Error { error, .. } => {
                return Err(execution_error(&self.prompt_id, &error));
            }
            Event::Interrupted { .. } => {
                return Err(interrupted(&self.prompt_id));
            }
        }
        Ok(false)
    }

    async fn preview(&mut self, preview: PreviewFrame) {
        let settings = self.api.settings();
        if !self.sink.is_listening()
            || self.previews >= settings.max_preview_frames
            || preview.bytes.len() as u64 > settings.max_preview_bytes
            || preview
                .prompt_id
                .as_deref()
                .is_some_and(|id| id != self.prompt_id)
        {
            return;
        }
        match self.api.image(preview.bytes).await {
            Ok(image) => {
                self.previews += 1;
                self.sink.report(Progress::Preview(image));
            }
            Err(e) => tracing::debug!(error = %e, "unreadable comfyui preview skipped"),
        }
    }

    /// Polls until the run ends; `max_poll_failures` failed polls in a row mean the server
    /// is gone.
    async fn poll(mut self) -> Result<Vec<FileRef>> {
        let interval = Duration::from_millis(self.api.settings().poll_interval_ms.max(1));
        let mut failures = 0u32;
        loop {
            match self.poll_once().await {
                Ok(Some(files)) => return Ok(files),
                Ok(None) => failures = 0,
                Err(e)
                    if e.retryable
                        && matches!(
                            e.code,
                            ErrorCode::Unavailable | ErrorCode::DeadlineExceeded
                        ) =>
                {
                    failures += 1;
                    if failures >= self.api.settings().max_poll_failures.max(1) {
                        return Err(gone(&self.prompt_id, &e.message));
                    }
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(interval).await;
        }
    }

    async fn poll_once(&mut self) -> Result<Option<Vec<FileRef>>> {
        if let Some(entry) = self.api.history(&self.prompt_id).await? {
            return self.ended(entry).map(Some);
        }
        match self.api.job(&self.prompt_id).await? {
            Some(job) => match job.status.as_str() {
                "pending" => self.report_queue().await,
                "in_progress" => {
                    self.started = true;
                    self.report_running();
                }
                // Ended: its history is read at the next poll.
                _ => {}
            },
            None => {
                let queue = self.api.queue().await?;
                if let Some(position) = queue.position(&self.prompt_id) {
                    self.queued(Some(position));
                } else if queue.is_running(&self.prompt_id) {
                    self.started = true;
                    self.report_running();
                } else if let Some(entry) = self.api.history(&self.prompt_id).await? {
                    // It ended between the two reads.
                    return self.ended(entry).map(Some);
                } else {
                    // Neither queued, running nor done: the server restarted and forgot it.
                    return Err(gone(&self.prompt_id, "the server no longer knows the run"));
                }
            }
        }
        Ok(None)
    }

    fn ended(&mut self, entry: HistoryEntry) -> Result<Vec<FileRef>> {
        if let Some(status) = &entry.status {
            if let Some(error) = status.error() {
                return Err(execution_error(&self.prompt_id, &error));
            }
            if status.interrupted() {
                return Err(interrupted(&self.prompt_id));
            }
            if status.status_str == "error" {
                return Err(execution_error(&self.prompt_id, &ExecutionError::default()));
            }
        }
        self.progress.finish();
        self.report_running();
        Ok(entry
            .outputs
            .into_values()
            .flat_map(|output| output.images)
            .collect())
    }

    /// Reports the queue position from `/queue`; best effort (a failure reports nothing).
    async fn report_queue(&mut self) {
        match self.api.queue().await {
            Ok(queue) => {
                if let Some(position) = queue.position(&self.prompt_id) {
                    self.queued(Some(position));
                } else if self.last_queued.is_none() {
                    // Already running (or not listed yet): the caller still sees it queued
                    // once, so every stream reads queued → running.
                    self.queued(None);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "comfyui queue not readable");
                if self.last_queued.is_none() {
                    self.queued(None);
                }
            }
        }
    }

    fn queued(&mut self, position: Option<u32>) {
        if self.started || self.last_queued == Some(position) {
            return;
        }
        self.last_queued = Some(position);
        self.sink.report(Progress::Queued { position });
    }

    fn report_running(&mut self) {
        let now = (self.progress.percent(), self.progress.stage());
        if self.last_running.as_ref() == Some(&now) {
            return;
        }
        self.sink.running(Some(now.0), now.1.clone());
        self.last_running = Some(now);
    }
}

/// The files to fetch: saved outputs (`type: output`) when there are any, else whatever the
/// run showed (a workflow ending in `PreviewImage`), without repeats, at most `max`.
pub fn select(files: Vec<FileRef>, max: u32) -> Vec<FileRef> {
    let saved: Vec<FileRef> = files
        .iter()
        .filter(|f| f.kind == "output")
        .cloned()
        .collect();
    let chosen = if saved.is_empty() { files } else { saved };
    let mut unique: Vec<FileRef> = Vec::new();
    for file in chosen {
        if !unique.contains(&file) {
            unique.push(file);
        }
    }
    unique.truncate(max as usize);
    unique
}

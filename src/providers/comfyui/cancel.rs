//! Cancelling a run whose caller went away.
//!
//! The future of `generate` is dropped when the caller leaves (a closed stream, a deadline
//! above us); nothing after the drop runs, so the guard spawns the cancel instead. Without
//! it the GPU would keep rendering a picture nobody will see, ahead of everyone queued.

use std::sync::Arc;

use super::api::Api;

pub struct CancelOnDrop {
    api: Arc<Api>,
    prompt_id: Option<String>,
}

impl CancelOnDrop {
    pub fn new(api: Arc<Api>, prompt_id: String) -> Self {
        CancelOnDrop {
            api,
            prompt_id: Some(prompt_id),
        }
    }

    /// The run ended at the server: nothing to cancel.
    pub fn disarm(&mut self) {
        self.prompt_id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(prompt_id) = self.prompt_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(prompt_id, "no runtime to cancel the comfyui run on");
            return;
        };
        let api = self.api.clone();
        runtime.spawn(async move { api.cancel(&prompt_id).await });
    }
}

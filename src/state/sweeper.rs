//! Deletes expired state rows now and then. Reads already ignore expired rows; sweeping only
//! keeps the tables small.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::StateStore;

pub fn spawn(store: Arc<dyn StateStore>, interval: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            match store.sweep().await {
                Ok(report) if report.total() > 0 => {
                    tracing::info!(
                        covers = report.covers,
                        reference_images = report.reference_images,
                        nonces = report.nonces,
                        "expired state rows deleted"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "state sweep failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    });
}

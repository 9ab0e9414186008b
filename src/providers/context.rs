//! What a provider builder gets: the settings and the shared services of remote adapters.

use std::time::Duration;

use crate::config::Settings;
use crate::error::Result;
use crate::providers::remote::{InputPublisher, ResultDownloader};
use crate::store::BlobStore;

pub struct ProviderContext {
    pub settings: Settings,
    pub publisher: InputPublisher,
    pub downloader: ResultDownloader,
}

impl ProviderContext {
    pub fn new(settings: &Settings, blobs: BlobStore) -> Result<Self> {
        let downloader = ResultDownloader::new(
            Duration::from_secs(settings.fetch.timeout_secs.max(1)),
            settings.limits.max_input_bytes,
            settings.limits,
        )?;
        Ok(ProviderContext {
            settings: settings.clone(),
            publisher: InputPublisher::new(blobs),
            downloader,
        })
    }
}

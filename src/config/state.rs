//! `[state]`: where covers, reference images, nonces (and later portrait tasks) are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    /// Empty: SQLite at `<data_dir>/state.sqlite`. `postgres://…` shares state between
    /// replicas. Prefer `IMGFORGE__STATE__URL` when the URL carries a password; printed
    /// configurations drop it.
    #[serde(serialize_with = "redacted_url")]
    pub url: String,
    pub data_dir: PathBuf,
    /// Pooled connections of this process.
    pub max_connections: u32,
    /// Longest wait for a pooled connection (and for the first connect) before UNAVAILABLE.
    pub connect_timeout_secs: u64,
    /// How often expired rows are deleted.
    pub sweep_interval_secs: u64,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            url: String::new(),
            data_dir: PathBuf::from("data"),
            max_connections: 8,
            connect_timeout_secs: 5,
            sweep_interval_secs: 60,
        }
    }
}

impl StateSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_connections == 0 || self.connect_timeout_secs == 0 {
            anyhow::bail!("state.max_connections and state.connect_timeout_secs must be positive");
        }
        if self.sweep_interval_secs == 0 {
            anyhow::bail!("state.sweep_interval_secs must be positive");
        }
        Ok(())
    }
}

fn redacted_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::redact::url(url))
}

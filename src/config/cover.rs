//! `[cover]`: seed 001's option catalogue and the lifetimes of what covers leave behind.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoverSettings {
    /// A JSON file replacing the embedded option catalogue (same shape as
    /// src/cover/options.json); empty keeps the embedded one.
    pub options_file: String,
    /// How long a `coverId` resolves (seed 001: 30 minutes).
    pub cover_ttl_secs: u64,
}

impl Default for CoverSettings {
    fn default() -> Self {
        CoverSettings {
            options_file: String::new(),
            cover_ttl_secs: 1800,
        }
    }
}

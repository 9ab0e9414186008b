//! The configured API keys, looked up by id.

use std::collections::HashMap;

use crate::config::{AuthSettings, Secret};

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    /// One, or two while a secret is being rotated.
    pub secrets: Vec<Secret>,
    pub active: bool,
    pub rate_per_sec: f64,
    pub rate_burst: u32,
}

#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: HashMap<String, ApiKey>,
}

impl KeyRing {
    pub fn from_settings(settings: &AuthSettings) -> Self {
        let keys = settings
            .keys
            .iter()
            .map(|key| {
                let api_key = ApiKey {
                    id: key.id.clone(),
                    secrets: key.secrets.clone(),
                    active: key.active,
                    rate_per_sec: key.rate_per_sec.unwrap_or(settings.rate_per_sec),
                    rate_burst: key.rate_burst.unwrap_or(settings.rate_burst),
                };
                (key.id.clone(), api_key)
            })
            .collect();
        KeyRing { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A known key that may sign requests now.
    pub fn active(&self, id: &str) -> Option<&ApiKey> {
        self.keys.get(id).filter(|key| key.active)
    }
}

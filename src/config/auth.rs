//! `[auth]`: API keys and request signing (docs/signing.md).

use serde::{Deserialize, Serialize};

use super::Secret;

/// The environment variable that adds keys without writing secrets into a file:
/// `id=secret[,second_secret][;id=secret…]`.
pub const API_KEYS_ENV: &str = "IMGFORGE_API_KEYS";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Accept unsigned calls on a non-loopback address when no key is configured.
    pub allow_anonymous: bool,
    /// A signed request's timestamp may differ from the server clock by this much.
    pub timestamp_tolerance_secs: u64,
    /// Requests per second per key (token bucket); 0 = unlimited.
    pub rate_per_sec: f64,
    /// Requests a key may send at once above its rate.
    pub rate_burst: u32,
    /// Nonces the embedded (SQLite) store keeps in memory to decide replays without a
    /// database write per request; beyond it, claims go to the store. 0 = always the store.
    pub nonce_memory: usize,
    pub keys: Vec<ApiKeySettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            allow_anonymous: false,
            timestamp_tolerance_secs: 300,
            rate_per_sec: 20.0,
            rate_burst: 40,
            nonce_memory: 1_000_000,
            keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    /// The key id callers send in `x-imgforge-key`; also the tenant.
    pub id: String,
    /// One secret, or two while rotating (either verifies).
    pub secrets: Vec<Secret>,
    #[serde(default = "active")]
    pub active: bool,
    /// Overrides of `auth.rate_per_sec` / `auth.rate_burst` for this key.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    #[serde(default)]
    pub rate_burst: Option<u32>,
}

fn active() -> bool {
    true
}

impl AuthSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.timestamp_tolerance_secs == 0 {
            anyhow::bail!("auth.timestamp_tolerance_secs must be positive");
        }
        let rate_ok = self.rate_per_sec.is_finite() && self.rate_per_sec >= 0.0;
        if !rate_ok || (self.rate_per_sec > 0.0 && self.rate_burst == 0) {
            anyhow::bail!("auth.rate_per_sec must be >= 0 and auth.rate_burst positive");
        }
        let mut seen = std::collections::HashSet::new();
        for key in &self.keys {
            let clean = !key.id.is_empty()
                && key.id.len() <= 128
                && !key.id.chars().any(|c| c.is_control() || c.is_whitespace());
            if !clean {
                anyhow::bail!(
                    "auth.keys: key id {:?} must be 1-128 visible characters",
                    key.id
                );
            }
            if !seen.insert(key.id.as_str()) {
                anyhow::bail!("auth.keys: key id {} appears twice", key.id);
            }
            if key.secrets.is_empty()
                || key.secrets.len() > 2
                || key.secrets.iter().any(Secret::is_empty)
            {
                anyhow::bail!(
                    "auth.keys: key {} needs one or two non-empty secrets (two while rotating)",
                    key.id
                );
            }
        }
        Ok(())
    }

    /// Adds the keys of [`API_KEYS_ENV`]'s value.
    pub fn add_keys_from_env(&mut self, value: &str) -> anyhow::Result<()> {
        for entry in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((id, secrets)) = entry.split_once('=') else {
                anyhow::bail!("{API_KEYS_ENV}: an entry is not `id=secret[,secret]`");
            };
            self.keys.push(ApiKeySettings {
                id: id.trim().to_owned(),
                secrets: secrets.split(',').map(|s| Secret::new(s.trim())).collect(),
                active: true,
                rate_per_sec: None,
                rate_burst: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_the_environment_carry_up_to_two_secrets_and_never_print_them() {
        let mut auth = AuthSettings::default();
        auth.add_keys_from_env("ak_one=s1,s2; ak_two=s3").unwrap();
        auth.validate().unwrap();
        assert_eq!(auth.keys.len(), 2);
        assert_eq!(auth.keys[0].secrets[1].expose(), "s2");
        let printed = format!("{auth:?}");
        assert!(
            !printed.contains("s1") && !printed.contains("s3"),
            "{printed}"
        );
        assert!(auth.add_keys_from_env("nosecret").is_err());
    }

    #[test]
    fn three_secrets_or_a_duplicate_id_are_refused() {
        let mut auth = AuthSettings::default();
        auth.add_keys_from_env("ak=a,b,c").unwrap();
        assert!(auth.validate().is_err());
        let mut auth = AuthSettings::default();
        auth.add_keys_from_env("ak=a;ak=b").unwrap();
        assert!(auth.validate().is_err());
    }
}

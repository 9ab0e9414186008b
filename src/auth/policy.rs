//! Whether the server may start without keys: only where no one but this machine can call it.

use std::net::SocketAddr;

use crate::config::Settings;

/// How guarded calls are admitted, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPolicy {
    Signed,
    /// No key, every listener on loopback.
    AnonymousLoopback,
    /// No key on a reachable address, because the operator said `allow_anonymous`.
    AnonymousAllowed,
}

pub fn decide(settings: &Settings) -> anyhow::Result<StartPolicy> {
    if !settings.auth.keys.is_empty() {
        return Ok(StartPolicy::Signed);
    }
    let loopback = |addr: &SocketAddr| addr.ip().is_loopback();
    if loopback(&settings.server.grpc_addr) && loopback(&settings.server.http_addr) {
        return Ok(StartPolicy::AnonymousLoopback);
    }
    if settings.auth.allow_anonymous {
        return Ok(StartPolicy::AnonymousAllowed);
    }
    anyhow::bail!(
        "no API key is configured and the server would listen on a non-loopback address \
         (grpc {}, http {}): configure auth.keys (or {}), bind to 127.0.0.1, or set \
         auth.allow_anonymous = true to accept unsigned calls from anyone",
        settings.server.grpc_addr,
        settings.server.http_addr,
        crate::config::API_KEYS_ENV
    )
}

pub fn log(policy: StartPolicy, keys: usize) {
    match policy {
        StartPolicy::Signed => tracing::info!(
            keys,
            "signed requests required on /v1/* and the Cover and Portrait services"
        ),
        StartPolicy::AnonymousLoopback => tracing::warn!(
            "no API key configured: accepting UNSIGNED calls because the server listens on loopback only"
        ),
        StartPolicy::AnonymousAllowed => tracing::warn!(
            "no API key configured and auth.allow_anonymous = true: accepting UNSIGNED calls from any address"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_keys_only_loopback_or_an_explicit_allowance_starts() {
        let mut settings = Settings::embedded();
        assert_eq!(decide(&settings).unwrap(), StartPolicy::AnonymousLoopback);
        settings.server.http_addr = "0.0.0.0:8080".parse().unwrap();
        let err = decide(&settings).unwrap_err().to_string();
        assert!(err.contains("allow_anonymous"), "{err}");
        settings.auth.allow_anonymous = true;
        assert_eq!(decide(&settings).unwrap(), StartPolicy::AnonymousAllowed);
        settings.auth.add_keys_from_env("ak=s").unwrap();
        assert_eq!(decide(&settings).unwrap(), StartPolicy::Signed);
    }
}

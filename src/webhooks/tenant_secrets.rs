//! Which secrets sign a tenant's callbacks: the ones configured for it, else one derived from
//! the master secret, so every tenant has its own without the operator listing each.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::WebhookSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::webhooks::secret::WebhookSecret;

/// Domain separation for derived secrets: the master key may serve other purposes.
const DERIVATION_LABEL: &str = "imgforge-webhook:";

#[derive(Debug, Clone, Default)]
pub struct TenantSecrets {
    listed: BTreeMap<String, Vec<WebhookSecret>>,
    master: Option<Vec<u8>>,
}

impl TenantSecrets {
    pub fn from_settings(settings: &WebhookSettings) -> anyhow::Result<Self> {
        let mut listed = BTreeMap::new();
        for (tenant, secrets) in &settings.secrets {
            anyhow::ensure!(
                !secrets.is_empty(),
                "webhooks.secrets.{tenant} lists no secret"
            );
            let parsed = secrets
                .iter()
                .map(|secret| WebhookSecret::parse(secret.expose()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|why| anyhow::anyhow!("webhooks.secrets.{tenant}: {why}"))?;
            listed.insert(tenant.clone(), parsed);
        }
        let master = settings.master_secret.expose();
        let master = if master.is_empty() {
            None
        } else {
            anyhow::ensure!(
                master.len() >= 32,
                "webhooks.master_secret must be at least 32 characters"
            );
            Some(master.as_bytes().to_vec())
        };
        Ok(TenantSecrets { listed, master })
    }

    /// The secrets that sign `tenant`'s callbacks, each producing one signature.
    pub fn secrets_for(&self, tenant: &str) -> Result<Vec<WebhookSecret>> {
        if let Some(secrets) = self.listed.get(tenant) {
            return Ok(secrets.clone());
        }
        let Some(master) = &self.master else {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "no webhook secret for tenant {tenant:?}: set webhooks.master_secret \
                     (IMGFORGE__WEBHOOKS__MASTER_SECRET) or webhooks.secrets.<tenant>"
                ),
            ));
        };
        Ok(vec![derive(master, tenant)?])
    }
}

fn derive(master: &[u8], tenant: &str) -> Result<WebhookSecret> {
    let internal = |why: String| Error::new(ErrorCode::Internal, why);
    let mut mac = Hmac::<Sha256>::new_from_slice(master)
        .map_err(|e| internal(format!("keying the webhook secret derivation: {e}")))?;
    mac.update(DERIVATION_LABEL.as_bytes());
    mac.update(tenant.as_bytes());
    WebhookSecret::from_bytes(mac.finalize().into_bytes().to_vec()).map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn listed_secrets_win_and_others_are_derived_per_tenant() {
        let listed = WebhookSecret::generate().unwrap();
        let mut settings = WebhookSettings {
            master_secret: Secret::new("m".repeat(32)),
            ..WebhookSettings::default()
        };
        settings
            .secrets
            .insert("ak_listed".into(), vec![Secret::new(listed.to_whsec())]);
        let secrets = TenantSecrets::from_settings(&settings).unwrap();
        assert_eq!(secrets.secrets_for("ak_listed").unwrap(), vec![listed]);
        let a = secrets.secrets_for("ak_a").unwrap();
        assert_eq!(a, secrets.secrets_for("ak_a").unwrap());
        assert_ne!(a, secrets.secrets_for("ak_b").unwrap());
    }

    /// The derivation documented in the README, computed independently.
    #[test]
    fn derived_secret_matches_the_documented_formula() {
        let settings = WebhookSettings {
            master_secret: Secret::new("0123456789abcdef0123456789abcdef"),
            ..WebhookSettings::default()
        };
        let secrets = TenantSecrets::from_settings(&settings).unwrap();
        let derived = secrets.secrets_for("ak_demo").unwrap().remove(0);
        assert_eq!(
            derived.to_whsec(),
            "whsec_4EEx8bLTN/2zhcIskCY8XDEq8NWomnMgshr39Jkt598="
        );
    }

    #[test]
    fn without_a_master_an_unlisted_tenant_is_refused_naming_the_key() {
        let secrets = TenantSecrets::from_settings(&WebhookSettings::default()).unwrap();
        let err = secrets.secrets_for("ak_x").unwrap_err();
        assert!(err.to_string().contains("webhooks.master_secret"), "{err}");
    }

    #[test]
    fn bad_listed_secrets_are_named() {
        let mut settings = WebhookSettings::default();
        settings
            .secrets
            .insert("ak_x".into(), vec![Secret::new("nope")]);
        let err = TenantSecrets::from_settings(&settings).unwrap_err();
        assert!(err.to_string().contains("webhooks.secrets.ak_x"), "{err}");
    }
}

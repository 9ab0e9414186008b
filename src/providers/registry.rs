//! The providers known to this process, by name, and the ordered chain of each operation.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Settings;
use crate::domain::Operation;
use crate::error::Result;
use crate::providers::layers::{self, AdmissionLayer, Lanes, Layer, QueueLayer};
use crate::providers::local::LocalProvider;
use crate::providers::{
    Provider, ProviderContext, ProviderExt, aliyun_vision, comfyui, dashscope, openai_images,
};
use crate::store::BlobStore;

/// Every provider name configuration may use in a chain.
pub const KNOWN_PROVIDERS: [&str; 5] = [
    "local",
    "dashscope",
    "aliyun-vision",
    "comfyui",
    "openai-images",
];

/// Builds the provider called `name`; remote ones come wrapped in the resilience decorators,
/// and generation backends behind their own line of waiting jobs (outermost, so a retry
/// keeps its slot and time spent waiting is not counted against the backend).
fn build(name: &str, context: &ProviderContext) -> anyhow::Result<Arc<dyn Provider>> {
    let providers = &context.settings.providers;
    let (remote, queue): (Arc<dyn Provider>, Option<u32>) = match name {
        "dashscope" => (
            Arc::new(dashscope::DashScopeProvider::build(context)?),
            None,
        ),
        "aliyun-vision" => (
            Arc::new(aliyun_vision::AliyunVisionProvider::build(context)?),
            None,
        ),
        "comfyui" => (
            Arc::new(comfyui::ComfyUiProvider::build(context)?),
            providers.comfyui.as_ref().map(|s| s.max_concurrent_jobs),
        ),
        "openai-images" => (
            Arc::new(openai_images::OpenAiImagesProvider::build(context)?),
            providers
                .openai_images
                .as_ref()
                .map(|s| s.max_concurrent_jobs),
        ),
        other => anyhow::bail!(
            "unknown provider {other:?}; known providers: {}",
            KNOWN_PROVIDERS.join(", ")
        ),
    };
    let resilient = layers::resilient(remote, &providers.resilience);
    Ok(match queue {
        Some(max_running) => QueueLayer::new(max_running).layer(resilient),
        None => resilient,
    })
}

/// The configured chain of `op`. Covers without a chain of their own use the generation
/// backends that have a configuration section (ComfyUI first: self-hosted, no per-image
/// cost), since `default` names providers that cannot generate.
fn chain_of(settings: &Settings, op: Operation) -> Vec<String> {
    let providers = &settings.providers;
    if op == Operation::GenerateCover && !providers.chains.contains_key(op.name()) {
        let backends: Vec<String> = [
            ("comfyui", providers.comfyui.is_some()),
            ("openai-images", providers.openai_images.is_some()),
        ]
        .into_iter()
        .filter(|(_, configured)| *configured)
        .map(|(name, _)| name.to_owned())
        .collect();
        if !backends.is_empty() {
            return backends;
        }
    }
    providers.chain(op).to_vec()
}

pub struct ProviderRegistry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
    chains: BTreeMap<Operation, Vec<String>>,
    /// The CPU lanes local work is admitted through: the local provider's, and the engine's
    /// own steps (photo preprocessing) outside any provider.
    lanes: Arc<Lanes>,
}

/// The providers an operation may run on, in order, and every name that was configured.
pub struct ProviderChain {
    pub providers: Vec<Arc<dyn Provider>>,
    pub configured: Vec<String>,
}

impl ProviderRegistry {
    /// Builds every provider some chain names (and `local`, always), once each.
    pub fn from_settings(settings: &Settings, blobs: BlobStore) -> anyhow::Result<Self> {
        // Every local job, including the local steps of remote operations, passes admission.
        let lanes = Arc::new(Lanes::new(&settings.server.lanes));
        let local =
            AdmissionLayer::new(lanes.clone()).layer(Arc::new(LocalProvider::new(settings)));
        let context = ProviderContext::new(settings, blobs)?;
        let mut providers: BTreeMap<&'static str, Arc<dyn Provider>> = BTreeMap::new();
        providers.insert(local.name(), local);
        let mut chains = BTreeMap::new();
        for op in Operation::ALL {
            let chain = chain_of(settings, op);
            for name in &chain {
                if !KNOWN_PROVIDERS.contains(&name.as_str()) {
                    anyhow::bail!(
                        "providers.chains: {op} names provider {name:?}, which does not \
                         exist; known providers: {}",
                        KNOWN_PROVIDERS.join(", ")
                    );
                }
                if !providers.contains_key(name.as_str()) {
                    let provider = build(name, &context)
                        .map_err(|e| anyhow::anyhow!("provider {name}: {e}"))?;
                    providers.insert(provider.name(), provider);
                }
            }
            chains.insert(op, chain);
        }
        Ok(ProviderRegistry {
            providers,
            chains,
            lanes,
        })
    }

    /// A registry of the given providers with one chain for every operation (the names in
    /// `chain`, in order): lets engine tests run the chain on fake providers.
    #[cfg(test)]
    pub(crate) fn of(providers: Vec<Arc<dyn Provider>>, chain: &[&str]) -> Self {
        let chain: Vec<String> = chain.iter().map(|name| (*name).to_owned()).collect();
        ProviderRegistry {
            providers: providers.into_iter().map(|p| (p.name(), p)).collect(),
            chains: Operation::ALL
                .iter()
                .map(|&op| (op, chain.clone()))
                .collect(),
            lanes: Arc::new(Lanes::new(
                &crate::config::Settings::embedded().server.lanes,
            )),
        }
    }

    pub fn lanes(&self) -> &Arc<Lanes> {
        &self.lanes
    }

    /// The configured providers of `op` that support it, in chain order.
    pub fn chain(&self, op: Operation) -> ProviderChain {
        let configured = self.chains.get(&op).cloned().unwrap_or_default();
        let providers = configured
            .iter()
            .filter_map(|name| self.providers.get(name.as_str()))
            .filter(|provider| provider.supports(op))
            .cloned()
            .collect();
        ProviderChain {
            providers,
            configured,
        }
    }

    /// The in-process engine, for the local steps run around remote providers.
    pub fn local(&self) -> Option<&Arc<dyn Provider>> {
        self.providers.get("local")
    }

    /// Whether some configured provider can run `op` now.
    pub fn is_ready(&self, op: Operation) -> bool {
        self.chain(op).providers.iter().any(|p| p.is_ready(op))
    }
}

impl ProviderChain {
    /// The providers to try, or `Unimplemented` naming the operation and the providers tried.
    pub fn require(self, op: Operation) -> Result<Vec<Arc<dyn Provider>>> {
        if self.providers.is_empty() {
            return Err(crate::error::Error::unimplemented(format!(
                "operation {op} is not supported by any configured provider (tried: {})",
                if self.configured.is_empty() {
                    "none".to_owned()
                } else {
                    self.configured.join(", ")
                }
            )));
        }
        Ok(self.providers)
    }
}

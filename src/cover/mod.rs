//! Seed 001's cover workflow below the transports: the option catalogue, attribute
//! validation, reference images, the prompt template, and generation as a stream of
//! [`CoverEvent`]s ([`CoverGenerator`]).

pub mod catalogue;
pub mod events;
mod generate;
pub mod prompt;
mod references;
mod validate;

use std::sync::Arc;

pub use catalogue::{CoverOption, Gender, NAMESPACE, OptionCatalogue, OptionGroup};
pub use events::CoverEvent;
pub use generate::{CoverGenerator, NO_BACKEND, StoredCover};
pub use references::ReferenceImages;
pub use validate::{CoverAttributes, ValidCover, validate};

use crate::error::{Error, Result};

/// What both transports call for covers.
#[derive(Clone)]
pub struct Covers {
    pub catalogue: Arc<OptionCatalogue>,
    pub references: ReferenceImages,
    pub generator: Arc<CoverGenerator>,
}

impl Covers {
    /// The catalogue of `namespace` (empty means `custom_agent`, the only one).
    pub fn options(&self, namespace: &str) -> Result<&OptionCatalogue> {
        if namespace.is_empty() || namespace == NAMESPACE {
            return Ok(&self.catalogue);
        }
        Err(Error::invalid(
            "namespace",
            format!(
                "namespace {:?} is unknown; the only one is {NAMESPACE}",
                crate::redact::echo(namespace)
            ),
        ))
    }

    pub fn validate(&self, attributes: &CoverAttributes) -> Result<ValidCover> {
        validate(&self.catalogue, attributes)
    }
}

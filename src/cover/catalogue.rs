//! Seed 001's option catalogue (namespace `custom_agent`): the codes each cover attribute may
//! take, some only for one gender. Embedded by default, replaceable by a file of the same shape.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The embedded catalogue.
pub const EMBEDDED: &str = include_str!("options.json");

/// The one namespace seed 001 names.
pub const NAMESPACE: &str = "custom_agent";

/// The groups every catalogue must have, in the order they are listed.
pub const GROUPS: [&str; 7] = [
    "Age",
    "Ethnicity",
    "BodyType",
    "BreastSize",
    "ButtSize",
    "HairColor",
    "HairStyle",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn name(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverOption {
    pub code: String,
    pub label: String,
    /// Genders the option applies to; empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub genders: Vec<Gender>,
}

impl CoverOption {
    pub fn applies_to(&self, gender: Gender) -> bool {
        self.genders.is_empty() || self.genders.contains(&gender)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionGroup {
    pub name: String,
    pub options: Vec<CoverOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionCatalogue {
    pub groups: Vec<OptionGroup>,
}

impl OptionCatalogue {
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED, "the embedded catalogue").expect("the embedded catalogue is valid")
    }

    /// The embedded catalogue, or `file`'s when one is configured (`cover.options_file`).
    pub fn load(file: &str) -> anyhow::Result<Self> {
        if file.is_empty() {
            return Ok(Self::embedded());
        }
        let text = std::fs::read_to_string(Path::new(file))
            .map_err(|e| anyhow::anyhow!("cover.options_file {file}: {e}"))?;
        Ok(Self::parse(&text, file)?)
    }

    fn parse(text: &str, origin: &str) -> Result<Self> {
        let catalogue: OptionCatalogue = serde_json::from_str(text)
            .map_err(|e| Error::invalid("cover.options_file", format!("{origin}: {e}")))?;
        for name in GROUPS {
            let group = catalogue.group(name).ok_or_else(|| {
                Error::invalid(
                    "cover.options_file",
                    format!("{origin}: group {name} is missing"),
                )
            })?;
            if group.options.is_empty() {
                return Err(Error::invalid(
                    "cover.options_file",
                    format!("{origin}: group {name} has no option"),
                ));
            }
        }
        Ok(catalogue)
    }

    pub fn group(&self, name: &str) -> Option<&OptionGroup> {
        self.groups.iter().find(|group| group.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_has_every_group_and_the_seed_example_codes() {
        let catalogue = OptionCatalogue::embedded();
        let has = |group: &str, code: &str| {
            catalogue
                .group(group)
                .unwrap()
                .options
                .iter()
                .any(|o| o.code == code)
        };
        assert!(has("Age", "18-25"));
        assert!(has("Ethnicity", "Asian"));
        assert!(has("BodyType", "Slim"));
        assert!(has("BreastSize", "Medium"));
        assert!(has("ButtSize", "Medium"));
        assert!(has("HairColor", "black"));
        assert!(has("HairStyle", "Long"));
    }

    #[test]
    fn a_file_replaces_the_catalogue_and_a_group_missing_from_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("options.json");
        let mut custom = OptionCatalogue::embedded();
        custom.groups[0].options.truncate(1);
        std::fs::write(&path, serde_json::to_string(&custom).unwrap()).unwrap();
        let loaded = OptionCatalogue::load(path.to_str().unwrap()).unwrap();
        assert_eq!(loaded.group("Age").unwrap().options.len(), 1);

        custom.groups.retain(|g| g.name != "HairStyle");
        std::fs::write(&path, serde_json::to_string(&custom).unwrap()).unwrap();
        let err = OptionCatalogue::load(path.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("HairStyle"), "{err}");
    }
}

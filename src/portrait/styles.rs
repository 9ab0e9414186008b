//! The portrait style catalogue (seed 003's `aigc_product_brief_query`): configuration, an
//! embedded default, where each style names what every backend needs to render it.

use serde::{Deserialize, Serialize};

use crate::domain::params::StylePreset;
use crate::error::{Error, Result};

const EMBEDDED: &str = include_str!("styles.json");

/// The local backend's procedural backgrounds (src/portrait/local/background.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backdrop {
    Mist,
    Moon,
    Studio,
    Sunset,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalStyle {
    /// A create-character preset: `default`, `cartoon` or `watercolor`.
    pub preset: String,
    pub background: Backdrop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortraitStyle {
    pub name: String,
    /// The id callers pass as `style`.
    pub style: String,
    /// Example image URL shown to users ("" when none is hosted).
    pub template: String,
    /// The seed's "男" / "女".
    pub sex: String,
    pub local: LocalStyle,
    /// DashScope FaceChain `parameters.style`.
    pub facechain_style: String,
    /// ComfyUI portrait workflow: `<portrait.comfyui.workflow_dir>/<comfyui_template>.json`.
    pub comfyui_template: String,
    /// What the ComfyUI workflow renders (its `{{prompt}}`); catalogues written before the
    /// ComfyUI backend existed may leave it out, and that backend then refuses to start.
    #[serde(default)]
    pub comfyui_prompt: String,
}

impl PortraitStyle {
    pub fn preset(&self) -> Result<StylePreset> {
        StylePreset::parse(Some(&self.local.preset))
    }
}

#[derive(Debug, Clone)]
pub struct StyleCatalogue {
    styles: Vec<PortraitStyle>,
}

impl StyleCatalogue {
    /// The embedded catalogue, or `file` when set.
    pub fn load(file: &str) -> anyhow::Result<Self> {
        let text = if file.is_empty() {
            EMBEDDED.to_owned()
        } else {
            std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("portrait.styles_file {file}: {e}"))?
        };
        Self::parse(&text).map_err(|e| anyhow::anyhow!("portrait.styles_file {file:?}: {e}"))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let styles: Vec<PortraitStyle> = serde_json::from_str(text)?;
        if styles.is_empty() {
            anyhow::bail!("the style catalogue is empty");
        }
        for style in &styles {
            if !matches!(style.sex.as_str(), "男" | "女") {
                anyhow::bail!("style {}: sex must be \"男\" or \"女\"", style.style);
            }
            style
                .preset()
                .map_err(|e| anyhow::anyhow!("style {}: {}", style.style, e.message))?;
            if styles.iter().filter(|s| s.style == style.style).count() > 1 {
                anyhow::bail!("style id {} appears twice", style.style);
            }
        }
        Ok(StyleCatalogue { styles })
    }

    pub fn all(&self) -> &[PortraitStyle] {
        &self.styles
    }

    /// The style `id`, or INVALID_ARGUMENT naming the field.
    pub fn get(&self, id: &str) -> Result<&PortraitStyle> {
        self.styles.iter().find(|s| s.style == id).ok_or_else(|| {
            Error::invalid(
                "style",
                format!(
                    "unknown style {}; aigc_product_brief_query lists the styles",
                    crate::redact::echo(id)
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_loads_and_refuses_unknown_ids() {
        let catalogue = StyleCatalogue::load("").unwrap();
        assert!(catalogue.all().len() >= 2);
        let first = &catalogue.all()[0];
        assert_eq!(catalogue.get(&first.style).unwrap(), first);
        let err = catalogue.get("nope").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("style"));
    }

    #[test]
    fn a_bad_catalogue_is_refused_naming_the_style() {
        let bad = r#"[{"name":"x","style":"s1","template":"","sex":"女",
            "local":{"preset":"oil","background":"mist"},"facechain_style":"","comfyui_template":""}]"#;
        let err = StyleCatalogue::parse(bad).unwrap_err().to_string();
        assert!(err.contains("s1"), "{err}");
    }
}

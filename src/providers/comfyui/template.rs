//! Workflow templates: an API-format ComfyUI graph with placeholders, filled per job.
//!
//! Placeholders are `{{name}}` inside string values. A string that is *only* a numeric
//! placeholder (`"{{seed}}"`, `"{{width}}"`, `"{{height}}"`, `"{{batch_size}}"`) becomes a JSON
//! number, since ComfyUI validates input types; text placeholders (`{{prompt}}`,
//! `{{negative_prompt}}`, `{{reference_image}}`, `{{checkpoint}}`) are replaced inside
//! strings. Substitution is one pass over the template's own text, so a prompt that contains
//! `{{seed}}` stays literal. Working on parsed JSON (not on the file's text) means a prompt
//! can hold quotes and backslashes without breaking the graph.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

const TEXT_TO_IMAGE: &str = include_str!("workflows/text_to_image.json");
const IMAGE_TO_IMAGE: &str = include_str!("workflows/image_to_image.json");

/// A parsed, checked workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    graph: Map<String, Value>,
    /// Where the template came from, for error messages.
    origin: String,
}

/// The values one job puts into a workflow.
#[derive(Debug, Clone)]
pub struct Fill<'a> {
    pub prompt: &'a str,
    pub negative_prompt: &'a str,
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub batch_size: u32,
    pub checkpoint: &'a str,
    /// The name `/upload/image` gave the reference picture.
    pub reference_image: Option<&'a str>,
}

impl Workflow {
    pub fn embedded_text_to_image() -> Self {
        Self::parse(TEXT_TO_IMAGE, "the embedded text-to-image workflow")
            .expect("embedded workflow is valid")
    }

    pub fn embedded_image_to_image() -> Self {
        Self::parse(IMAGE_TO_IMAGE, "the embedded image-to-image workflow")
            .expect("embedded workflow is valid")
    }

    /// Parses an API-format graph: an object of node id → `{class_type, inputs}`. The UI
    /// format (with `nodes` and `links` arrays) is refused with a hint, since ComfyUI's
    /// `/prompt` does not take it.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{origin} is not JSON: {e}"))?;
        let Value::Object(graph) = value else {
            anyhow::bail!("{origin} must be a JSON object of nodes");
        };
        if graph.contains_key("nodes") && graph.contains_key("links") {
            anyhow::bail!(
                "{origin} is in ComfyUI's UI format; export it with \"Export (API)\" instead"
            );
        }
        if graph.is_empty() {
            anyhow::bail!("{origin} has no nodes");
        }
        for (id, node) in &graph {
            if node.get("class_type").and_then(Value::as_str).is_none() {
                anyhow::bail!("{origin}: node {id} has no class_type");
            }
        }
        let workflow = Workflow {
            graph,
            origin: origin.to_owned(),
        };
        if !workflow.uses("prompt") {
            anyhow::bail!("{origin} has no {{{{prompt}}}} placeholder");
        }
        Ok(workflow)
    }

    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read workflow {}: {e}", path.display()))?;
        Self::parse(&text, &format!("workflow {}", path.display()))
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether a `{{name}}` placeholder appears anywhere in the graph.
    pub fn uses(&self, name: &str) -> bool {
        let token = format!("{{{{{name}}}}}");
        fn walk(value: &Value, token: &str) -> bool {
            match value {
                Value::String(s) => s.contains(token),
                Value::Array(items) => items.iter().any(|v| walk(v, token)),
                Value::Object(map) => map.values().any(|v| walk(v, token)),
                Value::Null | Value::Bool(_) | Value::Number(_) => false,
            }
        }
        self.graph.values().any(|node| walk(node, &token))
    }

    /// The graph with every placeholder filled.
    pub fn render(&self, fill: &Fill<'_>) -> Map<String, Value> {
        let numbers: BTreeMap<&str, u64> = [
            ("seed", fill.seed),
            ("width", u64::from(fill.width)),
            ("height", u64::from(fill.height)),
            ("batch_size", u64::from(fill.batch_size)),
        ]
        .into();
        let texts: BTreeMap<&str, &str> = [
            ("prompt", fill.prompt),
            ("negative_prompt", fill.negative_prompt),
            ("reference_image", fill.reference_image.unwrap_or("")),
            ("checkpoint", fill.checkpoint),
        ]
        .into();
        let mut graph = self.graph.clone();
        for node in graph.values_mut() {
            fill_value(node, &numbers, &texts);
        }
        graph
    }

    /// `class_type` of every node, by id.
    pub fn classes(graph: &Map<String, Value>) -> BTreeMap<String, String> {
        graph
            .iter()
            .map(|(id, node)| {
                let class = node
                    .get("class_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (id.clone(), class.to_owned())
            })
            .collect()
    }
}

fn fill_value(value: &mut Value, numbers: &BTreeMap<&str, u64>, texts: &BTreeMap<&str, &str>) {
    match value {
        Value::String(s) => {
            if let Some(name) = whole_placeholder(s)
                && let Some(number) = numbers.get(name)
            {
                *value = Value::from(*number);
                return;
            }
            if s.contains("{{") {
                *s = substitute(s, numbers, texts);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fill_value(v, numbers, texts)),
        Value::Object(map) => map.values_mut().for_each(|v| fill_value(v, numbers, texts)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn whole_placeholder(s: &str) -> Option<&str> {
    s.strip_prefix("{{")?.strip_suffix("}}")
}

/// One left-to-right pass: replaced text is never scanned again.
fn substitute(s: &str, numbers: &BTreeMap<&str, u64>, texts: &BTreeMap<&str, &str>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        if let Some(text) = texts.get(name) {
            out.push_str(text);
        } else if let Some(number) = numbers.get(name) {
            out.push_str(&number.to_string());
        } else {
            // Not ours (a custom node's own syntax): left as written.
            out.push_str(&rest[start..start + 2 + end + 2]);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill<'a>(prompt: &'a str, reference: Option<&'a str>) -> Fill<'a> {
        Fill {
            prompt,
            negative_prompt: "blurry",
            seed: 42,
            width: 512,
            height: 768,
            batch_size: 2,
            checkpoint: "model.safetensors",
            reference_image: reference,
        }
    }

    #[test]
    fn numeric_placeholders_become_numbers_and_text_is_substituted() {
        let graph = Workflow::embedded_text_to_image().render(&fill("a \"red\" fox", None));
        assert_eq!(graph["3"]["inputs"]["seed"], Value::from(42));
        assert_eq!(graph["5"]["inputs"]["width"], Value::from(512));
        assert_eq!(graph["5"]["inputs"]["height"], Value::from(768));
        assert_eq!(graph["5"]["inputs"]["batch_size"], Value::from(2));
        assert_eq!(graph["6"]["inputs"]["text"], "a \"red\" fox");
        assert_eq!(graph["7"]["inputs"]["text"], "blurry");
        assert_eq!(graph["4"]["inputs"]["ckpt_name"], "model.safetensors");
    }

    #[test]
    fn a_prompt_holding_a_placeholder_is_not_expanded_again() {
        let graph =
            Workflow::embedded_text_to_image().render(&fill("{{seed}} and {{width}}", None));
        assert_eq!(graph["6"]["inputs"]["text"], "{{seed}} and {{width}}");
    }

    #[test]
    fn the_reference_workflow_names_the_uploaded_image() {
        let workflow = Workflow::embedded_image_to_image();
        assert!(workflow.uses("reference_image"));
        assert!(!Workflow::embedded_text_to_image().uses("reference_image"));
        let graph = workflow.render(&fill("x", Some("ref (1).png")));
        assert_eq!(graph["10"]["inputs"]["image"], "ref (1).png");
    }

    #[test]
    fn mixed_text_and_unknown_placeholders() {
        let numbers = BTreeMap::from([("seed", 7u64)]);
        let texts = BTreeMap::from([("prompt", "cat")]);
        assert_eq!(
            substitute("{{prompt}}-{{seed}}-{{other}}-{{", &numbers, &texts),
            "cat-7-{{other}}-{{"
        );
    }

    #[test]
    fn refuses_ui_format_and_graphs_without_a_prompt() {
        let ui = r#"{"nodes": [], "links": []}"#;
        assert!(
            Workflow::parse(ui, "t")
                .unwrap_err()
                .to_string()
                .contains("Export (API)")
        );
        let no_prompt = r#"{"1": {"class_type": "X", "inputs": {}}}"#;
        assert!(
            Workflow::parse(no_prompt, "t")
                .unwrap_err()
                .to_string()
                .contains("{{prompt}}")
        );
        assert!(Workflow::parse(r#"{"1": {"inputs": {}}}"#, "t").is_err());
    }
}

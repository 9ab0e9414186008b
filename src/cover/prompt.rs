//! The backend prompt of a cover, written from its attributes by a configurable template
//! (`cover.prompt_template`). Placeholders take the option *labels* (what a model reads
//! best), and a comma-separated phrase whose attribute was not given is left out whole, so
//! one template serves both genders.

use super::catalogue::OptionCatalogue;
use super::validate::ValidCover;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 8] = [
    "gender",
    "age",
    "ethnicity",
    "body_type",
    "breast_size",
    "butt_size",
    "hair_color",
    "hair_style",
];

/// A checked template: its phrases, each with the placeholders it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    phrases: Vec<String>,
}

impl PromptTemplate {
    /// Refuses a template with an unknown or unclosed placeholder, naming it.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder after {:?}", &rest[..open]))?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                ));
            }
            rest = &after[close + 1..];
        }
        let phrases = template
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(PromptTemplate { phrases })
    }

    /// The prompt of `cover`: each placeholder replaced by the label of the chosen option
    /// (lower-cased, as prose), phrases with an empty value dropped.
    pub fn render(&self, cover: &ValidCover, catalogue: &OptionCatalogue) -> String {
        let a = &cover.attributes;
        let label = |group: &str, code: &str| -> String {
            if code.is_empty() {
                return String::new();
            }
            catalogue
                .group(group)
                .and_then(|g| g.options.iter().find(|o| o.code == code))
                .map_or(code, |o| o.label.as_str())
                .to_lowercase()
        };
        let values = [
            ("gender", cover.gender.name().to_owned()),
            ("age", label("Age", &a.age)),
            ("ethnicity", label("Ethnicity", &a.ethnicity)),
            ("body_type", label("BodyType", &a.body_type)),
            ("breast_size", label("BreastSize", &a.breast_size)),
            ("butt_size", label("ButtSize", &a.butt_size)),
            ("hair_color", label("HairColor", &a.hair_color)),
            ("hair_style", label("HairStyle", &a.hair_style)),
        ];
        let mut out = Vec::with_capacity(self.phrases.len());
        'phrases: for phrase in &self.phrases {
            let mut text = phrase.clone();
            for (name, value) in &values {
                let placeholder = format!("{{{name}}}");
                if text.contains(&placeholder) {
                    if value.is_empty() {
                        continue 'phrases;
                    }
                    text = text.replace(&placeholder, value);
                }
            }
            out.push(text);
        }
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_PROMPT_TEMPLATE;
    use crate::cover::{CoverAttributes, Gender};

    fn cover(gender: Gender, breast: &str) -> ValidCover {
        ValidCover {
            gender,
            attributes: CoverAttributes {
                gender: gender.name().to_owned(),
                age: "18-25".into(),
                ethnicity: "MiddleEastern".into(),
                body_type: "Slim".into(),
                breast_size: breast.into(),
                butt_size: breast.into(),
                hair_color: "black".into(),
                hair_style: "Long".into(),
                ref_image_id: String::new(),
            },
        }
    }

    #[test]
    fn labels_fill_the_template_and_phrases_without_a_value_are_dropped() {
        let template = PromptTemplate::parse(DEFAULT_PROMPT_TEMPLATE).unwrap();
        let catalogue = OptionCatalogue::embedded();
        let female = template.render(&cover(Gender::Female, "Medium"), &catalogue);
        assert!(
            female.contains("18-25 year old middle eastern female"),
            "{female}"
        );
        assert!(female.contains("medium bust"), "{female}");
        let male = template.render(&cover(Gender::Male, ""), &catalogue);
        assert!(male.contains("middle eastern male, slim build"), "{male}");
        assert!(!male.contains("bust") && !male.contains("hips"), "{male}");
        assert!(!male.contains('{'), "{male}");
    }

    #[test]
    fn an_unknown_or_unclosed_placeholder_is_named() {
        let err = PromptTemplate::parse("a {colour} cat").unwrap_err();
        assert!(err.contains("{colour}"), "{err}");
        let err = PromptTemplate::parse("a {gender cat").unwrap_err();
        assert!(err.contains("unclosed"), "{err}");
    }
}

//! The attributes of a GenerateCover request checked against the catalogue, with seed 001's
//! messages (`breastSize is required for female`) and the unknown code named.

use super::catalogue::{Gender, OptionCatalogue};
use crate::error::{Error, Result};
use crate::redact;

/// A cover request's attributes as the caller sent them (REST JSON or the proto message),
/// before validation. Empty strings mean "not sent".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoverAttributes {
    /// `male` or `female`; anything else is refused.
    pub gender: String,
    pub age: String,
    pub ethnicity: String,
    pub body_type: String,
    pub breast_size: String,
    pub butt_size: String,
    pub hair_color: String,
    pub hair_style: String,
    pub ref_image_id: String,
}

/// Attributes that passed [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCover {
    pub gender: Gender,
    pub attributes: CoverAttributes,
}

/// Field (as seed 001 spells it), catalogue group, value; in the order they are checked.
fn fields(a: &CoverAttributes) -> [(&'static str, &'static str, &str); 7] {
    [
        ("age", "Age", &a.age),
        ("ethnicity", "Ethnicity", &a.ethnicity),
        ("bodyType", "BodyType", &a.body_type),
        ("breastSize", "BreastSize", &a.breast_size),
        ("buttSize", "ButtSize", &a.butt_size),
        ("hairColor", "HairColor", &a.hair_color),
        ("hairStyle", "HairStyle", &a.hair_style),
    ]
}

/// Checks every attribute; the first fault is the error, naming its field.
pub fn validate(catalogue: &OptionCatalogue, attributes: &CoverAttributes) -> Result<ValidCover> {
    let gender = match attributes.gender.as_str() {
        "female" => Gender::Female,
        "male" => Gender::Male,
        "" => return Err(Error::invalid("gender", "gender is required")),
        other => {
            return Err(Error::invalid(
                "gender",
                format!("gender {:?} is not male or female", redact::echo(other)),
            ));
        }
    };
    for (field, group_name, value) in fields(attributes) {
        let only_female = matches!(field, "breastSize" | "buttSize");
        if value.is_empty() {
            if !only_female {
                return Err(Error::invalid(field, format!("{field} is required")));
            }
            if gender == Gender::Female {
                return Err(Error::invalid(
                    field,
                    format!("{field} is required for female"),
                ));
            }
            continue;
        }
        let Some(group) = catalogue.group(group_name) else {
            continue;
        };
        let known = group
            .options
            .iter()
            .any(|o| o.code == value && o.applies_to(gender));
        if !known {
            let codes: Vec<&str> = group
                .options
                .iter()
                .filter(|o| o.applies_to(gender))
                .map(|o| o.code.as_str())
                .collect();
            let message = if codes.is_empty() {
                format!(
                    "{field} {:?} is not an option for {}: {group_name} does not apply to {}",
                    redact::echo(value),
                    gender.name(),
                    gender.name()
                )
            } else {
                format!(
                    "{field} {:?} is not a known {group_name} code for {}; known: {}",
                    redact::echo(value),
                    gender.name(),
                    codes.join(", ")
                )
            };
            return Err(Error::invalid(field, message));
        }
    }
    Ok(ValidCover {
        gender,
        attributes: attributes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_example() -> CoverAttributes {
        CoverAttributes {
            gender: "female".into(),
            age: "18-25".into(),
            ethnicity: "Asian".into(),
            body_type: "Slim".into(),
            breast_size: "Medium".into(),
            butt_size: "Medium".into(),
            hair_color: "black".into(),
            hair_style: "Long".into(),
            ref_image_id: "550e8400-e29b-41d4-a716-446655440000".into(),
        }
    }

    fn message(attributes: &CoverAttributes) -> (String, String) {
        let err = validate(&OptionCatalogue::embedded(), attributes).unwrap_err();
        (err.field.unwrap_or_default(), err.message)
    }

    #[test]
    fn the_seed_example_is_valid() {
        let valid = validate(&OptionCatalogue::embedded(), &seed_example()).unwrap();
        assert_eq!(valid.gender, Gender::Female);
    }

    #[test]
    fn a_female_cover_needs_breast_and_butt_size_with_the_seed_messages() {
        let mut a = seed_example();
        a.breast_size.clear();
        assert_eq!(
            message(&a),
            (
                "breastSize".into(),
                "breastSize is required for female".into()
            )
        );
        let mut a = seed_example();
        a.butt_size.clear();
        assert_eq!(
            message(&a),
            ("buttSize".into(), "buttSize is required for female".into())
        );
    }

    #[test]
    fn a_male_cover_needs_neither_and_may_not_pick_female_only_codes() {
        let mut a = seed_example();
        a.gender = "male".into();
        a.breast_size.clear();
        a.butt_size.clear();
        a.body_type = "Muscular".into();
        validate(&OptionCatalogue::embedded(), &a).unwrap();

        a.hair_style = "Ponytail".into();
        let (field, text) = message(&a);
        assert_eq!(field, "hairStyle");
        assert!(
            text.contains("\"Ponytail\"") && text.contains("for male"),
            "{text}"
        );
        assert!(text.contains("Buzz") && !text.contains("Bob"), "{text}");
    }

    #[test]
    fn unknown_codes_and_missing_fields_are_named() {
        let mut a = seed_example();
        a.ethnicity = "Martian".into();
        let (field, text) = message(&a);
        assert_eq!(field, "ethnicity");
        assert!(text.contains("\"Martian\""), "{text}");
        assert!(text.contains("Asian"), "{text}");

        let mut a = seed_example();
        a.age.clear();
        assert_eq!(message(&a), ("age".into(), "age is required".into()));

        let mut a = seed_example();
        a.gender = "other".into();
        assert_eq!(message(&a).0, "gender");
    }
}

//! Reading request bodies the way the seeds' Flask/Express handlers did, with clear errors:
//! multipart forms (files and text fields) and JSON objects whose numbers may come as strings.

use std::collections::HashMap;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};

/// A parsed multipart form.
#[derive(Default)]
pub struct Form {
    pub files: HashMap<String, FilePart>,
    pub fields: HashMap<String, String>,
}

pub struct FilePart {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

fn body_error(status: http::StatusCode, message: String) -> Error {
    if status == http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::new(ErrorCode::PayloadTooLarge, message)
    } else {
        Error::new(ErrorCode::InvalidArgument, message)
    }
}

impl Form {
    pub async fn read(
        multipart: Result<Multipart, MultipartRejection>,
        limit: usize,
    ) -> Result<Form> {
        let mut multipart = multipart.map_err(|e| {
            body_error(
                e.status(),
                format!("expected a multipart/form-data body: {}", e.body_text()),
            )
        })?;
        let mut form = Form::default();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => return Err(Self::too_large_or(e, limit)),
            };
            let name = field.name().unwrap_or_default().to_owned();
            // Two parts of one name would leave it to chance which one is used.
            if form.files.contains_key(&name) || form.fields.contains_key(&name) {
                return Err(Error::invalid(
                    name.as_str(),
                    format!("the form has more than one {name} part; send it once"),
                ));
            }
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| Self::too_large_or(e, limit))?;
            if file_name.is_some() {
                form.files.insert(
                    name,
                    FilePart {
                        file_name,
                        content_type,
                        bytes,
                    },
                );
            } else {
                form.fields
                    .insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        Ok(form)
    }

    fn too_large_or(e: axum::extract::multipart::MultipartError, limit: usize) -> Error {
        if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::new(
                ErrorCode::PayloadTooLarge,
                format!("request body exceeds the {limit} byte limit"),
            )
        } else {
            body_error(
                e.status(),
                format!("malformed multipart body: {}", e.body_text()),
            )
        }
    }

    /// The bytes of a required file field; a text field of that name is accepted too, as
    /// some clients send files without a filename.
    pub fn file(&mut self, name: &str) -> Result<Bytes> {
        if let Some(file) = self.files.remove(name) {
            if file.bytes.is_empty() {
                return Err(Error::invalid(name, format!("{name} is an empty file")));
            }
            tracing::debug!(field = name, file_name = ?file.file_name, content_type = ?file.content_type, "file part");
            return Ok(file.bytes);
        }
        Err(Error::invalid(
            name,
            format!("missing file field {name} (multipart/form-data)"),
        ))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        self.text(name).map(|v| parse_int(name, v)).transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        self.text(name).map(|v| parse_bool(name, v)).transpose()
    }
}

fn parse_int(name: &str, value: &str) -> Result<i64> {
    value.parse::<i64>().map_err(|_| {
        Error::invalid(
            name,
            format!(
                "{name} must be an integer, got {:?}",
                crate::redact::echo(value)
            ),
        )
    })
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(
            name,
            format!(
                "{name} must be true or false, got {:?}",
                crate::redact::echo(value)
            ),
        )),
    }
}

/// A JSON object body.
pub struct JsonBody(Map<String, Value>);

impl JsonBody {
    /// A number, given as a JSON number or a numeric string (the seeds' callers send both).
    pub fn float(&self, name: &str) -> Result<Option<f32>> {
        let bad = |shown: &dyn std::fmt::Display| {
            Error::invalid(name, format!("{name} must be a number, got {shown}"))
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(|v| Some(v as f32)).ok_or_else(|| bad(n)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<f32>().map(Some).map_err(|_| bad(s)),
            Some(other) => Err(bad(other)),
        }
    }

    pub fn parse(body: Result<Bytes, BytesRejection>) -> Result<JsonBody> {
        let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
        if body.is_empty() {
            return Err(Error::invalid(
                "body",
                "request body is empty; expected a JSON object",
            ));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            Ok(_) => Err(Error::invalid("body", "request body must be a JSON object")),
            Err(e) => Err(Error::invalid(
                "body",
                format!("request body is not valid JSON: {e}"),
            )),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<String> {
        match self.0.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(Value::String(_)) | Some(Value::Null) | None => Err(Error::invalid(
                name,
                format!("missing required parameter {name}"),
            )),
            Some(other) => Err(Error::invalid(
                name,
                format!("{name} must be a string, got {other}"),
            )),
        }
    }

    pub fn optional_str(&self, name: &str) -> Result<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(Error::invalid(
                name,
                format!("{name} must be a string, got {other}"),
            )),
        }
    }

    /// A required array of strings (`img_set`); an element of another type is named by index.
    pub fn string_list(&self, name: &str) -> Result<Vec<String>> {
        match self.0.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.trim().to_owned()),
                    other @ (Value::Null
                    | Value::Bool(_)
                    | Value::Number(_)
                    | Value::Array(_)
                    | Value::Object(_)) => Err(Error::invalid(
                        format!("{name}[{i}]"),
                        format!("{name}[{i}] must be a string, got {other}"),
                    )),
                })
                .collect(),
            None | Some(Value::Null) => Err(Error::invalid(
                name,
                format!("missing required parameter {name}"),
            )),
            Some(other) => Err(Error::invalid(
                name,
                format!("{name} must be an array of strings, got {other}"),
            )),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => parse_bool(name, s.trim()).map(Some),
            Some(other) => Err(Error::invalid(
                name,
                format!("{name} must be true or false, got {other}"),
            )),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| Error::invalid(name, format!("{name} must be an integer, got {n}"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => parse_int(name, s.trim()).map(Some),
            Some(other) => Err(Error::invalid(
                name,
                format!("{name} must be an integer, got {other}"),
            )),
        }
    }
}

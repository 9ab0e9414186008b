//! DashScope's JSON, as documented (PROVIDERS.md §1.3–1.4); private to the adapter.

use serde::Deserialize;
use serde_json::Value;

/// The answer to a submit: `{"output": {"task_id", "task_status"}, "request_id"}`.
#[derive(Debug, Deserialize)]
pub(super) struct SubmitReply {
    pub output: Option<SubmitOutput>,
    #[serde(default)]
    pub request_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct SubmitOutput {
    pub task_id: String,
}

/// A flat error body: `{"code", "message" | "msg", "request_id"}`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorReply {
    #[serde(default)]
    pub code: String,
    #[serde(default, alias = "msg")]
    pub message: String,
    #[serde(default)]
    pub request_id: String,
}

/// The answer to `GET /tasks/{id}`.
#[derive(Debug, Deserialize)]
pub(super) struct TaskReply {
    pub output: TaskOutput,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskOutput {
    #[serde(default)]
    pub task_status: String,
    pub submit_time: Option<String>,
    pub scheduled_time: Option<String>,
    pub end_time: Option<String>,
    /// Most models: a list of `{url}` or, for images that failed, `{code, message}`.
    #[serde(default)]
    pub results: Vec<ResultItem>,
    /// aitryon*.
    pub image_url: Option<String>,
    /// image-out-painting.
    pub output_image_url: Option<String>,
    /// wan2.6 (messages protocol).
    #[serde(default)]
    pub choices: Vec<Choice>,
    pub task_metrics: Option<TaskMetrics>,
    /// Set on FAILED tasks.
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ResultItem {
    Image {
        url: String,
    },
    Failed {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    },
    /// Anything else is kept only to say so.
    Other(Value),
}

#[derive(Debug, Deserialize)]
pub(super) struct Choice {
    pub message: ChoiceMessage,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChoiceMessage {
    #[serde(default)]
    pub content: Vec<ContentItem>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ContentItem {
    pub image: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) struct TaskMetrics {
    #[serde(rename = "TOTAL", default)]
    pub total: u32,
    #[serde(rename = "SUCCEEDED", default)]
    pub succeeded: u32,
    #[serde(rename = "FAILED", default)]
    pub failed: u32,
}

/// Every task state DashScope documents; strings it adds later count as still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    /// The task does not exist or has expired (kept 24 h).
    Unknown,
}

impl TaskState {
    pub fn parse(text: &str) -> TaskState {
        match text {
            "PENDING" => TaskState::Pending,
            "SUCCEEDED" => TaskState::Succeeded,
            "FAILED" => TaskState::Failed,
            "CANCELED" | "CANCELLED" => TaskState::Canceled,
            "UNKNOWN" => TaskState::Unknown,
            // PRE-PROCESSING, RUNNING, POST-PROCESSING, SUSPENDED and anything new.
            _ => TaskState::Running,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Canceled | TaskState::Unknown
        )
    }
}

/// The images of a finished task, whatever shape the model reports them in, and the
/// per-image failures of a partial success.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    pub urls: Vec<String>,
    pub failures: Vec<(String, String)>,
}

impl TaskOutput {
    pub fn outputs(&self) -> Outputs {
        let mut out = Outputs::default();
        for item in &self.results {
            match item {
                ResultItem::Image { url } => out.urls.push(url.clone()),
                ResultItem::Failed { code, message } => {
                    out.failures.push((code.clone(), message.clone()))
                }
                ResultItem::Other(value) => out
                    .failures
                    .push(("Unrecognised".to_owned(), value.to_string())),
            }
        }
        out.urls.extend(self.image_url.iter().cloned());
        out.urls.extend(self.output_image_url.iter().cloned());
        for choice in &self.choices {
            out.urls.extend(
                choice
                    .message
                    .content
                    .iter()
                    .filter_map(|item| item.image.clone()),
            );
        }
        out
    }
}

/// DashScope's naive timestamps, `2025-02-21 17:56:31.786`, read at `utc_offset_hours`.
pub(super) fn parse_time(text: &str, utc_offset_hours: i8) -> Option<std::time::SystemTime> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"
    );
    let plain = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let naive = time::PrimitiveDateTime::parse(text.trim(), &format)
        .or_else(|_| time::PrimitiveDateTime::parse(text.trim(), &plain))
        .ok()?;
    let offset = time::UtcOffset::from_hms(utc_offset_hours, 0, 0).ok()?;
    Some(naive.assume_offset(offset).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(json: &str) -> TaskOutput {
        serde_json::from_str::<TaskReply>(json).unwrap().output
    }

    #[test]
    fn reads_every_documented_result_shape() {
        let results = output(
            r#"{"output":{"task_id":"t","task_status":"SUCCEEDED",
                "results":[{"url":"https://a/1.png"},{"code":"InternalError.Timeout","message":"late"}],
                "task_metrics":{"TOTAL":2,"SUCCEEDED":1,"FAILED":1}}}"#,
        );
        assert_eq!(results.outputs().urls, vec!["https://a/1.png"]);
        assert_eq!(results.outputs().failures[0].0, "InternalError.Timeout");

        let tryon =
            output(r#"{"output":{"task_status":"SUCCEEDED","image_url":"https://a/t.jpg"}}"#);
        assert_eq!(tryon.outputs().urls, vec!["https://a/t.jpg"]);

        let outpaint = output(
            r#"{"output":{"task_status":"SUCCEEDED","output_image_url":"https://a/o.png"}}"#,
        );
        assert_eq!(outpaint.outputs().urls, vec!["https://a/o.png"]);

        let wan26 = output(
            r#"{"output":{"task_status":"SUCCEEDED","choices":[{"finish_reason":"stop",
                "message":{"role":"assistant","content":[{"type":"image","image":"https://a/w.png"}]}}]}}"#,
        );
        assert_eq!(wan26.outputs().urls, vec!["https://a/w.png"]);
    }

    #[test]
    fn unknown_states_count_as_running() {
        assert_eq!(TaskState::parse("PRE-PROCESSING"), TaskState::Running);
        assert_eq!(TaskState::parse("SUSPENDED"), TaskState::Running);
        assert_eq!(TaskState::parse("SOMETHING_NEW"), TaskState::Running);
        assert!(TaskState::parse("UNKNOWN").is_terminal());
        assert!(TaskState::parse("CANCELED").is_terminal());
        assert!(!TaskState::parse("PENDING").is_terminal());
    }

    #[test]
    fn parses_dashscope_timestamps_in_beijing_time() {
        let at = parse_time("2025-07-08 09:45:19.598", 8).unwrap();
        let utc = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_751_939_119_598);
        assert_eq!(at, utc);
        assert!(parse_time("2025-07-08 09:45:19", 8).is_some());
        assert!(parse_time("yesterday", 8).is_none());
    }
}

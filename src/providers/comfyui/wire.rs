//! ComfyUI's JSON, as far as this adapter reads it (PROVIDERS.md §4.1,
//! research/generation-backends.md §1). Unknown fields and events are ignored, so a newer
//! server does not break an older adapter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /prompt`.
#[derive(Debug, Serialize)]
pub struct SubmitBody<'a> {
    pub prompt: &'a Map<String, Value>,
    pub client_id: &'a str,
    /// Minted here so that events arriving before the reply can be matched; older servers
    /// ignore it and mint their own (the reply's id wins).
    pub prompt_id: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct SubmitReply {
    pub prompt_id: String,
    #[serde(default)]
    pub number: Option<i64>,
}

/// A refused `/prompt`: `error` is an object on current servers, a string on old ones.
#[derive(Debug, Deserialize)]
pub struct SubmitError {
    #[serde(default)]
    pub error: Value,
    #[serde(default)]
    pub node_errors: Value,
}

/// `POST /upload/image`.
#[derive(Debug, Deserialize)]
pub struct UploadReply {
    pub name: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// An output file as `executed` and `/history` name it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileRef {
    pub filename: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct NodeOutput {
    #[serde(default)]
    pub images: Vec<FileRef>,
}

/// One text frame of `/ws`: `{"type", "data"}`.
#[derive(Debug, Deserialize)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: Value,
}

/// The events a run is followed by; anything else is [`Event::Other`].
#[derive(Debug)]
pub enum Event {
    /// The queue changed (broadcast to every client).
    Status,
    Start {
        prompt_id: String,
    },
    Cached {
        prompt_id: String,
        nodes: Vec<String>,
    },
    /// `node: None` with the run's id: the run is over (history is written).
    Executing {
        prompt_id: String,
        node: Option<String>,
    },
    Progress {
        prompt_id: String,
        node: Option<String>,
        value: f64,
        max: f64,
    },
    ProgressState {
        prompt_id: String,
        nodes: BTreeMap<String, NodeState>,
    },
    Executed {
        prompt_id: String,
        node: String,
        output: NodeOutput,
    },
    Success {
        prompt_id: String,
    },
    Error {
        prompt_id: String,
        error: ExecutionError,
    },
    Interrupted {
        prompt_id: String,
    },
    Other,
}

#[derive(Debug, Deserialize)]
pub struct NodeState {
    #[serde(default)]
    pub value: f64,
    #[serde(default)]
    pub max: f64,
    #[serde(default)]
    pub state: String,
}

/// `execution_error`'s data (also found in `/history` status messages).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExecutionError {
    #[serde(default)]
    pub node_id: Option<Value>,
    #[serde(default)]
    pub node_type: String,
    #[serde(default)]
    pub exception_type: String,
    #[serde(default)]
    pub exception_message: String,
}

impl Event {
    /// The run an event is about; `None` for broadcasts.
    pub fn prompt_id(&self) -> Option<&str> {
        match self {
            Event::Start { prompt_id }
            | Event::Cached { prompt_id, .. }
            | Event::Executing { prompt_id, .. }
            | Event::Progress { prompt_id, .. }
            | Event::ProgressState { prompt_id, .. }
            | Event::Executed { prompt_id, .. }
            | Event::Success { prompt_id }
            | Event::Error { prompt_id, .. }
            | Event::Interrupted { prompt_id } => Some(prompt_id),
            Event::Status | Event::Other => None,
        }
    }
}

impl Message {
    pub fn event(self) -> Event {
        let data = self.data;
        let prompt_id = || {
            data.get("prompt_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let text = |key: &str| data.get(key).and_then(node_id);
        match self.kind.as_str() {
            "status" => Event::Status,
            "execution_start" => Event::Start {
                prompt_id: prompt_id(),
            },
            "execution_cached" => Event::Cached {
                prompt_id: prompt_id(),
                nodes: data
                    .get("nodes")
                    .and_then(Value::as_array)
                    .map(|nodes| nodes.iter().filter_map(node_id).collect())
                    .unwrap_or_default(),
            },
            "executing" => Event::Executing {
                prompt_id: prompt_id(),
                node: text("node"),
            },
            "progress" => Event::Progress {
                prompt_id: prompt_id(),
                node: text("node"),
                value: data.get("value").and_then(Value::as_f64).unwrap_or(0.0),
                max: data.get("max").and_then(Value::as_f64).unwrap_or(0.0),
            },
            "progress_state" => Event::ProgressState {
                prompt_id: prompt_id(),
                nodes: data
                    .get("nodes")
                    .cloned()
                    .and_then(|n| serde_json::from_value(n).ok())
                    .unwrap_or_default(),
            },
            "executed" => Event::Executed {
                prompt_id: prompt_id(),
                node: text("node").unwrap_or_default(),
                output: data
                    .get("output")
                    .cloned()
                    .and_then(|o| serde_json::from_value(o).ok())
                    .unwrap_or_default(),
            },
            "execution_success" => Event::Success {
                prompt_id: prompt_id(),
            },
            "execution_error" => Event::Error {
                prompt_id: prompt_id(),
                error: serde_json::from_value(data.clone()).unwrap_or_default(),
            },
            "execution_interrupted" => Event::Interrupted {
                prompt_id: prompt_id(),
            },
            _ => Event::Other,
        }
    }
}

/// Node ids are strings in API-format graphs, but some builds send numbers.
fn node_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

/// One entry of `GET /history/{id}`.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryEntry {
    #[serde(default)]
    pub outputs: BTreeMap<String, NodeOutput>,
    #[serde(default)]
    pub status: Option<HistoryStatus>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryStatus {
    #[serde(default)]
    pub status_str: String,
    /// `[[event, data], …]`: the run's own events, with `execution_error`'s details.
    #[serde(default)]
    pub messages: Vec<(String, Value)>,
}

impl HistoryStatus {
    pub fn error(&self) -> Option<ExecutionError> {
        self.messages
            .iter()
            .find(|(event, _)| event == "execution_error")
            .map(|(_, data)| serde_json::from_value(data.clone()).unwrap_or_default())
    }

    pub fn interrupted(&self) -> bool {
        self.messages
            .iter()
            .any(|(event, _)| event == "execution_interrupted")
    }
}

/// `GET /api/jobs/{id}` (servers with the jobs API).
#[derive(Debug, Deserialize)]
pub struct Job {
    #[serde(default)]
    pub status: String,
}

/// `GET /queue`: items are `[number, prompt_id, …]`.
#[derive(Debug, Default, Deserialize)]
pub struct Queue {
    #[serde(default)]
    pub queue_running: Vec<Vec<Value>>,
    #[serde(default)]
    pub queue_pending: Vec<Vec<Value>>,
}

impl Queue {
    /// Jobs ahead of `prompt_id` (the running ones included); `None` when it is not pending.
    pub fn position(&self, prompt_id: &str) -> Option<u32> {
        let id_of = |item: &Vec<Value>| item.get(1).and_then(Value::as_str).map(str::to_owned);
        let number_of = |item: &Vec<Value>| item.first().and_then(Value::as_f64);
        let ours = self
            .queue_pending
            .iter()
            .find(|item| id_of(item).as_deref() == Some(prompt_id))?;
        let our_number = number_of(ours)?;
        let ahead = self
            .queue_pending
            .iter()
            .filter(|item| number_of(item).is_some_and(|n| n < our_number))
            .count()
            + self.queue_running.len();
        u32::try_from(ahead).ok()
    }

    pub fn is_running(&self, prompt_id: &str) -> bool {
        self.queue_running
            .iter()
            .any(|item| item.get(1).and_then(Value::as_str) == Some(prompt_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        serde_json::from_value::<Message>(value).unwrap().event()
    }

    #[test]
    fn reads_the_events_a_run_sends() {
        let Event::Executing { node, prompt_id } =
            event(json!({"type":"executing","data":{"node":null,"prompt_id":"p"}}))
        else {
            panic!()
        };
        assert_eq!((node, prompt_id.as_str()), (None, "p"));
        let Event::Progress {
            node, value, max, ..
        } = event(
            json!({"type":"progress","data":{"value":3,"max":20,"prompt_id":"p","node":"3"}}),
        )
        else {
            panic!()
        };
        assert_eq!((node.as_deref(), value, max), (Some("3"), 3.0, 20.0));
        let Event::Cached { nodes, .. } =
            event(json!({"type":"execution_cached","data":{"nodes":["4", 5],"prompt_id":"p"}}))
        else {
            panic!()
        };
        assert_eq!(nodes, ["4", "5"]);
        let Event::Error { error, .. } = event(json!({"type":"execution_error","data":{
            "prompt_id":"p","node_id":"3","node_type":"KSampler",
            "exception_type":"torch.OutOfMemoryError","exception_message":"CUDA out of memory"}}))
        else {
            panic!()
        };
        assert_eq!(error.node_type, "KSampler");
        assert!(matches!(
            event(json!({"type":"crystools.monitor","data":{}})),
            Event::Other
        ));
    }

    #[test]
    fn queue_position_counts_running_and_earlier_pending_jobs() {
        let queue: Queue = serde_json::from_value(json!({
            "queue_running": [[1, "a", {}, {}, []]],
            "queue_pending": [[3, "c", {}, {}, []], [2, "b", {}, {}, []]]
        }))
        .unwrap();
        assert_eq!(queue.position("c"), Some(2));
        assert_eq!(queue.position("b"), Some(1));
        assert_eq!(queue.position("a"), None);
        assert!(queue.is_running("a"));
    }
}

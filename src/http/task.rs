//! Seed 002's async-task reply, whichever provider did the work.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use crate::domain::TaskReport;
use crate::engine::DeliveredImage;

#[derive(Serialize)]
pub struct TaskReply {
    pub task_id: String,
    pub task_status: &'static str,
    pub submit_time: String,
    pub scheduled_time: String,
    pub end_time: String,
    pub results: Vec<ResultUrl>,
    pub task_metrics: TaskMetrics,
    /// Remarks such as an unused prompt; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Serialize)]
pub struct ResultUrl {
    pub url: String,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
pub struct TaskMetrics {
    pub TOTAL: u32,
    pub SUCCEEDED: u32,
    pub FAILED: u32,
}

/// A signed URL when the result was stored, else a `data:` URI carrying the image.
pub fn result_url(image: &DeliveredImage) -> String {
    match &image.url {
        Some(url) => url.clone(),
        None => format!(
            "data:{};base64,{}",
            image.image.format.media_type(),
            BASE64.encode(image.bytes())
        ),
    }
}

/// DashScope's timestamp style, `2025-07-08 09:45:19.598` (UTC here).
pub fn seed_time(at: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

impl TaskReply {
    pub fn new(task: TaskReport, images: &[DeliveredImage]) -> Self {
        TaskReply {
            task_id: task.task_id,
            task_status: task.status.name(),
            submit_time: seed_time(task.submit_time),
            scheduled_time: seed_time(task.scheduled_time),
            end_time: seed_time(task.end_time),
            results: images
                .iter()
                .map(|i| ResultUrl { url: result_url(i) })
                .collect(),
            task_metrics: TaskMetrics {
                TOTAL: task.total,
                SUCCEEDED: task.succeeded,
                FAILED: task.failed,
            },
            notes: task.notes,
        }
    }
}

/// Seed 002's `/change_cloth` reply: one `image_url` instead of `results`.
#[derive(Serialize)]
pub struct ClothesReply {
    pub end_time: String,
    pub image_url: String,
    pub scheduled_time: String,
    pub submit_time: String,
    pub task_id: String,
    pub task_status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ClothesReply {
    pub fn new(task: TaskReport, images: &[DeliveredImage]) -> Self {
        ClothesReply {
            end_time: seed_time(task.end_time),
            image_url: images.first().map(result_url).unwrap_or_default(),
            scheduled_time: seed_time(task.scheduled_time),
            submit_time: seed_time(task.submit_time),
            task_id: task.task_id,
            task_status: task.status.name(),
            notes: task.notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_time_as_dashscope_does() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_751_967_919_598);
        assert_eq!(seed_time(at), "2025-07-08 09:45:19.598");
    }
}

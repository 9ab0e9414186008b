//! The task envelope of seed 002, filled in whichever provider did the work.

use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Unknown,
}

impl TaskStatus {
    /// DashScope's spelling, used by seed 002 replies.
    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Succeeded => "SUCCEEDED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Canceled => "CANCELED",
            TaskStatus::Unknown => "UNKNOWN",
        }
    }
}

/// A task as a remote provider reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTask {
    pub task_id: String,
    pub submit_time: Option<SystemTime>,
    pub scheduled_time: Option<SystemTime>,
    pub end_time: Option<SystemTime>,
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
}

#[derive(Debug, Clone)]
pub struct TaskReport {
    pub task_id: String,
    pub status: TaskStatus,
    pub submit_time: SystemTime,
    pub scheduled_time: SystemTime,
    pub end_time: SystemTime,
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub provider: String,
    pub notes: Vec<String>,
}

impl TaskReport {
    /// A task that ran synchronously from `submitted` until now and produced `count` results.
    pub fn completed(
        submitted: SystemTime,
        provider: &str,
        count: u32,
        notes: Vec<String>,
    ) -> Self {
        TaskReport {
            task_id: uuid::Uuid::new_v4().to_string(),
            status: TaskStatus::Succeeded,
            submit_time: submitted,
            scheduled_time: submitted,
            end_time: SystemTime::now(),
            total: count,
            succeeded: count,
            failed: 0,
            provider: provider.to_owned(),
            notes,
        }
    }

    /// The report of work a remote provider ran as its own task: its id and times where it
    /// gave them, ours otherwise.
    pub fn remote(
        submitted: SystemTime,
        provider: &str,
        task: &RemoteTask,
        notes: Vec<String>,
    ) -> Self {
        let now = SystemTime::now();
        TaskReport {
            task_id: task.task_id.clone(),
            status: TaskStatus::Succeeded,
            submit_time: task.submit_time.unwrap_or(submitted),
            scheduled_time: task
                .scheduled_time
                .or(task.submit_time)
                .unwrap_or(submitted),
            end_time: task.end_time.unwrap_or(now),
            total: task.total,
            succeeded: task.succeeded,
            failed: task.failed,
            provider: provider.to_owned(),
            notes,
        }
    }
}

//! `imgforge.v1.PortraitService`: seed 003, the same operations as the `/cloud/*` paths.

use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::grpc::caller;
use crate::grpc::convert;
use crate::portrait::Portraits;
use crate::proto::v1 as pb;
use crate::proto::v1::portrait_service_server::PortraitService;
use crate::state::{PortraitTask, TaskState, TaskType};

pub struct PortraitApi {
    pub portraits: Arc<Portraits>,
}

fn optional(text: &str) -> Option<&str> {
    Some(text).filter(|t| !t.trim().is_empty())
}

fn state_to_proto(state: TaskState) -> pb::PortraitTaskState {
    match state {
        TaskState::Waiting => pb::PortraitTaskState::Waiting,
        TaskState::Running => pb::PortraitTaskState::Running,
        TaskState::Succeeded => pb::PortraitTaskState::Succeeded,
        TaskState::PartlySucceeded => pb::PortraitTaskState::PartlySucceeded,
        TaskState::Failed => pb::PortraitTaskState::Failed,
    }
}

async fn task_to_proto(
    portraits: &Portraits,
    task: &PortraitTask,
) -> Result<pb::PortraitTask, Status> {
    Ok(pb::PortraitTask {
        id: task.id.clone(),
        state: state_to_proto(task.state).into(),
        r#type: match task.task_type {
            TaskType::Training => pb::PortraitTaskType::Training,
            TaskType::Generation => pb::PortraitTaskType::Generation,
        }
        .into(),
        result_paths: portraits.result_urls(task).await?,
        user_id: task.user_id.clone(),
        error: task.error.clone().unwrap_or_default(),
        created_at: Some(prost_types::Timestamp::from(task.created_at)),
        updated_at: Some(prost_types::Timestamp::from(task.updated_at)),
    })
}

#[tonic::async_trait]
impl PortraitService for PortraitApi {
    type WatchPortraitTaskStream = ReceiverStream<Result<pb::WatchPortraitTaskResponse, Status>>;

    async fn upload_base_photo(
        &self,
        request: Request<pb::UploadBasePhotoRequest>,
    ) -> Result<Response<pb::UploadBasePhotoResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        // The tenant is the API key; naming another one is refused, not honoured.
        if !request.tenant.is_empty() && request.tenant != caller.key_id {
            return Err(Error::invalid(
                "tenant",
                "tenant must be empty or the caller's own API key",
            )
            .into());
        }
        let source = convert::image_source(request.image, "image")?;
        let path = self.portraits.upload(&caller, source, "image").await?;
        Ok(Response::new(pb::UploadBasePhotoResponse { path }))
    }

    async fn create_user_model(
        &self,
        request: Request<pb::CreateUserModelRequest>,
    ) -> Result<Response<pb::CreateUserModelResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let created = self
            .portraits
            .create_user_model(&caller, &request.img_set, optional(&request.callback_url))
            .await?;
        Ok(Response::new(pb::CreateUserModelResponse {
            task_id: created.task_id,
            user_id: created.user_id,
        }))
    }

    async fn list_portrait_styles(
        &self,
        _request: Request<pb::ListPortraitStylesRequest>,
    ) -> Result<Response<pb::ListPortraitStylesResponse>, Status> {
        let styles = self
            .portraits
            .styles
            .all()
            .iter()
            .map(|s| pb::PortraitStyle {
                name: s.name.clone(),
                style: s.style.clone(),
                template: s.template.clone(),
                sex: if s.sex == "男" {
                    pb::Gender::Male
                } else {
                    pb::Gender::Female
                }
                .into(),
            })
            .collect();
        Ok(Response::new(pb::ListPortraitStylesResponse { styles }))
    }

    async fn create_portrait_task(
        &self,
        request: Request<pb::CreatePortraitTaskRequest>,
    ) -> Result<Response<pb::CreatePortraitTaskResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let created = self
            .portraits
            .create_task(
                &caller,
                &request.user_id,
                &request.style,
                optional(&request.callback_url),
            )
            .await?;
        Ok(Response::new(pb::CreatePortraitTaskResponse {
            task_id: created.task_id,
            user_id: created.user_id,
        }))
    }

    async fn get_portrait_task(
        &self,
        request: Request<pb::GetPortraitTaskRequest>,
    ) -> Result<Response<pb::GetPortraitTaskResponse>, Status> {
        let caller = caller(&request)?;
        let task = self
            .portraits
            .task(&caller, &request.into_inner().task_id)
            .await?;
        Ok(Response::new(pb::GetPortraitTaskResponse {
            task: Some(task_to_proto(&self.portraits, &task).await?),
        }))
    }

    async fn delete_user_model(
        &self,
        request: Request<pb::DeleteUserModelRequest>,
    ) -> Result<Response<pb::DeleteUserModelResponse>, Status> {
        let caller = caller(&request)?;
        let user_id = request.into_inner().user_id;
        if user_id.trim().is_empty() {
            return Err(Error::invalid("user_id", "user_id is required").into());
        }
        let deleted_tasks = self.portraits.delete_user_model(&caller, &user_id).await?;
        Ok(Response::new(pb::DeleteUserModelResponse {
            user_id,
            deleted_tasks,
        }))
    }

    async fn watch_portrait_task(
        &self,
        request: Request<pb::WatchPortraitTaskRequest>,
    ) -> Result<Response<Self::WatchPortraitTaskStream>, Status> {
        let caller = caller(&request)?;
        let task_id = request.into_inner().task_id;
        // Refused up front (NOT_FOUND, bad id) rather than as a stream that fails at once.
        let first = self.portraits.task(&caller, &task_id).await?;
        let portraits = self.portraits.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // The store is read, not a local signal: any replica may be running the task.
        let every = Duration::from_millis(portraits.settings.watch_poll_ms);
        tokio::spawn(async move {
            let mut task = first;
            let mut last_sent: Option<(TaskState, usize)> = None;
            loop {
                let now = (task.state, task.result_keys.len());
                if last_sent != Some(now) {
                    let message = task_to_proto(&portraits, &task)
                        .await
                        .map(|task| pb::WatchPortraitTaskResponse { task: Some(task) });
                    let failed = message.is_err();
                    if tx.send(message).await.is_err() || failed {
                        return;
                    }
                    last_sent = Some(now);
                }
                if task.state.is_final() {
                    return;
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                task = match portraits.task(&caller, &task_id).await {
                    Ok(task) => task,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

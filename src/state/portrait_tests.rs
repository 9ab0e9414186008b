//! Portrait rows, leases and the callback outbox, on SQLite and PostgreSQL alike.

use std::collections::HashSet;
use std::time::Duration;

use super::tests::on_each_backend;
use super::*;

const LEASE: Duration = Duration::from_secs(30);

fn task(b: &super::tests::Backend, tenant: &str, user: &str) -> PortraitTask {
    let now = b.clock.now();
    PortraitTask::new(
        tenant,
        TaskType::Generation,
        user,
        now,
        now + Duration::from_secs(3600),
    )
}

#[tokio::test]
async fn uploads_and_user_models_are_private_to_their_tenant_and_expire() {
    on_each_backend(|b| async move {
        let now = b.clock.now();
        let upload = PortraitUpload {
            path: "user_upload/ak_a/x.jpg".into(),
            tenant: "ak_a".into(),
            blob_key: "portraits/x".into(),
            created_at: now,
            expires_at: now + Duration::from_secs(60),
        };
        b.store.insert_portrait_upload(&upload).await.unwrap();
        assert_eq!(
            b.store.portrait_upload("ak_a", &upload.path).await.unwrap(),
            Some(upload.clone())
        );
        assert_eq!(
            b.store.portrait_upload("ak_b", &upload.path).await.unwrap(),
            None
        );
        let model = UserModel {
            user_id: "U1".into(),
            tenant: "ak_a".into(),
            status: UserModelStatus::Training,
            photo_keys: vec![],
            remote_handle: None,
            created_at: now,
            expires_at: now + Duration::from_secs(120),
        };
        b.store.insert_user_model(&model).await.unwrap();
        assert_eq!(b.store.user_model("ak_b", "U1").await.unwrap(), None);
        let keys = vec!["k1".to_owned(), "k2".to_owned()];
        assert!(
            b.store
                .update_user_model("ak_a", "U1", UserModelStatus::Ready, &keys, Some("m-9"))
                .await
                .unwrap()
        );
        let ready = b.store.user_model("ak_a", "U1").await.unwrap().unwrap();
        assert_eq!(ready.status, UserModelStatus::Ready);
        assert_eq!(ready.photo_keys, keys);
        assert_eq!(ready.remote_handle.as_deref(), Some("m-9"));
        b.clock.advance(Duration::from_secs(60));
        assert_eq!(
            b.store.portrait_upload("ak_a", &upload.path).await.unwrap(),
            None
        );
        b.clock.advance(Duration::from_secs(60));
        assert_eq!(b.store.user_model("ak_a", "U1").await.unwrap(), None);
        assert_eq!(b.store.sweep().await.unwrap().portraits, 2);
        b
    })
    .await;
}

#[tokio::test]
async fn a_claimed_task_is_not_claimed_again_until_its_lease_expires_then_it_is_taken_over() {
    on_each_backend(|b| async move {
        let t = task(&b, "ak_a", "U1");
        b.store.insert_portrait_task(&t).await.unwrap();
        let first = b.store.claim_portrait_task("w1", LEASE).await.unwrap();
        let first = first.expect("the waiting task is claimed");
        assert_eq!(
            (first.id.as_str(), first.state, first.attempts),
            (t.id.as_str(), TaskState::Running, 1)
        );
        assert_eq!(first.lease_owner.as_deref(), Some("w1"));
        assert!(
            b.store
                .claim_portrait_task("w2", LEASE)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            b.store
                .set_portrait_remote_task(&t.id, "w1", "remote-1")
                .await
                .unwrap()
        );

        // A heartbeat keeps it: past the first lease, still w1's.
        b.clock.advance(LEASE - Duration::from_secs(1));
        assert!(
            b.store
                .heartbeat_portrait_task(&t.id, "w1", LEASE)
                .await
                .unwrap()
        );
        b.clock.advance(Duration::from_secs(2));
        assert!(
            b.store
                .claim_portrait_task("w2", LEASE)
                .await
                .unwrap()
                .is_none()
        );

        // w1 goes silent: once the lease is up, w2 takes over where w1 left off.
        b.clock.advance(LEASE);
        let taken = b.store.claim_portrait_task("w2", LEASE).await.unwrap();
        let taken = taken.expect("an expired lease is taken over");
        assert_eq!(taken.attempts, 2);
        assert_eq!(taken.remote_task_id.as_deref(), Some("remote-1"));
        assert!(
            !b.store
                .heartbeat_portrait_task(&t.id, "w1", LEASE)
                .await
                .unwrap()
        );
        assert!(
            !b.store
                .set_portrait_results(&t.id, "w1", &["late".into()])
                .await
                .unwrap(),
            "the old owner can no longer write"
        );
        let end = TaskEnd {
            state: TaskState::Succeeded,
            result_keys: vec!["r1".into()],
            error: None,
        };
        assert!(
            !b.store
                .finish_portrait_task(&t.id, "w1", &end, None)
                .await
                .unwrap()
        );
        assert!(
            b.store
                .finish_portrait_task(&t.id, "w2", &end, None)
                .await
                .unwrap()
        );
        let done = b.store.portrait_task("ak_a", &t.id).await.unwrap().unwrap();
        assert_eq!(done.state, TaskState::Succeeded);
        assert_eq!(done.result_keys, vec!["r1".to_owned()]);
        assert_eq!(done.lease_owner, None);
        assert_eq!(b.store.portrait_task("ak_b", &t.id).await.unwrap(), None);
        b.clock.advance(LEASE * 10);
        assert!(
            b.store
                .claim_portrait_task("w3", LEASE)
                .await
                .unwrap()
                .is_none(),
            "an ended task is never claimed"
        );
        b
    })
    .await;
}

#[tokio::test]
async fn a_released_task_waits_until_its_retry_time() {
    on_each_backend(|b| async move {
        let t = task(&b, "ak_a", "U1");
        b.store.insert_portrait_task(&t).await.unwrap();
        b.store
            .claim_portrait_task("w1", LEASE)
            .await
            .unwrap()
            .unwrap();
        let retry_at = b.clock.now() + Duration::from_secs(5);
        assert!(
            b.store
                .release_portrait_task(&t.id, "w1", retry_at, "backend busy")
                .await
                .unwrap()
        );
        assert!(
            b.store
                .claim_portrait_task("w2", LEASE)
                .await
                .unwrap()
                .is_none()
        );
        b.clock.advance(Duration::from_secs(5));
        let again = b
            .store
            .claim_portrait_task("w2", LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.error.as_deref(), Some("backend busy"));
        b
    })
    .await;
}

#[tokio::test]
async fn finishing_queues_one_callback_and_deleting_a_user_model_removes_its_tasks() {
    on_each_backend(|b| async move {
        let now = b.clock.now();
        let model = UserModel {
            user_id: "U1".into(),
            tenant: "ak_a".into(),
            status: UserModelStatus::Ready,
            photo_keys: vec!["p1".into()],
            remote_handle: None,
            created_at: now,
            expires_at: now + Duration::from_secs(3600),
        };
        b.store.insert_user_model(&model).await.unwrap();
        let mut t = task(&b, "ak_a", "U1");
        t.callback_url = Some("https://example.com/hook".into());
        b.store.insert_portrait_task(&t).await.unwrap();
        b.store
            .claim_portrait_task("w1", LEASE)
            .await
            .unwrap()
            .unwrap();
        let callback = PortraitCallback {
            webhook_id: "msg_1".into(),
            task_id: t.id.clone(),
            tenant: "ak_a".into(),
            url: "https://example.com/hook".into(),
            body: "{}".into(),
            attempts: 0,
            delivered_at: None,
            created_at: now,
            expires_at: now + Duration::from_secs(3600),
        };
        let end = TaskEnd {
            state: TaskState::PartlySucceeded,
            result_keys: vec!["r1".into()],
            error: Some("1 of 2 images failed".into()),
        };
        assert!(
            b.store
                .finish_portrait_task(&t.id, "w1", &end, Some(&callback))
                .await
                .unwrap()
        );
        assert_eq!(
            b.store
                .claim_callbacks("p1", LEASE, 10, None)
                .await
                .unwrap(),
            vec![callback.clone()]
        );
        b.store
            .record_callback_attempt("msg_1", false)
            .await
            .unwrap();
        b.store
            .record_callback_attempt("msg_1", true)
            .await
            .unwrap();
        let sent = b.store.portrait_callback(&t.id).await.unwrap().unwrap();
        assert_eq!(sent.attempts, 2);
        assert!(sent.delivered_at.is_some());
        // Past p1's claim: only delivery keeps it from being taken again.
        b.clock.advance(LEASE + Duration::from_secs(1));
        assert!(
            b.store
                .claim_callbacks("p2", LEASE, 10, None)
                .await
                .unwrap()
                .is_empty()
        );

        assert_eq!(b.store.delete_user_model("ak_b", "U1").await.unwrap(), None);
        let deleted = b
            .store
            .delete_user_model("ak_a", "U1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deleted.tasks, 1);
        assert_eq!(deleted.blob_keys, vec!["p1".to_owned(), "r1".to_owned()]);
        assert_eq!(b.store.portrait_task("ak_a", &t.id).await.unwrap(), None);
        assert_eq!(b.store.portrait_callback(&t.id).await.unwrap(), None);
        b
    })
    .await;
}

#[tokio::test]
async fn concurrent_claimers_take_every_task_exactly_once() {
    on_each_backend(|b| async move {
        let mut ids = HashSet::new();
        for _ in 0..30 {
            let t = task(&b, "ak_a", "U1");
            ids.insert(t.id.clone());
            b.store.insert_portrait_task(&t).await.unwrap();
        }
        let claimers = (0..6).map(|n| {
            let store = b.store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(t) = store
                    .claim_portrait_task(&format!("w{n}"), LEASE)
                    .await
                    .unwrap()
                {
                    mine.push(t.id);
                }
                mine
            })
        });
        let mut claimed = Vec::new();
        for mine in futures::future::join_all(claimers).await {
            claimed.extend(mine.unwrap());
        }
        assert_eq!(claimed.len(), 30, "none claimed twice");
        assert_eq!(
            claimed.into_iter().collect::<HashSet<_>>(),
            ids,
            "none lost"
        );
        b
    })
    .await;
}

#[tokio::test]
async fn callback_history_and_disabled_endpoints_are_kept_until_they_expire() {
    on_each_backend(|b| async move {
        let now = b.clock.now();
        let attempt = |n: i64, outcome: &str, status: i64| CallbackAttempt {
            webhook_id: "msg_T1".into(),
            tenant: "ak_a".into(),
            url: "https://hooks.example.com/p".into(),
            attempt: n,
            sent_timestamp: 1_700_000_000 + n,
            outcome: outcome.into(),
            status: Some(status),
            detail: format!("answered {status}"),
            next_in: (outcome == "retrying").then(|| Duration::from_secs(5)),
            at: now + Duration::from_secs(n as u64),
            expires_at: now + Duration::from_secs(60),
        };
        let first = attempt(1, "retrying", 500);
        let second = attempt(2, "delivered", 200);
        // Inserted out of order: the history reads in the order they happened.
        b.store.insert_callback_attempt(&second).await.unwrap();
        b.store.insert_callback_attempt(&first).await.unwrap();
        // A restart re-sends and counts from 1 again; both runs stay.
        let resent = CallbackAttempt {
            at: now + Duration::from_secs(10),
            ..attempt(1, "delivered", 200)
        };
        b.store.insert_callback_attempt(&resent).await.unwrap();
        assert_eq!(
            b.store.callback_attempts("msg_T1").await.unwrap(),
            vec![first, second, resent]
        );
        assert!(
            b.store
                .callback_attempts("msg_T2")
                .await
                .unwrap()
                .is_empty()
        );

        let expires = now + Duration::from_secs(30);
        b.store
            .disable_callback_endpoint("ak_a", "h1", "https://gone.example.com/", expires)
            .await
            .unwrap();
        // Again (another replica): renewed, not a duplicate-key error.
        b.store
            .disable_callback_endpoint("ak_a", "h1", "https://gone.example.com/", expires)
            .await
            .unwrap();
        assert!(
            b.store
                .callback_endpoint_disabled("ak_a", "h1")
                .await
                .unwrap()
        );
        assert!(
            !b.store
                .callback_endpoint_disabled("ak_b", "h1")
                .await
                .unwrap()
        );

        b.clock.advance(Duration::from_secs(45));
        assert!(
            !b.store
                .callback_endpoint_disabled("ak_a", "h1")
                .await
                .unwrap()
        );
        b.clock.advance(Duration::from_secs(30));
        assert!(
            b.store
                .callback_attempts("msg_T1")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(b.store.sweep().await.unwrap().portraits >= 4);
        b
    })
    .await;
}

#[tokio::test]
async fn a_callback_is_claimed_by_one_process_until_its_claim_lapses() {
    on_each_backend(|b| async move {
        let now = b.clock.now();
        let mut ids = Vec::new();
        for n in 0..3 {
            let t = task(&b, "ak_a", "U1");
            b.store.insert_portrait_task(&t).await.unwrap();
            let claimed = b
                .store
                .claim_portrait_task("w1", LEASE)
                .await
                .unwrap()
                .unwrap();
            let callback = PortraitCallback {
                webhook_id: format!("msg_{n}"),
                task_id: claimed.id.clone(),
                tenant: "ak_a".into(),
                url: "https://example.com/hook".into(),
                body: "{}".into(),
                attempts: 0,
                delivered_at: None,
                created_at: now + Duration::from_millis(n),
                expires_at: now + Duration::from_secs(3600),
            };
            let end = TaskEnd {
                state: TaskState::Succeeded,
                result_keys: vec![],
                error: None,
            };
            assert!(
                b.store
                    .finish_portrait_task(&claimed.id, "w1", &end, Some(&callback))
                    .await
                    .unwrap()
            );
            ids.push(callback.webhook_id);
        }
        let lease = Duration::from_secs(10);
        // The process that finished msg_1 takes just that one.
        let one = b
            .store
            .claim_callbacks("p1", lease, 5, Some("msg_1"))
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].webhook_id, "msg_1");
        // Another process at start-up takes the rest, oldest first, not msg_1.
        let rest = b.store.claim_callbacks("p2", lease, 5, None).await.unwrap();
        let got: Vec<&str> = rest.iter().map(|c| c.webhook_id.as_str()).collect();
        assert_eq!(got, ["msg_0", "msg_2"]);
        assert!(
            b.store
                .claim_callbacks("p3", lease, 5, None)
                .await
                .unwrap()
                .is_empty()
        );

        // p1 renews; p2 goes silent. After the lease only p2's callbacks are free again.
        b.clock.advance(Duration::from_secs(6));
        assert!(
            b.store
                .renew_callback_claim("msg_1", "p1", lease)
                .await
                .unwrap()
        );
        b.clock.advance(Duration::from_secs(6));
        let taken = b.store.claim_callbacks("p3", lease, 5, None).await.unwrap();
        let got: Vec<&str> = taken.iter().map(|c| c.webhook_id.as_str()).collect();
        assert_eq!(got, ["msg_0", "msg_2"]);
        assert!(
            !b.store
                .renew_callback_claim("msg_0", "p2", lease)
                .await
                .unwrap()
        );
        // Delivered: nobody claims it again, and its claim cannot be renewed.
        b.store
            .record_callback_attempt("msg_1", true)
            .await
            .unwrap();
        b.clock.advance(Duration::from_secs(20));
        let again = b.store.claim_callbacks("p4", lease, 5, None).await.unwrap();
        assert_eq!(again.len(), 2, "msg_0 and msg_2 lapsed, msg_1 delivered");
        assert!(
            !b.store
                .renew_callback_claim("msg_1", "p1", lease)
                .await
                .unwrap()
        );
        b
    })
    .await;
}

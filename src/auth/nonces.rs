//! The replay check of signed requests: a nonce is accepted once per key while its timestamp
//! could still pass the freshness check.
//!
//! On PostgreSQL (replicas share it) every claim is one `INSERT … ON CONFLICT` in the store,
//! so two replicas racing on one nonce cannot both win. On the embedded SQLite store one
//! process owns the file, so the process's own memory is the authority: a claim is decided
//! by an in-memory set and written to the store behind, in batches, off the request path —
//! a signed request then costs microseconds instead of a database round trip. The store
//! copy is what makes a restart safe: a new process first loads the unexpired nonces from
//! the store, and until it has, it claims in the store like a replica would. A crash loses
//! at most the nonces of the last [`FLUSH_INTERVAL`].

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::error::Result;
use crate::state::{StateStore, to_millis};

/// How long accepted nonces may wait before they are written to the store.
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

type NonceKey = (String, String);

#[derive(Debug)]
pub struct NonceLedger {
    store: Arc<dyn StateStore>,
    memory: Option<Arc<Memory>>,
}

/// Nonces this process accepted, until they expire, and those not yet in the store.
#[derive(Debug)]
struct Memory {
    state: Mutex<MemoryState>,
    /// Whether the nonces earlier processes accepted are in memory; until then a nonce
    /// missing from memory may still be in the store.
    loaded: AtomicBool,
    capacity: usize,
    wake: Arc<Notify>,
}

#[derive(Debug, Default)]
struct MemoryState {
    seen: HashSet<NonceKey>,
    by_expiry: BTreeMap<i64, Vec<NonceKey>>,
    unwritten: Vec<(NonceKey, SystemTime)>,
}

impl MemoryState {
    fn forget_expired(&mut self, now_millis: i64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() > now_millis {
                break;
            }
            for key in entry.remove() {
                self.seen.remove(&key);
            }
        }
    }
}

impl NonceLedger {
    /// `capacity` bounds the nonces kept in memory (beyond it, claims go to the store).
    pub fn new(store: Arc<dyn StateStore>, capacity: usize) -> Self {
        let in_memory = store.backend() == "sqlite" && capacity > 0;
        let memory = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if in_memory => {
                let memory = Arc::new(Memory {
                    state: Mutex::new(MemoryState::default()),
                    loaded: AtomicBool::new(false),
                    capacity,
                    wake: Arc::new(Notify::new()),
                });
                runtime.spawn(write_behind(Arc::downgrade(&memory), store.clone()));
                Some(memory)
            }
            // No runtime to write behind from (a synchronous caller), or a shared store.
            _ => None,
        };
        NonceLedger { store, memory }
    }

    /// Records `nonce` of `key_id`; false when it was already used and has not expired.
    pub async fn claim(&self, key_id: &str, nonce: &str, expires_at: SystemTime) -> Result<bool> {
        let Some(memory) = &self.memory else {
            return self.store.claim_nonce(key_id, nonce, expires_at).await;
        };
        let key = (key_id.to_owned(), nonce.to_owned());
        let now = self.store.clock().now_millis();
        let must_ask_store = {
            let mut state = memory.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.forget_expired(now);
            if state.seen.contains(&key) {
                return Ok(false);
            }
            !memory.loaded.load(Ordering::Acquire) || state.seen.len() >= memory.capacity
        };
        if must_ask_store {
            if !self.store.claim_nonce(key_id, nonce, expires_at).await? {
                return Ok(false);
            }
            let mut state = memory.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.seen.len() < memory.capacity && state.seen.insert(key.clone()) {
                state
                    .by_expiry
                    .entry(to_millis(expires_at))
                    .or_default()
                    .push(key);
            }
            return Ok(true);
        }
        let mut state = memory.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked again under this lock: another request may have claimed it meanwhile.
        if !state.seen.insert(key.clone()) {
            return Ok(false);
        }
        state
            .by_expiry
            .entry(to_millis(expires_at))
            .or_default()
            .push(key.clone());
        state.unwritten.push((key, expires_at));
        drop(state);
        memory.wake.notify_one();
        Ok(true)
    }

    /// Writes every accepted nonce to the store now (at shutdown, and for tests).
    pub async fn flush(&self) {
        if let Some(memory) = &self.memory {
            write_unwritten(memory, &self.store).await;
        }
    }
}

/// Loads what earlier processes accepted, then writes accepted nonces to the store every
/// [`FLUSH_INTERVAL`] at most, until the ledger is dropped.
async fn write_behind(memory: std::sync::Weak<Memory>, store: Arc<dyn StateStore>) {
    loop {
        let Some(strong) = memory.upgrade() else {
            return;
        };
        match load(&strong, &store).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(%error, "could not load recent nonces; claiming in the store meanwhile");
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    loop {
        let Some(strong) = memory.upgrade() else {
            return;
        };
        write_unwritten(&strong, &store).await;
        let wake = strong.wake.clone();
        drop(strong);
        // Wait for work (a permit stored by `notify_one` is not lost), then let a batch
        // gather; holding only a weak reference lets the ledger go.
        tokio::select! {
            () = wake.notified() => tokio::time::sleep(FLUSH_INTERVAL).await,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn load(memory: &Memory, store: &Arc<dyn StateStore>) -> Result<()> {
    let live = store.live_nonces(memory.capacity).await?;
    let mut state = memory.state.lock().unwrap_or_else(PoisonError::into_inner);
    for (key_id, nonce, expires_at) in live {
        let key = (key_id, nonce);
        if state.seen.insert(key.clone()) {
            state
                .by_expiry
                .entry(to_millis(expires_at))
                .or_default()
                .push(key);
        }
    }
    // A full memory stays in store mode: what did not fit may be replayed otherwise.
    if state.seen.len() < memory.capacity {
        memory.loaded.store(true, Ordering::Release);
    }
    Ok(())
}

async fn write_unwritten(memory: &Memory, store: &Arc<dyn StateStore>) {
    let batch = std::mem::take(
        &mut memory
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwritten,
    );
    for (index, ((key_id, nonce), expires_at)) in batch.iter().enumerate() {
        if let Err(error) = store.claim_nonce(key_id, nonce, *expires_at).await {
            tracing::warn!(%error, "could not record nonces; retrying");
            let mut state = memory.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.unwritten.extend(batch[index..].iter().cloned());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StateSettings;
    use crate::state::{Clock, ManualClock};

    async fn sqlite(dir: &tempfile::TempDir, clock: Arc<dyn Clock>) -> Arc<dyn StateStore> {
        let settings = StateSettings {
            data_dir: dir.path().to_owned(),
            ..StateSettings::default()
        };
        crate::state::open(&settings, clock).await.expect("sqlite")
    }

    /// The ledger once its start-up load is done.
    async fn loaded(ledger: NonceLedger) -> NonceLedger {
        let memory = ledger
            .memory
            .clone()
            .expect("sqlite keeps nonces in memory");
        for _ in 0..500 {
            if memory.loaded.load(Ordering::Acquire) {
                return ledger;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the ledger never loaded");
    }

    fn later(clock: &ManualClock, secs: u64) -> SystemTime {
        clock.now() + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn refuses_a_replay_from_memory_and_writes_the_nonce_behind() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        let store = sqlite(&dir, clock.clone()).await;
        let ledger = loaded(NonceLedger::new(store.clone(), 1000)).await;
        let expires = later(&clock, 300);
        assert!(
            ledger
                .claim("k", "nonce-0123456789ab", expires)
                .await
                .unwrap()
        );
        assert!(
            !ledger
                .claim("k", "nonce-0123456789ab", expires)
                .await
                .unwrap()
        );
        assert!(
            ledger
                .claim("other", "nonce-0123456789ab", expires)
                .await
                .unwrap()
        );
        ledger.flush().await;
        // In the store now: a fresh process would refuse it too.
        assert!(
            !store
                .claim_nonce("k", "nonce-0123456789ab", expires)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_restarted_process_refuses_what_the_last_one_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        let store = sqlite(&dir, clock.clone()).await;
        let expires = later(&clock, 300);
        let before = loaded(NonceLedger::new(store.clone(), 1000)).await;
        assert!(
            before
                .claim("k", "used-before-restart", expires)
                .await
                .unwrap()
        );
        before.flush().await;
        drop(before);
        // Refused while the new process still asks the store, and once it has loaded.
        let after = NonceLedger::new(store.clone(), 1000);
        let refused = after.claim("k", "used-before-restart", expires).await;
        assert!(!refused.unwrap());
        let after = loaded(after).await;
        let refused = after.claim("k", "used-before-restart", expires).await;
        assert!(!refused.unwrap());
        let fresh = after.claim("k", "new-after-restart", expires).await;
        assert!(fresh.unwrap());
        let replay = after.claim("k", "new-after-restart", expires).await;
        assert!(!replay.unwrap());
    }

    #[tokio::test]
    async fn an_expired_nonce_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        let store = sqlite(&dir, clock.clone()).await;
        let ledger = loaded(NonceLedger::new(store, 1000)).await;
        let expires = later(&clock, 300);
        assert!(
            ledger
                .claim("k", "short-lived-nonce", expires)
                .await
                .unwrap()
        );
        clock.advance(Duration::from_secs(301));
        let state = ledger.memory.as_ref().unwrap();
        assert!(
            ledger
                .claim("k", "another-nonce-xyz", later(&clock, 300))
                .await
                .unwrap()
        );
        let seen = state.state.lock().unwrap().seen.len();
        assert_eq!(seen, 1, "the expired nonce left memory");
    }

    #[tokio::test]
    async fn beyond_capacity_claims_go_to_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        let store = sqlite(&dir, clock.clone()).await;
        let ledger = loaded(NonceLedger::new(store.clone(), 1)).await;
        let expires = later(&clock, 300);
        assert!(
            ledger
                .claim("k", "first-nonce-kept", expires)
                .await
                .unwrap()
        );
        assert!(
            ledger
                .claim("k", "second-nonce-stored", expires)
                .await
                .unwrap()
        );
        assert!(
            !ledger
                .claim("k", "second-nonce-stored", expires)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_nonce("k", "second-nonce-stored", expires)
                .await
                .unwrap()
        );
    }
}

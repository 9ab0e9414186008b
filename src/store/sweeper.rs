//! Retention: deletes blobs whose time is up, so an expired link means the bytes are gone too.
//!
//! An object's expiry is its write time plus the blob TTL. The write time is the file's
//! modification time (the object's `last_modified`), which the filesystem keeps across
//! restarts, so the sweeper needs no index of its own: it walks the directory. A rewrite of
//! the same key (a result produced again) restarts the clock, as it should.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::store::BlobStore;

/// Runs `blobs.sweep()` once at once, then every `interval`, until `shutdown` is cancelled.
/// A store that sweeps nothing itself (S3: the bucket's lifecycle rule does) starts no task.
pub fn spawn(blobs: BlobStore, interval: Duration, shutdown: CancellationToken) {
    if !blobs.sweeps() {
        tracing::info!(
            store = %blobs.name(),
            "blob retention is left to the bucket's lifecycle rule (see README, Blob store)"
        );
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match blobs.sweep().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "expired blobs deleted"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired blobs failed"),
            }
        }
    });
}

/// Deletes every file under `root` written more than `ttl` before `now`, then the
/// directories left empty (never `root`). Returns how many files were deleted.
///
/// Files that vanish meanwhile (a concurrent delete) are not errors; files that cannot be
/// removed are reported after the walk, so one bad file does not keep the rest on disk.
pub fn sweep_dir(root: &Path, ttl: Duration, now: SystemTime) -> io::Result<usize> {
    let mut deleted = 0;
    let mut first_error = None;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            // Not following symlinks: the store writes none, and a link must not lead the
            // sweeper out of its directory.
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path.clone());
                dirs.push(path);
                continue;
            }
            let written = meta.modified().unwrap_or(now);
            if written + ttl > now {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    // Deepest first, so a parent emptied by its children goes too. `remove_dir` refuses a
    // directory that is not empty, which is the check.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs {
        let _ = std::fs::remove_dir(&dir);
    }
    match first_error {
        Some(e) if deleted == 0 => Err(e),
        Some(e) => {
            tracing::warn!(error = %e, "some expired blobs could not be deleted");
            Ok(deleted)
        }
        None => Ok(deleted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_only_what_is_older_than_the_ttl_and_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("uploads")).unwrap();
        std::fs::create_dir_all(root.join("converted/abc")).unwrap();
        std::fs::write(root.join("uploads/old"), b"x").unwrap();
        std::fs::write(root.join("converted/abc/0000.png"), b"x").unwrap();
        let ttl = Duration::from_secs(60);
        // Nothing is due yet.
        assert_eq!(sweep_dir(root, ttl, SystemTime::now()).unwrap(), 0);
        assert!(root.join("uploads/old").exists());
        // Two minutes later both are.
        let later = SystemTime::now() + Duration::from_secs(120);
        assert_eq!(sweep_dir(root, ttl, later).unwrap(), 2);
        assert!(!root.join("uploads").exists());
        assert!(!root.join("converted").exists());
        assert!(root.exists(), "the root stays");
    }

    #[test]
    fn a_missing_root_sweeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("nope");
        assert_eq!(
            sweep_dir(&gone, Duration::ZERO, SystemTime::now()).unwrap(),
            0
        );
    }
}

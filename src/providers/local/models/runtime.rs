//! ONNX Runtime for the local models.
//!
//! `ort` is built with `load-dynamic`: nothing is downloaded or linked at build time, and
//! `libonnxruntime.so` is opened at run time from, in order:
//!
//! 1. the `models.onnxruntime` setting,
//! 2. the `ORT_DYLIB_PATH` environment variable,
//! 3. an installed `onnxruntime` Python package (`pip install onnxruntime` ships the library in
//!    `onnxruntime/capi/`),
//! 4. a project-local `.venv` holding that package (what `scripts/test.sh` creates).
//!
//! The library is loaded once per process. A [`Runtime`] keeps a small pool of sessions per model
//! (ONNX Runtime's `Run` needs exclusive access to an `ort` session, so sharing one session would
//! serialise requests) and bounds the inferences running at once to `models.concurrency`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use ort::ep::ExecutionProviderDispatch;
use ort::session::Session;
use ort::session::builder::{AutoDevicePolicy, GraphOptimizationLevel};

use crate::config::ModelSettings;
use crate::error::{Error, ErrorCode, Result};

/// Oldest ONNX Runtime the `api-22` build of `ort` can drive.
pub const MIN_ORT_VERSION: &str = "1.22";

/// Files above this size get one session only: a second copy of a 1 GB model is not worth the
/// memory it costs.
const LARGE_MODEL_BYTES: u64 = 256 << 20;

/// How to get the library, for every "not found" message.
const HOW_TO_GET_ORT: &str = "install it with `pip install onnxruntime` (or \
    `python3 -m venv .venv && .venv/bin/pip install onnxruntime` in the working directory), \
    or point ORT_DYLIB_PATH or models.onnxruntime at libonnxruntime.so";

/// Where the library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    Setting,
    EnvVar,
    PythonPackage,
    ProjectVenv,
}

impl LibrarySource {
    pub fn describe(self) -> &'static str {
        match self {
            LibrarySource::Setting => "models.onnxruntime",
            LibrarySource::EnvVar => "ORT_DYLIB_PATH",
            LibrarySource::PythonPackage => "the onnxruntime Python package",
            LibrarySource::ProjectVenv => "the project's .venv",
        }
    }
}

/// The loaded ONNX Runtime and its one process-wide environment.
pub struct Library {
    pub path: PathBuf,
    pub source: LibrarySource,
    environment: ort::environment::Environment,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

static LIBRARY: OnceLock<Library> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime once per process. A failure is not remembered, so installing the library
/// while the server runs makes the next request work.
pub fn library(settings: &ModelSettings) -> Result<&'static Library> {
    if let Some(library) = LIBRARY.get() {
        return Ok(library);
    }
    let _loading = lock(&LOADING);
    if let Some(library) = LIBRARY.get() {
        return Ok(library);
    }
    let candidates = candidates(settings)?;
    if candidates.is_empty() {
        return Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!(
                "ONNX Runtime (libonnxruntime.so, {MIN_ORT_VERSION} or newer) was not found: \
                 models.onnxruntime is empty, ORT_DYLIB_PATH is unset, and neither an installed \
                 onnxruntime Python package nor ./.venv has one; {HOW_TO_GET_ORT}"
            ),
        ));
    }
    let mut failures = Vec::new();
    for (source, path) in candidates {
        match init(&path) {
            Ok(environment) => {
                tracing::info!(path = %path.display(), source = source.describe(), "onnx runtime loaded");
                return Ok(LIBRARY.get_or_init(|| Library {
                    path,
                    source,
                    environment,
                }));
            }
            Err(cause) => failures.push(format!(
                "{} from {}: {cause}",
                path.display(),
                source.describe()
            )),
        }
    }
    Err(Error::new(
        ErrorCode::FailedPrecondition,
        format!(
            "ONNX Runtime could not be loaded ({}); it must be version {MIN_ORT_VERSION} or newer; \
             {HOW_TO_GET_ORT}",
            failures.join("; ")
        ),
    ))
}

fn init(path: &Path) -> std::result::Result<ort::environment::Environment, String> {
    let builder = ort::init_from(path).map_err(|e| e.to_string())?;
    builder
        .with_name("imgforge")
        .build()
        .map_err(|e| e.to_string())
}

/// Library candidates in search order. An explicit setting or variable that names a missing
/// file is an error, not a reason to look elsewhere.
fn candidates(settings: &ModelSettings) -> Result<Vec<(LibrarySource, PathBuf)>> {
    let setting = settings.onnxruntime.trim();
    if !setting.is_empty() {
        return explicit(LibrarySource::Setting, PathBuf::from(setting));
    }
    if let Some(value) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return explicit(LibrarySource::EnvVar, PathBuf::from(value));
    }
    let mut found = Vec::new();
    if let Some(path) = python_package_library() {
        found.push((LibrarySource::PythonPackage, path.clone()));
    }
    if let Some(path) = venv_library(Path::new(".venv")) {
        if !found.iter().any(|(_, p)| *p == path) {
            found.push((LibrarySource::ProjectVenv, path));
        }
    }
    Ok(found)
}

fn explicit(source: LibrarySource, path: PathBuf) -> Result<Vec<(LibrarySource, PathBuf)>> {
    if path.is_file() {
        return Ok(vec![(source, path)]);
    }
    Err(Error::new(
        ErrorCode::FailedPrecondition,
        format!(
            "{} names {}, which is not a file; {HOW_TO_GET_ORT}",
            source.describe(),
            path.display()
        ),
    ))
}

/// `onnxruntime/capi/libonnxruntime.so*` of the package `python3` imports; asked once per
/// process because starting Python costs a few hundred milliseconds.
fn python_package_library() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let output = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
                ])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|out| out.status.success())?;
            let dir = String::from_utf8(output.stdout).ok()?;
            library_in(&Path::new(dir.trim()).join("capi"))
        })
        .clone()
}

/// The library inside `<venv>/lib/python3.*/site-packages/onnxruntime/capi/`.
fn venv_library(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
        .find_map(|entry| {
            library_in(
                &entry
                    .path()
                    .join("site-packages")
                    .join("onnxruntime")
                    .join("capi"),
            )
        })
        .map(|path| std::path::absolute(&path).unwrap_or(path))
}

/// `libonnxruntime.so.X.Y.Z` (the real file) or `libonnxruntime.so` in `dir`.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("libonnxruntime.so"))
        .collect();
    // The longest name is the fully versioned one; the others are symlinks to it, if present.
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    names.first().map(|name| dir.join(name))
}

/// Where a session's ONNX model comes from.
enum ModelSource<'p> {
    File(&'p Path),
    Memory(Vec<u8>),
}

/// `commit_from_*` for either source, so session options are written once.
trait Commit {
    fn commit(&mut self, source: ModelSource<'_>) -> ort::Result<Session>;
}

impl Commit for ort::session::builder::SessionBuilder {
    fn commit(&mut self, source: ModelSource<'_>) -> ort::Result<Session> {
        match source {
            ModelSource::File(path) => self.commit_from_file(path),
            ModelSource::Memory(bytes) => self.commit_from_memory(&bytes),
        }
    }
}

/// A model session and the input buffer it reuses between runs.
pub struct Slot {
    pub session: Session,
    /// Scratch space for the input tensor, kept at its largest size so runs do not allocate.
    pub input: Vec<f32>,
}

/// Shared handle on the local models' runtime: cheap to clone, lazy (nothing is loaded until
/// the first inference).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ModelSettings,
    permits: Permits,
    pools: Mutex<HashMap<PathBuf, Arc<SessionPool>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("concurrency", &self.inner.permits.limit)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    pub fn new(settings: &ModelSettings) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                permits: Permits::new(settings.concurrency.max(1)),
                pools: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn settings(&self) -> &ModelSettings {
        &self.inner.settings
    }

    /// Loads ONNX Runtime if it is not loaded yet.
    pub fn library(&self) -> Result<&'static Library> {
        library(&self.inner.settings)
    }

    /// Runs `work` with exclusive use of a session of the model at `path`, once one of the
    /// `models.concurrency` inference permits is free. Blocks; call it off the async runtime.
    pub fn with_session<R>(
        &self,
        path: &Path,
        work: impl FnOnce(&mut Slot) -> Result<R>,
    ) -> Result<R> {
        self.with_session_of(path, || Ok(ModelSource::File(path)), work)
    }

    /// As [`Runtime::with_session`], for a model built in memory (an ncnn graph converted to
    /// ONNX): `build` runs only when a new session is needed, and `key` (the model's main file)
    /// names its session pool.
    pub fn with_built_session<R>(
        &self,
        key: &Path,
        build: impl FnOnce() -> Result<Vec<u8>>,
        work: impl FnOnce(&mut Slot) -> Result<R>,
    ) -> Result<R> {
        self.with_session_of(key, || build().map(ModelSource::Memory), work)
    }

    fn with_session_of<'p, R>(
        &self,
        key: &'p Path,
        source: impl FnOnce() -> Result<ModelSource<'p>>,
        work: impl FnOnce(&mut Slot) -> Result<R>,
    ) -> Result<R> {
        let library = self.library()?;
        let _permit = self.inner.permits.acquire();
        let pool = self.pool(key);
        let mut slot = pool.take(|| self.create_session(library, key, source()?))?;
        let result = work(&mut slot);
        pool.give_back(slot);
        result
    }

    /// Sessions created so far for the model at `path` (for tests and metrics).
    pub fn sessions_created(&self, path: &Path) -> usize {
        lock(&self.inner.pools)
            .get(path)
            .map_or(0, |pool| lock(&pool.state).created)
    }

    fn pool(&self, path: &Path) -> Arc<SessionPool> {
        let mut pools = lock(&self.inner.pools);
        pools
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                let cap = if size > LARGE_MODEL_BYTES {
                    1
                } else {
                    self.inner.permits.limit
                };
                Arc::new(SessionPool::new(cap))
            })
            .clone()
    }

    fn create_session(
        &self,
        library: &Library,
        path: &Path,
        source: ModelSource<'_>,
    ) -> Result<Slot> {
        let settings = &self.inner.settings;
        let threads = match settings.intra_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let started = std::time::Instant::now();
        let fail = |stage: &str, e: &dyn std::fmt::Display| {
            Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "cannot load model {}: {stage}: {e}; check it with `imgforge models verify`",
                    path.display()
                ),
            )
        };
        let session = Session::builder(&library.environment)
            .map_err(|e| fail("session options", &e))?
            // `ort` asks for automatic device selection (max efficiency) by default; providers are
            // chosen here, from the settings, instead.
            .with_auto_device(AutoDevicePolicy::PreferCPU)
            .map_err(|e| fail("device policy", &e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| fail("optimisation level", &e))?
            .with_intra_threads(threads)
            .map_err(|e| fail("intra-op threads", &e))?
            .with_execution_providers(execution_providers(&settings.execution_providers))
            .map_err(|e| fail("execution providers", &e))?
            .commit(source)
            .map_err(|e| fail("onnx runtime", &e))?;
        tracing::info!(
            model = %path.display(),
            threads,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "model session created"
        );
        Ok(Slot {
            session,
            input: Vec::new(),
        })
    }
}

/// Maps `models.execution_providers` to ONNX Runtime execution providers to register. GPU
/// providers need their cargo feature (`cuda`, `tensorrt`) and an ONNX Runtime built with them;
/// ONNX Runtime falls back to the CPU when a registered provider cannot start, and always runs
/// on the CPU what the others do not take, so `cpu` registers nothing.
pub fn execution_providers(names: &[String]) -> Vec<ExecutionProviderDispatch> {
    names
        .iter()
        .filter_map(|name| match name.trim().to_ascii_lowercase().as_str() {
            // ONNX Runtime's own CPU provider runs whatever no other provider takes. Registering
            // `ep::CPU` would only switch its memory arena off (30% slower on U^2-Net-p).
            "cpu" => None,
            "cuda" => cuda(),
            "tensorrt" => tensorrt(),
            other => {
                warn_once(
                    other,
                    "unknown execution provider in models.execution_providers (known: cpu, cuda, tensorrt); ignored",
                );
                None
            }
        })
        .collect()
}

#[cfg(feature = "cuda")]
fn cuda() -> Option<ExecutionProviderDispatch> {
    Some(ort::ep::CUDA::default().build())
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Option<ExecutionProviderDispatch> {
    warn_once(
        "cuda",
        "execution provider `cuda` needs imgforge built with `--features cuda`; using the cpu",
    );
    None
}

#[cfg(feature = "tensorrt")]
fn tensorrt() -> Option<ExecutionProviderDispatch> {
    Some(ort::ep::TensorRT::default().build())
}

#[cfg(not(feature = "tensorrt"))]
fn tensorrt() -> Option<ExecutionProviderDispatch> {
    warn_once(
        "tensorrt",
        "execution provider `tensorrt` needs imgforge built with `--features tensorrt`; using the cpu",
    );
    None
}

fn warn_once(key: &str, message: &str) {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut warned = lock(&WARNED);
    if !warned.iter().any(|k| k == key) {
        warned.push(key.to_owned());
        tracing::warn!(provider = key, "{message}");
    }
}

/// Sessions of one model, created on demand up to `cap`.
struct SessionPool {
    cap: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<Slot>,
    created: usize,
}

impl SessionPool {
    fn new(cap: usize) -> SessionPool {
        SessionPool {
            cap: cap.max(1),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                created: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn take(&self, create: impl FnOnce() -> Result<Slot>) -> Result<Slot> {
        let mut state = lock(&self.state);
        loop {
            if let Some(slot) = state.idle.pop() {
                return Ok(slot);
            }
            if state.created < self.cap {
                state.created += 1;
                break;
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        // Created outside the lock: loading a model takes a while and must not stall the
        // requests that return sessions meanwhile.
        create().inspect_err(|_| {
            lock(&self.state).created -= 1;
            self.returned.notify_one();
        })
    }

    fn give_back(&self, slot: Slot) {
        lock(&self.state).idle.push(slot);
        self.returned.notify_one();
    }
}

/// A counting semaphore for blocking threads.
struct Permits {
    limit: usize,
    in_use: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(limit: usize) -> Permits {
        Permits {
            limit,
            in_use: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut in_use = lock(&self.in_use);
        while *in_use >= self.limit {
            in_use = self
                .freed
                .wait(in_use)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *in_use += 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.0.in_use) -= 1;
        self.0.freed.notify_one();
    }
}

/// A panicking inference must not take every later request down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn permits_bound_concurrent_holders() {
        let permits = Arc::new(Permits::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (permits, running, peak) = (permits.clone(), running.clone(), peak.clone());
                std::thread::spawn(move || {
                    let _permit = permits.acquire();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn library_is_found_in_a_venv_layout() {
        let venv = tempfile::tempdir().unwrap();
        let capi = venv
            .path()
            .join("lib/python3.12/site-packages/onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        assert_eq!(venv_library(venv.path()), None);
        std::fs::write(capi.join("libonnxruntime_providers_shared.so"), b"").unwrap();
        std::fs::write(capi.join("libonnxruntime.so.1.32.0"), b"").unwrap();
        assert_eq!(
            venv_library(venv.path()),
            Some(capi.join("libonnxruntime.so.1.32.0"))
        );
    }

    #[test]
    fn an_explicit_path_that_is_missing_says_what_to_do() {
        let mut settings = crate::config::Settings::embedded().models;
        settings.onnxruntime = "/nonexistent/libonnxruntime.so".into();
        let err = candidates(&settings).unwrap_err();
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(
            err.message.contains("models.onnxruntime"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("pip install onnxruntime"),
            "{}",
            err.message
        );
    }

    #[test]
    fn gpu_providers_without_their_feature_fall_back_to_the_cpu() {
        let names = ["cuda".to_owned(), "tensorrt".to_owned(), "cpu".to_owned()];
        let providers = execution_providers(&names);
        let expected =
            usize::from(cfg!(feature = "cuda")) + usize::from(cfg!(feature = "tensorrt"));
        assert_eq!(providers.len(), expected);
        assert!(execution_providers(&["tpu".to_owned()]).is_empty());
    }

    #[test]
    fn a_pool_creates_sessions_up_to_its_cap_only() {
        let pool = SessionPool::new(1);
        let failing = pool.take(|| Err(Error::internal("boom")));
        assert!(failing.is_err());
        // The failed creation gave its place back.
        assert_eq!(lock(&pool.state).created, 0);
    }
}

//! Layers only point down: each top-level module of `src/` may import only the modules below
//! it, and nothing outside the local provider reaches into `providers::local`. The rule is
//! read from the source text, so an upward `use crate::…` (or a path in an expression) fails
//! here before it can spread.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each module may name with `crate::`, besides itself. Modules not listed (the
/// transports, the server, the CLI) sit on top and may use anything.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &["redact"]),
    ("redact", &[]),
    ("domain", &["error", "redact"]),
    ("config", &["domain", "error", "redact"]),
    (
        "media",
        &["config", "domain", "error", "redact", "test_support"],
    ),
    ("imaging", &["domain", "error", "media"]),
    (
        "store",
        &[
            "config",
            "domain",
            "error",
            "media",
            "redact",
            "test_support",
        ],
    ),
    (
        "state",
        &[
            "config",
            "domain",
            "error",
            "redact",
            "store",
            "test_support",
        ],
    ),
    (
        "webhooks",
        &[
            "config",
            "error",
            "media",
            "redact",
            "state",
            "test_support",
        ],
    ),
    (
        "providers",
        &[
            "config",
            "domain",
            "error",
            "imaging",
            "media",
            "redact",
            "store",
            "telemetry",
            "test_support",
        ],
    ),
    (
        "engine",
        &[
            "config",
            "domain",
            "error",
            "imaging",
            "media",
            "providers",
            "redact",
            "store",
            "telemetry",
            "test_support",
        ],
    ),
    // Portraits use local work only through the engine's operations (admission, lanes).
    (
        "portrait",
        &[
            "auth",
            "config",
            "domain",
            "engine",
            "error",
            "imaging",
            "media",
            "redact",
            "state",
            "store",
            // Finished tasks' callbacks go through the signed webhook deliverer.
            "webhooks",
            // Remote portrait backends drive their provider clients (FaceChain, ComfyUI)
            // directly: training and generation are resumable submit/await steps whose remote
            // ids the worker stores, which the one-call `Provider` contract cannot express.
            // Local work still goes through the engine (checked below for providers::local).
            "providers",
        ],
    ),
];

/// Imports of `providers::local` allowed outside it: none but the registry, which builds it.
const LOCAL_USERS: &[&str] = &["src/providers/registry.rs"];

/// Known upward imports still to be removed, each with the reason it is here. Keep empty.
const KNOWN: &[(&str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn module_of(relative: &str) -> String {
    let rest = relative.trim_start_matches("src/");
    let first = rest.split('/').next().unwrap_or(rest);
    first.trim_end_matches(".rs").to_owned()
}

/// Every module named as `crate::<name>` in `text`, outside comments.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
            rest = after;
        }
    }
    names
}

#[test]
fn modules_import_only_downwards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut violations = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&path).unwrap();
        let module = module_of(&relative);
        if let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) {
            for name in crate_paths(&text) {
                if name != module && !allowed.contains(&name.as_str()) {
                    violations.push(format!("{relative}: {module} imports crate::{name}"));
                }
            }
        }
        let reaches_local = text.lines().any(|l| {
            l.split("//")
                .next()
                .unwrap_or("")
                .contains("providers::local")
        });
        if reaches_local
            && !relative.starts_with("src/providers/local/")
            && !LOCAL_USERS.contains(&relative.as_str())
            && !KNOWN.iter().any(|(file, _)| *file == relative)
            && ALLOWED.iter().any(|(m, _)| *m == module)
        {
            violations.push(format!("{relative}: reaches into providers::local"));
        }
    }
    assert!(
        violations.is_empty(),
        "upward imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    let names = crate_paths("use crate::engine::Engine; // crate::grpc in a comment\n");
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["engine"]);
    assert_eq!(module_of("src/domain/task.rs"), "domain");
    assert_eq!(module_of("src/error.rs"), "error");
}

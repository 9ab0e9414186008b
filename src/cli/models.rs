//! `imgforge models list | fetch | verify`.

use std::fmt::Write as _;
use std::path::Path;

use crate::cli::ModelsAction;
use crate::config::{ModelSettings, Settings};
use crate::providers::local::models::install::{self, Check, Fetched, Fetcher};
use crate::providers::local::models::registry::{self, ModelSpec};
use crate::providers::local::models::runtime;

pub async fn run(settings: &Settings, action: &ModelsAction) -> anyhow::Result<()> {
    let models = &settings.models;
    match action {
        ModelsAction::List => {
            let report = blocking({
                let models = models.clone();
                move || list(&models)
            })
            .await?;
            print!("{report}");
            Ok(())
        }
        ModelsAction::Fetch { names, all } => {
            let specs = select(names, *all, Selection::Defaults)?;
            fetch(&models.dir, &specs, &Fetcher::new()?).await
        }
        ModelsAction::Verify { names } => {
            let specs = select(names, false, Selection::Installed(&models.dir))?;
            let dir = models.dir.clone();
            let (report, failures) = blocking(move || verify(&dir, &specs)).await?;
            print!("{report}");
            if failures > 0 {
                anyhow::bail!("{failures} model file(s) failed verification");
            }
            Ok(())
        }
    }
}

/// What no names means.
enum Selection<'a> {
    Defaults,
    Installed(&'a Path),
}

fn select(
    names: &[String],
    all: bool,
    none_means: Selection<'_>,
) -> anyhow::Result<Vec<&'static ModelSpec>> {
    if all {
        return Ok(registry::MODELS.iter().collect());
    }
    if names.is_empty() {
        return Ok(match none_means {
            Selection::Defaults => registry::MODELS.iter().filter(|s| s.is_default()).collect(),
            Selection::Installed(dir) => registry::MODELS
                .iter()
                .filter(|s| s.files.iter().any(|f| install::file_path(dir, f).is_file()))
                .collect(),
        });
    }
    names
        .iter()
        .map(|name| {
            registry::find(name).ok_or_else(|| {
                let known: Vec<_> = registry::MODELS.iter().map(|s| s.name).collect();
                anyhow::anyhow!("unknown model `{name}`; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// The table `imgforge models list` prints (blocking: hashes the installed files).
pub fn list(models: &ModelSettings) -> String {
    let dir = &models.dir;
    let mut out = String::new();
    let _ = writeln!(out, "models directory: {}", dir.display());
    match runtime::library(models) {
        Ok(library) => {
            let _ = writeln!(
                out,
                "onnx runtime: {} (from {})",
                library.path.display(),
                library.source.describe()
            );
        }
        Err(e) => {
            let _ = writeln!(out, "onnx runtime: not available: {}", e.message);
        }
    }
    let _ = writeln!(
        out,
        "\n{:<24} {:<21} {:<9} {:>10}  {:<9}  license",
        "NAME", "FAMILY", "INSTALLED", "SIZE", "VERIFIED"
    );
    for spec in registry::MODELS {
        let installed = install::is_installed(dir, spec);
        let (size, verified) = if installed {
            let checks: Vec<Check> = spec
                .files
                .iter()
                .map(|f| install::verify_file(dir, f).unwrap_or(Check::Missing))
                .collect();
            (
                human_size(install::installed_size(dir, spec)),
                worst(&checks).label(),
            )
        } else {
            (
                spec.files
                    .iter()
                    .map(|f| f.size)
                    .sum::<Option<u64>>()
                    .map_or_else(|| "?".to_owned(), |s| format!("({})", human_size(s))),
                "-",
            )
        };
        let _ = writeln!(
            out,
            "{:<24} {:<21} {:<9} {:>10}  {:<9}  {}",
            spec.name,
            spec.family.name(),
            if installed { "yes" } else { "no" },
            size,
            verified,
            spec.license
        );
    }
    out
}

async fn fetch(dir: &Path, specs: &[&'static ModelSpec], fetcher: &Fetcher) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for spec in specs {
        for file in spec.files {
            let path = install::file_path(dir, file);
            if let registry::Source::Direct(url) = file.source {
                println!(
                    "{}: fetching {} -> {}",
                    spec.name,
                    fetcher.url_for(url),
                    path.display()
                );
            }
            match fetcher.fetch(dir, file).await {
                Ok(Fetched::AlreadyInstalled(check)) => {
                    println!(
                        "{}: already installed; {}",
                        spec.name,
                        check.describe(&path)
                    );
                }
                Ok(Fetched::Downloaded { bytes, check }) => println!(
                    "{}: downloaded {}; {}",
                    spec.name,
                    human_size(bytes),
                    check.describe(&path)
                ),
                Err(e) => {
                    println!("{}: {}", spec.name, e.message);
                    failures.push(spec.name);
                }
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    failures.dedup();
    anyhow::bail!("could not fetch: {}", failures.join(", "))
}

/// The report and the number of files that are missing or wrong (blocking).
fn verify(dir: &Path, specs: &[&'static ModelSpec]) -> (String, usize) {
    let mut out = String::new();
    let mut failures = 0;
    if specs.is_empty() {
        let _ = writeln!(out, "no models installed in {}", dir.display());
    }
    for spec in specs {
        for file in spec.files {
            let path = install::file_path(dir, file);
            let check = install::verify_file(dir, file).unwrap_or_else(|e| Check::Mismatch {
                algorithm: "read",
                expected: "a readable file".into(),
                actual: e.to_string(),
            });
            if check.is_failure() {
                failures += 1;
            }
            let _ = writeln!(out, "{}: {}", spec.name, check.describe(&path));
        }
    }
    (out, failures)
}

/// The least trustworthy verdict of a model's files.
fn worst(checks: &[Check]) -> &Check {
    let rank = |c: &Check| match c {
        Check::Mismatch { .. } => 0,
        Check::Missing => 1,
        Check::Unverifiable { .. } => 2,
        Check::VerifiedByMd5 { .. } => 3,
        Check::Verified => 4,
    };
    checks
        .iter()
        .min_by_key(|c| rank(c))
        .unwrap_or(&Check::Missing)
}

fn human_size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / MB)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(work).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A models directory holding `files`.
    fn dir_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let path = dir.path().to_path_buf();
        (dir, path)
    }

    #[test]
    fn no_names_fetches_the_defaults_and_verifies_what_is_installed() {
        let (_guard, dir) = dir_with(&[("u2net.onnx", b"x")]);
        let fetch: Vec<_> = select(&[], false, Selection::Defaults)
            .unwrap()
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(fetch, registry::DEFAULT_FETCH);
        let verify: Vec<_> = select(&[], false, Selection::Installed(&dir))
            .unwrap()
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(verify, ["u2net"]);
        assert_eq!(
            select(&[], true, Selection::Defaults).unwrap().len(),
            registry::MODELS.len()
        );
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = select(&["u3net".into()], false, Selection::Defaults).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown model `u3net`"), "{text}");
        assert!(
            text.contains("u2netp") && text.contains("isnet-general-use"),
            "{text}"
        );
    }

    #[test]
    fn verify_flags_a_corrupt_file_and_says_when_a_hash_is_unknown() {
        let (_guard, dir) = dir_with(&[("u2netp.onnx", b"corrupt"), ("u2net.onnx", b"corrupt")]);
        let specs = select(
            &["u2netp".into(), "u2net".into()],
            false,
            Selection::Defaults,
        )
        .unwrap();
        let (report, failures) = verify(&dir, &specs);
        // u2netp's sha256 is known; u2net has only rembg's md5, which also catches it.
        assert_eq!(failures, 2, "{report}");
        assert!(
            report.contains("u2netp: ") && report.contains("sha256 mismatch"),
            "{report}"
        );
        assert!(report.contains("md5 mismatch"), "{report}");
    }

    #[test]
    fn list_shows_every_model_with_its_state() {
        let (_guard, dir) = dir_with(&[("u2netp.onnx", b"corrupt")]);
        let mut models = crate::config::Settings::embedded().models;
        models.dir = dir.clone();
        let report = list(&models);
        for spec in registry::MODELS {
            assert!(report.contains(spec.name), "{report}");
        }
        let u2netp = report.lines().find(|l| l.starts_with("u2netp ")).unwrap();
        assert!(
            u2netp.contains("yes") && u2netp.contains("MISMATCH"),
            "{u2netp}"
        );
        let u2net = report.lines().find(|l| l.starts_with("u2net ")).unwrap();
        assert!(u2net.contains(" no "), "{u2net}");
    }

    #[test]
    fn list_verifies_the_shared_models() {
        let Some(shared) = crate::test_support::models_dir() else {
            return;
        };
        let mut models = crate::config::Settings::embedded().models;
        models.dir = shared;
        let report = list(&models);
        for name in ["u2netp ", "ch_PP-OCRv4_det ", "realesrgan-x4plus "] {
            let line = report.lines().find(|l| l.starts_with(name)).unwrap();
            assert!(line.contains(" yes "), "{line}");
            assert!(!line.contains("MISMATCH"), "{line}");
        }
    }
}

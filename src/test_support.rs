//! What unit tests need from outside the crate (`../shared`, ONNX Runtime, system fonts), and
//! the one rule for when it is missing: skip with the reason printed on a user's clone, fail
//! naming it where everything must run (CI).
//!
//! tests/common/mod.rs applies the same rule to the integration tests; keep the two in step.

use std::fmt::Display;
use std::path::PathBuf;

/// Whether a missing prerequisite fails the test instead of skipping it:
/// `IMGFORGE_REQUIRE_ALL=1` (or `true`) forces it, `=0` (or `false`) turns it off, and unset it
/// follows `CI` (`true` or `1`), which CI services set.
pub fn strict() -> bool {
    strict_from(
        std::env::var("IMGFORGE_REQUIRE_ALL").ok().as_deref(),
        std::env::var("CI").ok().as_deref(),
    )
}

fn strict_from(require_all: Option<&str>, ci: Option<&str>) -> bool {
    let flag = |value: &str| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes"
        )
    };
    match require_all {
        Some(value) if !value.trim().is_empty() => flag(value),
        _ => ci.is_some_and(flag),
    }
}

/// The shared folder (models, test photos): `$IMGFORGE_SHARED_DIR`, else `../shared` next to
/// the crate.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("IMGFORGE_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")),
    }
}

/// Reports that `what` is missing: panics naming it when [`strict`], else prints why the test
/// skips. The caller returns early after a non-strict call.
#[track_caller]
pub fn unavailable(what: impl Display) {
    report_missing(strict(), what);
}

#[track_caller]
fn report_missing(strict: bool, what: impl Display) {
    if strict {
        panic!(
            "required here (CI=true or IMGFORGE_REQUIRE_ALL=1) but unavailable: {what}; \
             set IMGFORGE_REQUIRE_ALL=0 to skip instead"
        );
    }
    eprintln!("skipping: {what}");
}

/// A file of `../shared/testdata`, or `None` after [`unavailable`].
#[track_caller]
pub fn testdata(name: &str) -> Option<PathBuf> {
    let path = shared_dir().join("testdata").join(name);
    if path.is_file() {
        return Some(path);
    }
    unavailable(format_args!("test photo {} is missing", path.display()));
    None
}

/// `../shared/models` when it holds u2netp (the model most tests load), or `None` after
/// [`unavailable`].
#[track_caller]
pub fn models_dir() -> Option<PathBuf> {
    let dir = shared_dir().join("models");
    if dir.join("u2netp.onnx").is_file() {
        return Some(dir);
    }
    unavailable(format_args!("{} has no u2netp.onnx", dir.display()));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictness_follows_the_require_all_flag_then_ci() {
        let cases = [
            (None, None, false),
            (None, Some("true"), true),
            (None, Some("1"), true),
            (None, Some("false"), false),
            (Some("1"), None, true),
            (Some(""), Some("true"), true),
            (Some("0"), Some("true"), false),
            (Some("true"), Some("false"), true),
        ];
        for (require_all, ci, expected) in cases {
            assert_eq!(
                strict_from(require_all, ci),
                expected,
                "IMGFORGE_REQUIRE_ALL={require_all:?} CI={ci:?}"
            );
        }
    }

    #[test]
    fn a_missing_prerequisite_fails_naming_it_only_when_strict() {
        assert!(std::panic::catch_unwind(|| report_missing(false, "a thing")).is_ok());
        let panic = std::panic::catch_unwind(|| report_missing(true, "the widget file"))
            .expect_err("strict mode fails");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(message.contains("the widget file"), "{message}");
    }
}

//! One conformance suite for every provider (STYLE.md §7): the same checks, written once in
//! `conformance/checks.rs`, run against the local engine and against each remote adapter
//! pointed at its protocol emulator, for every operation the provider implements.
//!
//! Each provider gets a module of tests named after the checks (`local::...`,
//! `dashscope::...`, `aliyun_vision::...`). The local engine needs `../shared/models` and
//! `../shared/testdata` and is skipped, reason printed, without them (a failure under
//! `CI=true`: see `common::strict`); the emulated providers always run (on synthetic photos
//! when the test photos are absent, on a user's clone only).

#[path = "emulators/aliyun_vision.rs"]
mod aliyun_vision_emulator;
mod common;
#[path = "emulators/dashscope.rs"]
mod dashscope_emulator;

#[path = "conformance/checks.rs"]
mod checks;
#[path = "conformance/ops.rs"]
mod ops;
#[path = "conformance/subject.rs"]
mod subject;

use subject::Subject;

/// One test per check for `$provider`, each on a fresh server.
macro_rules! conformance {
    ($provider:ident, $start:expr, [$($check:ident),* $(,)?]) => {
        mod $provider {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(subject) = $start.await else {
                        return;
                    };
                    checks::$check(&subject).await;
                    subject.stop().await;
                }
            )*
        }
    };
}

conformance!(
    local,
    Subject::local(),
    [
        grpc_replies_report_the_task_and_serve_their_images,
        rest_replies_keep_the_seed_shapes_and_serve_their_images,
        cut_outs_are_opaque_subjects_on_transparency,
        non_images_are_refused_alike,
        missing_images_are_refused_naming_the_field,
        oversized_inputs_are_refused_alike,
        unknown_style_presets_are_refused,
        a_deadline_ends_the_call_and_leaks_no_task,
    ]
);

conformance!(
    dashscope,
    Subject::dashscope(),
    [
        grpc_replies_report_the_task_and_serve_their_images,
        rest_replies_keep_the_seed_shapes_and_serve_their_images,
        cut_outs_are_opaque_subjects_on_transparency,
        non_images_are_refused_alike,
        missing_images_are_refused_naming_the_field,
        oversized_inputs_are_refused_alike,
        unknown_style_presets_are_refused,
        a_deadline_ends_the_call_and_leaks_no_task,
    ]
);

// aliyun-vision only removes backgrounds: no style presets to check.
conformance!(
    aliyun_vision,
    Subject::aliyun_vision(),
    [
        grpc_replies_report_the_task_and_serve_their_images,
        rest_replies_keep_the_seed_shapes_and_serve_their_images,
        cut_outs_are_opaque_subjects_on_transparency,
        non_images_are_refused_alike,
        missing_images_are_refused_naming_the_field,
        oversized_inputs_are_refused_alike,
        a_deadline_ends_the_call_and_leaks_no_task,
    ]
);

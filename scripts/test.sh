#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: fmt, clippy, ONNX Runtime (PyPI wheel), the Rust
# tests, then the generated clients (installs Go/protoc from apt, a pip venv and buf from npm).
#
# Tests that need ../shared/testdata, ../shared/models or ONNX Runtime skip with a printed
# reason when those are absent, on a user's clone. Under CI=true (or IMGFORGE_REQUIRE_ALL=1)
# nothing may skip: a missing folder, model, photo or library fails the run naming it.
# IMGFORGE_SHARED_DIR points the tests at another shared folder than ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${CI:-}" in
    true | TRUE | True | 1)
        export IMGFORGE_REQUIRE_ALL="${IMGFORGE_REQUIRE_ALL:-1}"
        ;;
esac

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# ONNX Runtime for the local models (loaded at run time): found, or installed once into .venv.
# Fails here, saying why, when it cannot be had and IMGFORGE_REQUIRE_ALL=1.
ORT_DYLIB_PATH="$(scripts/ensure_onnxruntime.sh)"
if [ -n "$ORT_DYLIB_PATH" ]; then export ORT_DYLIB_PATH; else unset ORT_DYLIB_PATH; fi
cargo test --locked --lib --bins --tests

# --- Generated clients (issue 13) -------------------------------------------------------
# Installs what is missing (apt: Go + protoc + plugins; pip: a venv in .tools/clients; npm:
# @bufbuild/buf), regenerates clients/go and clients/python and fails on any diff, runs
# buf lint, then the Python and Go client tests against a freshly started server.
scripts/check_clients.sh
# --- end generated clients ----------------------------------------------------------------

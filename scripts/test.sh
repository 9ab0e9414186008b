#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine. Needs only a Rust toolchain: protos are
# compiled by protox (pure Rust), so there is no protoc to install.
# Tests that need ../shared/testdata or ../shared/models skip with a printed reason when
# those folders are absent.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
# ONNX Runtime for the local models (loaded at run time): found, or installed once into .venv.
ORT_DYLIB_PATH="$(scripts/ensure_onnxruntime.sh)"
if [ -n "$ORT_DYLIB_PATH" ]; then export ORT_DYLIB_PATH; else unset ORT_DYLIB_PATH; fi
cargo test --locked --lib --bins --tests

# --- Generated clients (issue 13) -------------------------------------------------------
# Installs what is missing (apt: Go + protoc + plugins; pip: a venv in .tools/clients; npm:
# @bufbuild/buf), regenerates clients/go and clients/python and fails on any diff, runs
# buf lint, then the Python and Go client tests against a freshly started server.
scripts/check_clients.sh
# --- end generated clients ----------------------------------------------------------------

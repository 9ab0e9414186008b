#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine. Needs only a Rust toolchain: protos are
# compiled by protox (pure Rust), so there is no protoc to install.
# Tests that need ../shared/testdata or ../shared/models skip with a printed reason when
# those folders are absent.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo test --locked --lib --bins --tests

#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: builds, then every crate's tests.
# Services the tests need are started here (none yet beyond the embedded defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Two cores: one build job per core, tests in the same profile as the build.
cargo build --workspace --all-targets --locked
cargo test --workspace --locked

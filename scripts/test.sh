#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (README's test command).
# Needs a Rust toolchain and ../shared beside the repository (benchmark, knowledge files and the
# starters of the real servers). Starts the local model, PostgreSQL + pgvector and the S3 server
# when they are not running yet (scripts/services.sh), so those tests run for real.
# Uses cargo-nextest when present (it ships with our machines), else cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# shellcheck source=scripts/services.sh
source scripts/services.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

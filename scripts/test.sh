#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (README's test command).
# Needs only a Rust toolchain; ../shared (beside the repository) supplies the benchmark and
# knowledge files some tests read. Uses cargo-nextest when present (it ships with our machines
# and prints one clear summary), else cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (README's test command).
# Needs a Rust toolchain and ../shared beside the repository (benchmark, knowledge files and the
# starter of the real local model). Starts the local model server when it is not running yet
# (first time: ~8 min to compile llama.cpp), so the end-to-end model test runs for real.
# Uses cargo-nextest when present (it ships with our machines), else cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if [ -z "${TMC_TEST_LLM_URL:-}" ] && [ -f ../shared/scripts/start-llm.sh ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/58080) 2>/dev/null; then
    export TMC_TEST_LLM_URL="http://127.0.0.1:58080/v1"
  elif url="$(bash ../shared/scripts/start-llm.sh)"; then
    export TMC_TEST_LLM_URL="$url"
  else
    echo "warning: the local model could not be started; its test will be skipped" >&2
  fi
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

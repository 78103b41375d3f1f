# Sourced (not executed) by scripts/test.sh and .ci/run: starts the real servers the tests use,
# from ../shared/scripts, unless they already answer, and exports their endpoints:
#   TMC_TEST_LLM_URL  local model (SmolLM2 via llama.cpp, OpenAI-compatible; first start ~8 min)
#   TMC_TEST_PG_URL   PostgreSQL 18 + pgvector (first start ~20 s)
#   TMC_TEST_PG_TLS_URL, TMC_TEST_PG_TLS_CA  the same server behind TLS (scripts/pg-tls.sh)
#   TMC_TEST_S3_URL   S3-compatible server checking SigV4 (first start ~3 min compile)
#   TMC_TEST_MINILM_DIR  all-MiniLM-L6-v2 model directory (first fetch ~10 s)
#   TMC_TEST_SARIF_VALIDATOR  Microsoft's Sarif.Multitool (npm, first install ~20 s)
#   TMC_TEST_CHROMEDRIVER     chromedriver for the web app's browser test (apt chromium)
# A server that cannot start leaves its variable unset; its tests then print SKIPPED.
_tmc_shared="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared"
_tmc_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -d "$_tmc_shared/scripts" ]; then
  if [ -z "${TMC_TEST_LLM_URL:-}" ]; then
    if _tmc_up 58080; then export TMC_TEST_LLM_URL="http://127.0.0.1:58080/v1"
    elif url="$(bash "$_tmc_shared/scripts/start-llm.sh")"; then export TMC_TEST_LLM_URL="$url"
    else echo "warning: local model did not start" >&2; fi
  fi
  if [ -z "${TMC_TEST_PG_URL:-}" ]; then
    # initdb runs as an unprivileged user, who cannot enter root's home: keep the install in a
    # directory that user can read.
    mkdir -p /var/tmp/tmc-services && chmod 755 /var/tmp/tmc-services
    if _tmc_up 55433; then export TMC_TEST_PG_URL="postgres://postgres@127.0.0.1:55433/tmc"
    elif url="$(TMC_SERVICES=/var/tmp/tmc-services bash "$_tmc_shared/scripts/start-postgres.sh")"; then export TMC_TEST_PG_URL="$url"
    else echo "warning: PostgreSQL did not start" >&2; fi
  fi
  # TLS in front of that server (stunnel; a throwaway CA): TMC_TEST_PG_TLS_URL, TMC_TEST_PG_TLS_CA.
  if [ -z "${TMC_TEST_PG_TLS_URL:-}" ] && [ -n "${TMC_TEST_PG_URL:-}" ]; then
    if out="$(bash "$(dirname "${BASH_SOURCE[0]}")/pg-tls.sh")"; then
      export TMC_TEST_PG_TLS_URL="${out%%$'\n'*}" TMC_TEST_PG_TLS_CA="${out#*$'\n'}"
    else echo "warning: PostgreSQL TLS endpoint did not start" >&2; fi
  fi
  if [ -z "${TMC_TEST_S3_URL:-}" ]; then
    if _tmc_up 59001; then export TMC_TEST_S3_URL="http://127.0.0.1:59001"
    elif url="$(bash "$_tmc_shared/scripts/start-s3.sh")"; then export TMC_TEST_S3_URL="$url"
    else echo "warning: S3 server did not start" >&2; fi
  fi
  # Not a server: the all-MiniLM-L6-v2 weights for the local-embeddings tests and the bench.
  if [ -z "${TMC_TEST_MINILM_DIR:-}" ] && d="$(bash "$_tmc_shared/scripts/fetch-minilm.sh")"; then export TMC_TEST_MINILM_DIR="$d"; fi
else
  echo "warning: $_tmc_shared not found; tests that need real servers will be skipped" >&2
fi
# Tools, not servers: they need no ../shared.
_tmc_scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${TMC_TEST_SARIF_VALIDATOR:-}" ]; then
  if b="$(bash "$_tmc_scripts/sarif-validator.sh")"; then export TMC_TEST_SARIF_VALIDATOR="$b"
  else echo "warning: the SARIF validator could not be installed" >&2; fi
fi
if [ -z "${TMC_TEST_CHROMEDRIVER:-}" ]; then
  if b="$(bash "$_tmc_scripts/chromium.sh")"; then export TMC_TEST_CHROMEDRIVER="$b"
  else echo "warning: chromium/chromedriver could not be installed" >&2; fi
fi
unset _tmc_scripts
unset _tmc_shared

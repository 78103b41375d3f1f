#!/usr/bin/env bash
# Microsoft's SARIF validator (`Sarif.Multitool validate`), a self-contained .NET binary shipped
# in the npm package @microsoft/sarif-multitool-linux (x86-64 Linux). Installs it once into
# $TMC_SERVICES/sarif (default ~/.cache/tmc-services/sarif) and prints the binary's path, so
#   TMC_TEST_SARIF_VALIDATOR="$(bash scripts/sarif-validator.sh)" cargo test -p tmc-export
# runs the SARIF validation test. Needs node/npm; prints nothing and fails when it cannot
# install (the test then says it skipped).
set -euo pipefail
VERSION="${SARIF_MULTITOOL_VERSION:-5.7.0}"
TMC_SERVICES="${TMC_SERVICES:-$HOME/.cache/tmc-services}"
DIR="$TMC_SERVICES/sarif"
BIN="$DIR/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"

installed_version() {
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' \
    "$DIR/node_modules/@microsoft/sarif-multitool-linux/package.json" 2>/dev/null | head -1
}

if [ ! -f "$BIN" ] || [ "$(installed_version)" != "$VERSION" ]; then
  command -v npm >/dev/null || { echo "sarif-validator.sh: npm not found (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$DIR"
  # The package's only install script is `chmod u+x Sarif.Multitool`, done below, so npm may
  # skip scripts; output goes to stderr to keep stdout for the path.
  npm install --prefix "$DIR" --no-audit --no-fund --ignore-scripts \
    "@microsoft/sarif-multitool-linux@$VERSION" >&2
fi
chmod u+x "$BIN"
# A binary that cannot run here (another CPU, a missing loader) is no validator.
"$BIN" --version >/dev/null 2>&1 || { echo "sarif-validator.sh: $BIN does not run on this machine" >&2; exit 1; }
echo "$BIN"

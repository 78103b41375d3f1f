#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver (Debian packages) when missing and prints the
# chromedriver path, for the server's browser test:
#   TMC_TEST_CHROMEDRIVER=$(scripts/chromium.sh) cargo test -p tmc-server --test e2e
set -euo pipefail
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
    } >&2
fi
command -v chromedriver

#!/usr/bin/env bash
# Side-by-side speed of `tmc draft --format json` and pytm's `--json` on the same system
# (issue 14, target 1: tmc ≤ 1/50 of pytm's wall time, whole process, medians).
#
#   scripts/bench-pytm.sh [RUNS]        RUNS alternating pairs (default 30), after one warm-up each
#
# The system is bench/system.yaml (tmc) and bench/pytm_system.py (pytm): 20 components, 24 flows.
# pytm comes from PyPI into a throwaway virtual environment under /tmp (PYTM_VENV to reuse one;
# PYTM_VERSION, default 1.4.0). tmc is target/release/tmc, else target/debug/tmc (said in the
# output, since a debug build is several times slower); TMC_BIN overrides. tmc runs with an
# empty config and a fresh data directory, so no knowledge base or copilot is consulted.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
venv=${PYTM_VENV:-/tmp/tmc-bench-pytm-venv}
pytm_version=${PYTM_VERSION:-1.4.0}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pytm' 2>/dev/null; then
    echo "installing pytm $pytm_version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pytm==$pytm_version"
fi

if [ -n "${TMC_BIN:-}" ]; then
    tmc=$TMC_BIN
elif [ -x "$root/target/release/tmc" ]; then
    tmc=$root/target/release/tmc
elif [ -x "$root/target/debug/tmc" ]; then
    tmc=$root/target/debug/tmc
else
    echo "no tmc binary: run 'cargo build --release -p tmc-cli' (or set TMC_BIN)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/tmc-bench-pytm.XXXXXX)
trap 'rm -rf "$work"' EXIT
: > "$work/tmc.toml"

python3 - "$runs" "$tmc" "$venv/bin/python" "$root/bench" "$work" <<'PY'
import json, os, statistics, subprocess, sys, time

runs, tmc, python, bench, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
env = dict(os.environ, TMC_CONFIG=os.path.join(work, "tmc.toml"), TMC_DATA_DIR=os.path.join(work, "data"))
commands = {
    "tmc": ([tmc, "draft", "--format", "json", "-o", os.path.join(work, "tmc.json"),
             os.path.join(bench, "system.yaml")], os.path.join(work, "tmc.json")),
    "pytm": ([python, os.path.join(bench, "pytm_system.py"), "--json", os.path.join(work, "pytm.json")],
             os.path.join(work, "pytm.json")),
}

def once(name):
    argv, out = commands[name]
    if os.path.exists(out):
        os.remove(out)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = (time.perf_counter() - start) * 1000.0
    if done.returncode != 0 or not os.path.exists(out):
        sys.exit(f"{name} failed (exit {done.returncode}):\n{done.stderr.decode(errors='replace')}")
    return took

for name in commands:  # warm-up: page cache, pyc files
    once(name)
times = {name: [] for name in commands}
for _ in range(runs):  # alternate, so load on the shared machine hits both alike
    for name in commands:
        times[name].append(once(name))

with open(commands["tmc"][1]) as f:
    threats = len(json.load(f).get("threats", []))
with open(commands["pytm"][1]) as f:
    findings = len(json.load(f).get("findings", []))
build = "release" if "/release/" in tmc else ("debug" if "/debug/" in tmc else "custom")
print(f"system: bench/system.yaml = bench/pytm_system.py (20 components, 24 flows); {runs} alternating runs")
print(f"tmc   ({build} binary {tmc}): median {statistics.median(times['tmc']):8.1f} ms  "
      f"min {min(times['tmc']):8.1f} ms  ({threats} threats)")
print(f"pytm  ({python}): median {statistics.median(times['pytm']):8.1f} ms  "
      f"min {min(times['pytm']):8.1f} ms  ({findings} findings)")
ratio = statistics.median(times["pytm"]) / statistics.median(times["tmc"])
print(f"ratio: tmc takes 1/{ratio:.1f} of pytm's wall time (target: 1/50 or less)")
print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
PY

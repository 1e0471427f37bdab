#!/usr/bin/env bash
# Runs every test of the workspace against real Kafka brokers, real processes and real SQLite
# files, then the api's and the pipeline's tests against a real PostgreSQL. Each test binary starts (and stops)
# its own broker and server on 127.0.0.1 through the devkit, fetching the pinned Kafka jars
# from Maven Central on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end tests run the service binaries as child processes.
cargo build --workspace --bins
cargo run --quiet --package slipstream-devkit --bin slipstream-dev -- kafka fetch

# schemathesis (from PyPI, pinned as in devkit/src/schemathesis.rs) in a cached virtualenv: the
# OpenAPI tests of the api and the producer run it, and fail without it.
venv="${SLIPSTREAM_CACHE_DIR:-$HOME/.cache/slipstream}/schemathesis-4.32.5"
if [[ ! -x "$venv/bin/schemathesis" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
export SCHEMATHESIS="$venv/bin/schemathesis"

# The monitoring tests (e2e/tests/monitoring) run Debian's `prometheus` and `promtool`, and fail
# without them: `apt-get install prometheus`.
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  echo "test.sh: prometheus/promtool not found; the monitoring tests will fail (apt-get install prometheus)" >&2

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
# The api's own tests (every store query among them) and its HTTP tests, and the end-to-end
# pipeline and crash tests, once more with the api on
# PostgreSQL: a throwaway server from Debian's package (`apt-get install postgresql`), started
# by the devkit.
for tests in "api --lib --test api" "slipstream-e2e --test pipeline --test crash"; do
  # shellcheck disable=SC2086 # a package and its test targets, split on purpose
  TEST_DATABASE=postgres cargo test --package $tests "$@" 2>&1 | tee -a "$log" || status=$?
done
# One closing line over all test binaries (cargo ends on the last crate's doc-tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"

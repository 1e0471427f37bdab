#!/usr/bin/env bash
# Runs every test of the workspace against real Kafka brokers, real processes and real SQLite
# files. Each test binary starts (and stops) its own broker on 127.0.0.1 through the devkit,
# fetching the pinned Kafka jars from Maven Central on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end tests run the service binaries as child processes.
cargo build --workspace --bins
cargo run --quiet --package slipstream-devkit --bin slipstream-dev -- kafka fetch
cargo test --workspace "$@"

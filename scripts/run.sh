#!/usr/bin/env bash
# Runs the whole pipeline locally: a Kafka broker, the api, the producer and one consumer per
# topic. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bins
exec ./target/release/slipstream-dev up "$@"

#!/usr/bin/env bash
# Benchmarks the recommendations on a generated data set (SPEC §8): a full regeneration, the
# time from an event upload to fresh recommendations, GET /recommendation throughput and p99
# under 64 connections (wrk), and the api's peak memory.
#
#   scripts/bench-recommendations.sh [small|m]     default m (100k users, 10k events, 1M coupons)
#
# Settings: DURATION (wrk, default 15s), UPLOADS (freshness rounds, default 100),
# PROFILE (release or debug binaries, default release).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-m}
duration=${DURATION:-15s}
uploads=${UPLOADS:-100}
profile=${PROFILE:-release}
bin=target/$profile

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [[ $profile == release ]]; then
  cargo build --release -p api -p dummy-data
else
  cargo build -p api -p dummy-data
fi

work=.local/bench/$size
data=$work/data
mkdir -p "$work"
[[ -s $data/coupons.jsonl ]] || "$bin/dummy-data" generate --size "$size" --seed 1 --out "$data"
# A load of M takes minutes; a database loaded from the same files is reused (the
# freshness rounds add a few hundred records to it, which changes nothing measured).
if [[ ! -s $work/api.db || $data/coupons.jsonl -nt $work/api.db ]]; then
  rm -f "$work"/api.db*
  echo "== loading $data"
  "$bin/api-import" --database-url "sqlite://$work/api.db" "$data"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
started=$(date +%s%N)
HOST=127.0.0.1 PORT=$port DATABASE_URL="sqlite://$work/api.db" RECOMMENDATION_REFRESH_SECS=0 \
  LOG_FORMAT=json RUST_LOG=warn "$bin/api" >"$work/api.log" 2>&1 &
api=$!
trap 'kill $api 2>/dev/null || true' EXIT
until curl -sf "$url/ready" >/dev/null; do
  kill -0 $api 2>/dev/null || { cat "$work/api.log"; exit 1; }
  sleep 0.02
done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

echo "== POST /recommendation/generate, three times"
generates=()
for _ in 1 2 3; do
  answer=$(curl -sf -X POST "$url/recommendation/generate")
  echo "$answer"
  generates+=("$(sed -E 's/.*"duration_ms":([0-9]+).*/\1/' <<<"$answer")")
done

echo "== event upload -> fresh recommendations"
freshness=$("$bin/dummy-data" freshness --api "$url" --uploads "$uploads")
echo "$freshness"

echo "== GET /recommendation/{random user}: wrk, 2 threads, 64 connections, $duration"
users=$(wc -l <"$data/users.jsonl")
wrk_out=$(USERS=$users wrk -t2 -c64 -d"$duration" --latency -s scripts/bench/random-user.lua "$url")
echo "$wrk_out"
errors=$(grep -cE "Non-2xx|Socket errors" <<<"$wrk_out" || true)
[[ $errors == 0 ]] || { echo "wrk saw errors"; exit 1; }

echo "== GET /health, the same HTTP edge without the recommendation: the ceiling for comparison"
health_out=$(wrk -t2 -c64 -d"$duration" --latency "$url/health")
echo "$health_out"

rss_mb=$(( $(awk '/VmHWM/ {print $2}' "/proc/$api/status") / 1024 ))
cat <<SUMMARY

== summary ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $profile build)
data set:            $size: $(wc -l <"$data/users.jsonl") users, $(wc -l <"$data/events.jsonl") events, $(wc -l <"$data/coupons.jsonl") coupons
api ready after:     ${ready_ms} ms (recommendations built from the database)
full generate:       ${generates[*]} ms
$freshness
GET /recommendation: $(awk '/Requests\/sec/ {print $2}' <<<"$wrk_out") req/s, p50 $(awk '$1 == "50%" {print $2}' <<<"$wrk_out"), p99 $(awk '$1 == "99%" {print $2}' <<<"$wrk_out")
GET /health:         $(awk '/Requests\/sec/ {print $2}' <<<"$health_out") req/s, p99 $(awk '$1 == "99%" {print $2}' <<<"$health_out") (same edge, no handler work)
api peak RSS:        ${rss_mb} MB
SUMMARY

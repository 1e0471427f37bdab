#!/usr/bin/env bash
# Benchmarks the recommendations on a generated data set (SPEC §8): how soon the api is ready,
# a full regeneration and how long writes wait while one runs, the time from an event upload
# to fresh recommendations, GET /recommendation throughput and p99 under 64 connections (wrk)
# against a bare axum handler measured in the same run (driven by the same wrk script, whose
# Lua costs the load generator about a tenth of its rate on these shared cores), and the
# api's peak memory.
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
  cargo build --release -p api -p dummy-data -p slipstream-runtime --bins --example bare-axum
else
  cargo build -p api -p dummy-data -p slipstream-runtime --bins --example bare-axum
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

# Authentication on, as in production: a recommend key for the readers (a front end's key,
# with a rate far above what wrk sends) and an admin key for the rest, made afresh.
keys=$work/keys
rm -f "$keys"
key() { "$bin/slipstream-keys" --file "$keys" create --name "bench-$1" --scopes "$1" --rate 100000000; }
recommend_key=$(key recommend)
admin_key=$(key admin)
write_key=$(key write)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# Starts the api on $port with the environment given; sets $api.
start_api() {
  env "$@" HOST=127.0.0.1 PORT=$port DATABASE_URL="sqlite://$work/api.db" RECOMMENDATION_REFRESH_SECS=0 \
    LOG_FORMAT=json RUST_LOG=warn "$bin/api" >"$work/api.log" 2>&1 &
  api=$!
  until curl -sf "$url/ready" >/dev/null; do
    kill -0 $api 2>/dev/null || { cat "$work/api.log"; exit 1; }
    sleep 0.02
  done
}
bare=
trap 'kill $api $bare 2>/dev/null || true' EXIT
started=$(date +%s%N)
start_api AUTH_KEYS_FILE="$keys"
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

echo "== POST /recommendation/generate, three times, with users posted one after another meanwhile"
# Each write's latency in ms, one per line, until the file `stop` appears.
write_loop() {
  local n=0
  until [[ -e $work/stop ]]; do
    n=$((n + 1))
    curl -sf -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $write_key" \
      -H 'content-type: application/json' "$url/users" \
      -d '{"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}' ||
      echo "failed"
  done
}
rm -f "$work/stop"
write_loop >"$work/writes.txt" &
writer=$!
generates=()
for _ in 1 2 3; do
  answer=$(curl -sf -X POST -H "authorization: Bearer $admin_key" "$url/recommendation/generate")
  echo "$answer"
  generates+=("$(sed -E 's/.*"duration_ms":([0-9]+).*/\1/' <<<"$answer")")
done
touch "$work/stop"
wait $writer
! grep -q failed "$work/writes.txt" || { echo "a write during generate failed"; exit 1; }
writes=$(awk '{ n++; ms = $1 * 1000; if (ms > max) max = ms } END { printf "%d writes, the slowest %.1f ms", n, max }' "$work/writes.txt")

echo "== event upload -> fresh recommendations"
freshness=$(SLIPSTREAM_ADMIN_KEY=$admin_key "$bin/dummy-data" freshness --api "$url" --uploads "$uploads")
echo "$freshness"

echo "== GET /recommendation/{random user}: wrk, 2 threads, 64 connections, $duration"
users=$(wc -l <"$data/users.jsonl")
# Runs wrk on random users, with the key given (none: no header); fails on any non-2xx.
read_bench() {
  local out errors
  out=$(AUTHORIZATION=${1:+"Bearer $1"} USERS=$users wrk -t2 -c64 -d"$duration" --latency \
    -s scripts/bench/random-user.lua "$url")
  errors=$(grep -cE "Non-2xx|Socket errors" <<<"$out" || true)
  [[ $errors == 0 ]] || { echo "$out"; echo "wrk saw errors"; exit 1; }
  echo "$out"
}
wrk_out=$(read_bench "$recommend_key")
echo "$wrk_out"

echo "== GET /health, the same HTTP edge without the recommendation"
health_out=$(wrk -t2 -c64 -d"$duration" --latency "$url/health")
echo "$health_out"
rss_mb=$(( $(awk '/VmHWM/ {print $2}' "/proc/$api/status") / 1024 ))

echo "== GET /health of a bare axum handler (axum::serve, no layer): the reference"
bare_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/examples/bare-axum" "127.0.0.1:$bare_port" &
bare=$!
until curl -sf "http://127.0.0.1:$bare_port/health" >/dev/null; do sleep 0.02; done
bare_out=$(wrk -t2 -c64 -d"$duration" --latency "http://127.0.0.1:$bare_port/health")
echo "$bare_out"
echo "== GET /recommendation/{random user} of the bare handler, the same wrk script: the reference for reads"
bare_read_out=$(AUTHORIZATION="Bearer $recommend_key" USERS=$users wrk -t2 -c64 -d"$duration" --latency \
  -s scripts/bench/random-user.lua "http://127.0.0.1:$bare_port")
echo "$bare_read_out"
kill $bare && wait $bare 2>/dev/null || true

echo "== GET /recommendation again, on the same data with authentication off: the cost of auth"
kill $api && wait $api 2>/dev/null || true
start_api AUTH_DISABLED=true
open_out=$(read_bench "")
echo "$open_out"
rate() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
ratio() { awk -v a="$(rate "$1")" -v b="$(rate "$2")" 'BEGIN { printf "%.2f", a / b }'; }
p99() { awk '$1 == "99%" {print $2}' <<<"$1"; }
cat <<SUMMARY

== summary ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $profile build)
data set:            $size: $(wc -l <"$data/users.jsonl") users, $(wc -l <"$data/events.jsonl") events, $(wc -l <"$data/coupons.jsonl") coupons
api ready after:     ${ready_ms} ms (recommendations built from the database)     target: ≤ 1,000 ms (goal 300)
full generate:       ${generates[*]} ms
writes meanwhile:    ${writes}                  target: none waits > 100 ms
$freshness
GET /recommendation: $(rate "$wrk_out") req/s, p99 $(p99 "$wrk_out"); $(ratio "$wrk_out" "$bare_read_out") of bare axum under the same script     target: ≥ 50,000 req/s, p99 ≤ 5 ms, ≥ 0.70 of bare
GET /recommendation, auth off: $(rate "$open_out") req/s, p99 $(p99 "$open_out"); with auth / without: $(ratio "$wrk_out" "$open_out")
GET /health (our edge): $(rate "$health_out") req/s, p99 $(p99 "$health_out"); $(ratio "$health_out" "$bare_out") of bare axum   target: ≥ 0.80 of bare
GET /health, bare axum: $(rate "$bare_out") req/s, p99 $(p99 "$bare_out") (the reference, same run)
GET /recommendation/{id}, bare axum: $(rate "$bare_read_out") req/s, p99 $(p99 "$bare_read_out") (the reference for reads, same run, same script)
api peak RSS:        ${rss_mb} MB
SUMMARY

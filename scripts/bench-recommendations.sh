#!/usr/bin/env bash
# Benchmarks the recommendations on a generated data set (SPEC §8): how soon the api is ready,
# a full regeneration and how long writes wait while one runs, the time from an event upload
# to fresh recommendations, GET /recommendation throughput and p99 under 64 connections (wrk)
# against a bare axum handler measured in the same run (driven by the same wrk script, whose
# Lua costs the load generator about a tenth of its rate on these shared cores), the cost of
# authentication (a keyed run between two open ones, as rates and as the api's CPU time per
# request), and the api's peak memory.
#
#   scripts/bench-recommendations.sh [small|m]     default m (100k users, 10k events, 1M coupons)
#
# Settings: DURATION (wrk, default 15s), UPLOADS (freshness rounds, default 100), ROUNDS and
# ROUND_DURATION (the interleaved comparisons with the bare handler, default 5 rounds of 3s),
# PROFILE (release or debug binaries, default release), DATABASE (sqlite, the default, or
# postgres: a local PostgreSQL the devkit starts, loaded once and kept), API_REPLICAS (with
# postgres: more than one also measures GET /recommendation spread over that many replicas,
# against the same load on the first alone, in the same run).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-m}
duration=${DURATION:-15s}
rounds=${ROUNDS:-5}
round_duration=${ROUND_DURATION:-3s}
uploads=${UPLOADS:-100}
profile=${PROFILE:-release}
database=${DATABASE:-sqlite}
replicas=${API_REPLICAS:-1}
bin=target/$profile
[[ $database == sqlite || $database == postgres ]] ||
  { echo "bench-recommendations: DATABASE must be sqlite or postgres, not '$database'" >&2; exit 1; }
[[ $replicas =~ ^[1-9][0-9]*$ ]] ||
  { echo "bench-recommendations: API_REPLICAS must be a whole number, at least 1" >&2; exit 1; }
[[ $replicas == 1 || $database == postgres ]] ||
  { echo "bench-recommendations: several api replicas share a database: DATABASE=postgres" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [[ $profile == release ]]; then
  cargo build --release -p api -p dummy-data -p slipstream-runtime -p slipstream-devkit --bins --example bare-axum
else
  cargo build -p api -p dummy-data -p slipstream-runtime -p slipstream-devkit --bins --example bare-axum
fi

work=.local/bench/$size
data=$work/data
mkdir -p "$work"
[[ -s $data/coupons.jsonl ]] || "$bin/dummy-data" generate --size "$size" --seed 1 --out "$data"
# A load of M takes minutes; a database loaded from the same files is reused (the
# freshness rounds add a few hundred records to it, which changes nothing measured).
postgres=
if [[ $database == postgres ]]; then
  loaded=$work/postgres/loaded
  [[ -e $loaded && ! $data/coupons.jsonl -nt $loaded ]] || rm -rf "$work/postgres"
  rm -f "$work/postgres/database.env"
  "$bin/slipstream-dev" postgres --dir "$work/postgres" --port "$(free_port)" >"$work/postgres.log" 2>&1 &
  postgres=$!
  until [[ -s $work/postgres/database.env ]]; do
    kill -0 $postgres 2>/dev/null || { cat "$work/postgres.log"; exit 1; }
    sleep 0.1
  done
  # shellcheck disable=SC1091 # written by slipstream-dev
  source "$work/postgres/database.env"
  database_url=$DATABASE_URL
  unset DATABASE_URL
  if [[ ! -e $loaded ]]; then
    echo "== loading $data into PostgreSQL"
    "$bin/api-import" --database-url "$database_url" "$data"
    touch "$loaded"
  fi
else
  database_url=sqlite://$work/api.db
  if [[ ! -s $work/api.db || $data/coupons.jsonl -nt $work/api.db ]]; then
    rm -f "$work"/api.db*
    echo "== loading $data"
    "$bin/api-import" --database-url "$database_url" "$data"
  fi
fi

# Authentication on, as in production: a recommend key for the readers (a front end's key,
# with a rate far above what wrk sends) and an admin key for the rest, made afresh.
keys=$work/keys
rm -f "$keys"
key() { "$bin/slipstream-keys" --file "$keys" create --name "bench-$1" --scopes "$1" --rate 100000000; }
recommend_key=$(key recommend)
admin_key=$(key admin)
write_key=$(key write)

port=$(free_port)
url=http://127.0.0.1:$port
# Starts an api replica (1 on $port, the others on ports of their own) with the environment
# given, and waits until it is ready; sets $api (its process) and $api_url.
start_api() {
  local replica=$1 replica_port=$port
  shift
  [[ $replica == 1 ]] || replica_port=$(free_port)
  env "$@" HOST=127.0.0.1 PORT="$replica_port" DATABASE_URL="$database_url" \
    DATABASE_APPLICATION_NAME="bench-api-$replica" RECOMMENDATION_REFRESH_SECS=0 \
    LOG_FORMAT=json RUST_LOG=warn "$bin/api" >"$work/api-$replica.log" 2>&1 &
  api=$!
  api_url=http://127.0.0.1:$replica_port
  until curl -sf "$api_url/ready" >/dev/null; do
    kill -0 $api 2>/dev/null || { cat "$work/api-$replica.log"; exit 1; }
    sleep 0.02
  done
}
bare=
others=()
trap 'kill $api $bare ${others[*]} $postgres 2>/dev/null || true' EXIT
started=$(date +%s%N)
start_api 1 AUTH_KEYS_FILE="$keys"
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
# The CPU time (user and system, in clock ticks) the process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Runs wrk on random users, with the key given (none: no header); fails on any non-2xx.
# Ends with a line of the api's CPU time per request, which (unlike a rate, with wrk on the
# same cores) does not depend on how the two share them.
read_bench() {
  local out errors before after
  before=$(cpu_ticks "$api")
  out=$(AUTHORIZATION=${1:+"Bearer $1"} USERS=$users wrk -t2 -c64 -d"$duration" --latency \
    -s scripts/bench/random-user.lua "$url")
  after=$(cpu_ticks "$api")
  errors=$(grep -cE "Non-2xx|Socket errors" <<<"$out" || true)
  [[ $errors == 0 ]] || { echo "$out"; echo "wrk saw errors"; exit 1; }
  echo "$out"
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    '/ requests in / { printf "api CPU per request: %.2f us\n", ticks / hz * 1e6 / $1 }' <<<"$out"
}
wrk_out=$(read_bench "$recommend_key")
echo "$wrk_out"

# Runs one wrk per URL given at once, the 64 connections shared out among them, and prints
# their total rate (req/s) and their worst p99 (ms).
read_together() {
  local connections=$((64 / $#)) dir n=0
  dir=$(mktemp -d)
  for target in "$@"; do
    n=$((n + 1))
    AUTHORIZATION="Bearer $recommend_key" USERS=$users wrk -t1 -c$connections -d"$duration" \
      --latency -s scripts/bench/random-user.lua "$target" >"$dir/$n" &
  done
  wait
  ! grep -qE "Non-2xx|Socket errors" "$dir"/* || { cat "$dir"/*; echo "wrk saw errors"; exit 1; }
  cat "$dir"/* | awk '/Requests\/sec/ { rate += $2 }
    $1 == "99%" { ms = $2 ~ /us$/ ? $2 / 1000 : $2 ~ /ms$/ ? $2 + 0 : $2 * 1000; if (ms > p99) p99 = ms }
    END { printf "%.0f %.2f", rate, p99 }'
  rm -rf "$dir"
}
spread_line=
if ((replicas > 1)); then
  echo "== GET /recommendation spread over $replicas replicas, one wrk each, against the same wrks all on the first"
  first=$api targets=()
  for replica in $(seq 2 "$replicas"); do
    start_api "$replica" AUTH_KEYS_FILE="$keys"
    others+=("$api")
    targets+=("$api_url")
  done
  api=$first
  one_replica=$(for _ in $(seq "$replicas"); do echo "$url"; done)
  # shellcheck disable=SC2086 # one URL per wrk
  alone=$(read_together $one_replica)
  spread=$(read_together "$url" "${targets[@]}")
  spread_line=$(awk -v a="$alone" -v s="$spread" -v n="$replicas" 'BEGIN { split(a, x, " "); split(s, y, " ")
    printf "GET /recommendation over %d replicas: %d req/s, p99 %.2f ms; %.2f of the first alone under the same wrks (%d req/s, p99 %.2f ms)", n, y[1], y[2], y[1] / x[1], x[1], x[2] }')
  echo "$spread_line"
  kill "${others[@]}" && wait "${others[@]}" 2>/dev/null || true
  others=()
fi

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
# The median, over $rounds rounds, of the rate of the first URL over that of the second, each
# round a short wrk on each in turn (the other arguments are wrk's): the machine's drift, which
# one run of each carries whole into their ratio (the bare handler alone swings by a fifth from
# minute to minute here), falls on both sides of every round.
interleaved() {
  local ours=$1 reference=$2 a b ratios=()
  shift 2
  for _ in $(seq "$rounds"); do
    a=$(wrk -t2 -c64 -d"$round_duration" "$@" "$ours" | awk '/Requests\/sec/ {print $2}')
    b=$(wrk -t2 -c64 -d"$round_duration" "$@" "$reference" | awk '/Requests\/sec/ {print $2}')
    ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')")
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v all="${ratios[*]}" '{ r[NR] = $1 }
    END { printf "%.2f (rounds: %s)", r[int((NR + 1) / 2)], all }'
}
echo "== GET /health, ours over bare, $rounds interleaved rounds of $round_duration"
health_rounds=$(interleaved "$url/health" "http://127.0.0.1:$bare_port/health")
echo "$health_rounds"
echo "== GET /recommendation/{random user}, ours over bare, $rounds interleaved rounds of $round_duration"
read_rounds=$(AUTHORIZATION="Bearer $recommend_key" USERS=$users interleaved "$url" \
  "http://127.0.0.1:$bare_port" -s scripts/bench/random-user.lua)
echo "$read_rounds"
kill $bare && wait $bare 2>/dev/null || true

echo "== GET /recommendation with authentication off, on, off (a fresh api each): the cost of auth"
# The keyed run between two open ones, so that the machine's drift over the minute cancels.
restart_api() {
  kill $api && wait $api 2>/dev/null || true
  start_api 1 "$@"
}
restart_api AUTH_DISABLED=true
open_out=$(read_bench "")
echo "$open_out"
restart_api AUTH_KEYS_FILE="$keys"
keyed_out=$(read_bench "$recommend_key")
echo "$keyed_out"
restart_api AUTH_DISABLED=true
open_again_out=$(read_bench "")
echo "$open_again_out"
echo "== GET /recommendation keyed over open, two apis side by side, $rounds interleaved rounds of $round_duration"
open_api=$api
start_api 2 AUTH_KEYS_FILE="$keys"
others+=("$api")
auth_rounds=$(AUTHORIZATION="Bearer $recommend_key" USERS=$users interleaved "$api_url" "$url" \
  -s scripts/bench/random-user.lua)
echo "$auth_rounds"
kill "${others[@]}" && wait "${others[@]}" 2>/dev/null || true
others=()
api=$open_api
rate() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
ratio() { awk -v a="$(rate "$1")" -v b="$(rate "$2")" 'BEGIN { printf "%.2f", a / b }'; }
p99() { awk '$1 == "99%" {print $2}' <<<"$1"; }
cpu_us() { awk '/^api CPU per request/ {print $5}' <<<"$1"; }
auth_cost=$(awk -v k="$(rate "$keyed_out")" -v o1="$(rate "$open_out")" -v o2="$(rate "$open_again_out")" \
  -v ck="$(cpu_us "$keyed_out")" -v c1="$(cpu_us "$open_out")" -v c2="$(cpu_us "$open_again_out")" \
  'BEGIN { o = (o1 + o2) / 2; c = (c1 + c2) / 2
    printf "with auth %.0f req/s, without %.0f and %.0f: %.2f of the rate; the api'"'"'s CPU per request %.2f us against %.2f, %.1f %% more", k, o1, o2, k / o, ck, c, (ck / c - 1) * 100 }')
cat <<SUMMARY

== summary ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $profile build)
data set:            $size: $(wc -l <"$data/users.jsonl") users, $(wc -l <"$data/events.jsonl") events, $(wc -l <"$data/coupons.jsonl") coupons
api ready after:     ${ready_ms} ms (recommendations built from the database)     target: ≤ 1,000 ms (goal 300)
full generate:       ${generates[*]} ms
writes meanwhile:    ${writes}                  target: none waits > 100 ms
$freshness
GET /recommendation: $(rate "$wrk_out") req/s, p99 $(p99 "$wrk_out"); $(ratio "$wrk_out" "$bare_read_out") of bare axum under the same script; interleaved, the median $read_rounds     target: ≥ 50,000 req/s, p99 ≤ 5 ms, ≥ 0.70 of bare
cost of auth:        $auth_cost; interleaved, keyed over open, the median $auth_rounds   aim: ≤ 5 %
GET /health (our edge): $(rate "$health_out") req/s, p99 $(p99 "$health_out"); $(ratio "$health_out" "$bare_out") of bare axum; interleaved, the median $health_rounds   target: ≥ 0.80 of bare
GET /health, bare axum: $(rate "$bare_out") req/s, p99 $(p99 "$bare_out") (the reference, same run)
GET /recommendation/{id}, bare axum: $(rate "$bare_read_out") req/s, p99 $(p99 "$bare_read_out") (the reference for reads, same run, same script)
api peak RSS:        ${rss_mb} MB
database:            $database${spread_line:+
$spread_line}
SUMMARY

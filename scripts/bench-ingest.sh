#!/usr/bin/env bash
# Benchmarks ingest end to end (SPEC §8): a generated data set posted to the producer with
# `dummy-data upload` while the whole pipeline runs (`slipstream-dev up`: Kafka, the api, the
# producer and a consumer per topic, started empty), timed until the api has stored the last
# record. Prints the sustained records/s, the producer's accept latency, each service's peak
# memory, and fails unless every record was stored once and none was dead-lettered.
#
#   scripts/bench-ingest.sh [small|m]     default m (100k users, 10k events, 1M coupons)
#   RATE=10000 scripts/bench-ingest.sh m  the producer's accept latency at 10,000 records/s
#
# Settings: BATCH (records per request, default 100), CONCURRENCY (requests in flight,
# default 16), RATE (records/s the upload offers, open loop, with `upload --rate`; unset, the
# default, posts as fast as CONCURRENCY allows; set, the summary adds the rates offered and
# achieved, the late batches, and the accept latency from each batch's scheduled time),
# PROFILE (release or debug binaries, default release), STALL_SECS (how long the api may store
# nothing before the run fails, default 120), RUST_LOG (the services', default warn: the
# benchmark measures the pipeline, not its logging), DATABASE (sqlite, the default, or
# postgres: the api on a local PostgreSQL started empty), API_REPLICAS (api processes, default
# 1; more than one needs DATABASE=postgres; the consumers spread their forwards over them).
set -euo pipefail
cd "$(dirname "$0")/.."

size=${1:-m}
batch=${BATCH:-100}
concurrency=${CONCURRENCY:-16}
offer_rate=${RATE:-}
profile=${PROFILE:-release}
stall_secs=${STALL_SECS:-120}
database=${DATABASE:-sqlite}
replicas=${API_REPLICAS:-1}
[[ $database == sqlite || $database == postgres ]] ||
  { echo "bench-ingest: DATABASE must be sqlite or postgres, not '$database'" >&2; exit 1; }
[[ $replicas =~ ^[1-9][0-9]*$ ]] ||
  { echo "bench-ingest: API_REPLICAS must be a whole number, at least 1" >&2; exit 1; }
bin=target/$profile
# Checked before the build and the pipeline, not after them by the upload.
if [[ -n $offer_rate && ! $offer_rate =~ ^[1-9][0-9]*$ ]]; then
  echo "bench-ingest: RATE must be a whole number of records/s, at least 1, not '$offer_rate'" >&2
  exit 1
fi
rate_args=()
[[ -z $offer_rate ]] || rate_args=(--rate "$offer_rate")

if [[ $profile == release ]]; then
  cargo build --release --bins
else
  cargo build --bins
fi

work=.local/bench-ingest/$size
data=$work/data
run=$work/run
mkdir -p "$work"
[[ -s $data/coupons.jsonl ]] || "$bin/dummy-data" generate --size "$size" --seed 1 --out "$data"
users=$(wc -l <"$data/users.jsonl")
events=$(wc -l <"$data/events.jsonl")
coupons=$(wc -l <"$data/coupons.jsonl")
records=$((users + events + coupons))
# Every run starts empty: no database, no Kafka topics, no committed offsets.
rm -rf "$run"
mkdir -p "$run"

fail() {
  echo "bench-ingest: $*" >&2
  exit 1
}

now_ns() { date +%s%N; }

# Kafka, PostgreSQL and the producer on free ports, then a base with the ports after it free
# too (the consumers take three consecutive ones, the api replicas the ones after them),
# below Linux's ephemeral range so that no outgoing connection takes one before it is bound.
read -r kafka_port postgres_port producer_port consumer_port < <(REPLICAS=$replicas python3 - <<'PY'
import os, random, socket
def bound(port=0):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    return s
held = [bound() for _ in range(3)]
while True:
    base = random.randrange(20000, 32000)
    try:
        held += [bound(base + i) for i in range(3 + int(os.environ["REPLICAS"]))]
        break
    except OSError:
        pass
print(*[s.getsockname()[1] for s in held[:3]], base)
PY
)
api_port=$((consumer_port + 3))
api_ports=()
for ((n = 0; n < replicas; n++)); do api_ports+=($((api_port + n))); done
database_args=()
[[ $database == sqlite ]] ||
  database_args=(--postgres --postgres-port "$postgres_port" --api-replicas "$replicas")
[[ -n $consumer_port ]] || fail "no free ports found"
api_url=http://127.0.0.1:$api_port
producer_url=http://127.0.0.1:$producer_port
consumer_ports=("$consumer_port" $((consumer_port + 1)) $((consumer_port + 2)))

RUST_LOG=${RUST_LOG:-warn} "$bin/slipstream-dev" up --dir "$run" --kafka-port "$kafka_port" \
  --api-port "$api_port" --producer-port "$producer_port" --consumer-port "$consumer_port" \
  ${database_args[@]+"${database_args[@]}"} \
  >"$run/up.log" 2>&1 &
up=$!
upload=
# On any exit: the upload (if still running) and then the pipeline get SIGTERM, and the
# pipeline is waited for, so Kafka and the services are gone when the script returns.
stop() {
  if [[ -n $upload ]]; then
    kill $(pgrep -P "$upload") "$upload" 2>/dev/null || true
  fi
  if kill -TERM "$up" 2>/dev/null; then
    wait "$up" 2>/dev/null || true
  fi
}
trap stop EXIT

echo "== starting the pipeline (log: $run/up.log)"
deadline=$(($(date +%s) + 300))
for port in "${api_ports[@]}" "$producer_port" "${consumer_ports[@]}"; do
  until curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; do
    kill -0 "$up" 2>/dev/null || { tail -n 40 "$run/up.log"; fail "slipstream-dev up exited"; }
    (($(date +%s) < deadline)) || fail "port $port did not answer /ready within 300 s"
    sleep 0.2
  done
done

# The keys `up` made (one per scope): the upload and the metrics reads use them, as any
# client would, so the figures are with authentication on.
set -a
# shellcheck disable=SC1091
source "$run/credentials.env"
set +a

# The sum of a counter's series in a service's /metrics whose labels include $2; 0 when the
# series does not exist yet (a counter appears with its first increment).
counter() {
  local url=$1 labels=$2 name=$3
  { curl -sf -H "authorization: Bearer $SLIPSTREAM_METRICS_KEY" "$url/metrics" || true; } | awk -v name="$name" -v labels="$labels" \
    'index($0, name "{") == 1 && index($0, labels) { n += $NF } END { print n + 0 }'
}
# Summed over the api replicas: each counts what it stored itself.
api_counter() {
  local total=0 port
  for port in "${api_ports[@]}"; do
    total=$((total + $(counter "http://127.0.0.1:$port" "$1" slipstream_api_records_total)))
  done
  echo "$total"
}
created() { api_counter 'result="created"'; }
dead_lettered() {
  local total=0 port
  for port in "${consumer_ports[@]}"; do
    total=$((total + $(counter "http://127.0.0.1:$port" 'outcome="dead_lettered"' \
      slipstream_consumer_messages_total)))
  done
  echo "$total"
}

echo "== uploading $records records (batch $batch, concurrency $concurrency${offer_rate:+, $offer_rate records/s})"
# The upload writes when it ended and its exit status: the time of its first post is that end
# minus the table's total seconds, which leaves out the time spent reading the files.
(
  status=0
  "$bin/dummy-data" upload --dir "$data" --producer-url "$producer_url" --api-url "$api_url" \
    --batch "$batch" --concurrency "$concurrency" ${rate_args[@]+"${rate_args[@]}"} \
    >"$run/upload.txt" 2>"$run/upload.log" || status=$?
  echo "$(now_ns) $status" >"$run/upload-ended"
) &
upload=$!

# Polls the api until it has created every record and the upload has ended; a failed upload
# ends the wait at once, and no new record for $stall_secs fails the run.
stored=0
stored_at=
progress_at=$(now_ns)
upload_status=
while :; do
  count=$(created)
  at=$(now_ns)
  if ((count > stored)); then
    stored=$count
    progress_at=$at
  fi
  [[ -z $stored_at ]] && ((stored >= records)) && stored_at=$at
  if [[ -s $run/upload-ended ]]; then
    read -r ended upload_status <"$run/upload-ended"
    [[ -n $stored_at || $upload_status != 0 ]] && break
  fi
  if (((at - progress_at) / 1000000000 >= stall_secs)); then
    fail "the api stored nothing for $stall_secs s: $stored of $records records created," \
      "$(dead_lettered) dead-lettered; logs in $run"
  fi
  kill -0 "$up" 2>/dev/null || { tail -n 40 "$run/up.log"; fail "slipstream-dev up exited"; }
  sleep 0.1
done
wait "$upload"
upload=
cat "$run/upload.txt"
[[ $upload_status == 0 ]] || { cat "$run/upload.log"; fail "dummy-data upload failed"; }

# Peak RSS (VmHWM) in MB of each service, by binary and, for a consumer, its topic:
# `api 31`, `consumer-users 12`.
peak_rss() {
  local pid name
  for pid in $(pgrep -P "$up"); do
    name=$(cat "/proc/$pid/comm")
    [[ $name == api || $name == producer || $name == consumer ]] || continue
    if [[ $name == consumer ]]; then
      name="consumer-$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^TOPIC=//p')"
    fi
    echo "$name $(($(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024))"
  done
}
rss=$(peak_rss)
rss_of() { awk -v name="$1" '$1 == name { list = list sep $2 " MB"; sep = ", " } END { print list }' <<<"$rss"; }

read -r upload_secs p50 p99 < <(awk '$1 == "total" { print $3, $7, $8 }' "$run/upload.txt")
# From the last accept (the upload's end) to the last record stored; negative when the api
# stored it before the upload process had exited.
drain_ns=$((stored_at - ended))
e2e_secs=$(awk -v u="$upload_secs" -v d="$drain_ns" 'BEGIN { printf "%.3f", u + d / 1e9 }')
drain_secs=$(awk -v d="$drain_ns" 'BEGIN { printf "%.3f", d < 0 ? 0 : d / 1e9 }')
rate=$(awk -v n="$records" -v s="$e2e_secs" 'BEGIN { printf "%.0f", n / s }')
final=$(created)
replayed=$(api_counter 'result="replayed"')
dead=$(dead_lettered)

# With RATE, the upload's lines under its table (`rate:`, `late:`, `accept from schedule:`):
# what it offered and achieved, and the latency from each batch's scheduled time, which counts
# the waits for a free request slot that the latency from the send leaves out.
rate_summary() {
  local asked offered achieved late batches max_late s50 s99 smax
  read -r asked offered achieved < <(awk '$1 == "rate:" { print $3, $6, $9 }' "$run/upload.txt") ||
    fail "no rate line in $run/upload.txt"
  read -r late batches max_late < <(awk '$1 == "late:" { print $2, $4, $8 }' "$run/upload.txt") ||
    fail "no late line in $run/upload.txt"
  read -r s50 s99 smax < <(awk '$1 == "accept" && $3 == "schedule:" { print $5, $8, $11 }' \
    "$run/upload.txt") || fail "no accept from schedule line in $run/upload.txt"
  line "offered rate:" "$offered records/s of $asked asked ($late of $batches batches late, at most $max_late ms)"
  line "achieved rate:" "$achieved records/s accepted" "the offered rate"
  line "accept at rate:" "p50 $s50 ms, p99 $s99 ms, max $smax ms (from schedule)" \
    "p99 ≤ 20 ms at 10,000 records/s"
}

# One summary line: what, the figure, and SPEC §8's target for it.
line() {
  if [[ -n ${3:-} ]]; then
    printf '%-20s %-56s target: %s\n' "$1" "$2" "$3"
  else
    printf '%-20s %s\n' "$1" "$2"
  fi
}
echo
echo "== summary ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $profile build)"
line "data set:" "$size: $users users, $events events, $coupons coupons ($records records)"
line "api:" "$replicas replica(s) on $database"
line "upload:" "batch $batch, concurrency $concurrency${offer_rate:+, offered at $offer_rate records/s}"
line "end to end:" "$e2e_secs s from the first post to the last record stored ($drain_secs s after the last accept)"
line "sustained ingest:" "$rate records/s" "≥ 10,000 records/s over ≥ 1 M records"
line "producer accept:" "p50 $p50 ms, p99 $p99 ms" "p99 ≤ 20 ms"
[[ -z $offer_rate ]] || rate_summary
line "stored:" "$final of $records created, $replayed replayed, $dead dead-lettered" "zero loss"
line "api peak RSS:" "$(rss_of api)" "≤ 300 MB at M"
line "producer peak RSS:" "$(rss_of producer)" "≤ 64 MB"
for topic in users events coupons; do
  line "consumer peak RSS:" "$(rss_of "consumer-$topic") ($topic)" "≤ 64 MB"
done

((final == records)) || fail "the api created $final records, not $records"
((dead == 0)) || fail "$dead message(s) dead-lettered"

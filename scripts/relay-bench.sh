#!/usr/bin/env bash
# The relay's added latency, throughput and memory against direct calls to gemini-sim, all on
# this machine, in one run (issue 27; results in BENCHMARKS.md, "The relay").
#
# Usage: scripts/relay-bench.sh [SECONDS_PER_RUN] [REQUESTS_FOR_THE_MEMORY_RUN]
#   defaults: 10 s, 1000000. Needs wrk (Debian's package), python3, redis-server, curl.
#
# Each figure is measured against direct calls to the simulator in the same run: one keep-alive
# connection (p50, p99 of relay minus direct), 16 and 64 connections (requests a second), the
# time to a stream's first chunk, the relay with Redis shared quotas, the relay without its
# request log and without metrics, resident memory over a long mixed run, a 50 MB stream passing
# through, and the relay's own x-steadfast-overhead-ms against the measured difference; the
# relay's CPU time a request; throughput, a first event, a round trip and the 50 MB stream with
# threads = 2 beside the default one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
total=${2:-1000000}
for tool in wrk python3 redis-server curl; do
  command -v "$tool" >/dev/null || { echo "relay-bench: $tool is needed (apt-get install wrk redis-server curl)" >&2; exit 1; }
done
cargo build --release -q -p steadfast-sim -p steadfast-relay
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
sim_bin=$target/release/gemini-sim
relay_bin=$target/release/gemini-relay
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

SIM_KEY=sim-key-0000000000000001
RELAY_KEY=relay-bench-key-000000000001
sim_port=$(free_port)
"$sim_bin" --port "$sim_port" >/dev/null & pids+=($!)
wait_port "$sim_port"
sim=http://127.0.0.1:$sim_port

# A relay in front of UPSTREAM: NAME PORT UPSTREAM TOP_LEVEL_TOML TABLES_TOML; sets NAME_pid.
start_relay() {
  local name=$1 port=$2 upstream=$3 top=$4 tables=$5
  cat > "$work/$name.toml" <<TOML
port = $port
upstream = "$upstream"
keys = ["$SIM_KEY"]
max_waiting = 100000
$top
[[relay_keys]]
name = "bench"
secret = "$RELAY_KEY"
$tables
TOML
  "$relay_bin" --config "$work/$name.toml" >/dev/null &
  pids+=($!)
  eval "${name}_pid=$!"
  wait_port "$port"
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# wrk's latency line for a percentile, in ms: latency OUTPUT PERCENT
latency() {
  awk -v q="$2%" '$1 == q { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.3f", v }' <<< "$1"
}
rps() { awk '/Requests\/sec/ { printf "%.0f", $2 }' <<< "$1"; }
run() { # run URL KEY CONNECTIONS [SCRIPT]
  KEY=$2 wrk -t"$(( $3 < 2 ? 1 : 2 ))" -c"$3" -d"${secs}s" --latency -s "scripts/bench/${4:-post.lua}" "$1"
}

gen=/v1beta/models/gemini-2.5-flash:generateContent
p=$(free_port); start_relay relay "$p" "$sim" "" "[log]
path = \"$work/relay.sqlite\""
relay=http://127.0.0.1:$p
p=$(free_port); start_relay bare "$p" "$sim" "metrics = false" ""
bare=http://127.0.0.1:$p
p=$(free_port); start_relay nolog "$p" "$sim" "" ""
nolog=http://127.0.0.1:$p
p=$(free_port); start_relay two "$p" "$sim" "threads = 2" "[log]
path = \"$work/two.sqlite\""
two=http://127.0.0.1:$p
redis_port=$(free_port)
redis-server --port "$redis_port" --save "" --appendonly no >/dev/null & pids+=($!)
wait_port "$redis_port"
p=$(free_port); start_relay shared "$p" "$sim" "" "[log]
path = \"$work/shared.sqlite\"
[redis]
url = \"redis://127.0.0.1:$redis_port\"
[limits.\"gemini-2.5-flash\"]
rpm = 100000000"
shared=http://127.0.0.1:$p

echo "== warm-up"
run "$sim$gen" "$SIM_KEY" 4 >/dev/null
run "$relay$gen" "$RELAY_KEY" 4 >/dev/null
warm_rss=$(rss_mb "$relay_pid")

echo "== 1. one connection: direct, through the relay (log and metrics on), without the log, without the log and metrics, with Redis"
d=$(run "$sim$gen" "$SIM_KEY" 1); r=$(run "$relay$gen" "$RELAY_KEY" 1)
n=$(run "$nolog$gen" "$RELAY_KEY" 1)
b=$(run "$bare$gen" "$RELAY_KEY" 1); s=$(run "$shared$gen" "$RELAY_KEY" 1)
for what in d r n b s; do
  out=${!what}
  printf '%s p50=%s ms p99=%s ms rps=%s\n' "$what" "$(latency "$out" 50)" "$(latency "$out" 99)" "$(rps "$out")"
done
python3 - "$(latency "$d" 50)" "$(latency "$d" 99)" "$(latency "$r" 50)" "$(latency "$r" 99)" \
  "$(latency "$b" 50)" "$(latency "$b" 99)" "$(latency "$s" 50)" "$(latency "$s" 99)" \
  "$(latency "$n" 50)" "$(latency "$n" 99)" <<'PY'
import sys
d50, d99, r50, r99, b50, b99, s50, s99, n50, n99 = map(float, sys.argv[1:])
print(f"| added p50, one connection | {r50 - d50:.3f} ms (direct {d50:.3f}, relay {r50:.3f}) |")
print(f"| added p99, one connection | {r99 - d99:.3f} ms (direct {d99:.3f}, relay {r99:.3f}) |")
print(f"| added p50 / p99 without the log (metrics on) | {n50 - d50:.3f} / {n99 - d99:.3f} ms |")
print(f"| added p50 / p99 without the log and metrics | {b50 - d50:.3f} / {b99 - d99:.3f} ms |")
print(f"| added p50 / p99 with Redis shared quotas | {s50 - d50:.3f} / {s99 - d99:.3f} ms |")
PY

echo "== 2. throughput, 16 and 64 connections (and 16 with threads = 2), with the relay's CPU time a request"
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
through() { # through NAME_PID URL CONNECTIONS LABEL: one direct run, one through the relay
  local d r t0 t1
  d=$(run "$sim$gen" "$SIM_KEY" "$3")
  t0=$(ticks "$1"); r=$(run "$2$gen" "$RELAY_KEY" "$3"); t1=$(ticks "$1")
  python3 -c "import sys; d, r, cpu = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(f'| throughput, {sys.argv[4]} | {r:.0f} a second through the relay, {d:.0f} direct: {100 * r / d:.0f} %; the relay {cpu * 1e4 / (r * $secs):.1f} µs of CPU a request |')" \
    "$(rps "$d")" "$(rps "$r")" "$(( t1 - t0 ))" "$4"
}
through "$relay_pid" "$relay" 16 "16 connections"
through "$relay_pid" "$relay" 64 "64 connections"
through "$two_pid" "$two" 16 "16 connections, threads = 2"
through "$nolog_pid" "$nolog" 16 "16 connections, without the request log"
through "$bare_pid" "$bare" 16 "16 connections, without the request log and metrics"

echo "== 3. a stream's first event (one keep-alive connection, 500 each)"
read -r fd50 fd99 <<< "$(python3 scripts/bench/probe.py first-event "$sim" "$SIM_KEY")"
read -r fr50 fr99 _ _ <<< "$(python3 scripts/bench/probe.py first-event "$relay" "$RELAY_KEY")"
python3 -c "import sys; a = list(map(float, sys.argv[1:])); print(f'| added time to the first event | p50 {a[2] - a[0]:.3f} ms, p99 {a[3] - a[1]:.3f} ms (direct {a[0]:.3f} / {a[1]:.3f}) |')" "$fd50" "$fd99" "$fr50" "$fr99"

echo "== 3b. the same, and a round trip after 3 ms of idleness, with both CPUs kept busy by two nice-19 loops (no idle CPU to wake)"
busy() { python3 scripts/bench/probe.py "$@"; }
read -r id50 _ <<< "$(python3 scripts/bench/probe.py idle-trip "$sim" "$SIM_KEY")"
read -r ir50 _ _ _ <<< "$(python3 scripts/bench/probe.py idle-trip "$relay" "$RELAY_KEY")"
nice -n 19 sh -c 'while :; do :; done' & spin1=$!
nice -n 19 sh -c 'while :; do :; done' & spin2=$!
pids+=("$spin1" "$spin2")
read -r bd50 bd99 <<< "$(busy first-event "$sim" "$SIM_KEY")"
read -r br50 br99 _ _ <<< "$(busy first-event "$relay" "$RELAY_KEY")"
read -r bid50 _ <<< "$(busy idle-trip "$sim" "$SIM_KEY")"
read -r bir50 _ _ _ <<< "$(busy idle-trip "$relay" "$RELAY_KEY")"
kill "$spin1" "$spin2"
python3 -c "import sys; a = list(map(float, sys.argv[1:])); print(f'| added time to the first event, CPUs kept busy | p50 {a[2] - a[0]:.3f} ms, p99 {a[3] - a[1]:.3f} ms |'); print(f'| added round trip after 3 ms idle | idle CPUs {a[5] - a[4]:.3f} ms, busy CPUs {a[7] - a[6]:.3f} ms |')" "$bd50" "$bd99" "$br50" "$br99" "$id50" "$ir50" "$bid50" "$bir50"

echo "== 3c. threads = 2: a stream's first event and a round trip (one keep-alive connection, 500 each)"
read -r od50 od99 <<< "$(python3 scripts/bench/probe.py first-event "$sim" "$SIM_KEY")"
read -r or50 or99 _ _ <<< "$(python3 scripts/bench/probe.py first-event "$two" "$RELAY_KEY")"
read -r td50 _ <<< "$(python3 scripts/bench/probe.py round-trip "$sim" "$SIM_KEY")"
read -r tr50 _ o1 _ <<< "$(python3 scripts/bench/probe.py round-trip "$two" "$RELAY_KEY")"
python3 -c "import sys; a = list(map(float, sys.argv[1:])); print(f'| threads = 2: added time to the first event | p50 {a[2] - a[0]:.3f} ms, p99 {a[3] - a[1]:.3f} ms |'); print(f'| threads = 2: added round trip | p50 {a[5] - a[4]:.3f} ms; overhead header says {a[6]:.3f} ms |')" "$od50" "$od99" "$or50" "$or99" "$td50" "$tr50" "$o1"

echo "== 4. the overhead header against the measured difference (one keep-alive connection, 500 each)"
read -r pd50 pd99 <<< "$(python3 scripts/bench/probe.py round-trip "$sim" "$SIM_KEY")"
read -r pr50 pr99 o50 o99 <<< "$(python3 scripts/bench/probe.py round-trip "$relay" "$RELAY_KEY")"
python3 -c "import sys; a = list(map(float, sys.argv[1:])); print(f'| overhead header | says p50 {a[4]:.3f} / p99 {a[5]:.3f} ms; measured relay minus direct p50 {a[2] - a[0]:.3f} ms (direct {a[0]:.3f}, relay {a[2]:.3f}) |')" "$pd50" "$pd99" "$pr50" "$pr99" "$o50" "$o99"

echo "== 5. a 50 MB streamed answer through the relay"
big_port=$(free_port)
python3 scripts/bench/big_stream.py "$big_port" 50 & pids+=($!)
wait_port "$big_port"
big_through() { # big_through NAME TOP_LEVEL_TOML: a relay in front of the big stream, its RSS
  local p pid before peak hwm0
  p=$(free_port); start_relay "$1" "$p" "http://127.0.0.1:$big_port" "$2" ""
  pid=$(eval echo "\$${1}_pid")
  before=$(rss_mb "$pid"); hwm0=$(hwm_mb "$pid")
  ( curl -s -o /dev/null -w '%{size_download}\n' -H "x-goog-api-key: $RELAY_KEY" -d '{"contents":[{"parts":[{"text":"big"}]}]}' \
    "http://127.0.0.1:$p/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" > "$work/big.size" ) &
  wait $!
  # Sampling the RSS can miss the peak of a fast stream; the kernel's high-water mark cannot.
  peak=$(hwm_mb "$pid")
  echo "| a 50 MB stream${2:+, $2} | $(cat "$work/big.size") bytes through; relay RSS $before MB before, $(rss_mb "$pid") MB after; its highest $hwm0 MB before, $peak MB after |"
}
big_through big ""
big_through big2 "threads = 2"

echo "== 6. memory over $total mixed requests (16 connections)"
per=$(( total / 2 ))
served() { curl -s "$relay/metrics" | awk '/^gemini_relay_requests_total\{/ { n += $2 } END { printf "%d", n }'; }
mixed_run() { # REQUESTS: runs the mix until the relay has answered that many more
  local start; start=$(served)
  KEY=$RELAY_KEY timeout 3600 wrk -t2 -c16 -d3600s -s scripts/bench/mixed.lua "$relay" >/dev/null &
  local w=$!
  while [ "$(served)" -lt $(( start + $1 )) ]; do sleep 1; done
  kill "$w" 2>/dev/null || true; wait "$w" 2>/dev/null || true
}
mixed_run "$per"; half_rss=$(rss_mb "$relay_pid")
mixed_run "$per"; end_rss=$(rss_mb "$relay_pid")
echo "| resident memory | $warm_rss MB after the warm-up, $half_rss MB after $per mixed requests, $end_rss MB after $total ($(served) answered in all) |"

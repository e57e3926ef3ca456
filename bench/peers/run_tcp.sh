#!/usr/bin/env bash
# bench/peers/run_tcp.sh - runs weft's TCP benchmarks (bench.md) against any
# servers: each server pinned to one core, the load generator to the other;
# reports throughput and the server's CPU time per round trip / request,
# median of RUNS runs.
#
# Usage (from anywhere; it first builds the peers into build/peers/ with
# `make -C bench/peers`, never into the source tree):
#   bench/peers/run_tcp.sh
#       the peers: raw_epoll_echo (+ the Go echo peer if `go` is installed)
#       with echo_client, then raw_epoll_http with wrk
#   bench/peers/run_tcp.sh echo CMD [ARG...] [--vs CMD [ARG...]]...
#   bench/peers/run_tcp.sh http CMD [ARG...] [--vs CMD [ARG...]]...
#       any servers, e.g. weft against the readiness-model limit:
#       bench/peers/run_tcp.sh echo build/weft-bench echo-server {PORT} \
#           --vs build/peers/raw_epoll_echo {PORT}
# An argument {PORT} is replaced by the port; without one the port is appended.
# CMD must BE the server process (or exec it): a wrapper that forks would be
# measured instead of the server. Several servers (--vs) are run INTERLEAVED,
# round by round (A B A B A B), each run on a freshly started server and a
# fresh port: on a shared VM the throughput drifts by tens of percent from
# minute to minute, so only servers measured side by side compare.
#
# Knobs (environment): RUNS=3 DURATION=10 WARMUP=1 CONNS=50 SIZE=64
#   PORT=17480 (first port; each run takes the next one) SERVER_CPU=0
#   CLIENT_CPU=1 OUT=<repo>/build/peers QUIET_WAIT=120 (before each run, wait
#   up to this many seconds for a second in which the machine is idle: < 5%
#   of a core busy; 0 = don't wait) NOISY_RETRIES=2 (a run flagged NOISY is
#   done again, at most this many times; only the last try counts)
#
# Load generators, run under `taskset -c $CLIENT_CPU`, server under
# `taskset -c $SERVER_CPU`:
#   echo: build/peers/echo_client 127.0.0.1:PORT --conns 50 --size 64
#         --seconds 10 --warmup 1   (one 64-byte message in flight per conn)
#   http: wrk -t1 -c50 -d10s http://127.0.0.1:PORT/   (installed with
#         `apt-get install -y wrk` if missing; needs root)
#
# CPU time: utime+stime from /proc/PID/stat (fields 14+15; for the server all
# its threads, exited ones included), in CLK_TCK=100 units (10 ms: <= 0.1% of a
# 10 s window at full load), read at the start of the measurement window and
# again when the client exits. For echo the window starts WARMUP seconds after
# echo_client is launched, when it starts counting (exec and connect take a few
# ms, so the window is that much longer than the client's; CPU/rt is biased
# up by well under 1%); for wrk, which has no warm-up, when wrk is launched.
#   server CPU per op = server CPU seconds in the window / (rate * window)
#                     = server utilisation / rate
#   "srv" / "cli" = CPU utilisation of the server / the load generator, in %
#   of one core. Whichever is near 100% is the bottleneck. With 64-byte
#   messages on loopback the client does as much kernel work per round trip
#   as the server (each side's write() runs the TCP receive path of the
#   other), so echo_client and wrk saturate their core about when a lean
#   server does: then rt/s is a property of the pair, and the server's CPU
#   per op is the figure that tells servers apart.
#   "other" = CPU used by everything else on the machine in the window (all
#   CPUs' busy ticks in /proc/stat minus server and client), in % of one
#   core: a quiet machine shows 2-6% here (unattributed kernel work, the
#   script's own polling); above 10% the run is flagged NOISY
#   (another build or test was running) and a warning closes the output.
#   "steal" = hypervisor steal time on the server's core (/proc/stat); some
#   hypervisors never report it (Firecracker shows 0), so 0 proves nothing:
#   host contention then shows only as lower, scattered rates.
#
# Output: one line per run, then per server
#   median of 3: echo: 50 conns, 64 B: 118000 rt/s, server 8.45 us CPU/rt [CMD]
# (the rate and the CPU/op medians are taken independently).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${OUT:-$REPO/build/peers}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-1}"
CONNS="${CONNS:-50}"
SIZE="${SIZE:-64}"
PORT="${PORT:-17480}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
QUIET_WAIT="${QUIET_WAIT:-120}"
NOISY_RETRIES="${NOISY_RETRIES:-2}"
TCK="$(getconf CLK_TCK)"

SPID=""
TMP=""
stop_server() {
    if [[ -n "$SPID" ]] && kill -0 "$SPID" 2>/dev/null; then
        # SIGTERM, not SIGINT: a background job of a non-interactive shell
        # starts with SIGINT ignored, so a server without its own handler
        # would never see it.  SIGKILL if it has not gone after 2 s.
        kill -TERM "$SPID" 2>/dev/null || true
        local i
        for ((i = 0; i < 40; i++)); do
            kill -0 "$SPID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
    fi
    SPID=""
}
trap 'stop_server; [[ -z "$TMP" ]] || rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

die() {
    echo "run_tcp.sh: $*" >&2
    exit 1
}

# TICKS=utime+stime of a process, in clock ticks; fails if the process is
# gone or a zombie. Bash builtins only, no fork, so polling costs next to
# nothing (call it directly, not in $(...), which would fork).
proc_ticks() {
    local line f
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    # Drop "pid (comm) " (comm may hold spaces): then state is f[0], utime
    # (field 14 of the full line) f[11] and stime (15) f[12].
    read -ra f <<<"${line##*) }"
    [[ ${#f[@]} -gt 12 && ${f[0]} != Z ]] || return 1
    TICKS=$((f[11] + f[12]))
}

proc_cpu() {
    proc_ticks "$1" || die "process $1 is gone"
    echo "$TICKS"
}

# "BUSY STEAL": busy ticks of all CPUs together (user nice system irq
# softirq steal) and the steal ticks of CPU $1.
cpu_ticks() {
    awk -v c="cpu$1" '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8 + $9 }
        $1 == c { steal = $9 } END { print busy, steal }' /proc/stat
}

# Wait (at most QUIET_WAIT s) for a second in which the whole machine uses
# less than 5% of one core, so that a build or test of another session does
# not land in the measurement. Gives up with a note; the run is then likely
# flagged NOISY.
wait_quiet() {
    local t0=$SECONDS b0 b1 _s
    while ((SECONDS - t0 < QUIET_WAIT)); do
        read -r b0 _s < <(cpu_ticks 0)
        sleep 1
        read -r b1 _s < <(cpu_ticks 0)
        ((b1 - b0 < TCK / 20)) && return 0
    done
    ((QUIET_WAIT == 0)) || echo "  (machine still busy after ${QUIET_WAIT}s; measuring anyway)"
}

port_listening() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# start_server PORT CMD [ARG...]: start it pinned, wait until it listens.
start_server() {
    local port=$1 a subst=0 i
    shift
    local args=()
    for a in "$@"; do
        if [[ "$a" == *"{PORT}"* ]]; then
            a="${a//\{PORT\}/$port}"
            subst=1
        fi
        args+=("$a")
    done
    [[ $subst == 1 ]] || args+=("$port")
    port_listening "$port" && die "port $port is already in use (set PORT=...)"
    taskset -c "$SERVER_CPU" "${args[@]}" &
    SPID=$!
    for ((i = 0; i < 100; i++)); do
        port_listening "$port" && return 0
        kill -0 "$SPID" 2>/dev/null || die "server exited: ${args[*]}"
        sleep 0.05
    done
    die "server did not listen on $port within 5 s: ${args[*]}"
}

# Median of the numbers on stdin (the lower middle one for an even count).
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

# stats RATE WALL_US SRV_TICKS CLI_TICKS CLI_WALL_US BUSY_TICKS STEAL_TICKS
#   -> "us/op srv% cli% other% steal%"
# (the client's ticks were sampled over a slightly shorter window of its own)
stats() {
    awk -v r="$1" -v w="$2" -v st="$3" -v ct="$4" -v cw="$5" -v bt="$6" -v sl="$7" \
        -v hz="$TCK" 'BEGIN {
        w /= 1e6; cw /= 1e6
        srv = st / hz / w
        cli = (cw > 0 ? ct / hz / cw : 0)
        other = bt / hz / w - srv - cli
        if (other < 0) other = 0
        printf "%.3f %.1f %.1f %.1f %.1f\n", (r > 0 ? 1e6 * srv / r : 0), 100 * srv,
            100 * cli, 100 * other, 100 * sl / hz / w }'
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# run_once KIND PORT CMD... : one measurement of one freshly started server.
# Sets RATE and US (CPU per op); prints the run's line.
run_once() {
    local kind=$1 port=$2
    shift 2
    wait_quiet
    start_server "$port" "$@"
    local cpid c0 c1 k0 k1 kw b0 b1 s0 s1 w0 w1 line
    if [[ $kind == echo ]]; then
        taskset -c "$CLIENT_CPU" "$OUT/echo_client" "127.0.0.1:$port" --conns "$CONNS" \
            --size "$SIZE" --seconds "$DURATION" --warmup "$WARMUP" >"$TMP/out" &
        cpid=$!
        sleep "$WARMUP"
    else
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/" >"$TMP/out" &
        cpid=$!
    fi
    c0=$(proc_cpu "$SPID")
    k0=$(proc_cpu "$cpid")
    read -r b0 s0 < <(cpu_ticks "$SERVER_CPU")
    w0=$(now_us)
    # The client's CPU: poll its stat while it runs; its utilisation is taken
    # over [w0, last successful sample].
    k1=$k0
    kw=$w0
    while sleep 0.2; do
        proc_ticks "$cpid" || break
        k1=$TICKS
        kw=${EPOCHREALTIME/./}
    done
    wait "$cpid" || { cat "$TMP/out" >&2; die "$kind client failed against: $*"; }
    c1=$(proc_cpu "$SPID")
    read -r b1 s1 < <(cpu_ticks "$SERVER_CPU")
    w1=$(now_us)
    stop_server
    if [[ $kind == echo ]]; then
        line="$(cat "$TMP/out")"
        RATE="$(sed -n 's/.* = \([0-9]*\) rt\/s$/\1/p' <<<"$line")"
        [[ -n "$RATE" ]] || die "cannot parse echo_client output: $line"
    else
        if grep -qE "Socket errors|Non-2xx" "$TMP/out"; then
            cat "$TMP/out" >&2
            die "wrk reported errors against: $*"
        fi
        RATE="$(awk '/^Requests\/sec:/ { printf "%d", $2 + 0.5 }' "$TMP/out")"
        [[ -n "$RATE" ]] || { cat "$TMP/out" >&2; die "cannot parse wrk output"; }
        line="http: wrk -t1 -c$CONNS -d${DURATION}s: $RATE req/s"
    fi
    local srv cli other steal note=""
    read -r US srv cli other steal < <(stats "$RATE" "$((w1 - w0))" "$((c1 - c0))" \
        "$((k1 - k0))" "$((kw - w0))" "$((b1 - b0))" "$((s1 - s0))")
    if awk -v o="$other" -v s="$steal" 'BEGIN { exit !(o > 10 || s > 2) }'; then
        note=" (NOISY: other load on the machine)"
        RUN_NOISY=1
    else
        RUN_NOISY=0
    fi
    echo "  $line | srv ${srv}% cli ${cli}% other ${other}% steal ${steal}% | ${US} us server CPU/op$note"
}

# bench KIND CMD... [--vs CMD...]...
bench() {
    local kind=$1
    shift
    local servers=() cur=() a
    for a in "$@"; do
        if [[ "$a" == --vs ]]; then
            [[ ${#cur[@]} -gt 0 ]] || die "empty server command before --vs"
            servers+=("${cur[*]@Q}")
            cur=()
        else
            cur+=("$a")
        fi
    done
    [[ ${#cur[@]} -gt 0 ]] || die "usage: run_tcp.sh $kind CMD [ARG...] [--vs CMD [ARG...]]..."
    servers+=("${cur[*]@Q}")

    local n=${#servers[@]} r i rates=() cpus=() cmd
    for ((i = 0; i < n; i++)); do
        rates[i]=""
        cpus[i]=""
    done
    echo "== $kind: ${n} server(s), $RUNS run(s) each, ${DURATION}s, server on cpu $SERVER_CPU, client on cpu $CLIENT_CPU"
    for ((r = 1; r <= RUNS; r++)); do
        for ((i = 0; i < n; i++)); do
            eval "cmd=(${servers[i]})"
            echo "round $r: ${cmd[*]}"
            local try
            for ((try = 0; ; try++)); do
                run_once "$kind" "$PORT" "${cmd[@]}"
                PORT=$((PORT + 1))
                ((RUN_NOISY && try < NOISY_RETRIES)) || break
                echo "  noisy: measuring this round again"
            done
            NOISY=$((NOISY + RUN_NOISY))
            rates[i]+="$RATE "
            cpus[i]+="$US "
        done
    done
    local unit=rt/s op=rt what="echo: $CONNS conns, $SIZE B"
    if [[ $kind == http ]]; then unit=req/s op=req what="http: wrk -t1 -c$CONNS"; fi
    for ((i = 0; i < n; i++)); do
        eval "cmd=(${servers[i]})"
        local res
        res="median of $RUNS: $what: $(tr ' ' '\n' <<<"${rates[i]}" | grep . | median) $unit, server $(tr ' ' '\n' <<<"${cpus[i]}" | grep . | median) us CPU/$op  [${cmd[*]}]"
        echo "$res"
        SUMMARY+=("$res")
    done
}

ensure_wrk() {
    command -v wrk >/dev/null && return 0
    echo "wrk not found; installing it with apt-get" >&2
    [[ $(id -u) == 0 ]] || die "wrk is missing and we are not root: apt-get install -y wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2; } ||
        die "could not install wrk"
}

[[ $(nproc) -ge 2 ]] || echo "warning: fewer than 2 CPUs: the server and the client share a core" >&2
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v ss >/dev/null || die "ss (iproute2) is missing"
TMP="$(mktemp -d)"
SUMMARY=()
NOISY=0
make -s -C "$HERE" OUT="$OUT" >&2

case "${1:-}" in
echo)
    shift
    bench echo "$@"
    ;;
http)
    shift
    ensure_wrk
    bench http "$@"
    ;;
"")
    if command -v go >/dev/null; then
        make -s -C "$HERE" OUT="$OUT" go >&2
        bench echo "$OUT/raw_epoll_echo" "{PORT}" --vs "$OUT/go_echo_server" "{PORT}"
    else
        echo "go not installed (apt-get install -y golang-go): no Go echo peer" >&2
        bench echo "$OUT/raw_epoll_echo" "{PORT}"
    fi
    ensure_wrk
    bench http "$OUT/raw_epoll_http" "{PORT}"
    ;;
*) die "usage: run_tcp.sh [echo|http CMD [ARG...] [--vs CMD [ARG...]]...]" ;;
esac

echo "== summary =="
printf '%s\n' "${SUMMARY[@]}"
if [[ $NOISY -gt 0 ]]; then
    echo "warning: $NOISY counted run(s) had more than 10% of a core of other load (or steal > 2%): rerun on a quiet machine"
fi

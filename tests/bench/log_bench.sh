#!/usr/bin/env bash
# Transparency-log benchmark (issue 5), release build, real HTTP on loopback:
#   1. CPU cost of checking one signed submission in-process (ML-DSA-65 verification);
#   2. append throughput: $SUBMITTERS concurrent submitters x $PER signed submissions
#      (POST /log/v1/entries, keep-alive), and the CPU per append of the server and of the
#      load generator (both share this machine's cores);
#   3. proof latency: a log filled to $ENTRIES entries offline through the sequencer
#      (registry/examples/log_bench.rs fill), served by pqreg-registry, $PROOFS inclusion
#      and $PROOFS consistency requests one at a time: p50/p99/max;
#   4. disk bytes of <data-dir>/log at $ENTRIES entries (tiles, bundles, search index).
# Targets: >= 10,000 appends/s; p99 proof < 10 ms at 1M entries.
#
# usage: tests/bench/log_bench.sh          (from anywhere; builds release first)
# env:   SUBMITTERS=64 PER=200 ENTRIES=1000000 PROOFS=2000 WORKERS=0 KEEP=1
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
SUBMITTERS=${SUBMITTERS:-64}
PER=${PER:-200}
ENTRIES=${ENTRIES:-1000000}
PROOFS=${PROOFS:-2000}
WORKERS=${WORKERS:-0}

cargo build --release -p pqreg-registry --bin pqreg-registry --example log_bench >&2
TARGET=$(target_dir)
BIN=$TARGET/release/pqreg-registry
BENCH=$TARGET/release/examples/log_bench

TMP=$(mktemp -d /tmp/pqreg-log-bench.XXXXXX)
PID=
cleanup() {
    [ -z "$PID" ] || kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

start() { # data-dir -> sets PID, URL
    local port
    port=$(free_port)
    PQREG_REGISTRY__WORKERS=$WORKERS PQREG_REGISTRY__GC__INTERVAL_SECS=0 RUST_LOG=warn \
        "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$1" >"$1.log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$port
    wait_ready "$URL" || { cat "$1.log" >&2; return 1; }
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
cpu_secs() { # pid: utime+stime in seconds
    awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}

echo "== machine: $(nproc) CPUs, $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. submission check cost (in-process, one core)"
"$BENCH" verify-cost 2000

echo "== 2. append throughput: $SUBMITTERS submitters x $PER"
mkdir -p "$TMP/a"
start "$TMP/a"
c0=$(cpu_secs "$PID")
"$BENCH" append "$URL" "$SUBMITTERS" "$PER"
c1=$(cpu_secs "$PID")
python3 -c "n=$SUBMITTERS*$PER; c=$c1-$c0; print(f'server CPU: {c:.2f} s for {n} appends = {c/n*1e6:.0f} us per append (includes the manifest push)')"
stop
echo "== load average after the append phase: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 3. proofs at $ENTRIES entries"
mkdir -p "$TMP/p"
"$BENCH" fill "$TMP/p" "$ENTRIES"
start "$TMP/p"
"$BENCH" proofs "$URL" "$PROOFS"
stop

echo "== 4. disk"
b=$(du -sb "$TMP/p/log" | cut -f1)
k=$(du -sB1 "$TMP/p/log" | cut -f1)
python3 -c "print(f'log directory at $ENTRIES entries: {$b} bytes apparent = {$b/$ENTRIES*1e6/2**20:.0f} MiB per million entries; {$k} bytes allocated = {$k/$ENTRIES*1e6/2**20:.0f} MiB per million')"
"$BENCH" stats "$TMP/p"

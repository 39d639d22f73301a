#!/usr/bin/env bash
# Throughput of pqreg-registry against Debian's docker-registry (distribution 2.8) on
# loopback, with the same client (curl) for both:
#   - push: one 1 GiB random blob, POST then monolithic PUT (curl -T, streamed from disk);
#   - pull: GET of that blob to /dev/null;
#   - 16 concurrent pulls of one 64 MiB blob.
# Each measurement is the best of $RUNS runs; the two servers take turns run by run, so a
# change in the machine's load hits both alike. Prints GB/s for each server, our/their
# ratio, each server's CPU time (user+system) per GiB moved (averaged over the runs: less
# sensitive to other load than wall time), and the peak RSS (VmHWM) of both.
# Targets (issue 3): push >= 3x, pull >= 1.5x.
#
# usage: tests/bench/registry_bench.sh        (from anywhere; builds release first)
# env:   RUNS=3 BIG_MIB=1024 SMALL_MIB=64 CONCURRENCY=16 KEEP=1 (keep the temp dir)
#        PQREG_REGISTRY_BIN=path (skip the release build and use this binary)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
RUNS=${RUNS:-3}
BIG_MIB=${BIG_MIB:-1024}
SMALL_MIB=${SMALL_MIB:-64}
CONCURRENCY=${CONCURRENCY:-16}

command -v docker-registry >/dev/null || { echo "needs docker-registry (apt-get install docker-registry)" >&2; exit 1; }
if [ -n "${PQREG_REGISTRY_BIN:-}" ]; then
    BIN=$PQREG_REGISTRY_BIN
else
    cargo build --release -p pqreg-registry >&2
    BIN=$(target_dir)/release/pqreg-registry
fi

bench_tmp bench

echo "generating ${BIG_MIB} MiB and ${SMALL_MIB} MiB random blobs in $TMP" >&2
head -c "$((BIG_MIB << 20))" /dev/urandom > "$TMP/big"
head -c "$((SMALL_MIB << 20))" /dev/urandom > "$TMP/small"
BIG_D="sha256:$(sha256sum "$TMP/big" | cut -d' ' -f1)"
SMALL_D="sha256:$(sha256sum "$TMP/small" | cut -d' ' -f1)"

DR_PORT=$(free_port)
mkdir -p "$TMP/dr"
cat > "$TMP/dr.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/dr
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$DR_PORT
YAML
docker-registry serve "$TMP/dr.yml" > "$TMP/dr.log" 2>&1 &
PIDS+=($!)
DR_PID=$!

PQ_PORT=$(free_port)
RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PQ_PORT" --data-dir "$TMP/pq" > "$TMP/pq.log" 2>&1 &
PIDS+=($!)
PQ_PID=$!

DR="http://127.0.0.1:$DR_PORT"
PQ="http://127.0.0.1:$PQ_PORT"
wait_ready "$DR"
wait_ready "$PQ"

# push BASE REPO FILE DIGEST -> seconds for the PUT carrying the bytes
push() {
    local loc
    loc=$(curl -sf -D - -o /dev/null -X POST "$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
    case "$loc" in http*) ;; *) loc="$1$loc" ;; esac
    case "$loc" in *\?*) loc="$loc&digest=$4" ;; *) loc="$loc?digest=$4" ;; esac
    curl -sf -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT -T "$3" -H 'Expect:' \
        -H 'Content-Type: application/octet-stream' "$loc" | {
        read -r code t
        [ "$code" = 201 ] || { echo "push to $1 answered $code" >&2; exit 1; }
        echo "$t"
    }
}

# pull BASE REPO DIGEST -> seconds
pull() {
    curl -sf -o /dev/null -w '%{time_total}\n' "$1/v2/$2/blobs/$3"
}

# concurrent BASE REPO DIGEST N -> wall seconds for N parallel pulls
concurrent() {
    local start end pids=()
    start=$(date +%s.%N)
    for _ in $(seq 1 "$4"); do curl -sf -o /dev/null "$1/v2/$2/blobs/$3" & pids+=($!); done
    wait "${pids[@]}"
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
}

# cpu PID -> user+system seconds the process has used so far
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

# timed NAME PID CMD... -> runs CMD (which prints seconds), appends them to $TMP/NAME.t and
# the server's CPU seconds it took to $TMP/NAME.cpu
timed() {
    local name=$1 pid=$2 c0 c1
    shift 2
    c0=$(cpu "$pid")
    "$@" >> "$TMP/$name.t"
    c1=$(cpu "$pid")
    python3 -c "print($c1 - $c0)" >> "$TMP/$name.cpu"
}

declare -A BASE=([dr]=$DR [pq]=$PQ) PID=([dr]=$DR_PID [pq]=$PQ_PID)
for i in $(seq 1 "$RUNS"); do
    for s in dr pq; do timed "$s.push" "${PID[$s]}" push "${BASE[$s]}" "bench/push$i" "$TMP/big" "$BIG_D"; done
done
for _ in $(seq 1 "$RUNS"); do
    for s in dr pq; do timed "$s.pull" "${PID[$s]}" pull "${BASE[$s]}" bench/push1 "$BIG_D"; done
done
for s in dr pq; do push "${BASE[$s]}" bench/small "$TMP/small" "$SMALL_D" > /dev/null; done
for _ in $(seq 1 "$RUNS"); do
    for s in dr pq; do timed "$s.conc" "${PID[$s]}" concurrent "${BASE[$s]}" bench/small "$SMALL_D" "$CONCURRENCY"; done
done

HWM=$(awk '/VmHWM/{print $2, $3}' "/proc/$PQ_PID/status")
DR_HWM=$(awk '/VmHWM/{print $2, $3}' "/proc/$DR_PID/status")

python3 - "$TMP" "$BIG_MIB" "$SMALL_MIB" "$CONCURRENCY" <<'PY'
import sys
tmp = sys.argv[1]
big, small, n = (int(x) for x in sys.argv[2:5])
def nums(name):
    return [float(x) for x in open(f"{tmp}/{name}").read().split()]
rows = [
    (f"push {big} MiB", "push", big, 3.0),
    (f"pull {big} MiB", "pull", big, 1.5),
    (f"{n} x pull {small} MiB", "conc", small * n, None),
]
print(f"{'case':<20}{'docker-registry':>17}{'pqreg-registry':>17}{'ratio':>8}  {'target':<13}"
      f"{'CPU s/GiB: docker-registry':>27}{'pqreg':>7}")
for label, key, mib, target in rows:
    gib = mib / 1024
    g = mib * (1 << 20) / 1e9
    dr, pq = min(nums(f"dr.{key}.t")), min(nums(f"pq.{key}.t"))
    cdr = sum(nums(f"dr.{key}.cpu")) / len(nums(f"dr.{key}.cpu")) / gib
    cpq = sum(nums(f"pq.{key}.cpu")) / len(nums(f"pq.{key}.cpu")) / gib
    ratio = dr / pq
    verdict = "" if target is None else (f">= {target}x " + ("ok" if ratio >= target else "MISSED"))
    print(f"{label:<20}{g / dr:>12.2f} GB/s{g / pq:>12.2f} GB/s{ratio:>7.2f}x  {verdict:<13}"
          f"{cdr:>27.2f}{cpq:>7.2f}")
PY
echo "pqreg-registry peak RSS (VmHWM): $HWM; docker-registry: $DR_HWM"
echo "best of $RUNS runs; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"

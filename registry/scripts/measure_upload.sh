#!/usr/bin/env bash
# Pushes and pulls one large blob through a release pqreg-registry on loopback and prints
# throughput and the server's peak RSS growth (VmHWM - baseline VmRSS), the figure
# issue 3 bounds at 64 MiB. Not a CI test; the comparative benchmark lives in tests/.
#
#   cargo build --release -p pqreg-registry && registry/scripts/measure_upload.sh [MiB]
set -euo pipefail
cd "$(dirname "$0")/../.."
MIB=${1:-1024}
BIN=${BIN:-target/release/pqreg-registry}
WORK=$(mktemp -d)
PORT=${PORT:-5099}
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

head -c "$((MIB << 20))" /dev/urandom > "$WORK/blob"
DIGEST=sha256:$(openssl dgst -sha256 -r "$WORK/blob" | cut -d' ' -f1)

RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" &
PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/livez" >/dev/null && break; sleep 0.1; done
BASE_KB=$(awk '/VmRSS/{print $2}' "/proc/$PID/status")

T0=$(date +%s.%N)
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X POST -T "$WORK/blob" \
  -H 'Content-Type: application/octet-stream' \
  "http://127.0.0.1:$PORT/v2/bench/blobs/uploads/?digest=$DIGEST")
T1=$(date +%s.%N)
[ "$CODE" = 201 ] || { echo "push failed: $CODE" >&2; exit 1; }
curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/bench/blobs/$DIGEST"
T2=$(date +%s.%N)

HWM_KB=$(awk '/VmHWM/{print $2}' "/proc/$PID/status")
awk -v mib="$MIB" -v t0="$T0" -v t1="$T1" -v t2="$T2" -v base="$BASE_KB" -v hwm="$HWM_KB" 'BEGIN {
  printf "blob %d MiB\npush %.2f s  %.0f MiB/s\npull %.2f s  %.0f MiB/s\n", mib, t1-t0, mib/(t1-t0), t2-t1, mib/(t2-t1)
  printf "server RSS baseline %.1f MiB, peak (VmHWM) %.1f MiB, growth %.1f MiB\n", base/1024, hwm/1024, (hwm-base)/1024
}'

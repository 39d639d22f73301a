#!/usr/bin/env bash
# Re-push cost after one tensor changed, for a padded safetensors file and a GGUF file
# (spec/artifact.md §6; issue 14 points 7 and 8), with the real CLI against a real
# registry on 127.0.0.1. Prints the push JSON of the first push and of the re-push.
#
#   client/bench/tensor_repush.sh [PQREG [PQREG_REGISTRY]]
#
# Defaults: the binaries of $CARGO_TARGET_DIR (or ./target)/debug. Pass another build's
# binaries to compare (e.g. a build of the commit before the chunking change). Needs a
# Python with numpy and gguf ($PYTHON, default ./.venv/bin/python; .ci/setup installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
PQREG=${1:-$TARGET/debug/pqreg}
REGISTRY=${2:-$TARGET/debug/pqreg-registry}
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
ADDR=127.0.0.1:${PORT:-5077}
WORK=$(mktemp -d)
REG_PID=
cleanup() {
    if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
export XDG_DATA_HOME=$WORK/data XDG_CACHE_HOME=$WORK/cache XDG_CONFIG_HOME=$WORK/config
export XDG_STATE_HOME=$WORK/state DOCKER_CONFIG=$WORK/docker
"$REGISTRY" serve --listen "$ADDR" --data-dir "$WORK/reg" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 200); do
    curl -fs -o /dev/null "http://$ADDR/v2/" && break
    kill -0 "$REG_PID" 2>/dev/null || { cat "$WORK/registry.log" >&2; exit 1; }
    sleep 0.1
done
"$PQREG" keygen --sign --out "$WORK/signer" >/dev/null 2>&1
"$PQREG" keygen --recipient --out "$WORK/rcpt" >/dev/null 2>&1

# A safetensors file with 4 bytes before the first tensor, 3 between tensors, 1 after the
# last: BF16 2 MiB, F32 2 MiB, F16 1.5 MiB, two F32 norms; CHANGE draws one tensor anew.
padded() {
    "$PYTHON" - "$1" "$2" <<'PY'
import json, struct, sys
import numpy as np
out, change = sys.argv[1], sys.argv[2]
spec = [("up", "BF16", 1 << 20), ("q", "F32", 1 << 19), ("k", "F16", 768 * 1024),
        ("n1", "F32", 1024), ("n2", "F32", 1024)]
width = {"BF16": 2, "F32": 4, "F16": 2}
header, data, at = {"__metadata__": {"format": "pt"}}, bytearray(b"\0" * 4), 4
for i, (name, dt, n) in enumerate(spec):
    if i:
        data += b"\0" * 3
        at += 3
    rng = np.random.default_rng(99 if name == change else i)
    v = (rng.standard_normal(n) * 0.02).astype(np.float32)
    raw = {"F32": v.tobytes(), "F16": v.astype(np.float16).tobytes(),
           "BF16": (v.view(np.uint32) >> 16).astype(np.uint16).tobytes()}[dt]
    header[name] = {"dtype": dt, "shape": [n], "data_offsets": [at, at + len(raw)]}
    data += raw
    at += len(raw)
data += b"\0"
h = json.dumps(header).encode()
open(out, "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))
PY
}

push() {
    "$PQREG" -o json push "$1" "$ADDR/models/$2:latest" --recipient "$WORK/rcpt.pub" \
        --sign-key "$WORK/signer.key" ${3:+--identity "$WORK/rcpt.key"}
}

mkdir -p "$WORK/st" "$WORK/gguf"
padded "$WORK/st/model.safetensors" none
echo "padded safetensors, first push: $(push "$WORK/st" st)"
padded "$WORK/st/model.safetensors" q
echo "padded safetensors, tensor q changed: $(push "$WORK/st" st again)"
"$PYTHON" testdata/models/make_gguf.py "$WORK/gguf/model.gguf" >/dev/null
echo "gguf, first push: $(push "$WORK/gguf" gguf)"
"$PYTHON" testdata/models/make_gguf.py "$WORK/gguf/model.gguf" --change blk.0.attn_q.weight >/dev/null
echo "gguf, blk.0.attn_q.weight changed: $(push "$WORK/gguf" gguf again)"

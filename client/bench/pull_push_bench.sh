#!/usr/bin/env bash
# Client benchmark (issue 4): a synthetic ~1 GiB bf16 safetensors model (weights ~N(0, 0.02),
# client/examples/synth_model.rs), in one run on loopback:
#   - pqreg push (pack, compress, encrypt to one X-Wing recipient, ML-DSA sign, upload) to
#     pqreg-registry and to Debian's docker-registry;
#   - pqreg pull (download, verify signature, decrypt, decompress, hash, write, fsync) from
#     both, with an empty blob cache;
#   - skopeo copy of the same files unencrypted (each file one layer of an OCI layout) to
#     docker-registry, and back from it to an OCI layout directory;
#   - cp -r of the model directory (the floor).
# Prints seconds, MB/s (model bytes / time), the client's CPU seconds (user + sys: less
# noisy than wall time on a shared machine), our/skopeo ratios, bytes transferred and peak
# client RSS (/usr/bin/time -v). Targets: transferred <= 0.70x the model; push >= 2.5x and
# pull >= 4x the skopeo path; client RSS <= 256 MiB.
#
# usage: client/bench/pull_push_bench.sh      (builds release first)
# env:   MIB=1024  CONCURRENCY=4  KEEP=1 (keep the temp dir)
#        PQREG_BIN=… PQREG_REGISTRY_BIN=… SYNTH_BIN=… (skip the build)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
MIB=${MIB:-1024}
CONCURRENCY=${CONCURRENCY:-4}
for t in docker-registry skopeo /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "needs $t (.ci/setup installs it)" >&2; exit 1; }
done
TARGET=$(target_dir)
if [ -z "${PQREG_BIN:-}" ]; then
    cargo build --release -p pqreg --bin pqreg --example synth_model -p pqreg-registry --bin pqreg-registry >&2
fi
PQREG=${PQREG_BIN:-$TARGET/release/pqreg}
REGISTRY=${PQREG_REGISTRY_BIN:-$TARGET/release/pqreg-registry}
SYNTH=${SYNTH_BIN:-$TARGET/release/examples/synth_model}

bench_tmp client-bench

echo "generating a ${MIB} MiB bf16 model in $TMP/model" >&2
MODEL_BYTES=$("$SYNTH" "$TMP/model" --mib "$MIB")

DR_PORT=$(free_port)
cat > "$TMP/dr.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/dr
http:
  addr: 127.0.0.1:$DR_PORT
YAML
docker-registry serve "$TMP/dr.yml" > "$TMP/dr.log" 2>&1 &
PIDS+=($!)
PQ_PORT=$(free_port)
RUST_LOG=warn "$REGISTRY" serve --listen "127.0.0.1:$PQ_PORT" --data-dir "$TMP/pq" > "$TMP/pq.log" 2>&1 &
PIDS+=($!)
DR=127.0.0.1:$DR_PORT
PQ=127.0.0.1:$PQ_PORT
wait_ready "http://$DR"
wait_ready "http://$PQ"

export XDG_CONFIG_HOME=$TMP/xdg/config XDG_STATE_HOME=$TMP/xdg/state DOCKER_CONFIG=$TMP/xdg/docker
export XDG_CACHE_HOME=$TMP/xdg/cache
"$PQREG" keygen --sign --out "$TMP/signer" >/dev/null 2>&1
"$PQREG" keygen --recipient --out "$TMP/rcpt" >/dev/null 2>&1
{
    printf 'version = 1\nrequire_log = false\n[[keys]]\nname = "bench"\nalg = "ml-dsa-65"\npublic_key = """\n'
    cat "$TMP/signer.pub"
    printf '"""\n[[rules]]\nrepositories = ["127.0.0.1:*/bench/*"]\nsigners = ["bench"]\n'
} > "$TMP/policy.toml"

# The same files as an OCI layout for skopeo: one layer per file (hard links, not copies).
python3 - "$TMP/model" "$TMP/layout" <<'PY'
import hashlib, json, os, sys
model, out = sys.argv[1], sys.argv[2]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data=None, path=None):
    h = hashlib.sha256()
    if path:
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        size = os.path.getsize(path)
    else:
        h.update(data); size = len(data)
    d = h.hexdigest()
    dst = os.path.join(blobs, d)
    if not os.path.exists(dst):
        os.link(path, dst) if path else open(dst, "wb").write(data)
    return {"digest": "sha256:" + d, "size": size}
layers = []
for name in sorted(os.listdir(model)):
    l = put(path=os.path.join(model, name))
    l["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    l["annotations"] = {"org.opencontainers.image.title": name}
    layers.append(l)
cfg = put(data=b"{}")
cfg["mediaType"] = "application/vnd.oci.empty.v1+json"
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": layers}).encode()
md = put(data=m)
md["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
md["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
json.dump({"schemaVersion": 2, "manifests": [md]}, open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY

# run NAME CMD... : wall seconds and peak RSS (KiB) into $TMP/NAME.{s,rss}, stdout to NAME.out
run() {
    local name=$1; shift
    sync
    /usr/bin/time -v -o "$TMP/$name.time" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" || {
        echo "$name failed:" >&2; cat "$TMP/$name.err" "$TMP/$name.out" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$TMP/$name.time" > "$TMP/$name.s"
    awk -F': ' '/Maximum resident set size/{print $2}' "$TMP/$name.time" > "$TMP/$name.rss"
    awk -F': ' '/User time|System time/{s+=$2} END{print s}' "$TMP/$name.time" > "$TMP/$name.cpu"
}
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

S="--src-tls-verify=false --dest-tls-verify=false"
run cp cp -r "$TMP/model" "$TMP/cp-copy"
# shellcheck disable=SC2086
run skopeo_push skopeo copy -q $S --preserve-digests "oci:$TMP/layout:v1" "docker://$DR/bench/plain:v1"
# shellcheck disable=SC2086
run skopeo_pull skopeo copy -q $S --preserve-digests "docker://$DR/bench/plain:v1" "oci:$TMP/skopeo-pulled:v1"
for reg in pq dr; do
    host=$PQ; [ $reg = dr ] && host=$DR
    run "push_$reg" "$PQREG" -o json push "$TMP/model" "$host/bench/model:v1" --recipient "$TMP/rcpt.pub" \
        --sign-key "$TMP/signer.key" --concurrency "$CONCURRENCY"
    rm -rf "$XDG_CACHE_HOME"
    run "pull_$reg" "$PQREG" -o json pull "$host/bench/model:v1" "$TMP/pulled-$reg" \
        --identity "$TMP/rcpt.key" --policy "$TMP/policy.toml"
    cmp "$TMP/model/model.safetensors" "$TMP/pulled-$reg/model.safetensors"
    rm -rf "$TMP/pulled-$reg"
done

SK_BYTES=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' \
    "$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); print(sys.argv[1]+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])' "$TMP/layout")")
python3 - "$TMP" "$MODEL_BYTES" "$SK_BYTES" "$CONCURRENCY" \
    "$(json_field "$TMP/push_pq.out" uploaded_bytes)" "$(json_field "$TMP/pull_pq.out" downloaded_bytes)" \
    "$(json_field "$TMP/push_dr.out" uploaded_bytes)" "$(json_field "$TMP/pull_dr.out" downloaded_bytes)" <<'PY'
import sys
tmp, model, sk, conc, up_pq, down_pq, up_dr, down_dr = sys.argv[1], *map(int, sys.argv[2:])
def s(n): return float(open(f"{tmp}/{n}.s").read())
def rss(n): return int(open(f"{tmp}/{n}.rss").read()) / 1024
def cpu(n): return float(open(f"{tmp}/{n}.cpu").read())
rows = [("cp -r (floor)", "cp", model), ("skopeo push -> docker-registry", "skopeo_push", sk),
        ("skopeo pull <- docker-registry", "skopeo_pull", sk),
        ("pqreg push -> pqreg-registry", "push_pq", up_pq), ("pqreg pull <- pqreg-registry", "pull_pq", down_pq),
        ("pqreg push -> docker-registry", "push_dr", up_dr), ("pqreg pull <- docker-registry", "pull_dr", down_dr)]
print(f"model {model} bytes ({model/2**20:.0f} MiB); pqreg --concurrency {conc}")
print(f"{'':34} {'seconds':>8} {'MB/s':>7} {'CPU s':>6} {'bytes sent/received':>20} {'x model':>8} {'peak RSS MiB':>13}")
for label, n, b in rows:
    print(f"{label:34} {s(n):8.2f} {model/1e6/s(n):7.0f} {cpu(n):6.2f} {b:20d} {b/model:8.3f} {rss(n):13.1f}")
print(f"push ratio (skopeo push / pqreg push, to pqreg-registry)      {s('skopeo_push')/s('push_pq'):.2f}x (target >= 2.5x)")
print(f"pull ratio (skopeo pull / pqreg pull, from pqreg-registry)    {s('skopeo_pull')/s('pull_pq'):.2f}x (target >= 4x)")
print(f"push ratio, both to docker-registry                           {s('skopeo_push')/s('push_dr'):.2f}x")
print(f"pull ratio, both from docker-registry                         {s('skopeo_pull')/s('pull_dr'):.2f}x")
print(f"transferred by pqreg push {up_pq/model:.3f}x the model (target <= 0.70x)")
print(f"peak client RSS push {rss('push_pq'):.0f} MiB, pull {rss('pull_pq'):.0f} MiB (target <= 256 MiB)")
PY

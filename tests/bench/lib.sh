# Shared by the benchmark scripts (tests/bench/*.sh, client/bench/*.sh); source it from the
# repository root after `set -euo pipefail`.

# The workspace's target directory.
target_dir() {
    cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# bench_tmp NAME: a fresh $TMP (/tmp/pqreg-NAME.XXXXXX) and an exit trap that kills every
# pid in $PIDS and removes $TMP unless KEEP is set.
bench_tmp() {
    TMP=$(mktemp -d "/tmp/pqreg-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}

# A TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_ready URL: until URL/v2/ answers 2xx (30 s at most).
wait_ready() {
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "$1/v2/" && return 0
        sleep 0.1
    done
    echo "server at $1 did not start" >&2
    return 1
}

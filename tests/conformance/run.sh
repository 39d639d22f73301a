#!/usr/bin/env bash
# Runs the upstream OCI distribution-spec conformance suite (the Go module
# github.com/opencontainers/distribution-spec/conformance, pinned below) against a fresh
# pqreg-registry: all four workflow categories (pull, push, content discovery, content
# management). Nothing of the suite is kept in this repository: the go command fetches the
# pinned version from the Go module proxy and builds it in a temporary module.
#
# Steps: check the Go module proxy answers; install Go if missing (Debian bookworm-backports
# golang-1.23-go, as root); build the suite; build pqreg-registry (debug; or
# $PQREG_REGISTRY_BIN); start it on a free 127.0.0.1 port with a temporary data dir; run
# the suite; print its summary and "N passed, N failed, N skipped" from its junit.xml;
# stop the registry. The reports (junit.xml, report.html) stay in a temporary directory
# whose path is printed.
#
# Exit codes: 0 every case passed (skipped/disabled ones allowed); 1 a case failed or a step
# broke; 77 the suite could not be fetched because the Go module proxy is unreachable from
# this machine (nothing was tested; .ci/test says so loudly).
#
# What we switch off, and why (see README.md "Tests"):
# - anonymous mount (OCI_AUTOMATIC_CROSSMOUNT=false, OCI_API_BLOBS_MOUNT_ANONYMOUS=false):
#   pqreg mounts only from a named repository; mounting by digest alone would tell a pusher
#   whether any repository holds a blob. `mount` without `from` answers 202 (upload), as
#   the spec allows.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

SUITE_MODULE=github.com/opencontainers/distribution-spec/conformance
SUITE_VERSION=${PQREG_CONFORMANCE_VERSION:-v0.0.0-20260831232431-97274622c111}
GO_DEB=golang-1.23-go
GO_DEB_BIN=/usr/lib/go-1.23/bin
# The toolchain the go command may fetch (from the module proxy) if the suite needs a newer
# Go than the installed one.
GO_FALLBACK_TOOLCHAIN=go1.27.3
START=$(date +%s)
say() { echo "conformance: $*"; }
die() { echo "conformance: error: $*" >&2; exit 1; }

# --- 1. Is the Go module proxy reachable? (Before installing anything.)
export GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
PROXY_URL=${GOPROXY%%,*}
PROXY_URL=${PROXY_URL%%|*}
if [ "$PROXY_URL" != off ] && [ "$PROXY_URL" != direct ]; then
    if ! err=$(curl -sS -m 20 -o /dev/null "$PROXY_URL/$SUITE_MODULE/@v/$SUITE_VERSION.info" 2>&1); then
        echo "conformance: UNAVAILABLE: the Go module proxy $PROXY_URL cannot be reached from this machine ($err)," >&2
        echo "conformance: so $SUITE_MODULE@$SUITE_VERSION cannot be fetched; no upstream conformance case was run." >&2
        exit 77
    fi
fi

# --- 2. Go (>= 1.23; older Go cannot even read the suite's go.mod).
go_ok() { "$1" version 2>/dev/null | grep -Eq 'go1\.(2[3-9]|[3-9][0-9])'; }
GO=
for g in "$(command -v go || true)" "$GO_DEB_BIN/go"; do
    if [ -n "$g" ] && go_ok "$g"; then GO=$g; break; fi
done
if [ -z "$GO" ]; then
    [ "$(id -u)" = 0 ] || die "Go >= 1.23 is missing; as root: apt-get install -t bookworm-backports $GO_DEB"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache policy "$GO_DEB" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" \
            >/etc/apt/sources.list.d/pqreg-bookworm-backports.list
        apt-get update -q
    fi
    apt-get install -y -q -t bookworm-backports "$GO_DEB" >/dev/null
    GO=$GO_DEB_BIN/go
    go_ok "$GO" || die "$GO_DEB installed but $GO does not run"
fi
say "$("$GO" version)"

# --- 3. Build the suite in a temporary module; caches in target/ (ignored by git).
WORK=$(mktemp -d)
RESULTS=$(mktemp -d -t pqreg-conformance-results.XXXXXX)
REG_PID=
cleanup() {
    if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
CACHE=${CARGO_TARGET_DIR:-$ROOT/target}/conformance-go
export GOPATH=$CACHE/gopath GOMODCACHE=$CACHE/gopath/pkg/mod GOCACHE=$CACHE/build GOFLAGS=-modcacherw
mkdir -p "$WORK/mod"
printf 'module pqreg.local/conformance\n\ngo 1.23\n' >"$WORK/mod/go.mod"
build_suite() {
    (cd "$WORK/mod" && "$GO" get "$SUITE_MODULE@$SUITE_VERSION" \
        && "$GO" test -c -o "$WORK/conformance.test" "$SUITE_MODULE")
}
say "building $SUITE_MODULE@$SUITE_VERSION"
if ! GOTOOLCHAIN=local build_suite >"$WORK/build.log" 2>&1; then
    if grep -q 'requires go >=' "$WORK/build.log"; then
        say "the suite needs a newer Go; fetching toolchain $GO_FALLBACK_TOOLCHAIN"
        GOTOOLCHAIN=$GO_FALLBACK_TOOLCHAIN build_suite >"$WORK/build.log" 2>&1 \
            || { cat "$WORK/build.log" >&2; die "building the suite failed"; }
    else
        cat "$WORK/build.log" >&2
        die "building the suite failed"
    fi
fi

# --- 4. The registry on a free port with a fresh data dir.
if [ -n "${PQREG_REGISTRY_BIN:-}" ]; then
    REGISTRY=$PQREG_REGISTRY_BIN
else
    say "building pqreg-registry"
    cargo build -q -p pqreg-registry --bin pqreg-registry
    REGISTRY=${CARGO_TARGET_DIR:-$ROOT/target}/debug/pqreg-registry
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
RUST_LOG=${RUST_LOG:-warn} "$REGISTRY" serve --listen "$ADDR" --data-dir "$WORK/data" \
    >"$RESULTS/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 300); do
    if curl -fs -o /dev/null "http://$ADDR/v2/"; then break; fi
    kill -0 "$REG_PID" 2>/dev/null || { cat "$RESULTS/registry.log" >&2; die "pqreg-registry exited"; }
    sleep 0.1
done
curl -fsS -o /dev/null "http://$ADDR/v2/" || die "no answer on http://$ADDR/v2/ after 30 s"
say "pqreg-registry listening on $ADDR"

# --- 5. The suite. Both the variables of the ginkgo-era suite (OCI_ROOT_URL, OCI_TEST_*)
# and those of its successor (OCI_REGISTRY, OCI_API_*, OCI_DATA_*) are set, so either kind
# of pinned version runs the same cases.
say "running the suite (pull, push, content discovery, content management)"
set +e
(
    cd "$RESULTS"
    export OCI_ROOT_URL="http://$ADDR" OCI_NAMESPACE=conformance/repo1 \
        OCI_CROSSMOUNT_NAMESPACE=conformance/repo2 \
        OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 \
        OCI_TEST_CONTENT_MANAGEMENT=1 OCI_AUTOMATIC_CROSSMOUNT=0 \
        OCI_HIDE_SKIPPED_WORKFLOWS=0 OCI_DEBUG=0 OCI_REPORT_DIR="$RESULTS" \
        OCI_REGISTRY="$ADDR" OCI_TLS=disabled OCI_REPO1=conformance/repo1 \
        OCI_REPO2=conformance/repo2 OCI_RESULTS_DIR="$RESULTS" OCI_DATA_SHA512=true \
        OCI_API_BLOBS_MOUNT_ANONYMOUS=false
    "$WORK/conformance.test" >"$RESULTS/suite.log" 2>&1
)
SUITE_RC=$?
set -e

# --- 6. Summary: the suite's own closing lines, then the counts from junit.xml.
grep -E 'Ran [0-9]+ of [0-9]+ Specs|Passed \| .* Failed|OCI Conformance Result|^  (Pass|FAIL|Error|Skip|Disabled|Total)\.+' \
    "$RESULTS/suite.log" | sed 's/^/conformance: suite: /' || true
# Failed cases: ginkgo's "[FAIL]" lines, or the successor's result tree leaves marked FAIL/Error.
grep -E '\[FAIL\]|: (FAIL|Error)$' "$RESULTS/suite.log" | head -60 | sed 's/^/conformance: /' || true
python3 - "$RESULTS/junit.xml" <<'EOF' || true
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print(f"conformance: no junit.xml ({e})")
    sys.exit(0)
passed = failed = skipped = 0
for tc in root.iter("testcase"):
    kids = {c.tag for c in tc}
    status = (tc.get("status") or "").lower()
    if "failure" in kids or "error" in kids or status in ("failed", "error", "failure"):
        failed += 1
    elif "skipped" in kids or status in ("skipped", "disabled", "pending"):
        skipped += 1
    else:
        passed += 1
print(f"conformance: {passed} passed, {failed} failed, {skipped} skipped")
EOF
say "reports: $RESULTS (junit.xml, report.html, suite.log, registry.log)"
say "took $(($(date +%s) - START)) s"
if [ "$SUITE_RC" -ne 0 ]; then
    tail -40 "$RESULTS/suite.log" >&2
    die "the suite failed (exit $SUITE_RC); details in $RESULTS/report.html"
fi
say "ok"

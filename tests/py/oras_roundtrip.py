#!/usr/bin/env python3
"""Drives oras-py (PyPI `oras`) against a registry, for tests/tests/oras_roundtrip.rs.

usage: oras_roundtrip.py HOST:PORT REPO WORKDIR

1. pushes an artifact (two files, one uploaded chunked) whose manifest has a custom
   `artifactType`, through oras-py's own push flow;
2. pulls it back into another directory and checks the bytes;
3. pushes a second artifact whose `subject` is the first (a referrer, e.g. a signature);
4. lists the referrers of the first through the referrers API, over oras-py's session.

Prints one JSON object on stdout (digests, artifact types, the referrers index) for the Rust
test to check against the registry independently. Exits non-zero on any mismatch.
"""

import hashlib
import json
import os
import sys

import oras.client
import oras.oci

ARTIFACT_TYPE = "application/vnd.pqreg.test.model.v1"
REFERRER_TYPE = "application/vnd.pqreg.test.signature.v1"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"


class Client(oras.client.OrasClient):
    """oras-py 0.2 has no artifactType option: set it on the manifest it is about to PUT."""

    artifact_type = None

    def upload_manifest(self, manifest, container):
        if self.artifact_type:
            manifest["artifactType"] = self.artifact_type
        return super().upload_manifest(manifest, container)


def fail(msg):
    print(f"oras_roundtrip: {msg}", file=sys.stderr)
    sys.exit(1)


def raw_manifest(client, host, repo, ref):
    resp = client.do_request(
        f"http://{host}/v2/{repo}/manifests/{ref}", "GET", headers={"Accept": MANIFEST_MT}
    )
    if resp.status_code != 200:
        fail(f"GET manifest {ref}: {resp.status_code} {resp.text}")
    return resp.content


def main():
    host, repo, work = sys.argv[1], sys.argv[2], sys.argv[3]
    src = os.path.join(work, "src")
    os.makedirs(src, exist_ok=True)
    files = {
        "weights.bin": bytes((i * 7 + 3) % 251 for i in range(300_000)),
        "config.json": json.dumps({"layers": 2, "dtype": "bf16"}).encode(),
    }
    for name, data in files.items():
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)

    client = Client(hostname=host, insecure=True)
    client.artifact_type = ARTIFACT_TYPE
    target = f"{host}/{repo}:v1"
    # oras-py requires paths relative to the working directory.
    os.chdir(src)
    resp = client.push(
        target=target,
        files=["weights.bin:application/vnd.pqreg.test.weights", "config.json"],
        manifest_annotations={"org.pqreg.test": "oras-py"},
        do_chunked=True,
        chunk_size=64 * 1024,
        quiet=True,
    )
    if resp.status_code != 201:
        fail(f"push: {resp.status_code} {resp.text}")

    raw = raw_manifest(client, host, repo, "v1")
    manifest = json.loads(raw)
    if manifest.get("artifactType") != ARTIFACT_TYPE:
        fail(f"artifactType not kept: {manifest}")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()

    out = os.path.join(work, "pulled")
    pulled = client.pull(target=target, outdir=out)
    for name, data in files.items():
        path = os.path.join(out, name)
        if path not in pulled:
            fail(f"pull did not write {name}: {pulled}")
        with open(path, "rb") as f:
            if f.read() != data:
                fail(f"pulled {name} differs")

    # A referrer of the artifact.
    sig = os.path.join(src, "signature.sig")
    with open(sig, "wb") as f:
        f.write(b"not really a signature")
    client.artifact_type = REFERRER_TYPE
    subject = oras.oci.Subject(mediaType=MANIFEST_MT, digest=digest, size=len(raw))
    resp = client.push(
        target=f"{host}/{repo}:sig",
        files=["signature.sig"],
        subject=subject,
        quiet=True,
    )
    if resp.status_code != 201:
        fail(f"push referrer: {resp.status_code} {resp.text}")
    if resp.headers.get("OCI-Subject") != digest:
        fail(f"OCI-Subject {resp.headers.get('OCI-Subject')!r}, want {digest}")
    ref_raw = raw_manifest(client, host, repo, "sig")
    ref_digest = "sha256:" + hashlib.sha256(ref_raw).hexdigest()

    resp = client.do_request(
        f"http://{host}/v2/{repo}/referrers/{digest}?artifactType={REFERRER_TYPE}", "GET"
    )
    if resp.status_code != 200:
        fail(f"referrers: {resp.status_code} {resp.text}")
    index = resp.json()
    listed = [m["digest"] for m in index.get("manifests", [])]
    if listed != [ref_digest]:
        fail(f"referrers lists {listed}, want [{ref_digest}]")

    print(json.dumps({
        "artifact": digest,
        "artifact_type": ARTIFACT_TYPE,
        "referrer": ref_digest,
        "referrer_type": REFERRER_TYPE,
        "layers": [l["digest"] for l in manifest["layers"]],
        "referrers_index": index,
        "filters_applied": resp.headers.get("OCI-Filters-Applied"),
    }))


if __name__ == "__main__":
    main()

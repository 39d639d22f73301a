#!/usr/bin/env python3
"""Drives oras-py (PyPI `oras`) through a registry's login and token flow, for
tests/tests/auth_clients.rs.

usage: oras_auth.py HOST:PORT USER PASSWORD REPO WORKDIR

Logs in with oras-py's own login, pushes a one-file artifact to REPO and pulls it back.
Prints one JSON object: {"login": status, "push": status or error text, "pull": bool}.
Never exits non-zero for a refusal: the Rust test decides what was expected.
"""

import json
import os
import sys

import oras.client
import oras.decorator

# oras-py retries a refused request 5 times with backoff (2 + 3^n seconds, ~2 minutes):
# the refusals are what this script provokes, so its backoff sleeps are skipped. Each retry
# still reaches the registry, which must refuse it again.
oras.decorator.time.sleep = lambda _s: None


def main():
    host, user, password, repo, work = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    with open("model.bin", "wb") as f:
        f.write(bytes(range(256)) * 64)
    client = oras.client.OrasClient(hostname=host, insecure=True)
    result = {}
    try:
        client.login(username=user, password=password)
        result["login"] = "ok"
    except Exception as e:  # oras-py raises on a refused login
        result["login"] = f"error: {e}"
    target = f"{host}/{repo}:v1"
    try:
        resp = client.push(target=target, files=["model.bin"], quiet=True)
        result["push"] = resp.status_code
    except Exception as e:
        result["push"] = f"error: {e}"
    try:
        out = client.pull(target=target, outdir=os.path.join(work, "pulled"))
        with open(os.path.join(work, "pulled", "model.bin"), "rb") as f:
            result["pull"] = f.read() == bytes(range(256)) * 64 and len(out) == 1
    except Exception as e:
        result["pull"] = False
        result["pull_error"] = str(e)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rebuilds testdata/mldsa_wycheproof_keygen.json and mldsa_wycheproof_verify.json from a
checkout of C2SP/wycheproof (testvectors_v1/, commit 022eeaff167de852fee950f5897acce5442197dc
for the *_sign_seed_test.json files, 03410c8490a919bdaa9752ff86e530bba758cfd9 for
mldsa_44_verify_test.json).

keygen: the first test group of mldsa_{44,65,87}_sign_seed_test.json (privateSeed,
privateKeyPkcs8, publicKey). verify: the first group's key of mldsa_44_verify_test.json and
its test case tcId 1 (valid, no context), plus the SPKI DER Wycheproof gives for the key.

Usage: mldsa_wycheproof.py WYCHEPROOF_DIR OUT_DIR
"""
import json
import os
import sys

src, out = sys.argv[1], sys.argv[2]
v = lambda name: json.load(open(os.path.join(src, "testvectors_v1", name)))

tests = []
for n in ("44", "65", "87"):
    g = v(f"mldsa_{n}_sign_seed_test.json")["testGroups"][0]
    tests.append({
        "parameterSet": f"ML-DSA-{n}",
        "privateSeed": g["privateSeed"],
        "privateKeyPkcs8": g["privateKeyPkcs8"],
        "publicKey": g["publicKey"],
    })
keygen = {
    "source": {
        "repository": "C2SP/wycheproof",
        "paths": [f"testvectors_v1/mldsa_{n}_sign_seed_test.json" for n in ("44", "65", "87")],
        "commit": "022eeaff167de852fee950f5897acce5442197dc",
        "subset": "the first test group of each file: privateSeed, privateKeyPkcs8, publicKey",
    },
    "expected": "ML-DSA.KeyGen_internal(privateSeed) yields publicKey; the seed-only PKCS#8 "
    "(RFC 9881) encoding of the key is privateKeyPkcs8",
    "tests": tests,
}
json.dump(keygen, open(os.path.join(out, "mldsa_wycheproof_keygen.json"), "w"), indent=1)

g = v("mldsa_44_verify_test.json")["testGroups"][0]
t = next(t for t in g["tests"] if t["tcId"] == 1)
verify = {
    "source": {
        "repository": "C2SP/wycheproof",
        "path": "testvectors_v1/mldsa_44_verify_test.json",
        "commit": "03410c8490a919bdaa9752ff86e530bba758cfd9",
        "subset": "the first test group's key and test case tcId 1",
    },
    "expected": "result: valid means ML-DSA.Verify(pk, msg, sig, ctx = empty) accepts; "
    "publicKeyDer is the SPKI DER of publicKey",
    "algorithm": "ML-DSA-44",
    "publicKey": g["publicKey"],
    "publicKeyDer": g["publicKeyDer"],
    "tests": [{k: t[k] for k in ("tcId", "comment", "msg", "sig", "result", "flags")}],
}
json.dump(verify, open(os.path.join(out, "mldsa_wycheproof_verify.json"), "w"), indent=1)

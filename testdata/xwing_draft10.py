#!/usr/bin/env python3
"""Builds testdata/xwing_draft10_vectors.json from the X-Wing draft's test vectors.

Source: draft-connolly-cfrg-xwing-kem-10, Appendix C ("Test vectors"), in repository
dconnolly/draft-connolly-cfrg-xwing-kem, path
draft-connolly-cfrg-xwing-kem-10/draft-connolly-cfrg-xwing-kem.txt, commit
94e6a21b61ab1e51ec58afab86ee76326ddd43af. The same three vectors ship machine-readable
as tests/test-vectors.json in the `x-wing` crate 0.1.1 (RustCrypto/KEMs), the X-Wing
implementation the `hpke` crate uses; this script reads that JSON file (its only argument)
and adds the header. (The older spec/test-vectors.json at the draft repository's commit
58dc2bbf predates the final FIPS 203 ML-KEM and has different ct/ss.)

Usage: xwing_draft10.py ~/.cargo/registry/src/*/x-wing-0.1.1/tests/test-vectors.json
"""
import json
import sys

vectors = json.load(open(sys.argv[1]))
out = {
    "source": {
        "document": "draft-connolly-cfrg-xwing-kem-10, Appendix C",
        "repository": "dconnolly/draft-connolly-cfrg-xwing-kem",
        "path": "draft-connolly-cfrg-xwing-kem-10/draft-connolly-cfrg-xwing-kem.txt",
        "commit": "94e6a21b61ab1e51ec58afab86ee76326ddd43af",
        "machine_readable_copy": "crate x-wing 0.1.1, tests/test-vectors.json",
    },
    "expected": "seed -> pk; encapsulation of pk with eseed -> (ct, ss); "
    "decapsulation of ct with seed -> ss",
    "fields": {
        "seed": "32-byte private key (seed)",
        "sk": "the private key as the draft encodes it (equal to seed)",
        "pk": "1216-byte public key",
        "eseed": "64 bytes of encapsulation randomness",
        "ct": "1120-byte ciphertext",
        "ss": "32-byte shared secret",
    },
    "vectors": [{k: v[k] for k in ("seed", "sk", "pk", "eseed", "ct", "ss")} for v in vectors],
}
json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")

#!/usr/bin/env python3
"""Runs testdata/safetensors_header_cases.json through the Python `safetensors` package
(pip install safetensors numpy) and prints, per case, pqreg's expected outcome and
whether safetensors accepted the file. With --write, records the outcome in each case's
`python` field.

    python3 testdata/safetensors_check.py [--write]
"""
import json
import os
import struct
import sys
import tempfile

from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "safetensors_header_cases.json")


def outcome(case):
    header = case["header"].encode()
    prefix = case.get("length_prefix", len(header))
    data = struct.pack("<Q", prefix) + header + bytes(case["data_len"])
    with tempfile.NamedTemporaryFile(suffix=".safetensors", delete=False) as f:
        f.write(data)
        name = f.name
    try:
        with safe_open(name, "np") as st:
            list(st.keys())
        return "ok"
    except Exception as e:  # noqa: BLE001 - any refusal counts
        return "error: " + type(e).__name__
    finally:
        os.unlink(name)


def main():
    doc = json.load(open(PATH))
    for case in doc["cases"]:
        got = outcome(case)
        case["python"] = "ok" if got == "ok" else "error"
        agree = (case["expect"] == "ok") == (got == "ok")
        print(f"{case['name']:<26} pqreg {case['expect']:<16} python {got:<28} {'' if agree else 'DIFFERS'}")
    if "--write" in sys.argv:
        with open(PATH, "w") as f:
            f.write(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()

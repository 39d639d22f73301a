#!/usr/bin/env python3
"""Writes a small GGUF v3 model with llama.cpp's `gguf` package (PyPI, pinned in
.ci/setup), for the chunking tests (client/tests/cli_gguf_padded.rs) and measurements.

    python3 testdata/models/make_gguf.py OUT.gguf [--seed N] [--change TENSOR] [--name S]

Tensors (llama-style names): an F32, an F16 and a BF16 matrix of 2 MiB each (each a chunk
of its own under spec/artifact.md §6), a Q8_0 matrix of about 1.06 MiB (layout `bytes`),
and four small F32 norms (grouped). Values are deterministic in the seed; `--change T`
draws tensor T from another seed (a fine-tune that touched one tensor); `--name` changes a
metadata string (moves the data start). Prints one JSON line describing the file.
"""
import argparse
import json

import numpy as np
import gguf
from gguf.quants import quantize


def tensors(seed, change):
    def rng(name):
        s = seed + (1000 if name == change else 0)
        return np.random.default_rng([s, sum(name.encode())])

    def normal(name, shape):
        return (rng(name).standard_normal(shape) * 0.02).astype(np.float32)

    out = []
    out.append(("blk.0.ffn_up.weight", normal("blk.0.ffn_up.weight", (512, 1024)), None))
    f16 = normal("blk.0.attn_q.weight", (1024, 1024)).astype(np.float16)
    out.append(("blk.0.attn_q.weight", f16, None))
    bf = normal("blk.0.attn_k.weight", (1024, 1024))
    bf16 = quantize(bf, gguf.GGMLQuantizationType.BF16)
    out.append(("blk.0.attn_k.weight", bf16, gguf.GGMLQuantizationType.BF16))
    q = quantize(normal("token_embd.weight", (1024, 1024)), gguf.GGMLQuantizationType.Q8_0)
    out.append(("token_embd.weight", q, gguf.GGMLQuantizationType.Q8_0))
    for n in ["blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight", "blk.0.bias"]:
        out.append((n, 1.0 + normal(n, (1024,)), None))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--change", default=None)
    ap.add_argument("--name", default="pqreg-tiny-gguf")
    a = ap.parse_args()
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(a.name)
    w.add_context_length(2048)
    w.add_embedding_length(1024)
    w.add_block_count(1)
    w.add_token_list(["<s>", "</s>", "a", "b"])
    for name, data, raw in tensors(a.seed, a.change):
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = gguf.GGUFReader(a.out)
    print(json.dumps({
        "file": a.out,
        "data_start": int(r.data_offset),
        "tensors": [
            {"name": t.name, "type": t.tensor_type.name, "offset": int(t.data_offset), "bytes": int(t.n_bytes)}
            for t in r.tensors
        ],
    }))


if __name__ == "__main__":
    main()

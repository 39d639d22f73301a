#!/usr/bin/env python3
"""Builds testdata/models/tiny/: a small real safetensors model, deterministically.

    python3 testdata/models/make_model.py [OUT_DIR]     (default: testdata/models/tiny)

Output (about 2 MB, byte-identical on every run and every platform):
  model.safetensors   a 2-layer decoder-only transformer in the layout `transformers`
                      writes (Llama names): BF16 weights ~ N(0, 0.02), F32 norms = 1.0
  config.json         its architecture
  tokenizer.txt       a 2048-line vocabulary (one token a line)

Standard library only. Determinism does not rest on Python's `random` (whose algorithms
may change between versions) or on libm: a SplitMix64 generator feeds an Irwin-Hall
approximation of the normal distribution (sum of 12 uniforms minus 6: mean 0,
variance 1) computed in integers, scaled by 0.02 in one IEEE double operation, rounded
to F32 by struct and to BF16 by integer round-to-nearest-even.

The safetensors layout (huggingface/safetensors README, "Format"): 8-byte little-endian
header length N, N bytes of JSON (padded with spaces to a multiple of 8), tensor data.
"""
import json
import os
import struct
import sys

SEED = 20261126
MASK = (1 << 64) - 1

LAYERS, HIDDEN, FFN, VOCAB = 2, 128, 352, 2048


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def normal_bf16(rng, count, std=0.02):
    """`count` BF16 values ~ N(0, std), little-endian bytes."""
    out = bytearray(2 * count)
    for i in range(count):
        # 12 uniform 16-bit integers from three 64-bit draws.
        s = 0
        for _ in range(3):
            r = rng.next()
            s += (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48)
        # Each uniform is (u + 0.5) / 65536 in (0, 1); the sum minus 6 has variance 1.
        x = (s - 6 * 65536 + 6) / 65536.0 * std
        bits = struct.unpack("<I", struct.pack("<f", x))[0]
        # F32 -> BF16, round to nearest even.
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        struct.pack_into("<H", out, 2 * i, bits)
    return bytes(out)


def ones_f32(count):
    return struct.pack("<f", 1.0) * count


def tensors():
    """(name, dtype, shape) in file order."""
    t = [("model.embed_tokens.weight", "BF16", [VOCAB, HIDDEN])]
    for layer in range(LAYERS):
        p = f"model.layers.{layer}"
        t.append((f"{p}.input_layernorm.weight", "F32", [HIDDEN]))
        for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t.append((f"{p}.self_attn.{m}.weight", "BF16", [HIDDEN, HIDDEN]))
        t.append((f"{p}.post_attention_layernorm.weight", "F32", [HIDDEN]))
        t.append((f"{p}.mlp.gate_proj.weight", "BF16", [FFN, HIDDEN]))
        t.append((f"{p}.mlp.up_proj.weight", "BF16", [FFN, HIDDEN]))
        t.append((f"{p}.mlp.down_proj.weight", "BF16", [HIDDEN, FFN]))
    t.append(("model.norm.weight", "F32", [HIDDEN]))
    t.append(("lm_head.weight", "BF16", [VOCAB, HIDDEN]))
    return t


def safetensors_bytes():
    rng = SplitMix64(SEED)
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, dtype, shape in tensors():
        count = 1
        for d in shape:
            count *= d
        data = ones_f32(count) if dtype == "F32" else normal_bf16(rng, count)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def config_json():
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5,
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": False,
        "_generated_by": "testdata/models/make_model.py",
    }
    return (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode()


def tokenizer_txt():
    specials = ["<unk>", "<s>", "</s>"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    toks = list(specials) + list(letters)
    for a in letters:
        for b in letters:
            toks.append(a + b)
    i = 0
    while len(toks) < VOCAB:
        toks.append(f"<extra_{i}>")
        i += 1
    return ("\n".join(toks[:VOCAB]) + "\n").encode()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "tiny")
    os.makedirs(out, exist_ok=True)
    for name, data in (
        ("model.safetensors", safetensors_bytes()),
        ("config.json", config_json()),
        ("tokenizer.txt", tokenizer_txt()),
    ):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()

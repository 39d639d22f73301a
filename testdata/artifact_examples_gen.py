#!/usr/bin/env python3
"""Builds the worked examples of spec/artifact.md (unencrypted model) so that their
digests agree: manifest -> config, index layer -> index -> chunk layers; and the
encrypted config, which embeds the key envelope of spec/encryption.md §4.5.
Digests of plaintext chunks are stand-ins (sha256 of a label): the examples show the
format, not real model bytes. Prints the four fenced blocks; testdata/artifact_vectors_gen.py
imports `examples()` to build the artifact_* vectors."""
import hashlib, json, math, os

def d(b): return "sha256:" + hashlib.sha256(b).hexdigest()
def fake(label): return d(label.encode())
SEG = 1 << 20
def layer_size(length, ratio):  # unencrypted records: 6-byte header + body
    return math.ceil(length * ratio) + 6 * math.ceil(length / SEG)

chunks = [  # (file, offset, length, layout, ratio)
    ("config.json", 0, 1234, "bytes", 0.45),
    ("model.safetensors", 0, 1048584, "bf16", 0.70),
    ("model.safetensors", 1048584, 67108864, "bf16", 0.69),
    ("model.safetensors", 68157448, 33554432, "bf16", 0.69),
]
files = {"config.json": (1234, 0o644), "model.safetensors": (101711880, 0o644)}
layers = []
idx = {"formatVersion": 2, "files": []}
for path in sorted(files):
    size, mode = files[path]
    cl = []
    for (f, off, ln, lay, r) in chunks:
        if f != path: continue
        ls = layer_size(ln, r)
        layer = fake(f"example layer {path} {off}")
        layers.append((layer, ls))
        cl.append({"offset": off, "length": ln, "digest": fake(f"example chunk {path} {off}"),
                   "layer": layer, "layerSize": ls, "layout": lay})
    idx["files"].append({"path": path, "size": size, "mode": mode,
                         "digest": fake(f"example file {path}"), "chunks": cl})
index = json.dumps(idx, indent=2)
config_doc = {
    "formatVersion": 2,
    "algorithms": {"digest": "sha256", "aead": "none", "kdf": "none", "compression": "planes-zstd-v1"},
    "segmentSize": SEG,
}
config = json.dumps(config_doc, indent=2)

def envelope_example():
    """The envelope worked example of spec/encryption.md §4.5."""
    here = os.path.dirname(os.path.abspath(__file__))
    doc = open(os.path.join(here, "..", "spec", "encryption.md")).read()
    at = doc.index("<!-- example: envelope -->")
    start = doc.index("```json\n", at) + len("```json\n")
    return json.loads(doc[start:doc.index("```", start)])

config_encrypted = json.dumps(dict(config_doc,
    algorithms={"digest": "sha256", "aead": "aes-256-gcm", "kdf": "hkdf-sha256", "compression": "planes-zstd-v1"},
    keyEnvelope=envelope_example()), indent=2)
manifest = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": "application/vnd.pqreg.model.v1",
    "config": {"mediaType": "application/vnd.pqreg.config.v1+json", "digest": d(config.encode()), "size": len(config.encode())},
    "layers": [{"mediaType": "application/vnd.pqreg.index.v1+json", "digest": d(index.encode()), "size": len(index.encode())}]
      + [{"mediaType": "application/vnd.pqreg.chunk.v1+zstd", "digest": l, "size": s} for (l, s) in layers],
    "annotations": {"org.opencontainers.image.title": "example-model", "org.opencontainers.image.version": "1.0"},
}, indent=2)
def examples():
    return {"manifest": manifest, "config": config, "index": index, "config-encrypted": config_encrypted}

if __name__ == "__main__":
    for name, doc in examples().items():
        print(f"<!-- example: {name} -->\n```json\n{doc}\n```\n")

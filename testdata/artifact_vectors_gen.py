#!/usr/bin/env python3
"""Writes the testdata/artifact_*.json vectors: each is a worked example of spec/artifact.md
(from artifact_examples_gen.py) with one change, and the outcome spec/tests/artifact_vectors.rs
expects ("ok" or the FormatError variant). Run from anywhere; rewrites every vector."""
import base64, glob, hashlib, json, os

from artifact_examples_gen import examples

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "pqreg: spec/artifact.md worked example (testdata/artifact_examples_gen.py), one change"
EX = examples()


def once(doc, old, new):
    assert doc.count(old) >= 1, old
    return doc.replace(old, new, 1)


def key(label):
    """A stand-in chunk key: base64 of SHA-256 of a label (32 bytes)."""
    return base64.b64encode(hashlib.sha256(label.encode()).digest()).decode()


def keyed_index(edit=None):
    """The index example as an encrypted model's index (a key per chunk), after `edit`."""
    idx = json.loads(EX["index"])
    for f in idx["files"]:
        for c in f["chunks"]:
            c["key"] = key(f"example key {f['path']} {c['offset']}")
    if edit:
        edit(idx)
    return json.dumps(idx, indent=2)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def noncanonical(k):
    """`k` (44 chars, one '=') with one of the two unused trailing bits set."""
    return k[:42] + B64[B64.index(k[42]) ^ 1] + "="


def copy_of_config(change):
    """Adds copy.json, a file with config.json's chunk entry, with `change` applied to it."""
    def edit(idx):
        f = json.loads(json.dumps(idx["files"][0]))
        f["path"] = "copy.json"
        change(f["chunks"][0])
        idx["files"].insert(1, f)
    return edit


def set_key(value):
    def change(c):
        c["key"] = value
    return change


cfg, idx = EX["config"], EX["index"]
CASES = {
    # config
    "config_ok": ("config", "the worked example", "ok", cfg),
    "config_encrypted_ok": ("config", "the encrypted worked example", "ok", EX["config-encrypted"]),
    "config_duplicate_key": ("config", "two parsers, two meanings", "DuplicateKey",
                             once(cfg, '"segmentSize": 1048576', '"segmentSize": 1048576,\n  "segmentSize": 65536')),
    "config_envelope_missing": ("config", "encrypted algorithms, no keyEnvelope", "EncryptionMode",
                                once(once(cfg, '"aead": "none"', '"aead": "aes-256-gcm"'), '"kdf": "none"', '"kdf": "hkdf-sha256"')),
    "config_unknown_field": ("config", "strict document", "UnknownField",
                             once(cfg, '"formatVersion": 2,', '"formatVersion": 2,\n  "compressionLevel": 3,')),
    "config_version1": ("config", "format version 1 (plaintext index digest in the config) is refused", "FormatVersion",
                        once(cfg, '"formatVersion": 2,', '"formatVersion": 1,')),
    "config_version3": ("config", "future format version", "FormatVersion",
                        once(cfg, '"formatVersion": 2,', '"formatVersion": 3,')),
    "config_index_field": ("config", "version 1's index field (the plaintext index digest) is gone", "UnknownField",
                           once(cfg, '"segmentSize": 1048576', '"segmentSize": 1048576,\n  "index": {\n    "digest": "sha256:3e9c939966db8c3761048c2dca47c6ea89b82d3a15c3fe4f49f184755ade7153",\n    "size": 1740\n  }')),
    # index
    "index_ok": ("index", "the worked example", "ok", idx),
    "index_keys_ok": ("index", "the worked example with a key per chunk (an encrypted model's index)", "ok", keyed_index()),
    "index_version1": ("index", "format version 1 is refused", "FormatVersion",
                       once(idx, '"formatVersion": 2,', '"formatVersion": 1,')),
    "index_absolute_path": ("index", "absolute path", "BadPath", once(idx, '"path": "config.json"', '"path": "/config.json"')),
    "index_case_duplicate": ("index", "paths equal ignoring ASCII case", "DuplicatePath",
                             once(idx, '"path": "config.json"', '"path": "MODEL.SAFETENSORS"')),
    "index_chunk_gap": ("index", "chunk starts one byte late", "ChunkGap", once(idx, '"offset": 1048584', '"offset": 1048585')),
    "index_chunk_overlap": ("index", "chunk starts one byte early", "ChunkOverlap", once(idx, '"offset": 1048584', '"offset": 1048583')),
    "index_duplicate_path": ("index", "two files with one path", "DuplicatePath",
                             once(idx, '"path": "config.json"', '"path": "model.safetensors"')),
    "index_path_traversal": ("index", "path escapes the output directory", "BadPath",
                             once(idx, '"path": "config.json"', '"path": "../config.json"')),
    "index_size_mismatch": ("index", "chunks end before the file does", "FileSizeMismatch",
                            once(idx, '"size": 101711880', '"size": 101711881')),
    "index_trailing": ("index", "a second JSON value", "TrailingData", idx + "\n{}"),
    "index_unknown_field": ("index", "strict document", "UnknownField",
                            once(idx, '"formatVersion": 2,', '"formatVersion": 2,\n  "comment": "x",')),
    "index_chunk_shared": ("index", "a chunk listed twice with one layer and key (equal files)", "ok",
                           keyed_index(copy_of_config(lambda c: None))),
    "index_key_conflict": ("index", "one chunk digest listed with two keys", "ChunkConflict",
                           keyed_index(copy_of_config(set_key(key("another key"))))),
    "index_layer_shared": ("index", "two chunk digests in one layer", "ChunkConflict",
                           keyed_index(copy_of_config(lambda c: c.update(digest="sha256:" + hashlib.sha256(b"other").hexdigest())))),
    "index_key_not_base64": ("index", "a chunk key that is not base64", "Schema",
                             keyed_index(copy_of_config(set_key("not base64!")))),
    "index_key_short": ("index", "a chunk key of 16 bytes", "Schema",
                        keyed_index(copy_of_config(set_key(base64.b64encode(bytes(16)).decode())))),
    "index_key_noncanonical": ("index", "a chunk key in non-canonical base64 (non-zero trailing bits)", "Schema",
                               keyed_index(copy_of_config(set_key(noncanonical(key("x")))))),
}

if __name__ == "__main__":
    for old in glob.glob(os.path.join(HERE, "artifact_*.json")):
        os.remove(old)
    for name, (kind, note, expect, doc) in CASES.items():
        v = {"source": SOURCE, "note": note, "document_type": kind, "expect": expect, "document": doc}
        with open(os.path.join(HERE, f"artifact_{name}.json"), "w") as f:
            f.write(json.dumps(v, indent=2) + "\n")
    print(f"{len(CASES)} vectors written")

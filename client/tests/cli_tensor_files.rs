//! spec/artifact.md §6 for padded safetensors and GGUF files, end to end: the real `pqreg`
//! binary pushes to the real `pqreg-registry` on 127.0.0.1, a tensor changes, and the
//! re-push uploads only that tensor's chunk; the pulled files are byte-identical.
//!
//! - A safetensors file with 4 bytes of padding before the first tensor, 3-byte gaps
//!   between tensors and 1 trailing byte (valid for the spec, refused by the reference
//!   library): tensor-aligned, each tensor owning its padding (it was FastCDC before).
//! - A GGUF v3 file written by llama.cpp's `gguf` package (testdata/models/make_gguf.py):
//!   header chunk plus tensor chunks, F32/F16/BF16 in their layouts, Q8_0 in `bytes` (it
//!   was FastCDC before). A metadata change re-uploads only the header chunk.
//!
//! The chunk layout comes from the client's planner (the one the packer runs); the bytes
//! from the push's JSON. Run with `--nocapture` to see the measurements.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pqreg::chunker::safetensors::Dtype;
use pqreg::chunker::synth::{SplitMix64, fill_bf16_normal};
use pqreg::chunker::{ChunkKind, Method, PlanParams, plan_file};
use pqreg_spec::compress::Layout;
use serde_json::Value;

use crate::cli_common;
use crate::cli_common::{Home, files, ok, policy};
use crate::registry_common::{Registry, start};

const MIB: u64 = 1 << 20;

/// A safetensors file whose tensors are separated by padding: `lead` bytes before the
/// first, `gap` between two, `trailing` after the last. Tensor `changed` gets other values.
fn padded_safetensors(path: &Path, changed: Option<&str>) {
    let tensors: [(&str, Dtype, u64); 5] = [
        ("model.layers.0.mlp.up_proj.weight", Dtype::BF16, MIB),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Dtype::F32,
            MIB / 2,
        ),
        (
            "model.layers.0.self_attn.k_proj.weight",
            Dtype::F16,
            768 * 1024,
        ),
        ("model.layers.0.input_layernorm.weight", Dtype::F32, 1024),
        ("model.norm.weight", Dtype::F32, 1024),
    ];
    let (lead, gap, trailing) = (4u64, 3u64, 1usize);
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut at = lead;
    let mut data = vec![0u8; lead as usize];
    for (i, (name, dtype, n)) in tensors.iter().enumerate() {
        if i > 0 {
            at += gap;
            data.resize(data.len() + gap as usize, 0);
        }
        let len = n * dtype.size();
        header.insert(
            (*name).into(),
            serde_json::json!({"dtype": dtype.name(), "shape": [n], "data_offsets": [at, at + len]}),
        );
        let seed = if changed == Some(*name) { 99 } else { i as u64 };
        let mut rng = SplitMix64(seed);
        let start = data.len();
        data.resize(start + len as usize, 0);
        match dtype {
            Dtype::BF16 => fill_bf16_normal(&mut rng, 0.02, &mut data[start..]),
            _ => rng.fill(&mut data[start..]),
        }
        at += len;
    }
    data.resize(data.len() + trailing, 0);
    let json = serde_json::Value::Object(header).to_string();
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(json.as_bytes());
    file.extend_from_slice(&data);
    std::fs::write(path, file).unwrap();
}

/// A Python that can `import gguf` (`$PQREG_TEST_PYTHON`, else the workspace's `.venv`,
/// where .ci/setup installs it); `None` skips the GGUF test outside CI.
fn gguf_python() -> Option<PathBuf> {
    cli_common::tools::python_with("gguf")
}

fn make_gguf(py: &Path, out: &Path, extra: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/models/make_gguf.py");
    let o = Command::new(py)
        .arg(script)
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    ok(&o);
}

struct Env {
    reg: Registry,
    home: Home,
}

impl Env {
    fn new() -> Env {
        let reg = start();
        let home = Home::new();
        policy(
            &home.path().join("trust.toml"),
            &home.path().join("signer.pub"),
            &format!("{}/models/*", reg.addr),
        );
        Env { reg, home }
    }

    /// Pushes `dir` to the one tag `models/t:latest` (a re-push with `--identity` reuses
    /// the chunks of the version the tag points to).
    fn push(&self, dir: &Path, again: bool) -> Value {
        let r = format!("{}/models/t:latest", self.reg.addr);
        let id = self.home.p("rcpt.key");
        let extra: &[&str] = if again { &["--identity", &id] } else { &[] };
        serde_json::from_str(&ok(&self.home.push(dir, &r, "signer.key", extra))).unwrap()
    }

    /// Pulls `models/t:latest` into `out` and compares it with `dir`.
    fn pull_matches(&self, out: &str, dir: &Path) {
        let r = format!("{}/models/t:latest", self.reg.addr);
        ok(&self.home.pull(&r, out, "rcpt.key", &[]));
        assert!(files(&self.home.path().join(out)) == files(dir), "{out}");
    }
}

/// The plan the packer makes of `path`: (kind, length, layout) per chunk.
fn layout_of(path: &Path) -> (Method, Vec<(ChunkKind, u64, Layout)>) {
    let plan = plan_file(path, &PlanParams::default()).unwrap();
    let chunks = plan
        .chunks
        .iter()
        .map(|c| (c.kind, c.len, c.layout))
        .collect();
    (plan.method, chunks)
}

fn show(what: &str, plan: &[(ChunkKind, u64, Layout)], v1: &Value, v2: &Value) {
    println!("{what}: chunks {plan:?}");
    println!(
        "{what}: first push uploaded {} bytes in {} chunk blobs; after one tensor changed: {} bytes, {} new chunk blobs, {} chunks reused",
        v1["uploaded_bytes"],
        v1["new_chunk_blobs"],
        v2["uploaded_bytes"],
        v2["new_chunk_blobs"],
        v2["reused_chunks"]
    );
}

#[test]
fn padded_safetensors_chunk_by_tensor_and_repush_one() {
    let env = Env::new();
    let dir = env.home.path().join("st");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("model.safetensors");
    padded_safetensors(&file, None);
    let (method, plan) = layout_of(&file);
    assert!(matches!(method, Method::Safetensors), "{method:?}");
    let kinds: Vec<_> = plan.iter().map(|c| (c.0, c.2)).collect();
    assert_eq!(
        kinds,
        [
            (ChunkKind::Header, Layout::Bytes),
            (ChunkKind::Tensors, Layout::Bf16),
            (ChunkKind::Tensors, Layout::Fp32),
            (ChunkKind::Tensors, Layout::Fp16),
            (ChunkKind::Tensors, Layout::Fp32),
        ]
    );
    // Each tensor owns the padding after it; the first also the 4 bytes before it.
    assert_eq!(plan[1].1, 4 + 2 * MIB + 3);
    assert_eq!(plan[2].1, 2 * MIB + 3);
    assert_eq!(plan[4].1, 4096 + 3 + 4096 + 1);
    let v1 = env.push(&dir, false);
    assert_eq!(v1["chunks"], plan.len(), "{v1}");

    padded_safetensors(&file, Some("model.layers.0.self_attn.q_proj.weight"));
    let v2 = env.push(&dir, true);
    show("padded safetensors", &plan, &v1, &v2);
    assert_eq!(v2["new_chunk_blobs"], 1, "{v2}");
    assert_eq!(v2["reused_chunks"], plan.len() - 1, "{v2}");
    // The changed tensor's chunk (about 2 MiB, its fp32 noise barely compresses) plus the
    // small documents: well under the first push.
    let up = v2["uploaded_bytes"].as_u64().unwrap();
    assert!(up < 2 * MIB + 256 * 1024, "{v2}");
    assert!(up * 2 < v1["uploaded_bytes"].as_u64().unwrap(), "{v1} {v2}");
    env.pull_matches("out2", &dir);
}

#[test]
fn gguf_chunks_by_tensor_and_repush_one() {
    let Some(py) = gguf_python() else { return };
    let env = Env::new();
    let dir = env.home.path().join("gguf");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("model.gguf");
    make_gguf(&py, &file, &[]);
    let (method, plan) = layout_of(&file);
    assert!(matches!(method, Method::Gguf), "{method:?}");
    let got: Vec<_> = plan.iter().map(|c| (c.0, c.2)).collect();
    assert_eq!(
        got,
        [
            (ChunkKind::Header, Layout::Bytes),
            (ChunkKind::Tensors, Layout::Fp32),
            (ChunkKind::Tensors, Layout::Fp16),
            (ChunkKind::Tensors, Layout::Bf16),
            (ChunkKind::Tensors, Layout::Bytes),
            (ChunkKind::Tensors, Layout::Fp32),
        ],
        "{plan:?}"
    );
    assert_eq!(plan[1].1, 2 * MIB);
    let v1 = env.push(&dir, false);
    assert_eq!(v1["chunks"], plan.len(), "{v1}");
    env.pull_matches("out1", &dir);

    make_gguf(&py, &file, &["--change", "blk.0.attn_q.weight"]);
    let v2 = env.push(&dir, true);
    show("gguf", &plan, &v1, &v2);
    assert_eq!(v2["new_chunk_blobs"], 1, "{v2}");
    assert_eq!(v2["reused_chunks"], plan.len() - 1, "{v2}");
    let up = v2["uploaded_bytes"].as_u64().unwrap();
    assert!(up < 2 * MIB + 256 * 1024, "{v2}");
    env.pull_matches("out2", &dir);

    // New metadata moves the data start: only the header chunk is new.
    make_gguf(
        &py,
        &file,
        &[
            "--change",
            "blk.0.attn_q.weight",
            "--name",
            "a longer model name, v3",
        ],
    );
    let v3 = env.push(&dir, true);
    println!(
        "gguf: after a metadata change: {} bytes, {} new chunk blobs",
        v3["uploaded_bytes"], v3["new_chunk_blobs"]
    );
    assert_eq!(v3["new_chunk_blobs"], 1, "{v3}");
    assert!(v3["uploaded_bytes"].as_u64().unwrap() < 256 * 1024, "{v3}");
    env.pull_matches("out3", &dir);
}

/// The header limit and the dtype table are the spec crate's (issue 13: one rule).
#[test]
fn the_client_uses_the_spec_rule() {
    use pqreg_spec::artifact::chunking::{MAX_HEADER_LEN, TensorParams};
    assert_eq!(pqreg::chunker::MAX_HEADER_LEN, MAX_HEADER_LEN);
    assert_eq!(
        PlanParams::ARTIFACT_V1.tensor_params(),
        TensorParams::ARTIFACT_V1
    );
    assert_eq!(
        PlanParams::default().tensor_params(),
        TensorParams::ARTIFACT_V1
    );
}

use std::collections::{BTreeMap, HashSet};

use super::safetensors::{Dtype, SafetensorsError, build_header};
use super::synth::{ModelShape, build_model, changed_tenth, plan_fixed, reused_bytes};
use pqreg_spec::compress::Layout;

use super::*;

const KIB: u64 = 1024;

fn params(target: u64, small: u64) -> PlanParams {
    PlanParams {
        target,
        small_tensor: small,
        cdc_min: 1024,
        cdc_avg: 4096,
        cdc_max: 16384,
    }
}

fn header(tensors: &[(&str, Dtype, &[u64])]) -> (Vec<u8>, Header) {
    let mut bytes = build_header(&BTreeMap::new(), tensors);
    let data: u64 = tensors
        .iter()
        .map(|(_, d, s)| s.iter().product::<u64>() * d.size())
        .sum();
    bytes.resize(bytes.len() + data as usize, 7);
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    (bytes, h)
}

/// The chunks tile the file exactly, in order, with no empty chunk.
fn assert_tiles(plan: &[ChunkSpec], file_len: u64) {
    let mut at = 0;
    for c in plan {
        assert_eq!(c.offset, at, "{plan:?}");
        assert!(c.len > 0);
        at += c.len;
    }
    assert_eq!(at, file_len);
}

#[test]
fn tensor_aligned_plan() {
    let (bytes, h) = header(&[
        ("n1", Dtype::F32, &[4]),      // 16 B, small
        ("n2", Dtype::F32, &[4]),      // 16 B, small: grouped with n1
        ("big", Dtype::BF16, &[1000]), // 2000 B > target: split
        ("mid", Dtype::BF16, &[300]),  // 600 B: alone
        ("e", Dtype::F32, &[0]),       // empty: no chunk
        ("n3", Dtype::F32, &[4]),      // small
        ("n4", Dtype::BF16, &[8]),     // small, other dtype: same group, hint None
    ]);
    let plan = plan_safetensors(&h, &params(768, 64));
    assert_tiles(&plan, bytes.len() as u64);
    let shape: Vec<_> = plan.iter().map(|c| (c.kind, c.len, c.layout)).collect();
    assert_eq!(
        shape,
        [
            (ChunkKind::Header, h.data_start(), Layout::Bytes),
            (ChunkKind::Tensors, 32, Layout::Fp32),
            // 2000 B in pieces of exactly T from the tensor's start, the last shorter.
            (ChunkKind::TensorPiece, 768, Layout::Bf16),
            (ChunkKind::TensorPiece, 768, Layout::Bf16),
            (ChunkKind::TensorPiece, 464, Layout::Bf16),
            (ChunkKind::Tensors, 600, Layout::Bf16),
            // The empty tensor and two of other dtypes: one group, no common layout.
            (ChunkKind::Tensors, 32, Layout::Bytes),
        ]
    );
}

#[test]
fn small_groups_stop_at_target() {
    let t: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let defs: Vec<(&str, Dtype, &[u64])> = t
        .iter()
        .map(|n| (n.as_str(), Dtype::U8, &[30u64][..]))
        .collect();
    let (bytes, h) = header(&defs);
    let plan = plan_safetensors(&h, &params(104, 64));
    assert_tiles(&plan, bytes.len() as u64);
    let lens: Vec<_> = plan[1..].iter().map(|c| c.len).collect();
    assert_eq!(lens, [90, 90, 90, 30]);
    let layouts: Vec<_> = plan.iter().map(ChunkSpec::layout).collect();
    assert_eq!(layouts, [Layout::Bytes; 5]);
}

#[test]
fn pieces_are_exactly_the_target() {
    let (bytes, h) = header(&[("x", Dtype::F64, &[100])]);
    for target in [8, 16, 96, 792] {
        let plan = plan_safetensors(&h, &params(target, 8));
        assert_tiles(&plan, bytes.len() as u64);
        let (last, full) = plan[1..].split_last().unwrap();
        assert!(full.iter().all(|c| c.len == target), "{target}: {plan:?}");
        assert!(last.len <= target && last.len % 8 == 0);
        assert!(plan[1..].iter().all(|c| c.layout() == Layout::Bytes));
    }
}

#[test]
fn layouts_follow_dtypes() {
    let (_, h) = header(&[
        ("a", Dtype::BF16, &[4]),
        ("b", Dtype::F16, &[4]),
        ("c", Dtype::F32, &[4]),
        ("d", Dtype::I8, &[4]),
    ]);
    // Every tensor alone (small_tensor 8 B): one layout each.
    let plan = plan_safetensors(&h, &params(64, 8));
    let layouts: Vec<_> = plan.iter().map(ChunkSpec::layout).collect();
    assert_eq!(
        layouts,
        [
            Layout::Bytes,
            Layout::Bf16,
            Layout::Fp16,
            Layout::Fp32,
            Layout::Bytes
        ]
    );
}

#[test]
fn cdc_plan_tiles_and_is_content_defined() {
    let mut data = vec![0u8; 200_000];
    synth::SplitMix64(1).fill(&mut data);
    let p = params(KIB, 16);
    let a = plan_cdc(&data[..], &p).unwrap();
    assert_tiles(&a, data.len() as u64);
    assert!(a.iter().all(|c| c.kind == ChunkKind::Cdc && c.len <= 16384));
    // Inserting bytes at the front moves offsets but keeps later chunks' contents.
    let mut shifted = vec![9u8; 100];
    shifted.extend_from_slice(&data);
    let b = plan_cdc(&shifted[..], &p).unwrap();
    let reused = reused_bytes(&data, &a, &shifted, &b);
    assert!(reused as f64 > 0.9 * data.len() as f64, "{reused}");
    assert!(plan_cdc(&[][..], &p).unwrap().is_empty());
}

#[test]
fn params_are_validated() {
    let d = PlanParams::default();
    assert!(d.validate().is_ok());
    let bad = [
        PlanParams {
            cdc_max: 32 * 1024 * 1024,
            ..d
        },
        PlanParams {
            small_tensor: d.target + 1,
            ..d
        },
        PlanParams {
            cdc_avg: d.cdc_min - 2,
            ..d
        },
        PlanParams {
            cdc_min: 1023,
            cdc_avg: 4095,
            ..params(8, 8)
        },
        PlanParams { target: 4, ..d },
        PlanParams {
            target: 100,
            small_tensor: 8,
            ..d
        },
        PlanParams {
            target: (1 << 30) + 8,
            ..d
        },
    ];
    for p in bad {
        assert!(
            matches!(p.validate(), Err(ChunkError::BadParams(_))),
            "{p:?}"
        );
    }
}

#[test]
fn plan_file_dispatches_on_extension() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, h) = header(&[("a", Dtype::F32, &[1000])]);
    let st = dir.path().join("m.safetensors");
    std::fs::write(&st, &bytes).unwrap();
    let plan = plan_file(&st, &PlanParams::default()).unwrap();
    assert!(matches!(plan.method, Method::Safetensors));
    assert_eq!(plan.chunks, plan_safetensors(&h, &PlanParams::default()));
    assert_eq!(plan.len, bytes.len() as u64);
    let other = dir.path().join("m.bin");
    std::fs::write(&other, &bytes).unwrap();
    let plan = plan_file(&other, &PlanParams::default()).unwrap();
    assert!(matches!(plan.method, Method::Cdc));
    assert_eq!(plan.chunks.len(), 1);
    assert_eq!(plan.chunks[0].kind, ChunkKind::Cdc);
    // A malformed .safetensors is chunked as an other file (spec/artifact.md section 6),
    // and the reason is kept for a warning.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, &bytes[..bytes.len() - 1]).unwrap();
    let plan = plan_file(&bad, &PlanParams::default()).unwrap();
    assert!(matches!(
        plan.method,
        Method::CdcFallback(pqreg_spec::oci::FormatError::Safetensors(
            SafetensorsError::PastEnd { .. }
        ))
    ));
    assert_tiles(&plan.chunks, bytes.len() as u64 - 1);
    assert!(plan.chunks.iter().all(|c| c.kind == ChunkKind::Cdc));
    assert!(matches!(
        plan_file(&dir.path().join("missing"), &PlanParams::default()),
        Err(ChunkError::Io { .. })
    ));
}

/// DESIGN.md's dedup claim: a fine-tune that changed 10% of the tensors re-uploads about
/// 10% of the bytes with tensor-aligned chunks, also when the header changed; fixed-size
/// chunking reuses nothing once the header changes length.
#[test]
fn dedup_ten_percent_of_tensors_changed() {
    // Scaled down: target 256 KiB, small 16 KiB; lm_head and embeddings are split.
    let shape = ModelShape {
        layers: 8,
        hidden: 128,
        ffn: 512,
        vocab: 2048,
        dtype: Dtype::BF16,
    };
    let p = params(256 * KIB, 16 * KIB);
    let n = shape.tensors().len();
    let none = HashSet::new();
    let changed = changed_tenth(n, 42);
    let meta = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    let mut meta2 = meta.clone();
    meta2.insert("fine_tuned_from".into(), "org/base@sha256:0123".into());
    let (old, _) = build_model(&shape, &meta, 1, &none, 2);
    let (same_hdr, changed_bytes) = build_model(&shape, &meta, 1, &changed, 2);
    let (new_hdr, _) = build_model(&shape, &meta2, 1, &changed, 2);
    assert_ne!(old.len(), new_hdr.len());
    let total = old.len() as f64;
    let ideal = 1.0 - changed_bytes as f64 / total;
    let plan = |b: &[u8]| plan_safetensors(&Header::parse(b, b.len() as u64).unwrap(), &p);
    let frac = |a: &[u8], b: &[u8], pa: &[ChunkSpec], pb: &[ChunkSpec]| {
        reused_bytes(a, pa, b, pb) as f64 / b.len() as f64
    };
    let (po, ps, pn) = (plan(&old), plan(&same_hdr), plan(&new_hdr));
    let tensor_same = frac(&old, &same_hdr, &po, &ps);
    let tensor_hdr = frac(&old, &new_hdr, &po, &pn);
    // spec/artifact.md section 6 as first written: every tensor under T grouped.
    let v1 = PlanParams {
        small_tensor: p.target,
        ..p
    };
    let plan_v1 = |b: &[u8]| plan_safetensors(&Header::parse(b, b.len() as u64).unwrap(), &v1);
    let v1_same = frac(&old, &same_hdr, &plan_v1(&old), &plan_v1(&same_hdr));
    let v1_hdr = frac(&old, &new_hdr, &plan_v1(&old), &plan_v1(&new_hdr));
    let fixed = |b: &[u8]| plan_fixed(b.len() as u64, p.target);
    let fixed_same = frac(&old, &same_hdr, &fixed(&old), &fixed(&same_hdr));
    let fixed_hdr = frac(&old, &new_hdr, &fixed(&old), &fixed(&new_hdr));
    println!(
        "{n} tensors, {} changed, {:.1} MiB: ideal {ideal:.3}; tensor-aligned {tensor_same:.3} \
         (header changed: {tensor_hdr:.3}); all tensors under T grouped (artifact.md v1) \
         {v1_same:.3} ({v1_hdr:.3}); fixed-size {fixed_same:.3} (header changed: {fixed_hdr:.3})",
        changed.len(),
        total / (1024.0 * 1024.0)
    );
    assert!(tensor_same >= 0.85, "{tensor_same}");
    assert!(tensor_hdr >= 0.85, "{tensor_hdr}");
    // Within one small group of the ideal: only the header and small-tensor groups differ.
    assert!(tensor_same >= ideal - 0.01, "{tensor_same} vs {ideal}");
    assert!(fixed_hdr < 0.05, "{fixed_hdr}");
    // Grouping medium tensors can only lose reuse, and the header change costs nothing.
    assert!(v1_same <= tensor_same + 1e-9 && (v1_same - v1_hdr).abs() < 0.01);
    assert!(fixed_same < tensor_same);
}

/// The committed fixture (testdata/models/make_model.py) parses and plans.
#[test]
fn plans_the_tiny_fixture_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/models/tiny");
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let h = Header::parse(&bytes, bytes.len() as u64).unwrap();
    assert_eq!(h.tensors.len(), 21);
    assert_eq!(h.metadata["format"], "pt");
    assert_eq!(h.tensors[0].name, "model.embed_tokens.weight");
    assert_eq!(h.tensors[0].dtype, Dtype::BF16);
    // Defaults: every tensor is small (< 1 MiB), so one mixed-dtype group after the header.
    let plan = plan_file(&path, &PlanParams::default()).unwrap().chunks;
    assert_tiles(&plan, bytes.len() as u64);
    assert_eq!(plan.len(), 2);
    assert_eq!(plan[1].layout, Layout::Bytes);
    // Scaled down: each projection alone, norms grouped with nothing else.
    let plan = plan_file(&path, &params(256 * KIB, 16 * KIB))
        .unwrap()
        .chunks;
    assert_tiles(&plan, bytes.len() as u64);
    assert!(
        plan.iter()
            .filter(|c| c.kind == ChunkKind::TensorPiece)
            .count()
            >= 4
    );
    // The other files go through FastCDC.
    let cfg = plan_file(&dir.join("config.json"), &PlanParams::default()).unwrap();
    assert!(matches!(cfg.method, Method::Cdc));
    assert_eq!(cfg.chunks.len(), 1);
}

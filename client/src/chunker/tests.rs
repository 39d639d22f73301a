use std::collections::{BTreeMap, HashSet};

use super::safetensors::build_header;
use super::synth::{ModelShape, build_model, changed_tenth, plan_fixed, reused_bytes};
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
    let shape: Vec<_> = plan.iter().map(|c| (c.kind, c.len, c.dtype)).collect();
    assert_eq!(
        shape,
        [
            (ChunkKind::Header, h.data_start(), None),
            (ChunkKind::Tensors, 32, Some(Dtype::F32)),
            // 2000 B in ceil(1000 / 384) = 3 equal pieces of whole bf16 elements.
            (ChunkKind::TensorPiece, 668, Some(Dtype::BF16)),
            (ChunkKind::TensorPiece, 668, Some(Dtype::BF16)),
            (ChunkKind::TensorPiece, 664, Some(Dtype::BF16)),
            (ChunkKind::Tensors, 600, Some(Dtype::BF16)),
            (ChunkKind::Tensors, 32, None),
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
    let plan = plan_safetensors(&h, &params(100, 64));
    assert_tiles(&plan, bytes.len() as u64);
    let lens: Vec<_> = plan[1..].iter().map(|c| c.len).collect();
    assert_eq!(lens, [90, 90, 90, 30]);
}

#[test]
fn pieces_never_exceed_target_for_odd_targets() {
    let (bytes, h) = header(&[("x", Dtype::F64, &[100])]);
    for target in [8, 9, 15, 17, 100, 799] {
        let plan = plan_safetensors(&h, &params(target, 8));
        assert_tiles(&plan, bytes.len() as u64);
        for c in &plan[1..] {
            assert!(c.len <= target.max(8), "{target}: {plan:?}");
            assert_eq!(c.len % 8, 0);
        }
    }
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
    assert_eq!(plan, plan_safetensors(&h, &PlanParams::default()));
    let other = dir.path().join("m.bin");
    std::fs::write(&other, &bytes).unwrap();
    let plan = plan_file(&other, &PlanParams::default()).unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].kind, ChunkKind::Cdc);
    // A malformed .safetensors is refused, with the file named.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(
        plan_file(&bad, &PlanParams::default()),
        Err(ChunkError::Safetensors {
            source: SafetensorsError::DataLenMismatch { .. },
            ..
        })
    ));
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
    let fixed = |b: &[u8]| plan_fixed(b.len() as u64, p.target);
    let fixed_same = frac(&old, &same_hdr, &fixed(&old), &fixed(&same_hdr));
    let fixed_hdr = frac(&old, &new_hdr, &fixed(&old), &fixed(&new_hdr));
    println!(
        "{n} tensors, {} changed, {:.1} MiB: ideal {ideal:.3}; tensor-aligned {tensor_same:.3} \
         (header changed: {tensor_hdr:.3}); fixed-size {fixed_same:.3} (header changed: {fixed_hdr:.3})",
        changed.len(),
        total / (1024.0 * 1024.0)
    );
    assert!(tensor_same >= 0.85, "{tensor_same}");
    assert!(tensor_hdr >= 0.85, "{tensor_hdr}");
    // Within one small group of the ideal: only the header and small-tensor groups differ.
    assert!(tensor_same >= ideal - 0.01, "{tensor_same} vs {ideal}");
    assert!(fixed_hdr < 0.05, "{fixed_hdr}");
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
    let plan = plan_file(&path, &PlanParams::default()).unwrap();
    assert_tiles(&plan, bytes.len() as u64);
    assert_eq!(plan.len(), 2);
    assert_eq!(plan[1].dtype, None);
    // Scaled down: each projection alone, norms grouped with nothing else.
    let plan = plan_file(&path, &params(256 * KIB, 16 * KIB)).unwrap();
    assert_tiles(&plan, bytes.len() as u64);
    assert!(
        plan.iter()
            .filter(|c| c.kind == ChunkKind::TensorPiece)
            .count()
            >= 4
    );
    // The other files go through FastCDC.
    let cfg = plan_file(&dir.join("config.json"), &PlanParams::default()).unwrap();
    assert_eq!(cfg.len(), 1);
}

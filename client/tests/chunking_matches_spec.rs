//! The client's tensor-aligned planner with `PlanParams::ARTIFACT_V1` cuts exactly where
//! `pqreg_spec::artifact::chunking::plan_safetensors` (spec/artifact.md section 6) cuts:
//! same offsets, lengths and layouts, on the committed fixture and on headers of
//! transformer shapes from 43 MB to 12 GB (only headers are built; neither planner reads
//! tensor data). Guards against the two implementations drifting apart.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pqreg::chunker::safetensors::{Dtype, Header, build_header};
use pqreg::chunker::synth::ModelShape;
use pqreg::chunker::{PlanParams, plan_safetensors};

fn headers() -> Vec<(Vec<u8>, u64)> {
    let tiny_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/models/tiny/model.safetensors");
    let tiny = std::fs::read(tiny_path).unwrap();
    let n = u64::from_le_bytes(tiny[..8].try_into().unwrap()) as usize;
    let mut out = vec![(tiny[..8 + n].to_vec(), tiny.len() as u64)];
    let shapes = [
        (2, 4096, 11008, 32000, Dtype::BF16),
        (8, 1024, 2816, 32000, Dtype::BF16),
        (4, 8192, 28672, 128256, Dtype::F16),
        (3, 512, 1408, 1000, Dtype::F32),
    ];
    for (layers, hidden, ffn, vocab, dtype) in shapes {
        let defs = ModelShape {
            layers,
            hidden,
            ffn,
            vocab,
            dtype,
        }
        .tensors();
        let refs: Vec<(&str, Dtype, &[u64])> = defs
            .iter()
            .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
            .collect();
        let header = build_header(&BTreeMap::new(), &refs);
        let data: u64 = defs
            .iter()
            .map(|(_, d, s)| s.iter().product::<u64>() * d.size())
            .sum();
        let len = header.len() as u64 + data;
        out.push((header, len));
    }
    out
}

#[test]
fn artifact_v1_params_cut_like_the_spec() {
    for (header, len) in headers() {
        let ours = plan_safetensors(
            &Header::parse(&header, len).unwrap(),
            &PlanParams::ARTIFACT_V1,
        );
        let spec = pqreg_spec::artifact::chunking::plan_safetensors(&header, len).unwrap();
        let a: Vec<_> = ours.iter().map(|c| (c.offset, c.len, c.layout())).collect();
        let b: Vec<_> = spec
            .iter()
            .map(|p| (p.offset, p.length, p.layout))
            .collect();
        assert_eq!(a, b, "file of {len} bytes");
    }
}

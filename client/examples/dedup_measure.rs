//! Measures DESIGN.md's dedup claim on a synthetic safetensors model written to disk:
//! the fraction of a fine-tune's bytes that a re-push would not upload (its chunks'
//! plaintext digests already exist in the base model), when 10% of the tensors changed,
//! with and without a header change, for tensor-aligned chunks (the planner, run on the
//! files with `plan_file`, reading only the headers; with the default parameters and
//! grouping every tensor under the target, the rule spec/artifact.md first had), fixed-size chunks of the target
//! size, and FastCDC over the whole file.
//!
//! ```text
//! cargo run -p pqreg --example dedup_measure -- [--layers 8] [--hidden 1024] [--ffn 2816] [--vocab 32000] [--seed 42]
//! ```

use std::collections::{BTreeMap, HashSet};

use pqreg::chunker::safetensors::Dtype;
use pqreg::chunker::synth::{ModelShape, build_model, changed_tenth, plan_fixed, reused_bytes};
use pqreg::chunker::{PlanParams, plan_cdc, plan_file};

fn main() -> anyhow::Result<()> {
    let mut shape = ModelShape {
        layers: 8,
        hidden: 1024,
        ffn: 2816,
        vocab: 32000,
        dtype: Dtype::BF16,
    };
    let mut seed = 42;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            anyhow::bail!("flags take a value: --layers N --hidden N --ffn N --vocab N --seed N");
        };
        let v: u64 = value.parse()?;
        match flag.as_str() {
            "--layers" => shape.layers = v,
            "--hidden" => shape.hidden = v,
            "--ffn" => shape.ffn = v,
            "--vocab" => shape.vocab = v,
            "--seed" => seed = v,
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    let params = PlanParams::default();
    let n = shape.tensors().len();
    let changed = changed_tenth(n, seed);
    let meta = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    let mut meta2 = meta.clone();
    meta2.insert(
        "fine_tuned_from".into(),
        "registry.example/org/base@sha256:4f8f".into(),
    );
    let (base, _) = build_model(&shape, &meta, 1, &HashSet::new(), 2);
    let (tuned, changed_bytes) = build_model(&shape, &meta, 1, &changed, 2);
    let (tuned_hdr, _) = build_model(&shape, &meta2, 1, &changed, 2);

    let dir = tempfile::tempdir()?;
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<std::path::PathBuf> {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes)?;
        Ok(p)
    };
    let (pb, pt, ph) = (
        write("base.safetensors", &base)?,
        write("tuned.safetensors", &tuned)?,
        write("tuned_hdr.safetensors", &tuned_hdr)?,
    );
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "model: {n} tensors ({} changed), {:.1} MiB; target {} MiB, small tensor < {} MiB",
        changed.len(),
        mib(base.len()),
        params.target >> 20,
        params.small_tensor >> 20
    );
    println!(
        "ideal reuse (unchanged tensor bytes / file): {:.3}",
        1.0 - changed_bytes as f64 / tuned.len() as f64
    );
    let (tb, tt, th) = (
        plan_file(&pb, &params)?.chunks,
        plan_file(&pt, &params)?.chunks,
        plan_file(&ph, &params)?.chunks,
    );
    let frac = |old: &[u8], po: &[_], new: &[u8], pn: &[_]| {
        reused_bytes(old, po, new, pn) as f64 / new.len() as f64
    };
    println!(
        "{:<22} {:>8} {:>16} {:>8}",
        "chunking", "chunks", "same header", "new header"
    );
    println!(
        "{:<22} {:>8} {:>16.3} {:>8.3}",
        "tensor-aligned",
        tb.len(),
        frac(&base, &tb, &tuned, &tt),
        frac(&base, &tb, &tuned_hdr, &th)
    );
    let v1 = PlanParams {
        small_tensor: 64 << 20,
        ..PlanParams::default()
    };
    let (vb, vt, vh) = (
        plan_file(&pb, &v1)?.chunks,
        plan_file(&pt, &v1)?.chunks,
        plan_file(&ph, &v1)?.chunks,
    );
    println!(
        "{:<22} {:>8} {:>16.3} {:>8.3}",
        "all < T grouped (v1)",
        vb.len(),
        frac(&base, &vb, &tuned, &vt),
        frac(&base, &vb, &tuned_hdr, &vh)
    );
    let fixed = |b: &[u8]| plan_fixed(b.len() as u64, params.target);
    println!(
        "{:<22} {:>8} {:>16.3} {:>8.3}",
        "fixed 64 MiB",
        fixed(&base).len(),
        frac(&base, &fixed(&base), &tuned, &fixed(&tuned)),
        frac(&base, &fixed(&base), &tuned_hdr, &fixed(&tuned_hdr))
    );
    let cdc = |b: &[u8]| plan_cdc(b, &params);
    let (cb, ct, ch) = (cdc(&base)?, cdc(&tuned)?, cdc(&tuned_hdr)?);
    println!(
        "{:<22} {:>8} {:>16.3} {:>8.3}",
        "FastCDC 1/4/16 MiB",
        cb.len(),
        frac(&base, &cb, &tuned, &ct),
        frac(&base, &cb, &tuned_hdr, &ch)
    );
    Ok(())
}

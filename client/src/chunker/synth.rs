//! Synthetic safetensors models and the chunk-reuse measurement, for the dedup test,
//! `examples/dedup_measure.rs` and benchmarks. Not used by push or pull.
//!
//! A model is laid out like a decoder-only transformer exported by `transformers`
//! (embedding, per-layer norms, attention and MLP projections, final norm, LM head),
//! with pseudo-random contents from a fixed seed. A "fine-tune" regenerates a chosen 10%
//! of the tensors (by count) from another seed and may also change the header (a new
//! `__metadata__` entry, which changes the header's length and so shifts every tensor's
//! file offset).

use std::collections::{BTreeMap, HashSet};

use pqreg_spec::Digest;

use super::ChunkSpec;
use super::safetensors::{Dtype, build_header};

/// Shape of a synthetic model.
#[derive(Debug, Clone, Copy)]
pub struct ModelShape {
    /// Decoder layers.
    pub layers: u64,
    /// Hidden size.
    pub hidden: u64,
    /// MLP intermediate size.
    pub ffn: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Element type of the weights (norms are F32).
    pub dtype: Dtype,
}

/// One tensor of a synthetic model: name, dtype, shape.
pub type TensorDef = (String, Dtype, Vec<u64>);

impl ModelShape {
    /// The tensors, in file order.
    pub fn tensors(&self) -> Vec<TensorDef> {
        let (h, f, d) = (self.hidden, self.ffn, self.dtype);
        let mut t = vec![(
            "model.embed_tokens.weight".to_owned(),
            d,
            vec![self.vocab, h],
        )];
        for l in 0..self.layers {
            let p = format!("model.layers.{l}");
            t.push((format!("{p}.input_layernorm.weight"), Dtype::F32, vec![h]));
            for m in ["q_proj", "k_proj", "v_proj", "o_proj"] {
                t.push((format!("{p}.self_attn.{m}.weight"), d, vec![h, h]));
            }
            t.push((
                format!("{p}.post_attention_layernorm.weight"),
                Dtype::F32,
                vec![h],
            ));
            t.push((format!("{p}.mlp.gate_proj.weight"), d, vec![f, h]));
            t.push((format!("{p}.mlp.up_proj.weight"), d, vec![f, h]));
            t.push((format!("{p}.mlp.down_proj.weight"), d, vec![h, f]));
        }
        t.push(("model.norm.weight".to_owned(), Dtype::F32, vec![h]));
        t.push(("lm_head.weight".to_owned(), d, vec![self.vocab, h]));
        t
    }
}

/// SplitMix64: a tiny deterministic generator (Steele et al. 2014), enough for test data.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }
}

/// Fills `out` with little-endian bf16 values of ~N(0, `std`): an Irwin-Hall sum of four
/// uniforms scaled to unit variance, rounded to nearest even (like trained weights, the
/// exponent byte is skewed and the mantissa byte near-uniform).
pub fn fill_bf16_normal(rng: &mut SplitMix64, std: f32, out: &mut [u8]) {
    for v in out.chunks_exact_mut(2) {
        let r = rng.next_u64();
        let s: f32 = (0..4)
            .map(|i| ((r >> (16 * i)) & 0xffff) as f32 / 65536.0)
            .sum();
        let x = (s - 2.0) * 3f32.sqrt() * std;
        let bits = x.to_bits();
        let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16;
        v.copy_from_slice(&(rounded as u16).to_le_bytes());
    }
}

/// Writes a ~`mib` MiB bf16 safetensors model (32 MiB projections, each after a small
/// norm; weights ~N(0, 0.02) from `seed`) to `dir/model.safetensors`, plus a
/// `dir/config.json`, streaming 1 MiB at a time. Returns the bytes written.
pub fn write_bf16_model(dir: &std::path::Path, mib: u64, seed: u64) -> std::io::Result<u64> {
    use std::io::Write as _;
    let big = 32u64 << 20;
    let mut defs: Vec<(String, Vec<u64>)> = Vec::new();
    for i in 0..((mib << 20) / big).max(1) {
        defs.push((format!("layers.{i}.norm"), vec![4096]));
        defs.push((format!("layers.{i}.proj"), vec![big / 2 / 4096, 4096]));
    }
    let refs: Vec<(&str, Dtype, &[u64])> = defs
        .iter()
        .map(|(n, s)| (n.as_str(), Dtype::BF16, s.as_slice()))
        .collect();
    let header = build_header(&BTreeMap::new(), &refs);
    std::fs::create_dir_all(dir)?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("model.safetensors"))?);
    f.write_all(&header)?;
    let mut total = header.len() as u64;
    let mut rng = SplitMix64(seed);
    let mut buf = vec![0u8; 1 << 20];
    for (_, s) in &defs {
        let mut left = s.iter().product::<u64>() * 2;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            fill_bf16_normal(&mut rng, 0.02, &mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n as u64;
            total += n as u64;
        }
    }
    f.flush()?;
    let config = br#"{"model_type":"synthetic"}"#;
    std::fs::write(dir.join("config.json"), config)?;
    Ok(total + config.len() as u64)
}

fn seed_for(seed: u64, name: &str) -> u64 {
    let d = Digest::sha256(format!("{seed}/{name}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// Which tensors a fine-tune changes: `ceil(n / 10)` indices chosen by `seed`.
pub fn changed_tenth(n: usize, seed: u64) -> HashSet<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64(seed);
    // Fisher-Yates.
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    idx.into_iter().take(n.div_ceil(10)).collect()
}

/// Builds a model file in memory. Tensor `i` is drawn from `alt_seed` when `changed`
/// contains `i`, else from `seed`. Returns the bytes and the number of bytes of changed
/// tensors.
pub fn build_model(
    shape: &ModelShape,
    metadata: &BTreeMap<String, String>,
    seed: u64,
    changed: &HashSet<usize>,
    alt_seed: u64,
) -> (Vec<u8>, u64) {
    let defs = shape.tensors();
    let refs: Vec<(&str, Dtype, &[u64])> = defs
        .iter()
        .map(|(n, d, s)| (n.as_str(), *d, s.as_slice()))
        .collect();
    let mut out = build_header(metadata, &refs);
    let mut changed_bytes = 0;
    for (i, (name, dtype, shape)) in defs.iter().enumerate() {
        let len = (shape.iter().product::<u64>() * dtype.size()) as usize;
        let s = if changed.contains(&i) {
            changed_bytes += len as u64;
            alt_seed
        } else {
            seed
        };
        let start = out.len();
        out.resize(start + len, 0);
        SplitMix64(seed_for(s, name)).fill(&mut out[start..]);
    }
    (out, changed_bytes)
}

/// Fixed-size chunks of `size` bytes over the whole file (the baseline).
pub fn plan_fixed(file_len: u64, size: u64) -> Vec<ChunkSpec> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < file_len {
        let len = size.min(file_len - at);
        out.push(ChunkSpec {
            offset: at,
            len,
            kind: super::ChunkKind::Cdc,
            layout: pqreg_spec::compress::Layout::Bytes,
        });
        at += len;
    }
    out
}

/// Bytes of `new` (planned as `new_plan`) whose chunk plaintext digest also occurs among
/// the chunks of `old` (planned as `old_plan`): what a re-push would not upload.
pub fn reused_bytes(old: &[u8], old_plan: &[ChunkSpec], new: &[u8], new_plan: &[ChunkSpec]) -> u64 {
    let slice = |b: &'_ [u8], c: &ChunkSpec| -> Digest {
        let start = usize::try_from(c.offset).unwrap_or(usize::MAX).min(b.len());
        let end = usize::try_from(c.offset + c.len)
            .unwrap_or(usize::MAX)
            .min(b.len());
        Digest::sha256(&b[start..end])
    };
    let have: HashSet<Digest> = old_plan.iter().map(|c| slice(old, c)).collect();
    new_plan
        .iter()
        .filter(|c| have.contains(&slice(new, c)))
        .map(|c| c.len)
        .sum()
}

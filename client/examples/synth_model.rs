//! Writes a synthetic bf16 safetensors model (weights ~N(0, 0.02)) for benchmarks:
//! `DIR/model.safetensors` and `DIR/config.json` (see `chunker::synth::write_bf16_model`).
//!
//! ```text
//! cargo run --release -p pqreg --example synth_model -- DIR [--mib 1024] [--seed 42]
//! ```

fn main() -> anyhow::Result<()> {
    let mut dir = None;
    let mut mib = 1024u64;
    let mut seed = 42u64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--mib" => mib = it.next().map_or(Ok(mib), |v| v.parse())?,
            "--seed" => seed = it.next().map_or(Ok(seed), |v| v.parse())?,
            d if dir.is_none() && !d.starts_with('-') => dir = Some(std::path::PathBuf::from(d)),
            _ => anyhow::bail!("usage: synth_model DIR [--mib N] [--seed N]"),
        }
    }
    let Some(dir) = dir else {
        anyhow::bail!("usage: synth_model DIR [--mib N] [--seed N]")
    };
    let n = pqreg::chunker::synth::write_bf16_model(&dir, mib, seed)?;
    println!("{n}");
    Ok(())
}

//! Packs and unpacks a synthetic bf16 safetensors model (weights ~N(0, 0.02)) through an
//! OCI layout directory, and reports throughput, blob bytes against model bytes, and
//! peak RSS (VmHWM from /proc/self/status).
//!
//! ```text
//! cargo run --release -p pqreg --example pack_bench -- [--mib 256] [--threads 2] [--plain]
//! ```

use std::time::Instant;

use pqreg::pack::{DirSink, PackOptions, pack_model};
use pqreg::unpack::{DirSource, UnpackOptions, unpack_model};
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey, SignatureAlgorithm, SigningKey};
use pqreg_spec::policy::Policy;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let mut mib = 256u64;
    let mut threads = 2usize;
    let mut encrypted = true;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--mib" => mib = it.next().map_or(Ok(256), |v| v.parse())?,
            "--threads" => threads = it.next().map_or(Ok(2), |v| v.parse())?,
            "--plain" => encrypted = false,
            _ => anyhow::bail!("usage: pack_bench [--mib N] [--threads N] [--plain]"),
        }
    }
    let tmp = tempfile::tempdir()?;
    let model = tmp.path().join("model");
    let t0 = Instant::now();
    pqreg::chunker::synth::write_bf16_model(&model, mib, 42)?;
    eprintln!(
        "generated in {:.1}s; RSS peak so far {} KiB",
        t0.elapsed().as_secs_f64(),
        vm_hwm_kib()
    );

    let signer = SigningKey::generate(SignatureAlgorithm::MlDsa65)?;
    let ident = RecipientPrivateKey::generate(KemAlgorithm::XWing)?;
    let rcpt = [ident.public_key()?];
    let layout = tmp.path().join("layout");
    let mut sink = DirSink::create(&layout)?;
    let mut opts = PackOptions::new(&signer);
    opts.binding = Some(pqreg_spec::statement::Binding {
        repository: "bench.example/synthetic".into(),
        tag: Some("v1".into()),
        version: 1,
        signed_at: 0,
    });
    if encrypted {
        opts.recipients = &rcpt;
    }
    opts.threads = threads;
    let t = Instant::now();
    let packed = pack_model(&model, &mut opts, &mut sink)?;
    let pack_s = t.elapsed().as_secs_f64();
    let pack_hwm = vm_hwm_kib();

    let pem = signer.verifying_key().to_pem()?;
    let policy = Policy::from_toml(&format!(
        "version = 1\nrequire_log = false\n[[keys]]\nname = \"k\"\nalg = \"ml-dsa-65\"\npublic_key = \"\"\"\n{pem}\"\"\"\n[[rules]]\nrepositories = [\"bench.example/**\"]\nsigners = [\"k\"]\n"
    ))?;
    let src = DirSource::open(&layout)?;
    let mut uopts = UnpackOptions::new("bench.example/synthetic", &policy);
    uopts.identity = Some(&ident);
    uopts.threads = threads;
    let t = Instant::now();
    let report = unpack_model(
        &src,
        &packed.manifest_digest,
        &uopts,
        &tmp.path().join("out"),
    )?;
    let unpack_s = t.elapsed().as_secs_f64();

    let s = &packed.stats;
    let mb = s.model_bytes as f64 / 1e6;
    println!(
        "model           {} bytes ({} files, {} chunks, {})",
        s.model_bytes,
        s.files,
        s.chunks,
        if encrypted {
            "encrypted"
        } else {
            "unencrypted"
        }
    );
    println!(
        "chunk blobs     {} bytes = {:.3}x the model",
        s.layer_bytes,
        s.layer_bytes as f64 / s.model_bytes as f64
    );
    println!(
        "pulled blobs    {} bytes = {:.3}x the model (manifest, bundle, config, index, chunks)",
        report.blob_bytes,
        report.blob_bytes as f64 / s.model_bytes as f64
    );
    println!(
        "pack            {:.2}s = {:.0} MB/s ({} threads)",
        pack_s,
        mb / pack_s,
        threads
    );
    println!(
        "unpack          {:.2}s = {:.0} MB/s (verify + decrypt + decompress + write + fsync)",
        unpack_s,
        mb / unpack_s
    );
    println!(
        "peak RSS        {} KiB after pack, {} KiB after unpack (VmHWM)",
        pack_hwm,
        vm_hwm_kib()
    );
    Ok(())
}

//! Writes the `planes-zstd-v1` vectors of spec/artifact.md §8 that do not depend on a zstd
//! encoder's choices (every frame is built by hand with raw blocks, RFC 8878 §3.1.1.2):
//!
//! - `testdata/compress_plane_tails.json`: for each float layout and each tail length
//!   `n mod w` (1 for bf16 and fp16; 1, 2, 3 for fp32, and 0 for each), the plaintext, its
//!   planes as the §8 table computes them (written out here, independently of the
//!   decoder), and a body of those planes, each one zstd frame.
//! - `testdata/compress_zstd_frames.json`: one-plane bodies whose zstd plane is or is not
//!   a frame §8 allows (trailing bytes, two frames, skippable frames, the checksum flag,
//!   no Single_Segment_flag, a dictionary ID, a wrong content size, the reserved bit).
//!
//! Checked by `spec/tests/compress_vectors.rs`. Regenerate with
//! `cargo run -p pqreg-spec --example compress_vectors` (the output is deterministic).

use serde_json::{Value, json};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A block of a hand-built zstd frame (RFC 8878 §3.1.1.2): raw bytes, or one byte repeated.
#[derive(Clone, Copy)]
enum Block<'a> {
    Raw(&'a [u8]),
    Rle(u8, usize),
}

impl Block<'_> {
    fn len(&self) -> usize {
        match self {
            Block::Raw(b) => b.len(),
            Block::Rle(_, n) => *n,
        }
    }
}

/// The Frame_Content_Size field for `n` with Single_Segment_flag set: the FCS_flag bits
/// of the descriptor and the field's bytes.
fn fcs(n: usize) -> (u8, Vec<u8>) {
    if n < 256 {
        (0x00, vec![n as u8])
    } else if n < 65_792 {
        (0x40, ((n - 256) as u16).to_le_bytes().to_vec())
    } else {
        (0x80, (n as u32).to_le_bytes().to_vec())
    }
}

/// A zstd frame of `blocks` after the descriptor `fhd` and the header bytes `extra`
/// (window descriptor, dictionary ID, content size).
fn frame_with(blocks: &[Block], fhd: u8, extra: &[u8]) -> Vec<u8> {
    let mut f = ZSTD_MAGIC.to_vec();
    f.push(fhd);
    f.extend_from_slice(extra);
    for (i, b) in blocks.iter().enumerate() {
        let last = u32::from(i + 1 == blocks.len());
        let (ty, size) = match b {
            Block::Raw(d) => (0u32, d.len()),
            Block::Rle(_, n) => (1, *n),
        };
        let bh = ((size as u32) << 3) | (ty << 1) | last;
        f.extend_from_slice(&bh.to_le_bytes()[..3]);
        match b {
            Block::Raw(d) => f.extend_from_slice(d),
            Block::Rle(v, _) => f.push(*v),
        }
    }
    f
}

/// The allowed form: Single_Segment_flag, no checksum, no dictionary, the content size.
fn frame(blocks: &[Block]) -> Vec<u8> {
    let n = blocks.iter().map(Block::len).sum();
    let (flag, size) = fcs(n);
    frame_with(blocks, 0x20 | flag, &size)
}

/// A skippable frame (magic 0x184D2A50) with 4 bytes of user data.
fn skippable() -> Vec<u8> {
    let mut f = vec![0x50, 0x2a, 0x4d, 0x18];
    f.extend_from_slice(&4u32.to_le_bytes());
    f.extend_from_slice(b"skip");
    f
}

/// A `planes-zstd-v1` body: layout byte, zstd flags, plaintext length, plane lengths, planes.
fn body(layout: u8, zflags: u8, len: usize, planes: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![layout, zflags];
    b.extend_from_slice(&(len as u32).to_le_bytes());
    for p in planes {
        b.extend_from_slice(&(p.len() as u32).to_le_bytes());
    }
    for p in planes {
        b.extend_from_slice(p);
    }
    b
}

/// The planes of spec/artifact.md §8's table, value by value, with the tail bytes
/// appended to the last plane.
fn split(layout: &str, data: &[u8]) -> Vec<Vec<u8>> {
    let w = if layout == "fp32" { 4 } else { 2 };
    let m = data.len() / w;
    let mut planes = vec![Vec::new(); w];
    for i in 0..m {
        let v = &data[i * w..(i + 1) * w];
        match layout {
            "bf16" => {
                let v = u16::from_le_bytes([v[0], v[1]]);
                planes[0].push(((v >> 7) & 0xff) as u8);
                planes[1].push((((v >> 8) & 0x80) + (v & 0x7f)) as u8);
            }
            "fp16" => {
                let v = u16::from_le_bytes([v[0], v[1]]);
                planes[0].push((v >> 8) as u8);
                planes[1].push((v & 0xff) as u8);
            }
            _ => {
                let v = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                planes[0].push(((v >> 23) & 0xff) as u8);
                planes[1].push((((v >> 24) & 0x80) + ((v >> 16) & 0x7f)) as u8);
                planes[2].push(((v >> 8) & 0xff) as u8);
                planes[3].push((v & 0xff) as u8);
            }
        }
    }
    planes[w - 1].extend_from_slice(&data[m * w..]);
    planes
}

fn tails() -> Value {
    // 32 values whose bytes all differ (so every bit of the table matters), then 200
    // copies of one value (so the planes compress and the body is shorter than the
    // plaintext, as §7 requires), then the tail.
    let varied: Vec<u8> = (0u32..128)
        .map(|i| (i.wrapping_mul(157) ^ 0xa5) as u8)
        .collect();
    let tail_bytes = [0xde, 0xad, 0xbe];
    let mut cases = Vec::new();
    for (layout, byte, w) in [("bf16", 1u8, 2usize), ("fp16", 2, 2), ("fp32", 3, 4)] {
        for tail in 0..w {
            let mut plaintext = varied[..32 * w].to_vec();
            for _ in 0..200 {
                plaintext.extend_from_slice(&[0x3c, 0x81, 0x7e, 0x42][..w]);
            }
            plaintext.extend_from_slice(&tail_bytes[..tail]);
            let n = plaintext.len();
            let planes = split(layout, &plaintext);
            // Each plane: its 32 varied bytes raw, its 200 equal bytes as one RLE block,
            // the tail (last plane only) raw.
            let framed: Vec<Vec<u8>> = planes
                .iter()
                .map(|p| {
                    let mut blocks = vec![Block::Raw(&p[..32]), Block::Rle(p[32], 200)];
                    if p.len() > 232 {
                        blocks.push(Block::Raw(&p[232..]));
                    }
                    assert!(p[32..232].iter().all(|b| *b == p[32]));
                    frame(&blocks)
                })
                .collect();
            let zflags = (1u8 << planes.len()) - 1;
            let zbody = body(byte, zflags, n, &framed);
            assert!(zbody.len() < n);
            cases.push(json!({
                "name": format!("{layout}_tail_{tail}"),
                "layout": layout,
                "plaintext": hex::encode(&plaintext),
                "planes": planes.iter().map(hex::encode).collect::<Vec<_>>(),
                "body": hex::encode(zbody),
            }));
        }
    }
    json!({
        "about": "planes-zstd-v1 (spec/artifact.md §8) segments whose length is not a multiple of the value width w (and, for comparison, ones that are): m = n / w whole values are split by the table, the n mod w tail bytes follow plane p-1's m bytes unchanged. `planes` are the decoded planes; `body` stores each as one zstd frame (raw and RLE blocks) and decodes to `plaintext`.",
        "source": "pqreg: generated by spec/examples/compress_vectors.rs",
        "cases": cases,
    })
}

fn frames() -> Value {
    // 16 distinct bytes then 184 times `a`: a raw and an RLE block; the body (about 30
    // bytes) is shorter than the 200-byte plaintext, as §7 requires.
    let mut p: Vec<u8> = b"0123456789abcdef".to_vec();
    p.resize(200, b'a');
    let n = p.len();
    let blocks = [Block::Raw(&p[..16]), Block::Rle(b'a', 184)];
    let ok = frame(&blocks);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![("ok", ok.clone(), "ok")];
    cases.push((
        "ok_one_rle_block_per_byte_run",
        frame(&[
            Block::Raw(&p[..10]),
            Block::Raw(&p[10..16]),
            Block::Rle(b'a', 100),
            Block::Rle(b'a', 84),
        ]),
        "ok",
    ));
    let mut trailing = ok.clone();
    trailing.push(0);
    cases.push(("trailing_zero_byte", trailing, "Frame"));
    // Two frames: the first claims the whole content size (so only "one frame" refuses
    // it), and the same split with each frame's own size.
    let mut two = frame_with(&blocks[..1], 0x20, &[n as u8]);
    two.extend_from_slice(&frame(&blocks[1..]));
    cases.push(("two_frames", two, "Frame"));
    let mut two_exact = frame(&blocks[..1]);
    two_exact.extend_from_slice(&frame(&blocks[1..]));
    cases.push(("two_frames_sizes_each", two_exact, "Frame"));
    let mut skip_before = skippable();
    skip_before.extend_from_slice(&ok);
    cases.push(("skippable_before", skip_before, "Frame"));
    let mut skip_after = ok.clone();
    skip_after.extend_from_slice(&skippable());
    cases.push(("skippable_after", skip_after, "Frame"));
    cases.push(("skippable_only", skippable(), "Frame"));
    // The checksum flag is refused whatever the checksum; these 4 bytes are zero.
    let mut checksum = frame_with(&blocks, 0x24, &[n as u8]);
    checksum.extend_from_slice(&[0; 4]);
    cases.push(("checksum_flag", checksum, "Frame"));
    // No Single_Segment_flag: a Window_Descriptor and a 4-byte content size. A 1 KiB
    // window and one of exactly 8 MiB (exponent 13) are allowed, 9 MiB (exponent 13,
    // mantissa 1) is not; without a content size the frame is refused.
    for (name, wd, expect) in [
        ("ok_window_1k", 0x00u8, "ok"),
        ("ok_window_8m", 13 << 3, "ok"),
        ("window_9m", (13 << 3) | 1, "Frame"),
    ] {
        let mut extra = vec![wd];
        extra.extend_from_slice(&(n as u32).to_le_bytes());
        cases.push((name, frame_with(&blocks, 0x80, &extra), expect));
    }
    cases.push((
        "no_content_size",
        frame_with(&blocks, 0x00, &[0x00]),
        "Frame",
    ));
    cases.push((
        "dictionary_id",
        frame_with(&blocks, 0x21, &[7, n as u8]),
        "Frame",
    ));
    cases.push((
        "reserved_bit",
        frame_with(&blocks, 0x28, &[n as u8]),
        "Frame",
    ));
    cases.push((
        "content_size_wrong",
        frame_with(&blocks, 0x20, &[n as u8 - 1]),
        "Frame",
    ));
    cases.push(("truncated", ok[..ok.len() - 1].to_vec(), "Frame"));
    let cases: Vec<Value> = cases
        .into_iter()
        .map(|(name, plane, expect)| {
            let b = body(0, 1, n, &[plane]);
            assert!(b.len() < n);
            json!({
                "name": name,
                "body": hex::encode(b),
                "expect": expect,
            })
        })
        .collect();
    json!({
        "about": "planes-zstd-v1 (spec/artifact.md §8) one-plane bodies (layout bytes, zflags 1, len 200) whose zstd plane is or is not the one frame §8 allows. expect: ok (decodes to plaintext) or Frame (refused with CompressError::Frame).",
        "source": "pqreg: generated by spec/examples/compress_vectors.rs (frames built by hand from raw and RLE blocks)",
        "plaintext": hex::encode(&p),
        "cases": cases,
    })
}

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    for (name, v) in [
        ("compress_plane_tails.json", tails()),
        ("compress_zstd_frames.json", frames()),
    ] {
        let text = serde_json::to_string_pretty(&v).map_err(std::io::Error::other)? + "\n";
        std::fs::write(dir.join(name), text)?;
        println!("wrote testdata/{name}");
    }
    Ok(())
}

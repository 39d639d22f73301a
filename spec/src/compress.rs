//! Weight-aware compression of one segment (spec/artifact.md, "Weight-aware compression").
//!
//! ML weights compress badly as bytes: the mantissa bits are noise. Their exponents are
//! not: weights ~N(0, σ) use a handful of exponent values. So a segment of bf16, fp16 or
//! fp32 values is split into byte planes, each plane is compressed to one zstd frame if
//! that saves at least 5%, and stored raw otherwise. Other data is one plane.
//!
//! ```text
//!   body   = header || plane 0 || ... || plane p-1
//!   header = layout u8 | zflags u8 | len u32le | plane_len[p] u32le     (6 + 4p bytes)
//!   layout = 0 bytes (p=1) | 1 bf16 (p=2) | 2 fp16 (p=2) | 3 fp32 (p=4)
//!   zflags = bit i set: plane i is one zstd frame; clear: plane i is raw
//! ```
//!
//! Plane `i` of the plaintext is fixed by the layout (see [`Layout`]); `len` is the
//! plaintext length (at most [`MAX_SEGMENT`]) and fixes every plane's decoded length, so
//! a decoder never produces more than the header promised: a zip bomb fails with
//! [`CompressError::PlaneLength`] after writing at most the promised bytes.
//!
//! Everything here is a pure function of its input; [`Encoder`] and [`Decoder`] only
//! keep zstd contexts alive between segments for speed.

mod codec;
mod planes;

pub use codec::WeightCodec;

use serde::{Deserialize, Serialize};

/// Largest plaintext segment: 1 MiB (the segment size of spec/encryption.md).
pub const MAX_SEGMENT: usize = crate::segment::SEGMENT_SIZE;

/// zstd level for the single plane of [`Layout::Bytes`] (text, tokenizers, other files).
pub const ZSTD_LEVEL: i32 = 1;

/// zstd acceleration (a negative level) for the planes of float layouts, which pqreg
/// compresses with zstd's Huffman literal coding forced on: a byte plane of weights is
/// close to independent symbols, so entropy coding is what pays and match finding only
/// costs time. Measured on bf16 exponent planes of weights ~N(0, 0.02): 3.10×, with bf16
/// segments encoded at about 1.7 GB/s per core, against level 1's 2.81× at 0.29 GB/s
/// (spec/artifact.md §8.1).
pub const ZSTD_FLOAT_LEVEL: i32 = -500;

/// The record codec byte (spec/encryption.md record header) for a body in this format.
/// `0x00` is the stored codec: the body is the plaintext itself.
pub const CODEC_PLANES: u8 = 0x01;

const _: () = assert!(
    MAX_SEGMENT == 1 << 20,
    "the body format's len field assumes 1 MiB"
);

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// The plaintext is longer than a segment.
    #[error("segment of {0} bytes exceeds the 1 MiB limit")]
    SegmentTooLong(usize),
    /// The body is shorter than its header.
    #[error("compressed segment truncated: {0}")]
    Truncated(&'static str),
    /// The layout byte is not one this code knows.
    #[error("unknown layout {0:#04x}")]
    UnknownLayout(u8),
    /// zstd flags set for planes the layout does not have.
    #[error("zstd flags {0:#04x} name planes the layout does not have")]
    BadFlags(u8),
    /// The header promises more than [`MAX_SEGMENT`] bytes.
    #[error("header promises {0} bytes, more than a segment")]
    TooLarge(u32),
    /// A raw plane's stored length differs from its decoded length.
    #[error("plane {plane}: stored length {got}, expected {want}")]
    PlaneLength {
        /// The plane.
        plane: usize,
        /// The length found (for zstd planes: decoded, capped at `want + 1`).
        got: usize,
        /// The length the header implies.
        want: usize,
    },
    /// The plane lengths do not add up to the body length.
    #[error("body is {got} bytes, the header accounts for {want}")]
    BodyLength {
        /// Body length.
        got: usize,
        /// Header plus plane lengths.
        want: u64,
    },
    /// A `planes-zstd-v1` body is not shorter than the plaintext it decodes to (the segment
    /// should have been stored; spec/artifact.md §7).
    #[error("body of {body} bytes is not shorter than its {len}-byte plaintext")]
    NotSmaller {
        /// Body length.
        body: usize,
        /// Plaintext length from the header.
        len: u32,
    },
    /// A zstd plane is not one frame of the form spec/artifact.md §8 allows (see
    /// [`check_frame`]).
    #[error("plane {plane}: {reason}")]
    Frame {
        /// The plane.
        plane: usize,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A zstd plane failed to decode (corrupt, or decodes to more than promised).
    #[error("plane {plane}: zstd: {reason}")]
    Zstd {
        /// The plane.
        plane: usize,
        /// zstd's message.
        reason: String,
    },
}

/// How a segment's bytes are split into planes. Values are little-endian, as in
/// safetensors and GGUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One plane: the bytes as they are.
    Bytes,
    /// bfloat16: plane 0 the 8 exponent bits, plane 1 the sign bit and 7 mantissa bits.
    Bf16,
    /// IEEE half: plane 0 the high bytes (sign, exponent, 2 mantissa bits), plane 1 the
    /// low bytes.
    Fp16,
    /// IEEE single: plane 0 the 8 exponent bits, plane 1 sign and the top 7 mantissa
    /// bits, planes 2 and 3 the lower mantissa bytes (high, then low).
    Fp32,
}

impl Layout {
    /// Every layout, in byte order.
    pub const ALL: [Layout; 4] = [Layout::Bytes, Layout::Bf16, Layout::Fp16, Layout::Fp32];

    /// The header byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Layout::Bytes => 0,
            Layout::Bf16 => 1,
            Layout::Fp16 => 2,
            Layout::Fp32 => 3,
        }
    }

    /// Parses the header byte.
    pub fn from_byte(b: u8) -> Result<Self, CompressError> {
        Layout::ALL
            .get(b as usize)
            .copied()
            .ok_or(CompressError::UnknownLayout(b))
    }

    /// Number of planes.
    pub fn planes(self) -> usize {
        match self {
            Layout::Bytes => 1,
            Layout::Bf16 | Layout::Fp16 => 2,
            Layout::Fp32 => 4,
        }
    }
}

/// A parsed segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// How planes were cut.
    pub layout: Layout,
    /// Plaintext length.
    pub len: u32,
    /// Per plane: whether it is a zstd frame.
    pub zstd: Vec<bool>,
    /// Per plane: stored length in the body.
    pub stored_len: Vec<u32>,
}

impl Header {
    /// Encoded header length for `layout`.
    pub fn encoded_len(layout: Layout) -> usize {
        6 + 4 * layout.planes()
    }

    /// Parses and checks the header at the start of `body` (flags, `len` bound, and that
    /// the plane lengths add up to the body length).
    pub fn parse(body: &[u8]) -> Result<Self, CompressError> {
        let [layout, flags, l0, l1, l2, l3, ..] = *body else {
            return Err(CompressError::Truncated("header"));
        };
        let layout = Layout::from_byte(layout)?;
        let p = layout.planes();
        if u32::from(flags) >> p != 0 {
            return Err(CompressError::BadFlags(flags));
        }
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        if len as usize > MAX_SEGMENT {
            return Err(CompressError::TooLarge(len));
        }
        let hlen = Self::encoded_len(layout);
        let Some(lens) = body.get(6..hlen) else {
            return Err(CompressError::Truncated("plane lengths"));
        };
        let stored_len: Vec<u32> = lens
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let want = hlen as u64 + stored_len.iter().map(|&l| u64::from(l)).sum::<u64>();
        if want != body.len() as u64 {
            return Err(CompressError::BodyLength {
                got: body.len(),
                want,
            });
        }
        Ok(Header {
            layout,
            len,
            zstd: (0..p).map(|i| flags & (1 << i) != 0).collect(),
            stored_len,
        })
    }

    /// The header bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::encoded_len(self.layout));
        out.push(self.layout.to_byte());
        let flags = self
            .zstd
            .iter()
            .enumerate()
            .fold(0u8, |f, (i, &z)| if z { f | (1 << i) } else { f });
        out.push(flags);
        out.extend_from_slice(&self.len.to_le_bytes());
        for l in &self.stored_len {
            out.extend_from_slice(&l.to_le_bytes());
        }
        out
    }
}

/// What [`Encoder::encode`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoded {
    /// Nothing shrank: `out` got the plaintext itself (record codec `0x00`).
    Stored,
    /// `out` got a body in this module's format (record codec [`CODEC_PLANES`]).
    Planes,
}

impl Encoded {
    /// The record codec byte.
    pub fn codec(self) -> u8 {
        match self {
            Encoded::Stored => 0x00,
            Encoded::Planes => CODEC_PLANES,
        }
    }
}

/// Compresses segments, reusing two zstd contexts (one per parameter set).
pub struct Encoder {
    /// Level [`ZSTD_LEVEL`], for [`Layout::Bytes`].
    zstd_bytes: zstd::bulk::Compressor<'static>,
    /// [`ZSTD_FLOAT_LEVEL`] with Huffman literals, for the planes of float layouts.
    zstd_float: zstd::bulk::Compressor<'static>,
    planes: [Vec<u8>; 4],
    frame: Vec<u8>,
}

impl Encoder {
    /// A new encoder (no checksum in either context: the AEAD tag or the plaintext
    /// digest already covers the data).
    pub fn new() -> Result<Self, CompressError> {
        use zstd::zstd_safe::{CParameter, ParamSwitch};
        let zerr = |e: std::io::Error| CompressError::Zstd {
            plane: 0,
            reason: e.to_string(),
        };
        let mut zstd_bytes = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(zerr)?;
        zstd_bytes.include_checksum(false).map_err(zerr)?;
        let mut zstd_float = zstd::bulk::Compressor::new(ZSTD_FLOAT_LEVEL).map_err(zerr)?;
        zstd_float.include_checksum(false).map_err(zerr)?;
        // At negative levels zstd leaves literals raw unless told otherwise.
        zstd_float
            .set_parameter(CParameter::LiteralCompressionMode(ParamSwitch::Enable))
            .map_err(zerr)?;
        Ok(Encoder {
            zstd_bytes,
            zstd_float,
            planes: Default::default(),
            frame: Vec::new(),
        })
    }

    /// Encodes one segment of `layout` data, appending to `out`: planes when that is
    /// smaller, else the plaintext itself ([`Encoded::Stored`]).
    pub fn encode(
        &mut self,
        layout: Layout,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Encoded, CompressError> {
        if plaintext.len() > MAX_SEGMENT {
            return Err(CompressError::SegmentTooLong(plaintext.len()));
        }
        let start = out.len();
        let p = layout.planes();
        let mut header = Header {
            layout,
            len: plaintext.len() as u32,
            zstd: vec![false; p],
            stored_len: vec![0; p],
        };
        out.extend_from_slice(&header.encode());
        planes::split(layout, plaintext, &mut self.planes);
        let zstd = match layout {
            Layout::Bytes => &mut self.zstd_bytes,
            Layout::Bf16 | Layout::Fp16 | Layout::Fp32 => &mut self.zstd_float,
        };
        for i in 0..p {
            let plane = &self.planes[i];
            let keep = pays(zstd, &mut self.frame, plane).map_err(|e| CompressError::Zstd {
                plane: i,
                reason: e.to_string(),
            })?;
            let bytes = if keep { &self.frame } else { plane };
            header.zstd[i] = keep;
            header.stored_len[i] = bytes.len() as u32;
            out.extend_from_slice(bytes);
        }
        if header.zstd.iter().all(|z| !z) || out.len() - start >= plaintext.len() {
            out.truncate(start);
            out.extend_from_slice(plaintext);
            return Ok(Encoded::Stored);
        }
        let h = header.encode();
        out[start..start + h.len()].copy_from_slice(&h);
        Ok(Encoded::Planes)
    }
}

/// Whether zstd saves at least 5% on `plane`; if so the frame is in `frame`.
///
/// A plane of 128 KiB or more is first tried on its first 32 KiB: if even that
/// does not shrink by 3%, the plane is noise (a mantissa plane) and is stored raw
/// without compressing all of it. Only the encoder's speed depends on this; a
/// decoder reads the choice from the header.
fn pays(
    zstd: &mut zstd::bulk::Compressor<'static>,
    frame: &mut Vec<u8>,
    plane: &[u8],
) -> std::io::Result<bool> {
    const SAMPLE: usize = 32 << 10;
    if plane.len() >= 4 * SAMPLE {
        frame.clear();
        frame.reserve(zstd::zstd_safe::compress_bound(SAMPLE));
        zstd.compress_to_buffer(&plane[..SAMPLE], frame)?;
        if frame.len() * 100 > SAMPLE * 97 {
            return Ok(false);
        }
    }
    frame.clear();
    frame.reserve(zstd::zstd_safe::compress_bound(plane.len()));
    zstd.compress_to_buffer(plane, frame)?;
    Ok(frame.len() * 20 <= plane.len() * 19)
}

/// Decompresses segments, reusing one zstd context.
pub struct Decoder {
    zstd: zstd::bulk::Decompressor<'static>,
    planes: [Vec<u8>; 4],
}

impl Decoder {
    /// A new decoder.
    pub fn new() -> Result<Self, CompressError> {
        let zstd = zstd::bulk::Decompressor::new().map_err(|e| CompressError::Zstd {
            plane: 0,
            reason: e.to_string(),
        })?;
        Ok(Decoder {
            zstd,
            planes: Default::default(),
        })
    }

    /// Decodes a body in this module's format, appending the plaintext (at most
    /// [`MAX_SEGMENT`] bytes, exactly the header's `len`) to `out`.
    /// On error `out` is left as it was.
    pub fn decode(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        let start = out.len();
        let r = self.decode_at(body, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn decode_at(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), CompressError> {
        let h = Header::parse(body)?;
        let n = h.len as usize;
        if body.len() >= n {
            return Err(CompressError::NotSmaller {
                body: body.len(),
                len: h.len,
            });
        }
        out.resize(start + n, 0);
        let mut pos = Header::encoded_len(h.layout);
        let mut raw: [&[u8]; 4] = [&[]; 4];
        for (i, raw_i) in raw.iter_mut().enumerate().take(h.layout.planes()) {
            let want = planes::plane_len(h.layout, n, i);
            let stored = h.stored_len[i] as usize;
            let src = &body[pos..pos + stored];
            pos += stored;
            if h.zstd[i] {
                check_frame(src, want)
                    .map_err(|reason| CompressError::Frame { plane: i, reason })?;
                // Room for one byte more than promised, so "too long" is detected rather
                // than truncated; zstd never writes past the buffer's capacity.
                let buf = &mut self.planes[i];
                buf.clear();
                buf.reserve_exact(want + 1);
                let got =
                    self.zstd
                        .decompress_to_buffer(src, buf)
                        .map_err(|e| CompressError::Zstd {
                            plane: i,
                            reason: e.to_string(),
                        })?;
                if got != want {
                    return Err(CompressError::PlaneLength {
                        plane: i,
                        got,
                        want,
                    });
                }
            } else if stored != want {
                return Err(CompressError::PlaneLength {
                    plane: i,
                    got: stored,
                    want,
                });
            } else {
                *raw_i = src;
            }
        }
        let mut views: [&[u8]; 4] = [&[]; 4];
        for (i, v) in views.iter_mut().enumerate().take(h.layout.planes()) {
            *v = if h.zstd[i] { &self.planes[i] } else { raw[i] };
        }
        planes::join(h.layout, &views[..h.layout.planes()], &mut out[start..]);
        Ok(())
    }
}

/// The zstd frame magic number, little-endian (RFC 8878 §3.1.1).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest zstd Window_Size a plane's frame may declare: 8 MiB, the size RFC 8878 §3.1.1.1.2
/// recommends every decoder support (pqreg's encoder, bounded by the 1 MiB segment, uses
/// at most 1 MiB).
pub const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// Checks that a zstd plane is what spec/artifact.md §8 allows, so that every reader
/// accepts and refuses the same planes: exactly one zstd frame (RFC 8878 §3.1.1; a
/// skippable frame, several frames or any byte after the frame are refused) whose
/// Frame_Header_Descriptor has Content_Checksum_flag clear, the reserved bit clear and
/// Dictionary_ID_flag 0, whose Window_Size (when Single_Segment_flag is clear) is at most
/// [`MAX_ZSTD_WINDOW`], and which carries a Frame_Content_Size equal to the plane's
/// decoded length `want`.
pub fn check_frame(src: &[u8], want: usize) -> Result<(), &'static str> {
    if src.get(..4) != Some(&ZSTD_MAGIC[..]) {
        return Err("not a zstd frame (skippable frames and other data are refused)");
    }
    let (Some(&fhd), Some(&wd)) = (src.get(4), src.get(5)) else {
        return Err("zstd frame header truncated");
    };
    if fhd & 0x04 != 0 {
        return Err("zstd frame with a content checksum");
    }
    if fhd & 0x08 != 0 {
        return Err("zstd frame with the reserved bit set");
    }
    if fhd & 0x03 != 0 {
        return Err("zstd frame with a dictionary ID");
    }
    if fhd & 0x20 == 0 {
        // Window_Descriptor: Exponent (5 bits) and Mantissa (3 bits), RFC 8878 §3.1.1.1.2.
        let base = 1u64 << (10 + (wd >> 3));
        let window = base + base / 8 * u64::from(wd & 7);
        if window > MAX_ZSTD_WINDOW {
            return Err("zstd Window_Size over 8 MiB");
        }
    }
    match zstd::zstd_safe::get_frame_content_size(src) {
        Ok(Some(n)) if n == want as u64 => {}
        Ok(Some(_)) => return Err("zstd Frame_Content_Size differs from the plane length"),
        Ok(None) => return Err("zstd frame without Frame_Content_Size"),
        Err(_) => return Err("zstd frame header invalid"),
    }
    match zstd::zstd_safe::find_frame_compressed_size(src) {
        Ok(n) if n == src.len() => Ok(()),
        Ok(_) => Err("bytes after the zstd frame (one frame per plane)"),
        Err(_) => Err("zstd frame truncated or invalid"),
    }
}

/// Encodes one segment with a fresh [`Encoder`]: returns the codec and the body.
pub fn encode(layout: Layout, plaintext: &[u8]) -> Result<(Encoded, Vec<u8>), CompressError> {
    let mut out = Vec::new();
    let e = Encoder::new()?.encode(layout, plaintext, &mut out)?;
    Ok((e, out))
}

/// Decodes one body of codec [`CODEC_PLANES`] with a fresh [`Decoder`].
pub fn decode(body: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::new();
    Decoder::new()?.decode(body, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;

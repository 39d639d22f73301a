//! Chunk segment sealing (spec/encryption.md, "Chunk encryption").
//!
//! A chunk's plaintext is cut into fixed 1 MiB segments. Each segment becomes one
//! *record*: a 6-byte header in the clear (codec, flags, body length) followed by the
//! body, which is sealed with AES-256-GCM under the chunk key when the artifact is
//! encrypted. The nonce is the segment's index (11 bytes, big-endian) and a last-segment
//! flag, as in age's STREAM construction, and the header is part of the associated data,
//! so:
//!
//! - every record opens on its own (random access), knowing only its index;
//! - a reordered, dropped, duplicated or altered record fails its tag;
//! - a stream that ends before a record flagged *last* is truncated, and bytes after it
//!   are trailing data, both reported as such.
//!
//! The body is opaque here: the stored codec (0) carries the plaintext segment itself,
//! other codecs (weight-aware compression, `compress.rs`) carry an encoded segment.
//! [`SegmentCodec`] is the seam between the two.
//!
//! ```text
//!   chunk blob = record 0 || record 1 || ... || record n-1          (n >= 1)
//!   record     = codec u8 | flags u8 | body_len u32be | body [| tag 16]
//!   nonce      = index as 11 bytes big-endian | (0x01 if last else 0x00)
//!   aad        = "pqreg-segment-v1" | header
//! ```

pub(crate) mod key;
mod stream;

pub use key::{CONTENT_SALT, ChunkKey, INDEX_KEY_INFO};
pub use stream::{OpenReader, SealWriter, open, seal};

use aws_lc_rs::aead::{Aad, Nonce};

/// Bytes of plaintext per segment: 1 MiB. Every segment but the last is exactly this long.
pub const SEGMENT_SIZE: usize = 1 << 20;
/// Bytes of the clear record header: codec, flags, body length.
pub const HEADER_LEN: usize = 6;
/// Bytes of the AES-256-GCM tag after each sealed body.
pub const TAG_LEN: usize = 16;
/// Bytes each encrypted record adds to its body: header and tag.
pub const RECORD_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// The label that starts every record's associated data.
pub const AAD_LABEL: &[u8; 16] = b"pqreg-segment-v1";

/// The `flags` bit that marks the last segment of a chunk.
const FLAG_LAST: u8 = 0x01;

/// Errors of this module. Each check has its own variant, so a caller (and a test) can
/// tell a bad tag from a truncation from trailing data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The record's tag did not verify: the record was altered, moved to another index,
    /// given the wrong last flag, or sealed under another key.
    #[error("segment {index}: authentication failed (altered, reordered or wrong key)")]
    BadTag {
        /// Index of the record that failed.
        index: u64,
    },
    /// The stream ended before a record flagged last (or inside a record).
    #[error("chunk truncated at segment {index}: no last segment")]
    Truncated {
        /// Index of the record that was missing or incomplete.
        index: u64,
    },
    /// Bytes followed the record flagged last.
    #[error("trailing data after the last segment ({index})")]
    TrailingData {
        /// Index of the last record.
        index: u64,
    },
    /// A record header had reserved flag bits set or a body longer than a segment.
    #[error("segment {index}: bad header: {reason}")]
    BadHeader {
        /// Index of the record.
        index: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A record's length disagreed with its header.
    #[error("segment {index}: record is {got} bytes, header says {want}")]
    RecordLength {
        /// Index of the record.
        index: u64,
        /// Bytes given.
        got: usize,
        /// Bytes the header implies.
        want: usize,
    },
    /// The caller expected the last record and got another, or the reverse.
    #[error("segment {index}: last flag is {got}, expected {want}")]
    LastFlagMismatch {
        /// Index of the record.
        index: u64,
        /// The flag the record carries.
        got: bool,
        /// The flag the caller expected.
        want: bool,
    },
    /// A decoded segment had a length the framing forbids (a non-last segment that is not
    /// exactly 1 MiB, or an empty last segment after the first).
    #[error("segment {index}: decoded length {len} is not allowed here")]
    SegmentLength {
        /// Index of the record.
        index: u64,
        /// Decoded length.
        len: usize,
    },
    /// The record's codec is not one the reader's [`SegmentCodec`] knows.
    #[error("segment {index}: unknown codec {codec:#04x}")]
    UnknownCodec {
        /// Index of the record.
        index: u64,
        /// The codec byte.
        codec: u8,
    },
    /// A codec failed to decode a segment body.
    #[error("segment {index}: codec {codec:#04x} could not decode the body: {reason}")]
    Decode {
        /// Index of the record.
        index: u64,
        /// The codec byte.
        codec: u8,
        /// The codec's message.
        reason: String,
    },
    /// A body longer than [`SEGMENT_SIZE`] was offered for sealing.
    #[error("segment body of {0} bytes exceeds the 1 MiB segment size")]
    BodyTooLong(usize),
    /// A chunk would need more segments than the counter can number.
    #[error("segment counter overflow")]
    CounterOverflow,
    /// No chunk of stored segments has this ciphertext length.
    #[error("{0} bytes is not the length of a chunk of stored segments")]
    BadCiphertextLength(u64),
    /// The system random number generator failed (drawing a chunk key).
    #[error("the system random number generator failed")]
    Random,
}

impl SegmentError {
    /// The [`SegmentError`] inside an `io::Error` returned by [`SealWriter`] or
    /// [`OpenReader`], if that is what it carries.
    pub fn from_io(err: &std::io::Error) -> Option<&SegmentError> {
        err.get_ref().and_then(|e| e.downcast_ref::<SegmentError>())
    }
}

/// A codec identifier: how a record's body encodes its plaintext segment.
///
/// `0x00` (stored) is defined here; the weight-aware codecs are assigned in
/// spec/artifact.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codec(pub u8);

impl Codec {
    /// The body is the plaintext segment itself.
    pub const STORED: Codec = Codec(0x00);
}

/// The clear header in front of every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// How the body encodes the plaintext segment.
    pub codec: Codec,
    /// Whether this is the chunk's last record.
    pub last: bool,
    /// Length of the body, without the tag. At most [`SEGMENT_SIZE`].
    pub body_len: u32,
}

impl SegmentHeader {
    /// The six header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.codec.0;
        out[1] = if self.last { FLAG_LAST } else { 0 };
        out[2..].copy_from_slice(&self.body_len.to_be_bytes());
        out
    }

    /// Parses six header bytes of the record at `index`, rejecting reserved flag bits
    /// and bodies longer than a segment.
    pub fn parse(index: u64, bytes: &[u8; HEADER_LEN]) -> Result<Self, SegmentError> {
        let flags = bytes[1];
        if flags & !FLAG_LAST != 0 {
            return Err(SegmentError::BadHeader {
                index,
                reason: "reserved flag bits set",
            });
        }
        let body_len = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        if body_len as usize > SEGMENT_SIZE {
            return Err(SegmentError::BadHeader {
                index,
                reason: "body longer than a segment",
            });
        }
        Ok(Self {
            codec: Codec(bytes[0]),
            last: flags & FLAG_LAST != 0,
            body_len,
        })
    }

    /// Bytes of the whole record: header, body and (when encrypted) tag.
    pub fn record_len(&self, encrypted: bool) -> usize {
        HEADER_LEN + self.body_len as usize + if encrypted { TAG_LEN } else { 0 }
    }
}

/// A record opened by [`open_segment`]: its codec and its decrypted body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedSegment {
    /// How the body encodes the plaintext segment.
    pub codec: Codec,
    /// The decrypted body (the plaintext segment itself when the codec is stored).
    pub body: Vec<u8>,
}

/// Encodes plaintext segments into record bodies and back. The stored codec is
/// [`Stored`]; weight-aware compression implements this trait in `compress.rs`.
pub trait SegmentCodec {
    /// True for [`Stored`] alone: the adapters then seal plaintext in place, with no copy.
    const IS_STORED: bool = false;

    /// Encodes one plaintext segment (at most [`SEGMENT_SIZE`] bytes), appending the
    /// body to `out` and returning its codec. Must be deterministic (equal chunks must
    /// seal to equal blobs) and must not return a body longer than [`SEGMENT_SIZE`]: a
    /// codec that cannot shrink a segment returns it stored.
    fn encode(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Codec;

    /// Decodes the body of record `index` (codec `codec`), appending the plaintext
    /// segment to `out`, which is empty on entry. Must not append more than
    /// [`SEGMENT_SIZE`] bytes. Never called for [`Codec::STORED`], which the adapters
    /// handle themselves.
    fn decode(
        &mut self,
        index: u64,
        codec: Codec,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SegmentError>;
}

/// The stored codec: the body is the plaintext segment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stored;

impl SegmentCodec for Stored {
    const IS_STORED: bool = true;

    fn encode(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Codec {
        out.extend_from_slice(plaintext);
        Codec::STORED
    }

    fn decode(
        &mut self,
        index: u64,
        codec: Codec,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SegmentError> {
        if codec != Codec::STORED {
            return Err(SegmentError::UnknownCodec {
                index,
                codec: codec.0,
            });
        }
        out.extend_from_slice(body);
        Ok(())
    }
}

/// The 12-byte nonce of record `index`: the index as 11 bytes big-endian, then the last
/// flag. A `u64` index fills the low 8 of the 11 bytes, so the counter cannot wrap.
pub fn segment_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn aad_for(header: &[u8; HEADER_LEN]) -> [u8; 22] {
    let mut aad = [0u8; 22];
    aad[..16].copy_from_slice(AAD_LABEL);
    aad[16..].copy_from_slice(header);
    aad
}

/// Seals `body` in place as record `index` and appends the tag: `buf` holds the header
/// space (`HEADER_LEN` bytes, overwritten) followed by the body on entry, the whole
/// record on return.
pub(crate) fn seal_record_in_place(
    key: &ChunkKey,
    index: u64,
    header: &SegmentHeader,
    buf: &mut Vec<u8>,
) -> Result<(), SegmentError> {
    let head = header.encode();
    buf[..HEADER_LEN].copy_from_slice(&head);
    let nonce = Nonce::assume_unique_for_key(segment_nonce(index, header.last));
    let tag = key
        .aead()
        .seal_in_place_separate_tag(nonce, Aad::from(aad_for(&head)), &mut buf[HEADER_LEN..])
        // aws-lc-rs only refuses inputs beyond GCM's 64 GiB limit; a body is <= 1 MiB.
        .map_err(|_| SegmentError::BodyTooLong(buf.len() - HEADER_LEN))?;
    buf.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Opens record `index` in place: `record` is the whole record (header, body, tag);
/// returns the header and the decrypted body, a subslice of `record`.
pub(crate) fn open_record_in_place<'a>(
    key: &ChunkKey,
    index: u64,
    record: &'a mut [u8],
) -> Result<(SegmentHeader, &'a mut [u8]), SegmentError> {
    let header = parse_record_header(index, record, true)?;
    let (head, rest) = record.split_at_mut(HEADER_LEN);
    let mut head_arr = [0u8; HEADER_LEN];
    head_arr.copy_from_slice(head);
    let nonce = Nonce::assume_unique_for_key(segment_nonce(index, header.last));
    let body = key
        .aead()
        .open_in_place(nonce, Aad::from(aad_for(&head_arr)), rest)
        .map_err(|_| SegmentError::BadTag { index })?;
    Ok((header, body))
}

fn parse_record_header(
    index: u64,
    record: &[u8],
    encrypted: bool,
) -> Result<SegmentHeader, SegmentError> {
    let Some(head) = record.first_chunk::<HEADER_LEN>() else {
        return Err(SegmentError::RecordLength {
            index,
            got: record.len(),
            want: HEADER_LEN,
        });
    };
    let header = SegmentHeader::parse(index, head)?;
    let want = header.record_len(encrypted);
    if record.len() != want {
        return Err(SegmentError::RecordLength {
            index,
            got: record.len(),
            want,
        });
    }
    Ok(header)
}

/// Seals one segment body as record `index` of a chunk: the low-level form of
/// [`SealWriter`], for callers that encode (compress) segments themselves.
pub fn seal_segment(
    key: &ChunkKey,
    index: u64,
    is_last: bool,
    codec: Codec,
    body: &[u8],
) -> Result<Vec<u8>, SegmentError> {
    let body_len = checked_body_len(body.len())?;
    let header = SegmentHeader {
        codec,
        last: is_last,
        body_len,
    };
    let mut buf = Vec::with_capacity(header.record_len(true));
    buf.extend_from_slice(&[0u8; HEADER_LEN]);
    buf.extend_from_slice(body);
    seal_record_in_place(key, index, &header, &mut buf)?;
    Ok(buf)
}

/// Seals record `index` in place, without copying: on entry `buf` holds `HEADER_LEN`
/// bytes of space (overwritten) followed by the body; on return, the whole record (the
/// tag appended). For callers that read plaintext straight into their own buffers.
pub fn seal_segment_in_place(
    key: &ChunkKey,
    index: u64,
    is_last: bool,
    codec: Codec,
    buf: &mut Vec<u8>,
) -> Result<(), SegmentError> {
    let body_len = buf
        .len()
        .checked_sub(HEADER_LEN)
        .ok_or(SegmentError::RecordLength {
            index,
            got: buf.len(),
            want: HEADER_LEN,
        })?;
    let header = SegmentHeader {
        codec,
        last: is_last,
        body_len: checked_body_len(body_len)?,
    };
    seal_record_in_place(key, index, &header, buf)
}

/// Opens record `index` in place, without copying, checking the last flag as
/// [`open_segment`] does; returns the header and the decrypted body (a subslice of
/// `record`). On error `record` may have been overwritten.
pub fn open_segment_in_place<'a>(
    key: &ChunkKey,
    index: u64,
    is_last: bool,
    record: &'a mut [u8],
) -> Result<(SegmentHeader, &'a mut [u8]), SegmentError> {
    let header = parse_record_header(index, record, true)?;
    if header.last != is_last {
        return Err(SegmentError::LastFlagMismatch {
            index,
            got: header.last,
            want: is_last,
        });
    }
    open_record_in_place(key, index, record)
}

/// Opens record `index` on its own (random access). `is_last` is whether the caller
/// expects the chunk's last record here (it knows from the chunk's length); a record
/// that says otherwise is refused before decryption.
pub fn open_segment(
    key: &ChunkKey,
    index: u64,
    is_last: bool,
    record: &[u8],
) -> Result<OpenedSegment, SegmentError> {
    let header = parse_record_header(index, record, true)?;
    if header.last != is_last {
        return Err(SegmentError::LastFlagMismatch {
            index,
            got: header.last,
            want: is_last,
        });
    }
    let mut buf = record.to_vec();
    let (header, body) = open_record_in_place(key, index, &mut buf)?;
    let body_len = body.len();
    buf.truncate(HEADER_LEN + body_len);
    buf.drain(..HEADER_LEN);
    Ok(OpenedSegment {
        codec: header.codec,
        body: buf,
    })
}

/// Encodes one unencrypted record (unencrypted mode): header and body, no tag.
pub fn encode_unencrypted_segment(
    is_last: bool,
    codec: Codec,
    body: &[u8],
) -> Result<Vec<u8>, SegmentError> {
    let header = SegmentHeader {
        codec,
        last: is_last,
        body_len: checked_body_len(body.len())?,
    };
    let mut out = Vec::with_capacity(header.record_len(false));
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(body);
    Ok(out)
}

/// Parses one unencrypted record (unencrypted mode) at `index`.
pub fn parse_unencrypted_segment(
    index: u64,
    is_last: bool,
    record: &[u8],
) -> Result<OpenedSegment, SegmentError> {
    let header = parse_record_header(index, record, false)?;
    if header.last != is_last {
        return Err(SegmentError::LastFlagMismatch {
            index,
            got: header.last,
            want: is_last,
        });
    }
    Ok(OpenedSegment {
        codec: header.codec,
        body: record[HEADER_LEN..].to_vec(),
    })
}

fn checked_body_len(len: usize) -> Result<u32, SegmentError> {
    if len > SEGMENT_SIZE {
        return Err(SegmentError::BodyTooLong(len));
    }
    u32::try_from(len).map_err(|_| SegmentError::BodyTooLong(len))
}

/// Checks a decoded segment's length against its place in the chunk: every segment but
/// the last is exactly [`SEGMENT_SIZE`]; the last is at most that, and empty only when it
/// is also the first (the empty chunk).
pub(crate) fn check_segment_len(index: u64, last: bool, len: usize) -> Result<(), SegmentError> {
    let ok = if last {
        len <= SEGMENT_SIZE && (len > 0 || index == 0)
    } else {
        len == SEGMENT_SIZE
    };
    if ok {
        Ok(())
    } else {
        Err(SegmentError::SegmentLength { index, len })
    }
}

/// Number of segments of a chunk of `plaintext_len` bytes: at least one (the empty chunk
/// is one empty last segment).
pub fn segment_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(SEGMENT_SIZE as u64).max(1)
}

/// Length of the encrypted chunk of `plaintext_len` bytes sealed with the stored codec:
/// `plaintext_len + segment_count(plaintext_len) * 22`. `None` on overflow.
pub fn ciphertext_len(plaintext_len: u64) -> Option<u64> {
    segment_count(plaintext_len)
        .checked_mul(RECORD_OVERHEAD as u64)?
        .checked_add(plaintext_len)
}

/// Length of the unencrypted chunk (unencrypted mode) of `plaintext_len` bytes written
/// with the stored codec: `plaintext_len + segment_count(plaintext_len) * 6`. `None` on
/// overflow.
pub fn unencrypted_len(plaintext_len: u64) -> Option<u64> {
    segment_count(plaintext_len)
        .checked_mul(HEADER_LEN as u64)?
        .checked_add(plaintext_len)
}

/// Inverse of [`ciphertext_len`]: the plaintext length of an encrypted chunk of stored
/// segments that is `ciphertext_len` bytes long, or an error if no chunk has that length.
pub fn plaintext_len(ciphertext_len: u64) -> Result<u64, SegmentError> {
    let record = (SEGMENT_SIZE + RECORD_OVERHEAD) as u64;
    let n = ciphertext_len.div_ceil(record).max(1);
    let p = n
        .checked_mul(RECORD_OVERHEAD as u64)
        .and_then(|o| ciphertext_len.checked_sub(o))
        .ok_or(SegmentError::BadCiphertextLength(ciphertext_len))?;
    if segment_count(p) != n {
        return Err(SegmentError::BadCiphertextLength(ciphertext_len));
    }
    Ok(p)
}

/// Byte offset of record `index` in an encrypted chunk of stored segments, where every
/// record before the last is `SEGMENT_SIZE + 22` bytes. `None` on overflow.
pub fn segment_offset(index: u64) -> Option<u64> {
    index.checked_mul((SEGMENT_SIZE + RECORD_OVERHEAD) as u64)
}

/// The padded length of `len` bytes (Padmé, spec/encryption.md §6.5): `len` rounded up to
/// a multiple of `2^z`, where `E = floor(log2 len)`, `S = floor(log2 E) + 1` and
/// `z = E - S`; `len` itself below 2. Never less than `len`, and less than
/// `len · (1 + 2^-S)`.
pub fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = u64::from(len.ilog2());
    let s = u64::from(e.ilog2()) + 1;
    let z = e - s;
    let mask = (1u64 << z) - 1;
    // `len + mask` cannot overflow below 2^64 - 2^58 (E <= 63, so z <= 57); above, the
    // rounded length would not fit, and `len` is returned as it is.
    len.checked_add(mask).map_or(len, |l| l & !mask)
}

#[cfg(test)]
mod tests;

//! [`WeightCodec`]: this module's format as the record codec `0x01` of
//! spec/encryption.md, so `segment::SealWriter` / `OpenReader` compress and decompress
//! while they seal and open.

use super::{CODEC_PLANES, Decoder, Encoded, Encoder, Layout};
use crate::segment::{Codec, SegmentCodec, SegmentError};

/// Weight-aware compression of one chunk's segments, for the segment sealer.
pub struct WeightCodec {
    layout: Layout,
    enc: Encoder,
    dec: Decoder,
}

impl WeightCodec {
    /// The record codec byte of a body in `compress` format.
    pub const CODEC: Codec = Codec(CODEC_PLANES);

    /// A codec that splits segments by `layout` (the chunk's `layout` in the index).
    /// Decoding reads the layout from each body, so any layout decodes any record.
    pub fn new(layout: Layout) -> Result<Self, super::CompressError> {
        Ok(WeightCodec {
            layout,
            enc: Encoder::new()?,
            dec: Decoder::new()?,
        })
    }
}

impl SegmentCodec for WeightCodec {
    fn encode(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Codec {
        let start = out.len();
        match self.enc.encode(self.layout, plaintext, out) {
            Ok(Encoded::Planes) => Self::CODEC,
            Ok(Encoded::Stored) => Codec::STORED,
            // Only a segment over 1 MiB or a zstd allocation failure gets here; storing
            // is always correct.
            Err(_) => {
                out.truncate(start);
                out.extend_from_slice(plaintext);
                Codec::STORED
            }
        }
    }

    fn decode(
        &mut self,
        index: u64,
        codec: Codec,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SegmentError> {
        if codec != Self::CODEC {
            return Err(SegmentError::UnknownCodec {
                index,
                codec: codec.0,
            });
        }
        self.dec
            .decode(body, out)
            .map_err(|e| SegmentError::Decode {
                index,
                codec: codec.0,
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::segment::{ChunkKey, OpenReader, SealWriter};

    fn bf16_like(n: usize) -> Vec<u8> {
        // Small-magnitude bf16 values: few exponents, noisy mantissas.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        (0..n / 2)
            .flat_map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let exp = 0x3c + (s >> 60) as u16 % 3; // around 2^-4..2^-2
                let v = ((s as u16) & 0x807f) | (exp << 7);
                v.to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn seal_and_open_with_compression() {
        let key = ChunkKey::from_bytes(&[7; 32]);
        let data = bf16_like(3 * crate::compress::MAX_SEGMENT + 1234);
        for encrypted in [true, false] {
            let codec = WeightCodec::new(Layout::Bf16).unwrap();
            let k = encrypted.then(|| key.clone());
            let mut w = SealWriter::with_codec(Vec::new(), k.clone(), codec);
            w.write_all(&data).unwrap();
            let blob = w.finish().unwrap();
            assert!(blob.len() < data.len(), "compressed: {}", blob.len());
            let codec = WeightCodec::new(Layout::Bytes).unwrap();
            let mut r = OpenReader::with_codec(&blob[..], k, codec);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn unknown_codec_is_refused() {
        let mut c = WeightCodec::new(Layout::Bytes).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            c.decode(3, Codec(0x7f), b"x", &mut out),
            Err(SegmentError::UnknownCodec {
                index: 3,
                codec: 0x7f
            })
        ));
    }
}

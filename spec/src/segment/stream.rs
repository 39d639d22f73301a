//! Streaming adapters over chunk records: [`SealWriter`] turns plaintext into records,
//! [`OpenReader`] turns records back into verified plaintext. Neither holds more than
//! one segment in memory.

use std::io::{self, Read, Write};

use super::{
    ChunkKey, Codec, HEADER_LEN, SEGMENT_SIZE, SegmentCodec, SegmentError, SegmentHeader, Stored,
    TAG_LEN, check_segment_len, open_record_in_place, seal_record_in_place,
};

fn invalid(e: SegmentError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Cuts plaintext into 1 MiB segments and writes each as a record to `W`.
///
/// A full segment is written only once more plaintext arrives, so the last segment
/// (which may be full) is known at [`SealWriter::finish`]; dropping the writer without
/// `finish` loses the pending segment and leaves a truncated chunk.
pub struct SealWriter<W: Write, C: SegmentCodec = Stored> {
    inner: W,
    key: Option<ChunkKey>,
    codec: C,
    /// `HEADER_LEN` bytes of header space, then the pending plaintext.
    pending: Vec<u8>,
    /// Record buffer for codecs that transform the body.
    record: Vec<u8>,
    index: u64,
}

impl<W: Write> SealWriter<W, Stored> {
    /// Seals stored segments under `key`.
    pub fn new(inner: W, key: ChunkKey) -> Self {
        Self::with_codec(inner, Some(key), Stored)
    }

    /// Writes stored segments without encryption (unencrypted mode).
    pub fn unencrypted(inner: W) -> Self {
        Self::with_codec(inner, None, Stored)
    }
}

impl<W: Write, C: SegmentCodec> SealWriter<W, C> {
    /// Encodes each segment with `codec`, then seals it under `key` (or, with `None`,
    /// writes it unencrypted).
    pub fn with_codec(inner: W, key: Option<ChunkKey>, codec: C) -> Self {
        let mut pending = Vec::with_capacity(HEADER_LEN + SEGMENT_SIZE + TAG_LEN);
        pending.resize(HEADER_LEN, 0);
        Self {
            inner,
            key,
            codec,
            pending,
            record: Vec::new(),
            index: 0,
        }
    }

    fn pending_len(&self) -> usize {
        self.pending.len() - HEADER_LEN
    }

    fn emit(&mut self, last: bool) -> io::Result<()> {
        let index = self.index;
        let stored = C::IS_STORED;
        let buf = if stored {
            &mut self.pending
        } else {
            self.record.clear();
            self.record.resize(HEADER_LEN, 0);
            let mut codec = self
                .codec
                .encode(&self.pending[HEADER_LEN..], &mut self.record);
            if self.record.len() - HEADER_LEN > SEGMENT_SIZE {
                // A codec must not expand past a segment; store the segment instead.
                self.record.truncate(HEADER_LEN);
                self.record.extend_from_slice(&self.pending[HEADER_LEN..]);
                codec = Codec::STORED;
            }
            self.record[0] = codec.0;
            &mut self.record
        };
        let header = SegmentHeader {
            codec: if stored { Codec::STORED } else { Codec(buf[0]) },
            last,
            // At most SEGMENT_SIZE, checked above or by construction.
            body_len: (buf.len() - HEADER_LEN) as u32,
        };
        match &self.key {
            Some(key) => seal_record_in_place(key, index, &header, buf).map_err(invalid)?,
            None => buf[..HEADER_LEN].copy_from_slice(&header.encode()),
        }
        self.inner.write_all(buf)?;
        self.pending.truncate(HEADER_LEN);
        self.index = index
            .checked_add(1)
            .ok_or_else(|| invalid(SegmentError::CounterOverflow))?;
        Ok(())
    }

    /// Seals the last segment (empty if nothing was written), flushes, and returns the
    /// inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write, C: SegmentCodec> Write for SealWriter<W, C> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            if self.pending_len() == SEGMENT_SIZE {
                // More plaintext follows a full segment, so that segment is not the last.
                self.emit(false)?;
            }
            let take = (SEGMENT_SIZE - self.pending_len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads records from `R` and yields their verified plaintext.
///
/// Errors (as `io::ErrorKind::InvalidData` carrying a [`SegmentError`], see
/// [`SegmentError::from_io`]): a bad tag, a stream that ends before the last record,
/// bytes after it, a bad header. Plaintext already returned before an error belongs to
/// segments that verified, but the chunk as a whole did not: discard it.
pub struct OpenReader<R: Read, C: SegmentCodec = Stored> {
    inner: R,
    key: Option<ChunkKey>,
    codec: C,
    record: Vec<u8>,
    decoded: Vec<u8>,
    /// Where the current plaintext lives: in `record` (stored) or `decoded`.
    in_record: bool,
    start: usize,
    end: usize,
    index: u64,
    done: bool,
}

impl<R: Read> OpenReader<R, Stored> {
    /// Opens stored segments sealed under `key`.
    pub fn new(inner: R, key: ChunkKey) -> Self {
        Self::with_codec(inner, Some(key), Stored)
    }

    /// Reads stored segments written without encryption (unencrypted mode).
    pub fn unencrypted(inner: R) -> Self {
        Self::with_codec(inner, None, Stored)
    }
}

impl<R: Read, C: SegmentCodec> OpenReader<R, C> {
    /// Opens records under `key` (or unencrypted ones with `None`), decoding bodies with
    /// `codec`.
    pub fn with_codec(inner: R, key: Option<ChunkKey>, codec: C) -> Self {
        Self {
            inner,
            key,
            codec,
            record: Vec::with_capacity(HEADER_LEN + SEGMENT_SIZE + TAG_LEN),
            decoded: Vec::new(),
            in_record: true,
            start: 0,
            end: 0,
            index: 0,
            done: false,
        }
    }

    /// The inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads into `buf` until it is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf_start: usize, buf_end: usize) -> io::Result<usize> {
        let mut got = 0;
        while buf_start + got < buf_end {
            match self.inner.read(&mut self.record[buf_start + got..buf_end]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    fn load_next(&mut self) -> io::Result<()> {
        let index = self.index;
        let truncated = || invalid(SegmentError::Truncated { index });
        self.record.clear();
        self.record.resize(HEADER_LEN, 0);
        if self.fill(0, HEADER_LEN)? != HEADER_LEN {
            return Err(truncated());
        }
        let mut head = [0u8; HEADER_LEN];
        head.copy_from_slice(&self.record[..HEADER_LEN]);
        let header = SegmentHeader::parse(index, &head).map_err(invalid)?;
        let len = header.record_len(self.key.is_some());
        self.record.resize(len, 0);
        if self.fill(HEADER_LEN, len)? != len - HEADER_LEN {
            return Err(truncated());
        }
        let body_len = match &self.key {
            Some(key) => {
                let (_, body) =
                    open_record_in_place(key, index, &mut self.record).map_err(invalid)?;
                body.len()
            }
            None => header.body_len as usize,
        };
        let body = HEADER_LEN..HEADER_LEN + body_len;
        if header.codec == Codec::STORED {
            self.in_record = true;
            self.start = body.start;
            self.end = body.end;
        } else {
            self.decoded.clear();
            self.codec
                .decode(index, header.codec, &self.record[body], &mut self.decoded)
                .map_err(invalid)?;
            self.in_record = false;
            self.start = 0;
            self.end = self.decoded.len();
        }
        check_segment_len(index, header.last, self.end - self.start).map_err(invalid)?;
        if header.last {
            let mut probe = [0u8; 1];
            loop {
                match self.inner.read(&mut probe) {
                    Ok(0) => break,
                    Ok(_) => return Err(invalid(SegmentError::TrailingData { index })),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.done = true;
        } else {
            self.index = index
                .checked_add(1)
                .ok_or_else(|| invalid(SegmentError::CounterOverflow))?;
        }
        Ok(())
    }
}

impl<R: Read, C: SegmentCodec> Read for OpenReader<R, C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.start == self.end {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            self.load_next()?;
        }
        let src = if self.in_record {
            &self.record[self.start..self.end]
        } else {
            &self.decoded[self.start..self.end]
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        self.start += n;
        Ok(n)
    }
}

/// Seals a whole chunk held in memory with the stored codec.
pub fn seal(key: &ChunkKey, plaintext: &[u8]) -> Vec<u8> {
    let cap = super::ciphertext_len(plaintext.len() as u64).unwrap_or(0) as usize;
    let mut w = SealWriter::new(Vec::with_capacity(cap), key.clone());
    // Writing to a Vec cannot fail, nor can sealing a body of at most one segment.
    match w.write_all(plaintext).and_then(|()| w.finish()) {
        Ok(out) => out,
        Err(e) => unreachable!("sealing into memory failed: {e}"),
    }
}

/// Opens a whole chunk of stored segments held in memory.
pub fn open(key: &ChunkKey, ciphertext: &[u8]) -> Result<Vec<u8>, SegmentError> {
    let mut r = OpenReader::new(ciphertext, key.clone());
    let mut out = Vec::with_capacity(ciphertext.len());
    match r.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => match SegmentError::from_io(&e) {
            Some(se) => Err(se.clone()),
            // A slice reader has no I/O errors of its own.
            None => unreachable!("reading from memory failed: {e}"),
        },
    }
}

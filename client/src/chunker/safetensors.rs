//! safetensors headers. The rule (the strict parser, the dtype table, the header-size
//! limit) is `pqreg_spec::artifact::safetensors`, re-exported here; this module only reads
//! the header bytes from a file.

use std::io::Read;

pub use pqreg_spec::artifact::safetensors::{
    Dtype, Header, MAX_HEADER_LEN, SafetensorsError, TensorInfo, build_header,
    build_header_with_gaps,
};

/// Reads the `8 + N` header bytes from the start of a `file_len`-byte file and checks
/// them. The outer error is the I/O failure; the inner one says the file is not
/// safetensors (it is then chunked as an other file).
pub fn read_header<R: Read>(
    mut r: R,
    file_len: u64,
) -> std::io::Result<Result<Header, SafetensorsError>> {
    if file_len < 8 {
        return Ok(Err(SafetensorsError::TooShort(file_len)));
    }
    let mut prefix = vec![0u8; 8];
    r.read_exact(&mut prefix)?;
    let n = match pqreg_spec::artifact::safetensors::header_len(&prefix, file_len) {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    r.take(n).read_to_end(&mut prefix)?;
    if prefix.len() as u64 != 8 + n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Header::parse(&prefix, file_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_header() {
        let json = br#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#;
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(json);
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        let mut cursor = std::io::Cursor::new(&bytes);
        let h = read_header(&mut cursor, bytes.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(cursor.position(), h.data_start());
        assert_eq!(h, Header::parse(&bytes, bytes.len() as u64).unwrap());
        assert!(matches!(
            read_header(&bytes[..5], 5).unwrap(),
            Err(SafetensorsError::TooShort(5))
        ));
        // The file is shorter than its length says: an I/O error, not a format verdict.
        assert!(read_header(&bytes[..20], bytes.len() as u64).is_err());
    }
}

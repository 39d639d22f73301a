//! Strict JSON reading shared by the OCI and pqreg documents.
//!
//! serde_json alone accepts duplicate keys in maps (last one wins) and reports every
//! problem as one opaque error. A document whose keys repeat can mean two different things
//! to two parsers, so every document is first walked once by [`scan`], which rejects
//! duplicate keys at any depth and any non-whitespace after the top-level value; then the
//! typed parse runs and its errors are sorted into [`FormatError`] variants.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::FormatError;

/// Walks one JSON document and reports the first duplicate key or trailing data.
pub(crate) fn scan(bytes: &[u8], max_len: usize) -> Result<(), FormatError> {
    if bytes.len() > max_len {
        return Err(FormatError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Scan>();
    let first = match stream.next() {
        Some(Ok(scan)) => scan,
        Some(Err(e)) => return Err(FormatError::Json(e.to_string())),
        None => return Err(FormatError::Json("empty document".into())),
    };
    let end = stream.byte_offset();
    if let Some(dup) = first.0 {
        return Err(FormatError::DuplicateKey(dup));
    }
    if let Some(pos) = bytes[end..]
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Err(FormatError::TrailingData { offset: end + pos });
    }
    Ok(())
}

/// Parses `bytes` as `T` after [`scan`] accepted them, sorting serde's errors.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    max_len: usize,
) -> Result<T, FormatError> {
    scan(bytes, max_len)?;
    serde_json::from_slice(bytes).map_err(classify)
}

/// Sorts a serde_json data error into the variant a test can match on.
///
/// The messages tested here are serde's own (`serde::de::Error::unknown_field`,
/// `missing_field`); the position suffix serde_json appends is dropped.
pub(crate) fn classify(e: serde_json::Error) -> FormatError {
    use serde_json::error::Category;
    let msg = e.to_string();
    let bare = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.clone(),
    };
    match e.classify() {
        Category::Data => {
            if let Some(name) = backticked(&bare, "unknown field `") {
                FormatError::UnknownField(name)
            } else if let Some(name) = backticked(&bare, "missing field `") {
                FormatError::MissingField(name)
            } else if let Some(name) = backticked(&bare, "duplicate field `") {
                FormatError::DuplicateKey(name)
            } else {
                FormatError::Schema(msg)
            }
        }
        _ => FormatError::Json(msg),
    }
}

fn backticked(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?;
    Some(rest.split('`').next().unwrap_or_default().to_owned())
}

/// The result of walking one value: the first duplicate key found, if any.
///
/// Recording the duplicate instead of failing keeps the error typed (a serde error would
/// only carry a string).
struct Scan(Option<String>);

impl<'de> Deserialize<'de> for Scan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScanVisitor)
    }
}

struct ScanVisitor;

impl<'de> Visitor<'de> for ScanVisitor {
    type Value = Scan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scan, E> {
        Ok(Scan(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scan, E> {
        Ok(Scan(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scan, E> {
        Ok(Scan(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scan, E> {
        Ok(Scan(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Scan, E> {
        Ok(Scan(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scan, E> {
        Ok(Scan(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scan, A::Error> {
        let mut first = None;
        while let Some(Scan(dup)) = seq.next_element::<Scan>()? {
            first = first.or(dup);
        }
        Ok(Scan(first))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scan, A::Error> {
        let mut seen = HashSet::new();
        let mut first = None;
        while let Some(key) = map.next_key::<String>()? {
            let Scan(dup) = map.next_value::<Scan>()?;
            if !seen.insert(key.clone()) {
                first = first.or(Some(key));
            }
            first = first.or(dup);
        }
        Ok(Scan(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_accepts_plain_json() {
        scan(br#" {"a":[1,{"b":null}],"c":"d"} "#, 1024).unwrap();
    }

    #[test]
    fn scan_finds_duplicates_at_depth() {
        let err = scan(br#"{"a":[{"x":1,"x":2}]}"#, 1024).unwrap_err();
        assert!(matches!(err, FormatError::DuplicateKey(k) if k == "x"));
        let err = scan(br#"{"a":1,"a":1}"#, 1024).unwrap_err();
        assert!(matches!(err, FormatError::DuplicateKey(k) if k == "a"));
    }

    #[test]
    fn scan_finds_trailing_data() {
        let err = scan(b"{}\n{}", 1024).unwrap_err();
        assert!(matches!(err, FormatError::TrailingData { offset: 3 }));
        assert!(matches!(
            scan(b"{}x", 1024),
            Err(FormatError::TrailingData { offset: 2 })
        ));
        assert!(matches!(scan(b"", 1024), Err(FormatError::Json(_))));
        assert!(matches!(scan(b"{", 1024), Err(FormatError::Json(_))));
    }

    #[test]
    fn scan_limits_size() {
        assert!(matches!(
            scan(b"{}   ", 4),
            Err(FormatError::TooLarge { len: 5, max: 4 })
        ));
    }
}

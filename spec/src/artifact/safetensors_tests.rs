use super::*;
use std::collections::BTreeMap;

/// A file from a raw JSON header and `data_len` zero bytes of data.
fn file(json: &str, data_len: usize) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.resize(out.len() + data_len, 0);
    out
}

fn parse(bytes: &[u8]) -> Result<Header, SafetensorsError> {
    Header::parse(bytes, bytes.len() as u64)
}

#[test]
fn parses_a_valid_header() {
    let json = r#"{"__metadata__":{"format":"pt"},
        "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},
        "a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},
        "e":{"dtype":"I64","shape":[0,3],"data_offsets":[12,12]}}   "#;
    let h = parse(&file(json, 12)).unwrap();
    assert_eq!(h.metadata["format"], "pt");
    assert_eq!(h.header_len, json.len() as u64);
    assert_eq!(h.data_start(), 8 + json.len() as u64);
    // Offset order, not name order.
    let names: Vec<_> = h.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "e"]);
    assert_eq!(h.tensors[0].dtype, Dtype::BF16);
    assert_eq!(h.tensors[1].len(), 8);
    assert!(h.tensors[2].is_empty());
}

#[test]
fn build_header_round_trips() {
    let meta = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    let tensors: [(&str, Dtype, &[u64]); 3] = [
        ("z.weight", Dtype::BF16, &[3, 5]),
        ("a.bias", Dtype::F32, &[5]),
        ("m", Dtype::U8, &[7]),
    ];
    let mut bytes = build_header(&meta, &tensors);
    assert_eq!((bytes.len() - 8) % 8, 0);
    bytes.resize(bytes.len() + 30 + 20 + 7, 1);
    let h = parse(&bytes).unwrap();
    assert_eq!(h.metadata, meta);
    let got: Vec<_> = h
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.begin, t.end))
        .collect();
    assert_eq!(
        got,
        [("z.weight", 0, 30), ("a.bias", 30, 50), ("m", 50, 57)]
    );
}

#[test]
fn every_dtype_name_round_trips() {
    for (d, n, s, l) in DTYPES {
        assert_eq!(Dtype::parse(n), Some(d));
        assert_eq!(d.name(), n);
        assert_eq!(d.size(), s);
        assert_eq!(d.layout(), l);
    }
    let floats: Vec<_> = DTYPES
        .iter()
        .filter(|r| r.3 != Layout::Bytes)
        .map(|r| r.1)
        .collect();
    assert_eq!(floats, ["F16", "BF16", "F32"]);
    assert_eq!(Dtype::parse("bf16"), None);
}

#[test]
fn rejects_each_malformation() {
    use SafetensorsError as E;
    let t = |d: &str, shape: &str, b: u64, e: u64| {
        format!(r#""{d}":{{"dtype":"F32","shape":{shape},"data_offsets":[{b},{e}]}}"#)
    };
    // Short file, huge length, header past the end.
    assert!(matches!(parse(&[1, 0, 0]), Err(E::TooShort(3))));
    let mut huge = (MAX_HEADER_LEN + 1).to_le_bytes().to_vec();
    huge.push(b'{');
    assert!(matches!(parse(&huge), Err(E::HeaderTooLarge(_))));
    let mut past = 100u64.to_le_bytes().to_vec();
    past.extend_from_slice(b"{}");
    assert!(matches!(
        parse(&past),
        Err(E::HeaderPastEnd {
            header_len: 100,
            ..
        })
    ));
    // Truncated by one byte: the tensor runs past the end.
    let ok = file(&format!("{{{}}}", t("a", "[1]", 0, 4)), 4);
    assert!(parse(&ok).is_ok());
    assert!(matches!(
        parse(&ok[..ok.len() - 1]),
        Err(E::PastEnd {
            end: 4,
            data_len: 3,
            ..
        })
    ));
    // A trailing byte after the data is padding, owned by the last tensor.
    let mut long = ok.clone();
    long.push(0);
    assert!(parse(&long).is_ok());
    // Not starting with `{`, not JSON, not an object.
    assert!(matches!(parse(&file(" {}", 0)), Err(E::BadStart)));
    assert!(matches!(parse(&file("{", 0)), Err(E::BadJson(_))));
    assert!(matches!(parse(&file("{} x", 0)), Err(E::BadJson(_))));
    // Duplicate key.
    let dup = format!("{{{},{}}}", t("a", "[1]", 0, 4), t("a", "[1]", 4, 8));
    assert!(matches!(parse(&file(&dup, 8)), Err(E::DuplicateKey(k)) if k == "a"));
    // Metadata not strings.
    assert!(matches!(
        parse(&file(r#"{"__metadata__":{"a":1}}"#, 0)),
        Err(E::BadMetadata)
    ));
    // Unknown field, missing field, unknown dtype.
    let extra = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#;
    assert!(matches!(parse(&file(extra, 4)), Err(E::BadTensor { .. })));
    let missing = r#"{"a":{"dtype":"F32","shape":[1]}}"#;
    assert!(matches!(parse(&file(missing, 4)), Err(E::BadTensor { .. })));
    let unk = r#"{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#;
    assert!(matches!(parse(&file(unk, 1)), Err(E::UnknownDtype { .. })));
    // Overflowing shape.
    let big = format!("{{{}}}", t("a", &format!("[{},{}]", u64::MAX, 2), 0, 4));
    assert!(matches!(parse(&file(&big, 4)), Err(E::ShapeOverflow(_))));
    // Reversed offsets, wrong length.
    let rev = format!("{{{}}}", t("a", "[0]", 4, 0));
    assert!(matches!(parse(&file(&rev, 4)), Err(E::ReversedOffsets(_))));
    let wrong = format!("{{{}}}", t("a", "[2]", 0, 4));
    assert!(matches!(
        parse(&file(&wrong, 4)),
        Err(E::LengthMismatch {
            expected: 8,
            actual: 4,
            ..
        })
    ));
    // Gaps and a late start are padding; an overlap is refused.
    let gap = format!("{{{},{}}}", t("a", "[1]", 0, 4), t("b", "[1]", 8, 12));
    assert!(parse(&file(&gap, 12)).is_ok());
    let overlap = format!("{{{},{}}}", t("a", "[2]", 0, 8), t("b", "[1]", 4, 8));
    assert!(matches!(
        parse(&file(&overlap, 8)),
        Err(E::Overlap {
            begin: 4,
            previous_end: 8,
            ..
        })
    ));
    let late = format!("{{{}}}", t("a", "[1]", 4, 8));
    assert!(parse(&file(&late, 8)).is_ok());
    // Fewer bytes than the header.
    let ok_len = ok.len() as u64;
    assert!(matches!(
        Header::parse(&ok[..10], ok_len),
        Err(E::Incomplete { got: 10, .. })
    ));
}

/// The variant name, as `testdata/safetensors_header_cases.json` spells it.
fn variant(e: &SafetensorsError) -> &'static str {
    match e {
        SafetensorsError::Incomplete { .. } => "Incomplete",
        SafetensorsError::TooShort(_) => "TooShort",
        SafetensorsError::HeaderTooLarge(_) => "HeaderTooLarge",
        SafetensorsError::HeaderPastEnd { .. } => "HeaderPastEnd",
        SafetensorsError::BadStart => "BadStart",
        SafetensorsError::BadJson(_) => "BadJson",
        SafetensorsError::DuplicateKey(_) => "DuplicateKey",
        SafetensorsError::BadMetadata => "BadMetadata",
        SafetensorsError::BadTensor { .. } => "BadTensor",
        SafetensorsError::UnknownDtype { .. } => "UnknownDtype",
        SafetensorsError::ShapeOverflow(_) => "ShapeOverflow",
        SafetensorsError::ReversedOffsets(_) => "ReversedOffsets",
        SafetensorsError::LengthMismatch { .. } => "LengthMismatch",
        SafetensorsError::Overlap { .. } => "Overlap",
        SafetensorsError::PastEnd { .. } => "PastEnd",
    }
}

#[test]
fn vector_file_cases() {
    let doc: serde_json::Value = serde_json::from_str(include_str!(
        "../../../testdata/safetensors_header_cases.json"
    ))
    .unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let header = c["header"].as_str().unwrap();
        let prefix = c["length_prefix"].as_u64().unwrap_or(header.len() as u64);
        let mut bytes = prefix.to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + c["data_len"].as_u64().unwrap() as usize, 0);
        let got = match parse(&bytes) {
            Ok(_) => "ok",
            Err(e) => variant(&e),
        };
        assert_eq!(got, c["expect"].as_str().unwrap(), "case {name}");
    }
}

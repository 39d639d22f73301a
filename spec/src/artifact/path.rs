//! File paths in the index (spec/artifact.md, "Paths"): relative, `/`-separated,
//! printable ASCII, no `.` or `..` or empty components. A path that passes can be joined
//! under the output directory on Linux, macOS and Windows without escaping it.

use crate::oci::FormatError;

/// Longest path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest path component, in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;

/// Checks one index path.
///
/// Paths are restricted to printable ASCII without `\` so that they are already in
/// Unicode normal form and mean the same file on every file system; a model with other
/// file names must rename them before packing.
pub fn check_path(path: &str) -> Result<(), FormatError> {
    let bad = |reason| {
        Err(FormatError::BadPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("empty");
    }
    if path.len() > MAX_PATH_LEN {
        return bad("longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return bad("absolute");
    }
    if let Some(c) = path.bytes().find(|b| !(0x20..0x7f).contains(b)) {
        return if c >= 0x80 {
            bad("not ASCII")
        } else {
            bad("control character")
        };
    }
    if path.contains('\\') {
        return bad("backslash");
    }
    for comp in path.split('/') {
        match comp {
            "" => return bad("empty component"),
            "." => return bad("`.` component"),
            ".." => return bad("`..` component"),
            c if c.len() > MAX_COMPONENT_LEN => return bad("component longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "model.safetensors",
            "tokenizer/vocab.json",
            ".gitattributes",
            "a..b/c",
        ] {
            check_path(p).unwrap();
        }
    }

    #[test]
    fn rejects_escapes() {
        for (p, reason) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "`..` component"),
            ("a/../../x", "`..` component"),
            ("a/./b", "`.` component"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("a\\..\\b", "backslash"),
            ("a\nb", "control character"),
            ("caf\u{e9}", "not ASCII"),
        ] {
            match check_path(p) {
                Err(FormatError::BadPath { reason: r, .. }) => assert_eq!(r, reason, "{p:?}"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
        assert!(check_path(&"a".repeat(256)).is_err());
    }
}

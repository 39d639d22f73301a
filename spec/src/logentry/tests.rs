use super::*;

fn d(b: &[u8]) -> Digest {
    Digest::sha256(b)
}

fn sample() -> LogEntry {
    LogEntry::signature(
        "acme/llama-3-8b",
        Some("v1.0"),
        d(b"manifest"),
        d(b"statement"),
        KeyId(d(b"spki")),
        1_764_115_200,
    )
    .unwrap()
}

#[test]
fn round_trip() {
    let e = sample();
    let bytes = e.encode().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(
        "pqreg-log-entry/v1\nkind signature\nrepository acme/llama-3-8b\ntag v1.0\nmanifest sha256:"
    ));
    assert!(text.ends_with("\ntime 1764115200\n"));
    assert_eq!(LogEntry::parse(&bytes).unwrap(), e);
    assert_eq!(e.leaf_hash().unwrap(), leaf_hash(&bytes));

    let untagged = LogEntry {
        tag: None,
        ..e.clone()
    };
    let b = untagged.encode().unwrap();
    assert_eq!(LogEntry::parse(&b).unwrap(), untagged);
    assert!(!String::from_utf8(b).unwrap().contains("\ntag "));

    let t = LogEntry::tag_move("acme/x", "latest", d(b"m"), 0).unwrap();
    let b = t.encode().unwrap();
    assert_eq!(
        String::from_utf8(b.clone()).unwrap(),
        format!(
            "pqreg-log-entry/v1\nkind tag\nrepository acme/x\ntag latest\nmanifest {}\ntime 0\n",
            d(b"m")
        )
    );
    assert_eq!(LogEntry::parse(&b).unwrap(), t);
}

#[test]
fn rejects_non_canonical() {
    let good = String::from_utf8(sample().encode().unwrap()).unwrap();
    let m = d(b"manifest").to_string();
    let cases: Vec<(String, LogEntryError)> = vec![
        (good.trim_end().to_owned(), LogEntryError::MissingNewline),
        (format!("{good}\n"), LogEntryError::TrailingData(9)),
        (format!("{good}extra x\n"), LogEntryError::TrailingData(9)),
        (
            good.replace("pqreg-log-entry/v1", "pqreg-log-entry/v2"),
            LogEntryError::BadHeader,
        ),
        (
            good.replace("kind signature", "kind sig"),
            LogEntryError::BadKind("sig".into()),
        ),
        (
            good.replace("time 1764115200", "time 01764115200"),
            LogEntryError::BadTime("01764115200".into()),
        ),
        (
            good.replace("time 1764115200", "time 1764115200.0"),
            LogEntryError::BadTime("1764115200.0".into()),
        ),
        (
            good.replace("time 1764115200", "time 9223372036854775808"),
            LogEntryError::BadTime("9223372036854775808".into()),
        ),
        (
            good.replace(&m, &m.to_uppercase().replace("SHA256", "sha256")),
            LogEntryError::BadDigest("manifest"),
        ),
        (
            good.replace("repository acme", "repository Acme"),
            LogEntryError::BadRepository("Acme/llama-3-8b".into()),
        ),
        (
            good.replace("tag v1.0", "tag .v1"),
            LogEntryError::BadTag(".v1".into()),
        ),
        (
            good.replace("repository ", "repository  "),
            LogEntryError::BadRepository(" acme/llama-3-8b".into()),
        ),
        (good.replace("\n", "\r\n"), LogEntryError::BadHeader),
        // Reordered: manifest before tag.
        (
            good.replace("tag v1.0\n", "").replace(
                &format!("manifest {m}\n"),
                &format!("manifest {m}\ntag v1.0\n"),
            ),
            LogEntryError::UnexpectedLine {
                line: 5,
                expected: "statement",
            },
        ),
        (
            good.replace("kind signature\n", ""),
            LogEntryError::UnexpectedLine {
                line: 2,
                expected: "kind",
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(LogEntry::parse(input.as_bytes()), Err(want), "{input:?}");
    }
    assert_eq!(LogEntry::parse(&[0xff; 10]), Err(LogEntryError::NotUtf8));
    assert_eq!(
        LogEntry::parse(&vec![b'a'; MAX_ENTRY_BYTES + 1]),
        Err(LogEntryError::TooLarge(MAX_ENTRY_BYTES + 1))
    );
    // A tag entry needs its tag.
    let t = String::from_utf8(
        LogEntry::tag_move("a", "b", d(b"m"), 1)
            .unwrap()
            .encode()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        LogEntry::parse(t.replace("tag b\n", "").as_bytes()),
        Err(LogEntryError::UnexpectedLine {
            line: 4,
            expected: "tag"
        })
    );
}

#[test]
fn names() {
    for ok in ["a", "a/b", "a-b/c.d", "a__b", "a---b/c_d", "0/1"] {
        check_repository(ok).unwrap();
    }
    for bad in [
        "", "A", "a/", "/a", "a//b", "a..b", "a___b", "-a", "a-", "a b", "a.-b",
    ] {
        assert!(check_repository(bad).is_err(), "{bad:?}");
    }
    assert!(check_repository(&"a".repeat(256)).is_err());
    for ok in ["latest", "_x", "V1.0-rc_2", &"a".repeat(128)] {
        check_tag(ok).unwrap();
    }
    for bad in ["", "-x", ".x", "a/b", "a:b", &"a".repeat(129)] {
        assert!(check_tag(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        LogEntry::tag_move("a", "", d(b"m"), 0),
        Err(LogEntryError::BadTag(String::new()))
    );
    let mut e = sample();
    e.kind = EntryKind::Tag;
    e.tag = None;
    assert_eq!(e.encode(), Err(LogEntryError::MissingTag));
}

/// Deletion entries: `tag-delete` needs a tag, `manifest-delete` refuses one; both round-trip
/// and are distinct from a tag move of the same fields.
#[test]
fn deletion_kinds() {
    let del = LogEntry::tag_delete("acme/m", "v1", d(b"m"), 7).unwrap();
    let text = del.encode().unwrap();
    assert_eq!(
        String::from_utf8(text.clone()).unwrap(),
        format!(
            "pqreg-log-entry/v1\nkind tag-delete\nrepository acme/m\ntag v1\nmanifest {}\ntime 7\n",
            d(b"m")
        )
    );
    assert_eq!(LogEntry::parse(&text).unwrap(), del);
    let moved = LogEntry::tag_move("acme/m", "v1", d(b"m"), 7).unwrap();
    assert_ne!(moved.leaf_hash().unwrap(), del.leaf_hash().unwrap());

    let gone = LogEntry::manifest_delete("acme/m", d(b"m"), 7).unwrap();
    let text = gone.encode().unwrap();
    assert_eq!(LogEntry::parse(&text).unwrap(), gone);
    assert_eq!(gone.kind.name(), "manifest-delete");

    let with_tag = format!(
        "pqreg-log-entry/v1\nkind manifest-delete\nrepository acme/m\ntag v1\nmanifest {}\ntime 7\n",
        d(b"m")
    );
    assert_eq!(
        LogEntry::parse(with_tag.as_bytes()),
        Err(LogEntryError::UnexpectedTag)
    );
    let no_tag = format!(
        "pqreg-log-entry/v1\nkind tag-delete\nrepository acme/m\nmanifest {}\ntime 7\n",
        d(b"m")
    );
    assert!(matches!(
        LogEntry::parse(no_tag.as_bytes()),
        Err(LogEntryError::UnexpectedLine {
            expected: "tag",
            ..
        })
    ));
    let mut e = gone.clone();
    e.tag = Some("x".into());
    assert_eq!(e.encode(), Err(LogEntryError::UnexpectedTag));
}

/// Keyed entries (spec/transparency-log.md §3.2): round-trip, one spelling of the ids, no
/// mix of a clear name and a keyed id, and `conceal` leaves nothing of the names.
#[test]
fn keyed_entries() {
    let key = NameKey([9; 32]);
    let clear = LogEntry::tag_move("team/secret-project", "v2-launch", d(b"m"), 5).unwrap();
    let keyed = clear.conceal(&key, "reg.example/log").unwrap();
    assert!(keyed.is_keyed() && !clear.is_keyed());
    let text = String::from_utf8(keyed.encode().unwrap()).unwrap();
    assert!(
        !text.contains("secret") && !text.contains("launch"),
        "{text}"
    );
    assert!(text.contains("\nrepository-id ") && text.contains("\ntag-id "));
    assert_eq!(LogEntry::parse(text.as_bytes()).unwrap(), keyed);
    assert_eq!(keyed.conceal(&key, "reg.example/log").unwrap(), keyed);
    assert!(
        keyed
            .names_repository("team/secret-project", Some(&key), "reg.example/log")
            .unwrap()
    );
    assert!(
        !keyed
            .names_repository("team/other", Some(&key), "reg.example/log")
            .unwrap()
    );
    assert!(
        keyed
            .names_tag("team/secret-project", "v2-launch", Some(&key))
            .unwrap()
    );
    assert!(
        !keyed
            .names_tag("team/secret-project", "v1", Some(&key))
            .unwrap()
    );
    // A repository id is never a tag id (distinct labels).
    assert_ne!(
        key.repository_id("a", "b").unwrap(),
        key.tag_id("a", "b").unwrap()
    );

    let rid = match &keyed.repository {
        EntryName::Id(id) => id.to_string(),
        EntryName::Clear(_) => unreachable!(),
    };
    let bad = [
        // A clear tag after a keyed repository, and the reverse.
        text.replace("\ntag-id ", "\ntag "),
        String::from_utf8(clear.encode().unwrap())
            .unwrap()
            .replace("tag v2-launch", &format!("tag-id {rid}")),
        // Upper-case, short, long ids.
        text.replace(&rid, &rid.to_uppercase()),
        text.replace(&rid, &rid[1..]),
        text.replace(&rid, &format!("{rid}0")),
    ];
    for b in bad {
        assert!(LogEntry::parse(b.as_bytes()).is_err(), "{b:?}");
    }
    let mut mixed = keyed.clone();
    mixed.tag = Some("v1".into());
    assert_eq!(mixed.encode(), Err(LogEntryError::MixedNames));
    let gone = LogEntry::manifest_delete("a/b", d(b"m"), 1)
        .unwrap()
        .conceal(&key, "o")
        .unwrap();
    assert_eq!(LogEntry::parse(&gone.encode().unwrap()).unwrap(), gone);
}

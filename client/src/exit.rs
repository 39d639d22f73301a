//! Exit codes of the `pqreg` command, in one place. `client/EXIT_CODES.md` is generated
//! from [`ALL`] by [`markdown`]; a test keeps the committed file equal to it.
//!
//! The numbers and names are spec/signing.md section 8 (`pqreg_spec::bundle::verify::ExitCode`):
//! 0, 1 and 2 as every Unix tool, then one code per failed verification step from 10
//! up, so scripts can tell "the model was tampered with" from "the network was down".
//! A malformed local configuration, key file or passphrase is 1 there, so it is here;
//! 3-5 ([`OPERATIONAL`]) tell "not found", "already exists" and "unreachable" apart. A
//! test checks this table against the spec's worked example and the spec crate's enum.
//! Codes are never renumbered; new ones go into spec/signing.md first.

/// One exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode {
    /// The process exit status.
    pub code: u8,
    /// Short identifier, as in `-o json` error output.
    pub name: &'static str,
    /// When it is returned.
    pub meaning: &'static str,
    /// What to do about it.
    pub action: &'static str,
}

/// Success.
pub const OK: ExitCode = ExitCode {
    code: 0,
    name: "OK",
    meaning: "The command did what it was asked; for pull and verify, every check passed.",
    action: "Nothing.",
};

/// Any error not listed below (network, I/O, registry refused, local configuration).
pub const ERROR: ExitCode = ExitCode {
    code: 1,
    name: "ERROR",
    meaning: "An error with no code of its own: network or registry failure, file I/O, a malformed local configuration, key file or passphrase.",
    action: "Fix the cause named in the message and run the command again; `pqreg env` shows the paths and credentials in use.",
};

/// Bad command line.
pub const USAGE: ExitCode = ExitCode {
    code: 2,
    name: "USAGE",
    meaning: "The command line is invalid: unknown subcommand or flag, missing or malformed argument, bad reference.",
    action: "See `pqreg help <command>`.",
};

/// The registry has no such repository, tag, manifest or blob.
pub const NOT_FOUND: ExitCode = ExitCode {
    code: 3,
    name: "NOT_FOUND",
    meaning: "The registry answered that the repository, tag, manifest or blob does not exist (404), or a log entry index is past the end of the log.",
    action: "Check the reference (registry, repository, tag or digest) or the log index; nothing was changed or written.",
};

/// What the command would create already exists.
pub const ALREADY_EXISTS: ExitCode = ExitCode {
    code: 4,
    name: "ALREADY_EXISTS",
    meaning: "The output the command would create already exists: a pull's output path is a file or a directory that is not empty, or keygen's key file exists.",
    action: "Pull into a new or an empty directory; for keygen, pass --force or choose another --out.",
};

/// The registry (or its log) could not be reached.
pub const UNREACHABLE: ExitCode = ExitCode {
    code: 5,
    name: "UNREACHABLE",
    meaning: "The registry could not be reached or kept failing after every retry: connection refused, name not resolved, timeouts, 5xx or 429 answers.",
    action: "Check the registry host and port, the network and the registry's health, then run the command again.",
};

/// A blob, manifest or file did not hash to its digest.
pub const DIGEST_MISMATCH: ExitCode = ExitCode {
    code: 10,
    name: "DIGEST_MISMATCH",
    meaning: "A blob, manifest, index or file did not hash to the digest it is referenced by: the content was changed or corrupted in the registry, a cache or in transit.",
    action: "Do not use the model. Pull again; if it persists, report it to the registry's operator and the publisher.",
};

/// A signature did not verify.
pub const BAD_SIGNATURE: ExitCode = ExitCode {
    code: 11,
    name: "BAD_SIGNATURE",
    meaning: "The signature bundle is missing, malformed, or its signature does not verify over the statement and manifest.",
    action: "Do not use the model. Ask the publisher to re-sign it; check that you pulled the reference they published.",
};

/// A valid signature by a key the trust policy does not allow.
pub const UNTRUSTED_SIGNER: ExitCode = ExitCode {
    code: 12,
    name: "UNTRUSTED_SIGNER",
    meaning: "The signature is valid but its key is not allowed by the trust policy to sign this repository.",
    action: "If you trust the key, add it to the trust policy (`--policy FILE`, or the one in $XDG_CONFIG_HOME/pqreg/); otherwise do not use the model.",
};

/// The log inclusion or consistency proof failed.
pub const LOG_PROOF: ExitCode = ExitCode {
    code: 13,
    name: "LOG_PROOF",
    meaning: "The transparency log entry is missing or does not match the signature, its inclusion proof or checkpoint signature does not verify, a tile or entry does not hash to the signed root, the log is not in the trust policy's [[logs]], or the log is not consistent with the newest checkpoint this client verified (it rewound or forked). For `log monitor` and `log search --repo`: an entry names its repository by a keyed id and the registry answers that a watched repository has no log name key, or hands out another key than the one pinned at first use.",
    action: "Do not use the model. If the log is not configured, add its keys to [[logs]] in the trust policy; otherwise report it to the log's operator with the checkpoints (and evidence/) in $XDG_STATE_HOME/pqreg/logs/.",
};

/// A chunk, the index or the key envelope did not decrypt.
pub const DECRYPTION: ExitCode = ExitCode {
    code: 14,
    name: "DECRYPTION",
    meaning: "No recipient stanza opens with your identity, or a segment's AEAD tag does not verify (tampered or truncated ciphertext).",
    action: "Check `--identity` is a key the model was encrypted to (`pqreg inspect` lists the recipients' key IDs); ask the publisher to add your recipient key.",
};

/// The signature is for another repository or tag.
pub const WRONG_LOCATION: ExitCode = ExitCode {
    code: 15,
    name: "WRONG_LOCATION",
    meaning: "The signed statement names another repository or tag than the one pulled (a model copied or a tag moved by someone without the signing key), or names none.",
    action: "Do not use the model. Pull the reference the publisher signed; if this location is a mirror you trust, add a [[mirrors]] rule to the trust policy (spec/signing.md section 6).",
};

/// The tag went back to an older version.
pub const ROLLBACK: ExitCode = ExitCode {
    code: 16,
    name: "ROLLBACK",
    meaning: "The tag's signed version is older than one this client accepted before for the same tag, or the same version with another manifest.",
    action: "Do not use the model: the registry serves an old version. If you want the older version on purpose, pass --allow-rollback (or pull it by digest).",
};

/// The tag's signature is older than the policy allows.
pub const STALE: ExitCode = ExitCode {
    code: 17,
    name: "STALE",
    meaning: "The tag's signature is older than the trust policy's max_age: the registry may be freezing the tag at an old version.",
    action: "Ask the publisher to re-sign (push or `recipients add`) the tag, or raise max_age in the trust policy.",
};

/// SIGHUP (the terminal or SSH session went away).
pub const HANGUP: ExitCode = ExitCode {
    code: 129,
    name: "HANGUP",
    meaning: "Stopped by SIGHUP (the terminal or SSH session closed). A pull or verify removed its staging directory and wrote nothing.",
    action: "Run the command again (under nohup, tmux or a job scheduler if the session may close).",
};

/// SIGINT (Ctrl-C).
pub const INTERRUPTED: ExitCode = ExitCode {
    code: 130,
    name: "INTERRUPTED",
    meaning: "Stopped by SIGINT (Ctrl-C). A pull or verify removed its staging directory and wrote nothing.",
    action: "Run the command again when you want it to finish.",
};

/// SIGTERM (e.g. a pod being stopped).
pub const TERMINATED: ExitCode = ExitCode {
    code: 143,
    name: "TERMINATED",
    meaning: "Stopped by SIGTERM (as when a container or pod is stopped). A pull or verify removed its staging directory and wrote nothing. After SIGKILL nothing can be removed: the next pull of the same output removes what the killed one left.",
    action: "Run the command again.",
};

/// The output's file system cannot hold the model.
pub const NO_SPACE: ExitCode = ExitCode {
    code: 28,
    name: "NO_SPACE",
    meaning: "The files a pull would write (after --include/--exclude) are larger than the free space on the output directory's file system; nothing was written. (28 is ENOSPC's number.)",
    action: "Free space there, pull to another file system, or pull fewer files with --include/--exclude.",
};

/// Codes of local conditions that are not verification steps, so not in spec/signing.md
/// section 8 (nor in [`ALL`], which mirrors it).
pub const LOCAL: [ExitCode; 1] = [NO_SPACE];

/// The codes of a command stopped by a signal: 128 + the signal's number, as shells
/// report a process killed by it. They are not verification steps, so they are not in
/// spec/signing.md section 8 (nor in [`ALL`], which mirrors it).
pub const SIGNALS: [ExitCode; 3] = [HANGUP, INTERRUPTED, TERMINATED];

/// Codes for operational failures a script wants to tell from the generic 1 without
/// parsing messages. They are not verification steps, so they are not in spec/signing.md
/// section 8's table (nor in [`ALL`], which mirrors it); section 8 names them.
pub const OPERATIONAL: [ExitCode; 3] = [NOT_FOUND, ALREADY_EXISTS, UNREACHABLE];

impl From<pqreg_spec::bundle::verify::ExitCode> for ExitCode {
    /// The constant of the spec crate's code: one arm per code, so a code added to
    /// spec/signing.md section 8 does not compile here until it has its constant (the
    /// numbers and names are checked equal by `matches_spec_signing_md`).
    fn from(c: pqreg_spec::bundle::verify::ExitCode) -> Self {
        use pqreg_spec::bundle::verify::ExitCode as S;
        match c {
            S::Ok => OK,
            S::Error => ERROR,
            S::Usage => USAGE,
            S::DigestMismatch => DIGEST_MISMATCH,
            S::BadSignature => BAD_SIGNATURE,
            S::UntrustedSigner => UNTRUSTED_SIGNER,
            S::LogProof => LOG_PROOF,
            S::Decryption => DECRYPTION,
            S::WrongLocation => WRONG_LOCATION,
            S::Rollback => ROLLBACK,
            S::Stale => STALE,
        }
    }
}

/// Every code, in numeric order.
pub const ALL: [ExitCode; 11] = [
    OK,
    ERROR,
    USAGE,
    DIGEST_MISMATCH,
    BAD_SIGNATURE,
    UNTRUSTED_SIGNER,
    LOG_PROOF,
    DECRYPTION,
    WRONG_LOCATION,
    ROLLBACK,
    STALE,
];

/// `client/EXIT_CODES.md`, generated from [`ALL`].
pub fn markdown() -> String {
    let mut s = String::from(
        "# pqreg exit codes\n\n\
         <!-- Generated from client/src/exit.rs by `cargo run -p pqreg -- exit-codes`; \
         a test checks this file is current. Do not edit by hand. -->\n\n\
         Every `pqreg` command exits with one of these codes. An error is printed to stderr as \
         `pqreg: error: <what failed>` and `pqreg: hint: <what to do next>`; with `-o json`, \
         it is printed to stdout instead, as `{\"error\": {\"code\": N, \"name\": \"...\", \
         \"message\": \"...\", \"hint\": \"...\"}}`. Usage errors (2) come from the argument \
         parser and are always text.\n\n\
         | code | name | meaning | what to do |\n|---:|---|---|---|\n",
    );
    let (generic, steps) = ALL.split_at(3);
    for c in generic
        .iter()
        .chain(&OPERATIONAL)
        .chain(steps)
        .chain(&LOCAL)
        .chain(&SIGNALS)
    {
        s.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            c.code, c.name, c.meaning, c.action
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_doc_is_current() {
        let committed = include_str!("../EXIT_CODES.md");
        assert_eq!(
            committed,
            markdown(),
            "client/EXIT_CODES.md is stale: run `cargo run -p pqreg -- exit-codes > client/EXIT_CODES.md`"
        );
    }

    #[test]
    fn codes_are_distinct_and_ordered() {
        let v: Vec<u8> = ALL.iter().map(|c| c.code).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        let mut names: Vec<&str> = ALL.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), v.len());
        assert!(v.iter().skip(3).all(|c| (10..=20).contains(c)));
        let (generic, steps) = ALL.split_at(3);
        let all: Vec<u8> = generic
            .iter()
            .chain(&OPERATIONAL)
            .chain(steps)
            .chain(&SIGNALS)
            .map(|c| c.code)
            .collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        assert_eq!(OPERATIONAL.map(|c| c.code), [3, 4, 5]);
        // 128 + SIGHUP (1), SIGINT (2), SIGTERM (15).
        assert_eq!(SIGNALS.map(|c| c.code), [129, 130, 143]);
    }

    /// The table is spec/signing.md section 8: its worked example and the spec crate's enum.
    #[test]
    fn matches_spec_signing_md() {
        let doc = include_str!("../../spec/signing.md");
        let marker = "<!-- example: exit-codes -->\n```\n";
        let start = doc
            .find(marker)
            .expect("exit-codes example in spec/signing.md")
            + marker.len();
        let block = &doc[start..start + doc[start..].find("```").unwrap()];
        let from_doc: Vec<(u8, &str)> = block
            .lines()
            .map(|l| {
                let mut w = l.split_whitespace();
                (w.next().unwrap().parse().unwrap(), w.next().unwrap())
            })
            .collect();
        let ours: Vec<(u8, &str)> = ALL.iter().map(|c| (c.code, c.name)).collect();
        assert_eq!(ours, from_doc);
        let spec: Vec<(u8, &str)> = pqreg_spec::bundle::verify::ExitCode::ALL
            .iter()
            .map(|c| (c.code(), c.name()))
            .collect();
        assert_eq!(ours, spec);
        for c in pqreg_spec::bundle::verify::ExitCode::ALL {
            let mapped = ExitCode::from(c);
            assert_eq!((mapped.code, mapped.name), (c.code(), c.name()));
        }
    }
}

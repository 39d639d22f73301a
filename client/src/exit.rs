//! Exit codes of the `pqreg` command, in one place. `client/EXIT_CODES.md` is generated
//! from [`ALL`] by [`markdown`]; a test keeps the committed file equal to it.
//!
//! `spec/signing.md` defines no exit codes (checked against the `signing` branch when
//! this was written), so the numbering is ours: 0, 1 and 2 as every Unix tool, then one
//! code per failed check from 10 up, so scripts can tell "the model was tampered with"
//! from "the network was down". Codes are never renumbered; new ones are appended.

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
    name: "ok",
    meaning: "The command did what it was asked; for pull and verify, every check passed.",
    action: "Nothing.",
};

/// Any error not listed below (network, I/O, registry refused, not implemented).
pub const ERROR: ExitCode = ExitCode {
    code: 1,
    name: "error",
    meaning: "An error with no code of its own: network or registry failure, file I/O, a command not implemented yet.",
    action: "Fix the cause named in the message and run the command again; `pqreg env` shows the paths and credentials in use.",
};

/// Bad command line.
pub const USAGE: ExitCode = ExitCode {
    code: 2,
    name: "usage",
    meaning: "The command line is invalid: unknown subcommand or flag, missing or malformed argument, bad reference.",
    action: "See `pqreg help <command>`.",
};

/// A blob, manifest or file did not hash to its digest.
pub const DIGEST_MISMATCH: ExitCode = ExitCode {
    code: 10,
    name: "digest-mismatch",
    meaning: "A blob, manifest, index or file did not hash to the digest it is referenced by: the content was changed or corrupted in the registry, a cache or in transit.",
    action: "Do not use the model. Pull again; if it persists, report it to the registry's operator and the publisher.",
};

/// A signature did not verify.
pub const BAD_SIGNATURE: ExitCode = ExitCode {
    code: 11,
    name: "bad-signature",
    meaning: "The signature bundle is missing, malformed, or its signature does not verify over the statement and manifest.",
    action: "Do not use the model. Ask the publisher to re-sign it; check that you pulled the reference they published.",
};

/// A valid signature by a key the trust policy does not allow.
pub const UNTRUSTED_SIGNER: ExitCode = ExitCode {
    code: 12,
    name: "untrusted-signer",
    meaning: "The signature is valid but its key is not allowed by the trust policy to sign this repository.",
    action: "If you trust the key, add it to the policy (`--policy FILE`, or $XDG_CONFIG_HOME/pqreg/policy.json); otherwise do not use the model.",
};

/// The log inclusion or consistency proof failed.
pub const LOG_PROOF: ExitCode = ExitCode {
    code: 13,
    name: "log-proof",
    meaning: "The transparency log entry is missing, its inclusion proof or checkpoint signature does not verify, or the log is not consistent with the newest checkpoint this client verified (it rewound or forked).",
    action: "Do not use the model. Report it to the log's operator with the checkpoints in $XDG_STATE_HOME/pqreg/.",
};

/// A chunk, the index or the key envelope did not decrypt.
pub const DECRYPTION: ExitCode = ExitCode {
    code: 14,
    name: "decryption",
    meaning: "No recipient stanza opens with your identity, or a segment's AEAD tag does not verify (tampered or truncated ciphertext).",
    action: "Check `--identity` is a key the model was encrypted to (`pqreg inspect` lists the recipients' key IDs); ask the publisher to add your recipient key.",
};

/// The trust policy or configuration is invalid.
pub const POLICY: ExitCode = ExitCode {
    code: 15,
    name: "policy",
    meaning: "The trust policy or a configuration file is missing, unreadable or invalid.",
    action: "Fix the file named in the message (`pqreg env` shows the paths in use).",
};

/// A key file is unusable.
pub const KEY: ExitCode = ExitCode {
    code: 16,
    name: "key",
    meaning: "A key file is malformed, of the wrong type or algorithm, or its passphrase is wrong.",
    action: "Check the path and `--passphrase-file`; generate keys with `pqreg keygen`.",
};

/// Every code, in numeric order.
pub const ALL: [ExitCode; 10] = [
    OK,
    ERROR,
    USAGE,
    DIGEST_MISMATCH,
    BAD_SIGNATURE,
    UNTRUSTED_SIGNER,
    LOG_PROOF,
    DECRYPTION,
    POLICY,
    KEY,
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
    for c in ALL {
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
        assert!(v.iter().skip(3).all(|c| (10..=16).contains(c)));
    }
}

//! Key files named on the command line: passphrases, signing keys, recipient identities
//! and public keys, each checked to be the kind its flag asks for.

use std::path::Path;

use super::fail;
use pqreg::exit;
use pqreg::keyfile;
use pqreg_spec::keys::{
    PrivateKey, PublicKey, RecipientPrivateKey, RecipientPublicKey, SigningKey, VerifyingKey,
};

pub(crate) type Passphrase = zeroize::Zeroizing<Vec<u8>>;

pub(crate) fn passphrase(p: Option<&Path>) -> crate::common::Result<Option<Passphrase>> {
    Ok(p.map(keyfile::read_passphrase).transpose()?)
}

pub(crate) fn signing_key(
    path: &Path,
    pp: Option<&Passphrase>,
    flag: &str,
) -> crate::common::Result<SigningKey> {
    match keyfile::load_private(path, pp.map(|p| &p[..]))? {
        PrivateKey::Signing(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a signing key", path.display()),
            format!("Pass a key made by `pqreg keygen --sign` to {flag}."),
        )),
    }
}

/// The ML-DSA key of `--sign-key` and the optional ECDSA key of `--classic-sign-key`.
pub(crate) fn signing_keys(
    sign: &Path,
    classic: Option<&Path>,
    pp: Option<&Passphrase>,
) -> crate::common::Result<(SigningKey, Option<SigningKey>)> {
    let signing = signing_key(sign, pp, "--sign-key")?;
    let classic = classic
        .map(|p| signing_key(p, pp, "--classic-sign-key"))
        .transpose()?;
    Ok((signing, classic))
}

pub(crate) fn identity_key(
    path: &Path,
    pp: Option<&Passphrase>,
) -> crate::common::Result<RecipientPrivateKey> {
    match keyfile::load_private(path, pp.map(|p| &p[..]))? {
        PrivateKey::Recipient(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a recipient key", path.display()),
            "Pass a key made by `pqreg keygen --recipient` to --identity.",
        )),
    }
}

/// The recipient public key in `path` (given with `flag`).
pub(crate) fn recipient_public(
    path: &Path,
    flag: &str,
) -> crate::common::Result<RecipientPublicKey> {
    match keyfile::load_public(path)? {
        PublicKey::Recipient(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a recipient public key", path.display()),
            format!("Pass the .pub file of `pqreg keygen --recipient` to {flag}."),
        )),
    }
}

/// The signature verification key in `path` (given with `flag`).
pub(crate) fn signing_public(path: &Path, flag: &str) -> crate::common::Result<VerifyingKey> {
    match keyfile::load_public(path)? {
        PublicKey::Signing(k) => Ok(k),
        _ => Err(fail(
            exit::USAGE,
            format!("{} is not a signing public key", path.display()),
            format!("Pass the .pub file of `pqreg keygen --sign` to {flag}."),
        )),
    }
}

//! `pqreg keygen`: a signing key or a recipient key pair, as PEM files.

use clap::ValueEnum as _;
use serde_json::json;

use crate::cli::{KeyAlg, KeygenArgs};
use crate::common::{Outcome, fail};
use pqreg::exit;
use pqreg::keyfile::{self, KeyKind};
use pqreg_spec::keys::{KemAlgorithm, SignatureAlgorithm};

/// `pqreg keygen --sign|--recipient`.
pub(crate) fn run(a: &KeygenArgs) -> crate::common::Result<Outcome> {
    let kind = match (a.sign, a.alg) {
        (true, None | Some(KeyAlg::MlDsa65)) => KeyKind::Sign(SignatureAlgorithm::MlDsa65),
        (true, Some(KeyAlg::MlDsa87)) => KeyKind::Sign(SignatureAlgorithm::MlDsa87),
        (true, Some(KeyAlg::EcdsaP256)) => KeyKind::Sign(SignatureAlgorithm::EcdsaP256Sha256),
        (false, None | Some(KeyAlg::XWing)) => KeyKind::Recipient(KemAlgorithm::XWing),
        (false, Some(KeyAlg::MlKem1024)) => KeyKind::Recipient(KemAlgorithm::MlKem1024),
        (sign, Some(alg)) => {
            let (flag, allowed) = if sign {
                ("--sign", "ml-dsa-65, ml-dsa-87, ecdsa-p256")
            } else {
                ("--recipient", "x-wing, ml-kem-1024")
            };
            return Err(fail(
                exit::USAGE,
                format!(
                    "--alg {} is not a {flag} algorithm",
                    alg.to_possible_value()
                        .map(|v| v.get_name().to_owned())
                        .unwrap_or_default()
                ),
                format!("With {flag}, --alg is one of: {allowed}."),
            ));
        }
    };
    let prefix = a.out.clone().unwrap_or_else(|| {
        std::path::PathBuf::from(if a.sign {
            "pqreg-sign"
        } else {
            "pqreg-recipient"
        })
    });
    let passphrase = a
        .passphrase_file
        .as_deref()
        .map(keyfile::read_passphrase)
        .transpose()?;
    let g = keyfile::generate(kind, &prefix, passphrase.as_ref().map(|p| &p[..]), a.force)?;
    eprintln!(
        "pqreg: wrote {} key {} (private, 0600{}) and {}",
        kind.alg_name(),
        g.private_path.display(),
        if passphrase.is_some() {
            ", encrypted"
        } else {
            ""
        },
        g.public_path.display()
    );
    Ok(Outcome {
        text: g.key_id.to_string(),
        json: json!({
            "key_id": g.key_id.to_string(),
            "alg": kind.alg_name(),
            "kind": if a.sign { "sign" } else { "recipient" },
            "private_key": g.private_path,
            "public_key": g.public_path,
            "encrypted": passphrase.is_some(),
        }),
    })
}

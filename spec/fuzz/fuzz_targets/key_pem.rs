#![no_main]
// Key files (spec/keys.md): PEM -> SPKI / PKCS#8 / EncryptedPrivateKeyInfo parsers must
// never panic; what parses re-encodes to a file that parses to the same key.
use pqreg_spec::keys::{
    decode_private_pem, decode_private_pem_with_passphrase, decode_public_pem, PublicKey,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = decode_public_pem(text) {
        let pem = key.to_pem().expect("re-encode");
        let again: PublicKey = decode_public_pem(&pem).expect("round trip");
        assert_eq!(again, key);
    }
    if let Ok(key) = decode_private_pem(text) {
        let der = key.to_pkcs8_der().expect("re-encode");
        let again = pqreg_spec::keys::PrivateKey::from_pkcs8_der(&der).expect("round trip");
        assert_eq!(again.key_id().ok(), key.key_id().ok());
    }
    // The decoder caps the KDF cost, so this cannot be made to run for long.
    let _ = decode_private_pem_with_passphrase(text, b"fuzz");
});

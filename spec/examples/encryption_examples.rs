//! Prints the worked examples of spec/encryption.md (the script that made them; the
//! tests in spec/tests/encryption_doc.rs check the document against the code).
//!
//! Run: `cargo run -p pqreg-spec --example encryption_examples`.

// A developer script: panicking on failure is what it should do.
#![allow(clippy::unwrap_used)]

use hpke::Serializable;
use hpke::kem::{Kem, XWing};
use pqreg_spec::Digest;
use pqreg_spec::envelope::{KeyEnvelope, LineageSecret};
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey};
use pqreg_spec::segment::{ChunkKey, seal};

fn main() {
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = i as u8;
    }
    let secret = LineageSecret::from_bytes(secret);
    let plaintext = b"pqreg worked example\n";
    let digest = Digest::sha256(plaintext);
    let key = ChunkKey::derive(&secret, &digest);
    println!("lineage secret: {}", hex::encode(secret.as_bytes()));
    println!("plaintext:      {}", hex::encode(plaintext));
    println!("digest:         {digest}");
    println!("chunk key:      {}", hex::encode(key.as_bytes()));
    println!("commitment:     {}", hex::encode(secret.commitment()));
    println!("sealed chunk:   {}", hex::encode(seal(&key, plaintext)));

    let (sk, _) = XWing::derive_keypair(&[0x11; 32]);
    let seed = sk.to_bytes();
    let identity = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &seed).unwrap();
    let public = identity.public_key().unwrap();
    let env = KeyEnvelope::seal(&secret, &[public]).unwrap();
    println!("x-wing seed:    {}", hex::encode(seed));
    let json: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
    println!("{}", serde_json::to_string_pretty(&json).unwrap());
}

//! Prints the worked examples of spec/encryption.md (the script that made them; the
//! tests in spec/tests/encryption_doc.rs check the document against the code).
//!
//! Run: `cargo run -p pqreg-spec --example encryption_examples`.

// A developer script: panicking on failure is what it should do.
#![allow(clippy::unwrap_used)]

use hpke::Serializable;
use hpke::kem::{Kem, XWing};
use pqreg_spec::envelope::{ContentSecret, KeyEnvelope};
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey};
use pqreg_spec::segment::{ChunkKey, seal};

/// `start, start + 1, …, start + 31`.
fn counting(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + i as u8)
}

fn main() {
    let secret = ContentSecret::from_bytes(&counting(0));
    let chunk_key = ChunkKey::from_bytes(&counting(0x20));
    let plaintext = b"pqreg worked example\n";
    println!("content secret: {}", hex::encode(secret.as_bytes()));
    println!(
        "index key:      {}",
        hex::encode(ChunkKey::index_key(&secret).as_bytes())
    );
    println!("commitment:     {}", hex::encode(secret.commitment()));
    println!("chunk key:      {}", hex::encode(chunk_key.as_bytes()));
    println!();
    println!("plaintext:    {}", hex::encode(plaintext));
    println!("sealed chunk: {}", hex::encode(seal(&chunk_key, plaintext)));
    println!();
    let padded_len = pqreg_spec::segment::padme(plaintext.len() as u64) as usize;
    let mut padded = plaintext.to_vec();
    padded.resize(padded_len, 0);
    println!("plaintext:           {}", hex::encode(plaintext));
    println!("padding:             {}", padded_len - plaintext.len());
    println!(
        "sealed padded chunk: {}",
        hex::encode(seal(&chunk_key, &padded))
    );
    println!();
    println!("length     padme      padding");
    for len in [0u64, 1, 9, 21, 1234, 1048584, 67108864, 101711880] {
        let p = pqreg_spec::segment::padme(len);
        println!("{len:<10} {p:<10} {}", p - len);
    }

    let (sk, _) = XWing::derive_keypair(&[0x11; 32]);
    let seed = sk.to_bytes();
    let identity = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &seed).unwrap();
    let public = identity.public_key().unwrap();
    let env = KeyEnvelope::seal(&secret, &[public]).unwrap();
    println!("x-wing seed:    {}", hex::encode(seed));
    // In the order the writer emits the fields.
    println!("{}", serde_json::to_string_pretty(&env).unwrap());
}

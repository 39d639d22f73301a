//! Prints the keyed-entry example of spec/transparency-log.md §3.2: the §3 signature
//! entry concealed under the name key 0x07 x 32 in the log `registry.example/log`, and its
//! leaf hash. `spec/src/checkpoint/doc_tests.rs` recomputes both from the text.
//!
//! `cargo run -p pqreg-spec --example log_names`

use pqreg_spec::logentry::{LogEntry, NameKey};

const ENTRY: &str = "pqreg-log-entry/v1
kind signature
repository acme/llama-3-8b
tag v1.0
manifest sha256:89333bc71f02c647533ab52e592ad22c609728f12eabff6fda0920109db40401
statement sha256:7ce2f78d8f930a68f96f57909a884e8f03a2229afab26a53279954a441eec168
signer sha256:f910152c80be10ee2280a04cb011ce9131b993408adb19cf47f1495c331bcdbc
time 1764115200
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let entry = LogEntry::parse(ENTRY.as_bytes())?;
    let keyed = entry.conceal(&NameKey([0x07; 32]), "registry.example/log")?;
    print!("{}", String::from_utf8(keyed.encode()?)?);
    println!("{}", hex::encode(keyed.leaf_hash()?));
    Ok(())
}

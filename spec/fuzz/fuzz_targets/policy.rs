#![no_main]
// Trust-policy parser and repository matching: never panic.
use pqreg_spec::Digest;
use pqreg_spec::keys::KeyId;
use pqreg_spec::policy::Policy;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::from_toml(text) {
        let repo = "registry.example/models/llama";
        let _ = p.log_required(repo);
        for k in &p.keys {
            let _ = p.authorize(repo, &k.id);
        }
        let _ = p.authorize(repo, &KeyId(Digest::sha256(data)));
    }
    // Patterns against arbitrary repositories: split the input in two.
    let mid = text
        .char_indices()
        .map(|(i, _)| i)
        .nth(text.chars().count() / 2)
        .unwrap_or(0);
    let (a, b) = text.split_at(mid);
    let _ = pqreg_spec::policy::repository_matches(a, b);
});

//! The command line, declared with clap's derive API: every argument type of every
//! command. `main.rs` dispatches each command to its file under `cmd/`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// Push, pull and verify encrypted, post-quantum signed ML models.
///
/// References are `host[:port]/repo[:tag][@sha256:hex]`; a digest wins over a tag.
/// Without a host, `$PQREG_REGISTRY` is used. Data goes to stdout, messages to stderr.
/// Exit codes: client/EXIT_CODES.md.
#[derive(Debug, Parser)]
#[command(name = "pqreg", version, propagate_version = true)]
pub struct Cli {
    /// Output format: `text` for people, `json` for machines.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// No progress bars (they are drawn on stderr only when it is a terminal and the
    /// output is text).
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a signing key or a recipient key pair (PEM files).
    Keygen(KeygenArgs),
    /// Pack, encrypt, sign and upload a model directory.
    Push(PushArgs),
    /// Download, verify, decrypt and write a model; nothing is written unless all checks pass.
    Pull(PullArgs),
    /// Run every check `pull --verify-plaintext` runs, writing nothing.
    Verify(VerifyArgs),
    /// Show a model's manifest, recipients' key IDs, signatures and log entries.
    Inspect(InspectArgs),
    /// Add or remove a recipient (rewraps the content key; no chunk is re-uploaded).
    #[command(subcommand)]
    Recipients(RecipientsCommand),
    /// Copy a model, its signatures and referrers, to another repository or registry.
    Copy(CopyArgs),
    /// List a registry's repositories (HOST), or a repository's tags (HOST/REPO).
    Ls(LsArgs),
    /// Give an existing version a new tag, signed for that tag (the signature binds it).
    Tag(TagArgs),
    /// Delete a tag, or a version (by digest) with every tag on it; the registry logs it.
    Delete(DeleteArgs),
    /// Show or prune the client's blob cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Store credentials for a registry in the docker config.
    Login(LoginArgs),
    /// Remove a registry's credentials from the docker config.
    Logout(RegistryArg),
    /// Print the paths and configuration pqreg uses.
    Env,
    /// Query and audit a registry's transparency log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Edit and query the trust policy: signers, logs, and what a pull requires.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Print client/EXIT_CODES.md (generated from the exit-code constants).
    #[command(hide = true)]
    ExitCodes,
}

/// Key algorithms `keygen` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlg {
    /// X25519 + ML-KEM-768 hybrid recipient key (default for --recipient).
    XWing,
    /// ML-KEM-1024 recipient key (CNSA 2.0).
    #[value(name = "ml-kem-1024")]
    MlKem1024,
    /// ML-DSA-65 signing key (default for --sign).
    #[value(name = "ml-dsa-65")]
    MlDsa65,
    /// ML-DSA-87 signing key (CNSA 2.0).
    #[value(name = "ml-dsa-87")]
    MlDsa87,
    /// ECDSA P-256 signing key, for the classical OMS bundle (--classic-sign-key).
    EcdsaP256,
}

/// `pqreg keygen`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").required(true).args(["sign", "recipient"])))]
pub struct KeygenArgs {
    /// Generate a signing key.
    #[arg(long)]
    pub sign: bool,
    /// Generate a recipient (decryption) key.
    #[arg(long)]
    pub recipient: bool,
    /// Algorithm (default: ml-dsa-65 for --sign, x-wing for --recipient).
    #[arg(long, value_enum)]
    pub alg: Option<KeyAlg>,
    /// Write PREFIX.key (private, 0600) and PREFIX.pub (default: pqreg-sign or pqreg-recipient).
    #[arg(long, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
    /// Encrypt the private key with the passphrase in this file (first line).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

/// `pqreg push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The model directory.
    pub dir: PathBuf,
    /// Where to push: host[:port]/repo[:tag].
    pub reference: String,
    /// A recipient's public key file (repeatable): the model is encrypted to each. Push
    /// refuses to run without one unless --unencrypted is given.
    #[arg(long = "recipient", value_name = "PUB")]
    pub recipients: Vec<PathBuf>,
    /// Store the model unencrypted (open-weight releases): anyone who can pull it reads
    /// the weights. It is still signed and logged.
    #[arg(long, conflicts_with = "recipients")]
    pub unencrypted: bool,
    /// Read symlinks to regular files as the files they point to (a Hugging Face cache
    /// snapshot is all symlinks into its blobs/); links to directories are refused.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Pad every chunk and the index to their Padmé lengths, so the registry sees rounded
    /// sizes instead of exact ones (spec/encryption.md 6.5). Chunks are then stored
    /// uncompressed: uploads grow by the compression they lose, plus under 3.2%.
    #[arg(long, conflicts_with = "unencrypted")]
    pub pad: bool,
    /// The ML-DSA signing key.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// An ECDSA P-256 key for a second, classical OMS bundle.
    #[arg(long, value_name = "P256")]
    pub classic_sign_key: Option<PathBuf>,
    /// Passphrase file for encrypted private keys.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// A recipient private key of an earlier version: its index is read so unchanged
    /// chunks (and their keys) are reused; without it, every chunk is new. Either way the
    /// new version gets a fresh content secret. The newest version of the repository (any
    /// tag, or the one --reuse-from names) that verifies under the trust policy, or is
    /// signed by --sign-key's own key, is reused; if none does, every chunk is new, and
    /// push says why. It also makes an interrupted push resumable: the chunks it uploaded
    /// are journaled, sealed to this key, and the next push of the reference takes them.
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// Do not add --identity's public key to the new version's recipients (by default it
    /// is, so that the publisher's own key, not a cluster's, opens the version at the next
    /// push).
    #[arg(long, requires = "identity")]
    pub no_self_recipient: bool,
    /// The version to reuse chunks from, a tag or digest of the same repository (default:
    /// the newest verified version under any tag). Needs --identity.
    #[arg(long, value_name = "TAG", requires = "identity")]
    pub reuse_from: Option<String>,
    /// Trust policy an earlier version must verify under to be reused (default:
    /// $XDG_CONFIG_HOME/pqreg/policy.toml if it exists).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Parallel uploads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// `pqreg pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// What to pull: host[:port]/repo[:tag][@sha256:hex].
    pub reference: String,
    /// Output directory: a new one (it appears only when everything verified) or an empty
    /// one (e.g. a Kubernetes emptyDir; the files appear only when everything verified).
    pub dir: PathBuf,
    /// Your recipient private key.
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// Trust policy (default: $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Passphrase file for an encrypted identity.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Also write the model's classical OMS bundle (pushed with --classic-sign-key) to
    /// FILE, for `model_signing verify key DIR --signature FILE` (spec/signing.md 5.1).
    #[arg(long, value_name = "FILE")]
    pub oms_signature: Option<PathBuf>,
    /// Keep the encrypted chunk layers in the blob cache ($XDG_CACHE_HOME/pqreg/blobs):
    /// an interrupted pull resumes where it stopped and a second pull reads them locally.
    /// Without it they stream into decryption and never touch the disk.
    #[arg(long)]
    pub cache: bool,
    /// Also re-hash every written file against the signed digests. Not needed for trust:
    /// the signed manifest and the key commitment already fix every byte (spec/signing.md
    /// section 7); it costs one SHA-256 pass over the model. `pqreg verify` always does it.
    #[arg(long)]
    pub verify_plaintext: bool,
    /// Accept a tag whose signed version is older than the newest this client accepted
    /// for it (or the same version with another manifest): a deliberate downgrade.
    #[arg(long)]
    pub allow_rollback: bool,
    /// Write only the files whose path (as `pqreg inspect` lists them, `/`-separated)
    /// matches GLOB (repeatable; `*` stays within a directory, `**` spans them). The
    /// signature and the whole index are still verified, and every written byte checked.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out the files whose path matches GLOB (repeatable; wins over --include).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Pull without network (an air-gapped cluster): the model from --layout, its log
    /// entry from --proof (both written by `pqreg log proof REF --out FILE --layout DIR`
    /// and carried over). Signature, policy and the log proof are checked as online.
    #[arg(long, requires_all = ["layout", "proof"], conflicts_with_all = ["cache", "oms_signature"])]
    pub offline: bool,
    /// OCI image layout holding the model and its signature (with --offline).
    #[arg(long, value_name = "DIR", requires = "offline")]
    pub layout: Option<PathBuf>,
    /// Offline log proof, C2SP tlog-proof (with --offline).
    #[arg(long, value_name = "FILE", requires = "offline")]
    pub proof: Option<PathBuf>,
}

/// `pqreg verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// What to verify.
    pub reference: String,
    /// Your recipient private key, to check the plaintext too; without it, verify checks
    /// the signature, policy, log and every blob's digest, and says what it could not.
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// Trust policy (default: $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Verify without network: the model from --layout, the log from --proof (both
    /// written by `pqreg log proof REF --out FILE --layout DIR`).
    #[arg(long, requires_all = ["layout", "proof"])]
    pub offline: bool,
    /// OCI image layout holding the model and its signature (with --offline).
    #[arg(long, value_name = "DIR", requires = "offline")]
    pub layout: Option<PathBuf>,
    /// Offline log proof, C2SP tlog-proof (with --offline).
    #[arg(long, value_name = "FILE", requires = "offline")]
    pub proof: Option<PathBuf>,
    /// Accept a tag whose signed version is older than the newest this client accepted
    /// for it (or the same version with another manifest).
    #[arg(long)]
    pub allow_rollback: bool,
}

/// `pqreg inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// host[:port]/repo[:tag][@sha256:hex].
    pub reference: String,
    /// Trust policy to check each signature against (default:
    /// $XDG_CONFIG_HOME/pqreg/policy.toml if it exists; without one, nothing is verified).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `pqreg recipients add|remove`.
#[derive(Debug, Subcommand)]
pub enum RecipientsCommand {
    /// Add a recipient.
    Add(RecipientArgs),
    /// Remove a recipient.
    Remove(RecipientArgs),
}

/// Arguments of `recipients add|remove`.
#[derive(Debug, Args)]
pub struct RecipientArgs {
    /// The model: host[:port]/repo[:tag][@sha256:hex].
    pub reference: String,
    /// The recipient's public key file (for remove, its key ID `sha256:…` also works).
    #[arg(value_name = "PUB")]
    pub public_key: PathBuf,
    /// A current recipient's private key (to unwrap the content key).
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// The ML-DSA signing key for the new signature.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// An ECDSA P-256 key for a second, classical OMS bundle.
    #[arg(long, value_name = "P256")]
    pub classic_sign_key: Option<PathBuf>,
    /// Tag to move to the new manifest (default: the reference's tag; none for a digest).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Trust policy the current version must verify under (default: it must be signed
    /// by --sign-key's own key).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Passphrase file for encrypted private keys.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `pqreg copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source reference: host[:port]/repo[:tag][@sha256:hex].
    pub src: String,
    /// Destination: host[:port]/repo[:tag] (default tag: the source's tag, if it has one).
    pub dst: String,
    /// Trust policy whose keys' public keys re-log the signatures in the destination's
    /// log (default: $XDG_CONFIG_HOME/pqreg/policy.toml if it exists).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// A signer's public key file, to re-log its signatures (repeatable).
    #[arg(long = "signer-pub", value_name = "PUB")]
    pub signer_pubs: Vec<PathBuf>,
    /// Parallel transfers.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// `pqreg ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// HOST[:port] for its repositories, HOST[:port]/REPO for the repository's tags.
    pub target: String,
}

/// `pqreg tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The version to tag: host[:port]/repo[:tag][@sha256:hex]. By tag, it must verify
    /// as a pull of that tag would (bound to it, not older than the newest this client
    /// saw or signed for it, nor than a newer signature the registry's log holds for
    /// it); by digest, the version named.
    pub src: String,
    /// The new tag, in the same repository.
    pub tag: String,
    /// The ML-DSA signing key that signs the version for the new tag. The version must
    /// already be signed for this repository by this key, or verify under --policy.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Trust policy the version must verify under (default: it must be signed by
    /// --sign-key's own key).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Passphrase file for an encrypted signing key.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `pqreg delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// host[:port]/repo:tag (the tag only) or host[:port]/repo@sha256:hex (the version
    /// and every tag on it).
    pub reference: String,
}

/// `pqreg cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print where the blob cache is, how many blobs it holds and their size.
    Show,
    /// Delete cached blobs (all, or those not used for --older-than), and leftovers of
    /// interrupted downloads.
    Prune(CachePruneArgs),
}

/// `pqreg cache prune`.
#[derive(Debug, Args)]
pub struct CachePruneArgs {
    /// Only blobs not modified for this long: a number with s, m, h or d (e.g. 7d).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
}

/// `pqreg login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry host[:port].
    pub registry: String,
    /// User name.
    #[arg(short, long)]
    pub username: String,
    /// Read the password (or token) from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// A registry argument.
#[derive(Debug, Args)]
pub struct RegistryArg {
    /// Registry host[:port].
    pub registry: String,
}

/// `pqreg log …`.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Fetch the log's newest checkpoint, verify it with the policy's log keys, check it
    /// is consistent with the stored one, store it and print it.
    Checkpoint(LogArgs),
    /// Print entry INDEX, verified included in the newest checkpoint.
    Get(LogGetArgs),
    /// Search entries by manifest digest, signer key ID or repository (each result's
    /// inclusion proof is verified before it is printed).
    Search(LogSearchArgs),
    /// Prove the log consistent from the stored checkpoint to the newest; print both.
    Verify(LogArgs),
    /// Read every entry added since the last run (from the tiles) and report those of
    /// the watched keys and repositories.
    Monitor(LogMonitorArgs),
    /// Write an offline proof (C2SP tlog-proof) of a model's signature entry, and with
    /// --layout the model itself, for `pqreg verify --offline`.
    Proof(LogProofArgs),
}

/// The log to use.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Registry host[:port] whose log to read.
    pub registry: String,
    /// Trust policy with the log's keys in `[[logs]]` (default:
    /// $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `pqreg log get`.
#[derive(Debug, Args)]
pub struct LogGetArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Entry index.
    pub index: u64,
}

/// `pqreg log search`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("filter").required(true).multiple(true).args(["digest", "key", "repo"])))]
pub struct LogSearchArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Manifest digest (sha256:…).
    #[arg(long)]
    pub digest: Option<String>,
    /// Signer key ID (sha256:…).
    #[arg(long)]
    pub key: Option<String>,
    /// Repository (without the registry host).
    #[arg(long)]
    pub repo: Option<String>,
}

/// `pqreg log monitor`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("watch").required(true).multiple(true).args(["key", "repo", "repo_by_name"])))]
pub struct LogMonitorArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Signer key ID to watch (repeatable).
    #[arg(long)]
    pub key: Vec<String>,
    /// Repository to watch (repeatable). Entries that name it by a keyed id are
    /// recognised with its log name key, pinned at first use; without the key the run
    /// fails and keeps its position.
    #[arg(long)]
    pub repo: Vec<String>,
    /// Repository to watch that the registry logs by name (a public one): the
    /// registry's answer that it has no log name key is accepted (repeatable).
    #[arg(long, value_name = "REPO")]
    pub repo_by_name: Vec<String>,
}

/// `pqreg log proof`.
#[derive(Debug, Args)]
pub struct LogProofArgs {
    /// The model: host[:port]/repo[:tag][@sha256:hex].
    pub reference: String,
    /// Write the proof here (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the model, its config, index, chunks and signature referrer as an OCI
    /// image layout in DIR (for `pqreg verify --offline`).
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// Trust policy with the log's keys (default: $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `pqreg trust`.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Create the trust policy (0600, with comments); refuses to overwrite one.
    Init(TrustPolicyArg),
    /// Trust a signer's public key to sign the repositories matching --repos.
    AddSigner(TrustAddSignerArgs),
    /// Fetch a registry's transparency-log keys and pin them (after a fingerprint check).
    AddLog(TrustAddLogArgs),
    /// Print the trust policy's keys, rules, logs and mirrors.
    Show(TrustPolicyArg),
    /// Say which rules cover REF and what a pull of it requires.
    Check(TrustCheckArgs),
}

/// The policy file a `trust` command works on.
#[derive(Debug, Args)]
pub struct TrustPolicyArg {
    /// Trust policy (default: $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// `pqreg trust add-signer`.
#[derive(Debug, Args)]
pub struct TrustAddSignerArgs {
    /// A name for the key (rules and messages use it).
    pub name: String,
    /// The signer's PEM public key (as `pqreg keygen --sign` writes it).
    #[arg(value_name = "PUB")]
    pub public_key: PathBuf,
    /// Repository patterns it may sign: host[:port]/path, `*` within one path
    /// component, `**` across them (e.g. registry.example/models/*).
    #[arg(long = "repos", value_name = "GLOB", num_args = 1.., required = true)]
    pub repos: Vec<String>,
    /// Accept a classical (Ed25519 or ECDSA P-256) key: its rule gets that algorithm as
    /// min_algorithm. Classical signatures can be forged with a quantum computer.
    #[arg(long)]
    pub allow_classical: bool,
    #[command(flatten)]
    pub policy: TrustPolicyArg,
}

/// `pqreg trust add-log`.
#[derive(Debug, Args)]
pub struct TrustAddLogArgs {
    /// Registry host[:port] whose log keys to fetch (from https://HOST/log/v1/keys; plain
    /// HTTP for loopback hosts).
    pub host: String,
    /// SHA-256 fingerprint (sha256:<hex>) of a log key, obtained out of band from the
    /// registry's operator; give one for every key the log serves.
    #[arg(long, value_name = "F")]
    pub fingerprint: Vec<String>,
    #[command(flatten)]
    pub policy: TrustPolicyArg,
}

/// `pqreg trust check`.
#[derive(Debug, Args)]
pub struct TrustCheckArgs {
    /// host[:port]/repo[:tag][@sha256:hex].
    pub reference: String,
    #[command(flatten)]
    pub policy: TrustPolicyArg,
}

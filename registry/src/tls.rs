//! TLS (spec/auth.md §7): rustls with aws-lc-rs, the hybrid post-quantum key exchange
//! X25519MLKEM768 preferred, certificates re-read when their files change (no restart),
//! optional or required client certificates whose subject common name becomes the caller's
//! user name.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use actix_web::dev::Extensions;
use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Whether clients present certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Not asked for.
    #[default]
    None,
    /// Asked for, verified when given; a request without one authenticates otherwise.
    Optional,
    /// Every connection must present a certificate from `client_ca`.
    Required,
}

/// `[tls]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM), leaf first. TLS is on when this is set.
    pub cert: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    /// `none`, `optional` or `required`.
    pub client_auth: ClientAuth,
    /// How often the certificate files are checked for changes, seconds (0: never).
    pub reload_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            client_ca: None,
            client_auth: ClientAuth::None,
            reload_secs: 10,
        }
    }
}

impl TlsConfig {
    /// Whether TLS is configured.
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// Checks that the keys given make a usable configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.cert.is_some() != self.key.is_some() {
            return Err("tls.cert and tls.key go together".into());
        }
        if self.client_auth != ClientAuth::None && self.client_ca.is_none() {
            return Err("tls.client_auth needs tls.client_ca".into());
        }
        if self.client_auth != ClientAuth::None && !self.enabled() {
            return Err("tls.client_auth needs tls.cert and tls.key".into());
        }
        Ok(())
    }
}

/// The crypto provider: aws-lc-rs with the hybrid ML-KEM key exchange first.
pub fn provider() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::{self, kx_group};
    CryptoProvider {
        kx_groups: vec![
            kx_group::X25519MLKEM768,
            kx_group::X25519,
            kx_group::SECP256R1,
        ],
        ..aws_lc_rs::default_provider()
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn load_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificates in {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{}: no certificate", cert.display());
    }
    let k = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    CertifiedKey::from_der(chain, k, provider).with_context(|| {
        format!(
            "{} and {} do not make a usable certificate and key pair",
            cert.display(),
            key.display()
        )
    })
}

struct Current {
    key: Arc<CertifiedKey>,
    stamp: (Option<SystemTime>, Option<SystemTime>),
}

/// A certificate resolver that re-reads its files when they change.
pub struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Current>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Reloading {
    fn open(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> anyhow::Result<Reloading> {
        let stamp = (mtime(cert), mtime(key));
        let k = load_key(cert, key, &provider)?;
        Ok(Reloading {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Current {
                key: Arc::new(k),
                stamp,
            }),
        })
    }

    /// Re-reads the files if either changed; a pair that doesn't load is logged and the
    /// current certificate stays in use. Returns whether a new certificate was installed.
    pub fn reload(&self) -> bool {
        let stamp = (mtime(&self.cert), mtime(&self.key));
        if self.current.read().is_ok_and(|c| c.stamp == stamp) {
            return false;
        }
        match load_key(&self.cert, &self.key, &self.provider) {
            Ok(k) => {
                if let Ok(mut c) = self.current.write() {
                    c.key = Arc::new(k);
                    c.stamp = stamp;
                }
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Keep serving the old one; try again when the files change again.
                if let Ok(mut c) = self.current.write() {
                    c.stamp = stamp;
                }
                tracing::error!(error = %format!("{e:#}"), "TLS certificate reload failed; keeping the current one");
                false
            }
        }
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.key.clone())
    }
}

/// The rustls server configuration for `cfg`, and the resolver to reload.
pub fn server_config(cfg: &TlsConfig) -> anyhow::Result<(rustls::ServerConfig, Arc<Reloading>)> {
    let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) else {
        anyhow::bail!("TLS needs tls.cert and tls.key");
    };
    let provider = Arc::new(provider());
    let resolver = Arc::new(Reloading::open(cert, key, provider.clone())?);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match (cfg.client_auth, &cfg.client_ca) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca)) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading {}", ca.display()))?
            {
                roots
                    .add(c.with_context(|| format!("parsing {}", ca.display()))?)
                    .with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if mode == ClientAuth::Optional {
                v = v.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(v.build().context("client certificate verifier")?)
        }
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, resolver))
}

/// Checks the certificate files every `every` on a background thread.
pub fn spawn_reloader(resolver: Arc<Reloading>, every: Duration) {
    if every.is_zero() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("tls-reload".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                resolver.reload();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the TLS reload thread");
    }
}

/// The verified client certificate's subject common name, kept per connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientIdentity(pub String);

/// `HttpServer::on_connect` hook: records the verified client certificate's common name.
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    let Some(tls) = conn.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    if let Some(cn) = session
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|leaf| common_name(leaf.as_ref()))
    {
        ext.insert(ClientIdentity(cn));
    }
}

/// The subject common name of a DER certificate (rustls has verified it against the CA).
fn common_name(der: &[u8]) -> Option<String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    const CN: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == CN)
        .and_then(|atv| {
            atv.value
                .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_owned())
                .ok()
                .or_else(|| {
                    atv.value
                        .decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_owned())
                        .ok()
                })
        })
        .filter(|cn| !cn.is_empty() && !cn.contains(char::is_control))
}

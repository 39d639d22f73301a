//! TLS (spec/auth.md §7) on a real registry process: curl (OpenSSL) and a rustls client
//! that offers only the hybrid post-quantum key exchange X25519MLKEM768; client
//! certificates naming the caller; a certificate replaced on disk is served without a
//! restart; passwords without TLS off loopback are refused at configuration time.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pqreg_tests::Registry;
use pqreg_tests::server::run_registry_command;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

struct Ca {
    pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = p.self_signed(&key).expect("self-signed CA");
    Ca {
        pem: cert.pem(),
        cert,
        key,
    }
}

/// A leaf signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &Ca, cn: &str, sans: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut p = CertificateParams::new(sans).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![purpose];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).expect("sign");
    (cert.pem(), key.serialize_pem())
}

/// Replaces `path` atomically (temp file + rename), as an operator's tooling would.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// `curl` over HTTPS: the HTTP status (0 when the connection or handshake failed).
fn curl(url: &str, args: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn rustls_pq_get(addr: std::net::SocketAddr, ca_pem: &str) -> (String, String) {
    use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("ca"))
        .expect("add root");
    let provider = rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519MLKEM768],
        ..default_provider()
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("conn");
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut resp = Vec::new();
    let _ = tls.read_to_end(&mut resp);
    let group = conn
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()))
        .unwrap_or_default();
    (group, String::from_utf8_lossy(&resp).into_owned())
}

#[test]
fn tls_client_certs_pq_key_exchange_and_reload() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let ca1 = ca("pqreg test CA 1");
    let clients = ca("pqreg test client CA");
    let (cert, key) = leaf(
        &ca1,
        "registry",
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (ccert, ckey) = leaf(
        &clients,
        "inference-1",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let stranger_ca = ca("someone else");
    let (scert, skey) = leaf(
        &stranger_ca,
        "inference-1",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    for (name, text) in [
        ("ca1.pem", &ca1.pem),
        ("server.pem", &cert),
        ("server.key", &key),
        ("clients-ca.pem", &clients.pem),
        ("client.pem", &ccert),
        ("client.key", &ckey),
        ("stranger.pem", &scert),
        ("stranger.key", &skey),
    ] {
        std::fs::write(d.join(name), text).expect("write");
    }
    let pw = d.join("htpasswd");
    std::fs::write(
        &pw,
        format!("alice:{}\n", bcrypt::hash("alice-pw", 4).expect("bcrypt")),
    )
    .expect("htpasswd");
    let mut reg = Registry::start();
    reg.set_config(&format!(
        r#"
[tls]
cert = "{d}/server.pem"
key = "{d}/server.key"
client_ca = "{d}/clients-ca.pem"
client_auth = "optional"
reload_secs = 1
[auth]
mode = "basic"
htpasswd = "{pw}"
[[auth.rules]]
repositories = ["models/**"]
users = ["inference-1", "alice"]
actions = ["pull"]
"#,
        d = d.display(),
        pw = pw.display()
    ));
    reg.restart();
    let url = format!("https://{}/v2/", reg.host());
    let ca1_path = d.join("ca1.pem");
    let ca1_arg = ca1_path.to_str().expect("utf-8");
    assert_eq!(curl(&url, &["--cacert", ca1_arg]), 401, "{}", reg.log());
    assert_eq!(
        curl(&url, &["--cacert", ca1_arg, "-u", "alice:alice-pw"]),
        200
    );
    assert_eq!(curl(&url, &["--cacert", ca1_arg, "-u", "alice:nope"]), 401);
    // A client certificate from the configured CA names the caller (no password).
    let (c, k) = (d.join("client.pem"), d.join("client.key"));
    let cert_args = [
        "--cacert",
        ca1_arg,
        "--cert",
        c.to_str().expect("p"),
        "--key",
        k.to_str().expect("p"),
    ];
    assert_eq!(curl(&url, &cert_args), 200);
    // Same name, another CA: the handshake fails.
    let (sc, sk) = (d.join("stranger.pem"), d.join("stranger.key"));
    assert_eq!(
        curl(
            &url,
            &[
                "--cacert",
                ca1_arg,
                "--cert",
                sc.to_str().expect("p"),
                "--key",
                sk.to_str().expect("p")
            ]
        ),
        0
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert_ne!(curl(&format!("http://{}/v2/", reg.host()), &[]), 200);
    // A client that offers only X25519MLKEM768 completes the handshake with it.
    let (group, resp) = rustls_pq_get(reg.addr(), &ca1.pem);
    assert_eq!(group, "X25519MLKEM768");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    // Replace the certificate (new CA) on disk: served without a restart.
    let pid = reg.pid();
    let ca2 = ca("pqreg test CA 2");
    let (cert2, key2) = leaf(
        &ca2,
        "registry",
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    std::fs::write(d.join("ca2.pem"), &ca2.pem).expect("write");
    replace(&d.join("server.key"), &key2);
    replace(&d.join("server.pem"), &cert2);
    let ca2_path = d.join("ca2.pem");
    let ca2_arg = ca2_path.to_str().expect("utf-8");
    let deadline = Instant::now() + Duration::from_secs(30);
    while curl(&url, &["--cacert", ca2_arg]) != 401 {
        assert!(
            Instant::now() < deadline,
            "new certificate not served within 30 s\n{}",
            reg.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        curl(&url, &["--cacert", ca1_arg]),
        0,
        "old certificate still served"
    );
    assert_eq!(reg.pid(), pid, "the server restarted");
    // A broken replacement keeps the current certificate.
    replace(&d.join("server.pem"), "not a certificate\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reg.log().contains("TLS certificate reload failed") {
        assert!(
            Instant::now() < deadline,
            "broken certificate not noticed\n{}",
            reg.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl(&url, &["--cacert", ca2_arg]), 401, "{}", reg.log());
}

#[test]
fn passwords_without_tls_off_loopback_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    std::fs::write(
        &pw,
        format!("alice:{}\n", bcrypt::hash("x", 4).expect("bcrypt")),
    )
    .expect("htpasswd");
    let cfg = |listen: &str, extra: &str| {
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            format!(
                "listen = \"{listen}\"\n[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n{extra}",
                pw.display()
            ),
        )
        .expect("write config");
        let p = p.display().to_string();
        run_registry_command(&["--config", &p, "check-config"])
    };
    let (ok, _, err) = cfg("0.0.0.0:5000", "");
    assert!(!ok);
    assert!(
        err.contains("TLS") && err.contains("allow_insecure_basic"),
        "{err}"
    );
    assert!(cfg("127.0.0.1:5000", "").0);
    assert!(cfg("0.0.0.0:5000", "allow_insecure_basic = true\n").0);
}

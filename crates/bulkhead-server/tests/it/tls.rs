//! The control plane over TLS: a self-signed certificate generated at test
//! time, a real rustls client on loopback trusting exactly that certificate.

use crate::common;

use bulkhead_server::{Role, ServerError, ServerOptions, TlsFiles, TokenStore, start};
use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn self_signed() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Cert { cert_pem: ck.cert.pem(), key_pem: ck.signing_key.serialize_pem(), der: ck.cert.der().clone() }
}

fn write_files(dir: &Path, c: &Cert) -> TlsFiles {
    let files = TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    std::fs::write(&files.cert, &c.cert_pem).unwrap();
    std::fs::write(&files.key, &c.key_pem).unwrap();
    files
}

fn client_config(trusted: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One HTTPS request with `Connection: close`; `Err` if the TLS handshake fails.
fn https(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Result<Resp, std::io::Error> {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(trusted), name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    // The handshake runs on the first write; a refused certificate fails here.
    s.write_all(req.as_bytes())?;
    if let Some(b) = body {
        s.write_all(b)?;
    }
    s.flush()?;
    let raw = read_response(&mut s);
    if raw.is_empty() {
        return Err(std::io::Error::other("no response"));
    }
    Ok(parse_response(&raw))
}

#[test]
fn the_control_plane_serves_https_with_the_given_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let cert = self_signed();
    let files = write_files(tmp.path(), &cert);
    let mut h = start_live(LiveOptions {
        server: ServerOptions { tls: Some(files), ..ServerOptions::default() },
        ..LiveOptions::default()
    });

    // A real request over TLS, with the usual auth.
    let r = https(h.addr, &cert.der, "GET", "/api/v1/whoami", Some(&h.tokens.viewer), None).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "watcher");
    let r = https(h.addr, &cert.der, "GET", "/api/v1/strategies", None, None).unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    let r = https(h.addr, &cert.der, "GET", "/metrics", Some(&h.tokens.viewer), None).unwrap();
    assert_eq!(r.status, 200);
    common::prom::parse(&r.text()).unwrap();
    // Commands too: an operator halts a strategy over HTTPS.
    let body = br#"{"scope":"strategy","name":"momentum"}"#;
    let r = https(h.addr, &cert.der, "POST", "/api/v1/halt", Some(&h.tokens.operator), Some(body)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Plain HTTP to the TLS port gets no HTTP answer (rustls refuses the
    // bytes with an alert and closes).
    let mut plain = TcpStream::connect(h.addr).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!("GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", h.tokens.viewer);
    plain.write_all(req.as_bytes()).unwrap();
    let raw = read_response(&mut plain);
    assert!(!raw.starts_with(b"HTTP/"), "plain HTTP was answered: {}", String::from_utf8_lossy(&raw));
    if let Some(&first) = raw.first() {
        assert_eq!(first, 0x15, "expected a TLS alert record, got {raw:?}");
    }

    // A client that does not trust this certificate refuses the server.
    let other = self_signed();
    let e = https(h.addr, &other.der, "GET", "/api/v1/whoami", Some(&h.tokens.viewer), None).unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    assert_eq!(h.stop(), ["halt scope=strategy:momentum actor=ops role=operator"]);
}

#[test]
fn unusable_certificates_and_keys_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = || {
        let mut store = TokenStore::new();
        store.add(TokenStore::generate("root", Role::Admin).unwrap().1).unwrap();
        store
    };
    let try_start = |files: TlsFiles| {
        let opts = ServerOptions { tls: Some(files), ..ServerOptions::default() };
        match start("127.0.0.1:0".parse().unwrap(), tokens(), opts) {
            Err(ServerError::Tls(m)) => m,
            Err(e) => panic!("expected a TLS error, got {e}"),
            Ok(_) => panic!("started with unusable TLS files"),
        }
    };
    let a = self_signed();
    let b = self_signed();
    let good = write_files(tmp.path(), &a);

    let missing = TlsFiles { cert: tmp.path().join("nope.pem"), ..good.clone() };
    assert!(try_start(missing).contains("nope.pem"));

    let not_pem = tmp.path().join("garbage.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let m = try_start(TlsFiles { cert: not_pem.clone(), ..good.clone() });
    assert!(m.contains("garbage.pem") && m.contains("certificate"), "{m}");
    let m = try_start(TlsFiles { key: not_pem, ..good.clone() });
    assert!(m.contains("garbage.pem") && m.contains("private key"), "{m}");

    // The key of another certificate.
    let other_key = tmp.path().join("other-key.pem");
    std::fs::write(&other_key, &b.key_pem).unwrap();
    let m = try_start(TlsFiles { key: other_key.clone(), ..good.clone() });
    assert!(m.contains("other-key.pem"), "{m}");
}

//! A TLS terminator for tests, standing in for the TLS in front of a Mesos
//! master: it accepts TLS on a loopback port with a certificate for
//! `127.0.0.1` and `localhost`, signed by a CA made on the spot with rcgen,
//! and forwards the decrypted bytes to a plain-HTTP backend (the real
//! harness).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_util::sync::CancellationToken;

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("CA key");
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// Writes the CA's certificate to `path` as PEM.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.issuer.pem()).expect("write the CA file");
    }
}

/// Accepts TLS and forwards to a backend until dropped.
pub struct Terminator {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Terminator {
    /// Terminates TLS for `backend` (`host:port`) with a server certificate
    /// signed by `ca`.
    pub async fn start(ca: &TestCa, backend: &str) -> Terminator {
        let key = rcgen::KeyPair::generate().expect("server key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server params");
        let cert = params
            .signed_by(&key, &ca.issuer)
            .expect("server certificate");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("TLS server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let stop = CancellationToken::new();
        let backend = backend.to_owned();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                };
                let (acceptor, backend, stopped) =
                    (acceptor.clone(), backend.clone(), stopped.clone());
                tokio::spawn(async move {
                    let relay = async {
                        let mut tls =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(socket))
                                .await
                                .ok()?
                                .ok()?;
                        let mut plain = TcpStream::connect(&backend).await.ok()?;
                        tokio::io::copy_bidirectional(&mut tls, &mut plain)
                            .await
                            .ok()
                    };
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = relay => {}
                    }
                });
            }
        });
        Terminator { addr, stop }
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

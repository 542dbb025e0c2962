//! TLS on both sides of the gateway, with rustls (TLS 1.2 and 1.3 only, the `ring`
//! provider): the HTTPS listener's server config (certificate chain and key from PEM
//! files, ALPN `h2` and `http/1.1`), its handshake with a deadline, and the client config
//! and connector for an `https://` upstream (a CA bundle from a file, or the webpki roots;
//! an optional server name override).
//!
//! The files are read and checked when the config is checked (`config.rs` calls
//! [`server_config`] and [`client_config`]), so a bad certificate or a key that does not
//! match it stops `privgate run` before anything listens. Errors name the file and say
//! how to fix it; they never show what a file holds. Serving the decrypted stream is the
//! same as for plain connections (`mod.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use hyper::header::HeaderValue;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to complete the TLS handshake, so a slow or silent client
/// cannot hold a task and a socket for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The versions offered on both sides.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The connector to the upstream: plain TCP for `http://`, rustls over it for `https://`.
pub type UpstreamConnector = HttpsConnector<HttpConnector>;

/// A checked `upstream:` TLS setting: whom to trust and which name to expect.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// Roots and versions; ALPN is set by the connector.
    pub client: Arc<ClientConfig>,
    /// The name sent in SNI and checked in the upstream's certificate.
    pub server_name: ServerName<'static>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The HTTPS listener's config from a PEM certificate chain (leaf first) and a PEM
/// private key (PKCS#8, PKCS#1 or SEC1) that must match the leaf.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>> {
    let certs = read_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| match e {
        pem::Error::Io(e) => anyhow!("cannot read the key file `{}`: {e}", key_file.display()),
        _ => anyhow!(
            "no private key found in `{}`: expected a PEM `PRIVATE KEY` (PKCS#8), \
             `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1) block",
            key_file.display()
        ),
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| anyhow!("cannot set up TLS 1.2 and 1.3: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => anyhow!(
                "the key in `{}` does not match the certificate in `{}`: give the key the \
                 certificate was issued for, and put the server's own certificate first",
                key_file.display(),
                cert_file.display()
            ),
            e => anyhow!(
                "the certificate in `{}` or the key in `{}` cannot be used ({e}): expected \
                 an RSA, ECDSA or Ed25519 key and its X.509 certificate",
                cert_file.display(),
                key_file.display()
            ),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The upstream client's config: trusting the certificates in `ca_file`, or the webpki
/// roots (the Mozilla bundle) without one.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>> {
    let roots = match ca_file {
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| {
                    anyhow!(
                        "`{}` holds a certificate that cannot be trusted as a CA ({e}): \
                         expected the PEM certificates of the CAs that issued the \
                         upstream's certificate",
                        path.display()
                    )
                })?;
            }
            roots
        }
    };
    Ok(Arc::new(client_with_roots(roots)?))
}

fn client_with_roots(roots: RootCertStore) -> Result<ClientConfig> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| anyhow!("cannot set up TLS 1.2 and 1.3: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates of a PEM file, at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let unreadable =
        |e: pem::Error| anyhow!("cannot read the certificate file `{}`: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| match e {
            pem::Error::Io(_) => unreadable(e),
            _ => anyhow!(
                "`{}` is not a valid PEM file: expected `BEGIN CERTIFICATE` blocks",
                path.display()
            ),
        })?;
    if certs.is_empty() {
        return Err(anyhow!(
            "no certificate found in `{}`: expected PEM `BEGIN CERTIFICATE` blocks, the \
             server's own certificate first",
            path.display()
        ));
    }
    Ok(certs)
}

/// The connector to the upstream: `tls` is `None` for an `http://` upstream (then
/// connections are plain TCP exactly as before) and its settings for an `https://` one.
pub fn upstream_connector(
    mut http: HttpConnector,
    tls: Option<&UpstreamTls>,
) -> Result<UpstreamConnector> {
    Ok(match tls {
        None => {
            http.enforce_http(true);
            // Trusts nothing and is never used: requests to a plain upstream carry the
            // `http` scheme, which the connector passes to plain TCP.
            HttpsConnector::from((http, client_with_roots(RootCertStore::empty())?))
        }
        Some(tls) => {
            http.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls.client).clone())
                .https_only()
                .with_server_name_resolver(FixedServerNameResolver::new(tls.server_name.clone()))
                .enable_http1()
                .wrap_connector(http)
        }
    })
}

/// Completes the server side of a handshake on `stream`, or gives up after
/// [`HANDSHAKE_TIMEOUT`]. Failures are logged without the peer's data.
pub async fn accept(acceptor: &TlsAcceptor, stream: TcpStream) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

/// `Strict-Transport-Security: max-age=N`, or `None` when `max_age` is zero (off).
pub fn hsts(max_age: Duration) -> Option<HeaderValue> {
    if max_age.is_zero() {
        return None;
    }
    HeaderValue::from_str(&format!("max-age={}", max_age.as_secs())).ok()
}

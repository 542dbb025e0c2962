//! `privgate run` with TLS and HTTP/2, end to end on loopback: the HTTPS listener (a CA
//! and a server certificate generated here with rcgen), ALPN `h2` and `http/1.1`, h2c on
//! the plain listener, HSTS only over TLS, a stream reset when masking fails mid-body over
//! HTTP/2, draining in-flight responses on SIGTERM, and an `https://` upstream verified
//! against `upstream.ca_file` (and refused with 502 under the wrong CA).
//!
//! Clients are hyper's connection-level clients over tokio-rustls, so the ALPN outcome and
//! the HTTP version of each answer are visible. Everything binds to 127.0.0.1 port 0.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use ring::digest::{digest, SHA256};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

mod loopback;
use loopback::{fake_upstream, read_head, request, start_tls, upstream, Running};

const API_KEY: &str = "pgk_test_tls_2b9e41";
const LIST: &str = "/api/appointments?page_size=5";
const ONE_YEAR: &str = "max-age=31536000";

/// A test CA and server certificates it issues, as PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "privgate test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `<name>.pem` and `<name>-key.pem`: a leaf for `names`, then the CA.
    fn issue(&self, name: &str, names: &[&str]) {
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        std::fs::write(
            self.path(&format!("{name}.pem")),
            format!("{}{}", cert.pem(), self.ca.pem()),
        )
        .unwrap();
        std::fs::write(self.path(&format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }

    fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client trusting `ca`, offering `alpn` and `versions`.
fn client_config(
    ca: CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The gateway over `policies/clinic` in front of `upstream` (the `upstream:` section's
/// inside, e.g. `url: "http://ADDR"`), with a plain listener when `plain`, the HTTPS
/// listener with `pki`'s `gateway.pem`, and [`API_KEY`] as a receptionist's key.
fn gateway(pki: &Pki, upstream: &str, plain: bool) -> Running {
    let dir = pki.dir.path();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/clinic");
    std::fs::write(dir.join("hash.key"), "00112233445566778899aabbccddeeff\n").unwrap();
    std::fs::write(dir.join("token.key"), "ab".repeat(32)).unwrap();
    let hex: String = digest(&SHA256, API_KEY.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        dir.join("api-keys.txt"),
        format!("{hex}  svc-tls  receptionist\n"),
    )
    .unwrap();
    let listen = if plain { "listen: 127.0.0.1:0\n" } else { "" };
    let config = format!(
        "{listen}\
         tls: {{ listen: 127.0.0.1:0, cert_file: gateway.pem, key_file: gateway-key.pem }}\n\
         upstream: {{ {upstream}, connect_timeout: 5s, read_timeout: 10s }}\n\
         policy_dir: {}\n\
         identity: {{ api_keys: {{ file: api-keys.txt }} }}\n\
         keys: {{ hash_key_file: hash.key, token_key_file: token.key, token_key_id: k1 }}\n\
         workers: 2\n",
        policy.display()
    );
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privgate"));
    cmd.arg("run").arg("--config").arg(&path);
    start_tls(cmd, plain)
}

/// What a client saw: the head, and the body or the error that ended it.
#[derive(Debug)]
struct Reply {
    version: Version,
    status: StatusCode,
    headers: HeaderMap,
    body: Result<Bytes, hyper::Error>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> serde_json::Value {
        let body = self.body.as_ref().expect("a complete body");
        serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
    }
}

fn get(target: &str, with_key: bool) -> Request<Empty<Bytes>> {
    let mut req = Request::get(format!("https://localhost{target}"));
    if with_key {
        req = req.header("x-api-key", API_KEY);
    }
    req.body(Empty::new()).unwrap()
}

/// Sends `req` over `io` with HTTP/2 (prior knowledge or ALPN) or HTTP/1.1, and reads
/// the whole answer.
async fn send<I>(io: I, h2: bool, mut req: Request<Empty<Bytes>>) -> Reply
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("a response head")
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        *req.uri_mut() = req
            .uri()
            .path_and_query()
            .unwrap()
            .as_str()
            .parse()
            .unwrap();
        req.headers_mut()
            .insert("host", "localhost".parse().unwrap());
        sender.send_request(req).await.expect("a response head")
    };
    let (head, body) = response.into_parts();
    Reply {
        version: head.version,
        status: head.status,
        headers: head.headers,
        body: body.collect().await.map(|c| c.to_bytes()),
    }
}

async fn tls_connect(
    addr: &str,
    config: Arc<ClientConfig>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake")
}

async fn plain_connect(addr: &str) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(addr).await.unwrap()
}

/// The masked list: as many items as the upstream's, phones masked, no ID number or
/// full phone of the upstream's answer in it.
fn assert_masked(reply: &Reply, direct: &serde_json::Value) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let masked = reply.json();
    let items = direct["data"]["items"].as_array().unwrap();
    let masked_items = masked["data"]["items"].as_array().unwrap();
    assert_eq!(masked_items.len(), items.len());
    let text = masked.to_string();
    for (m, d) in masked_items.iter().zip(items) {
        assert!(
            m["patient"]["phone"].as_str().unwrap().contains("****"),
            "{m}"
        );
        assert!(!text.contains(d["patient"]["idCard"].as_str().unwrap()));
        assert!(!text.contains(d["patient"]["phone"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_https_listener_masks_sets_hsts_and_negotiates_h2_or_http1() {
    let up = upstream();
    let direct = request(&up.addr, "GET", LIST, &[]).json();
    let pki = Pki::new();
    pki.issue("gateway", &["localhost", "127.0.0.1"]);
    let gw = gateway(&pki, &format!("url: \"http://{}\"", up.addr), true);
    let tls_addr = gw.tls.clone().unwrap();
    let both = [&rustls::version::TLS13, &rustls::version::TLS12];

    // ALPN h2: HTTP/2.
    let stream = tls_connect(&tls_addr, client_config(pki.ca_der(), &[b"h2"], &both)).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let reply = send(stream, true, get(LIST, true)).await;
    assert_eq!(reply.version, Version::HTTP_2);
    assert_masked(&reply, &direct);
    assert_eq!(reply.header("strict-transport-security"), Some(ONE_YEAR));

    // ALPN http/1.1, TLS 1.2 only: HTTP/1.1.
    let config = client_config(pki.ca_der(), &[b"http/1.1"], &[&rustls::version::TLS12]);
    let stream = tls_connect(&tls_addr, config).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let reply = send(stream, false, get(LIST, true)).await;
    assert_eq!(reply.version, Version::HTTP_11);
    assert_masked(&reply, &direct);
    assert_eq!(reply.header("strict-transport-security"), Some(ONE_YEAR));

    // No ALPN: HTTP/1.1 still; a refusal (a problem response) carries HSTS too.
    let stream = tls_connect(&tls_addr, client_config(pki.ca_der(), &[], &both)).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    let reply = send(stream, false, get(LIST, false)).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.header("strict-transport-security"), Some(ONE_YEAR));

    // The plain listener: no HSTS.
    let raw = request(&gw.addr, "GET", LIST, &[("X-Api-Key", API_KEY)]);
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.header("strict-transport-security"), None);
}

/// A TLS 1.1 ClientHello (no `supported_versions` extension), which the gateway must
/// refuse with an alert rather than a ServerHello.
#[test]
fn a_tls_1_1_client_is_refused() {
    let pki = Pki::new();
    pki.issue("gateway", &["localhost"]);
    let (addr, _heads) = fake_upstream(Vec::new());
    let gw = gateway(&pki, &format!("url: \"http://{addr}\""), false);
    let mut hello = vec![0x03, 0x02]; // client_version TLS 1.1
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // AES-CBC-SHA suites
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, 0x00, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    let mut s = std::net::TcpStream::connect(gw.tls.as_deref().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(&record).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(!answer.is_empty(), "the server answers before closing");
    assert_eq!(
        answer[0], 0x15,
        "an alert record, not a handshake: {answer:?}"
    );
}

/// A client that connects and never starts the handshake is disconnected (after the
/// 10 s handshake timeout), so it cannot hold a task and a socket for long.
#[test]
fn a_silent_client_is_disconnected() {
    let pki = Pki::new();
    pki.issue("gateway", &["localhost"]);
    let (addr, _heads) = fake_upstream(Vec::new());
    let gw = gateway(&pki, &format!("url: \"http://{addr}\""), false);
    let mut s = std::net::TcpStream::connect(gw.tls.as_deref().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut answer = Vec::new();
    let read = s.read_to_end(&mut answer);
    assert!(
        read.is_ok(),
        "closed by the gateway, not by the read timeout: {read:?}"
    );
    assert!(answer.is_empty(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_on_the_plain_listener_masks_without_hsts() {
    let up = upstream();
    let direct = request(&up.addr, "GET", LIST, &[]).json();
    let pki = Pki::new();
    pki.issue("gateway", &["localhost"]);
    let gw = gateway(&pki, &format!("url: \"http://{}\"", up.addr), true);
    let mut req = get(LIST, true);
    *req.uri_mut() = format!("http://localhost{LIST}").parse().unwrap();
    let reply = send(plain_connect(&gw.addr).await, true, req).await;
    assert_eq!(reply.version, Version::HTTP_2);
    assert_masked(&reply, &direct);
    assert_eq!(reply.header("strict-transport-security"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_mid_stream_resets_the_http2_stream() {
    // A large valid prefix (so the head and masked output go out first), then garbage.
    let mut body = String::from(r#"{"data":{"items":["#);
    for i in 0..2000 {
        body.push_str(&format!(
            r#"{{"id":"A{i}","patient":{{"phone":"13812345678","idCard":"110101199003071233"}}}},"#
        ));
    }
    body.push_str(r#"{"patient":{"phone":"13912345678" oops "idCard":"110101199003071233"}}]}}"#);
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (addr, _heads) = fake_upstream(response.into_bytes());
    let pki = Pki::new();
    pki.issue("gateway", &["localhost"]);
    let gw = gateway(&pki, &format!("url: \"http://{addr}\""), true);

    let config = client_config(
        pki.ca_der(),
        &[b"h2"],
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    let over_tls = send(
        tls_connect(gw.tls.as_deref().unwrap(), config).await,
        true,
        get("/api/appointments", true),
    )
    .await;
    let mut req = get("/api/appointments", true);
    *req.uri_mut() = "http://localhost/api/appointments".parse().unwrap();
    let h2c = send(plain_connect(&gw.addr).await, true, req).await;
    for reply in [over_tls, h2c] {
        assert_eq!(reply.version, Version::HTTP_2);
        assert_eq!(reply.status, 200);
        // Masked records went out first; then the stream was reset, not ended.
        let e = reply
            .body
            .expect_err("the stream is reset, not ended cleanly");
        let e = format!("{e:?}");
        assert!(e.contains("Reset") || e.contains("INTERNAL_ERROR"), "{e}");
    }
}

/// Two halves of a JSON list and a gate between them: the fake upstream sends the head
/// and the first half at once, the rest when the gate opens.
#[derive(Clone)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn new() -> Gate {
        Gate(Arc::new((Mutex::new(false), Condvar::new())))
    }

    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

fn slow_upstream(records: usize, gate: Gate) -> String {
    let mut body = String::from(r#"{"data":{"items":["#);
    for i in 0..records {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":"A{i}","patient":{{"phone":"13812345678","idCard":"110101199003071233"}}}}"#
        ));
    }
    body.push_str("]}}");
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let (head, body, gate) = (head.clone(), body.clone(), gate.clone());
            thread::spawn(move || {
                read_head(&mut s);
                let (first, rest) = body.split_at(body.len() / 2);
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(first.as_bytes());
                gate.wait();
                let _ = s.write_all(rest.as_bytes());
            });
        }
    });
    addr
}

/// Reads the first body frame of `req` over `io`, then hands back the rest to finish.
async fn start_streaming<I>(
    io: I,
    h2: bool,
    req: Request<Empty<Bytes>>,
) -> tokio::task::JoinHandle<Reply>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let io = TokioIo::new(io);
        let response = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            sender.send_request(req).await.unwrap()
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            let mut req = req;
            *req.uri_mut() = req
                .uri()
                .path_and_query()
                .unwrap()
                .as_str()
                .parse()
                .unwrap();
            req.headers_mut()
                .insert("host", "localhost".parse().unwrap());
            sender.send_request(req).await.unwrap()
        };
        let (head, mut body) = response.into_parts();
        let mut seen = Vec::new();
        let first = body.frame().await.expect("a first frame").unwrap();
        seen.extend_from_slice(first.data_ref().unwrap());
        let _ = first_tx.send(());
        let rest = body.collect().await.map(|c| c.to_bytes());
        Reply {
            version: head.version,
            status: head.status,
            headers: head.headers,
            body: rest.map(|r| {
                seen.extend_from_slice(&r);
                Bytes::from(seen)
            }),
        }
    });
    first_rx.await.expect("the first body frame arrives");
    task
}

fn refused(addr: &str) -> bool {
    (0..200).any(|_| {
        if std::net::TcpStream::connect(addr).is_err() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
        false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_responses_and_refuses_new_connections() {
    const RECORDS: usize = 3000;
    let gate = Gate::new();
    let addr = slow_upstream(RECORDS, gate.clone());
    let pki = Pki::new();
    pki.issue("gateway", &["localhost"]);
    let mut gw = gateway(&pki, &format!("url: \"http://{addr}\""), true);
    let tls_addr = gw.tls.clone().unwrap();

    let config = client_config(
        pki.ca_der(),
        &[b"h2"],
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    );
    let over_tls = start_streaming(
        tls_connect(&tls_addr, config).await,
        true,
        get("/api/appointments", true),
    )
    .await;
    let over_plain = start_streaming(
        plain_connect(&gw.addr).await,
        false,
        get("/api/appointments", true),
    )
    .await;

    let status = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(refused(&gw.addr), "the plain listener is closed");
    assert!(refused(&tls_addr), "the TLS listener is closed");

    gate.open();
    for (reply, version) in [
        (over_tls.await.unwrap(), Version::HTTP_2),
        (over_plain.await.unwrap(), Version::HTTP_11),
    ] {
        assert_eq!(reply.version, version);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("strict-transport-security").is_some(),
            version == Version::HTTP_2
        );
        let v = reply.json();
        let items = v["data"]["items"].as_array().unwrap();
        assert_eq!(items.len(), RECORDS, "the whole export came through");
        assert!(items.iter().all(|i| i["patient"]["phone"] == "138****5678"));
    }
    let code = (0..300)
        .find_map(|_| match gw.child.try_wait().unwrap() {
            Some(status) => Some(status),
            None => {
                thread::sleep(Duration::from_millis(100));
                None
            }
        })
        .expect("the gateway exits after draining");
    assert_eq!(code.code(), Some(0));
}

const BODY: &str = r#"{"code":0,"data":{"items":[{"id":"A1","patient":{"name":"张三","phone":"13812345678","idCard":"110101199003071233"}}]}}"#;

/// A TLS upstream serving `cert_file`/`key_file` that answers every request with
/// [`BODY`]; its address and the request heads it saw.
fn tls_upstream(cert_file: &Path, key_file: &Path) -> (String, std::sync::mpsc::Receiver<String>) {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key_file).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(tcp).await else { return };
                    let mut head = Vec::new();
                    let mut byte = [0u8];
                    while !head.ends_with(b"\r\n\r\n") {
                        if s.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    let _ = s.write_all(response.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
    });
    (addr, rx)
}

#[test]
fn an_https_upstream_is_verified_against_the_configured_ca() {
    let pki = Pki::new();
    pki.issue("gateway", &["localhost"]);
    pki.issue("upstream", &["legacy.test"]);
    let (addr, heads) = tls_upstream(&pki.path("upstream.pem"), &pki.path("upstream-key.pem"));
    let other = Pki::new();
    std::fs::copy(other.path("ca.pem"), pki.path("other-ca.pem")).unwrap();

    let cases = [
        // The CA that issued it and the name in the certificate: served and masked.
        (
            format!("url: \"https://{addr}\", ca_file: ca.pem, server_name: legacy.test"),
            200,
        ),
        // The right CA, but the URL's host (127.0.0.1) is not in the certificate.
        (format!("url: \"https://{addr}\", ca_file: ca.pem"), 502),
        // Another CA.
        (
            format!("url: \"https://{addr}\", ca_file: other-ca.pem, server_name: legacy.test"),
            502,
        ),
        // The webpki roots do not know the test CA.
        (
            format!("url: \"https://{addr}\", server_name: legacy.test"),
            502,
        ),
    ];
    for (upstream, status) in cases {
        let gw = gateway(&pki, &upstream, true);
        let r = request(
            &gw.addr,
            "GET",
            "/api/appointments",
            &[("X-Api-Key", API_KEY)],
        );
        assert_eq!(r.status, status, "{upstream}: {r:?}");
        let text = r.text();
        assert!(!text.contains("13812345678"), "{text}");
        if status == 200 {
            assert!(text.contains("138****5678"), "{text}");
            let head = heads
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .to_ascii_lowercase();
            assert!(
                head.starts_with("get /api/appointments http/1.1\r\n"),
                "{head}"
            );
            assert!(!head.contains("x-api-key"), "{head}");
        } else {
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
        }
    }
}

//! The scripted server of `tests/harness` behind a real TCP listener on 127.0.0.1 with real
//! TLS (rustls, a certificate made by rcgen), so that the adapters can be tested end to end
//! without an XMPP server installed.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::harness::{Script, Server, DOMAIN};

/// A server's certificate (with the chain it sends) and key.
#[derive(Clone)]
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    key: Vec<u8>,
    /// Certificates sent after `cert`.
    chain: Vec<CertificateDer<'static>>,
}

/// A self-signed certificate for the harness's domain, made once per test binary.
pub fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| pki::self_signed(&[DOMAIN], false, false))
}

/// Certificates of every kind a TLS error test needs, made with rcgen.
pub mod pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::CertificateDer;

    use super::Identity;

    fn params(names: &[&str], is_ca: bool, expired: bool) -> CertificateParams {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if is_ca {
            // What `openssl req -x509` makes by default: basicConstraints CA:TRUE.
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        params
    }

    /// A self-signed certificate for `names`, marked CA:TRUE if `is_ca`.
    pub fn self_signed(names: &[&str], is_ca: bool, expired: bool) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = params(names, is_ca, expired).self_signed(&key).unwrap();
        Identity {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key: key.serialize_der(),
            chain: Vec::new(),
        }
    }

    /// A private CA.
    pub struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pub cert: CertificateDer<'static>,
        pub cert_pem: String,
    }

    impl Ca {
        pub fn new() -> Ca {
            Self::with_names(&[])
        }

        /// A CA certificate that also names servers (as a self-signed `openssl req -x509`
        /// certificate does).
        pub fn with_names(names: &[&str]) -> Ca {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let key = KeyPair::generate().unwrap();
            let mut params = params(names, true, false);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("test CA {n}"));
            let cert = params.self_signed(&key).unwrap();
            Ca {
                issuer: Issuer::new(params, key),
                cert: cert.der().clone(),
                cert_pem: cert.pem(),
            }
        }

        /// A server certificate for `names` signed by this CA (marked CA:TRUE if `is_ca`).
        pub fn issue(&self, names: &[&str], is_ca: bool) -> Identity {
            let key = KeyPair::generate().unwrap();
            let cert = params(names, is_ca, false)
                .signed_by(&key, &self.issuer)
                .unwrap();
            Identity {
                cert: cert.der().clone(),
                cert_pem: cert.pem(),
                key: key.serialize_der(),
                chain: vec![self.cert.clone()],
            }
        }
    }
}

fn server_config(id: &Identity) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone()));
    let mut chain = vec![id.cert.clone()];
    chain.extend(id.chain.iter().cloned());
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    Arc::new(config)
}

/// A two-thread runtime for the tokio adapter's tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the server does after an element from the client.
pub enum Reaction {
    Continue,
    /// Drop the connection without closing the stream (a crash).
    Drop,
}

/// What happened on the server side, for assertions.
#[derive(Debug, Default)]
pub struct Log {
    /// Every element the client sent.
    pub received: Vec<String>,
    /// The ALPN protocol the client offered and the server chose (direct TLS).
    pub alpn: Option<Vec<u8>>,
    /// The client closed its stream.
    pub client_closed: bool,
    /// The TLS handshake failed (the client refused the certificate).
    pub tls_failed: bool,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    thread: Option<JoinHandle<Log>>,
}

impl FakeServer {
    /// Serves one connection with the harness server and `script`; `react` sees each element
    /// the client sends and may answer through the server.
    pub fn start(
        script: Script,
        direct_tls: bool,
        react: impl FnMut(&str, &mut Server) -> Reaction + Send + 'static,
    ) -> FakeServer {
        Self::start_as(identity().clone(), script, direct_tls, react)
    }

    /// As [`Self::start`], with this certificate.
    pub fn start_as(
        identity: Identity,
        script: Script,
        direct_tls: bool,
        mut react: impl FnMut(&str, &mut Server) -> Reaction + Send + 'static,
    ) -> FakeServer {
        let tls = server_config(&identity);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let mut log = Log::default();
            let Ok((tcp, _)) = listener.accept() else {
                return log;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut server = Server::new(script);
            let mut stream = if direct_tls {
                server.tls = true;
                match Stream::tls(tcp, &tls) {
                    Some(s) => s,
                    None => {
                        log.tls_failed = true;
                        return log;
                    }
                }
            } else {
                Stream::Tcp(tcp)
            };
            if let Stream::Tls(s) = &stream {
                log.alpn = s.conn.alpn_protocol().map(<[u8]>::to_vec);
            }
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let out = std::mem::take(&mut server.out);
                if !out.is_empty() && stream.write_all(&out).is_err() {
                    break;
                }
                if server.tls_pending() {
                    let Stream::Tcp(tcp) = stream else { break };
                    stream = match Stream::tls(tcp, &tls) {
                        Some(s) => s,
                        None => {
                            log.tls_failed = true;
                            break;
                        }
                    };
                    server.start_tls();
                    continue;
                }
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let before = server.received.len();
                server.feed(&buf[..n]);
                let new: Vec<String> = server.received[before..].to_vec();
                let mut dropped = false;
                for el in &new {
                    if let Reaction::Drop = react(el, &mut server) {
                        dropped = true;
                    }
                }
                if dropped {
                    break;
                }
            }
            log.received = server.received;
            log.client_closed = server.client_closed;
            log
        });
        FakeServer {
            addr,
            thread: Some(thread),
        }
    }

    /// A server that needs nothing special: default script, STARTTLS.
    pub fn plain() -> FakeServer {
        Self::start(Script::default(), false, |_, _| Reaction::Continue)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Options that reach this server and trust its certificate.
    pub fn options(&self) -> xmpp_sansio::net::ConnectOptions {
        xmpp_sansio::net::ConnectOptions::new()
            .host("127.0.0.1", self.port())
            .trust(xmpp_sansio::net::Trust::Certificates(vec![identity()
                .cert
                .clone()]))
    }

    /// Waits for the connection to end and returns what the server saw.
    pub fn finish(mut self) -> Log {
        self.thread.take().unwrap().join().unwrap()
    }
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn tls(mut tcp: TcpStream, config: &Arc<ServerConfig>) -> Option<Stream> {
        let mut conn = ServerConnection::new(config.clone()).unwrap();
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                return None;
            }
        }
        Some(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(data),
            Stream::Tls(s) => s.write_all(data).and_then(|()| s.flush()),
        }
    }
}

/// A server that answers every connection with a stream header and a `see-other-host`
/// error pointing at `target`; counts the connections it served.
pub fn redirector(
    target: impl Fn() -> String + Send + 'static,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf);
            let reply = format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='{DOMAIN}' \
                 id='r1'><stream:error><see-other-host \
                 xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{}</see-other-host>\
                 </stream:error></stream:stream>",
                target()
            );
            let _ = tcp.write_all(reply.as_bytes());
        }
    });
    (addr, count)
}

/// A listener that accepts and then says nothing.
pub fn silent() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        if let Ok((mut tcp, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
        }
    });
    (addr, thread)
}

/// A server that answers whatever it receives with XML, as an XMPP server does when a TLS
/// handshake arrives on a STARTTLS port: its stream header and a `not-well-formed` error.
pub fn xml_speaker() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut tcp, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(
                b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                  xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='x'>\
                  <stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
                  </stream:error></stream:stream>",
            );
        }
    });
    addr
}

/// A server that reads what arrives and closes without a word, as ejabberd's direct-TLS port
/// does with a plaintext stream header.
pub fn closer() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf);
        }
    });
    addr
}

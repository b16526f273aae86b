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

/// A self-signed certificate for the harness's domain, made once per test binary.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    key: Vec<u8>,
}

pub fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec![DOMAIN.to_owned()]).unwrap();
        Identity {
            cert: made.cert.der().clone(),
            cert_pem: made.cert.pem(),
            key: made.signing_key.serialize_der(),
        }
    })
}

fn server_config() -> Arc<ServerConfig> {
    let id = identity();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key.clone()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![id.cert.clone()], key)
            .unwrap();
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    Arc::new(config)
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
        mut react: impl FnMut(&str, &mut Server) -> Reaction + Send + 'static,
    ) -> FakeServer {
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
                match Stream::tls(tcp) {
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
                    stream = match Stream::tls(tcp) {
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
    fn tls(mut tcp: TcpStream) -> Option<Stream> {
        let mut conn = ServerConnection::new(server_config()).unwrap();
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

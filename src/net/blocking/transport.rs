//! The blocking adapter's transports: connecting to the first endpoint that answers (for a
//! first login and for a reconnection), the TLS handshake, and moving bytes through rustls
//! over a std socket.

use std::io::{self, BufRead, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use rustls::ClientConnection;

use super::super::tls::{self, TlsConfigs};
use super::super::{endpoints, tls_server_name, worse, ConnectOptions, Endpoint, Error, Probe};
use crate::client::{Client, TlsInfo};

/// Feeds `raw` to TLS and the plaintext it yields to the client.
pub(super) fn decrypt(
    tls: &mut ClientConnection,
    sock: &mut TcpStream,
    client: &mut Client,
    now: Instant,
    mut raw: &[u8],
) -> io::Result<()> {
    while !raw.is_empty() {
        tls.read_tls(&mut raw)?;
        let state = match tls.process_new_packets() {
            Ok(state) => state,
            Err(e) => {
                // Tell the server why (the alert rustls queued), then give up.
                let _ = write_tls_all(tls, sock, &[]);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        };
        // Handed over where rustls holds it: no plaintext buffer of our own.
        let mut left = state.plaintext_bytes_to_read();
        let mut reader = tls.reader();
        while left > 0 {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            client.handle_input(now, chunk);
            reader.consume(n);
            left = left.saturating_sub(n);
        }
        if state.peer_has_closed() {
            client.handle_eof(now);
            return Ok(());
        }
    }
    // Post-handshake messages (a key update) may call for an answer.
    if tls.wants_write() {
        write_tls_all(tls, sock, &[])?;
    }
    Ok(())
}

/// A connected socket, with its TLS session for direct TLS.
pub(super) struct Opened {
    pub(super) sock: TcpStream,
    pub(super) endpoint: Endpoint,
    pub(super) tls: Option<(ClientConnection, TlsInfo)>,
}

/// Connects to the first endpoint that answers (completing the handshake for direct TLS, by
/// `deadline`).
pub(super) fn open_socket(
    domain: &str,
    targets: &[Endpoint],
    options: &ConnectOptions,
    configs: &TlsConfigs,
    deadline: Instant,
) -> Result<Opened, Error> {
    let server_name = tls_server_name(domain);
    let mut last = None;
    for target in targets {
        let mut sock = match connect_tcp(target, options) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(endpoint = %target, error = %e, "connect attempt failed");
                last = worse(last, e);
                continue;
            }
        };
        let tls = if target.direct_tls {
            match handshake(&configs.direct, &server_name, target, &mut sock, deadline) {
                Ok(done) => Some(done),
                Err(e) => {
                    tracing::debug!(endpoint = %target, error = %e, "TLS failed");
                    last = worse(last, e);
                    continue;
                }
            }
        } else {
            None
        };
        return Ok(Opened {
            sock,
            endpoint: target.clone(),
            tls,
        });
    }
    Err(last.unwrap_or_else(|| Error::Connect {
        endpoint: "(none)".into(),
        source: io::ErrorKind::NotFound.into(),
    }))
}

/// Encrypts `data` and writes it all, only writing: rustls's `Stream` would also read while a
/// write is blocked, and so wait for the read timeout rather than the write timeout.
pub(super) fn write_tls_all(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    data: &[u8],
) -> io::Result<()> {
    let mut pos = 0;
    loop {
        while conn.wants_write() {
            match conn.write_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if pos == data.len() {
            return Ok(());
        }
        // rustls takes as much plaintext as its buffer allows.
        match conn.writer().write(&data[pos..])? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => pos += n,
        }
    }
}

/// The endpoints to try, resolving DNS SRV on a throwaway single-threaded runtime.
pub(super) fn resolve(domain: &str, options: &ConnectOptions) -> Result<Vec<Endpoint>, Error> {
    if let super::super::Server::Host(endpoint) = &options.server {
        return Ok(vec![endpoint.clone()]);
    }
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(endpoints(domain, options))
}

/// Connects to each address of `target` in turn, each within the connect timeout.
fn connect_tcp(target: &Endpoint, options: &ConnectOptions) -> Result<TcpStream, Error> {
    let fail = |source| Error::Connect {
        endpoint: target.to_string(),
        source,
    };
    let addrs = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(fail)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        tracing::debug!(endpoint = %target, %addr, "connecting");
        match TcpStream::connect_timeout(&addr, options.connect_timeout) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                // A peer that stops reading must not block a write forever.
                let write_timeout = Some(options.write_timeout).filter(|t| !t.is_zero());
                tcp.set_write_timeout(write_timeout).map_err(fail)?;
                tracing::debug!(endpoint = %target, %addr, "connected");
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

/// A socket that remembers the first bytes it read, for [`tls::handshake_failure`].
struct Watched<'a> {
    sock: &'a mut TcpStream,
    probe: Probe,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.probe.record(&buf[..n]);
        Ok(n)
    }
}

impl Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

pub(super) fn handshake(
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
    endpoint: &Endpoint,
    sock: &mut TcpStream,
    deadline: Instant,
) -> Result<(ClientConnection, TlsInfo), Error> {
    let name = tls::server_name(server_name)?;
    let mut watched = Watched {
        sock,
        probe: Probe::default(),
    };
    let fail = |e: io::Error, probe: &Probe| {
        // A socket timeout reads as WouldBlock on Unix: say what it is.
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
                tls::handshake_error(server_name, endpoint, e)
            }
            _ => tls::handshake_failure(server_name, endpoint, e, probe),
        }
    };
    let mut conn = ClientConnection::new(config.clone(), name).map_err(|e| {
        fail(
            io::Error::new(io::ErrorKind::InvalidData, e),
            &watched.probe,
        )
    })?;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(io::ErrorKind::TimedOut.into(), &watched.probe));
        }
        if let Err(e) = watched.sock.set_read_timeout(Some(left)) {
            return Err(fail(e, &watched.probe));
        }
        if let Err(e) = conn.complete_io(&mut watched) {
            return Err(fail(e, &watched.probe));
        }
    }
    let info = tls::tls_info(&conn);
    Ok((conn, info))
}

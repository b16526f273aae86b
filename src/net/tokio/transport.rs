//! The tokio adapter's transports: TCP and TLS sockets that remember their first bytes,
//! connecting to the first endpoint that answers (for a first login and for a
//! reconnection), and the TLS handshake.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::{timeout, timeout_at};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::super::tls::{self, TlsConfigs};
use super::super::{
    endpoints, parse_see_other_host, tls_server_name, worse, ConnectOptions, Endpoint, Error, Probe,
};
use crate::client::TlsInfo;

/// A socket that remembers the first bytes it read, so that a peer speaking the wrong
/// protocol (TLS on a STARTTLS connection, XML on a direct TLS one) can be named as such.
pub(super) struct Watched {
    tcp: TcpStream,
    probe: Probe,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            this.probe.record(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

pub(super) enum Transport {
    Tcp(Watched),
    Tls(Box<TlsStream<Watched>>),
    Gone,
}

/// Bytes asked of the socket per read: one TLS record's worth (a record carries at most
/// 16 KiB of plaintext). The buffer is one per thread, not per session.
const READ_SIZE: usize = 16 * 1024;

thread_local! {
    /// What sessions on this thread read into. A read's bytes are handed to the client in
    /// the same poll of the session's task that read them (nothing else runs on the thread
    /// in between), so one buffer per thread serves all its sessions and a session at rest
    /// holds none.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

/// Runs `f` on this thread's read buffer, where the last [`Transport::read`] left its
/// bytes. Call it in the same poll as that read completed: no `.await` in between.
pub(super) fn with_read_bytes<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    SCRATCH.with_borrow(|buf| f(buf))
}

impl Transport {
    /// Reads into this thread's buffer ([`with_read_bytes`]); the number of bytes read.
    /// Cancel-safe: a read that is not complete has taken nothing.
    pub(super) async fn read(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|buf| {
                let mut buf = ReadBuf::new(buf);
                let polled = match self {
                    Transport::Tcp(s) => Pin::new(s).poll_read(cx, &mut buf),
                    Transport::Tls(s) => Pin::new(&mut **s).poll_read(cx, &mut buf),
                    Transport::Gone => Poll::Ready(Ok(())),
                };
                polled.map_ok(|()| buf.filled().len())
            })
        })
        .await
    }

    pub(super) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.write_all(data).await,
            Transport::Tls(s) => s.write_all(data).await,
            Transport::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.flush().await,
            Transport::Tls(s) => s.flush().await,
            Transport::Gone => Ok(()),
        }
    }

    pub(super) async fn shutdown(&mut self) {
        // Best effort: the peer may be gone already.
        let _ = match self {
            Transport::Tcp(s) => s.shutdown().await,
            Transport::Tls(s) => s.shutdown().await,
            Transport::Gone => Ok(()),
        };
        *self = Transport::Gone;
    }

    pub(super) fn probe(&self) -> Option<&Probe> {
        match self {
            Transport::Tcp(s) => Some(&s.probe),
            Transport::Tls(s) => Some(&s.get_ref().0.probe),
            Transport::Gone => None,
        }
    }
}

/// A transport being opened for a reconnection.
pub(super) type Connecting = Pin<Box<dyn Future<Output = Result<Opened, Error>> + Send>>;

/// A transport, opened.
pub(super) struct Opened {
    pub(super) transport: Transport,
    pub(super) endpoint: Endpoint,
    /// For direct TLS, what the handshake found.
    pub(super) tls_info: Option<TlsInfo>,
}

/// Connects to the first of `targets` that answers (completing the TLS handshake for direct
/// TLS, by `deadline`).
pub(super) async fn open_transport(
    domain: &str,
    targets: &[Endpoint],
    options: &ConnectOptions,
    tls: &TlsConfigs,
    deadline: Instant,
) -> Result<Opened, Error> {
    let server_name = tls_server_name(domain);
    let mut last = None;
    for target in targets {
        let tcp = match connect_tcp(target, options).await {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(endpoint = %target, error = %e, "connect attempt failed");
                last = worse(last, e);
                continue;
            }
        };
        let watched = Watched {
            tcp,
            probe: Probe::default(),
        };
        if !target.direct_tls {
            return Ok(Opened {
                transport: Transport::Tcp(watched),
                endpoint: target.clone(),
                tls_info: None,
            });
        }
        match handshake(&tls.direct, &server_name, target, watched, deadline.into()).await {
            Ok((stream, info)) => {
                return Ok(Opened {
                    transport: Transport::Tls(Box::new(stream)),
                    endpoint: target.clone(),
                    tls_info: Some(info),
                })
            }
            Err(e) => {
                tracing::debug!(endpoint = %target, error = %e, "TLS failed");
                last = worse(last, e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::Connect {
        endpoint: "(none)".into(),
        source: io::ErrorKind::NotFound.into(),
    }))
}

/// Opens a transport for a reconnection: to `to` if the client named a host, else to the
/// configured endpoints (DNS looked up again: records may have changed).
pub(super) async fn reconnect(
    domain: String,
    to: Option<String>,
    options: ConnectOptions,
    tls: TlsConfigs,
    deadline: Instant,
) -> Result<Opened, Error> {
    let targets = match to.as_deref().and_then(parse_see_other_host) {
        Some(endpoint) => vec![endpoint],
        None => endpoints(&domain, &options).await?,
    };
    open_transport(&domain, &targets, &options, &tls, deadline).await
}

/// Waits for the transport being opened (never, if none is).
pub(super) async fn opened(connecting: &mut Option<Connecting>) -> Result<Opened, Error> {
    match connecting {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Connects to each address of `target` in turn, each within the connect timeout.
pub(super) async fn connect_tcp(
    target: &Endpoint,
    options: &ConnectOptions,
) -> Result<TcpStream, Error> {
    let endpoint = target.to_string();
    let fail = |source| Error::Connect {
        endpoint: endpoint.clone(),
        source,
    };
    let addrs = with_timeout(
        options,
        ::tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await
    .map_err(fail)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        tracing::debug!(endpoint = %target, %addr, "connecting");
        match with_timeout(options, TcpStream::connect(addr)).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                tracing::debug!(endpoint = %target, %addr, "connected");
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

async fn with_timeout<T>(
    options: &ConnectOptions,
    f: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout(options.connect_timeout, f).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

pub(super) async fn handshake(
    config: &std::sync::Arc<rustls::ClientConfig>,
    server_name: &str,
    endpoint: &Endpoint,
    tcp: Watched,
    deadline: ::tokio::time::Instant,
) -> Result<(TlsStream<Watched>, TlsInfo), Error> {
    let name = tls::server_name(server_name)?;
    let connecting = TlsConnector::from(config.clone())
        .connect(name, tcp)
        .into_fallible();
    let stream = match timeout_at(deadline, connecting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err((e, tcp))) => {
            return Err(tls::handshake_failure(server_name, endpoint, e, &tcp.probe));
        }
        Err(_) => {
            let e = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
            return Err(tls::handshake_error(server_name, endpoint, e));
        }
    };
    let info = tls::tls_info(stream.get_ref().1);
    Ok((stream, info))
}

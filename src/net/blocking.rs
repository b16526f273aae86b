//! The blocking adapter over `std::net` and rustls: a [`Connection`] that sends, and reads
//! with [`Connection::next_event`], all on the caller's thread.
//!
//! ```no_run
//! use std::time::Duration;
//! use xmpp_sansio::client::{Config, Event};
//! use xmpp_sansio::net::{blocking::Connection, ConnectOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new("juliet@example.com".parse()?, "secret");
//! let mut conn = Connection::connect(config, &ConnectOptions::new())?;
//! while let Some(event) = conn.next_event(Some(Duration::from_secs(30)))? {
//!     if let Event::Message(m) = event {
//!         println!("{:?}: {:?}", m.from, m.body());
//!     }
//! }
//! conn.close()?;
//! # Ok(()) }
//! ```
//!
//! DNS SRV lookups run hickory-resolver on a short-lived single-threaded tokio runtime; the
//! session itself uses only `std::net`. So do not call [`Connection::connect`] from inside a
//! tokio runtime (tokio refuses to block there; use the `tokio` adapter). Host names are
//! resolved by the system's `getaddrinfo`, which has no timeout of its own.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use super::tls::{self, TlsConfigs};
use super::{
    deliver_read, endpoints, negotiation_outcome, tls_server_name, worse, ConnectOptions, Endpoint,
    Error, Failure,
};
use crate::client::stanza::{IqType, MessageType};
use crate::client::{later, Action, Client, CommandError, Config, Event, TlsInfo};
use crate::jid::Jid;
use crate::xml::Builder;

/// Bytes asked of the socket per read.
const READ_SIZE: usize = 64 * 1024;

/// A session over a blocking socket.
pub struct Connection {
    client: Client,
    transport: Transport,
    tls: TlsConfigs,
    buf: Box<[u8]>,
    /// Events not yet returned by [`Connection::next_event`].
    events: VecDeque<Event>,
    /// The first transport failure, kept to report it as such while negotiating.
    failure: Option<Error>,
    /// [`Event::Disconnected`] was returned: the session is over.
    ended: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("jid", &self.client.jid())
            .field("pending_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, negotiates (STARTTLS or direct TLS, SASL, bind) and returns once online;
    /// the first event is [`Event::Online`].
    pub fn connect(config: Config, options: &ConnectOptions) -> Result<Connection, Error> {
        let tls = TlsConfigs::new(&options.trust)?;
        let mut targets = resolve(config.jid.domain(), options)?;
        let mut redirects = 0;
        loop {
            let mut conn = Connection::open(&config, &targets, options, &tls)?;
            match conn.negotiate() {
                Ok(()) => return Ok(conn),
                Err(Failure::Redirect(to)) if redirects < options.max_redirects => {
                    redirects += 1;
                    targets = vec![to];
                }
                Err(Failure::Redirect(_)) => {
                    return Err(Error::TooManyRedirects(options.max_redirects))
                }
                Err(Failure::Error(e)) => return Err(e),
            }
        }
    }

    /// The full JID the server bound.
    pub fn jid(&self) -> &Jid {
        self.client
            .jid()
            .expect("a connection is online once created")
    }

    /// The client, to read its state.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The next event, waiting at most `timeout` (`None`: until one arrives; zero: only
    /// what is already there, after one read that waits at most a millisecond). `Ok(None)`
    /// means the time ran out. After [`Event::Disconnected`] has been returned, the session
    /// is over and this returns [`CommandError::Disconnected`].
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>, Error> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut waited = false;
        loop {
            self.flush();
            if let Some(event) = self.events.pop_front() {
                self.ended |= matches!(event, Event::Disconnected { .. });
                return Ok(Some(event));
            }
            if self.ended || self.client.is_closed() {
                return Err(CommandError::Disconnected.into());
            }
            let wake = match (deadline, self.client.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if waited && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            self.wait(wake);
            waited = true;
        }
    }

    /// Runs `f` on the client (any command of [`Client`]) and writes what it queued.
    pub fn call<R>(&mut self, f: impl FnOnce(&mut Client, Instant) -> R) -> R {
        let result = f(&mut self.client, Instant::now());
        self.flush();
        result
    }

    /// Sends a message with a body; returns its id.
    pub fn send_message(
        &mut self,
        to: &Jid,
        kind: MessageType,
        body: &str,
    ) -> Result<String, Error> {
        Ok(self.call(|c, now| c.send_message(now, to, kind, body))?)
    }

    /// Sends a presence stanza.
    pub fn send_presence(&mut self, presence: &Builder) -> Result<(), Error> {
        Ok(self.call(|c, now| c.send_presence(now, presence))?)
    }

    /// Sends an IQ request; returns its id. The answer arrives as [`Event::IqResponse`] (or
    /// [`Event::IqTimeout`]).
    pub fn send_iq(
        &mut self,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
    ) -> Result<String, Error> {
        Ok(self.call(|c, now| c.send_iq(now, to, kind, payload))?)
    }

    /// Sends any element.
    pub fn send_element(&mut self, element: &Builder) -> Result<(), Error> {
        Ok(self.call(|c, now| c.send_element(now, element))?)
    }

    /// Closes the stream and waits (up to the configured close timeout) for the server to
    /// close its side. Events that arrive meanwhile are dropped; read them first if they
    /// matter.
    pub fn close(&mut self) -> Result<(), Error> {
        self.call(|c, now| c.close(now));
        while !self.ended {
            match self.next_event(None) {
                Ok(_) => {}
                Err(Error::Command(CommandError::Disconnected)) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn open(
        config: &Config,
        targets: &[Endpoint],
        options: &ConnectOptions,
        tls: &TlsConfigs,
    ) -> Result<Connection, Error> {
        let server_name = tls_server_name(config.jid.domain());
        let mut last = None;
        for target in targets {
            let tcp = match connect_tcp(target, options) {
                Ok(tcp) => tcp,
                Err(e) => {
                    last = worse(last, e);
                    continue;
                }
            };
            let (transport, client) = if target.direct_tls {
                let deadline = later(Instant::now(), config.timeouts.negotiation);
                match handshake(&tls.direct, &server_name, tcp, deadline) {
                    Ok((stream, info)) => (
                        Transport::Tls(Box::new(stream)),
                        Client::new_over_tls(config.clone(), Instant::now(), info),
                    ),
                    Err(e) => {
                        last = worse(last, e);
                        continue;
                    }
                }
            } else {
                (
                    Transport::Tcp(tcp),
                    Client::new(config.clone(), Instant::now()),
                )
            };
            return Ok(Connection {
                client,
                transport,
                tls: tls.clone(),
                buf: vec![0; READ_SIZE].into_boxed_slice(),
                events: VecDeque::new(),
                failure: None,
                ended: false,
            });
        }
        Err(last.unwrap_or_else(|| Error::Connect {
            endpoint: "(none)".into(),
            source: io::ErrorKind::NotFound.into(),
        }))
    }

    fn negotiate(&mut self) -> Result<(), Failure> {
        loop {
            self.flush();
            if let Some(outcome) = negotiation_outcome(&self.client, &mut self.failure) {
                return outcome;
            }
            self.wait(self.client.poll_timeout());
        }
    }

    /// `handle_timeout` if the client's deadline has passed; otherwise one read that waits
    /// until `wake` at most.
    fn wait(&mut self, wake: Option<Instant>) {
        let now = Instant::now();
        if self.client.poll_timeout().is_some_and(|t| now >= t) {
            self.client.handle_timeout(now);
            return;
        }
        // A zero timeout means "block forever" to std; wait at least a millisecond.
        let timeout = wake.map(|w| {
            w.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        if let Err(e) = self.transport.set_read_timeout(timeout) {
            return self.transport_failed(Error::Io(e));
        }
        let read = self.transport.read(&mut self.buf);
        let now = Instant::now();
        match read {
            // The read timeout: the deadline (ours or the caller's) has come.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.client.handle_timeout(now)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            read => {
                if let Some(e) = deliver_read(&mut self.client, now, &self.buf, read) {
                    self.transport_failed(Error::Io(e));
                }
            }
        }
    }

    /// Carries out what the client asked, in order.
    fn flush(&mut self) {
        while let Some(action) = self.client.poll_action() {
            match action {
                Action::Send(bytes) => {
                    if let Err(e) = self.transport.write_all(&bytes) {
                        // The socket's write timeout reads as WouldBlock on Unix.
                        let e = match e.kind() {
                            io::ErrorKind::WouldBlock => io::Error::new(
                                io::ErrorKind::TimedOut,
                                "write timed out (the peer is not reading)",
                            ),
                            _ => e,
                        };
                        self.transport_failed(Error::Io(e));
                    }
                }
                Action::StartTls { server_name } => self.start_tls(&server_name),
                Action::Event(event) => self.events.push_back(event),
                Action::Close => self.transport.shutdown(),
            }
        }
    }

    fn start_tls(&mut self, server_name: &str) {
        let Transport::Tcp(tcp) = std::mem::replace(&mut self.transport, Transport::Gone) else {
            let e = io::Error::other("StartTls on a transport that is not plain TCP");
            return self.transport_failed(tls::handshake_error(server_name, e));
        };
        let deadline = self
            .client
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
        match handshake(&self.tls.starttls, server_name, tcp, deadline) {
            Ok((stream, info)) => {
                self.transport = Transport::Tls(Box::new(stream));
                // Refused only if the client is no longer waiting for TLS: nothing to do.
                let _ = self.client.handle_tls_established(Instant::now(), info);
            }
            Err(e) => self.transport_failed(e),
        }
    }

    /// Ends the session on a transport failure; while negotiating, the failure is what
    /// `connect` reports (unless the session had already ended for a reason of its own).
    fn transport_failed(&mut self, error: Error) {
        if !self.client.is_closed() {
            self.client.handle_transport_error(Instant::now(), &error);
            self.failure.get_or_insert(error);
        }
    }
}

enum Transport {
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Gone,
}

impl Transport {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.set_read_timeout(timeout),
            Transport::Tls(s) => s.sock.set_read_timeout(timeout),
            Transport::Gone => Ok(()),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
            Transport::Gone => Ok(0),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.write_all(data),
            Transport::Tls(s) => write_tls_all(&mut s.conn, &mut s.sock, data),
            Transport::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn shutdown(&mut self) {
        // Best effort: the peer may be gone already.
        match self {
            Transport::Tcp(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Transport::Tls(s) => {
                s.conn.send_close_notify();
                let _ = write_tls_all(&mut s.conn, &mut s.sock, &[]);
                let _ = s.sock.shutdown(std::net::Shutdown::Both);
            }
            Transport::Gone => {}
        }
        *self = Transport::Gone;
    }
}

/// Encrypts `data` and writes it all, only writing: rustls's `Stream` would also read while a
/// write is blocked, and so wait for the read timeout rather than the write timeout.
fn write_tls_all(conn: &mut ClientConnection, sock: &mut TcpStream, data: &[u8]) -> io::Result<()> {
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
fn resolve(domain: &str, options: &ConnectOptions) -> Result<Vec<Endpoint>, Error> {
    if let super::Server::Host(endpoint) = &options.server {
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
        match TcpStream::connect_timeout(&addr, options.connect_timeout) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                // A peer that stops reading must not block a write forever.
                let write_timeout = Some(options.write_timeout).filter(|t| !t.is_zero());
                tcp.set_write_timeout(write_timeout).map_err(fail)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

fn handshake(
    config: &Arc<rustls::ClientConfig>,
    server_name: &str,
    mut tcp: TcpStream,
    deadline: Instant,
) -> Result<(StreamOwned<ClientConnection, TcpStream>, TlsInfo), Error> {
    let fail = |e: io::Error| {
        // A socket timeout reads as WouldBlock on Unix: say what it is.
        let e = match e.kind() {
            io::ErrorKind::WouldBlock => {
                io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
            }
            _ => e,
        };
        tls::handshake_error(server_name, e)
    };
    let name = tls::server_name(server_name)?;
    let mut conn = ClientConnection::new(config.clone(), name)
        .map_err(|e| fail(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )));
        }
        tcp.set_read_timeout(Some(left)).map_err(fail)?;
        conn.complete_io(&mut tcp).map_err(fail)?;
    }
    let info = tls::tls_info(&conn);
    Ok((StreamOwned::new(conn, tcp), info))
}

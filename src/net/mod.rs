//! Adapters that drive a [`Client`] over real sockets: [`tokio`]
//! (feature `tokio`) and [`blocking`] (feature `blocking`), both over rustls.
//!
//! They hold no protocol logic: each is a loop that moves bytes between a socket and the
//! core, upgrades to TLS when asked, reports TLS details back and sleeps until the core's
//! next deadline. What they share lives here: where to connect ([`ConnectOptions`]), which
//! certificates to trust ([`Trust`]) and what can go wrong ([`Error`]).
//!
//! Connecting follows RFC 6120 §3.2 and XEP-0368: the `_xmpps-client._tcp` (direct TLS) and
//! `_xmpp-client._tcp` (STARTTLS) SRV records of the JID's domain are merged by priority and
//! weight; without records the domain itself is tried on port 5222. Each address gets
//! [`ConnectOptions::connect_timeout`]; the first that answers is used. Direct TLS offers ALPN
//! `xmpp-client`. A `see-other-host` stream error during negotiation is followed, at most
//! [`ConnectOptions::max_redirects`] times, and the certificate is still checked against the
//! JID's domain.
//!
//! # One command set
//!
//! The core, the tokio [`Handle`](tokio::Handle) and the blocking
//! [`Connection`](blocking::Connection) have the same commands with the same arguments; the
//! core's take `now` first. All fail with [`CommandError`] (nothing is sent) when the session
//! is not online or is over.
//!
//! | command | [`Client`] | tokio `Handle` (`async`) | blocking `Connection` |
//! |---|---|---|---|
//! | a message with a body; returns its id | `send_message(now, to, kind, body)` | `send_message(to, kind, body)` | `send_message(to, kind, body)` |
//! | a presence ([`OutgoingPresence`](crate::client::stanza::OutgoingPresence) or built) | `send_presence(now, presence)` | `send_presence(presence)` | `send_presence(presence)` |
//! | an IQ request, answered later as [`Event::IqResponse`] | `send_iq(now, to, kind, payload)` | `send_iq(to, kind, payload)` | `send_iq(to, kind, payload)` |
//! | an IQ request, waiting for its response | — (a sans-IO core cannot wait) | `request(to, kind, payload)` | `request(to, kind, payload)` |
//! | answer an [`Event::IqRequest`] | `reply_iq(now, request, reply)` | `reply_iq(request, reply)` | `reply_iq(request, reply)` |
//! | claim the IQ requests of a namespace | `handle_iq_namespace(ns)` | `handle_iq_namespace(ns)` | `handle_iq_namespace(ns)` |
//! | add or change a roster item (RFC 6121 §2) | `roster_set(now, item)` (an id) | `roster_set(item)` (awaited) | `roster_set(item)` (awaited) |
//! | remove a roster item | `roster_remove(now, jid)` (an id) | `roster_remove(jid)` (awaited) | `roster_remove(jid)` (awaited) |
//! | presence subscriptions (RFC 6121 §3) | `subscribe`, `approve`, `deny`, `unsubscribe`, `cancel`, `preapprove` `(now, jid)` | the same `(jid)` | the same `(jid)` |
//! | the roster, a contact's best presence | `roster()`, `presences()` | `roster()`, `best_presence(jid)` | `roster()`, `best_presence(jid)` |
//! | register an account (XEP-0077) | `Config::register`, then `submit_registration(now, form)` | `register(config, options, fill)`, or `connect` with `Config::register` | `Connection::register(config, options, fill)`, or `connect` with `Config::register` |
//! | change the password, remove the account | `change_password(now, password)`, `submit_password_form(now, form)`, `remove_account(now)` | the same without `now` | the same without `now` |
//! | an entity's description or items (XEP-0030) | `disco_info(now, to, node)`, `disco_items(now, to, node)` (ids; read the results with [`DiscoInfo::from_iq`](crate::client::disco::DiscoInfo::from_iq), [`items_from_iq`](crate::client::disco::items_from_iq)) | the same without `now` (awaited, typed) | the same without `now` (awaited, typed) |
//! | capabilities (XEP-0115, XEP-0390) | `caps_of(jid)`, `supports(jid, feature)` (from caps; `None` unknown), `server_info()` | `caps_of(jid)`, `server_info()`; `supports(jid, feature)` asks when caps do not tell | the same |
//! | add or remove one of our features (caps re-announced) | `set_feature(now, feature, on)` | `set_feature(feature, on)` | `set_feature(feature, on)` |
//! | a vCard (XEP-0054) | `vcard_get(now, jid)`, `vcard_set(now, vcard)` (ids; read with [`VCard::from_iq`](crate::client::vcard::VCard::from_iq)) | `vcard(jid)`, `set_vcard(vcard)` (awaited, typed) | the same |
//! | our avatar (vCard, XEP-0153; PEP, XEP-0084), a contact's | `set_avatar(now, photo)`, `publish_avatar(now, image)` (ids), `avatar_of(jid)` | `set_avatar(photo)`, `publish_avatar(image)` (awaited), `avatar_of(jid)` | the same |
//! | foreground or background (XEP-0352) | `set_active(now, active)` | `set_active(active)` | `set_active(active)` |
//! | stanzas not yet acknowledged (XEP-0198) | `unacknowledged()` | `unacknowledged()` | `unacknowledged()` |
//! | any element | `send_element(now, element)` | `send_element(element)` | `send_element(element)` |
//! | close the stream | `close(now)` | `close()` (waits until over) | `close()` (waits until over) |
//! | anything else of the core | — | `call(\|client, now\| ..)` | `call(\|client, now\| ..)` |
//!
//! Events: the core queues them among its actions ([`Client::poll_action`]); tokio's
//! [`Events`](tokio::Events) and the blocking
//! [`Connection::next_event`](blocking::Connection::next_event) deliver them in order and end
//! (`None`) after [`Event::Disconnected`].
//!
//! # Reconnection
//!
//! When the core asks for a new transport
//! ([`Action::Connect`](crate::client::Action::Connect), see
//! [`ReconnectConfig`](crate::client::ReconnectConfig)), both adapters open one to the same
//! endpoints (DNS looked up again), or to the host a `see-other-host` error or a resumption
//! `location` named, with the same trust; the handle and the events go on working across
//! it. Meanwhile commands are accepted and their stanzas wait for the new connection
//! (bounded: [`CommandError::TooManyUnacknowledged`]), and the events say what happens:
//! [`Event::Reconnecting`], [`Event::Reconnected`] (resumed or fresh),
//! [`Event::NotDelivered`]. A certificate that does not verify ends the session instead
//! ([`DisconnectReason::Tls`]). The tokio adapter
//! connects in the background; the blocking one connects on the thread that is driving it at
//! the time (in `next_event` or a wait), without holding the connection's lock, so other
//! threads' calls go on meanwhile.

#[cfg(feature = "blocking")]
pub mod blocking;
mod srv;
mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use crate::client::register::{Register, RegistrationError, RegistrationEvent, RegistrationForm};
use crate::client::sasl::AuthError;
use crate::client::stanza::StreamError;
use crate::client::{Client, CommandError, Config, DisconnectReason, Event};
use crate::StreamErrorCondition;
use std::collections::VecDeque;

pub use srv::Endpoint;

/// Where to connect and how to check the server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Where the server is. Default: [`Server::Dns`].
    pub server: Server,
    /// Which certificates to trust. Default: [`Trust::WebPkiRoots`].
    pub trust: Trust,
    /// How long one TCP connection attempt may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How many `see-other-host` redirects to follow while negotiating. Default 3.
    pub max_redirects: u8,
    /// DNS servers to ask for the SRV records; empty means the system's
    /// (`/etc/resolv.conf`). Host names are resolved by the system either way. Default empty.
    pub dns_servers: Vec<SocketAddr>,
    /// A write that has not finished after this long ends the session with a transport
    /// error (a peer that stopped reading would otherwise stall the driver). Default 60 s.
    pub write_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            server: Server::Dns,
            trust: Trust::WebPkiRoots,
            connect_timeout: Duration::from_secs(10),
            max_redirects: 3,
            dns_servers: Vec::new(),
            write_timeout: Duration::from_secs(60),
        }
    }
}

impl ConnectOptions {
    /// Defaults: DNS SRV, webpki roots, 10 s connect timeout, 3 redirects.
    pub fn new() -> Self {
        Self::default()
    }

    /// Skip DNS SRV: connect to `host:port` and use STARTTLS.
    pub fn host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Server::Host(Endpoint::new(host, port, false));
        self
    }

    /// Skip DNS SRV: connect to `host:port` and start TLS at once (XEP-0368 direct TLS).
    pub fn direct_tls(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Server::Host(Endpoint::new(host, port, true));
        self
    }

    /// Which certificates to trust.
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }

    /// How long one TCP connection attempt may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Server {
    /// Look up the JID domain's SRV records (direct TLS and STARTTLS, XEP-0368), falling
    /// back to the domain on port 5222.
    Dns,
    /// This host and port, without DNS SRV.
    Host(Endpoint),
}

/// Which server certificates to accept. The name checked is always the JID's domain.
///
/// Sessions with equal trust share the certificate verifier and roots; each keeps its own
/// TLS resumption tickets.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// The Mozilla root certificates (the `webpki-roots` crate). The default.
    WebPkiRoots,
    /// Only these certificates, each a trust anchor (a private CA) and also accepted when a
    /// server presents exactly it. For a server's own self-signed certificate prefer
    /// [`Trust::Pinned`]: as an anchor, its key could also vouch for other certificates.
    Certificates(Vec<CertificateDer<'static>>),
    /// Only a server that presents exactly one of these certificates (pinning), for the
    /// JID's domain and within its validity period; nothing is a trust anchor. The way to
    /// trust a server's self-signed certificate, even one marked CA:TRUE as
    /// `openssl req -x509` makes them.
    Pinned(Vec<CertificateDer<'static>>),
    /// The webpki roots and these certificates.
    WebPkiRootsAnd(Vec<CertificateDer<'static>>),
    /// **Accept any certificate, for any name.** Anyone on the path can read and change the
    /// session, password included. Meant for tests against throwaway servers only.
    DangerousAcceptAnyCertificateForTesting,
}

impl Trust {
    /// Only the certificates in this PEM file, as [`Trust::Certificates`] (typically a
    /// private CA).
    pub fn pem_file(path: impl AsRef<Path>) -> Result<Trust, Error> {
        tls::certificates_from_pem_file(path.as_ref()).map(Trust::Certificates)
    }

    /// Only a server presenting exactly a certificate in this PEM file, as
    /// [`Trust::Pinned`] (typically the server's own self-signed certificate).
    pub fn pinned_pem_file(path: impl AsRef<Path>) -> Result<Trust, Error> {
        tls::certificates_from_pem_file(path.as_ref()).map(Trust::Pinned)
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::WebPkiRoots => f.write_str("WebPkiRoots"),
            Trust::Certificates(c) => write!(f, "Certificates({} certificates)", c.len()),
            Trust::Pinned(c) => write!(f, "Pinned({} certificates)", c.len()),
            Trust::WebPkiRootsAnd(c) => write!(f, "WebPkiRootsAnd({} certificates)", c.len()),
            Trust::DangerousAcceptAnyCertificateForTesting => {
                f.write_str("DangerousAcceptAnyCertificateForTesting")
            }
        }
    }
}

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The DNS lookup failed (not "no records": that falls back to the domain).
    #[error("DNS lookup of {name} failed: {message}")]
    Dns {
        /// The name looked up.
        name: String,
        /// The resolver's message.
        message: String,
    },
    /// The domain's SRV record says it offers no XMPP service (target `.`, RFC 2782).
    #[error("{0} says it offers no XMPP client service (SRV target \".\")")]
    NoService(String),
    /// No address of any endpoint accepted a TCP connection (the last failure is kept).
    #[error("could not connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint (`host:port`) of the last attempt.
        endpoint: String,
        /// Why the last attempt failed (`TimedOut` after the connect timeout).
        source: io::Error,
    },
    /// The TLS handshake failed: a certificate that does not verify, a protocol error. The
    /// message says what to do about it.
    #[error("TLS with {endpoint} for {server_name} failed: {message}")]
    Tls {
        /// The name the certificate was checked against.
        server_name: String,
        /// Where we connected.
        endpoint: String,
        /// What went wrong, and what to do about it.
        message: String,
        /// What rustls (or the socket) said; a [`rustls::Error`] inside for handshake
        /// failures.
        source: io::Error,
    },
    /// The server closed (or reset) the connection after our stream header without sending
    /// a byte: what a direct-TLS port does when spoken to in plaintext.
    #[error(
        "{endpoint} closed the connection before sending a stream header; if it is a \
         direct-TLS port (XEP-0368, often 5223), connect with ConnectOptions::direct_tls"
    )]
    ClosedBeforeStreamHeader {
        /// Where we connected.
        endpoint: String,
    },
    /// The endpoint speaks the other way of starting TLS: it answered a STARTTLS
    /// connection with TLS (a direct-TLS port), or a direct TLS handshake with XML (a
    /// STARTTLS port). The message says which and what to use.
    #[error("{endpoint}: {message}")]
    ProtocolMismatch {
        /// Where we connected.
        endpoint: String,
        /// What the endpoint answered, and what to use instead.
        message: String,
    },
    /// The TLS configuration cannot be used (an unreadable CA file, an invalid name).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The server refused our credentials.
    #[error("authentication failed: {0}")]
    Auth(AuthError),
    /// In-band registration failed (the name is taken, registration is disabled...).
    #[error("registration failed: {0}")]
    Registration(RegistrationError),
    /// The server ended the stream with an error while negotiating.
    #[error("the server sent a stream error: {0}")]
    Stream(Box<StreamError>),
    /// Negotiation failed otherwise (the reason says how: no STARTTLS, bind refused, ...).
    #[error("negotiation failed: {0}")]
    Negotiation(Box<DisconnectReason>),
    /// More `see-other-host` redirects than [`ConnectOptions::max_redirects`].
    #[error("redirected by see-other-host more than {0} times")]
    TooManyRedirects(u8),
    /// Reading or writing the connection failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// A command was refused (the session may be over). The adapters' commands return
    /// [`CommandError`] themselves; this lets code that connects and sends use `?` with one
    /// error type.
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl Error {
    /// The error for a session that ended before it was online.
    fn from_disconnect(reason: &DisconnectReason) -> Error {
        match reason {
            DisconnectReason::Auth(e) => Error::Auth(e.clone()),
            DisconnectReason::Registration(e) => Error::Registration(e.clone()),
            DisconnectReason::StreamError(e) => Error::Stream(Box::new(e.clone())),
            other => Error::Negotiation(Box::new(other.clone())),
        }
    }
}

/// Why negotiation stopped short of online.
enum Failure {
    /// `see-other-host`: connect there instead.
    Redirect(Endpoint),
    Error(Error),
}

impl Failure {
    /// Where to connect next: the redirect's endpoint while `redirects` is below
    /// [`ConnectOptions::max_redirects`] (counting it), or the error to return.
    fn next_targets(
        self,
        redirects: &mut u8,
        options: &ConnectOptions,
    ) -> Result<Vec<Endpoint>, Error> {
        match self {
            Failure::Redirect(to) if *redirects < options.max_redirects => {
                tracing::info!(to = %to, "see-other-host: following the redirect");
                *redirects += 1;
                Ok(vec![to])
            }
            Failure::Redirect(_) => Err(Error::TooManyRedirects(options.max_redirects)),
            Failure::Error(e) => Err(e),
        }
    }
}

/// What negotiation is for: being online (`connect`), or registering only (`register`).
pub(crate) struct Negotiation<'a> {
    /// Registering only: completes the server's form; done once registered and closed.
    fill: Option<&'a mut (dyn FnMut(&mut RegistrationForm) + Send)>,
}

impl<'a> Negotiation<'a> {
    /// Being online, registering first if the configuration says so. An interactive
    /// registration is done with the form as the core prefilled it: the application is not
    /// there to fill it yet (`register` takes a filler).
    pub(crate) fn online(mut config: Config) -> (Config, Self) {
        if let Some(Register::Interactive { then_login }) = config.register {
            config.register = Some(Register::Automatic { then_login });
        }
        (config, Negotiation { fill: None })
    }

    /// Registering only, with `fill` completing the server's form; then closing.
    pub(crate) fn register(
        mut config: Config,
        fill: &'a mut (dyn FnMut(&mut RegistrationForm) + Send),
    ) -> (Config, Self) {
        config.register = Some(Register::Interactive { then_login: false });
        (config, Negotiation { fill: Some(fill) })
    }

    /// Takes out `Online` (returning from `connect` is that news) and answers the
    /// registration form the core handed over. Other events stay queued.
    pub(crate) fn on_events(&mut self, client: &mut Client, events: &mut VecDeque<Event>) {
        events.retain(|e| !matches!(e, Event::Online { .. }));
        let Some(i) = events
            .iter()
            .position(|e| matches!(e, Event::Registration(RegistrationEvent::Form(_))))
        else {
            return;
        };
        let Some(Event::Registration(RegistrationEvent::Form(mut form))) = events.remove(i) else {
            return;
        };
        if let Some(fill) = &mut self.fill {
            fill(&mut form);
        }
        let now = Instant::now();
        if let Err(CommandError::Registration(e)) = client.submit_registration(now, form) {
            client.fail_registration(now, e);
        }
    }
}

/// Where negotiation stands once the client's actions are carried out: `None` while it goes
/// on. A transport failure the driver recorded (`failure`) is reported as such; a STARTTLS
/// connection whose server answered with TLS (`first_bytes`) as the wrong kind of port.
fn negotiation_outcome(
    client: &Client,
    negotiation: &Negotiation<'_>,
    failure: &mut Option<Error>,
    endpoint: &Endpoint,
    first_bytes: &Probe,
) -> Option<Result<(), Failure>> {
    if negotiation.fill.is_some() && client.is_registered() {
        // Registered: done once the stream is closed.
        return client.is_closed().then_some(Ok(()));
    }
    if client.is_online() {
        if let Some(features) = client.features() {
            tracing::debug!(jid = ?client.jid(), %features, "negotiated");
        }
        return Some(Ok(()));
    }
    let reason = client.disconnect_reason()?;
    if !endpoint.direct_tls && first_bytes.looks_like_tls() {
        return Some(Err(Failure::Error(Error::ProtocolMismatch {
            endpoint: endpoint.to_string(),
            message: "the server answered with TLS where XMPP's stream header was expected: \
                this is a direct-TLS port (XEP-0368); connect with ConnectOptions::direct_tls"
                .into(),
        })));
    }
    // Real servers answer our plaintext header on a direct-TLS port by closing (ejabberd)
    // or resetting (Prosody) the connection, without a byte.
    let dropped = match (&*failure, reason) {
        (Some(Error::Io(e)), _) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
        ),
        (None, DisconnectReason::ConnectionLost) => true,
        _ => false,
    };
    if !endpoint.direct_tls && first_bytes.is_empty() && dropped {
        return Some(Err(Failure::Error(Error::ClosedBeforeStreamHeader {
            endpoint: endpoint.to_string(),
        })));
    }
    Some(Err(match (failure.take(), redirect_target(reason)) {
        (Some(e), _) => Failure::Error(e),
        (None, Some(to)) => Failure::Redirect(to),
        (None, None) => Failure::Error(Error::from_disconnect(reason)),
    }))
}

/// The first bytes the server sent on a connection, kept to tell a peer that speaks the
/// other way of starting TLS.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    bytes: [u8; 16],
    len: usize,
}

impl Probe {
    /// Remembers `data` if the first bytes have not all been seen yet.
    pub(crate) fn record(&mut self, data: &[u8]) {
        let n = data.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
    }

    /// A TLS record header (RFC 8446 §5.1): content type 20 to 23, then major version 3.
    pub(crate) fn looks_like_tls(&self) -> bool {
        matches!(self.bytes[..self.len], [0x14..=0x17, 0x03, ..])
    }

    /// Nothing was received.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// XML: white space, then `<`.
    pub(crate) fn looks_like_xml(&self) -> bool {
        let seen = &self.bytes[..self.len];
        seen.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
    }
}

/// A write that did not finish within the write timeout.
fn write_timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "write timed out (the peer is not reading)",
    )
}

/// Says why a session ended, at the level the reason deserves.
fn log_session_end(reason: &DisconnectReason) {
    match reason {
        DisconnectReason::Closed => tracing::debug!(%reason, "session ended"),
        _ => tracing::info!(%reason, "session ended"),
    }
}

/// Hands the outcome of a read to the client; an I/O error is returned for the driver to
/// record (end of file, even an unclean one, is just the end).
fn deliver_read(
    client: &mut Client,
    now: Instant,
    buf: &[u8],
    read: io::Result<usize>,
) -> Option<io::Error> {
    match read {
        Ok(0) => client.handle_eof(now),
        Ok(n) => client.handle_input(now, &buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => client.handle_eof(now),
        Err(e) => return Some(e),
    }
    None
}

/// What a failed connection attempt tells the client: a certificate that does not verify
/// is final (it will not verify next time either, and may be an attack), as is a TLS
/// configuration that cannot work; anything else (a reset, a timeout, a server restarting)
/// is worth another try.
fn connect_failure(e: &Error) -> DisconnectReason {
    let certificate = |source: &io::Error| {
        source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|tls| {
                matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
                )
            })
    };
    match e {
        Error::Tls { source, .. } if certificate(source) => DisconnectReason::Tls(e.to_string()),
        Error::TlsConfig(_) => DisconnectReason::Tls(e.to_string()),
        _ => DisconnectReason::Transport(e.to_string()),
    }
}

/// Tells the client its transport failed, final or not (see [`connect_failure`]).
fn report_transport_failure(client: &mut Client, now: Instant, error: &Error) {
    match connect_failure(error) {
        DisconnectReason::Tls(text) => client.handle_tls_failed(now, &text),
        _ => client.handle_transport_error(now, error),
    }
}

/// Where a `see-other-host` stream error sends us, if that is what `reason` is.
fn redirect_target(reason: &DisconnectReason) -> Option<Endpoint> {
    match reason {
        DisconnectReason::StreamError(e) if e.condition == StreamErrorCondition::SeeOtherHost => {
            parse_see_other_host(e.see_other_host.as_deref()?)
        }
        _ => None,
    }
}

/// RFC 6120 §4.9.3.19: a domain, an IPv4 address, or a bracketed IPv6 address, each with an
/// optional port (default 5222).
fn parse_see_other_host(text: &str) -> Option<Endpoint> {
    let text = text.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, 5222),
            _ => (host, after.strip_prefix(':')?.parse().ok()?),
        }
    } else {
        match text.split_once(':') {
            None => (text, 5222),
            Some((host, port)) => (host, port.parse().ok()?),
        }
    };
    if host.is_empty() || port == 0 {
        return None;
    }
    Some(Endpoint::new(host, port, false))
}

/// The endpoints to try for `domain`, in order.
async fn endpoints(domain: &str, options: &ConnectOptions) -> Result<Vec<Endpoint>, Error> {
    match &options.server {
        Server::Host(endpoint) => Ok(vec![endpoint.clone()]),
        Server::Dns => {
            let found = srv::lookup(&tls_server_name(domain), &options.dns_servers).await?;
            let list: Vec<String> = found.iter().map(ToString::to_string).collect();
            tracing::debug!(domain, endpoints = ?list, "DNS SRV");
            Ok(found)
        }
    }
}

/// The TLS name of the JID's domain: its A-label (RFC 6125), or an IP literal without the
/// brackets a JID puts around IPv6 addresses.
fn tls_server_name(domain: &str) -> String {
    if let Some(ip) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return ip.to_owned();
    }
    idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned())
}

/// Keeps the most telling of two connection failures: a TLS failure (for example a
/// certificate that does not verify) over a later endpoint's connection failure.
fn worse(kept: Option<Error>, new: Error) -> Option<Error> {
    match kept {
        Some(e @ Error::Tls { .. }) => Some(e),
        _ => Some(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn see_other_host_forms() {
        let e = |h: &str, p| Some(Endpoint::new(h, p, false));
        assert_eq!(parse_see_other_host("example.net"), e("example.net", 5222));
        assert_eq!(
            parse_see_other_host("example.net:5223"),
            e("example.net", 5223)
        );
        assert_eq!(parse_see_other_host("192.0.2.1:5222"), e("192.0.2.1", 5222));
        assert_eq!(
            parse_see_other_host("[2001:db8::1]"),
            e("2001:db8::1", 5222)
        );
        assert_eq!(
            parse_see_other_host("[2001:db8::1]:9999"),
            e("2001:db8::1", 9999)
        );
        for bad in [
            "", ":5222", "host:", "host:x", "host:0", "[::1", "[::1]x", "a:1:2",
        ] {
            assert_eq!(parse_see_other_host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_see_other_host_with_an_address_redirects() {
        let mut e = StreamError::new(StreamErrorCondition::SeeOtherHost);
        assert_eq!(
            redirect_target(&DisconnectReason::StreamError(e.clone())),
            None
        );
        e.see_other_host = Some("other.example:5999".into());
        assert_eq!(
            redirect_target(&DisconnectReason::StreamError(e)),
            Some(Endpoint::new("other.example", 5999, false))
        );
        let conflict = StreamError::new(StreamErrorCondition::Conflict);
        assert_eq!(
            redirect_target(&DisconnectReason::StreamError(conflict)),
            None
        );
    }

    #[test]
    fn negotiation_failures_keep_their_kind() {
        let e = Error::from_disconnect(&DisconnectReason::TlsNotOffered);
        assert!(matches!(e, Error::Negotiation(r) if *r == DisconnectReason::TlsNotOffered));
        let stream = StreamError::new(StreamErrorCondition::HostUnknown);
        let e = Error::from_disconnect(&DisconnectReason::StreamError(stream));
        assert!(matches!(e, Error::Stream(s) if s.condition == StreamErrorCondition::HostUnknown));
    }
}

//! A sans-IO XMPP client core: bytes and time in, actions out.
//!
//! The crate never touches a socket, a clock or a thread. Its parts:
//!
//! - [`client`]: the sans-IO client: STARTTLS, SASL (SCRAM-SHA-256/1, -PLUS, PLAIN), resource
//!   binding, IQ tracking, keepalive and ping, over the XML layer;
//! - [`xml`]: an incremental reader of RFC 6120 restricted XML ([`xml::StreamReader`]) that
//!   yields the stream header, zero-copy top-level [`xml::Element`]s and the stream end, and a
//!   [`xml::Builder`] for outbound elements;
//! - [`jid`]: RFC 7622 addresses;
//! - `net` (features `tokio` and `blocking`): adapters that drive the client over TCP and
//!   rustls, with DNS SRV, direct TLS and certificate verification;
//! - [`StreamErrorCondition`]: the RFC 6120 stream error conditions that every refusal of the
//!   XML layer maps to.
//!
//! # Cookbook
//!
//! The adapters (features `tokio` and `blocking`) connect, negotiate and drive the core; the
//! recipes use the tokio one, and the blocking [`net::blocking::Connection`] has the same
//! commands without `.await` (see the table in [`net`]).
//!
//! ## Ask something and wait for the answer
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use xmpp_sansio::client::stanza::IqType;
//! use xmpp_sansio::client::{Config, IqError};
//! use xmpp_sansio::net::{tokio::connect, ConnectOptions};
//! use xmpp_sansio::{ns, xml::Builder};
//!
//! let config = Config::new("juliet@example.com".parse()?, "secret");
//! let (handle, _events) = connect(config, &ConnectOptions::new()).await?;
//! let server = handle.jid().domain_jid();
//! match handle.request(Some(&server), IqType::Get, Builder::new("query", ns::DISCO_INFO)).await {
//!     Ok(info) => println!("{:?}", info.payload().map(|q| q.children().count())),
//!     Err(IqError::Stanza(error)) => println!("refused: {error}"),
//!     Err(other) => println!("no answer: {other}"),
//! }
//! # Ok(()) }
//! ```
//!
//! ## Answer requests
//!
//! Claim the namespace in the [`client::Config`] (so no request is refused before the
//! application is ready), then reply to each [`client::Event::IqRequest`]:
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use xmpp_sansio::client::{stanza::StanzaErrorCondition, Config, Event};
//! use xmpp_sansio::net::{tokio::connect, ConnectOptions};
//! use xmpp_sansio::{ns, xml::Builder};
//!
//! let config = Config::new("bot@example.com".parse()?, "secret").handle_iq_namespace(ns::VERSION);
//! let (handle, mut events) = connect(config, &ConnectOptions::new()).await?;
//! while let Some(event) = events.next().await {
//!     if let Event::IqRequest(iq) = event {
//!         let reply = match iq.payload() {
//!             Some(q) if q.is("query", ns::VERSION) => {
//!                 Ok(Some(Builder::new("query", ns::VERSION).text_child("name", "bot")))
//!             }
//!             _ => Err(StanzaErrorCondition::FeatureNotImplemented.into()),
//!         };
//!         handle.reply_iq(&iq, reply).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## Presence
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run(handle: xmpp_sansio::net::tokio::Handle) -> Result<(), Box<dyn std::error::Error>> {
//! use xmpp_sansio::client::stanza::{OutgoingPresence, Show};
//!
//! handle.send_presence(OutgoingPresence::available().show(Show::Away).status("lunch")).await?;
//! let romeo = "romeo@example.net".parse()?;
//! handle.send_presence(OutgoingPresence::subscribe(&romeo)).await?;
//! handle.send_presence(OutgoingPresence::unavailable()).await?;
//! # Ok(()) }
//! ```
//!
//! ## A bot in a screen of code
//!
//! Log in, answer every chat message with its body, accept every subscription. (The
//! `echo_bot` example adds a vCard and a bot identity; the roster, disco#info answers and
//! caps need no code.)
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use xmpp_sansio::client::stanza::{MessageType, OutgoingPresence, PresenceType};
//! use xmpp_sansio::client::{Config, Event};
//! use xmpp_sansio::net::{tokio::connect, ConnectOptions};
//!
//! let config = Config::new("bot@example.com".parse()?, "secret");
//! let (bot, mut events) = connect(config, &ConnectOptions::new()).await?;
//! bot.send_presence(OutgoingPresence::available()).await?;
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::Message(m) if m.kind == MessageType::Chat => {
//!             if let (Some(from), Some(body)) = (&m.from, m.body()) {
//!                 bot.send_message(from, MessageType::Chat, &body).await?;
//!             }
//!         }
//!         Event::Presence(p) if p.kind == PresenceType::Subscribe => {
//!             if let Some(from) = &p.from {
//!                 bot.send_presence(OutgoingPresence::subscribed(from)).await?;
//!             }
//!         }
//!         Event::Disconnected { reason } => eprintln!("over: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## Debugging
//!
//! The crate logs with [`tracing`](https://docs.rs/tracing) and installs no subscriber:
//! negotiation decisions (features seen, the SASL mechanism chosen and why) at `debug`; the
//! adapters' DNS SRV results, connect attempts, TLS version, cipher suite, ALPN and
//! channel-binding type, and why a session ended; and, at `trace` under the target
//! `xmpp_sansio::wire`, every element sent and received, with SASL payloads, passwords and
//! tokens redacted. With `tracing-subscriber`, `RUST_LOG=xmpp_sansio=debug,xmpp_sansio::wire=trace`
//! shows it all. Nothing is formatted when nobody listens.
//!
//! # A complete run loop over a blocking socket
//!
//! The driver moves bytes and time between a transport and the [`client::Client`], and
//! performs the TLS upgrade when asked. The crate's adapters do exactly this (over rustls);
//! written by hand it is one loop. The only rule: after every input or command, drain
//! `poll_action` before blocking again.
//!
//! ```no_run
//! use std::io::{self, Read, Write};
//! use std::net::TcpStream;
//! use std::time::Instant;
//!
//! use xmpp_sansio::client::{Action, Client, Config, DisconnectReason, Event, TlsInfo};
//!
//! /// Any byte stream: a TcpStream before STARTTLS, a TLS stream after.
//! trait Transport: Read + Write {
//!     fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()>;
//! }
//! impl Transport for TcpStream {
//!     fn set_read_timeout(&mut self, t: Option<std::time::Duration>) -> io::Result<()> {
//!         TcpStream::set_read_timeout(self, t)
//!     }
//! }
//!
//! /// Upgrades the connection; with rustls this wraps `tcp` in a `StreamOwned`. The
//! /// `blocking` adapter of this crate provides one.
//! fn start_tls(tcp: Box<dyn Transport>, server_name: &str) -> io::Result<(Box<dyn Transport>, TlsInfo)> {
//!     let _ = (tcp, server_name);
//!     Err(io::Error::other("plug in a TLS library here"))
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = Config::new("juliet@example.com/balcony".parse()?, "secret");
//!     let mut transport: Option<Box<dyn Transport>> =
//!         Some(Box::new(TcpStream::connect("example.com:5222")?));
//!     let mut client = Client::new(config, Instant::now());
//!     let mut buf = vec![0u8; 64 * 1024];
//!     loop {
//!         // 1. Do everything the client asks, in order.
//!         while let Some(action) = client.poll_action() {
//!             match action {
//!                 Action::Send(bytes) => transport.as_mut().unwrap().write_all(&bytes)?,
//!                 Action::StartTls { server_name } => {
//!                     let tcp = transport.take().unwrap();
//!                     let (tls, info) = start_tls(tcp, &server_name)?;
//!                     transport = Some(tls);
//!                     client.handle_tls_established(Instant::now(), info)?;
//!                 }
//!                 Action::Event(Event::Online { jid, .. }) => println!("online as {jid}"),
//!                 Action::Event(Event::Message(m)) => println!("{:?}: {:?}", m.from, m.body()),
//!                 Action::Event(Event::Disconnected { reason }) => {
//!                     println!("disconnected: {reason}");
//!                     return Ok(());
//!                 }
//!                 Action::Event(_) => {}
//!                 Action::Close => transport = None,
//!                 // The connection was lost and the session lives on: open another.
//!                 Action::Connect { .. } => match TcpStream::connect("example.com:5222") {
//!                     Ok(tcp) => {
//!                         transport = Some(Box::new(tcp));
//!                         client.handle_connected(Instant::now())?;
//!                     }
//!                     Err(e) => {
//!                         let reason = DisconnectReason::Transport(e.to_string());
//!                         client.handle_connect_failed(Instant::now(), reason)?;
//!                     }
//!                 },
//!             }
//!         }
//!         let Some(t) = transport.as_mut() else {
//!             // Between connections: sleep until the client wants a new one.
//!             let Some(at) = client.poll_timeout() else { return Ok(()) };
//!             std::thread::sleep(at.saturating_duration_since(Instant::now()));
//!             client.handle_timeout(Instant::now());
//!             continue;
//!         };
//!         // 2. Block until data arrives or the next deadline passes.
//!         let timeout = client.poll_timeout().map(|d| d.saturating_duration_since(Instant::now()));
//!         t.set_read_timeout(timeout.map(|d| d.max(std::time::Duration::from_millis(1))))?;
//!         match t.read(&mut buf) {
//!             Ok(0) => client.handle_eof(Instant::now()),
//!             Ok(n) => client.handle_input(Instant::now(), &buf[..n]),
//!             Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
//!                 client.handle_timeout(Instant::now())
//!             }
//!             Err(e) => return Err(e.into()),
//!         }
//!     }
//! }
//! ```
#![deny(missing_docs)]
#![warn(unnameable_types)]
#![deny(unsafe_code)]

pub mod client;
pub mod jid;
#[cfg(feature = "net")]
pub mod net;
pub mod ns;
pub mod stream_error;
pub mod xml;

/// Stanza ids ([`client::stanza::Message::id`] and the like) share the bytes they were read
/// from; this is their type, from the `bytestring` crate.
pub use bytestring::ByteString;
pub use stream_error::{StreamError, StreamErrorCondition};

/// The README's examples, compiled and run as doc tests (they use both adapters).
#[cfg(all(doctest, feature = "tokio", feature = "blocking"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

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
//! use xmpp_sansio::client::{Action, Client, Config, Event, TlsInfo};
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
//!             }
//!         }
//!         let Some(t) = transport.as_mut() else { return Ok(()) };
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
#![forbid(unsafe_code)]

pub mod client;
pub mod jid;
#[cfg(feature = "net")]
pub mod net;
pub mod ns;
pub mod stream_error;
pub mod xml;

pub use stream_error::StreamErrorCondition;

/// The README's examples, compiled and run as doc tests (they use both adapters).
#[cfg(all(doctest, feature = "tokio", feature = "blocking"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

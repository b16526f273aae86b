//! A sans-IO XMPP client core: bytes and time in, actions out.
//!
//! The crate never touches a socket, a clock or a thread. Today it provides the foundation:
//!
//! - [`xml`]: an incremental reader of RFC 6120 restricted XML ([`xml::StreamReader`]) that
//!   yields the stream header, zero-copy top-level [`xml::Element`]s and the stream end, and a
//!   [`xml::Builder`] for outbound elements;
//! - [`jid`]: RFC 7622 addresses;
//! - [`StreamErrorCondition`]: the RFC 6120 stream error conditions that every refusal of the
//!   XML layer maps to.
//!
//! The client state machine and the tokio and blocking adapters build on these.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod jid;
pub mod ns;
pub mod stream_error;
pub mod xml;

pub use stream_error::StreamErrorCondition;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

//! What the client asks of its driver: actions, events, and why a session ended.

use bytes::Bytes;

use super::features::StreamFeatures;
use super::sasl::{AuthError, ChannelBinding};
use super::stanza::{Iq, Message, Presence, StanzaError, StreamError};
use crate::jid::Jid;
use crate::xml::{BuildError, Element, XmlError};

/// The next thing the driver must do, in order.
// Boxing events would cost an allocation per stanza to save a memcpy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Action {
    /// Write these bytes to the transport.
    Send(Bytes),
    /// Upgrade the transport to TLS now (every `Send` before this one has been written in
    /// plaintext), verifying the certificate for `server_name`, then call
    /// [`Client::handle_tls_established`](super::Client::handle_tls_established). Bytes the
    /// transport already read past the server's `<proceed/>` must be dropped.
    StartTls {
        /// The name to verify the server's certificate against (the JID's domain).
        server_name: String,
    },
    /// Something happened that the application should know.
    Event(Event),
    /// Close the transport. Nothing more will be sent on it.
    Close,
    /// Open a new transport (the session outlived the last one: see
    /// [`ReconnectConfig`](super::ReconnectConfig)), to the usual endpoints or to `to`,
    /// then call [`Client::handle_connected`](super::Client::handle_connected) (or
    /// [`handle_connected_over_tls`](super::Client::handle_connected_over_tls)), or
    /// [`Client::handle_connect_failed`](super::Client::handle_connect_failed).
    Connect {
        /// `host` or `host:port` (IPv6 in brackets) to use instead of the usual endpoints:
        /// a `see-other-host` redirect, or where the server said to resume (XEP-0198
        /// `location`). The certificate is still checked against the JID's domain.
        to: Option<String>,
    },
}

/// Something that happened on the stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Negotiation is done: authenticated, bound, ready for stanzas. (The adapters return
    /// from `connect` at this point instead of delivering it.)
    Online {
        /// The full JID the server bound.
        jid: Jid,
        /// The stream features offered after authentication.
        features: StreamFeatures,
    },
    /// A message stanza.
    Message(Message),
    /// A presence stanza.
    Presence(Presence),
    /// An IQ request (`get`/`set`) for a namespace the application handles (see
    /// [`Config::handled_iq_namespaces`](super::Config::handled_iq_namespaces) and
    /// [`Client::handle_iq_namespace`](super::Client::handle_iq_namespace)); answer it with
    /// [`Client::reply_iq`](super::Client::reply_iq).
    IqRequest(Iq),
    /// The outcome of a request sent with [`Client::send_iq`](super::Client::send_iq):
    /// exactly one per request. The adapters' `request` hands it to the waiting caller
    /// instead.
    IqResponse {
        /// The request's id, as `send_iq` returned it.
        id: String,
        /// The `result` from the entity asked, or why there is none.
        result: Result<Iq, IqError>,
    },
    /// In-band registration (XEP-0077): the form to fill, the account created, a password
    /// change's outcome.
    Registration(super::register::RegistrationEvent),
    /// The roster changed (RFC 6121 §2): loaded, an item pushed, a push refused.
    Roster(super::roster::RosterEvent),
    /// A contact asked for, granted, revoked or dropped a presence subscription (RFC 6121
    /// §3).
    Subscription(super::presence::SubscriptionEvent),
    /// Entity capabilities (XEP-0115, XEP-0390): an entity's resolved, a resolution
    /// failed, a verified description learned (to store).
    Caps(super::caps::CapsEvent),
    /// A contact's avatar (XEP-0153): verified and updated, removed, or not to be had.
    Avatar(super::avatar::AvatarEvent),
    /// The server's description (XEP-0030), fetched once online; also
    /// [`Client::server_info`](super::Client::server_info).
    ServerInfo(std::sync::Arc<super::disco::DiscoInfo>),
    /// A message carbon (XEP-0280) that did not come from our own account was dropped: it
    /// may be forged.
    CarbonRefused {
        /// Who sent the wrapper.
        from: Option<Jid>,
    },
    /// A top-level element that is not a stanza, received while online (stream management
    /// and the other nonzas the client handles are not reported).
    Nonza(Element),
    /// The connection was lost and the session lives on: a new one is tried after
    /// `delay` (see [`ReconnectConfig`](super::ReconnectConfig)). Commands go on meanwhile:
    /// their stanzas wait for the new connection.
    Reconnecting {
        /// The attempt about to be made, from 1.
        attempt: u32,
        /// How long until it is made.
        delay: std::time::Duration,
        /// Why the last connection (or attempt) ended.
        reason: DisconnectReason,
    },
    /// Online again after [`Event::Reconnecting`]. `resumed`: the session went on where it
    /// was (XEP-0198): nothing was lost, nothing is fetched again. Otherwise it is a fresh
    /// session, resynchronised (roster, presence, caps, carbons): stanzas that may not have
    /// arrived came before this as [`Event::NotDelivered`], requests that were waiting got
    /// [`IqError::Disconnected`], and the presence map starts empty (the server sends
    /// contacts' presence again, without unavailable presences for the old one).
    Reconnected {
        /// The full JID now bound (the same as before when resumed).
        jid: Jid,
        /// Whether the session was resumed.
        resumed: bool,
    },
    /// A stanza of the application's that went out on a connection that was lost before
    /// the server acknowledged it (XEP-0198), and that will not be sent again: it may or
    /// may not have arrived, so sending it again is the application's call. Also, at the end
    /// of a session, every stanza still waiting for a connection. Requests are not reported
    /// here: their [`Event::IqResponse`] says [`IqError::Disconnected`]. Without stream
    /// management there is no acknowledgement, and nothing is reported.
    NotDelivered(Element),
    /// The session is over; the client is inert from now on.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
}

/// TLS facts the driver reports once the transport is encrypted.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TlsInfo {
    /// Channel-binding data, if the TLS library can export it (enables SCRAM `-PLUS`).
    pub channel_binding: Option<ChannelBinding>,
}

impl TlsInfo {
    /// TLS without channel-binding data.
    pub fn new() -> Self {
        Self::default()
    }

    /// TLS with channel-binding data.
    pub fn with_channel_binding(binding: ChannelBinding) -> Self {
        Self {
            channel_binding: Some(binding),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// We closed the stream (and the server closed its side, or did not in time).
    #[error("closed by us")]
    Closed,
    /// The server closed the stream with `</stream:stream>`.
    #[error("the server closed the stream")]
    ServerClosed,
    /// The transport ended without the stream being closed.
    #[error("the connection was lost (end of file without closing the stream)")]
    ConnectionLost,
    /// The transport failed (the text says how): a read or write error, a TLS alert.
    #[error("the connection failed: {0}")]
    Transport(String),
    /// A new transport's TLS handshake failed (the text says how: typically a certificate
    /// that does not verify); not retried.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The server sent a stream error.
    #[error("stream error from the server: {0}")]
    StreamError(StreamError),
    /// The server sent XML we refuse; we answered with the stream error it calls for.
    #[error("the server sent invalid XML: {0}")]
    InvalidXml(XmlError),
    /// The server broke the protocol (the text says how); we answered with a stream error.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
    /// TLS is required but the server does not offer STARTTLS; nothing sensitive was sent.
    #[error("the server does not offer STARTTLS and TLS is required")]
    TlsNotOffered,
    /// The server refused STARTTLS with `<failure/>`.
    #[error("the server refused STARTTLS")]
    TlsRefused,
    /// Bytes arrived in plaintext after `<proceed/>`: a STARTTLS injection attempt.
    #[error("plaintext data after <proceed/> (possible injection attack)")]
    PlaintextAfterProceed,
    /// Authentication failed.
    #[error("authentication failed: {0}")]
    Auth(AuthError),
    /// The server refused to bind a resource.
    #[error("resource binding failed: {0}")]
    Bind(StanzaError),
    /// The server refused to establish the legacy session.
    #[error("session establishment failed: {0}")]
    Session(StanzaError),
    /// Negotiation did not finish in time.
    #[error("negotiation timed out while {0}")]
    NegotiationTimeout(&'static str),
    /// Nothing arrived in time after a ping.
    #[error("the server did not answer a ping in time")]
    PingTimeout,
    /// In-band registration failed (XEP-0077).
    #[error("registration failed: {0}")]
    Registration(super::register::RegistrationError),
    /// The account was removed (XEP-0077 §3.2), as asked: the server ended the session.
    #[error("the account was removed")]
    AccountRemoved,
    /// The server stopped acknowledging our stanzas (XEP-0198): no `<a/>` in time after our
    /// `<r/>`, or the unacknowledged queue grew past twice its bound.
    #[error("the server stopped acknowledging stanzas (stream management)")]
    NotAcknowledged,
    /// Reconnection gave up after
    /// [`ReconnectConfig::max_attempts`](super::ReconnectConfig::max_attempts).
    #[error("gave up reconnecting after {attempts} attempts; the last ended with: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        last: Box<DisconnectReason>,
    },
}

/// Why an IQ request got no `result`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IqError {
    /// The entity asked answered with an error.
    #[error("the peer answered with an error: {0}")]
    Stanza(Box<StanzaError>),
    /// No response arrived within [`Timeouts::iq`](super::Timeouts::iq); a late one is
    /// ignored.
    #[error("no response in time")]
    Timeout,
    /// The session ended before the response arrived.
    #[error("the session ended before the response arrived")]
    Disconnected,
    /// The request could not be sent (the text says why); nothing was sent.
    #[error("the request was not sent: {0}")]
    NotSent(CommandError),
}

impl From<CommandError> for IqError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Disconnected => IqError::Disconnected,
            other => IqError::NotSent(other),
        }
    }
}

/// A command the client cannot carry out; nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Stanzas can only be sent once the client is online.
    #[error("not online yet ({0})")]
    NotOnline(&'static str),
    /// The session is over ([`Client::disconnect_reason`](super::Client::disconnect_reason)
    /// says why).
    #[error("the session is over")]
    Disconnected,
    /// The element cannot be serialized.
    #[error("the element cannot be serialized: {0}")]
    Build(#[from] BuildError),
    /// The element is not what the command sends (the text says why).
    #[error("invalid stanza: {0}")]
    InvalidStanza(&'static str),
    /// The call does not fit the client's state (the text says why).
    #[error("unexpected call: {0}")]
    Unexpected(&'static str),
    /// A registration form that cannot be submitted as filled.
    #[error("{0}")]
    Registration(crate::client::register::RegistrationError),
    /// The server does not offer what the command needs (the text says what).
    #[error("the server does not offer {0}")]
    NotSupported(&'static str),
    /// As many IQ requests as [`Config::max_pending_iqs`](super::Config::max_pending_iqs)
    /// await their responses; send more once some are answered.
    #[error("{0} IQ requests are already waiting for their responses")]
    TooManyPendingIqs(usize),
    /// As many stanzas as
    /// [`StreamManagementConfig::max_unacked`](super::StreamManagementConfig::max_unacked)
    /// (or its byte bound) wait for the server's acknowledgement or for a connection; send
    /// more once some are acknowledged (or the client is back online).
    #[error("the queue of stanzas waiting to be acknowledged or sent is full (at most {0}, within its byte bound)")]
    TooManyUnacknowledged(usize),
}

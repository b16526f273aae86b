//! The sans-IO client: a state machine from stream header to an authenticated, bound session,
//! and the session services after that.
//!
//! Inputs are `handle_*` methods taking `now`; outputs are drained with
//! [`Client::poll_action`] (one ordered queue: bytes to send, "start TLS now", events, "close",
//! "connect again") and [`Client::poll_timeout`]. The only rule for the driver: after any input or command,
//! drain `poll_action` before blocking on IO, and call `handle_timeout` at `poll_timeout`.
//!
//! One file per phase: STARTTLS (`starttls.rs`), SASL (`auth.rs`, with the mechanism
//! guards in [`sasl`]), resource binding (`bind.rs`), and the online session (`session.rs`).

mod auth;
pub mod avatar;
mod bind;
pub mod caps;
pub mod carbons;
mod config;
mod csi;
pub mod disco;
mod event;
mod features;
pub mod forms;
mod ids;
pub mod pep_avatar;
pub mod presence;
mod rate;
mod reconnect;
pub mod register;
pub mod roster;
pub mod sasl;
mod services;
mod session;
pub mod stanza;
mod starttls;
pub mod stream_management;
pub mod vcard;
mod wire_log;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

pub use config::{Config, Password, Timeouts, TlsPolicy};
pub use event::{Action, CommandError, DisconnectReason, Event, IqError, TlsInfo};
pub use features::StreamFeatures;
pub use reconnect::ReconnectConfig;
pub use stream_management::StreamManagementConfig;

use self::ids::IdGenerator;
use self::sasl::{Mechanism, SaslSession};
use self::services::Services;
use self::session::Session;
use self::stanza::Iq;
use self::stanza::StreamError;
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, Element, StreamEvent, StreamHeader, StreamReader};
use crate::StreamErrorCondition;

/// Where negotiation stands. Each phase waits for one thing.
#[derive(Debug)]
enum Phase {
    /// Waiting for the server's stream header.
    ExpectHeader,
    /// Waiting for `<stream:features/>`.
    ExpectFeatures,
    /// Sent `<starttls/>`, waiting for `<proceed/>`.
    ExpectProceed,
    /// Asked the driver to start TLS, waiting for [`Client::handle_tls_established`].
    ExpectTls,
    /// SASL exchange under way.
    ExpectSasl(Box<SaslSession>),
    /// Asked for the registration form (XEP-0077) with this id.
    ExpectRegisterForm(String),
    /// Handed the form to the application; waiting for `submit_registration`.
    ExpectRegisterSubmission(Box<register::RegistrationForm>),
    /// Submitted the registration with this id.
    ExpectRegisterResult(String),
    /// Sent the bind request with this id.
    ExpectBind(String),
    /// Sent the legacy session request with this id.
    ExpectSession(String),
    /// Sent `<resume/>` (XEP-0198), waiting for `<resumed/>` or `<failed/>`.
    Resuming,
    /// Authenticated and bound.
    Online,
    /// Sent `</stream:stream>`, waiting for the server's.
    Closing,
    /// The connection is gone and the session lives on: waiting until `at` to ask for a
    /// new transport, or (`None`) asked and waiting for the driver.
    Reconnecting { at: Option<Instant> },
    /// Over; the client is inert.
    Closed(DisconnectReason),
}

impl Phase {
    fn describe(&self) -> &'static str {
        match self {
            Phase::ExpectHeader => "waiting for the stream header",
            Phase::ExpectFeatures => "waiting for stream features",
            Phase::ExpectProceed => "waiting for <proceed/>",
            Phase::ExpectTls => "waiting for the TLS handshake",
            Phase::ExpectSasl(_) => "authenticating",
            Phase::ExpectRegisterForm(_) => "asking for the registration form",
            Phase::ExpectRegisterSubmission(_) => "waiting for the registration form to be filled",
            Phase::ExpectRegisterResult(_) => "registering",
            Phase::ExpectBind(_) => "binding a resource",
            Phase::ExpectSession(_) => "establishing the session",
            Phase::Resuming => "resuming the session",
            Phase::Reconnecting { .. } => "reconnecting",
            Phase::Online => "online",
            Phase::Closing => "closing",
            Phase::Closed(_) => "closed",
        }
    }
}

/// A sans-IO XMPP client connection: bytes and time in, [`Action`]s out.
///
/// It never touches a socket, a clock or a thread. Create it when the transport is connected;
/// it immediately queues the stream header.
///
/// ```
/// use std::time::Instant;
/// use xmpp_sansio::client::{Action, Client, Config};
///
/// let jid = "juliet@example.com/balcony".parse()?;
/// let mut client = Client::new(Config::new(jid, "secret"), Instant::now());
/// let Some(Action::Send(header)) = client.poll_action() else { panic!() };
/// assert!(header.starts_with(b"<?xml version='1.0'?><stream:stream to='example.com'"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    config: Config,
    reader: StreamReader,
    phase: Phase,
    actions: VecDeque<Action>,
    ids: IdGenerator,
    /// The transport is encrypted.
    secure: bool,
    tls: Option<TlsInfo>,
    authenticated: bool,
    /// The account was registered on this client (so authentication follows, not another
    /// registration).
    registered: bool,
    /// Where an account removal stands: the end of the session may be its success.
    removal: register::Removal,
    mechanism: Option<Mechanism>,
    jid: Option<Jid>,
    features: Option<StreamFeatures>,
    session: Session,
    /// The services' state (roster, presence map, carbons).
    services: Services,
    /// Stanzas that arrived before the bind or session result.
    early_stanzas: Vec<Element>,
    /// When negotiation must be over.
    negotiation_deadline: Instant,
    close_deadline: Option<Instant>,
    last_send: Instant,
    last_recv: Instant,
    /// When input the reader holds was received, if some of it awaits parsing: parsing stops
    /// when the queue holds `QUEUE_BEFORE_POLL` actions and goes on in `poll_action`.
    input_pending: Option<Instant>,
    /// Entered by every input, so that what the client logs says which client it is.
    span: tracing::Span,
    /// Stream management (XEP-0198): counters and the unacknowledged queue.
    sm: stream_management::StreamManagement,
    /// When and how often to reconnect.
    reconnect: reconnect::Reconnect,
    /// The session has been online (so it may outlive a connection).
    was_online: bool,
    /// `close()` was called while online: the stream being closed is the session's.
    closing_online: bool,
    /// The session ended with the server closing after our close of an online stream: what
    /// went out on it arrived.
    closed_cleanly: bool,
    /// Client state indication (XEP-0352).
    csi: csi::Csi,
    /// Keys derived from the password at the last SCRAM login, so that reconnecting skips
    /// PBKDF2.
    scram_keys: Option<sasl::ScramKeys>,
}

impl Client {
    /// A client for a transport that just connected; the stream header is queued.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut client = Self::new_unopened(config, now);
        client.open_stream(now);
        client
    }

    fn new_unopened(config: Config, now: Instant) -> Self {
        let session = Session::new(&config.handled_iq_namespaces);
        let span = tracing::debug_span!("xmpp_client", jid = %config.jid);
        let services = Services::new(&config);
        let config_seed = config.seed;
        Self {
            reader: StreamReader::new(config.limits),
            ids: IdGenerator::new(config.seed),
            negotiation_deadline: later(now, config.timeouts.negotiation),
            config,
            phase: Phase::ExpectHeader,
            actions: VecDeque::new(),
            secure: false,
            tls: None,
            authenticated: false,
            registered: false,
            removal: register::Removal::NotAsked,
            mechanism: None,
            jid: None,
            features: None,
            session,
            services,
            early_stanzas: Vec::new(),
            close_deadline: None,
            last_send: now,
            last_recv: now,
            input_pending: None,
            span,
            sm: stream_management::StreamManagement::new(),
            reconnect: reconnect::Reconnect::new(config_seed),
            was_online: false,
            closing_online: false,
            closed_cleanly: false,
            csi: csi::Csi::default(),
            scram_keys: None,
        }
    }

    /// A client for a transport that is already encrypted: direct TLS (XEP-0368), where the
    /// TLS handshake happened before any XMPP byte. STARTTLS is skipped even if offered.
    pub fn new_over_tls(config: Config, now: Instant, info: TlsInfo) -> Self {
        let mut client = Self::new_unopened(config, now);
        client.secure = true;
        client.tls = Some(info);
        client.open_stream(now);
        client
    }

    // ---- getters ----

    /// Whether negotiation is done and stanzas can be sent.
    pub fn is_online(&self) -> bool {
        matches!(self.phase, Phase::Online)
    }

    /// Whether the session is over (see [`Self::disconnect_reason`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// Why the session ended, once it has.
    pub fn disconnect_reason(&self) -> Option<&DisconnectReason> {
        match &self.phase {
            Phase::Closed(reason) => Some(reason),
            _ => None,
        }
    }

    /// The full JID the server bound, once online.
    pub fn jid(&self) -> Option<&Jid> {
        self.jid.as_ref()
    }

    /// Whether the transport is encrypted.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The SASL mechanism that authenticated this session. Store it and set it as
    /// [`SaslConfig::pinned`](sasl::SaslConfig::pinned) for later connections to refuse
    /// downgrades.
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// The latest stream features received.
    pub fn features(&self) -> Option<&StreamFeatures> {
        self.features.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- inputs ----

    /// Bytes read from the transport.
    ///
    /// However large the input, at most a few dozen actions are queued here: the rest of
    /// the input waits, copied into the reader, and is parsed as [`Self::poll_action`]
    /// drains the queue. Every other input (end of file, a timeout, `close`...) first
    /// handles what waits, so events keep the order of the wire.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() || matches!(self.phase, Phase::Closed(_) | Phase::Reconnecting { .. }) {
            return;
        }
        let span = self.span.clone();
        let _entered = span.enter();
        self.last_recv = now;
        self.session.ping_sent = None;
        if matches!(self.phase, Phase::ExpectTls) {
            // Nothing may be read in plaintext between <proceed/> and the handshake (white
            // space aside, which carries nothing, as in `on_starttls_answer`).
            if !data.iter().all(u8::is_ascii_whitespace) {
                self.fail(now, DisconnectReason::PlaintextAfterProceed, None);
            }
            return;
        }
        if self.input_pending.is_some() {
            // Earlier input still waits for `poll_action`: this goes behind it, and what
            // waits is handled as received now (a later time makes no deadline early).
            self.reader.feed(data);
            self.input_pending = Some(now);
            return;
        }
        if self.actions.capacity() == 0 {
            // The queue is released when drained (`poll_action`): room for about one action
            // per stanza of this input, in one allocation.
            self.actions
                .reserve((data.len() / 256).clamp(2, QUEUE_BEFORE_POLL));
        }
        // A large input is parsed a slice at a time: the reader copies what it is fed, and
        // copying megabytes at once (page faults, caches) costs more than parsing them.
        let mut rest = data;
        while !rest.is_empty() {
            let (slice, after) = rest.split_at(rest.len().min(FEED_SLICE));
            rest = after;
            self.reader.feed(slice);
            if !self.drain_reader(now, QUEUE_BEFORE_POLL) {
                break;
            }
        }
        if self.input_pending.is_some() {
            // The queue is full: the rest waits in the reader until `poll_action` drains it.
            self.reader.feed(rest);
        } else if matches!(self.phase, Phase::ExpectTls)
            && !rest.iter().all(u8::is_ascii_whitespace)
        {
            // Further slices of the read that carried <proceed/>: plaintext after the switch,
            // refused as `on_starttls_answer` refuses what the reader holds.
            self.fail(now, DisconnectReason::PlaintextAfterProceed, None);
        }
    }

    /// Parses what `handle_input` left for later, all of it: before any other input, so
    /// that the order of events stays that of the wire.
    fn parse_pending(&mut self, now: Instant) {
        if self.input_pending.is_some() {
            self.drain_reader(now, usize::MAX);
        }
    }

    /// Handles the reader's events until it needs more input, or until `queue_limit` actions
    /// wait (then `input_pending` is set). False when the rest of the input must not be fed
    /// now: the queue is full, or the stream stopped being read (closed, awaiting TLS,
    /// reconnecting).
    fn drain_reader(&mut self, now: Instant, queue_limit: usize) -> bool {
        self.input_pending = None;
        loop {
            if self.actions.len() >= queue_limit {
                self.input_pending = Some(now);
                return false;
            }
            let event = match self.reader.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return true,
                Err(e) => {
                    let condition = e.condition();
                    self.fail(now, DisconnectReason::InvalidXml(e), Some(condition));
                    return false;
                }
            };
            match event {
                StreamEvent::Header(h) => self.on_header(now, h),
                StreamEvent::Element(el) => {
                    wire_log::received(&el);
                    self.on_element(now, el)
                }
                StreamEvent::End => self.on_stream_end(now),
            }
            if matches!(
                self.phase,
                Phase::Closed(_) | Phase::ExpectTls | Phase::Reconnecting { .. }
            ) {
                return false;
            }
        }
    }

    /// The transport reached end of file. (`now` is taken for uniformity with the other
    /// inputs; nothing here depends on it yet.)
    pub fn handle_eof(&mut self, now: Instant) {
        self.parse_pending(now);
        let span = self.span.clone();
        let _entered = span.enter();
        match self.phase {
            Phase::Closed(_) | Phase::Reconnecting { .. } => {}
            Phase::Closing => self.finish(now, DisconnectReason::Closed),
            _ => self.finish(now, DisconnectReason::ConnectionLost),
        }
    }

    /// The transport failed (a read or write error, a TLS alert), with
    /// [`DisconnectReason::Transport`] carrying `error`'s text: nothing more is sent on it. The
    /// session reconnects if it may ([`ReconnectConfig`]), else it is over.
    pub fn handle_transport_error(&mut self, now: Instant, error: &dyn std::fmt::Display) {
        self.parse_pending(now);
        let span = self.span.clone();
        let _entered = span.enter();
        if !matches!(self.phase, Phase::Closed(_) | Phase::Reconnecting { .. }) {
            self.finish(now, DisconnectReason::Transport(error.to_string()));
        }
    }

    /// The TLS handshake failed in a way another attempt would not fix (a certificate that
    /// does not verify): as [`Self::handle_transport_error`], but with
    /// [`DisconnectReason::Tls`], which is never retried.
    pub fn handle_tls_failed(&mut self, now: Instant, error: &dyn std::fmt::Display) {
        self.parse_pending(now);
        let span = self.span.clone();
        let _entered = span.enter();
        if !matches!(self.phase, Phase::Closed(_) | Phase::Reconnecting { .. }) {
            self.finish(now, DisconnectReason::Tls(error.to_string()));
        }
    }

    /// The driver finished the TLS handshake asked for by [`Action::StartTls`]. In any other
    /// state this is a driver bug: it is refused and changes nothing.
    pub fn handle_tls_established(
        &mut self,
        now: Instant,
        info: TlsInfo,
    ) -> Result<(), CommandError> {
        if !matches!(self.phase, Phase::ExpectTls) {
            return Err(CommandError::Unexpected(
                "TLS established without Action::StartTls",
            ));
        }
        let span = self.span.clone();
        let _entered = span.enter();
        tracing::debug!("TLS established: restarting the stream");
        self.secure = true;
        self.tls = Some(info);
        self.reader = StreamReader::new(self.config.limits);
        self.open_stream(now);
        Ok(())
    }

    /// Time passed. Calling it early, or more often than needed, is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.parse_pending(now);
        let span = self.span.clone();
        let _entered = span.enter();
        match self.phase {
            Phase::Closed(_) => {}
            Phase::Closing => {
                if self.close_deadline.is_some_and(|d| now >= d) {
                    self.actions.push_back(Action::Close);
                    self.finish(now, DisconnectReason::Closed);
                }
            }
            Phase::Online => self.session_timeout(now),
            Phase::Reconnecting { .. } => {
                self.expire_requests(now);
                self.reconnect_due(now);
            }
            Phase::ExpectRegisterSubmission(_) => {}
            _ => {
                // Negotiating a new connection for a live session: its requests still time
                // out.
                if self.was_online {
                    self.expire_requests(now);
                }
                if now >= self.negotiation_deadline {
                    let what = self.phase.describe();
                    self.fail(
                        now,
                        DisconnectReason::NegotiationTimeout(what),
                        Some(StreamErrorCondition::ConnectionTimeout),
                    );
                }
            }
        }
    }

    // ---- commands ----

    /// Closes the stream: sends `</stream:stream>` after everything already queued, then
    /// waits (up to [`Timeouts::close`]) for the server to close its side. Nothing reconnects
    /// after this. While reconnecting (no transport) the session ends at once, and the
    /// stanzas that waited for a connection are handed back ([`Event::NotDelivered`]).
    pub fn close(&mut self, now: Instant) {
        self.parse_pending(now);
        match self.phase {
            Phase::Closed(_) | Phase::Closing => {}
            // Between <proceed/> and the handshake no stream is open, and while reconnecting
            // there is no transport: just close.
            Phase::ExpectTls => self.finish(now, DisconnectReason::Closed),
            Phase::Reconnecting { .. } => self.end_session(now, DisconnectReason::Closed),
            _ => {
                self.closing_online = matches!(self.phase, Phase::Online);
                self.send(now, Bytes::from_static(b"</stream:stream>"));
                self.phase = Phase::Closing;
                self.close_deadline = Some(later(now, self.config.timeouts.close));
            }
        }
    }

    // ---- outputs ----

    /// The next action for the driver, in order. Input that [`Self::handle_input`] left
    /// waiting is parsed here as the queue empties: drain it until `None`.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.actions.is_empty() {
            if let Some(at) = self.input_pending {
                let span = self.span.clone();
                let _entered = span.enter();
                self.drain_reader(at, QUEUE_BEFORE_POLL);
            }
        }
        let action = self.actions.pop_front();
        if action.is_none() && self.actions.capacity() > 0 {
            // Drained: an idle session holds no queue (a burst's capacity would stay otherwise).
            self.actions = VecDeque::new();
        }
        action
    }

    /// When [`Self::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed(_) => None,
            Phase::Closing => self.close_deadline,
            Phase::Online => self.session_deadline(),
            Phase::Reconnecting { at } => {
                let pending = self.session.next_deadline();
                at.into_iter().chain(pending).min()
            }
            // The application fills the registration form at its own pace (a CAPTCHA may
            // take a person a while).
            Phase::ExpectRegisterSubmission(_) => None,
            _ if self.was_online => {
                let pending = self.session.next_deadline();
                Some(pending.map_or(self.negotiation_deadline, |p| {
                    p.min(self.negotiation_deadline)
                }))
            }
            _ => Some(self.negotiation_deadline),
        }
    }

    // ---- internals shared by the phases ----

    fn open_stream(&mut self, now: Instant) {
        let mut header = Vec::with_capacity(200);
        header.extend_from_slice(b"<?xml version='1.0'?><stream:stream to='");
        let _ = crate::xml::escape_attr_value(&mut header, self.config.jid.domain());
        // RFC 6120 §4.7.1: announce who we are only once the stream is encrypted.
        if self.secure {
            header.extend_from_slice(b"' from='");
            let _ = crate::xml::escape_attr_value(&mut header, self.config.jid.bare().as_str());
        }
        header.extend_from_slice(b"' version='1.0'");
        // JIDs cannot hold characters XML cannot carry; a configured language might. A
        // language tag that cannot be written is left out rather than corrupting the header.
        let mut lang = Vec::with_capacity(self.config.lang.len());
        if !self.config.lang.is_empty()
            && crate::xml::escape_attr_value(&mut lang, &self.config.lang).is_ok()
        {
            header.extend_from_slice(b" xml:lang='");
            header.extend_from_slice(&lang);
            header.push(b'\'');
        }
        header.extend_from_slice(
            b" xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        );
        self.send(now, header.into());
        self.phase = Phase::ExpectHeader;
    }

    fn send(&mut self, now: Instant, bytes: Bytes) {
        wire_log::sent(&bytes);
        self.last_send = now;
        self.actions.push_back(Action::Send(bytes));
    }

    /// Sends an element the client built itself (always serializable).
    fn send_element_internal(&mut self, now: Instant, el: &Builder) {
        // Nothing follows our `</stream:stream>` (RFC 6120 §4.4), not even a reply.
        if matches!(self.phase, Phase::Closing | Phase::Closed(_)) {
            return;
        }
        match el.to_bytes(ns::JABBER_CLIENT) {
            Ok(bytes) if self.is_online() && is_stanza(el) => {
                self.send_stanza(now, bytes, session::Origin::Client)
            }
            // No transport.
            Ok(_) if matches!(self.phase, Phase::Reconnecting { .. }) => {}
            Ok(bytes) => self.send(now, bytes),
            Err(e) => debug_assert!(false, "internal element failed to serialize: {e}"),
        }
    }

    /// Sends a stanza once online, counted for stream management; while reconnecting the
    /// application's wait for the new connection (the caller checked the queue's room) and
    /// the services' are dropped (they resynchronise).
    fn send_stanza(&mut self, now: Instant, bytes: Bytes, origin: session::Origin) {
        let report = origin == session::Origin::App;
        match self.phase {
            Phase::Online => {
                if !self.sm.is_on() {
                    return self.send(now, bytes);
                }
                self.sm.track(now, bytes.clone(), report);
                self.send(now, bytes);
                self.after_counted_send(now);
            }
            Phase::Closing | Phase::Closed(_) => {}
            _ if self.was_online && origin != session::Origin::Client => {
                self.sm.hold(bytes, report)
            }
            _ if self.was_online => {}
            // Negotiation's own requests (binding).
            _ => self.send(now, bytes),
        }
    }

    /// Ends the session after a failure, with these stream-error bytes (if any).
    fn fail_with(&mut self, now: Instant, reason: DisconnectReason, error: Option<Bytes>) {
        if matches!(self.phase, Phase::Closed(_) | Phase::Reconnecting { .. }) {
            return;
        }
        if !matches!(self.phase, Phase::Closing | Phase::ExpectTls) {
            if let Some(error) = error {
                self.send(now, error);
            }
            self.send(now, Bytes::from_static(b"</stream:stream>"));
        }
        self.actions.push_back(Action::Close);
        self.finish(now, reason);
    }

    /// Sends a request of ours to the server while negotiating (binding, registering);
    /// returns its id, for the phase that waits for the answer.
    fn send_negotiation_iq(
        &mut self,
        now: Instant,
        kind: stanza::IqType,
        payload: Builder,
    ) -> String {
        let id = self.ids.next_id();
        let iq = Builder::new("iq", ns::JABBER_CLIENT)
            .attr("type", std::borrow::Cow::Borrowed(kind.name()))
            .attr("id", &id)
            .child(payload);
        self.send_element_internal(now, &iq);
        id
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Event(event));
    }

    /// Ends the session after a failure: the stream error (if any) and `</stream:stream>`
    /// go out after what is queued, then the transport is closed.
    fn fail(
        &mut self,
        now: Instant,
        reason: DisconnectReason,
        condition: Option<StreamErrorCondition>,
    ) {
        // While closing our end tag is out; while the TLS handshake is pending no stream is
        // open (and plaintext must not follow StartTls): only close.
        let error = condition.map(|c| StreamError::new(c).to_bytes());
        self.fail_with(now, reason, error);
    }

    /// The connection is over for `reason` (the transport is already gone or closing): the
    /// session goes on on a new one if the reason allows, or ends.
    fn finish(&mut self, now: Instant, reason: DisconnectReason) {
        if matches!(self.phase, Phase::Closed(_) | Phase::Reconnecting { .. }) {
            return;
        }
        if !matches!(self.actions.back(), Some(Action::Close)) {
            self.actions.push_back(Action::Close);
        }
        // Closing is the application's wish: nothing brings the session back then.
        if !matches!(self.phase, Phase::Closing) && self.reconnects_after(&reason) {
            return self.connection_down(now, reason);
        }
        self.end_session(now, reason);
    }

    /// Enters the closed state and reports why; every stanza and request still waiting
    /// gets its outcome first.
    fn end_session(&mut self, now: Instant, reason: DisconnectReason) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        // The server ends the stream after removing the account (Prosody with
        // `not-authorized`, ejabberd with `conflict`): that is the removal's success. Any
        // other end before the server said so is what it is.
        let server_ended = matches!(
            reason,
            DisconnectReason::ServerClosed | DisconnectReason::StreamError(_)
        );
        let reason = match self.removal {
            register::Removal::Confirmed => DisconnectReason::AccountRemoved,
            register::Removal::Asked if server_ended => DisconnectReason::AccountRemoved,
            _ => reason,
        };
        tracing::debug!(%reason, "session over");
        self.services.connection_lost();
        for bytes in self.sm.finish(self.closed_cleanly) {
            self.report_not_delivered(&bytes);
        }
        // Every request still waiting gets its outcome, in the order they were sent.
        for (id, owner) in self.session.clear() {
            self.deliver_outcome(now, owner, id, Err(IqError::Disconnected));
        }
        self.emit(Event::Disconnected {
            reason: reason.clone(),
        });
        self.phase = Phase::Closed(reason);
    }

    /// A stanza of the application's that may not have arrived.
    fn report_not_delivered(&mut self, bytes: &[u8]) {
        match stream_management::reparse(bytes) {
            Some(stanza) => self.emit(Event::NotDelivered(stanza)),
            None => debug_assert!(false, "our own stanza does not parse back"),
        }
    }

    /// Whether a connection is being negotiated (not online, not closing, not closed).
    fn negotiating(&self) -> bool {
        !matches!(
            self.phase,
            Phase::Online | Phase::Closing | Phase::Closed(_) | Phase::Reconnecting { .. }
        )
    }

    fn protocol_violation(&mut self, now: Instant, what: String) {
        let condition = Some(StreamErrorCondition::UndefinedCondition);
        self.fail(now, DisconnectReason::Protocol(what), condition);
    }

    fn on_header(&mut self, now: Instant, header: StreamHeader) {
        tracing::trace!(
            target: wire_log::TARGET,
            "<- stream header from={:?} id={:?} version={:?}",
            header.from,
            header.id,
            header.version
        );
        if matches!(self.phase, Phase::Closing) {
            return;
        }
        if !matches!(self.phase, Phase::ExpectHeader) {
            self.protocol_violation(
                now,
                format!("a second stream header while {}", self.phase.describe()),
            );
            return;
        }
        if header.content_namespace.as_deref() != Some(ns::JABBER_CLIENT) {
            let reason = DisconnectReason::Protocol(format!(
                "content namespace is {:?}, not jabber:client",
                header.content_namespace
            ));
            self.fail(now, reason, Some(StreamErrorCondition::InvalidNamespace));
            return;
        }
        let major = header
            .version
            .as_deref()
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
        if major != Some(1) {
            let reason = DisconnectReason::Protocol(format!(
                "stream version {:?} is not 1.x (RFC 6120 needs stream features)",
                header.version
            ));
            self.fail(now, reason, Some(StreamErrorCondition::UnsupportedVersion));
            return;
        }
        self.phase = Phase::ExpectFeatures;
    }

    fn on_stream_end(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Closing) {
            // RFC 6120 §4.4: the server handled what we sent before our end tag (on this
            // connection: what went out on a lost one is another matter).
            self.closed_cleanly = self.closing_online;
            self.finish(now, DisconnectReason::Closed);
        } else {
            // Answer with our own end tag, then close.
            self.send(now, Bytes::from_static(b"</stream:stream>"));
            self.actions.push_back(Action::Close);
            self.finish(now, DisconnectReason::ServerClosed);
        }
    }

    fn on_element(&mut self, now: Instant, el: Element) {
        if el.is("error", ns::STREAM) {
            let error = StreamError::from_element(&el);
            self.fail(now, DisconnectReason::StreamError(error), None);
            return;
        }
        match &self.phase {
            Phase::ExpectFeatures if el.is("features", ns::STREAM) => self.on_features(now, el),
            Phase::ExpectProceed => self.on_starttls_answer(now, &el),
            Phase::ExpectSasl(_) if el.ns() == ns::XMPP_SASL => self.on_sasl(now, &el),
            Phase::ExpectBind(_) | Phase::ExpectSession(_) if el.is("iq", ns::JABBER_CLIENT) => {
                self.on_bind_answer(now, el)
            }
            Phase::ExpectRegisterForm(_) | Phase::ExpectRegisterResult(_)
                if el.is("iq", ns::JABBER_CLIENT) =>
            {
                match Iq::from_element(el) {
                    Ok(iq) => self.on_registration_answer(now, iq),
                    Err(e) => {
                        self.protocol_violation(now, format!("invalid IQ while registering: {e}"))
                    }
                }
            }
            Phase::Resuming if el.ns() == ns::SM3 => self.on_resume_answer(now, &el),
            Phase::Online => self.on_stanza(now, el),
            // RFC 6120 §4.4: the server may finish sending; what it sends still counts.
            Phase::Closing if self.closing_online => self.on_stanza(now, el),
            Phase::Closing => {}
            // A stanza that overtakes the bind or session result is delivered once online.
            Phase::ExpectBind(_) | Phase::ExpectSession(_)
                if el.ns() == ns::JABBER_CLIENT && matches!(el.name(), "message" | "presence") =>
            {
                if self.early_stanzas.len() >= MAX_EARLY_STANZAS {
                    let what = "too many stanzas before the session was established".to_owned();
                    let condition = Some(StreamErrorCondition::PolicyViolation);
                    self.fail(now, DisconnectReason::Protocol(what), condition);
                } else {
                    self.early_stanzas.push(el);
                }
            }
            _ => {
                let what = format!(
                    "unexpected <{}/> ({}) while {}",
                    el.name(),
                    el.ns(),
                    self.phase.describe()
                );
                let condition = Some(StreamErrorCondition::UnsupportedStanzaType);
                self.fail(now, DisconnectReason::Protocol(what), condition);
            }
        }
    }

    /// Features arrived: the next negotiation step follows from what we have so far.
    fn on_features(&mut self, now: Instant, el: Element) {
        let features = StreamFeatures::parse(el);
        tracing::debug!(%features, secure = self.secure, authenticated = self.authenticated, "stream features");
        self.features = Some(features);
        if self.authenticated {
            self.resume_or_bind(now);
        } else if !self.secure {
            self.negotiate_tls(now);
        } else {
            self.register_or_authenticate(now);
        }
    }

    /// Whether the application's commands may go ahead: online, or reconnecting (then
    /// their stanzas wait for the new connection).
    fn require_online(&self) -> Result<(), CommandError> {
        match &self.phase {
            Phase::Online => Ok(()),
            Phase::Closed(_) => Err(CommandError::Disconnected),
            Phase::Closing => Err(CommandError::Unexpected("the stream is closing")),
            _ if self.was_online => Ok(()),
            other => Err(CommandError::NotOnline(other.describe())),
        }
    }
}

/// Whether an element is a stanza (what stream management counts), not a nonza.
fn is_stanza(el: &Builder) -> bool {
    el.ns() == ns::JABBER_CLIENT && matches!(el.name(), "message" | "presence" | "iq")
}

/// The maps keyed by what peers send (JIDs, request ids): foldhash, several times cheaper
/// than SipHash on short keys and seeded at random, so that a peer cannot prepare keys that
/// collide. It does not claim to resist an attacker who probes with timings; every such map
/// is bounded, so the worst case is a slow search of a bounded table.
pub(crate) type PeerMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Stanzas kept while binding; a server has no reason to send more than a few.
const MAX_EARLY_STANZAS: usize = 64;

/// How much of one input the reader is fed at a time (see `handle_input`).
const FEED_SLICE: usize = 16 * 1024;

/// Actions queued before `handle_input` stops parsing and leaves the rest of its input to
/// `poll_action`: the queue stays small (and warm in the caches) however large the input.
const QUEUE_BEFORE_POLL: usize = 64;

/// `t + d`, saturating far in the future instead of overflowing (durations come from the
/// configuration and may be `Duration::MAX`).
pub(crate) fn later(t: Instant, d: std::time::Duration) -> Instant {
    const YEAR: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);
    t.checked_add(d)
        .or_else(|| t.checked_add(YEAR))
        .unwrap_or(t)
}

// Drivers move the client between threads (tokio tasks).
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Client>();
};

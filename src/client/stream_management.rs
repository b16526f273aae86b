//! Stream management (XEP-0198 v1.6): acknowledgements, the queue of stanzas the server has
//! not acknowledged yet, and resumption.
//!
//! Counting follows §4: our outbound count starts when `<enable/>` goes out, the inbound one
//! when `<enabled/>` arrives; both wrap at 2^32 (RFC 1982 serial arithmetic). The queue holds
//! every stanza sent since `<enable/>` until an `<a h/>` covers it (internal ones too, since
//! the server counts them), then the stanzas the application sent while no connection was
//! up: after a resumption all of it goes out again, after a fresh start only what never
//! went out does, and what went out unacknowledged is handed back as
//! [`Event::NotDelivered`](super::Event::NotDelivered).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::ns;
use crate::xml::{Builder, Element};

/// Stream management (XEP-0198) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamManagementConfig {
    /// Enable stream management when the server offers it. Default on.
    pub enabled: bool,
    /// Ask for resumption (`resume='true'`). Default on.
    pub resume: bool,
    /// The resumption window to ask for (`max`); the server's answer rules. Default none
    /// (the server's default: 300 s on ejabberd, 600 s on Prosody).
    pub resume_window: Option<Duration>,
    /// Ask for an acknowledgement (`<r/>`) once this many stanzas are unacknowledged.
    /// Default 5.
    pub ack_every: u32,
    /// Ask for an acknowledgement once a stanza has been unacknowledged this long.
    /// Default 5 s.
    pub ack_after: Duration,
    /// The most stanzas the unacknowledged queue holds (including those waiting for a
    /// connection); the application's sends beyond it fail with
    /// [`CommandError::TooManyUnacknowledged`](super::CommandError::TooManyUnacknowledged).
    /// Default 1,000.
    pub max_unacked: usize,
    /// The most bytes the unacknowledged queue holds. Default 1 MiB.
    pub max_unacked_bytes: usize,
}

impl Default for StreamManagementConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            resume: true,
            resume_window: None,
            ack_every: 5,
            ack_after: Duration::from_secs(5),
            max_unacked: 1000,
            max_unacked_bytes: 1 << 20,
        }
    }
}

/// A stanza in the queue.
#[derive(Debug)]
struct Outgoing {
    bytes: Bytes,
    /// Handed back as not delivered if it may not have arrived: the application's stanzas,
    /// not its requests (their outcome says so) nor the services' (they resynchronise).
    report: bool,
}

/// What the server agreed to on the current connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not negotiated on this connection.
    Off,
    /// `<enable/>` sent; counting our stanzas, waiting for `<enabled/>`.
    Requested,
    /// `<enabled/>` received; counting both ways.
    Enabled,
}

/// What resuming the session needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resumption {
    pub(super) id: String,
    /// How long the server keeps the session after the connection is lost.
    max: Option<Duration>,
    /// Where to reconnect to resume (`host` or `host:port`), if the server said.
    pub(super) location: Option<String>,
}

/// An `<a h/>` (or `<resumed h/>`, `<failed h/>`) acknowledged more than we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooHigh {
    pub(super) h: u32,
    pub(super) sent: u32,
}

impl TooHigh {
    /// The stream error XEP-0198 §5 gives for it: `undefined-condition` with
    /// `<handled-count-too-high/>`.
    pub(super) fn stream_error(&self) -> Bytes {
        let condition = Builder::new("undefined-condition", ns::XMPP_STREAMS);
        let specific = Builder::new("handled-count-too-high", ns::SM3)
            .attr("h", self.h.to_string())
            .attr("send-count", self.sent.to_string());
        let mut out = b"<stream:error>".to_vec();
        let written = condition
            .write_to(&mut out, ns::JABBER_CLIENT)
            .and_then(|()| specific.write_to(&mut out, ns::JABBER_CLIENT));
        debug_assert!(written.is_ok());
        out.extend_from_slice(b"</stream:error>");
        out.into()
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "the server acknowledged {} stanzas, but we sent {} (XEP-0198 handled-count-too-high)",
            self.h, self.sent
        )
    }
}

/// The client's stream-management state: session state (it outlives a connection).
#[derive(Debug)]
pub(super) struct StreamManagement {
    state: State,
    /// Kept while the session may be resumed.
    resumption: Option<Resumption>,
    /// When the connection carrying the resumable session was lost.
    lost_at: Option<Instant>,
    queue: VecDeque<Outgoing>,
    queued_bytes: usize,
    /// How many of the queue's first stanzas went out (the rest wait for a connection).
    sent_in_queue: usize,
    /// The `h` of the last acknowledgement (our stanzas the server handled, mod 2^32).
    acked: u32,
    /// Stanzas received since `<enabled/>` (mod 2^32): our `h`.
    handled: u32,
    /// When our outstanding `<r/>` went out.
    requested: Option<Instant>,
    /// Stanzas sent since our last `<r/>`, and when the first of them went out.
    since_request: u32,
    unrequested_since: Option<Instant>,
}

impl StreamManagement {
    pub(super) fn new() -> Self {
        Self {
            state: State::Off,
            resumption: None,
            lost_at: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            sent_in_queue: 0,
            acked: 0,
            handled: 0,
            requested: None,
            since_request: 0,
            unrequested_since: None,
        }
    }

    // ---- negotiation ----

    /// `<enable/>` to send after binding; from now on our stanzas are counted.
    pub(super) fn enable(&mut self, config: &StreamManagementConfig) -> Builder {
        self.state = State::Requested;
        self.acked = 0;
        self.handled = 0;
        self.requested = None;
        self.since_request = 0;
        self.unrequested_since = None;
        debug_assert_eq!(self.sent_in_queue, 0);
        let max = config.resume_window.map(|d| d.as_secs().to_string());
        let mut enable = Builder::new("enable", ns::SM3);
        if config.resume {
            enable = enable.attr("resume", "true").attr_opt("max", max);
        }
        enable
    }

    /// `<enabled/>`: counting both ways, and resumable if the server said so.
    pub(super) fn on_enabled(&mut self, el: &Element) {
        if self.state != State::Requested {
            return;
        }
        self.state = State::Enabled;
        let resume = el.attr("resume").is_some_and(|r| r == "true" || r == "1");
        let id = el.attr("id").map(|i| i.into_owned());
        self.resumption = match (resume, id) {
            (true, Some(id)) if !id.is_empty() => Some(Resumption {
                id,
                max: el
                    .attr("max")
                    .and_then(|m| m.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
                location: el.attr("location").map(|l| l.into_owned()),
            }),
            _ => None,
        };
        tracing::debug!(resumption = ?self.resumption, "stream management enabled");
    }

    /// `<failed/>` in answer to `<enable/>`: no stream management on this connection; what
    /// was counted is forgotten (there is nothing to resume it with).
    pub(super) fn on_enable_failed(&mut self) {
        if self.state != State::Requested {
            return;
        }
        tracing::debug!("the server refused to enable stream management");
        self.state = State::Off;
        self.drop_sent();
    }

    /// Whether stream management is on for this connection (since `<enable/>`).
    pub(super) fn is_on(&self) -> bool {
        self.state != State::Off
    }

    /// The resumption to try on a new connection at `now`, if the server's window is open.
    pub(super) fn resumable(&self, now: Instant) -> Option<&Resumption> {
        let r = self.resumption.as_ref()?;
        let open = match (r.max, self.lost_at) {
            (Some(max), Some(lost)) => now < super::later(lost, max),
            _ => true,
        };
        open.then_some(r)
    }

    /// `<resume/>` for `r`.
    pub(super) fn resume_request(&self, r: &Resumption) -> Builder {
        Builder::new("resume", ns::SM3)
            .attr("h", self.handled.to_string())
            .attr("previd", &r.id)
    }

    /// `<resumed h/>` for our previd: drops what it acknowledges and returns everything
    /// left, to send again in order (what went out unacknowledged, then what waited).
    pub(super) fn on_resumed(&mut self, now: Instant, h: u32) -> Result<Vec<Bytes>, TooHigh> {
        self.on_ack(h)?;
        self.state = State::Enabled;
        self.lost_at = None;
        self.sent_in_queue = self.queue.len();
        self.requested = None;
        // What goes out again is asked about like anything sent now.
        self.since_request = u32::try_from(self.sent_in_queue).unwrap_or(u32::MAX);
        self.unrequested_since = (self.sent_in_queue > 0).then_some(now);
        Ok(self.queue.iter().map(|o| o.bytes.clone()).collect())
    }

    /// The session will not be resumed (`<failed/>`, the window closed, the server no
    /// longer offers it, or no connection): applies a final `h` if one came, forgets the
    /// resumption and returns the application's stanzas that went out unacknowledged.
    /// Stanzas that never went out stay queued for the next connection.
    pub(super) fn abandon(&mut self, h: Option<u32>) -> Vec<Bytes> {
        if let Some(h) = h {
            // A bogus final count changes nothing: everything unacknowledged is reported.
            if let Err(too_high) = self.on_ack(h) {
                tracing::warn!(
                    "{}; every unacknowledged stanza is reported",
                    too_high.describe()
                );
            }
        }
        self.state = State::Off;
        self.resumption = None;
        self.lost_at = None;
        self.drop_sent()
    }

    /// The connection is gone at `now`; the session may live on.
    pub(super) fn connection_lost(&mut self, now: Instant) {
        if self.state == State::Off {
            return;
        }
        if self.state == State::Requested {
            // Never confirmed: no resumption.
            self.resumption = None;
        }
        self.state = State::Off;
        self.requested = None;
        if self.resumption.is_some() {
            self.lost_at.get_or_insert(now);
        }
    }

    /// Everything left, at the end of the session: the application's stanzas, sent or not.
    /// After a clean close (`delivered`) the server handled all that went out.
    pub(super) fn finish(&mut self, delivered: bool) -> Vec<Bytes> {
        let sent = self.sent_in_queue;
        let report = self
            .queue
            .drain(..)
            .enumerate()
            .filter(|(i, o)| o.report && !(delivered && *i < sent))
            .map(|(_, o)| o.bytes)
            .collect();
        *self = Self::new();
        report
    }

    // ---- counting ----

    /// A stanza went out on this connection: counted after those that went out before it
    /// (and before any still waiting for a connection).
    pub(super) fn track(&mut self, now: Instant, bytes: Bytes, report: bool) {
        debug_assert!(self.is_on());
        self.queued_bytes += bytes.len();
        self.queue
            .insert(self.sent_in_queue, Outgoing { bytes, report });
        self.sent_in_queue += 1;
        self.since_request = self.since_request.saturating_add(1);
        self.unrequested_since.get_or_insert(now);
    }

    /// A stanza of the application's waits for a connection.
    pub(super) fn hold(&mut self, bytes: Bytes, report: bool) {
        self.queued_bytes += bytes.len();
        self.queue.push_back(Outgoing { bytes, report });
    }

    /// Takes the stanzas that wait for a connection, to send them now (with whether each
    /// is reported if it may not arrive).
    pub(super) fn take_held(&mut self) -> Vec<(Bytes, bool)> {
        let held: Vec<Outgoing> = self.queue.drain(self.sent_in_queue..).collect();
        self.queued_bytes -= held.iter().map(|o| o.bytes.len()).sum::<usize>();
        held.into_iter().map(|o| (o.bytes, o.report)).collect()
    }

    /// Whether the queue is at its limit for the application's sends.
    pub(super) fn is_full(&self, config: &StreamManagementConfig) -> bool {
        self.queue.len() >= config.max_unacked || self.queued_bytes >= config.max_unacked_bytes
    }

    /// Whether the queue is past twice its limit: the client's own stanzas (answers to what
    /// the server sends) are not refused, so this is where a server that stopped
    /// acknowledging is given up on.
    pub(super) fn is_overflowing(&self, config: &StreamManagementConfig) -> bool {
        self.queue.len() >= config.max_unacked.saturating_mul(2)
            || self.queued_bytes >= config.max_unacked_bytes.saturating_mul(2)
    }

    /// Stanzas sent on this connection and not acknowledged yet.
    pub(super) fn unacked(&self) -> usize {
        self.sent_in_queue
    }

    /// `<a h/>`: drops what it acknowledges. An `h` behind the last one (in serial
    /// arithmetic) is stale and ignored; one ahead of what we sent is an error.
    pub(super) fn on_ack(&mut self, h: u32) -> Result<(), TooHigh> {
        let newly = h.wrapping_sub(self.acked);
        if newly > u32::MAX / 2 {
            tracing::debug!(h, acked = self.acked, "stale acknowledgement ignored");
            return Ok(());
        }
        if newly as usize > self.sent_in_queue {
            return Err(TooHigh {
                h,
                sent: self.acked.wrapping_add(self.sent_in_queue as u32),
            });
        }
        for o in self.queue.drain(..newly as usize) {
            self.queued_bytes -= o.bytes.len();
        }
        self.sent_in_queue -= newly as usize;
        self.acked = h;
        self.requested = None;
        if self.sent_in_queue == 0 {
            // Nothing left to ask about (an unprompted <a/> may cover it all).
            self.since_request = 0;
            self.unrequested_since = None;
        }
        Ok(())
    }

    /// A stanza arrived on this connection.
    pub(super) fn on_inbound_stanza(&mut self) {
        if self.state == State::Enabled {
            self.handled = self.handled.wrapping_add(1);
        }
    }

    /// `<a h/>` answering the server's `<r/>`.
    pub(super) fn answer(&self) -> Option<Bytes> {
        (self.state == State::Enabled).then(|| {
            let mut out = Vec::with_capacity(48);
            out.extend_from_slice(b"<a xmlns='urn:xmpp:sm:3' h='");
            out.extend_from_slice(self.handled.to_string().as_bytes());
            out.extend_from_slice(b"'/>");
            out.into()
        })
    }

    /// Whether to send `<r/>` now: enough stanzas, or one old enough, since the last.
    pub(super) fn should_request(&self, now: Instant, config: &StreamManagementConfig) -> bool {
        self.requested.is_none()
            && self.sent_in_queue > 0
            && (self.since_request >= config.ack_every.max(1)
                || self
                    .unrequested_since
                    .is_some_and(|t| now >= super::later(t, config.ack_after)))
    }

    /// `<r/>` went out.
    pub(super) fn requested(&mut self, now: Instant) {
        self.requested = Some(now);
        self.since_request = 0;
        self.unrequested_since = None;
    }

    /// When the outstanding `<r/>` went out.
    pub(super) fn request_sent(&self) -> Option<Instant> {
        self.requested
    }

    /// When an `<r/>` is due for a stanza left unacknowledged.
    pub(super) fn request_due(&self, config: &StreamManagementConfig) -> Option<Instant> {
        if self.requested.is_some() || self.sent_in_queue == 0 {
            return None;
        }
        self.unrequested_since
            .map(|t| super::later(t, config.ack_after))
    }

    /// Drops what went out (after a failed resumption or enable); returns the application's.
    fn drop_sent(&mut self) -> Vec<Bytes> {
        let sent: Vec<Outgoing> = self.queue.drain(..self.sent_in_queue).collect();
        self.sent_in_queue = 0;
        self.queued_bytes -= sent.iter().map(|o| o.bytes.len()).sum::<usize>();
        self.acked = 0;
        self.handled = 0;
        self.requested = None;
        self.since_request = 0;
        self.unrequested_since = None;
        sent.into_iter()
            .filter(|o| o.report)
            .map(|o| o.bytes)
            .collect()
    }
}

impl super::Client {
    /// A stream-management element while online (or closing).
    pub(super) fn on_sm_element(&mut self, now: Instant, el: &Element) {
        // Without stream management on this connection, none of it means anything.
        if !self.sm.is_on() {
            return tracing::debug!(name = el.name(), "stream management is off: ignored");
        }
        match el.name() {
            "r" => {
                // After our `</stream:stream>` nothing more goes out.
                if self.is_online() {
                    if let Some(answer) = self.sm.answer() {
                        self.send(now, answer);
                    }
                }
            }
            "a" => match h_of(el).map(|h| self.sm.on_ack(h)) {
                Some(Ok(())) => {}
                Some(Err(too_high)) => self.handled_count_too_high(now, too_high),
                None => tracing::debug!("<a/> without a valid h ignored"),
            },
            "enabled" => self.sm.on_enabled(el),
            "failed" => self.sm.on_enable_failed(),
            _ => tracing::debug!(name = el.name(), "stream-management element ignored"),
        }
    }

    fn handled_count_too_high(&mut self, now: Instant, too_high: TooHigh) {
        let reason = super::DisconnectReason::Protocol(too_high.describe());
        self.fail_with(now, reason, Some(too_high.stream_error()));
    }

    /// Authenticated on a new stream: resume the session if the server still may, else
    /// bind a fresh one.
    pub(super) fn resume_or_bind(&mut self, now: Instant) {
        let offered = self.features.as_ref().is_some_and(|f| f.stream_management);
        let resumption = self
            .sm
            .resumable(now)
            .filter(|_| offered && self.config.stream_management.enabled)
            .cloned();
        if let Some(r) = resumption {
            tracing::debug!(previd = %r.id, "resuming the session");
            let resume = self.sm.resume_request(&r);
            self.send_element_internal(now, &resume);
            self.phase = super::Phase::Resuming;
            return;
        }
        // A fresh session: what went out unacknowledged may or may not have arrived.
        for bytes in self.sm.abandon(None) {
            self.report_not_delivered(&bytes);
        }
        self.start_bind(now);
    }

    /// `<resumed/>` or `<failed/>` in answer to `<resume/>`.
    pub(super) fn on_resume_answer(&mut self, now: Instant, el: &Element) {
        match el.name() {
            "resumed" => {
                let expected = self.sm.resumption.as_ref().map(|r| r.id.as_str());
                let previd = el.attr("previd");
                if previd.as_deref() != expected {
                    let what = format!(
                        "<resumed/> for session {previd:?}, but we asked to resume {expected:?}"
                    );
                    return self.protocol_violation(now, what);
                }
                let Some(h) = h_of(el) else {
                    return self.protocol_violation(now, "<resumed/> without a valid h".into());
                };
                match self.sm.on_resumed(now, h) {
                    Ok(again) => {
                        tracing::debug!(resent = again.len(), "session resumed");
                        self.phase = super::Phase::Online;
                        self.last_recv = now;
                        for bytes in again {
                            self.send(now, bytes);
                        }
                        self.session.sent_now(self.reconnect.connection);
                        self.back_online(now, true);
                        // XEP-0352 §5.2: the state is not restored when the stream is resumed.
                        self.csi.fresh_session();
                        self.sync_csi(now);
                        if std::mem::take(&mut self.services.rebroadcast_pending) {
                            let _ = self.rebroadcast(now);
                        }
                        self.after_counted_send(now);
                    }
                    Err(too_high) => self.handled_count_too_high(now, too_high),
                }
            }
            "failed" => {
                tracing::debug!("resumption refused: binding a fresh session");
                for bytes in self.sm.abandon(h_of(el)) {
                    self.report_not_delivered(&bytes);
                }
                self.start_bind(now);
            }
            // An <r/> or <a/> before the answer carries nothing yet.
            _ => {}
        }
    }

    /// After a counted stanza went out: ask for an acknowledgement when due, and give up on
    /// a server that lets the queue grow past twice its bound.
    pub(super) fn after_counted_send(&mut self, now: Instant) {
        let config = &self.config.stream_management;
        if !self.is_online() {
            return;
        }
        if self.sm.is_overflowing(config) {
            let reason = super::DisconnectReason::NotAcknowledged;
            let condition = Some(crate::StreamErrorCondition::ResourceConstraint);
            return self.fail(now, reason, condition);
        }
        if self.sm.should_request(now, config) {
            self.send(now, Bytes::from_static(b"<r xmlns='urn:xmpp:sm:3'/>"));
            self.sm.requested(now);
        }
    }

    /// Stream-management timers: an `<r/>` due for an old stanza, and the answer to ours
    /// overdue (the connection is dead).
    pub(super) fn sm_timeout(&mut self, now: Instant) {
        if !self.sm.is_on() {
            return;
        }
        if let Some(sent) = self.sm.request_sent() {
            if now >= super::later(sent, self.config.timeouts.ping_timeout) {
                let reason = super::DisconnectReason::NotAcknowledged;
                let condition = Some(crate::StreamErrorCondition::ConnectionTimeout);
                return self.fail(now, reason, condition);
            }
        }
        self.after_counted_send(now);
    }

    /// When the stream-management timers fire next.
    pub(super) fn sm_deadline(&self) -> Option<Instant> {
        if !self.sm.is_on() {
            return None;
        }
        match self.sm.request_sent() {
            Some(sent) => Some(super::later(sent, self.config.timeouts.ping_timeout)),
            None => self.sm.request_due(&self.config.stream_management),
        }
    }

    /// Stanzas sent that the server has not acknowledged yet (XEP-0198): on this connection,
    /// or while reconnecting on the lost one (they go out again if the session resumes); 0
    /// without stream management.
    pub fn unacknowledged(&self) -> usize {
        self.sm.unacked()
    }
}

/// Reads `h` from an `<a/>`, `<resumed/>` or `<failed/>`.
pub(super) fn h_of(el: &Element) -> Option<u32> {
    el.attr("h")?.trim().parse().ok()
}

/// Reads a stanza we serialized back, to hand it to the application.
pub(super) fn reparse(bytes: &[u8]) -> Option<Element> {
    use crate::xml::{Limits, StreamEvent, StreamReader};
    // Our own bytes, within no limit but their own size.
    let mut reader = StreamReader::new(Limits {
        max_element_size: bytes.len().max(256),
        max_depth: usize::MAX,
        max_attributes: usize::MAX,
    });
    reader.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    reader.feed(bytes);
    let _header = reader.next_event().ok()??;
    match reader.next_event() {
        Ok(Some(StreamEvent::Element(el))) => Some(el),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm_with(sent: usize, acked: u32) -> StreamManagement {
        let mut sm = StreamManagement::new();
        sm.state = State::Enabled;
        sm.acked = acked;
        let now = Instant::now();
        for i in 0..sent {
            sm.track(now, Bytes::from(format!("<message id='{i}'/>")), true);
        }
        sm
    }

    #[test]
    fn acks_wrap_around_2_to_the_32() {
        let mut sm = sm_with(10, u32::MAX - 3);
        // h = acked + 6, past the wrap.
        sm.on_ack(2).unwrap();
        assert_eq!(sm.unacked(), 4);
        assert_eq!(sm.acked, 2);
        // Stale (behind): ignored.
        sm.on_ack(u32::MAX - 1).unwrap();
        assert_eq!(sm.unacked(), 4);
        // Ahead of what we sent: an error, nothing changed.
        let e = sm.on_ack(7).unwrap_err();
        assert_eq!((e.h, e.sent), (7, 6));
        assert_eq!(sm.unacked(), 4);
        sm.on_ack(6).unwrap();
        assert_eq!(sm.unacked(), 0);
        assert_eq!(sm.queued_bytes, 0);
    }

    #[test]
    fn inbound_count_wraps() {
        let mut sm = sm_with(0, 0);
        sm.handled = u32::MAX;
        sm.on_inbound_stanza();
        assert_eq!(sm.handled, 0);
        assert_eq!(
            &sm.answer().unwrap()[..],
            b"<a xmlns='urn:xmpp:sm:3' h='0'/>"
        );
    }

    #[test]
    fn too_high_stream_error_names_both_counts() {
        let e = TooHigh { h: 10, sent: 8 };
        assert_eq!(
            &e.stream_error()[..],
            &b"<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
               <handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/></stream:error>"[..]
        );
    }
}

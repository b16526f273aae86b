//! Reconnection: when a lost connection is replaced, and what the session keeps meanwhile.
//!
//! The core decides *when* (exponential backoff with jitter, on the caller's clock) and
//! asks the driver for a new transport with [`Action::Connect`]; the driver decides *how*
//! (the same endpoints, or the host a `see-other-host` error or a resumption `location`
//! named) and reports back with [`Client::handle_connected`] (or its TLS twin) or
//! [`Client::handle_connect_failed`]. The session survives: the roster, presence, caps,
//! pending requests and the stream-management queue; on the new connection it resumes
//! (XEP-0198) or starts afresh and resynchronises.

use std::time::{Duration, Instant};

use super::stanza::StreamError;
use super::{later, Action, Client, CommandError, DisconnectReason, Event, Phase, TlsInfo};
use crate::StreamErrorCondition;

/// When to reconnect after a lost connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// Reconnect after a connection that had been online is lost for a reason worth
    /// retrying ([`DisconnectReason::is_retryable`]). Default on. (A first login that fails
    /// is never retried: that is the caller's error to see.)
    pub enabled: bool,
    /// The step of the first retry, which comes after between half of it and all of it
    /// (jitter); the step doubles with each failed attempt. Default 1 s.
    pub min_delay: Duration,
    /// The longest delay between attempts. Default 5 min.
    pub max_delay: Duration,
    /// Give up after this many attempts in a row (a connection that comes online and stays
    /// up `stable_after` ends the row); `None`: never. Default `None`.
    pub max_attempts: Option<u32>,
    /// A connection that was online at least this long is retried soon the first time (a
    /// one-off drop): after a random delay below `min_delay`, so that the sessions a server
    /// drops all at once do not all come back in the same instant. A shorter-lived one backs
    /// off from the start (a server that accepts and then drops us should not be
    /// hammered). Default 60 s.
    pub stable_after: Duration,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_attempts: None,
            stable_after: Duration::from_secs(60),
        }
    }
}

impl ReconnectConfig {
    /// No reconnection: the session ends with its first connection.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The delay before `attempt` (1-based), given a uniform random `r` in `[0, 1)`:
    /// "equal jitter", a random point in the upper half of the exponential step, so that
    /// clients dropped together do not come back together and none waits less than half
    /// the step. The first retry after a stable connection (`soon`) is anywhere below
    /// `min_delay` ("full jitter"): prompt for one client, spread for thousands.
    pub(super) fn delay(&self, attempt: u32, soon: bool, r: f64) -> Duration {
        if attempt == 1 && soon {
            return self.min_delay.mul_f64(r.clamp(0.0, 1.0));
        }
        let floor = self.min_delay.max(Duration::from_millis(1));
        let doublings = attempt.saturating_sub(1).min(32);
        let step = floor
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max_delay)
            .min(self.max_delay.max(floor));
        step / 2 + step.mul_f64(r.clamp(0.0, 1.0) / 2.0)
    }
}

impl DisconnectReason {
    /// Whether a new connection may fix it: a lost or failed transport, a server shutting
    /// down or restarting, a timeout, a redirect. Not: authentication failures, our
    /// resource taken by another client (`conflict`: reconnecting would take it back, and
    /// the other would do the same), an account that is gone or refused, policy or
    /// protocol errors, TLS refusals, our own close, or the server closing the stream
    /// without an error (a deliberate end, as Smack also takes it).
    pub fn is_retryable(&self) -> bool {
        use super::sasl::{AuthError, SaslCondition};
        match self {
            DisconnectReason::ConnectionLost
            | DisconnectReason::Transport(_)
            | DisconnectReason::NegotiationTimeout(_)
            | DisconnectReason::PingTimeout
            | DisconnectReason::NotAcknowledged => true,
            DisconnectReason::StreamError(e) => stream_error_is_retryable(e),
            DisconnectReason::Auth(AuthError::Failure { condition, .. }) => {
                *condition == SaslCondition::TemporaryAuthFailure
            }
            _ => false,
        }
    }
}

fn stream_error_is_retryable(e: &StreamError) -> bool {
    use StreamErrorCondition as C;
    matches!(
        e.condition,
        C::SystemShutdown
            | C::Reset
            | C::ConnectionTimeout
            | C::SeeOtherHost
            | C::InternalServerError
            | C::RemoteConnectionFailed
            | C::ResourceConstraint
    )
}

/// The reconnection state (session state).
#[derive(Debug)]
pub(super) struct Reconnect {
    /// Failed attempts in a row (0 while online).
    pub(super) attempt: u32,
    /// When the current connection came online.
    pub(super) online_since: Option<Instant>,
    /// Where the next attempt goes, if not to the usual endpoints.
    pub(super) redirect: Option<String>,
    /// Jitter; separate from the stanza ids so that they do not depend on timing.
    rng: super::ids::IdGenerator,
    /// Transports opened so far; requests remember which one carried them.
    pub(super) connection: u32,
}

impl Reconnect {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            attempt: 0,
            online_since: None,
            redirect: None,
            rng: super::ids::IdGenerator::new(seed ^ 0x6a69_7474_6572),
            connection: 1,
        }
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Client {
    /// Whether the connection is gone and another is on its way (the session lives on:
    /// commands queue, see [`CommandError::TooManyUnacknowledged`]).
    pub fn is_reconnecting(&self) -> bool {
        matches!(self.phase, Phase::Reconnecting { .. }) || (self.was_online && self.negotiating())
    }

    /// The driver opened the transport asked for by [`Action::Connect`]: the stream header
    /// is queued. In any other state this is a driver bug, refused.
    pub fn handle_connected(&mut self, now: Instant) -> Result<(), CommandError> {
        self.connected(now, None)
    }

    /// As [`Self::handle_connected`], for a transport that is already encrypted (direct
    /// TLS, XEP-0368).
    pub fn handle_connected_over_tls(
        &mut self,
        now: Instant,
        info: TlsInfo,
    ) -> Result<(), CommandError> {
        self.connected(now, Some(info))
    }

    /// The transport asked for by [`Action::Connect`] could not be opened (`reason` says
    /// why; [`DisconnectReason::Transport`] for what may work next time): the next attempt
    /// is scheduled, or the session ends if the reason is final or attempts are exhausted.
    pub fn handle_connect_failed(
        &mut self,
        now: Instant,
        reason: DisconnectReason,
    ) -> Result<(), CommandError> {
        if !matches!(self.phase, Phase::Reconnecting { at: None }) {
            return Err(CommandError::Unexpected(
                "connect failure reported without Action::Connect",
            ));
        }
        let span = self.span.clone();
        let _entered = span.enter();
        tracing::debug!(%reason, "reconnection attempt failed");
        self.schedule_reconnect(now, reason);
        Ok(())
    }

    fn connected(&mut self, now: Instant, tls: Option<TlsInfo>) -> Result<(), CommandError> {
        if !matches!(self.phase, Phase::Reconnecting { at: None }) {
            return Err(CommandError::Unexpected(
                "transport connected without Action::Connect",
            ));
        }
        let span = self.span.clone();
        let _entered = span.enter();
        tracing::debug!(attempt = self.reconnect.attempt, "reconnected: negotiating");
        // 0 stands for "no connection yet" in the requests' records.
        self.reconnect.connection = self.reconnect.connection.checked_add(1).unwrap_or(1);
        self.secure = tls.is_some();
        self.tls = tls;
        self.negotiation_deadline = later(now, self.config.timeouts.negotiation);
        self.last_recv = now;
        self.open_stream(now);
        Ok(())
    }

    /// Whether the session outlives the connection that just ended for `reason`.
    pub(super) fn reconnects_after(&self, reason: &DisconnectReason) -> bool {
        self.config.reconnect.enabled
            && self.was_online
            && !matches!(self.removal, super::register::Removal::Confirmed)
            && reason.is_retryable()
    }

    /// The connection is gone for `reason` (the caller checked [`Self::reconnects_after`]):
    /// the connection's state is dropped, the session's kept, and the next attempt
    /// scheduled.
    pub(super) fn connection_down(&mut self, now: Instant, reason: DisconnectReason) {
        self.reader = crate::xml::StreamReader::new(self.config.limits);
        self.features = None;
        self.secure = false;
        self.tls = None;
        self.authenticated = false;
        self.early_stanzas.clear();
        self.close_deadline = None;
        self.session.ping_sent = None;
        self.sm.connection_lost(now);
        self.reconnect.redirect = match &reason {
            DisconnectReason::StreamError(e)
                if e.condition == StreamErrorCondition::SeeOtherHost =>
            {
                e.see_other_host.clone()
            }
            _ => self.sm.resumable(now).and_then(|r| r.location.clone()),
        };
        self.schedule_reconnect(now, reason);
    }

    fn schedule_reconnect(&mut self, now: Instant, reason: DisconnectReason) {
        if !reason.is_retryable() {
            return self.end_session(now, reason);
        }
        // Attempts count in a row until a connection stays up `stable_after`: a server that
        // takes us in and drops us again at once is backed off from, not hammered.
        let stable = self.reconnect.online_since.take().is_some_and(|t| {
            now.saturating_duration_since(t) >= self.config.reconnect.stable_after
        });
        if stable {
            self.reconnect.attempt = 0;
        }
        let attempt = self.reconnect.attempt.saturating_add(1);
        if self
            .config
            .reconnect
            .max_attempts
            .is_some_and(|max| attempt > max)
        {
            let reason = DisconnectReason::GaveUp {
                attempts: self.reconnect.attempt,
                last: Box::new(reason),
            };
            return self.end_session(now, reason);
        }
        let r = self.reconnect.uniform();
        let delay = self.config.reconnect.delay(attempt, stable, r);
        self.reconnect.attempt = attempt;
        tracing::info!(%reason, attempt, ?delay, "connection lost: reconnecting");
        self.phase = Phase::Reconnecting {
            at: Some(later(now, delay)),
        };
        self.emit(Event::Reconnecting {
            attempt,
            delay,
            reason,
        });
        if delay.is_zero() {
            self.reconnect_due(now);
        }
    }

    /// Time to ask the driver for a transport.
    pub(super) fn reconnect_due(&mut self, now: Instant) {
        if let Phase::Reconnecting { at: Some(at) } = self.phase {
            if now >= at {
                self.phase = Phase::Reconnecting { at: None };
                let to = self.reconnect.redirect.take();
                self.actions.push_back(Action::Connect { to });
            }
        }
    }

    /// Back online on a new connection: resumed, or a fresh session. (The attempts count
    /// goes back to zero once this connection has stayed up a while.)
    pub(super) fn back_online(&mut self, now: Instant, resumed: bool) {
        self.reconnect.online_since = Some(now);
        if let Some(jid) = self.jid.clone() {
            tracing::info!(%jid, resumed, "back online");
            self.emit(Event::Reconnected { jid, resumed });
        }
    }
}

//! The online session: stanza routing, IQ tracking, keepalive and ping (XEP-0199).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;

use super::stanza::{
    error_reply, ErrorType, Iq, IqType, JidCache, Message, MessageType, Presence, StanzaError,
    StanzaErrorCondition,
};
use super::{later, Client, CommandError, DisconnectReason, Event};
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, Element};

/// An IQ request waiting for its response.
#[derive(Debug)]
struct Pending {
    /// Where it was sent; `None` for our own server or account.
    to: Option<Jid>,
    deadline: Instant,
    /// Our own keepalive ping: its answer is not an event.
    internal: bool,
}

#[derive(Debug, Default)]
pub(super) struct Session {
    pending: HashMap<String, Pending>,
    /// Namespaces of IQ requests the application answers itself.
    handled: HashSet<String>,
    /// When our keepalive ping went out, until anything arrives.
    pub(super) ping_sent: Option<Instant>,
    jids: JidCache,
}

impl Session {
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.ping_sent = None;
    }
}

impl Client {
    // ---- commands ----

    /// Sends a message with a body; returns its id.
    pub fn send_message(
        &mut self,
        now: Instant,
        to: &Jid,
        kind: MessageType,
        body: &str,
    ) -> Result<String, CommandError> {
        self.require_online()?;
        let id = self.ids.next_id();
        let msg = Builder::new("message", ns::JABBER_CLIENT)
            .attr("to", to.to_string())
            .attr("type", kind.name())
            .attr("id", id.clone())
            .child(Builder::new("body", ns::JABBER_CLIENT).text(body.to_owned()));
        self.send_checked(now, &msg)?;
        Ok(id)
    }

    /// Sends a `<presence/>` stanza the application built (show, status, caps...).
    pub fn send_presence(&mut self, now: Instant, presence: &Builder) -> Result<(), CommandError> {
        self.require_online()?;
        if presence.name() != "presence" || presence.ns() != ns::JABBER_CLIENT {
            return Err(CommandError::InvalidStanza(
                "not a <presence/> in jabber:client",
            ));
        }
        self.send_checked(now, presence)
    }

    /// Sends an IQ request (`get` or `set`) with `payload` to `to` (`None`: our own
    /// server/account) and tracks it: its response arrives as [`Event::IqResponse`], or
    /// [`Event::IqTimeout`] after [`Timeouts::iq`](super::Timeouts::iq). Returns its id.
    pub fn send_iq(
        &mut self,
        now: Instant,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
    ) -> Result<String, CommandError> {
        self.require_online()?;
        if !matches!(kind, IqType::Get | IqType::Set) {
            return Err(CommandError::InvalidStanza(
                "requests are get or set; use reply_iq to answer",
            ));
        }
        let id = self.ids.next_id();
        let mut iq = Builder::new("iq", ns::JABBER_CLIENT)
            .attr("type", kind.name())
            .attr("id", id.clone());
        if let Some(to) = to {
            iq = iq.attr("to", to.to_string());
        }
        self.send_checked(now, &iq.child(payload))?;
        let deadline = super::later(now, self.config.timeouts.iq);
        self.session.pending.insert(
            id.clone(),
            Pending {
                to: to.cloned(),
                deadline,
                internal: false,
            },
        );
        Ok(id)
    }

    /// Answers an [`Event::IqRequest`]: a `result` with an optional payload, or an error.
    pub fn reply_iq(
        &mut self,
        now: Instant,
        request: &Iq,
        reply: Result<Option<Builder>, StanzaError>,
    ) -> Result<(), CommandError> {
        self.require_online()?;
        if !matches!(request.kind, IqType::Get | IqType::Set) {
            return Err(CommandError::InvalidStanza(
                "only get and set requests are answered",
            ));
        }
        let iq = match reply {
            Ok(payload) => {
                let mut iq = Builder::new("iq", ns::JABBER_CLIENT)
                    .attr("type", "result")
                    .attr("id", request.id.clone());
                if let Some(from) = &request.from {
                    iq = iq.attr("to", from.to_string());
                }
                match payload {
                    Some(p) => iq.child(p),
                    None => iq,
                }
            }
            Err(error) => error_reply(request, &error),
        };
        self.send_checked(now, &iq)
    }

    /// Sends any element (a stanza the helpers above do not cover, or a nonza) as is.
    pub fn send_element(&mut self, now: Instant, element: &Builder) -> Result<(), CommandError> {
        self.require_online()?;
        self.send_checked(now, element)
    }

    /// From now on, IQ requests whose payload is in `namespace` are given to the application
    /// ([`Event::IqRequest`]) instead of being answered `service-unavailable`.
    pub fn handle_iq_namespace(&mut self, namespace: impl Into<String>) {
        self.session.handled.insert(namespace.into());
    }

    fn send_checked(&mut self, now: Instant, el: &Builder) -> Result<(), CommandError> {
        let bytes = el.to_bytes(ns::JABBER_CLIENT)?;
        self.send(now, bytes);
        Ok(())
    }

    // ---- inbound ----

    pub(super) fn on_stanza(&mut self, now: Instant, el: Element) {
        if el.ns() != ns::JABBER_CLIENT {
            self.emit(Event::Nonza(el));
            return;
        }
        match el.name() {
            // Stanzas that do not parse (an invalid JID, an IQ without id) are dropped: the
            // server should never deliver them, and nothing can be answered reliably.
            "message" => {
                if let Ok(m) = Message::read(el, Some(&mut self.session.jids)) {
                    self.emit(Event::Message(m));
                }
            }
            "presence" => {
                if let Ok(p) = Presence::read(el, Some(&mut self.session.jids)) {
                    self.emit(Event::Presence(p));
                }
            }
            "iq" => {
                if let Ok(iq) = Iq::read(el, Some(&mut self.session.jids)) {
                    self.on_iq(now, iq);
                }
            }
            _ => self.emit(Event::Nonza(el)),
        }
    }

    fn on_iq(&mut self, now: Instant, iq: Iq) {
        match iq.kind {
            IqType::Get | IqType::Set => {
                let Some(payload_ns) = iq.payload().map(|p| p.ns().to_owned()) else {
                    // RFC 6120 §8.2.3: a get or set has exactly one child.
                    let error =
                        StanzaError::new(ErrorType::Modify, StanzaErrorCondition::BadRequest);
                    self.send_element_internal(now, &error_reply(&iq, &error));
                    return;
                };
                if self.session.handled.contains(&payload_ns) {
                    self.emit(Event::IqRequest(iq));
                } else if iq.kind == IqType::Get
                    && iq.payload().is_some_and(|p| p.is("ping", ns::PING))
                {
                    // XEP-0199 §4: answer pings.
                    let mut pong = Builder::new("iq", ns::JABBER_CLIENT)
                        .attr("type", "result")
                        .attr("id", iq.id.clone());
                    if let Some(from) = &iq.from {
                        pong = pong.attr("to", from.to_string());
                    }
                    self.send_element_internal(now, &pong);
                } else {
                    // RFC 6120 §8.4: an IQ request nobody handles gets service-unavailable.
                    let error = StanzaError::new(
                        ErrorType::Cancel,
                        StanzaErrorCondition::ServiceUnavailable,
                    );
                    self.send_element_internal(now, &error_reply(&iq, &error));
                }
            }
            IqType::Result | IqType::Error => {
                let Some(pending) = self.session.pending.get(&iq.id) else {
                    return;
                };
                if !self.may_answer(pending.to.as_ref(), iq.from.as_ref()) {
                    // A spoofed or misdirected response is not a response (RFC 6120 §8.1.2.1).
                    return;
                }
                let internal = pending.internal;
                self.session.pending.remove(&iq.id);
                if !internal {
                    self.emit(Event::IqResponse(iq));
                }
            }
        }
    }

    /// Whether `from` may answer a request sent to `to`. A request to our server or
    /// account (`to` absent, our bare JID, or our domain) may be answered without `from`,
    /// from our bare JID, from our full JID (ejabberd does this) or from our domain.
    fn may_answer(&self, to: Option<&Jid>, from: Option<&Jid>) -> bool {
        let Some(me) = &self.jid else { return false };
        let bare = me.bare();
        let domain = me.domain_jid();
        let to_us = to.is_none_or(|t| *t == bare || *t == domain);
        match from {
            None => to_us,
            Some(f) if to_us => *f == bare || f == me || *f == domain,
            Some(f) => Some(f) == to,
        }
    }

    // ---- time ----

    /// Keepalive and ping intervals, at least a second so that a zero in the configuration
    /// cannot make the client spin.
    fn intervals(&self) -> (Option<Instant>, Option<Instant>) {
        let t = &self.config.timeouts;
        let floor = |d: std::time::Duration| d.max(std::time::Duration::from_secs(1));
        let keepalive = t.keepalive.map(|k| later(self.last_send, floor(k)));
        let ping = match self.session.ping_sent {
            Some(sent) => Some(later(sent, floor(t.ping_timeout))),
            None => t.ping_after.map(|p| later(self.last_recv, floor(p))),
        };
        (keepalive, ping)
    }

    pub(super) fn session_deadline(&self) -> Option<Instant> {
        let (keepalive, ping) = self.intervals();
        let pending = self.session.pending.values().map(|p| p.deadline);
        pending.chain(keepalive).chain(ping).min()
    }

    pub(super) fn session_timeout(&mut self, now: Instant) {
        let (keepalive, ping) = self.intervals();
        if ping.is_some_and(|p| now >= p) {
            if self.session.ping_sent.is_some() {
                let condition = Some(crate::StreamErrorCondition::ConnectionTimeout);
                self.fail(now, DisconnectReason::PingTimeout, condition);
                return;
            }
            // XEP-0199 §4.2: ping our server when it has been silent.
            let id = self.ids.next_id();
            let domain = self.config.jid.domain_jid();
            let ping = Builder::new("iq", ns::JABBER_CLIENT)
                .attr("type", "get")
                .attr("id", id.clone())
                .attr("to", domain.to_string())
                .child(Builder::new("ping", ns::PING));
            self.send_element_internal(now, &ping);
            self.session.ping_sent = Some(now);
            let deadline = later(now, self.config.timeouts.ping_timeout);
            let pending = Pending {
                to: Some(domain),
                deadline,
                internal: true,
            };
            self.session.pending.insert(id, pending);
        }
        let mut expired: Vec<(String, bool)> = self
            .session
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(id, p)| (id.clone(), p.internal))
            .collect();
        expired.sort();
        for (id, internal) in expired {
            self.session.pending.remove(&id);
            if !internal {
                self.emit(Event::IqTimeout { id });
            }
        }
        if keepalive.is_some_and(|k| now >= k) {
            // RFC 6120 §4.6.1: a single space keeps NATs and the server's idle timer happy.
            self.send(now, Bytes::from_static(b" "));
        }
    }
}

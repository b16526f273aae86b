//! The online session: stanza routing, IQ tracking, keepalive and ping (XEP-0199).

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;

use super::stanza::{
    Iq, IqType, JidCache, Message, MessageType, Presence, StanzaError, StanzaErrorCondition,
};
use super::{later, Client, CommandError, DisconnectReason, Event, IqError};
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, Element};

/// An IQ request waiting for its response.
#[derive(Debug)]
struct Pending {
    /// Where it was sent; `None` for our own server or account.
    to: Option<Jid>,
    deadline: Instant,
    owner: Owner,
    /// Order of sending, so that outcomes reported together come in that order.
    seq: u64,
    /// The connection that carried it (0 while it waits for one): a fresh session fails
    /// those of earlier connections.
    connection: u32,
}

/// Who sends a stanza: what happens to it while reconnecting, and whether it is handed
/// back if it may not have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The application: waits for the next connection; reported as not delivered.
    App,
    /// An application's request: waits; its outcome (not a report) says what became of it.
    AppRequest,
    /// The client itself (services, answers): dropped while reconnecting, resynchronised.
    Client,
}

/// Who gets the response of a pending request.
#[derive(Debug)]
pub(super) enum Owner {
    /// The application: [`Event::IqResponse`].
    Application,
    /// Our own keepalive ping: its answer is not an event.
    Ping,
    /// The roster service's roster get.
    Roster,
    /// The carbons service's enable request.
    Carbons,
    /// A password change or account removal.
    Register(Box<super::register::Pending>),
    /// The discovery service's query of the server's description.
    ServerInfo,
    /// The caps service's query of an entity's description.
    Caps(Box<super::caps::Query>),
    /// The avatar service's fetch of our own vCard, once online.
    OwnVCard,
    /// The application's vCard set, which the avatar service also learns from.
    VCardSet(Box<super::vcard::VCard>),
    /// The avatar service's fetch of a contact's vCard for the hash it announced.
    AvatarFetch(Box<super::avatar::Fetch>),
    /// The first step of the application's PEP avatar publish (the data); the metadata
    /// follows.
    PepAvatarData(Box<super::pep_avatar::AvatarInfo>),
    /// The second step: its outcome is the application's, under the first step's id.
    PepAvatarMetadata(String),
}

impl Owner {
    /// Whether the request is the application's (and counts against
    /// [`Config::max_pending_iqs`](super::Config::max_pending_iqs)), even if a service
    /// watches it.
    fn is_application(&self) -> bool {
        matches!(
            self,
            Owner::Application
                | Owner::VCardSet(_)
                | Owner::PepAvatarData(_)
                | Owner::PepAvatarMetadata(_)
        )
    }
}

#[derive(Debug, Default)]
pub(super) struct Session {
    pending: super::PeerMap<String, Pending>,
    /// Namespaces of IQ requests the application answers itself.
    handled: HashSet<String>,
    /// When our keepalive ping went out, until anything arrives.
    pub(super) ping_sent: Option<Instant>,
    jids: JidCache,
    /// Requests sent so far.
    sent: u64,
}

impl Session {
    pub(super) fn new(handled: &[String]) -> Self {
        Session {
            handled: handled.iter().cloned().collect(),
            ..Session::default()
        }
    }

    /// Whether a request of this owner kind is waiting.
    pub(super) fn awaits(&self, owner: impl Fn(&Owner) -> bool) -> bool {
        self.pending.values().any(|p| owner(&p.owner))
    }

    /// The JID cache, for services that read stanzas nested in others.
    pub(super) fn jids(&mut self) -> &mut JidCache {
        &mut self.jids
    }

    /// Forgets what dies with the connection; returns the requests that will get no
    /// response, with their owners, oldest first.
    pub(super) fn clear(&mut self) -> Vec<(String, Owner)> {
        self.ping_sent = None;
        let mut orphans: Vec<(u64, String, Owner)> = self
            .pending
            .drain()
            .map(|(id, p)| (p.seq, id, p.owner))
            .collect();
        orphans.sort_unstable_by_key(|o| o.0);
        orphans
            .into_iter()
            .map(|(_, id, owner)| (id, owner))
            .collect()
    }

    /// Forgets the requests that went out on a connection before `connection`: a fresh
    /// session will not answer them. Returned oldest first.
    pub(super) fn clear_before(&mut self, connection: u32) -> Vec<(String, Owner)> {
        let mut orphans: Vec<(u64, String)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.connection != 0 && p.connection < connection)
            .map(|(id, p)| (p.seq, id.clone()))
            .collect();
        orphans.sort_unstable_by_key(|o| o.0);
        orphans
            .into_iter()
            .filter_map(|(_, id)| self.pending.remove_entry(&id))
            .map(|(id, p)| (id, p.owner))
            .collect()
    }

    /// The requests that waited for a connection went out on `connection`.
    pub(super) fn sent_now(&mut self, connection: u32) {
        for p in self.pending.values_mut().filter(|p| p.connection == 0) {
            p.connection = connection;
        }
    }

    /// When the next request times out.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    fn track(
        &mut self,
        id: String,
        to: Option<Jid>,
        deadline: Instant,
        owner: Owner,
        connection: u32,
    ) {
        self.sent += 1;
        let seq = self.sent;
        let pending = Pending {
            to,
            deadline,
            owner,
            seq,
            connection,
        };
        self.pending.insert(id, pending);
    }
}

impl Client {
    // ---- commands ----

    /// Sends a chat (or other) message with a body; returns its id. For messages with more
    /// than a body, build one and use [`Self::send_element`].
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
            .attr("to", to)
            .attr("type", Cow::Borrowed(kind.name()))
            .attr("id", &id)
            .text_child("body", body);
        self.send_checked(now, &msg)?;
        Ok(id)
    }

    /// Sends a presence: an [`OutgoingPresence`](super::stanza::OutgoingPresence) or a
    /// `<presence/>` built by hand.
    pub fn send_presence(
        &mut self,
        now: Instant,
        presence: impl Into<Builder>,
    ) -> Result<(), CommandError> {
        self.send_presence_as(now, presence.into(), true)
    }

    /// Sends a presence, the application's (`app`) or the services' own.
    pub(super) fn send_presence_as(
        &mut self,
        now: Instant,
        presence: Builder,
        app: bool,
    ) -> Result<(), CommandError> {
        self.require_online()?;
        let mut presence = presence;
        let origin = if app { Origin::App } else { Origin::Client };
        if presence.name() != "presence" || presence.ns() != ns::JABBER_CLIENT {
            return Err(CommandError::InvalidStanza(
                "not a <presence/> in jabber:client",
            ));
        }
        let broadcast = presence.get_attr("to").is_none();
        match presence.get_attr("type") {
            None => {
                if broadcast {
                    self.services.last_broadcast = Some(presence.clone());
                    if !self.is_online() {
                        // Sent once back online: again on a fresh session, or after the
                        // resumption (not twice).
                        self.services.rebroadcast_pending = true;
                        return Ok(());
                    }
                }
                // XEP-0115 §4, XEP-0153 §4.1: every available presence carries our caps
                // and our avatar's hash.
                self.services.announce(&mut presence);
            }
            Some("unavailable") if broadcast => self.services.last_broadcast = None,
            Some(_) => {}
        }
        self.send_checked_as(now, &presence, origin)
    }

    /// Sends an IQ request (`get` or `set`) with `payload` to `to` (`None`: our own
    /// server/account) and tracks it; returns its id. Its outcome arrives as one
    /// [`Event::IqResponse`] with that id: the `result`, the peer's error, a timeout after
    /// [`Timeouts::iq`](super::Timeouts::iq), or the end of the session. A response is
    /// accepted only from the entity asked (RFC 6120 §8.1.2.1).
    pub fn send_iq(
        &mut self,
        now: Instant,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
    ) -> Result<String, CommandError> {
        self.send_app_request(now, to, kind, payload, Owner::Application)
    }

    /// Sends a request of the application's (counted against
    /// [`Config::max_pending_iqs`](super::Config::max_pending_iqs)), answered to `owner`.
    pub(super) fn send_app_request(
        &mut self,
        now: Instant,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
        owner: Owner,
    ) -> Result<String, CommandError> {
        if !matches!(kind, IqType::Get | IqType::Set) {
            return Err(CommandError::InvalidStanza(
                "requests are get or set; use reply_iq to answer",
            ));
        }
        // The services' own requests (caps queries) do not count against the application.
        // Counted only near the bound (the application's are at most all of them): a scan
        // per request would make sending O(requests in flight).
        let limit = self.config.max_pending_iqs;
        if self.session.pending.len() >= limit
            && self
                .session
                .pending
                .values()
                .filter(|p| p.owner.is_application())
                .count()
                >= limit
        {
            return Err(CommandError::TooManyPendingIqs(self.config.max_pending_iqs));
        }
        self.send_request(now, to, kind, payload, owner)
    }

    /// Sends a request whose response goes to `owner`.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        to: Option<&Jid>,
        kind: IqType,
        payload: Builder,
        owner: Owner,
    ) -> Result<String, CommandError> {
        // Nothing follows our `</stream:stream>`, not even a service's request; and the
        // services' requests do not wait for a connection (they start again on the next).
        self.require_online()?;
        let origin = if owner.is_application() {
            Origin::AppRequest
        } else {
            Origin::Client
        };
        if origin == Origin::Client && !self.is_online() {
            return Err(CommandError::NotOnline("reconnecting"));
        }
        let id = self.ids.next_id();
        let iq = Builder::new("iq", ns::JABBER_CLIENT)
            .attr("type", Cow::Borrowed(kind.name()))
            .attr("id", &id)
            .attr_opt("to", to)
            .child(payload);
        self.send_checked_as(now, &iq, origin)?;
        let deadline = later(now, self.config.timeouts.iq);
        let connection = if self.is_online() {
            self.reconnect.connection
        } else {
            0
        };
        let to = to.cloned();
        self.session
            .track(id.clone(), to, deadline, owner, connection);
        Ok(id)
    }

    /// Answers an [`Event::IqRequest`]: `Ok` with an optional payload for a `result`, or a
    /// stanza error (`Err(StanzaErrorCondition::ItemNotFound.into())`).
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
            Ok(payload) => request.result_reply(payload),
            Err(error) => request.error_reply(error),
        };
        self.send_checked(now, &iq)
    }

    /// Sends any element (a stanza the helpers above do not cover, or a nonza) as is.
    pub fn send_element(
        &mut self,
        now: Instant,
        element: impl Into<Builder>,
    ) -> Result<(), CommandError> {
        self.require_online()?;
        self.send_checked(now, &element.into())
    }

    /// From now on, IQ requests whose payload is in `namespace` are given to the application
    /// ([`Event::IqRequest`]) instead of being answered `service-unavailable`. To claim a
    /// namespace from the first stanza on, use
    /// [`Config::handled_iq_namespaces`](super::Config::handled_iq_namespaces).
    pub fn handle_iq_namespace(&mut self, namespace: impl Into<String>) {
        self.session.handled.insert(namespace.into());
    }

    /// Sends an element of the application's.
    fn send_checked(&mut self, now: Instant, el: &Builder) -> Result<(), CommandError> {
        self.send_checked_as(now, el, Origin::App)
    }

    /// Sends an element, the application's (`app`) or a service's. A stanza is counted for
    /// stream management, and while reconnecting the application's wait for the new
    /// connection, within the unacknowledged queue's bound.
    fn send_checked_as(
        &mut self,
        now: Instant,
        el: &Builder,
        origin: Origin,
    ) -> Result<(), CommandError> {
        let bytes = el.to_bytes(ns::JABBER_CLIENT)?;
        if !super::is_stanza(el) {
            if !self.is_online() {
                return Err(CommandError::NotOnline("reconnecting"));
            }
            self.send(now, bytes);
            return Ok(());
        }
        let queued = self.sm.is_on() || !self.is_online();
        if origin != Origin::Client && queued && self.sm.is_full(&self.config.stream_management) {
            let max = self.config.stream_management.max_unacked;
            return Err(CommandError::TooManyUnacknowledged(max));
        }
        self.send_stanza(now, bytes, origin);
        Ok(())
    }

    // ---- inbound ----

    pub(super) fn on_stanza(&mut self, now: Instant, el: Element) {
        if el.ns() != ns::JABBER_CLIENT {
            if el.ns() == ns::SM3 {
                return self.on_sm_element(now, &el);
            }
            self.emit(Event::Nonza(el));
            return;
        }
        // XEP-0198 §4: every stanza counts, even one dropped below.
        match el.name() {
            // Stanzas that do not parse (an invalid JID, an IQ without id) are dropped: the
            // server should never deliver them, and nothing can be answered reliably.
            "message" => {
                self.sm.on_inbound_stanza();
                if let Ok(m) = Message::read(el, Some(&mut self.session.jids)) {
                    self.on_message(now, m);
                }
            }
            "presence" => {
                self.sm.on_inbound_stanza();
                if let Ok(p) = Presence::read(el, Some(&mut self.session.jids)) {
                    self.on_presence(now, p);
                }
            }
            "iq" => {
                self.sm.on_inbound_stanza();
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
                let Some(payload) = iq.payload() else {
                    // RFC 6120 §8.2.3: a get or set has exactly one child.
                    let reply = iq.error_reply(StanzaErrorCondition::BadRequest);
                    return self.send_element_internal(now, &reply);
                };
                let roster_push = payload.ns() == ns::ROSTER
                    && iq.kind == IqType::Set
                    && self.takes_roster_pushes();
                let claimed = self.session.handled.contains(payload.ns());
                let ping = iq.kind == IqType::Get && payload.is("ping", ns::PING);
                let disco = iq.kind == IqType::Get
                    && payload.name() == "query"
                    && matches!(payload.ns(), ns::DISCO_INFO | ns::DISCO_ITEMS);
                if roster_push {
                    self.on_roster_push(now, &iq);
                } else if claimed {
                    self.emit(Event::IqRequest(iq));
                } else if ping {
                    // XEP-0199 §4: answer pings.
                    self.send_element_internal(now, &iq.result_reply(None));
                } else if disco && self.answers_disco() {
                    self.on_disco_request(now, &iq);
                } else {
                    // RFC 6120 §8.4: an IQ request nobody handles gets service-unavailable.
                    let reply = iq.error_reply(StanzaErrorCondition::ServiceUnavailable);
                    self.send_element_internal(now, &reply);
                }
            }
            IqType::Result | IqType::Error => {
                let Some(pending) = self.session.pending.get(&*iq.id) else {
                    return;
                };
                if !self.may_answer(pending.to.as_ref(), iq.from.as_ref()) {
                    // A spoofed or misdirected response is not a response (RFC 6120 §8.1.2.1).
                    tracing::debug!(id = %iq.id, from = ?iq.from, "IQ response from an entity not asked; ignored");
                    return;
                }
                let Some((id, pending)) = self.session.pending.remove_entry(&*iq.id) else {
                    return;
                };
                if self.session.pending.is_empty() {
                    // Nothing in flight: an idle session holds no table.
                    self.session.pending.shrink_to_fit();
                }
                let error = iq.error().map(|e| IqError::Stanza(Box::new(e)));
                match pending.owner {
                    // The registration service reads the answer itself (a refusal may carry
                    // a form).
                    Owner::Register(p) => {
                        self.on_registration_response(*p, error.map_or(Ok(()), Err), Some(&iq))
                    }
                    owner => self.deliver_outcome(now, owner, id, error.map_or(Ok(iq), Err)),
                }
            }
        }
    }

    /// The outcome of a request, to whoever sent it.
    pub(super) fn deliver_outcome(
        &mut self,
        now: Instant,
        owner: Owner,
        id: String,
        result: Result<Iq, IqError>,
    ) {
        match owner {
            Owner::Application => self.emit(Event::IqResponse { id, result }),
            Owner::Ping => {}
            Owner::Roster => self.on_roster_result(result),
            Owner::Carbons => self.on_carbons_result(result),
            Owner::Register(pending) => {
                self.on_registration_response(*pending, result.map(drop), None)
            }
            Owner::ServerInfo => self.on_server_info(result),
            Owner::Caps(query) => self.on_caps_result(now, *query, result),
            Owner::OwnVCard => self.on_own_vcard(now, result),
            Owner::VCardSet(card) => self.on_vcard_set(now, id, *card, result),
            Owner::AvatarFetch(fetch) => self.on_avatar_fetch(now, *fetch, result),
            Owner::PepAvatarData(info) => self.on_pep_avatar_data(now, id, *info, result),
            Owner::PepAvatarMetadata(first) => self.emit(Event::IqResponse { id: first, result }),
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
        let caps = self.services.caps.as_ref().and_then(|c| c.deadline());
        let avatars = self.services.avatars.as_ref().and_then(|a| a.deadline());
        let services = caps.into_iter().chain(avatars).chain(self.sm_deadline());
        pending.chain(keepalive).chain(ping).chain(services).min()
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
                .attr("type", Cow::Borrowed("get"))
                .attr("id", &id)
                .attr("to", &domain)
                .child(Builder::new("ping", ns::PING));
            tracing::debug!("the server has been silent: ping");
            self.send_element_internal(now, &ping);
            self.session.ping_sent = Some(now);
            let deadline = later(now, self.config.timeouts.ping_timeout);
            let connection = self.reconnect.connection;
            self.session
                .track(id, Some(domain), deadline, Owner::Ping, connection);
        }
        self.expire_requests(now);
        self.sm_timeout(now);
        // A timeout above may have ended the connection.
        if !matches!(self.phase, super::Phase::Online) {
            return;
        }
        if let Some(caps) = &mut self.services.caps {
            let out = caps.on_timeout(now);
            self.apply_caps(now, out);
        }
        if let Some(avatars) = &mut self.services.avatars {
            let out = avatars.on_timeout(now);
            self.apply_avatars(now, out);
        }
        if keepalive.is_some_and(|k| now >= k) {
            // RFC 6120 §4.6.1: a single space keeps NATs and the server's idle timer happy.
            self.send(now, Bytes::from_static(b" "));
        }
    }

    /// Requests whose time is up get [`IqError::Timeout`], in order.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        let mut expired: Vec<(Instant, u64, String)> = self
            .session
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(id, p)| (p.deadline, p.seq, id.clone()))
            .collect();
        expired.sort_unstable_by_key(|e| (e.0, e.1));
        for (_, _, id) in expired {
            if let Some(pending) = self.session.pending.remove(&id) {
                self.deliver_outcome(now, pending.owner, id, Err(IqError::Timeout));
            }
        }
    }
}

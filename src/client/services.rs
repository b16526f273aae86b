//! The services layer: where the online session hands each stanza to the service that owns
//! it (roster, presence and subscriptions, carbons) and carries out what the service
//! returns. Services do not reach into each other; what one needs of another (the policy
//! needs the roster) passes through here.
//!
//! A `Client` lives for one connection. The roster is what outlives it: the application
//! stores it (from `RosterEvent::Loaded` and `Updated`) and hands it back in
//! `config.roster.stored`, so that the next connection fetches only what changed. The
//! presence map and the carbons flag are emptied when the connection ends, since nobody's
//! presence is known then.

use std::time::Instant;

use super::carbons::{self, Unwrapped};
use super::presence::{PresenceMap, SubscriptionEvent, SubscriptionPolicy};
use super::roster::{Roster, RosterItem};
use super::session::Owner;
use super::stanza::{Iq, IqType, Message, OutgoingPresence, Presence, PresenceType};
use super::{Client, CommandError, Event, IqError};
use crate::jid::Jid;
use crate::ns;
use crate::xml::Builder;

/// The services' state for this client.
#[derive(Debug)]
pub(super) struct Services {
    /// `None` when the roster service is off.
    pub(super) roster: Option<Roster>,
    /// `None` when the presence service is off.
    pub(super) presence: Option<PresenceMap>,
    /// Carbons are active on this connection.
    pub(super) carbons: bool,
}

impl Services {
    pub(super) fn new(config: &super::Config) -> Self {
        Self {
            roster: config.roster.enabled.then(|| Roster::new(&config.roster)),
            presence: config
                .presence
                .enabled
                .then(|| PresenceMap::new(config.presence.limits)),
            carbons: false,
        }
    }

    /// The connection ended: forget what belonged to it.
    pub(super) fn connection_lost(&mut self) {
        if let Some(presence) = &mut self.presence {
            presence.clear();
        }
        self.carbons = false;
    }
}

impl Client {
    // ---- getters ----

    /// The roster (RFC 6121 §2), kept current by the roster service; `None` when the
    /// service is off ([`RosterConfig::enabled`](super::roster::RosterConfig::enabled)).
    pub fn roster(&self) -> Option<&Roster> {
        self.services.roster.as_ref()
    }

    /// The presence map: every available resource of every contact, our own other
    /// resources included; `None` when the service is off.
    pub fn presences(&self) -> Option<&PresenceMap> {
        self.services.presence.as_ref()
    }

    /// Whether message carbons (XEP-0280) are on for this connection.
    pub fn carbons_enabled(&self) -> bool {
        self.services.carbons
    }

    // ---- commands ----

    /// Adds or changes a roster item (its name and groups; RFC 6121 §2.3–2.4); returns the
    /// request id, answered by an [`Event::IqResponse`]. The change itself arrives as a
    /// push ([`RosterEvent::Updated`](super::roster::RosterEvent::Updated)).
    pub fn roster_set(&mut self, now: Instant, item: RosterItem) -> Result<String, CommandError> {
        let query = Builder::new("query", ns::ROSTER).child(item.to_set_builder());
        self.send_iq(now, None, IqType::Set, query)
    }

    /// Removes a contact from the roster, cancelling subscriptions both ways (RFC 6121
    /// §2.5); returns the request id, answered by an [`Event::IqResponse`].
    pub fn roster_remove(&mut self, now: Instant, jid: &Jid) -> Result<String, CommandError> {
        let item = Builder::new("item", ns::ROSTER)
            .attr("jid", jid.bare())
            .attr("subscription", "remove");
        let query = Builder::new("query", ns::ROSTER).child(item);
        self.send_iq(now, None, IqType::Set, query)
    }

    /// Asks `jid` for a subscription to its presence (RFC 6121 §3.1.1).
    pub fn subscribe(&mut self, now: Instant, jid: &Jid) -> Result<(), CommandError> {
        self.send_presence(now, OutgoingPresence::subscribe(jid))
    }

    /// Approves `jid`'s subscription request (RFC 6121 §3.1.4).
    pub fn approve(&mut self, now: Instant, jid: &Jid) -> Result<(), CommandError> {
        self.send_presence(now, OutgoingPresence::subscribed(jid))
    }

    /// Denies `jid`'s subscription request (RFC 6121 §3.1.4).
    pub fn deny(&mut self, now: Instant, jid: &Jid) -> Result<(), CommandError> {
        self.send_presence(now, OutgoingPresence::unsubscribed(jid))
    }

    /// Stops receiving `jid`'s presence (RFC 6121 §3.3).
    pub fn unsubscribe(&mut self, now: Instant, jid: &Jid) -> Result<(), CommandError> {
        self.send_presence(now, OutgoingPresence::unsubscribe(jid))
    }

    /// Cancels `jid`'s subscription to our presence (RFC 6121 §3.2).
    pub fn cancel(&mut self, now: Instant, jid: &Jid) -> Result<(), CommandError> {
        self.send_presence(now, OutgoingPresence::unsubscribed(jid))
    }

    /// Approves `jid`'s subscription before it asks (RFC 6121 §3.4), where the server
    /// offers pre-approval; [`CommandError::NotSupported`] otherwise.
    pub fn preapprove(&mut self, now: Instant, jid: &Jid) -> Result<(), CommandError> {
        self.require_online()?;
        if !self.features.as_ref().is_some_and(|f| f.pre_approval) {
            return Err(CommandError::NotSupported(
                "subscription pre-approval (RFC 6121 §3.4)",
            ));
        }
        self.send_presence(now, OutgoingPresence::subscribed(jid))
    }

    // ---- the session starts ----

    /// Once online: the roster first, then carbons, then initial presence (RFC 6121 §2.2,
    /// §4.2), so that nobody forgets it.
    pub(super) fn start_services(&mut self, now: Instant) {
        let versioning = self.features.as_ref().is_some_and(|f| f.roster_versioning);
        // Our own requests always serialize; there is nothing to report.
        if let Some(roster) = &mut self.services.roster {
            let query = roster.request(versioning);
            let _ = self.send_request(now, None, IqType::Get, query, Owner::Roster);
        }
        if self.config.carbons {
            let enable = carbons::enable();
            let _ = self.send_request(now, None, IqType::Set, enable, Owner::Carbons);
        }
        if let Some(initial) = self.config.presence.initial.clone() {
            if self.services.presence.is_some() {
                let _ = self.send_presence(now, initial);
            }
        }
    }

    /// The outcome of the roster service's roster get.
    pub(super) fn on_roster_result(&mut self, result: Result<Iq, IqError>) {
        if let Some(roster) = &mut self.services.roster {
            for event in roster.on_result(result) {
                self.emit(Event::Roster(event));
            }
        }
    }

    /// The outcome of the carbons service's enable request.
    pub(super) fn on_carbons_result(&mut self, result: Result<Iq, IqError>) {
        self.services.carbons = result.is_ok();
        match result {
            Ok(_) => tracing::debug!("message carbons enabled"),
            Err(e) => tracing::debug!(error = %e, "message carbons not available"),
        }
    }

    // ---- inbound ----

    /// Whether the roster service takes roster pushes.
    pub(super) fn takes_roster_pushes(&self) -> bool {
        self.services.roster.is_some()
    }

    /// A roster push, for the roster service.
    pub(super) fn on_roster_push(&mut self, now: Instant, iq: &Iq) {
        let (Some(roster), Some(me)) = (&mut self.services.roster, &self.jid) else {
            return;
        };
        let (reply, event) = roster.on_push(iq, me);
        self.send_element_internal(now, &reply);
        self.emit(Event::Roster(event));
    }

    pub(super) fn on_message(&mut self, m: Message) {
        let Some(me) = &self.jid else { return };
        if !self.config.carbons {
            return self.emit(Event::Message(m));
        }
        match carbons::unwrap(m, me, self.session.jids()) {
            Unwrapped::NotCarbon(m) | Unwrapped::Carbon(m) => self.emit(Event::Message(m)),
            Unwrapped::Refused(from) => {
                tracing::debug!(?from, "a carbon not from our account: dropped");
                self.emit(Event::CarbonRefused { from });
            }
        }
    }

    pub(super) fn on_presence(&mut self, now: Instant, p: Presence) {
        let Some(me) = self.jid.as_ref().map(Jid::bare) else {
            return;
        };
        let subscription = matches!(
            p.kind,
            PresenceType::Subscribe
                | PresenceType::Subscribed
                | PresenceType::Unsubscribe
                | PresenceType::Unsubscribed
        );
        if subscription && self.services.presence.is_some() {
            return self.on_subscription(now, p);
        }
        let Some(map) = &mut self.services.presence else {
            return self.emit(Event::Presence(p));
        };
        if p.kind == PresenceType::Probe {
            // Probes are the server's business (RFC 6121 §4.3); a client has no answer.
            return;
        }
        let known = p.from.as_ref().is_some_and(|from| {
            let bare = from.bare();
            bare == me
                || self
                    .services
                    .roster
                    .as_ref()
                    .is_some_and(|r| r.get(&bare).is_some())
        });
        if map.apply(&p, known) == super::presence::Applied::Full {
            tracing::debug!(from = ?p.from, "presence map full: not recorded");
        }
        self.emit(Event::Presence(p));
    }

    fn on_subscription(&mut self, now: Instant, p: Presence) {
        let Some(from) = p.from.as_ref().map(Jid::bare) else {
            return;
        };
        let item = self.services.roster.as_ref().and_then(|r| r.get(&from));
        let event = match p.kind {
            PresenceType::Subscribe => {
                let answered = match self.config.presence.subscriptions {
                    SubscriptionPolicy::Ask => None,
                    SubscriptionPolicy::AcceptAll => Some(true),
                    SubscriptionPolicy::DenyAll => Some(false),
                    SubscriptionPolicy::AcceptKnown => item
                        .is_some_and(|i| i.ask || i.subscription.to())
                        .then_some(true),
                };
                match answered {
                    Some(true) => {
                        let _ = self.approve(now, &from);
                    }
                    Some(false) => {
                        let _ = self.deny(now, &from);
                    }
                    None => {}
                }
                SubscriptionEvent::Requested {
                    from,
                    status: p.status,
                    answered,
                }
            }
            // Only what we asked for is news (RFC 6121 §3.1.6 has the server drop the
            // rest; we do too, if one gets through).
            // The roster push that clears `ask` may come first (ejabberd sends it before
            // the presence): then the roster says we are subscribed.
            // Without the roster service nothing tells: the server's filtering is trusted.
            PresenceType::Subscribed
                if self.services.roster.is_none()
                    || item.is_some_and(|i| i.ask || i.subscription.to()) =>
            {
                SubscriptionEvent::Approved { from }
            }
            PresenceType::Subscribed => {
                tracing::debug!(%from, "an unsolicited 'subscribed': ignored");
                return;
            }
            PresenceType::Unsubscribed => SubscriptionEvent::Revoked { from },
            _ => SubscriptionEvent::Unsubscribed { from },
        };
        self.emit(Event::Subscription(event));
    }
}

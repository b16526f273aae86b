//! The services layer: where the online session hands each stanza to the service that owns
//! it (roster, presence and subscriptions, carbons) and carries out what the service
//! returns. Services do not reach into each other; what one needs of another (the policy
//! needs the roster) passes through here.
//!
//! A `Client` outlives its connections (see `reconnect.rs`): while the session is resumed
//! the services' state carries on untouched; a fresh session empties what died with the old
//! one (the presence map, who announced which caps, the carbons flag) and starts the services
//! again (`start_services` with `resync`). What outlives the process is the application's to
//! store: the roster (from `RosterEvent::Loaded` and `Updated`, handed back in
//! `config.roster.stored`, so that the next login fetches only what changed).

use std::sync::Arc;
use std::time::Instant;

use super::avatar::{self, Avatars};
use super::caps::{self, Caps};
use super::carbons::{self, Unwrapped};
use super::disco::{Disco, DiscoInfo};
use super::pep_avatar;
use super::presence::{PresenceMap, SubscriptionEvent, SubscriptionPolicy};
use super::roster::{Roster, RosterItem};
use super::session::Owner;
use super::stanza::{Iq, IqType, Message, MessageType, OutgoingPresence, Presence, PresenceType};
use super::vcard::{VCard, VCardError};
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
    /// `None` when the discovery service is off.
    pub(super) disco: Option<Disco>,
    /// `None` when the caps service (or discovery, which it needs) is off.
    pub(super) caps: Option<Caps>,
    /// `None` when the avatar service is off.
    pub(super) avatars: Option<Avatars>,
    /// The last available presence we broadcast, as the application gave it, to send again
    /// when what the services announce in it changes.
    pub(super) last_broadcast: Option<Builder>,
    /// It changed (or what the services announce with it did) while reconnecting: to send
    /// once the session is resumed (a fresh one sends it anyway).
    pub(super) rebroadcast_pending: bool,
}

impl Services {
    pub(super) fn new(config: &super::Config) -> Self {
        let disco = config
            .disco
            .enabled
            .then(|| Disco::new(&config.disco, &service_features(config)));
        let caps = disco
            .as_ref()
            .filter(|_| config.caps.enabled)
            .map(|d| Caps::new(&config.caps, &d.own));
        Self {
            roster: config.roster.enabled.then(|| Roster::new(&config.roster)),
            presence: config
                .presence
                .enabled
                .then(|| PresenceMap::new(config.presence.limits)),
            carbons: false,
            disco,
            caps,
            avatars: config
                .avatars
                .enabled
                .then(|| Avatars::new(&config.avatars)),
            last_broadcast: None,
            rebroadcast_pending: false,
        }
    }

    /// Adds what the services announce to an available presence of ours.
    pub(super) fn announce(&self, presence: &mut Builder) {
        if let Some(caps) = &self.caps {
            caps.attach(presence);
        }
        if let Some(avatars) = &self.avatars {
            avatars.attach(presence);
        }
    }

    /// The connection ended: forget what belonged to it.
    pub(super) fn connection_lost(&mut self) {
        if let Some(presence) = &mut self.presence {
            presence.clear();
        }
        if let Some(caps) = &mut self.caps {
            caps.connection_lost();
        }
        if let Some(avatars) = &mut self.avatars {
            avatars.connection_lost();
        }
        self.last_broadcast = None;
        self.rebroadcast_pending = false;
        self.carbons = false;
    }
}

/// The features the enabled services register with discovery.
fn service_features(config: &super::Config) -> Vec<&'static str> {
    let mut features = Vec::new();
    if config.caps.enabled {
        features.push(ns::CAPS);
        if config.caps.ecaps2 {
            features.push(ns::CAPS2);
        }
    }
    if config.avatars.enabled {
        // XEP-0163 §4: the server sends contacts' avatar metadata to whoever announces
        // this in caps.
        features.push(pep_avatar::METADATA_NOTIFY);
    }
    features
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

    /// Our own description (XEP-0030): what `disco#info` requests are answered with and
    /// what our caps hash; `None` when the discovery service is off.
    pub fn own_disco_info(&self) -> Option<&Arc<DiscoInfo>> {
        self.services.disco.as_ref().map(|d| &d.own)
    }

    /// The server's description, fetched once online; `None` until it arrives, if the
    /// server refused, or when the discovery service is off.
    pub fn server_info(&self) -> Option<&Arc<DiscoInfo>> {
        self.services.disco.as_ref()?.server.as_ref()
    }

    /// The capabilities of `jid` (a full JID), once resolved from its presence
    /// ([`CapsEvent::Resolved`](super::caps::CapsEvent::Resolved)).
    pub fn caps_of(&self, jid: &Jid) -> Option<&Arc<DiscoInfo>> {
        self.services.caps.as_ref()?.of(jid)
    }

    /// Whether `jid` supports `feature`, from its caps; `None` when they are not known
    /// (ask with [`Self::disco_info`]).
    pub fn supports(&self, jid: &Jid, feature: &str) -> Option<bool> {
        self.caps_of(jid).map(|info| info.has_feature(feature))
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

    /// Asks `to` (`None`: our own account, its bare JID; the server is
    /// [`Jid::domain_jid`]) for its description, of `node` if given; returns
    /// the request id, answered by an [`Event::IqResponse`] whose `result` reads with
    /// [`DiscoInfo::from_iq`]. (To answer from caps first, see [`Self::caps_of`].)
    pub fn disco_info(
        &mut self,
        now: Instant,
        to: Option<&Jid>,
        node: Option<&str>,
    ) -> Result<String, CommandError> {
        let query = Builder::new("query", ns::DISCO_INFO).attr_opt("node", node);
        self.send_iq(now, to, IqType::Get, query)
    }

    /// Asks `to` (`None`: our own account) for its items, of `node` if given; returns the
    /// request id, answered by an [`Event::IqResponse`] whose `result` reads with
    /// [`disco::items_from_iq`](super::disco::items_from_iq).
    pub fn disco_items(
        &mut self,
        now: Instant,
        to: Option<&Jid>,
        node: Option<&str>,
    ) -> Result<String, CommandError> {
        let query = Builder::new("query", ns::DISCO_ITEMS).attr_opt("node", node);
        self.send_iq(now, to, IqType::Get, query)
    }

    /// Asks for `jid`'s vCard (XEP-0054; `None`: our own); returns the request id,
    /// answered by an [`Event::IqResponse`] whose `result` reads with
    /// [`VCard::from_iq`](super::vcard::VCard::from_iq) (an `item-not-found` error, or an
    /// empty answer, is "no vCard").
    pub fn vcard_get(&mut self, now: Instant, jid: Option<&Jid>) -> Result<String, CommandError> {
        self.send_iq(now, jid, IqType::Get, Builder::new("vCard", ns::VCARD))
    }

    /// Replaces our own vCard (XEP-0054 §3.2); returns the request id, answered by an
    /// [`Event::IqResponse`]. Fields the model does not know, kept from a
    /// [`VCard`] read earlier, are written back unchanged. Once the
    /// server accepts it, the avatar service announces its photo's hash (XEP-0153 §4.2)
    /// and sends our presence again if the hash changed.
    pub fn vcard_set(
        &mut self,
        now: Instant,
        vcard: &super::vcard::VCard,
    ) -> Result<String, CommandError> {
        let owner = match self.services.avatars {
            Some(_) => Owner::VCardSet(Box::new(vcard.clone())),
            None => Owner::Application,
        };
        self.send_app_request(now, None, IqType::Set, vcard.to_builder(), owner)
    }

    /// Sets our avatar (XEP-0153): our vCard as last fetched (once online, and again when
    /// another of our resources announces another photo) or set, with this photo (`None`
    /// removes it); returns the request id, answered by an [`Event::IqResponse`]. Our
    /// presence then carries the new hash. [`CommandError::Unexpected`] until our vCard
    /// has been fetched; [`CommandError::NotSupported`] when the avatar service is off.
    pub fn set_avatar(
        &mut self,
        now: Instant,
        photo: Option<(&str, &[u8])>,
    ) -> Result<String, CommandError> {
        let Some(avatars) = &self.services.avatars else {
            return Err(CommandError::NotSupported(
                "vCard avatars (the service is off)",
            ));
        };
        if !avatars.own_known() {
            return Err(CommandError::Unexpected(
                "our vCard is not known: it is fetched once online (still under way, or failed)",
            ));
        }
        let mut card = avatars.own_vcard().cloned().unwrap_or_default();
        // One PHOTO: an unreadable or empty one kept as it came goes.
        card.other
            .retain(|b| !(b.name() == "PHOTO" && b.ns() == ns::VCARD));
        card.unreadable_photo = None;
        card.photo = photo.map(|(mime, data)| super::vcard::Photo::Inline {
            mime: mime.to_owned(),
            data: data.to_vec(),
        });
        self.vcard_set(now, &card)
    }

    /// `jid`'s avatar (a bare JID), verified, if it announced one we hold.
    pub fn avatar_of(&self, jid: &Jid) -> Option<&avatar::Avatar> {
        self.services.avatars.as_ref()?.of(jid)
    }

    /// Adds a feature to our description (XEP-0030), or removes it (`on` false). Our caps
    /// change with it, and once online our last broadcast presence goes out again with
    /// them (XEP-0115 §4); directed presences (rooms) are the application's to send again.
    /// The features the services register are theirs: asking to change one, or a name
    /// XML cannot carry, is [`CommandError::InvalidStanza`];
    /// [`CommandError::NotSupported`] when discovery is off.
    pub fn set_feature(
        &mut self,
        now: Instant,
        feature: &str,
        on: bool,
    ) -> Result<(), CommandError> {
        let services = service_features(&self.config);
        let Some(disco) = &mut self.services.disco else {
            return Err(CommandError::NotSupported("service discovery (it is off)"));
        };
        if !disco.set_feature(feature, on, &services)? {
            return Ok(());
        }
        let Some(caps) = &mut self.services.caps else {
            return Ok(());
        };
        caps.describe(&disco.own);
        self.rebroadcast(now)
    }

    /// Sends our last broadcast presence again, with what the services announce now.
    pub(super) fn rebroadcast(&mut self, now: Instant) -> Result<(), CommandError> {
        match self.services.last_broadcast.clone() {
            Some(presence) if self.is_online() => self.send_presence_as(now, presence, false),
            Some(_) => {
                self.services.rebroadcast_pending = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    // ---- the session starts ----

    /// Once online: the roster first, then carbons, then initial presence (RFC 6121 §2.2,
    /// §4.2), so that nobody forgets it. On a fresh session after a lost one (`resync`) the
    /// presence is the last we broadcast (none if we went unavailable).
    pub(super) fn start_services(&mut self, now: Instant, resync: bool) {
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
        if self.services.avatars.is_some() {
            // XEP-0153 §4.1: our photo's hash comes from our vCard.
            let query = Builder::new("vCard", ns::VCARD);
            let _ = self.send_request(now, None, IqType::Get, query, Owner::OwnVCard);
        }
        if self.services.disco.is_some() {
            let query = Builder::new("query", ns::DISCO_INFO);
            let domain = self.config.jid.domain_jid();
            let _ = self.send_request(now, Some(&domain), IqType::Get, query, Owner::ServerInfo);
        }
        let initial = if resync {
            self.services.last_broadcast.clone()
        } else {
            self.config.presence.initial.clone().map(Into::into)
        };
        if let Some(initial) = initial {
            if self.services.presence.is_some() {
                let _ = self.send_presence_as(now, initial, false);
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

    /// The outcome of the discovery service's query of the server.
    pub(super) fn on_server_info(&mut self, result: Result<Iq, IqError>) {
        let limits = self.config.form_limits;
        let Some(disco) = &mut self.services.disco else {
            return;
        };
        match result
            .map_err(Into::into)
            .and_then(|iq| DiscoInfo::from_iq_within(&iq, &limits))
        {
            Ok(info) => {
                let info = Arc::new(info);
                disco.server = Some(info.clone());
                self.emit(Event::ServerInfo(info));
            }
            Err(e) => tracing::debug!(error = %e, "the server's description is not available"),
        }
    }

    /// Whether our own vCard is being fetched.
    fn own_vcard_pending(&self) -> bool {
        self.session.awaits(|o| matches!(o, Owner::OwnVCard))
    }

    /// Our own vCard, fetched once online.
    pub(super) fn on_own_vcard(&mut self, now: Instant, result: Result<Iq, IqError>) {
        let Some(avatars) = &mut self.services.avatars else {
            return;
        };
        // Our own photo is ours: hashed whatever its size (the element limit bounds it).
        let max = usize::MAX;
        let card = match result
            .map_err(VCardError::from)
            .and_then(|iq| VCard::from_iq_within(&iq, max))
        {
            Ok(card) => Some(card),
            Err(VCardError::NotFound) => None,
            Err(e) => {
                // Not knowing, we keep announcing nothing (XEP-0153 §4.1).
                tracing::debug!(error = %e, "our vCard could not be fetched");
                return;
            }
        };
        if avatars.own_vcard_is(card) {
            let _ = self.rebroadcast(now);
        }
    }

    /// The outcome of the application's vCard set: the avatar service learns from a
    /// success, the application gets the outcome.
    pub(super) fn on_vcard_set(
        &mut self,
        now: Instant,
        id: String,
        card: VCard,
        result: Result<Iq, IqError>,
    ) {
        if result.is_ok() {
            if let Some(avatars) = &mut self.services.avatars {
                if avatars.own_vcard_is(Some(card)) {
                    let _ = self.rebroadcast(now);
                }
            }
        }
        self.emit(Event::IqResponse { id, result });
    }

    /// The outcome of an avatar fetch.
    pub(super) fn on_avatar_fetch(
        &mut self,
        now: Instant,
        fetch: avatar::Fetch,
        result: Result<Iq, IqError>,
    ) {
        if let Some(avatars) = &mut self.services.avatars {
            let out = avatars.on_fetch(now, fetch, result);
            self.apply_avatars(now, out);
        }
    }

    /// A PEP avatar metadata notification (XEP-0084): from a roster contact's account
    /// (its bare JID) only.
    fn on_pep_metadata(
        &mut self,
        now: Instant,
        from: Option<&Jid>,
        offered: Vec<pep_avatar::AvatarInfo>,
    ) {
        let Some(from) = from.filter(|f| f.resource().is_none()) else {
            return;
        };
        let ours = self.jid.as_ref().is_some_and(|me| me.bare() == *from);
        let known = self
            .services
            .roster
            .as_ref()
            .is_none_or(|r| r.get(from).is_some());
        if ours || !known {
            return;
        }
        if let Some(avatars) = &mut self.services.avatars {
            let out = avatars.on_pep_metadata(now, from, offered);
            self.apply_avatars(now, out);
        }
    }

    /// Publishes our avatar over PEP (XEP-0084): the image in the data node, then its
    /// metadata; `None` disables it (empty metadata). Returns the request id, answered by one [`Event::IqResponse`] once both
    /// steps are done (or the first failed).
    pub fn publish_avatar(
        &mut self,
        now: Instant,
        image: Option<pep_avatar::AvatarImage<'_>>,
    ) -> Result<String, CommandError> {
        let Some(pep_avatar::AvatarImage { mime, data, size }) = image else {
            let metadata = pep_avatar::publish_metadata(None);
            return self.send_iq(now, None, IqType::Set, metadata);
        };
        let hash = super::vcard::sha1_hex(data);
        let info = pep_avatar::AvatarInfo {
            id: hash.clone(),
            mime: mime.to_owned(),
            bytes: Some(data.len()),
            size,
            url: None,
        };
        let publish = pep_avatar::publish_data(&hash, data);
        let owner = Owner::PepAvatarData(Box::new(info));
        self.send_app_request(now, None, IqType::Set, publish, owner)
    }

    /// The data step of a PEP avatar publish: the metadata follows, or the failure is the
    /// application's.
    pub(super) fn on_pep_avatar_data(
        &mut self,
        now: Instant,
        id: String,
        info: pep_avatar::AvatarInfo,
        result: Result<Iq, IqError>,
    ) {
        if result.is_err() {
            return self.emit(Event::IqResponse { id, result });
        }
        let metadata = pep_avatar::publish_metadata(Some(&info));
        let owner = Owner::PepAvatarMetadata(id.clone());
        if let Err(e) = self.send_request(now, None, IqType::Set, metadata, owner) {
            self.emit(Event::IqResponse {
                id,
                result: Err(e.into()),
            });
        }
    }

    /// Sends the avatar service's fetches and reports its events.
    pub(super) fn apply_avatars(&mut self, now: Instant, out: avatar::Output) {
        for fetch in out.fetches {
            let query = match &fetch.source {
                avatar::Source::VCard => Builder::new("vCard", ns::VCARD),
                avatar::Source::Pep { .. } => pep_avatar::request_data(&fetch.hash),
            };
            let jid = fetch.jid.clone();
            let owner = Owner::AvatarFetch(Box::new(fetch));
            if self
                .send_request(now, Some(&jid), IqType::Get, query, owner)
                .is_err()
            {
                if let Some(avatars) = &mut self.services.avatars {
                    avatars.abandon(&jid);
                }
            }
        }
        for event in out.events {
            self.emit(Event::Avatar(event));
        }
    }

    /// The outcome of a caps query.
    pub(super) fn on_caps_result(
        &mut self,
        now: Instant,
        query: caps::Query,
        result: Result<Iq, IqError>,
    ) {
        let limits = self.config.form_limits;
        if let Some(caps) = &mut self.services.caps {
            let out = caps.on_response(now, query, result, &limits);
            self.apply_caps(now, out);
        }
    }

    /// Sends the caps service's queries and reports its events.
    pub(super) fn apply_caps(&mut self, now: Instant, out: caps::Output) {
        for query in out.queries {
            let payload = Builder::new("query", ns::DISCO_INFO).attr("node", &query.node);
            let to = query.to.clone();
            let owner = Owner::Caps(Box::new(query));
            if self
                .send_request(now, Some(&to), IqType::Get, payload, owner)
                .is_err()
            {
                if let Some(caps) = &mut self.services.caps {
                    caps.abandon(&to);
                }
            }
        }
        for event in out.events {
            self.emit(Event::Caps(event));
        }
    }

    // ---- inbound ----

    /// Whether the discovery service answers `disco#info` and `disco#items` requests.
    pub(super) fn answers_disco(&self) -> bool {
        self.services.disco.is_some()
    }

    /// A `disco#info` or `disco#items` request, for the discovery service.
    pub(super) fn on_disco_request(&mut self, now: Instant, iq: &Iq) {
        let Some(disco) = &self.services.disco else {
            return;
        };
        let items = iq.payload().is_some_and(|q| q.ns() == ns::DISCO_ITEMS);
        let reply = if items {
            disco.answer_items(iq)
        } else {
            let caps = self.services.caps.as_ref();
            disco.answer_info(iq, |node| caps?.own_for_node(node))
        };
        self.send_element_internal(now, &reply);
    }

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

    pub(super) fn on_message(&mut self, now: Instant, m: Message) {
        let Some(me) = &self.jid else { return };
        // XEP-0084 metadata notifications are the avatar service's. PEP sends them as
        // headline (or normal) messages: chats and room messages are not looked into.
        let pep = matches!(m.kind, MessageType::Headline | MessageType::Normal);
        let event = || m.element.get_child("event", ns::PUBSUB_EVENT).is_some();
        if pep && self.services.avatars.is_some() && event() {
            if let Some(offered) = pep_avatar::notification(&m.element) {
                let from = m.from.clone();
                return self.on_pep_metadata(now, from.as_ref(), offered);
            }
        }
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
        // The caps service sees available, unavailable and error presences; what it finds
        // is reported after the presence itself.
        let caps = self.caps_announcement(now, &p);
        // Whether the sender is a roster contact (`None` without the roster service): looked
        // up once, for the avatars and for the presence map.
        let in_roster = match (&self.services.roster, &p.from) {
            (Some(roster), Some(from)) => Some(roster.get(from).is_some()),
            (Some(_), None) => Some(false),
            (None, _) => None,
        };
        let avatar = self.avatar_announcement(now, &p, in_roster);
        self.route_presence(now, p, in_roster);
        if let Some(out) = caps {
            self.apply_caps(now, out);
        }
        if let Some(out) = avatar {
            self.apply_avatars(now, out);
        }
    }

    fn avatar_announcement(
        &mut self,
        now: Instant,
        p: &Presence,
        in_roster: Option<bool>,
    ) -> Option<avatar::Output> {
        if p.kind != PresenceType::Available || !self.is_online() {
            return None;
        }
        let from = p.from.as_ref()?.bare();
        let avatars = self.services.avatars.as_ref()?;
        if self.jid.as_ref().is_some_and(|me| me.bare() == from) {
            // XEP-0153 §4.3: another of our resources announces another photo: our vCard
            // changed; fetch it again and announce what it holds.
            if avatars.differs_from_own(&p.element) && !self.own_vcard_pending() {
                let query = Builder::new("vCard", ns::VCARD);
                let _ = self.send_request(now, None, IqType::Get, query, Owner::OwnVCard);
            }
            return None;
        }
        // Roster contacts only: strangers and room occupants (whose bare JID is the room's)
        // cannot make us fetch. Without the roster service, everyone counts.
        if in_roster == Some(false) {
            return None;
        }
        let avatars = self.services.avatars.as_mut()?;
        Some(avatars.on_presence(now, &from, &p.element))
    }

    fn caps_announcement(&mut self, now: Instant, p: &Presence) -> Option<caps::Output> {
        let available = match p.kind {
            PresenceType::Available => true,
            PresenceType::Unavailable | PresenceType::Error => false,
            _ => return None,
        };
        let from = p.from.as_ref()?;
        // Our own presence, reflected: we know what we announce. Nothing is asked once
        // the stream is closing.
        if Some(from) == self.jid.as_ref() || !self.is_online() {
            return None;
        }
        let caps = self.services.caps.as_mut()?;
        Some(caps.on_presence(now, from, available, &p.element))
    }

    fn route_presence(&mut self, now: Instant, p: Presence, in_roster: Option<bool>) {
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
        let known =
            in_roster == Some(true) || p.from.as_ref().is_some_and(|from| from.bare() == me);
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

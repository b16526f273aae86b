//! RFC 6121 §2: the roster, kept current. Fetched after binding (with versioning, §2.6),
//! updated by the server's pushes (§2.1.6), changed by the application's sets.
//!
//! The service owns its state and its parsing; the client routes to it (requests it sent,
//! pushes in `jabber:iq:roster`) and carries out what it returns.

use std::collections::BTreeMap;
use std::fmt;

use super::event::IqError;
use super::stanza::{Iq, StanzaErrorCondition};
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, ElementRef};

/// The subscription state of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subscription {
    /// Neither side receives the other's presence.
    #[default]
    None,
    /// We receive the contact's presence.
    To,
    /// The contact receives ours.
    From,
    /// Both ways.
    Both,
}

impl Subscription {
    /// The attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Whether we receive the contact's presence (`to` or `both`).
    pub fn to(&self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// Whether the contact receives our presence (`from` or `both`).
    pub fn from(&self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }
}

/// A contact in the roster (RFC 6121 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RosterItem {
    /// The contact's bare JID.
    pub jid: Jid,
    /// The name the user gave the contact.
    pub name: Option<String>,
    /// Who receives whose presence.
    pub subscription: Subscription,
    /// We asked to subscribe to the contact's presence and are waiting (`ask='subscribe'`).
    pub ask: bool,
    /// The contact's subscription request is pre-approved (RFC 6121 §3.4).
    pub approved: bool,
    /// The groups the contact is in, each once.
    pub groups: Vec<String>,
}

impl RosterItem {
    /// An item for `jid` (its bare JID), with no name and no groups: what
    /// [`Client::roster_set`](super::Client::roster_set) sends, with the name and groups
    /// given by [`Self::with_name`] and [`Self::with_group`].
    pub fn new(jid: &Jid) -> Self {
        Self {
            jid: jid.bare(),
            name: None,
            subscription: Subscription::None,
            ask: false,
            approved: false,
            groups: Vec::new(),
        }
    }

    /// With this name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// In this group too.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        let group = group.into();
        if !self.groups.contains(&group) {
            self.groups.push(group);
        }
        self
    }

    /// The `<item/>` of a roster set: the JID, name and groups (the server owns the rest).
    pub(crate) fn to_set_builder(&self) -> Builder {
        let mut item = Builder::new("item", ns::ROSTER)
            .attr("jid", &self.jid)
            .attr_opt("name", self.name.as_deref());
        for group in &self.groups {
            item = item.text_child("group", group);
        }
        item
    }

    /// Reads an `<item/>`: the item, or `None` for `subscription='remove'` (of that JID).
    fn parse(el: ElementRef<'_>, limits: &RosterLimits) -> Result<(Jid, Option<Self>), Refusal> {
        let jid = el
            .attr("jid")
            .and_then(|j| Jid::parse(&j).ok())
            .ok_or(Refusal::Malformed("an item without a valid 'jid'"))?;
        if !jid.is_bare() {
            return Err(Refusal::Malformed("an item whose 'jid' is not a bare JID"));
        }
        let subscription = match el.attr("subscription").as_deref() {
            None | Some("none") => Subscription::None,
            Some("to") => Subscription::To,
            Some("from") => Subscription::From,
            Some("both") => Subscription::Both,
            Some("remove") => return Ok((jid, None)),
            Some(_) => return Err(Refusal::Malformed("an unknown 'subscription'")),
        };
        let name = el.attr("name").map(|n| n.into_owned());
        if name.as_ref().is_some_and(|n| n.len() > limits.max_text_len) {
            return Err(Refusal::LimitReached("the name is longer than the limit"));
        }
        let mut groups: Vec<String> = Vec::new();
        for group in el.children().filter(|c| c.is("group", ns::ROSTER)) {
            let group = group.text();
            if group.len() > limits.max_text_len {
                return Err(Refusal::LimitReached(
                    "a group name is longer than the limit",
                ));
            }
            if !groups.iter().any(|g| *g == group) {
                if groups.len() == limits.max_groups {
                    return Err(Refusal::LimitReached("more groups than the limit"));
                }
                groups.push(group.into_owned());
            }
        }
        let item = RosterItem {
            jid: jid.clone(),
            name,
            subscription,
            ask: el.attr("ask").as_deref() == Some("subscribe"),
            approved: matches!(el.attr("approved").as_deref(), Some("true" | "1")),
            groups,
        };
        Ok((jid, Some(item)))
    }
}

/// A roster kept by the application between sessions: with it and its version, a server
/// that supports versioning (RFC 6121 §2.6) sends only what changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoredRoster {
    /// The version the server gave with these items.
    pub version: String,
    /// The items.
    pub items: Vec<RosterItem>,
}

impl StoredRoster {
    /// A stored roster.
    pub fn new(version: impl Into<String>, items: Vec<RosterItem>) -> Self {
        Self {
            version: version.into(),
            items,
        }
    }
}

/// Bounds on what the server may make the roster hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RosterLimits {
    /// Items. Default 10,000.
    pub max_items: usize,
    /// Groups per item. Default 64.
    pub max_groups: usize,
    /// Bytes of a name or a group name. Default 1,024.
    pub max_text_len: usize,
}

impl Default for RosterLimits {
    fn default() -> Self {
        Self {
            max_items: 10_000,
            max_groups: 64,
            max_text_len: 1024,
        }
    }
}

/// The roster service's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RosterConfig {
    /// Fetch and keep the roster, and answer pushes. Default on; off leaves
    /// `jabber:iq:roster` to the application.
    pub enabled: bool,
    /// The roster from the last session, if the application kept it.
    pub stored: Option<StoredRoster>,
    /// Bounds.
    pub limits: RosterLimits,
}

impl Default for RosterConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            stored: None,
            limits: RosterLimits::default(),
        }
    }
}

/// Why a roster push (or part of a roster result) was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The push did not come from our own account (RFC 6121 §2.1.6): it may be spoofed.
    NotFromAccount,
    /// The push or item is not what RFC 6121 allows (the text says how).
    Malformed(&'static str),
    /// A [`RosterLimits`] bound was reached (the text says which).
    LimitReached(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotFromAccount => f.write_str("not from our own account"),
            Refusal::Malformed(what) => write!(f, "malformed: {what}"),
            Refusal::LimitReached(what) => write!(f, "limit reached: {what}"),
        }
    }
}

/// What happened to the roster.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RosterEvent {
    /// The roster is known: received whole, or confirmed unchanged since the stored one
    /// (`cached`). Store `items` with `version` to start from them next time.
    Loaded {
        /// Every item.
        items: Vec<RosterItem>,
        /// The version, if the server versions rosters.
        version: Option<String>,
        /// The server said the stored roster is current (pushes may follow with changes).
        cached: bool,
    },
    /// An item was added or changed by a push.
    Updated {
        /// The item as it is now.
        item: RosterItem,
        /// The roster's version after it.
        version: Option<String>,
    },
    /// An item was removed by a push.
    Removed {
        /// The contact removed.
        jid: Jid,
        /// The roster's version after it.
        version: Option<String>,
    },
    /// A push was refused and changed nothing (not even the version).
    PushRefused {
        /// Who sent it.
        from: Option<Jid>,
        /// Why.
        why: Refusal,
    },
    /// Items of the roster result were left out (limits reached, or invalid).
    ItemsSkipped {
        /// How many.
        count: usize,
        /// Why the first was.
        why: Refusal,
    },
    /// The roster could not be fetched.
    LoadFailed(IqError),
}

/// The roster as the client knows it.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    items: BTreeMap<Jid, RosterItem>,
    version: Option<String>,
    loaded: bool,
    limits: RosterLimits,
}

impl Roster {
    /// Starts from the stored roster, if any (the server confirms or replaces it).
    pub(crate) fn new(config: &RosterConfig) -> Self {
        let mut roster = Roster {
            limits: config.limits,
            ..Roster::default()
        };
        if let Some(stored) = &config.stored {
            roster.version = Some(stored.version.clone());
            for item in stored.items.iter().take(config.limits.max_items) {
                roster.items.insert(item.jid.bare(), item.clone());
            }
        }
        roster
    }

    // ---- getters ----

    /// The items, ordered by JID.
    pub fn items(&self) -> impl Iterator<Item = &RosterItem> {
        self.items.values()
    }

    /// The item of this contact (by bare JID).
    pub fn get(&self, jid: &Jid) -> Option<&RosterItem> {
        if jid.is_bare() {
            self.items.get(jid)
        } else {
            self.items.get(&jid.bare())
        }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every group name, sorted, each once.
    pub fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = self
            .items
            .values()
            .flat_map(|i| i.groups.iter().map(String::as_str))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// The items in this group.
    pub fn in_group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a RosterItem> + 'a {
        self.items
            .values()
            .filter(move |i| i.groups.iter().any(|g| g == group))
    }

    /// The version of what is held (RFC 6121 §2.6), if the server versions rosters.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Whether the server's roster arrived (or confirmed the stored one) this session.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    // ---- the service ----

    /// The query of the roster get; with `versioning` (the server offers `rosterver`), the
    /// version held, or `""` to start versioning (§2.6.2).
    pub(crate) fn request(&mut self, versioning: bool) -> Builder {
        self.loaded = false;
        let query = Builder::new("query", ns::ROSTER);
        if versioning {
            query.attr("ver", self.version.clone().unwrap_or_default())
        } else {
            // Without versioning the stored version means nothing to this server.
            self.version = None;
            query
        }
    }

    /// The outcome of the roster get.
    pub(crate) fn on_result(&mut self, result: Result<Iq, IqError>) -> Vec<RosterEvent> {
        let iq = match result {
            Ok(iq) => iq,
            Err(e) => return vec![RosterEvent::LoadFailed(e)],
        };
        self.loaded = true;
        let Some(query) = iq.element.get_child("query", ns::ROSTER) else {
            // An empty result: what we hold is current (§2.6.3); pushes bring the changes.
            let items = self.items.values().cloned().collect();
            let version = self.version.clone();
            return vec![RosterEvent::Loaded {
                items,
                version,
                cached: true,
            }];
        };
        self.items.clear();
        self.version = query.attr("ver").map(|v| v.into_owned());
        let mut skipped = 0;
        let mut first_refusal = None;
        for el in query.children().filter(|c| c.is("item", ns::ROSTER)) {
            let refusal = match RosterItem::parse(el, &self.limits) {
                Ok((jid, Some(item))) if self.items.len() < self.limits.max_items => {
                    self.items.insert(jid, item);
                    continue;
                }
                // `remove` has no place in a result; nothing to keep.
                Ok((_, None)) => continue,
                Ok(_) => Refusal::LimitReached("more items than the limit"),
                Err(why) => why,
            };
            skipped += 1;
            first_refusal.get_or_insert(refusal);
        }
        let items = self.items.values().cloned().collect();
        let mut events = vec![RosterEvent::Loaded {
            items,
            version: self.version.clone(),
            cached: false,
        }];
        if let Some(why) = first_refusal {
            events.push(RosterEvent::ItemsSkipped {
                count: skipped,
                why,
            });
        }
        events
    }

    /// A roster push (RFC 6121 §2.1.6) to our account `me`: the reply to send and what
    /// happened.
    pub(crate) fn on_push(&mut self, push: &Iq, me: &Jid) -> (Builder, RosterEvent) {
        match self.apply_push(push, me) {
            Ok(event) => (push.result_reply(None), event),
            Err(why) => {
                let condition = match why {
                    // §2.1.6: "MUST ignore"; §8.4 of RFC 6120 gives the error for that.
                    Refusal::NotFromAccount => StanzaErrorCondition::ServiceUnavailable,
                    Refusal::Malformed(_) => StanzaErrorCondition::BadRequest,
                    Refusal::LimitReached(_) => StanzaErrorCondition::ResourceConstraint,
                };
                let event = RosterEvent::PushRefused {
                    from: push.from.clone(),
                    why,
                };
                (push.error_reply(condition), event)
            }
        }
    }

    fn apply_push(&mut self, push: &Iq, me: &Jid) -> Result<RosterEvent, Refusal> {
        if push.from.as_ref().is_some_and(|f| *f != me.bare()) {
            return Err(Refusal::NotFromAccount);
        }
        let query = push
            .element
            .get_child("query", ns::ROSTER)
            .ok_or(Refusal::Malformed("a push without a roster query"))?;
        let mut items = query.children().filter(|c| c.is("item", ns::ROSTER));
        let (Some(item), None) = (items.next(), items.next()) else {
            return Err(Refusal::Malformed("a push must carry exactly one item"));
        };
        let (jid, item) = RosterItem::parse(item, &self.limits)?;
        let is_new = !self.items.contains_key(&jid);
        if item.is_some() && is_new && self.items.len() >= self.limits.max_items {
            return Err(Refusal::LimitReached("more items than the limit"));
        }
        if let Some(version) = query.attr("ver") {
            self.version = Some(version.into_owned());
        }
        let version = self.version.clone();
        Ok(match item {
            Some(item) => {
                self.items.insert(jid, item.clone());
                RosterEvent::Updated { item, version }
            }
            None => {
                self.items.remove(&jid);
                RosterEvent::Removed { jid, version }
            }
        })
    }
}

//! RFC 6121 §3–4: presence subscriptions (requests, answers, a policy for them) and the
//! presence map (every available resource of every contact, our own other resources
//! included, with the best one per contact).
//!
//! The service owns the map and the policy; the client routes presence stanzas to it and
//! carries out what it returns. The map is bounded in contacts, resources per contact and
//! bytes, since presence from strangers (directed, multi-user chat) must not grow it without
//! end.

use super::stanza::{OutgoingPresence, Presence, PresenceType, Show};
use crate::jid::Jid;
use crate::xml::Element;

/// What to do with a subscription request (RFC 6121 §3.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubscriptionPolicy {
    /// Tell the application ([`SubscriptionEvent::Requested`]) and let it answer with
    /// `approve` or `deny`. The default.
    #[default]
    Ask,
    /// Approve contacts already in the roster that we asked to subscribe to or are
    /// subscribed to (XMPPFramework's `autoAcceptKnownPresenceSubscriptionRequests`); ask
    /// the application about the others.
    AcceptKnown,
    /// Approve every request.
    AcceptAll,
    /// Deny every request.
    DenyAll,
}

/// Bounds on the presence map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceLimits {
    /// Contacts (bare JIDs). Default 10,000.
    pub max_contacts: usize,
    /// Available resources per contact. Default 32.
    pub max_resources: usize,
    /// Bytes of presence stanzas held. Default 8 MiB.
    pub max_bytes: usize,
}

impl Default for PresenceLimits {
    fn default() -> Self {
        Self {
            max_contacts: 10_000,
            max_resources: 32,
            max_bytes: 8 << 20,
        }
    }
}

/// The presence service's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceConfig {
    /// Keep the presence map and handle subscription stanzas. Default on; off delivers every
    /// presence as [`Event::Presence`](super::Event::Presence) and nothing else.
    pub enabled: bool,
    /// Sent once online, right after the roster request (RFC 6121 §4.2); `None` sends
    /// nothing. Default: available.
    pub initial: Option<OutgoingPresence>,
    /// What to do with subscription requests.
    pub subscriptions: SubscriptionPolicy,
    /// Bounds on the map.
    pub limits: PresenceLimits,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial: Some(OutgoingPresence::available()),
            subscriptions: SubscriptionPolicy::Ask,
            limits: PresenceLimits::default(),
        }
    }
}

/// A subscription stanza from a contact (RFC 6121 §3).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SubscriptionEvent {
    /// The contact asks to see our presence. `answered` says what the policy did; `None`
    /// leaves it to the application (`approve` or `deny`).
    Requested {
        /// The contact (bare JID).
        from: Jid,
        /// The text that came with the request.
        status: Option<String>,
        /// `Some(true)` approved, `Some(false)` denied by the policy.
        answered: Option<bool>,
    },
    /// The contact approved our request: we will see its presence.
    Approved {
        /// The contact.
        from: Jid,
    },
    /// The contact denied our request, or cancelled our subscription.
    Revoked {
        /// The contact.
        from: Jid,
    },
    /// The contact no longer wants to see our presence.
    Unsubscribed {
        /// The contact.
        from: Jid,
    },
}

/// One available resource's presence.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResourcePresence {
    /// The full JID (or the bare JID, for an entity without resources).
    pub jid: Jid,
    /// The availability detail.
    pub show: Option<Show>,
    /// The status text.
    pub status: Option<String>,
    /// The priority.
    pub priority: i8,
    /// The stanza, for its payloads (capabilities, avatar hash, idle time, delay), copied
    /// out of the read buffer.
    pub element: Element,
}

impl ResourcePresence {
    fn new(jid: &Jid, p: &Presence) -> Self {
        Self {
            jid: jid.clone(),
            show: p.show,
            status: p.status.clone(),
            priority: p.priority,
            // A copy, so that the map does not keep read buffers alive.
            element: p.element.detached(),
        }
    }

    /// How available the resource is, for choosing the best one: `chat` above plain
    /// available above `away`, `xa`, `dnd`.
    fn rank(&self) -> (i8, u8) {
        let show = match self.show {
            Some(Show::Chat) => 4,
            None => 3,
            Some(Show::Away) => 2,
            Some(Show::Xa) => 1,
            Some(Show::Dnd) => 0,
        };
        (self.priority, show)
    }
}

/// The presence map: each contact's available resources.
#[derive(Debug, Default)]
pub struct PresenceMap {
    contacts: super::PeerMap<Jid, Contact>,
    /// Bytes of the stanzas held.
    bytes: usize,
    limits: PresenceLimits,
}

#[derive(Debug, Default)]
struct Contact {
    /// In the roster, or our own account: kept before strangers when the map is full.
    known: bool,
    resources: Vec<ResourcePresence>,
}

/// What a presence stanza did to the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Recorded (available) or removed (unavailable, error).
    Changed,
    /// Not recorded: a bound was reached.
    Full,
    /// Nothing changed (a probe, a subscription stanza, an unknown resource going away).
    Ignored,
}

impl PresenceMap {
    pub(crate) fn new(limits: PresenceLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    // ---- getters ----

    /// The available resources of `contact` (by bare JID), oldest first.
    pub fn resources(&self, contact: &Jid) -> &[ResourcePresence] {
        let found = if contact.is_bare() {
            self.contacts.get(contact)
        } else {
            self.contacts.get(&contact.bare())
        };
        found.map_or(&[], |c| c.resources.as_slice())
    }

    /// The resource of `contact` messages should go to: highest priority, then most
    /// available (RFC 6121 §8.5.2.1.1 leaves the choice to us), then most recent.
    pub fn best(&self, contact: &Jid) -> Option<&ResourcePresence> {
        // `max_by_key` keeps the last of equals: the most recent.
        self.resources(contact).iter().max_by_key(|r| r.rank())
    }

    /// Whether any resource of `contact` is available.
    pub fn is_available(&self, contact: &Jid) -> bool {
        !self.resources(contact).is_empty()
    }

    /// Every contact (bare JID) with an available resource.
    pub fn contacts(&self) -> impl Iterator<Item = &Jid> {
        self.contacts.keys()
    }

    /// Bytes of presence stanzas held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    // ---- the service ----

    /// Records an availability presence; `known` says the sender is in the roster or is our
    /// own account (kept before strangers when the map is full).
    pub(crate) fn apply(&mut self, p: &Presence, known: bool) -> Applied {
        let Some(from) = &p.from else {
            return Applied::Ignored;
        };
        let bare = from.bare();
        match p.kind {
            PresenceType::Available => {}
            // An unavailable or error presence from the bare JID ends every resource.
            PresenceType::Unavailable | PresenceType::Error => {
                let removed = if from.is_bare() {
                    self.remove_contact(&bare)
                } else {
                    self.remove_resource(&bare, from)
                };
                return if removed {
                    Applied::Changed
                } else {
                    Applied::Ignored
                };
            }
            _ => return Applied::Ignored,
        }
        let size = p.element.as_bytes().len();
        // The new presence of a resource replaces the old one: in place when it fits (the
        // common case, one lookup).
        if let Some(contact) = self.contacts.get_mut(&bare) {
            if let Some(held) = contact.resources.iter_mut().find(|r| r.jid == *from) {
                let bytes = self.bytes - held.element.as_bytes().len() + size;
                if bytes <= self.limits.max_bytes {
                    *held = ResourcePresence::new(from, p);
                    self.bytes = bytes;
                    contact.known |= known;
                    return Applied::Changed;
                }
            }
        }
        let replaced = self.remove_resource(&bare, from);
        let refused = if replaced {
            Applied::Changed
        } else {
            Applied::Full
        };
        if !self.contacts.contains_key(&bare)
            && self.contacts.len() >= self.limits.max_contacts
            && !(known && self.evict_stranger())
        {
            return refused;
        }
        while self.bytes + size > self.limits.max_bytes {
            if !(known && self.evict_stranger()) {
                return refused;
            }
        }
        let contact = self.contacts.entry(bare).or_default();
        contact.known |= known;
        if contact.resources.len() >= self.limits.max_resources {
            return refused;
        }
        self.bytes += size;
        contact.resources.push(ResourcePresence::new(from, p));
        Applied::Changed
    }

    /// Forgets everything (the session ended: nobody's presence is known any more).
    pub(crate) fn clear(&mut self) {
        self.contacts.clear();
        self.bytes = 0;
    }

    fn size(contact: &Contact) -> usize {
        contact
            .resources
            .iter()
            .map(|r| r.element.as_bytes().len())
            .sum()
    }

    fn remove_contact(&mut self, bare: &Jid) -> bool {
        match self.contacts.remove(bare) {
            Some(contact) => {
                self.bytes -= Self::size(&contact);
                true
            }
            None => false,
        }
    }

    fn remove_resource(&mut self, bare: &Jid, full: &Jid) -> bool {
        let Some(contact) = self.contacts.get_mut(bare) else {
            return false;
        };
        let Some(i) = contact.resources.iter().position(|r| r.jid == *full) else {
            return false;
        };
        let gone = contact.resources.remove(i);
        self.bytes -= gone.element.as_bytes().len();
        if contact.resources.is_empty() {
            self.contacts.remove(bare);
        }
        true
    }

    /// Drops one stranger's presences; false when there is none.
    fn evict_stranger(&mut self) -> bool {
        let Some(stranger) = self
            .contacts
            .iter()
            .find(|(_, c)| !c.known)
            .map(|(jid, _)| jid.clone())
        else {
            return false;
        };
        self.remove_contact(&stranger)
    }
}

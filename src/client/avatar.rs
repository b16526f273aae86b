//! XEP-0153: vCard-based avatars. Every available presence we send carries the SHA-1 of our
//! photo once we know it (`<photo/>` empty for none, no `<photo/>` before our vCard is
//! fetched); setting our vCard updates it and sends the presence again. A contact's presence
//! announcing a hash we do not hold makes us fetch its vCard (one fetch per contact, bounded
//! and rate-limited), check the photo's SHA-1 against the hash, and only then report and
//! cache it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pep_avatar::{self, AvatarInfo};
use super::rate::TokenBucket;
use super::stanza::Iq;
use super::vcard::{sha1_hex, Photo, VCard, VCardError};
use super::IqError;
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, Element, Node};

/// A verified avatar.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Avatar {
    /// The SHA-1 of `data`, lowercase hex.
    pub hash: String,
    /// The media type (`image/png`...).
    pub mime: String,
    /// The image.
    pub data: Arc<[u8]>,
}

impl Avatar {
    /// An avatar for these bytes (its hash computed).
    pub fn new(mime: impl Into<String>, data: impl Into<Arc<[u8]>>) -> Self {
        let data = data.into();
        Self {
            hash: sha1_hex(&data),
            mime: mime.into(),
            data,
        }
    }
}

impl std::fmt::Debug for Avatar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Avatar({}, {}, {} bytes)",
            self.hash,
            self.mime,
            self.data.len()
        )
    }
}

/// What the avatar service found out about a contact.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AvatarEvent {
    /// The contact's avatar, verified against the hash it announced (from the cache, or
    /// fetched). Store it to hand back in [`AvatarConfig::known`]: the events are the
    /// record, the service's cache is bounded.
    Updated {
        /// The contact (bare JID).
        jid: Jid,
        /// The avatar.
        avatar: Avatar,
    },
    /// The contact has no avatar any more.
    Removed {
        /// The contact.
        jid: Jid,
    },
    /// The images a contact offers over PEP (XEP-0084), every type: the one fetched is
    /// PNG if offered; others (or images elsewhere, by URL) are the application's to fetch.
    Offered {
        /// The contact.
        jid: Jid,
        /// What it offers.
        offered: Vec<AvatarInfo>,
    },
    /// The announced avatar could not be had.
    Failed {
        /// The contact.
        jid: Jid,
        /// The hash it announced.
        hash: String,
        /// Why.
        reason: AvatarFailure,
    },
}

/// Why an announced avatar was not reported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AvatarFailure {
    /// The vCard (or PEP data item) could not be had: a timeout, an error, none, an image
    /// over the limit.
    #[error("the image could not be fetched: {0}")]
    VCard(VCardError),
    /// The vCard has no inline photo.
    #[error("the vCard has no inline photo")]
    NoPhoto,
    /// The photo does not hash to what was announced (or, over PEP, has another size): not
    /// reported, not cached.
    #[error("the photo does not match the announced hash")]
    Mismatch,
    /// Too many fetches are waiting; this one was dropped.
    #[error("too many avatar fetches are waiting")]
    Busy,
}

/// Bounds on what the avatar service holds and asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AvatarLimits {
    /// Contacts whose announced hash is tracked. Default 10,000.
    pub max_contacts: usize,
    /// Avatars cached. Default 256.
    pub max_cached: usize,
    /// Bytes of avatars cached. Default 16 MiB.
    pub max_cached_bytes: usize,
    /// vCard fetches in flight. Default 4.
    pub max_in_flight: usize,
    /// Fetches waiting for their turn. Default 256.
    pub max_deferred: usize,
    /// Fetches sent in a burst. Default 8.
    pub burst: u32,
    /// Then one per this interval. Default 500 ms.
    pub interval: Duration,
}

impl Default for AvatarLimits {
    fn default() -> Self {
        Self {
            max_contacts: 10_000,
            max_cached: 256,
            max_cached_bytes: 16 << 20,
            max_in_flight: 4,
            max_deferred: 256,
            burst: 8,
            interval: Duration::from_millis(500),
        }
    }
}

/// The avatar service's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AvatarConfig {
    /// Announce our avatar's hash (our vCard is fetched once online for it, photo
    /// included) and fetch roster contacts' avatars. Default on.
    pub enabled: bool,
    /// The biggest photo decoded, in bytes; bigger ones are refused
    /// ([`VCardError::PhotoTooLarge`]). Default 1 MiB.
    pub max_photo: usize,
    /// Avatars learned in earlier sessions ([`AvatarEvent::Updated`]); each is checked
    /// against its hash when loaded.
    pub known: Vec<Avatar>,
    /// Bounds.
    pub limits: AvatarLimits,
}

impl Default for AvatarConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_photo: super::vcard::DEFAULT_MAX_PHOTO,
            known: Vec::new(),
            limits: AvatarLimits::default(),
        }
    }
}

/// Our own avatar, as far as we know.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Own {
    /// Our vCard has not been fetched yet: no `<photo/>` (XEP-0153 §4.1).
    Unknown,
    /// No avatar: an empty `<photo/>`.
    None,
    /// This hash.
    Hash(String),
}

#[derive(Debug)]
struct Contact {
    /// What it announced: a hash, or `None` for no avatar.
    announced: Option<String>,
    /// Where the announcement came from, and so where to fetch.
    source: Source,
    /// The fetch for it failed; not asked again for this hash.
    failed: bool,
    queued: bool,
}

/// Where an avatar is announced and fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// XEP-0153: the hash in presence, the photo in the vCard.
    VCard,
    /// XEP-0084: the metadata notification (this image's type and size), the data node.
    Pep {
        /// The media type announced.
        mime: String,
        /// The size announced.
        bytes: Option<usize>,
    },
}

/// What the avatar service asks the client to fetch.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) jid: Jid,
    pub(crate) hash: String,
    pub(crate) source: Source,
}

/// What the avatar service asks the client to do.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) events: Vec<AvatarEvent>,
    pub(crate) fetches: Vec<Fetch>,
}

/// The avatar service's state.
#[derive(Debug)]
pub(crate) struct Avatars {
    own: Own,
    own_vcard: Option<VCard>,
    max_photo: usize,
    limits: AvatarLimits,
    contacts: super::PeerMap<Jid, Contact>,
    in_flight: Vec<(Jid, String)>,
    deferred: VecDeque<Jid>,
    rate: TokenBucket,
    /// Session state: verified avatars by hash, least recently used out.
    cache: HashMap<String, (Avatar, u64)>,
    cached_bytes: usize,
    clock: u64,
}

impl Avatars {
    pub(crate) fn new(config: &AvatarConfig) -> Self {
        let limits = config.limits;
        let mut avatars = Self {
            own: Own::Unknown,
            own_vcard: None,
            max_photo: config.max_photo,
            limits,
            contacts: super::PeerMap::default(),
            in_flight: Vec::new(),
            deferred: VecDeque::new(),
            rate: TokenBucket::new(limits.burst, limits.interval),
            cache: HashMap::new(),
            cached_bytes: 0,
            clock: 0,
        };
        for avatar in &config.known {
            if sha1_hex(&avatar.data) == avatar.hash {
                avatars.remember(avatar.clone());
            } else {
                tracing::debug!(hash = %avatar.hash, "a stored avatar does not match its hash");
            }
        }
        avatars
    }

    /// Adds `<x xmlns='vcard-temp:x:update'/>` to an available presence that has none.
    pub(crate) fn attach(&self, presence: &mut Builder) {
        if presence
            .children()
            .any(|c| c.name() == "x" && c.ns() == ns::VCARD_UPDATE)
        {
            return;
        }
        let x = Builder::new("x", ns::VCARD_UPDATE);
        let x = match &self.own {
            Own::Unknown => x,
            Own::None => x.child(Builder::new("photo", ns::VCARD_UPDATE)),
            Own::Hash(h) => x.text_child("photo", h),
        };
        presence.push(Node::from(x));
    }

    /// Our own vCard, once fetched (`None` before, or when we have none).
    pub(crate) fn own_vcard(&self) -> Option<&VCard> {
        self.own_vcard.as_ref()
    }

    /// Whether our vCard has been fetched (or found missing).
    pub(crate) fn own_known(&self) -> bool {
        self.own != Own::Unknown
    }

    /// Our vCard is known (fetched at login, or just set): whether what we announce changed.
    pub(crate) fn own_vcard_is(&mut self, card: Option<VCard>) -> bool {
        let own = match card.as_ref().and_then(|c| c.photo.as_ref()) {
            Some(Photo::Inline { data, .. }) if !data.is_empty() => Own::Hash(sha1_hex(data)),
            _ => Own::None,
        };
        self.own_vcard = card;
        let changed = own != self.own;
        self.own = own;
        changed
    }

    /// Whether `el` (a presence of another of our resources) announces a photo other than
    /// the one we announce.
    pub(crate) fn differs_from_own(&self, el: &Element) -> bool {
        match (announcement(el), &self.own) {
            (Some(Some(theirs)), Own::Hash(ours)) => theirs != *ours,
            (Some(Some(_)), Own::None) | (Some(None), Own::Hash(_)) => true,
            _ => false,
        }
    }

    /// A verified avatar of `jid`'s, if it announced one we hold.
    pub(crate) fn of(&self, jid: &Jid) -> Option<&Avatar> {
        let hash = self.contacts.get(jid)?.announced.as_ref()?;
        self.cache.get(hash).map(|(a, _)| a)
    }

    pub(crate) fn connection_lost(&mut self) {
        self.contacts.clear();
        self.in_flight.clear();
        self.deferred.clear();
    }

    /// A presence from `from` (a contact's bare JID); `el` may announce its avatar.
    pub(crate) fn on_presence(&mut self, now: Instant, from: &Jid, el: &Element) -> Output {
        let mut out = Output::default();
        if let Some(announced) = announcement(el) {
            self.announce(now, from, announced, Source::VCard, &mut out);
        }
        out
    }

    /// A PEP metadata notification from `from` (XEP-0084): the images it offers.
    pub(crate) fn on_pep_metadata(
        &mut self,
        now: Instant,
        from: &Jid,
        offered: Vec<AvatarInfo>,
    ) -> Output {
        let mut out = Output::default();
        let chosen = pep_avatar::preferred(&offered).cloned();
        if !offered.is_empty() {
            out.events.push(AvatarEvent::Offered {
                jid: from.clone(),
                offered,
            });
        }
        match chosen {
            Some(info) => {
                let source = Source::Pep {
                    mime: info.mime,
                    bytes: info.bytes,
                };
                self.announce(now, from, Some(info.id), source, &mut out);
            }
            None => self.announce(now, from, None, Source::VCard, &mut out),
        }
        out
    }

    fn announce(
        &mut self,
        now: Instant,
        from: &Jid,
        announced: Option<String>,
        source: Source,
        out: &mut Output,
    ) {
        if let Some(contact) = self.contacts.get(from) {
            if contact.announced == announced {
                return;
            }
        } else if self.contacts.len() >= self.limits.max_contacts {
            return;
        }
        let had = self
            .contacts
            .get(from)
            .is_some_and(|c| c.announced.is_some());
        let queued = self.contacts.get(from).is_some_and(|c| c.queued);
        self.contacts.insert(
            from.clone(),
            Contact {
                announced: announced.clone(),
                source,
                failed: false,
                queued,
            },
        );
        let Some(hash) = announced else {
            if had {
                out.events.push(AvatarEvent::Removed { jid: from.clone() });
            }
            return;
        };
        self.clock += 1;
        if let Some((avatar, used)) = self.cache.get_mut(&hash) {
            *used = self.clock;
            out.events.push(AvatarEvent::Updated {
                jid: from.clone(),
                avatar: avatar.clone(),
            });
            return;
        }
        self.schedule(now, from.clone(), hash, out);
    }

    fn schedule(&mut self, now: Instant, jid: Jid, hash: String, out: &mut Output) {
        let busy_with_it = self.in_flight.iter().any(|(j, _)| *j == jid);
        if !busy_with_it && self.deferred.is_empty() && self.may_send(now) {
            self.send(jid, hash, out);
        } else if self.deferred.len() < self.limits.max_deferred {
            if let Some(c) = self.contacts.get_mut(&jid) {
                if c.queued {
                    return;
                }
                c.queued = true;
            }
            self.deferred.push_back(jid);
        } else {
            // Not recorded: the same announcement again is asked again.
            self.contacts.remove(&jid);
            out.events.push(AvatarEvent::Failed {
                jid,
                hash,
                reason: AvatarFailure::Busy,
            });
        }
    }

    /// A fetch that could not be sent (the stream is closing): not in flight after all.
    pub(crate) fn abandon(&mut self, jid: &Jid) {
        self.in_flight.retain(|(j, _)| j != jid);
    }

    fn may_send(&mut self, now: Instant) -> bool {
        self.in_flight.len() < self.limits.max_in_flight.max(1) && self.rate.ready(now)
    }

    fn send(&mut self, jid: Jid, hash: String, out: &mut Output) {
        let source = self
            .contacts
            .get(&jid)
            .map_or(Source::VCard, |c| c.source.clone());
        self.rate.take();
        self.in_flight.push((jid.clone(), hash.clone()));
        out.fetches.push(Fetch { jid, hash, source });
    }

    /// When queued fetches may go out, if any wait for time.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.deferred.is_empty() || self.in_flight.len() >= self.limits.max_in_flight.max(1) {
            return None;
        }
        self.rate.next_token()
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        self.drain(now, &mut out);
        out
    }

    fn drain(&mut self, now: Instant, out: &mut Output) {
        while !self.deferred.is_empty() && self.may_send(now) {
            let Some(jid) = self.deferred.pop_front() else {
                break;
            };
            let Some(contact) = self.contacts.get_mut(&jid) else {
                continue;
            };
            contact.queued = false;
            let Some(hash) = contact.announced.clone().filter(|_| !contact.failed) else {
                continue;
            };
            if self.cache.contains_key(&hash) || self.in_flight.iter().any(|(j, _)| *j == jid) {
                continue;
            }
            self.send(jid, hash, out);
        }
    }

    /// The answer to one of our vCard fetches.
    pub(crate) fn on_fetch(
        &mut self,
        now: Instant,
        fetch: Fetch,
        result: Result<Iq, IqError>,
    ) -> Output {
        let Fetch { jid, hash, source } = fetch;
        let mut out = Output::default();
        let Some(at) = self
            .in_flight
            .iter()
            .position(|(j, h)| *j == jid && *h == hash)
        else {
            return out;
        };
        self.in_flight.swap_remove(at);
        let photo = match source {
            Source::VCard => result
                .map_err(VCardError::from)
                .and_then(|iq| VCard::from_iq_within(&iq, self.max_photo))
                .map_err(AvatarFailure::VCard)
                .and_then(|card| match (card.photo, card.unreadable_photo) {
                    (_, Some(e)) => Err(AvatarFailure::VCard(e)),
                    (Some(Photo::Inline { mime, data }), None) if !data.is_empty() => {
                        Ok(Avatar::new(mime, data))
                    }
                    _ => Err(AvatarFailure::NoPhoto),
                }),
            // XEP-0084 §4.3: the bytes are checked against the hash and the size announced.
            Source::Pep { mime, bytes } => result
                .map_err(VCardError::from)
                .and_then(|iq| pep_avatar::data(&iq, &hash, self.max_photo))
                .map_err(AvatarFailure::VCard)
                .and_then(|data| match bytes {
                    Some(n) if n != data.len() => Err(AvatarFailure::Mismatch),
                    _ if data.is_empty() => Err(AvatarFailure::NoPhoto),
                    _ => Ok(Avatar::new(mime, data)),
                }),
        };
        // What the contact announces now (it may have moved on while we asked).
        let current = self.contacts.get(&jid).and_then(|c| c.announced.clone());
        match photo {
            // Verified against what was asked, or what is announced now.
            Ok(avatar) if avatar.hash == hash || Some(&avatar.hash) == current.as_ref() => {
                self.remember(avatar.clone());
                // Everyone announcing it, in a fixed order.
                let mut announcing: Vec<Jid> = self
                    .contacts
                    .iter()
                    .filter(|(_, c)| c.announced.as_deref() == Some(avatar.hash.as_str()))
                    .map(|(j, _)| j.clone())
                    .collect();
                announcing.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
                for who in announcing {
                    if let Some(c) = self.contacts.get_mut(&who) {
                        c.failed = false;
                    }
                    out.events.push(AvatarEvent::Updated {
                        jid: who,
                        avatar: avatar.clone(),
                    });
                }
            }
            result => {
                let reason = match result {
                    Ok(_) => AvatarFailure::Mismatch,
                    Err(reason) => reason,
                };
                if current.as_deref() == Some(hash.as_str()) {
                    if let Some(contact) = self.contacts.get_mut(&jid) {
                        contact.failed = true;
                    }
                    out.events.push(AvatarEvent::Failed {
                        jid: jid.clone(),
                        hash,
                        reason,
                    });
                }
            }
        }
        // A newer announcement not yet held is asked now.
        if let Some(newer) = current.filter(|h| !self.cache.contains_key(h)) {
            let asked = self.contacts.get(&jid).is_some_and(|c| c.failed);
            if !asked {
                self.schedule(now, jid, newer, &mut out);
            }
        }
        self.drain(now, &mut out);
        out
    }

    fn remember(&mut self, avatar: Avatar) {
        let cost = avatar.data.len() + avatar.hash.len() + avatar.mime.len() + 64;
        if cost > self.limits.max_cached_bytes || self.limits.max_cached == 0 {
            return;
        }
        self.clock += 1;
        let hash = avatar.hash.clone();
        if let Some((old, _)) = self.cache.insert(hash, (avatar, self.clock)) {
            self.cached_bytes -= old.data.len() + old.hash.len() + old.mime.len() + 64;
        }
        self.cached_bytes += cost;
        while self.cache.len() > self.limits.max_cached
            || self.cached_bytes > self.limits.max_cached_bytes
        {
            let Some(oldest) = self
                .cache
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(h, _)| h.clone())
            else {
                break;
            };
            if let Some((old, _)) = self.cache.remove(&oldest) {
                self.cached_bytes -= old.data.len() + old.hash.len() + old.mime.len() + 64;
            }
        }
    }
}

/// What a presence says of the sender's avatar: `Some(Some(hash))`, `Some(None)` for none,
/// `None` when it says nothing (no update element, no `<photo/>`, or not a SHA-1).
fn announcement(el: &Element) -> Option<Option<String>> {
    let x = el.get_child("x", ns::VCARD_UPDATE)?;
    let photo = x.get_child("photo", ns::VCARD_UPDATE)?.text();
    let photo = photo.trim();
    if photo.is_empty() {
        return Some(None);
    }
    let hex = photo.len() == 40 && photo.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| Some(photo.to_ascii_lowercase()))
}

//! Entity capabilities: XEP-0115 (v1.5, `ver` = SHA-1 over a `<`-joined string) and XEP-0390
//! (ecaps2, SHA-256 over a separator-delimited byte string). Our own description is hashed
//! and announced in every available presence we send; others' announcements are resolved
//! with one `disco#info` query per hash, verified by recomputing the hash, and cached only
//! when it matches, so that one contact cannot poison a hash for everyone.
//!
//! Hostile input is bounded everywhere: the cache (entries, bytes), the peers whose caps we
//! track, the queries in flight (at most one per hash), the queries waiting for their turn,
//! and the query rate (a token bucket).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::disco::{DiscoError, DiscoInfo};
use super::forms::FormLimits;
use super::rate::TokenBucket;
use super::stanza::Iq;
use super::IqError;
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, Element, Node};

mod hash;

use self::hash::well_formed;
pub use self::hash::{CapsHash, CapsKey};

/// Bounds on what capabilities resolution may hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapsLimits {
    /// Verified descriptions cached. Default 1,024.
    pub max_entries: usize,
    /// Bytes of verified descriptions cached (about). Default 1 MiB.
    pub max_bytes: usize,
    /// Entities (full JIDs) whose announced caps are tracked. Default 10,000.
    pub max_peers: usize,
    /// `disco#info` queries in flight at once. Default 8.
    pub max_in_flight: usize,
    /// Queries waiting for their turn; beyond that an announcement is not resolved
    /// ([`CapsFailure::Busy`]). Default 256.
    pub max_deferred: usize,
    /// Queries sent in a burst before the rate applies. Default 16.
    pub burst: u32,
    /// Then one query per this interval. Default 250 ms.
    pub interval: Duration,
}

impl Default for CapsLimits {
    fn default() -> Self {
        Self {
            max_entries: 1024,
            max_bytes: 1 << 20,
            max_peers: 10_000,
            max_in_flight: 8,
            max_deferred: 256,
            burst: 16,
            interval: Duration::from_millis(250),
        }
    }
}

/// The capabilities service's configuration.
///
/// Resolving means asking: any entity that sends us an available presence with caps whose
/// hash is not cached gets a `disco#info` query from us, strangers included (a directed
/// presence, a room occupant). Turn the service off where that matters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CapsConfig {
    /// Announce our caps in every available presence we send and resolve those of others.
    /// Default on (needs the discovery service).
    pub enabled: bool,
    /// Our XEP-0115 `node`: a URI naming this software. Default the crate's page.
    pub node: String,
    /// Announce XEP-0390 (SHA-256) beside XEP-0115. Default on.
    pub ecaps2: bool,
    /// Descriptions learned in earlier sessions ([`CapsEvent::Learned`]); each is checked
    /// against its hash when loaded, and dropped if it does not match.
    pub known: Vec<(CapsKey, DiscoInfo)>,
    /// Bounds.
    pub limits: CapsLimits,
}

impl Default for CapsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            node: "https://crates.io/crates/xmpp-sansio".to_owned(),
            ecaps2: true,
            known: Vec::new(),
            limits: CapsLimits::default(),
        }
    }
}

/// What capabilities resolution found out. An entity's caps end without an event when it
/// goes unavailable (or sends an error) from its full JID, or announces none: then
/// [`Client::caps_of`](super::Client::caps_of) says `None`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CapsEvent {
    /// An entity's capabilities are known: from the cache, a verified answer, or (for an
    /// announcement without a hash we can check) its own unverified answer. Reported when
    /// they become known or change, not for every presence.
    Resolved {
        /// The entity (a full JID).
        jid: Jid,
        /// Its description.
        info: Arc<DiscoInfo>,
    },
    /// An entity's announcement could not be resolved.
    Failed {
        /// The entity.
        jid: Jid,
        /// Why.
        reason: CapsFailure,
    },
    /// A verified description entered the cache: store it to hand back in
    /// [`CapsConfig::known`].
    Learned {
        /// Its hash.
        key: CapsKey,
        /// The description.
        info: Arc<DiscoInfo>,
    },
}

/// Why an announcement was not resolved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CapsFailure {
    /// The query got no answer, or one that is not a description.
    #[error("the disco#info query failed: {0}")]
    Query(DiscoError),
    /// The description is ill-formed (XEP-0115 §5.4; the text says how).
    #[error("ill-formed description: {0}")]
    IllFormed(&'static str),
    /// The description does not hash to what the entity announced: not cached, and the
    /// next entity announcing that hash is asked instead.
    #[error("the description does not match the announced hash")]
    Mismatch,
    /// Too many announcements are waiting to be resolved; this one was dropped.
    #[error("too many capabilities queries are waiting")]
    Busy,
}

/// What one announcement asks to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A hash we can verify: resolved once, for everyone announcing it.
    Key(CapsKey),
    /// A legacy announcement (no `hash`) or a hash we cannot check: resolved per entity,
    /// never cached; the `node#ver` to ask.
    Unverified(String),
}

/// A `disco#info` query of the caps service, carried with the request to its response.
#[derive(Debug)]
pub(crate) struct Query {
    target: Target,
    pub(crate) to: Jid,
    pub(crate) node: String,
}

/// Where one entity's announcement stands.
#[derive(Debug)]
enum State {
    /// Not known yet: asked, queued, or dropped while busy (asked again when it announces
    /// the same again).
    Pending,
    /// Its answer was refused (a mismatch, ill-formed, an error): not asked again for this
    /// announcement, though another entity's verified answer still serves it.
    Failed,
    /// Known.
    Resolved(Arc<DiscoInfo>),
}

/// One entity's announcement: what to resolve, the node to ask it for, where it stands.
#[derive(Debug)]
struct Peer {
    announced: Target,
    node: Box<str>,
    state: State,
    /// In `deferred` (checked here rather than by scanning the queue).
    queued: bool,
}

/// A query out: its target and whom it asked. Everyone announcing the target is served by
/// the answer (found in `peers`), so nobody waits here.
#[derive(Debug)]
struct InFlight {
    target: Target,
    asked: Jid,
}

#[derive(Debug)]
struct Entry {
    info: Arc<DiscoInfo>,
    cost: usize,
    used: u64,
}

/// Verified descriptions by hash, bounded in entries and bytes; the least recently used
/// goes first.
#[derive(Debug, Default)]
pub(crate) struct CapsCache {
    by_hash: [HashMap<Box<str>, Entry>; 3],
    bytes: usize,
    clock: u64,
}

impl CapsCache {
    fn len(&self) -> usize {
        self.by_hash.iter().map(HashMap::len).sum()
    }

    fn get(&mut self, hash: CapsHash, ver: &str) -> Option<&Arc<DiscoInfo>> {
        self.clock += 1;
        let entry = self.by_hash[hash.index()].get_mut(ver)?;
        entry.used = self.clock;
        Some(&entry.info)
    }

    fn insert(&mut self, key: &CapsKey, info: Arc<DiscoInfo>, limits: &CapsLimits) -> bool {
        let cost = info.cost() + key.ver.len();
        if cost > limits.max_bytes || limits.max_entries == 0 {
            return false;
        }
        self.clock += 1;
        let old = self.by_hash[key.hash.index()].insert(
            key.ver.as_str().into(),
            Entry {
                info,
                cost,
                used: self.clock,
            },
        );
        self.bytes += cost;
        self.bytes -= old.map_or(0, |o| o.cost);
        while self.len() > limits.max_entries || self.bytes > limits.max_bytes {
            let oldest = self
                .by_hash
                .iter()
                .enumerate()
                .flat_map(|(i, m)| m.iter().map(move |(v, e)| (e.used, i, v)))
                .min_by_key(|(used, _, _)| *used)
                .map(|(_, i, v)| (i, v.clone()));
            let Some((i, ver)) = oldest else { break };
            if let Some(e) = self.by_hash[i].remove(&ver) {
                self.bytes -= e.cost;
            }
        }
        true
    }
}

/// What the caps service asks the client to do.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) events: Vec<CapsEvent>,
    pub(crate) queries: Vec<Query>,
}

/// One of our announcements: the hashes of one description and the nodes that name it.
#[derive(Debug)]
struct Own {
    info: Arc<DiscoInfo>,
    /// The XEP-0115 `ver`.
    ver: String,
    /// The XEP-0390 SHA-256 hash, when announced.
    ecaps2: Option<String>,
    /// The `disco#info` nodes that name this description.
    nodes: Vec<String>,
}

/// Earlier descriptions still answered by their nodes (XEP-0390 §6.1 asks for the last
/// three hash sets): a peer may ask about a presence we sent before a feature change.
const OWN_HISTORY: usize = 3;

/// Longest `node` (and legacy `node#ver`) accepted in an announcement; real ones are URLs
/// of a few dozen bytes, and whatever is accepted is held per entity.
const MAX_NODE: usize = 256;

/// The capabilities service's state.
#[derive(Debug)]
pub(crate) struct Caps {
    node: String,
    ecaps2: bool,
    limits: CapsLimits,
    /// Ours, newest first.
    own: VecDeque<Own>,
    /// Session state: kept when the connection ends.
    cache: CapsCache,
    /// Connection state: who announced what.
    peers: super::PeerMap<Jid, Peer>,
    in_flight: Vec<InFlight>,
    /// Entities whose query waits for the rate or for room in flight.
    deferred: VecDeque<Jid>,
    rate: TokenBucket,
}

impl Caps {
    pub(crate) fn new(config: &CapsConfig, own: &Arc<DiscoInfo>) -> Self {
        let mut limits = config.limits;
        // Zero would never send anything while waking to try.
        limits.max_in_flight = limits.max_in_flight.max(1);
        let node = if crate::xml::escape_attr_value(&mut Vec::new(), &config.node).is_ok() {
            config.node.clone()
        } else {
            tracing::warn!("CapsConfig::node cannot be written in XML: the default is used");
            CapsConfig::default().node
        };
        let mut caps = Self {
            node,
            ecaps2: config.ecaps2,
            limits,
            own: VecDeque::new(),
            cache: CapsCache::default(),
            peers: super::PeerMap::default(),
            in_flight: Vec::new(),
            deferred: VecDeque::new(),
            rate: TokenBucket::new(limits.burst, limits.interval),
        };
        caps.describe(own);
        for (key, info) in &config.known {
            if key.hash.compute(info).as_deref() == Some(key.ver.as_str()) {
                caps.cache.insert(key, Arc::new(info.clone()), &limits);
            } else {
                tracing::debug!(?key, "a stored caps entry does not match its hash: dropped");
            }
        }
        caps
    }

    /// Our description changed (or is first known): recompute what we announce.
    pub(crate) fn describe(&mut self, own: &Arc<DiscoInfo>) {
        if let Err(why) = well_formed(own) {
            tracing::warn!(
                why,
                "our own description is ill-formed: others will not verify our caps"
            );
        }
        let ver = CapsHash::Sha1.hash(own).unwrap_or_default();
        let ecaps2 = self
            .ecaps2
            .then(|| CapsHash::Ecaps2Sha256.hash(own))
            .flatten();
        let mut nodes = vec![CapsHash::Sha1.node(&self.node, &ver)];
        nodes.extend(ecaps2.as_ref().map(|h| CapsHash::Ecaps2Sha256.node("", h)));
        self.own.push_front(Own {
            info: own.clone(),
            ver,
            ecaps2,
            nodes,
        });
        self.own.truncate(OWN_HISTORY);
    }

    /// The description a `disco#info` `node` names: ours now, or one we announced before.
    pub(crate) fn own_for_node(&self, node: &str) -> Option<&Arc<DiscoInfo>> {
        self.own
            .iter()
            .find(|o| o.nodes.iter().any(|n| n == node))
            .map(|o| &o.info)
    }

    /// Adds our announcement to an available presence that has none.
    pub(crate) fn attach(&self, presence: &mut Builder) {
        let Some(own) = self.own.front() else { return };
        let has = |p: &Builder, ns: &str| p.children().any(|c| c.name() == "c" && c.ns() == ns);
        if !has(presence, ns::CAPS) {
            presence.push(Node::from(
                Builder::new("c", ns::CAPS)
                    .attr("hash", CapsHash::Sha1.algo())
                    .attr("node", &self.node)
                    .attr("ver", &own.ver),
            ));
        }
        if let Some(hash) = own.ecaps2.as_ref().filter(|_| !has(presence, ns::CAPS2)) {
            let hash = Builder::new("hash", ns::HASHES)
                .attr("algo", CapsHash::Ecaps2Sha256.algo())
                .text(hash);
            presence.push(Node::from(Builder::new("c", ns::CAPS2).child(hash)));
        }
    }

    /// The description of `jid` (a full JID), if resolved.
    pub(crate) fn of(&self, jid: &Jid) -> Option<&Arc<DiscoInfo>> {
        match &self.peers.get(jid)?.state {
            State::Resolved(info) => Some(info),
            _ => None,
        }
    }

    /// The connection ended: who announced what is no longer known; the cache stays.
    pub(crate) fn connection_lost(&mut self) {
        self.peers.clear();
        self.in_flight.clear();
        self.deferred.clear();
    }

    /// A presence from `from`: an available one announces caps (or none); an unavailable
    /// one (or an error) ends the entity's.
    pub(crate) fn on_presence(
        &mut self,
        now: Instant,
        from: &Jid,
        available: bool,
        el: &Element,
    ) -> Output {
        let mut out = Output::default();
        let announced = if available { announcement(el) } else { None };
        let Some(announced) = announced else {
            self.peers.remove(from);
            return out;
        };
        if let Some(peer) = self.peers.get_mut(from) {
            if same_target(&peer.announced, &announced) {
                // Not news, unless it is still unknown and nobody is on it.
                if !matches!(peer.state, State::Resolved(_)) {
                    self.retry(now, from, &mut out);
                }
                return out;
            }
        } else if self.peers.len() >= self.limits.max_peers {
            out.events.push(CapsEvent::Failed {
                jid: from.clone(),
                reason: CapsFailure::Busy,
            });
            return out;
        }
        let cached = match &announced {
            Announced::Key { hash, ver, .. } => self.cache.get(*hash, ver).cloned(),
            Announced::Unverified { .. } => None,
        };
        let covered = cached.is_some()
            || self.in_flight.iter().any(|f| {
                same_target(&f.target, &announced)
                    && (matches!(f.target, Target::Key(_)) || f.asked == *from)
            });
        // Nothing is held for an announcement that can be neither asked now nor queued.
        let room = self.deferred.len() < self.limits.max_deferred;
        let now_or_later = covered || room || (self.deferred.is_empty() && self.may_send(now));
        if !now_or_later {
            self.peers.remove(from);
            out.events.push(CapsEvent::Failed {
                jid: from.clone(),
                reason: CapsFailure::Busy,
            });
            return out;
        }
        // A resolved entity is not asked anything: its node is not kept.
        let node = match cached {
            Some(_) => Box::default(),
            None => announced.query_node().into_boxed_str(),
        };
        let state = match &cached {
            Some(info) => State::Resolved(info.clone()),
            None => State::Pending,
        };
        let announced = announced.into_owned();
        match self.peers.get_mut(from) {
            // A new announcement from an entity still queued for its last one keeps its
            // place.
            Some(peer) => {
                peer.announced = announced;
                peer.node = node;
                peer.state = state;
            }
            None => {
                let peer = Peer {
                    announced,
                    node,
                    state,
                    queued: false,
                };
                self.peers.insert(from.clone(), peer);
            }
        }
        match cached {
            Some(info) => out.events.push(CapsEvent::Resolved {
                jid: from.clone(),
                info,
            }),
            None if !covered => self.schedule(now, from.clone(), &mut out),
            None => {}
        }
        out
    }

    /// An entity re-announced what is not resolved: serve it from the cache if another
    /// entity's answer got there, or ask again if nothing is under way for it.
    fn retry(&mut self, now: Instant, from: &Jid, out: &mut Output) {
        let Some(peer) = self.peers.get(from) else {
            return;
        };
        if let Target::Key(key) = &peer.announced {
            if let Some(info) = self.cache.get(key.hash, &key.ver).cloned() {
                let target = peer.announced.clone();
                return self.resolve(from, &target, &info, out);
            }
        }
        if matches!(peer.state, State::Pending) && !peer.queued {
            self.schedule(now, from.clone(), out);
        }
    }

    /// Asks `jid` about what it announced now, leaves it to a query in flight for the same
    /// hash, or queues it.
    fn schedule(&mut self, now: Instant, jid: Jid, out: &mut Output) {
        if self.covered(&jid) {
            return;
        }
        if self.deferred.is_empty() && self.may_send(now) {
            self.send(jid, out);
        } else if self.deferred.len() < self.limits.max_deferred {
            if let Some(peer) = self.peers.get_mut(&jid) {
                peer.queued = true;
            }
            self.deferred.push_back(jid);
        } else {
            out.events.push(CapsEvent::Failed {
                jid,
                reason: CapsFailure::Busy,
            });
        }
    }

    /// Whether a query in flight will resolve `jid`'s announcement: one for the same hash,
    /// or (unverifiable announcements) one to `jid` itself.
    fn covered(&self, jid: &Jid) -> bool {
        let Some(peer) = self.peers.get(jid) else {
            return true;
        };
        self.in_flight.iter().any(|f| {
            f.target == peer.announced && (matches!(f.target, Target::Key(_)) || f.asked == *jid)
        })
    }

    fn may_send(&mut self, now: Instant) -> bool {
        self.in_flight.len() < self.limits.max_in_flight && self.rate.ready(now)
    }

    fn send(&mut self, jid: Jid, out: &mut Output) {
        let Some(peer) = self.peers.get(&jid) else {
            return;
        };
        self.rate.take();
        let (target, node) = (peer.announced.clone(), peer.node.to_string());
        self.in_flight.push(InFlight {
            target: target.clone(),
            asked: jid.clone(),
        });
        out.queries.push(Query {
            target,
            to: jid,
            node,
        });
    }

    /// A query that could not be sent (the stream is closing): not in flight after all.
    pub(crate) fn abandon(&mut self, jid: &Jid) {
        self.in_flight.retain(|f| f.asked != *jid);
    }

    /// When queued queries may go out, if any wait for time (not for answers).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.deferred.is_empty() || self.in_flight.len() >= self.limits.max_in_flight {
            return None;
        }
        self.rate.next_token()
    }

    /// Sends what the rate and the queries in flight allow of the queue.
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
            // The entity may have gone, been resolved meanwhile, or be covered by a query
            // sent since.
            let Some(peer) = self.peers.get_mut(&jid) else {
                continue;
            };
            peer.queued = false;
            let pending = matches!(peer.state, State::Pending);
            let target = peer.announced.clone();
            if !pending || self.covered(&jid) {
                continue;
            }
            if let Target::Key(key) = &target {
                if let Some(info) = self.cache.get(key.hash, &key.ver).cloned() {
                    self.resolve(&jid, &target, &info, out);
                    continue;
                }
            }
            self.send(jid, out);
        }
    }

    fn resolve(&mut self, jid: &Jid, target: &Target, info: &Arc<DiscoInfo>, out: &mut Output) {
        if let Some(peer) = self.peers.get_mut(jid).filter(|p| p.announced == *target) {
            peer.state = State::Resolved(info.clone());
            out.events.push(CapsEvent::Resolved {
                jid: jid.clone(),
                info: info.clone(),
            });
        }
    }

    /// The answer to one of our queries.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        query: Query,
        result: Result<Iq, IqError>,
        limits: &FormLimits,
    ) -> Output {
        let mut out = Output::default();
        let Some(at) = self
            .in_flight
            .iter()
            .position(|f| f.target == query.target && f.asked == query.to)
        else {
            return out;
        };
        let flight = self.in_flight.swap_remove(at);
        let checked = result
            .map_err(|e| CapsFailure::Query(DiscoError::Request(e)))
            .and_then(|iq| DiscoInfo::from_iq_within(&iq, limits).map_err(CapsFailure::Query))
            .and_then(|info| {
                well_formed(&info).map_err(CapsFailure::IllFormed)?;
                match &flight.target {
                    Target::Key(key) if key.hash.hash(&info).as_deref() != Some(&key.ver) => {
                        Err(CapsFailure::Mismatch)
                    }
                    _ => Ok(Arc::new(info)),
                }
            });
        match (checked, &flight.target) {
            (Ok(info), Target::Key(key)) => {
                if self.cache.insert(key, info.clone(), &self.limits) {
                    out.events.push(CapsEvent::Learned {
                        key: key.clone(),
                        info: info.clone(),
                    });
                }
                // Everyone announcing it, in the order they are found.
                let mut announcing: Vec<Jid> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.announced == flight.target)
                    .filter(|(_, p)| !matches!(p.state, State::Resolved(_)))
                    .map(|(j, _)| j.clone())
                    .collect();
                // In a fixed order: the same input gives the same events.
                announcing.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
                for jid in announcing {
                    self.resolve(&jid, &flight.target, &info, &mut out);
                }
            }
            (Ok(info), Target::Unverified(_)) => {
                self.resolve(&flight.asked, &flight.target, &info, &mut out)
            }
            (Err(reason), _) => {
                // Reported only if the entity still announces what was asked.
                let asked = self
                    .peers
                    .get_mut(&flight.asked)
                    .filter(|p| p.announced == flight.target);
                if let Some(peer) = asked {
                    peer.state = State::Failed;
                    tracing::debug!(jid = %flight.asked, %reason, "caps not resolved");
                    out.events.push(CapsEvent::Failed {
                        jid: flight.asked.clone(),
                        reason,
                    });
                }
                // XEP-0115 §5.4: another entity announcing the same hash may answer
                // truthfully; ask it (with its own node).
                if matches!(flight.target, Target::Key(_)) {
                    let next = self
                        .peers
                        .iter()
                        .filter(|(j, p)| {
                            p.announced == flight.target
                                && matches!(p.state, State::Pending)
                                && **j != flight.asked
                        })
                        .map(|(j, _)| j)
                        .min_by(|a, b| a.as_str().cmp(b.as_str()))
                        .cloned();
                    if let Some(next) = next {
                        self.schedule(now, next, &mut out);
                    }
                }
            }
        }
        self.drain(now, &mut out);
        out
    }
}

/// What a presence announces, borrowed from it: compared with what the entity announced
/// before without copying anything.
enum Announced<'a> {
    /// A hash we implement; `node` is XEP-0115's (XEP-0390 has none).
    Key {
        hash: CapsHash,
        ver: Cow<'a, str>,
        node: Option<Cow<'a, str>>,
    },
    /// Legacy caps or a hash we do not implement.
    Unverified {
        node: Cow<'a, str>,
        ver: Cow<'a, str>,
    },
}

impl Announced<'_> {
    /// The `disco#info` node to ask.
    fn query_node(&self) -> String {
        match self {
            Announced::Key { hash, ver, node } => hash.node(node.as_deref().unwrap_or(""), ver),
            Announced::Unverified { node, ver } => format!("{node}#{ver}"),
        }
    }

    fn into_owned(self) -> Target {
        match self {
            Announced::Key { hash, ver, .. } => Target::Key(CapsKey::new(hash, ver.into_owned())),
            Announced::Unverified { node, ver } => Target::Unverified(format!("{node}#{ver}")),
        }
    }
}

fn same_target(known: &Target, announced: &Announced<'_>) -> bool {
    match (known, announced) {
        (Target::Key(k), Announced::Key { hash, ver, .. }) => k.hash == *hash && k.ver == *ver,
        (Target::Unverified(known), Announced::Unverified { node, ver }) => {
            known
                .strip_prefix(node.as_ref())
                .and_then(|rest| rest.strip_prefix('#'))
                == Some(ver.as_ref())
        }
        _ => false,
    }
}

/// Whether `ver` can be a base64 hash of this scheme (anything else is refused before it
/// is held anywhere).
fn plausible(hash: CapsHash, ver: &str) -> bool {
    let len = match hash {
        CapsHash::Sha1 => 28,
        CapsHash::Ecaps2Sha256 | CapsHash::Ecaps2Sha3_256 => 44,
    };
    ver.len() == len
        && ver
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// What a presence announces: XEP-0390 first (a stronger hash), then XEP-0115 with SHA-1,
/// then an announcement we cannot verify. Oversized or implausible announcements count as
/// none.
fn announcement(el: &Element) -> Option<Announced<'_>> {
    let mut caps1 = None;
    let mut ecaps2 = None;
    for c in el.children().filter(|c| c.name() == "c") {
        match c.ns() {
            ns::CAPS => caps1 = Some(c),
            ns::CAPS2 => ecaps2 = Some(c),
            _ => {}
        }
    }
    if let Some(c) = ecaps2 {
        let best = c
            .children()
            .filter(|h| h.is("hash", ns::HASHES))
            .filter_map(|h| {
                let hash = CapsHash::ecaps2(&h.attr("algo")?)?;
                let ver = match h.text() {
                    Cow::Borrowed(t) => Cow::Borrowed(t.trim()),
                    Cow::Owned(t) => Cow::Owned(t.trim().to_owned()),
                };
                plausible(hash, &ver).then_some((hash, ver))
            })
            .min_by_key(|(hash, _)| *hash);
        if let Some((hash, ver)) = best {
            return Some(Announced::Key {
                hash,
                ver,
                node: None,
            });
        }
    }
    // One pass over the attributes: this runs for every presence.
    let (mut node, mut ver, mut hash) = (None, None, None);
    for a in caps1?.attrs().filter(|a| a.ns().is_empty()) {
        match a.name() {
            "node" => node = Some(a.value()),
            "ver" => ver = Some(a.value()),
            "hash" => hash = Some(a.value()),
            _ => {}
        }
    }
    let (node, ver) = (node?, ver?);
    if node.len() + ver.len() >= MAX_NODE {
        return None;
    }
    match hash.as_deref() {
        Some("sha-1") if plausible(CapsHash::Sha1, &ver) => Some(Announced::Key {
            hash: CapsHash::Sha1,
            ver,
            node: Some(node),
        }),
        Some("sha-1") => None,
        // Legacy caps (no hash) or a hash we do not implement: asked per entity.
        _ => Some(Announced::Unverified { node, ver }),
    }
}

//! Typed views of received stanzas (RFC 6120 §8, RFC 6121 §4–5), stanza errors (RFC 6120
//! §8.3) and stream errors (RFC 6120 §4.9).
//!
//! [`Message`], [`Presence`] and [`Iq`] read the header attributes and the common children of
//! a received [`Element`] and keep the element for everything else. Parsing is strict about
//! addresses, which drive security decisions (a `from` that is not a valid JID is an error),
//! and lenient about everything else: an unknown message type is `normal`, a bad priority is
//! 0, an unknown error condition is `undefined-condition`.
//!
//! [`StanzaError`] and [`StreamError`] are both parsed from received elements and serialized
//! for sending.

mod error;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use bytestring::ByteString;

use crate::jid::{Jid, JidError};
use crate::ns;
use crate::xml::{Attribute, Builder, Element, ElementRef};

pub use crate::stream_error::StreamError;
pub(crate) use error::xml_safe;
pub use error::{ErrorType, StanzaError, StanzaErrorCondition};

// ---------------------------------------------------------------------------------------------
// Header enums
// ---------------------------------------------------------------------------------------------

/// The `type` of a message (RFC 6121 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageType {
    /// `chat`: a one-to-one conversation.
    Chat,
    /// `error`: an error about a message sent earlier.
    Error,
    /// `groupchat`: a multi-user chat room message.
    Groupchat,
    /// `headline`: an alert or notification that expects no reply.
    Headline,
    /// `normal`: a standalone message; also the type of a message without `type` or with a
    /// type this crate does not know (RFC 6121 §5.2.2).
    #[default]
    Normal,
}

impl MessageType {
    /// The attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Error => "error",
            MessageType::Groupchat => "groupchat",
            MessageType::Headline => "headline",
            MessageType::Normal => "normal",
        }
    }

    /// The type with this attribute value, if it is one of RFC 6121's.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "chat" => MessageType::Chat,
            "error" => MessageType::Error,
            "groupchat" => MessageType::Groupchat,
            "headline" => MessageType::Headline,
            "normal" => MessageType::Normal,
            _ => return None,
        })
    }

    /// The type of a message whose `type` attribute is `value`: absent or unknown is
    /// [`MessageType::Normal`] (RFC 6121 §5.2.2).
    pub fn from_attr(value: Option<&str>) -> Self {
        value.and_then(Self::from_name).unwrap_or_default()
    }
}

/// The `type` of a presence stanza (RFC 6121 §4.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PresenceType {
    /// No `type` attribute: the sender is available.
    #[default]
    Available,
    /// `unavailable`: the sender is no longer available.
    Unavailable,
    /// `subscribe`: the sender asks to subscribe to the recipient's presence.
    Subscribe,
    /// `subscribed`: the sender allowed the recipient to subscribe.
    Subscribed,
    /// `unsubscribe`: the sender unsubscribes from the recipient's presence.
    Unsubscribe,
    /// `unsubscribed`: the sender denied or cancelled the recipient's subscription.
    Unsubscribed,
    /// `probe`: a request for the recipient's current presence (normally server-generated).
    Probe,
    /// `error`: an error about a presence stanza sent earlier.
    Error,
}

impl PresenceType {
    /// The `type` attribute's value; `None` for [`PresenceType::Available`], which is the
    /// absence of the attribute.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            PresenceType::Available => return None,
            PresenceType::Unavailable => "unavailable",
            PresenceType::Subscribe => "subscribe",
            PresenceType::Subscribed => "subscribed",
            PresenceType::Unsubscribe => "unsubscribe",
            PresenceType::Unsubscribed => "unsubscribed",
            PresenceType::Probe => "probe",
            PresenceType::Error => "error",
        })
    }

    /// The type with this attribute value, if it is one of RFC 6121's. There is no value
    /// for [`PresenceType::Available`] (it is the absence of the attribute).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "unavailable" => PresenceType::Unavailable,
            "subscribe" => PresenceType::Subscribe,
            "subscribed" => PresenceType::Subscribed,
            "unsubscribe" => PresenceType::Unsubscribe,
            "unsubscribed" => PresenceType::Unsubscribed,
            "probe" => PresenceType::Probe,
            "error" => PresenceType::Error,
            _ => return None,
        })
    }

    /// The type of a presence whose `type` attribute is `value`: absent is
    /// [`PresenceType::Available`], an unknown value `None`.
    pub fn from_attr(value: Option<&str>) -> Option<Self> {
        match value {
            None => Some(PresenceType::Available),
            Some(v) => Self::from_name(v),
        }
    }
}

/// The `type` of an IQ stanza (RFC 6120 §8.2.3); it is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    /// `get`: a request for information.
    Get,
    /// `set`: a request to change something.
    Set,
    /// `result`: the successful response to a `get` or `set`.
    Result,
    /// `error`: the failed response to a `get` or `set`.
    Error,
}

impl IqType {
    /// The attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    /// The type with this attribute value, if it is one of RFC 6120's.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "result" => IqType::Result,
            "error" => IqType::Error,
            _ => return None,
        })
    }

    /// Whether this is a request (`get` or `set`), which must be answered.
    pub fn is_request(&self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

/// The `<show/>` of an available presence (RFC 6121 §4.7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Show {
    /// `away`: temporarily away.
    Away,
    /// `chat`: actively interested in chatting.
    Chat,
    /// `dnd`: busy, do not disturb.
    Dnd,
    /// `xa`: away for an extended period.
    Xa,
}

impl Show {
    /// The element text.
    pub fn name(&self) -> &'static str {
        match self {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        }
    }

    /// The value with this element text, if it is one of RFC 6121's.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "away" => Show::Away,
            "chat" => Show::Chat,
            "dnd" => Show::Dnd,
            "xa" => Show::Xa,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Received stanzas
// ---------------------------------------------------------------------------------------------

/// Why an element could not be read as a stanza.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StanzaParseError {
    /// The `from` or `to` attribute is not a valid JID.
    #[error("invalid '{attr}' address: {error}")]
    InvalidJid {
        /// The attribute: `"from"` or `"to"`.
        attr: &'static str,
        /// Why the value is not a JID.
        error: JidError,
    },
    /// An IQ stanza without the required `id` attribute.
    #[error("IQ stanza without an 'id'")]
    MissingId,
    /// An IQ stanza whose `type` is missing (the string is then empty) or not one of
    /// `get`, `set`, `result`, `error`.
    #[error("invalid IQ type '{0}'")]
    InvalidIqType(String),
    /// A presence stanza whose `type` is not one RFC 6121 defines. Such a presence has no
    /// meaning this crate could act on; treating it as "available" would be wrong.
    #[error("invalid presence type '{0}'")]
    InvalidPresenceType(String),
    /// The element is not the expected `<message/>`, `<presence/>` or `<iq/>` in the
    /// `jabber:client` namespace.
    #[error("not a stanza")]
    NotAStanza,
}

/// The header attributes common to all stanzas.
struct Header<'a> {
    from: Option<Jid>,
    to: Option<Jid>,
    id: Option<ByteString>,
    kind: Option<Cow<'a, str>>,
}

/// Recently parsed JIDs. Senders repeat (and `to` is nearly always our own JID), while
/// RFC 7622 normalization is the costly part of reading a stanza.
///
/// Two generations: entries go into `recent`; when it is full it becomes `older` (the
/// generation before is dropped), and a hit in `older` moves the entry back. Hot senders
/// stay however many others pass through, and at most `2 × GENERATION` entries are held. A
/// key is the JID's own shared text when the attribute was already normalized (almost
/// always), so an entry costs no allocation beyond the JID.
#[derive(Debug, Default)]
pub(crate) struct JidCache {
    recent: JidMap,
    older: JidMap,
}

/// Keyed by the text as received.
type JidMap = super::PeerMap<Arc<str>, Jid>;

impl JidCache {
    /// Entries per generation: two hold the senders of a busy account (the inbound corpus
    /// has ~2,600) at about 100 bytes each.
    const GENERATION: usize = 2048;
    /// Longer JIDs (rare, and a way to make the cache hold megabytes) are not cached.
    const LONGEST: usize = 256;

    pub(crate) fn parse(&mut self, s: &str) -> Result<Jid, crate::jid::JidError> {
        match self.lookup(s) {
            Some(jid) => Ok(jid),
            None => self.parse_new(s),
        }
    }

    fn lookup(&mut self, s: &str) -> Option<Jid> {
        if let Some(jid) = self.recent.get(s) {
            return Some(jid.clone());
        }
        let (key, jid) = self.older.remove_entry(s)?;
        self.insert(key, jid.clone());
        Some(jid)
    }

    fn parse_new(&mut self, s: &str) -> Result<Jid, crate::jid::JidError> {
        let jid = Jid::parse(s)?;
        if s.len() <= Self::LONGEST {
            let key = match jid.shared_text() {
                Some(text) if &*text == s => text,
                _ => Arc::from(s),
            };
            self.insert(key, jid.clone());
        }
        Ok(jid)
    }

    fn insert(&mut self, key: Arc<str>, jid: Jid) {
        if self.recent.len() >= Self::GENERATION {
            self.older = std::mem::take(&mut self.recent);
        }
        self.recent.insert(key, jid);
    }
}

/// The JID in attribute `a` (named `attr`), through the cache when there is one.
fn jid_value(
    a: &Attribute<'_>,
    attr: &'static str,
    cache: &mut Option<&mut JidCache>,
) -> Result<Jid, StanzaParseError> {
    let value = a.value();
    let parsed = match cache {
        Some(cache) => cache.parse(&value),
        None => Jid::parse(&value),
    };
    parsed.map_err(|error| StanzaParseError::InvalidJid { attr, error })
}

/// The stanza's header attributes, in one pass over its attributes.
fn header<'a>(
    el: &'a Element,
    name: &str,
    mut cache: Option<&mut JidCache>,
) -> Result<Header<'a>, StanzaParseError> {
    if !el.is(name, ns::JABBER_CLIENT) {
        return Err(StanzaParseError::NotAStanza);
    }
    let mut h = Header {
        from: None,
        to: None,
        id: None,
        kind: None,
    };
    // The parser refuses duplicate attributes, so each name is seen once at most.
    for a in el.as_ref().attrs().filter(|a| a.ns().is_empty()) {
        match a.name() {
            "from" => h.from = Some(jid_value(&a, "from", &mut cache)?),
            "to" => h.to = Some(jid_value(&a, "to", &mut cache)?),
            "id" => h.id = Some(a.value_shared()),
            "type" => h.kind = Some(a.value()),
            _ => {}
        }
    }
    Ok(h)
}

/// Language tags are compared case-insensitively (RFC 5646 §2.1.1).
fn lang_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The child `name` in `ns` for the reader's language: the first one without its own
/// `xml:lang` or with `xml:lang` equal to `lang`, else the first one.
pub(crate) fn child_for_lang<'a>(
    el: ElementRef<'a>,
    name: &str,
    ns: &str,
    lang: Option<&str>,
) -> Option<ElementRef<'a>> {
    let mut first = None;
    for child in el.children().filter(|c| c.is(name, ns)) {
        match child.attr_ns("lang", ns::XML) {
            None => return Some(child),
            Some(l) if lang.is_some_and(|lang| lang_eq(lang, &l)) => return Some(child),
            Some(_) => {}
        }
        first.get_or_insert(child);
    }
    first
}

/// The `<error/>` child of a stanza of type `error`; if the sender left it out, an
/// `undefined-condition` error.
fn stanza_error_child(el: &Element) -> StanzaError {
    match el.get_child("error", ns::JABBER_CLIENT) {
        Some(e) => StanzaError::from_element(e),
        None => StanzaError::new(ErrorType::Cancel, StanzaErrorCondition::UndefinedCondition),
    }
}

/// A received `<message/>` (RFC 6121 §5).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Message {
    /// The sender; absent means the user's own account (RFC 6120 §8.1.2.1).
    pub from: Option<Jid>,
    /// The recipient.
    pub to: Option<Jid>,
    /// The stanza id. It is a view of the stanza's bytes (no allocation), so keeping it
    /// keeps the read block alive: keep `id.to_string()` for long.
    pub id: Option<ByteString>,
    /// The message type.
    pub kind: MessageType,
    /// For a copy of a message another of our resources sent or received (XEP-0280): which.
    /// The addressing and `element` are then the inner message's.
    pub carbon: Option<super::carbons::Carbon>,
    /// The whole element, for extension payloads.
    pub element: Element,
}

impl Message {
    /// Reads a `<message/>` in `jabber:client`.
    pub fn from_element(el: Element) -> Result<Self, StanzaParseError> {
        Self::read(el, None)
    }

    pub(crate) fn read(el: Element, jids: Option<&mut JidCache>) -> Result<Self, StanzaParseError> {
        let h = header(&el, "message", jids)?;
        Ok(Self {
            from: h.from,
            to: h.to,
            id: h.id,
            kind: MessageType::from_attr(h.kind.as_deref()),
            carbon: None,
            element: el,
        })
    }

    /// The language of the content: `xml:lang` of the stanza, else of the stream.
    pub fn lang(&self) -> Option<Cow<'_, str>> {
        self.element.lang()
    }

    /// The body in the message's language: the first `<body/>` without its own `xml:lang`
    /// or with the stanza's language, else the first `<body/>`.
    pub fn body(&self) -> Option<Cow<'_, str>> {
        self.localized("body")
    }

    /// The subject, chosen among several as [`Message::body`] is.
    pub fn subject(&self) -> Option<Cow<'_, str>> {
        self.localized("subject")
    }

    /// The `<thread/>` identifier.
    pub fn thread(&self) -> Option<Cow<'_, str>> {
        self.element
            .get_child("thread", ns::JABBER_CLIENT)
            .map(|t| t.text())
    }

    /// For a message of type `error`, the error (`undefined-condition` if the sender sent
    /// none); `None` for other types.
    pub fn error(&self) -> Option<StanzaError> {
        (self.kind == MessageType::Error).then(|| stanza_error_child(&self.element))
    }

    fn localized(&self, name: &str) -> Option<Cow<'_, str>> {
        let lang = self.lang();
        child_for_lang(
            self.element.as_ref(),
            name,
            ns::JABBER_CLIENT,
            lang.as_deref(),
        )
        .map(|c| c.text())
    }
}

/// A received `<presence/>` (RFC 6121 §4).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Presence {
    /// The sender.
    pub from: Option<Jid>,
    /// The recipient.
    pub to: Option<Jid>,
    /// The stanza id. It is a view of the stanza's bytes (no allocation), so keeping it
    /// keeps the read block alive: keep `id.to_string()` for long.
    pub id: Option<ByteString>,
    /// The presence type.
    pub kind: PresenceType,
    /// The `<show/>` value; `None` when absent or not one of RFC 6121's (plain available).
    pub show: Option<Show>,
    /// The `<status/>` text in the stanza's language (chosen as [`Message::body`] is).
    pub status: Option<String>,
    /// The `<priority/>`, -128 to 127; 0 when absent, not a number or out of range.
    pub priority: i8,
    /// The whole element, for extension payloads.
    pub element: Element,
}

impl Presence {
    /// Reads a `<presence/>` in `jabber:client`.
    pub fn from_element(el: Element) -> Result<Self, StanzaParseError> {
        Self::read(el, None)
    }

    /// The language of the content: `xml:lang` of the stanza, else of the stream.
    pub fn lang(&self) -> Option<Cow<'_, str>> {
        self.element.lang()
    }

    pub(crate) fn read(el: Element, jids: Option<&mut JidCache>) -> Result<Self, StanzaParseError> {
        let h = header(&el, "presence", jids)?;
        let type_attr = h.kind;
        let kind = PresenceType::from_attr(type_attr.as_deref()).ok_or_else(|| {
            StanzaParseError::InvalidPresenceType(type_attr.as_deref().unwrap_or("").to_owned())
        })?;
        // One pass over the children for the first <show/> and <priority/>, and whether
        // there is a <status/> to choose among.
        let (mut show_el, mut priority_el, mut any_status) = (None, None, false);
        for child in el.children() {
            if child.is("show", ns::JABBER_CLIENT) {
                show_el = show_el.or(Some(child));
            } else if child.is("priority", ns::JABBER_CLIENT) {
                priority_el = priority_el.or(Some(child));
            } else if child.is("status", ns::JABBER_CLIENT) {
                any_status = true;
            }
        }
        let show = show_el.and_then(|s| Show::from_name(s.text().trim()));
        let status = if any_status {
            let lang = el.lang();
            child_for_lang(el.as_ref(), "status", ns::JABBER_CLIENT, lang.as_deref())
                .map(|s| s.text().into_owned())
        } else {
            None
        };
        let priority = priority_el
            .and_then(|p| p.text().trim().parse::<i8>().ok())
            .unwrap_or(0);
        Ok(Self {
            from: h.from,
            to: h.to,
            id: h.id,
            kind,
            show,
            status,
            priority,
            element: el,
        })
    }

    /// For a presence of type `error`, the error (`undefined-condition` if the sender sent
    /// none); `None` for other types.
    pub fn error(&self) -> Option<StanzaError> {
        (self.kind == PresenceType::Error).then(|| stanza_error_child(&self.element))
    }
}

/// A received `<iq/>` (RFC 6120 §8.2.3).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Iq {
    /// The sender; absent means the user's own account or the server answering for it.
    pub from: Option<Jid>,
    /// The recipient.
    pub to: Option<Jid>,
    /// The stanza id (required for IQs), used to match responses to requests. A view of the
    /// stanza's bytes, like [`Message::id`].
    pub id: ByteString,
    /// The IQ type.
    pub kind: IqType,
    /// The whole element.
    pub element: Element,
}

impl Iq {
    /// Reads an `<iq/>` in `jabber:client`; `id` and a valid `type` are required.
    pub fn from_element(el: Element) -> Result<Self, StanzaParseError> {
        Self::read(el, None)
    }

    pub(crate) fn read(el: Element, jids: Option<&mut JidCache>) -> Result<Self, StanzaParseError> {
        let h = header(&el, "iq", jids)?;
        let id = h.id.ok_or(StanzaParseError::MissingId)?;
        let type_attr = h.kind;
        let kind = type_attr
            .as_deref()
            .and_then(IqType::from_name)
            .ok_or_else(|| {
                StanzaParseError::InvalidIqType(type_attr.as_deref().unwrap_or("").to_owned())
            })?;
        Ok(Self {
            from: h.from,
            to: h.to,
            id,
            kind,
            element: el,
        })
    }

    /// The payload: the first child element, not counting the `<error/>` of an IQ of type
    /// `error` (which may echo the request's payload).
    pub fn payload(&self) -> Option<ElementRef<'_>> {
        let is_error = self.kind == IqType::Error;
        self.element
            .children()
            .find(|c| !(is_error && c.is("error", ns::JABBER_CLIENT)))
    }

    /// For an IQ of type `error`, the error (`undefined-condition` if the sender sent
    /// none); `None` for other types.
    pub fn error(&self) -> Option<StanzaError> {
        (self.kind == IqType::Error).then(|| stanza_error_child(&self.element))
    }

    /// The `result` that answers this request: addressed to its sender, with its id, and
    /// `payload` if any. The reply owns everything it needs, so it can be sent later.
    ///
    /// ```
    /// # use xmpp_sansio::client::stanza::Iq;
    /// # use xmpp_sansio::{ns, xml::Builder};
    /// # fn answer(iq: &Iq) {
    /// let reply = iq.result_reply(Some(Builder::new("query", ns::DISCO_INFO)));
    /// # }
    /// ```
    pub fn result_reply(&self, payload: Option<Builder>) -> Builder {
        let reply = Builder::new("iq", ns::JABBER_CLIENT)
            .attr("type", Cow::Borrowed(IqType::Result.name()))
            .attr("id", &self.id)
            .attr_opt("to", self.from.as_ref());
        match payload {
            Some(p) => reply.child(p),
            None => reply,
        }
    }

    /// The `error` that answers this request (RFC 6120 §8.2.3): addressed to its sender,
    /// with its id.
    ///
    /// ```
    /// # use xmpp_sansio::client::stanza::{Iq, StanzaErrorCondition};
    /// # fn refuse(iq: &Iq) {
    /// let reply = iq.error_reply(StanzaErrorCondition::ItemNotFound);
    /// # }
    /// ```
    pub fn error_reply(&self, error: impl Into<StanzaError>) -> Builder {
        error::error_reply(self, &error.into())
    }
}

/// A presence to send (RFC 6121 §4): available (with show, status, priority), unavailable,
/// directed, or one of the subscription types. It turns into a [`Builder`] for
/// [`Client::send_presence`](super::Client::send_presence), which adds what the enabled
/// services announce (capabilities, avatar hash).
///
/// ```
/// use xmpp_sansio::client::stanza::{OutgoingPresence, Show};
/// use xmpp_sansio::{ns, xml::Builder};
///
/// let away = OutgoingPresence::available()
///     .show(Show::Away)
///     .status("at lunch")
///     .priority(5);
/// assert_eq!(
///     &Builder::from(away).to_bytes(ns::JABBER_CLIENT)?[..],
///     b"<presence><show>away</show><status>at lunch</status><priority>5</priority></presence>"
/// );
/// let ask = OutgoingPresence::subscribe(&"romeo@example.net".parse()?);
/// assert_eq!(
///     &Builder::from(ask).to_bytes(ns::JABBER_CLIENT)?[..],
///     b"<presence to='romeo@example.net' type='subscribe'/>"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct OutgoingPresence {
    kind: PresenceType,
    to: Option<Jid>,
    id: Option<String>,
    show: Option<Show>,
    status: Option<(String, Option<String>)>,
    priority: Option<i8>,
    payloads: Vec<Builder>,
}

impl OutgoingPresence {
    fn new(kind: PresenceType, to: Option<&Jid>) -> Self {
        Self {
            kind,
            to: to.cloned(),
            id: None,
            show: None,
            status: None,
            priority: None,
            payloads: Vec::new(),
        }
    }

    /// Available, to everyone subscribed (broadcast by the server).
    pub fn available() -> Self {
        Self::new(PresenceType::Available, None)
    }

    /// Unavailable: going offline (broadcast), or to one entity with [`Self::to`].
    pub fn unavailable() -> Self {
        Self::new(PresenceType::Unavailable, None)
    }

    /// Asks `to` for a subscription to its presence (RFC 6121 §3.1). The bare JID is used.
    pub fn subscribe(to: &Jid) -> Self {
        Self::new(PresenceType::Subscribe, Some(&to.bare()))
    }

    /// Approves `to`'s subscription request, or pre-approves one (RFC 6121 §3.1.4, §3.4).
    pub fn subscribed(to: &Jid) -> Self {
        Self::new(PresenceType::Subscribed, Some(&to.bare()))
    }

    /// Unsubscribes from `to`'s presence (RFC 6121 §3.3).
    pub fn unsubscribe(to: &Jid) -> Self {
        Self::new(PresenceType::Unsubscribe, Some(&to.bare()))
    }

    /// Denies `to`'s subscription request, or cancels its subscription (RFC 6121 §3.2).
    pub fn unsubscribed(to: &Jid) -> Self {
        Self::new(PresenceType::Unsubscribed, Some(&to.bare()))
    }

    /// Directed presence (RFC 6121 §4.6): to this entity only.
    pub fn to(mut self, to: &Jid) -> Self {
        self.to = Some(to.clone());
        self
    }

    /// The stanza id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The availability detail (`<show/>`) of an available presence.
    pub fn show(mut self, show: Show) -> Self {
        self.show = Some(show);
        self
    }

    /// Human-readable status text.
    pub fn status(mut self, text: impl Into<String>) -> Self {
        self.status = Some((text.into(), None));
        self
    }

    /// Status text in a language other than the stream's (`xml:lang`).
    pub fn status_in(mut self, text: impl Into<String>, lang: impl Into<String>) -> Self {
        self.status = Some((text.into(), Some(lang.into())));
        self
    }

    /// The priority of this resource, -128 to 127 (RFC 6121 §4.7.2.3).
    pub fn priority(mut self, priority: i8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// An extension payload (XEP-0319 idle, XEP-0153 photo...).
    pub fn payload(mut self, payload: Builder) -> Self {
        self.payloads.push(payload);
        self
    }

    /// The presence type.
    pub fn kind(&self) -> PresenceType {
        self.kind
    }
}

impl From<OutgoingPresence> for Builder {
    fn from(p: OutgoingPresence) -> Builder {
        let mut b = Builder::new("presence", ns::JABBER_CLIENT)
            .attr_opt("to", p.to)
            .attr_opt("type", p.kind.name().map(Cow::Borrowed))
            .attr_opt("id", p.id);
        if let Some(show) = p.show {
            b = b.text_child("show", Cow::Borrowed(show.name()));
        }
        if let Some((text, lang)) = p.status {
            let mut status = Builder::new("status", ns::JABBER_CLIENT);
            if let Some(lang) = lang {
                status = status.attr_ns("lang", ns::XML, lang);
            }
            b = b.child(status.text(text));
        }
        if let Some(priority) = p.priority {
            b = b.text_child("priority", priority);
        }
        for payload in p.payloads {
            b = b.child(payload);
        }
        b
    }
}

/// A message to send (RFC 6121 §5): a body, and what else it needs (subject, thread,
/// payloads, the XEP-0280 `private` hint). It turns into a [`Builder`] for
/// [`Client::send_element`](super::Client::send_element); [`Client::send_message`](super::Client::send_message)
/// covers the common case of a body alone.
///
/// ```
/// use xmpp_sansio::client::stanza::OutgoingMessage;
/// use xmpp_sansio::{ns, xml::Builder};
///
/// let secret = OutgoingMessage::chat(&"romeo@example.net".parse()?, "only here").private();
/// assert_eq!(
///     &Builder::from(secret).to_bytes(ns::JABBER_CLIENT)?[..],
///     &b"<message to='romeo@example.net' type='chat'><body>only here</body>\
///        <private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>"[..]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct OutgoingMessage {
    to: Jid,
    kind: MessageType,
    id: Option<String>,
    body: Option<String>,
    subject: Option<String>,
    thread: Option<String>,
    payloads: Vec<Builder>,
    private: bool,
}

impl OutgoingMessage {
    /// A message of this type to `to`, with nothing in it yet.
    pub fn new(to: &Jid, kind: MessageType) -> Self {
        Self {
            to: to.clone(),
            kind,
            id: None,
            body: None,
            subject: None,
            thread: None,
            payloads: Vec::new(),
            private: false,
        }
    }

    /// A chat message with a body.
    pub fn chat(to: &Jid, body: impl Into<String>) -> Self {
        Self::new(to, MessageType::Chat).body(body)
    }

    /// The body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The conversation thread (RFC 6121 §5.2.5).
    pub fn thread(mut self, thread: impl Into<String>) -> Self {
        self.thread = Some(thread.into());
        self
    }

    /// The stanza id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// An extension payload (a receipt request, a chat state...).
    pub fn payload(mut self, payload: Builder) -> Self {
        self.payloads.push(payload);
        self
    }

    /// Not copied to our other resources (XEP-0280 `<private/>`, with the XEP-0334
    /// `<no-copy/>` hint that servers without carbons honour).
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }
}

impl From<OutgoingMessage> for Builder {
    fn from(m: OutgoingMessage) -> Builder {
        let mut b = Builder::new("message", ns::JABBER_CLIENT)
            .attr("to", &m.to)
            .attr("type", Cow::Borrowed(m.kind.name()))
            .attr_opt("id", m.id);
        if let Some(subject) = m.subject {
            b = b.text_child("subject", subject);
        }
        if let Some(body) = m.body {
            b = b.text_child("body", body);
        }
        if let Some(thread) = m.thread {
            b = b.text_child("thread", thread);
        }
        for payload in m.payloads {
            b = b.child(payload);
        }
        if m.private {
            b = b
                .child(Builder::new("private", ns::CARBONS))
                .child(Builder::new("no-copy", ns::HINTS));
        }
        b
    }
}

/// Any of the three stanzas.
#[derive(Debug, Clone)]
pub enum Stanza {
    /// A `<message/>`.
    Message(Message),
    /// A `<presence/>`.
    Presence(Presence),
    /// An `<iq/>`.
    Iq(Iq),
}

impl Stanza {
    /// Reads a `<message/>`, `<presence/>` or `<iq/>` in `jabber:client`.
    pub fn from_element(el: Element) -> Result<Self, StanzaParseError> {
        if el.ns() != ns::JABBER_CLIENT {
            return Err(StanzaParseError::NotAStanza);
        }
        match el.name() {
            "message" => Message::from_element(el).map(Stanza::Message),
            "presence" => Presence::from_element(el).map(Stanza::Presence),
            "iq" => Iq::from_element(el).map(Stanza::Iq),
            _ => Err(StanzaParseError::NotAStanza),
        }
    }

    /// The sender.
    pub fn from(&self) -> Option<&Jid> {
        match self {
            Stanza::Message(s) => s.from.as_ref(),
            Stanza::Presence(s) => s.from.as_ref(),
            Stanza::Iq(s) => s.from.as_ref(),
        }
    }

    /// The recipient.
    pub fn to(&self) -> Option<&Jid> {
        match self {
            Stanza::Message(s) => s.to.as_ref(),
            Stanza::Presence(s) => s.to.as_ref(),
            Stanza::Iq(s) => s.to.as_ref(),
        }
    }

    /// The stanza id.
    pub fn id(&self) -> Option<&str> {
        match self {
            Stanza::Message(s) => s.id.as_deref(),
            Stanza::Presence(s) => s.id.as_deref(),
            Stanza::Iq(s) => Some(&s.id),
        }
    }

    /// The whole element.
    pub fn element(&self) -> &Element {
        match self {
            Stanza::Message(s) => &s.element,
            Stanza::Presence(s) => &s.element,
            Stanza::Iq(s) => &s.element,
        }
    }
}

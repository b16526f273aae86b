//! XEP-0280: Message Carbons. Once enabled, the server copies to this resource the messages
//! our other resources send and receive; they arrive wrapped, and are unwrapped here only
//! when the wrapper comes from our own account (§11: anyone else could forge them).

use super::stanza::{JidCache, Message};
use crate::jid::Jid;
use crate::ns;
use crate::xml::Builder;

/// A message that reached this resource as a carbon copy (XEP-0280).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carbon {
    /// Received by another of our resources.
    Received,
    /// Sent by another of our resources.
    Sent,
}

/// The request that turns carbons on for this session.
pub(crate) fn enable() -> Builder {
    Builder::new("enable", ns::CARBONS)
}

/// What a `<message/>` turned out to be.
pub(crate) enum Unwrapped {
    /// Not a carbon: deliver it as it is.
    NotCarbon(Message),
    /// A carbon from our account: the message inside, marked.
    Carbon(Message),
    /// A carbon wrapper from someone other than our account, or one with nothing valid
    /// inside: dropped.
    Refused(Option<Jid>),
}

/// Unwraps `m` if it is a carbon; `me` is our account, `jids` the session's JID cache.
pub(crate) fn unwrap(m: Message, me: &Jid, jids: &mut JidCache) -> Unwrapped {
    // Most messages are not carbons: a search of the bytes for the namespace is cheaper
    // than walking the children, and exact (see `may_use_namespace`).
    static CARBONS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(ns::CARBONS));
    if !m.element.may_use_namespace(&CARBONS) {
        return Unwrapped::NotCarbon(m);
    }
    // `is` compares bytes, the name first: the namespace is looked at only for a child named
    // like a wrapper, and nothing is checked for UTF-8 on the way.
    let wrapper = m.element.children().find_map(|c| {
        if c.is("received", ns::CARBONS) {
            Some((Carbon::Received, c))
        } else if c.is("sent", ns::CARBONS) {
            Some((Carbon::Sent, c))
        } else {
            None
        }
    });
    let Some((direction, wrapper)) = wrapper else {
        return Unwrapped::NotCarbon(m);
    };
    // §11: only our own account (its bare JID, or the server on its behalf) sends carbons.
    if m.from.as_ref().is_some_and(|f| *f != me.bare()) {
        return Unwrapped::Refused(m.from);
    }
    let inner = wrapper
        .get_child("forwarded", ns::FORWARD)
        .and_then(|f| f.get_child("message", ns::JABBER_CLIENT))
        .and_then(|inner| inner.to_element());
    match inner.map(|inner| Message::read(inner, Some(jids))) {
        Some(Ok(mut inner)) => {
            inner.carbon = Some(direction);
            Unwrapped::Carbon(inner)
        }
        _ => Unwrapped::Refused(m.from),
    }
}

//! Stanza errors (RFC 6120 §8.3), parsed from received elements and serialized for
//! sending. (Stream errors are beside their conditions, in `crate::stream_error`.)

use std::borrow::Cow;
use std::fmt;

use super::{child_for_lang, Iq, IqType};
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, ElementRef};

/// The `type` of a stanza error (RFC 6120 §8.3.2): what the requester should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `auth`: retry after providing credentials.
    Auth,
    /// `cancel`: do not retry (the error cannot be remedied).
    Cancel,
    /// `continue`: proceed (the condition was only a warning).
    Continue,
    /// `modify`: retry after changing the data sent.
    Modify,
    /// `wait`: retry after waiting (the error is temporary).
    Wait,
}

impl ErrorType {
    /// The attribute value.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }

    /// The type with this attribute value, if it is one of RFC 6120's.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "auth" => ErrorType::Auth,
            "cancel" => ErrorType::Cancel,
            "continue" => ErrorType::Continue,
            "modify" => ErrorType::Modify,
            "wait" => ErrorType::Wait,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A defined stanza error condition of RFC 6120 §8.3.3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StanzaErrorCondition {
    /// `bad-request`: the request is malformed or otherwise not understood.
    BadRequest,
    /// `conflict`: a resource or session with the name or address already exists.
    Conflict,
    /// `feature-not-implemented`: the recipient does not support the feature requested.
    FeatureNotImplemented,
    /// `forbidden`: the requester lacks the permissions.
    Forbidden,
    /// `gone`: the recipient is no longer at this address; the new address (an XMPP URI)
    /// if the sender gave one.
    Gone(Option<String>),
    /// `internal-server-error`: the server is misconfigured or failed.
    InternalServerError,
    /// `item-not-found`: the addressed JID or item does not exist.
    ItemNotFound,
    /// `jid-malformed`: an address in the request is not a valid JID.
    JidMalformed,
    /// `not-acceptable`: the request does not meet the recipient's criteria.
    NotAcceptable,
    /// `not-allowed`: nobody may perform the action.
    NotAllowed,
    /// `not-authorized`: the requester must authenticate first.
    NotAuthorized,
    /// `policy-violation`: a local policy was violated.
    PolicyViolation,
    /// `recipient-unavailable`: the recipient is temporarily unavailable.
    RecipientUnavailable,
    /// `redirect`: send the request to another address (an XMPP URI) instead, if the
    /// sender gave one.
    Redirect(Option<String>),
    /// `registration-required`: the requester must register first.
    RegistrationRequired,
    /// `remote-server-not-found`: the recipient's server does not exist or is unreachable.
    RemoteServerNotFound,
    /// `remote-server-timeout`: the recipient's server did not answer in time.
    RemoteServerTimeout,
    /// `resource-constraint`: the recipient lacks the resources to serve the request.
    ResourceConstraint,
    /// `service-unavailable`: the recipient does not provide the service.
    ServiceUnavailable,
    /// `subscription-required`: the requester must subscribe first.
    SubscriptionRequired,
    /// `undefined-condition`: none of the others applies (usually with an
    /// application-specific condition); also how unknown conditions are read.
    UndefinedCondition,
    /// `unexpected-request`: the request is valid but out of order.
    UnexpectedRequest,
}

impl StanzaErrorCondition {
    /// The element name of the condition.
    pub fn name(&self) -> &'static str {
        use StanzaErrorCondition::*;
        match self {
            BadRequest => "bad-request",
            Conflict => "conflict",
            FeatureNotImplemented => "feature-not-implemented",
            Forbidden => "forbidden",
            Gone(_) => "gone",
            InternalServerError => "internal-server-error",
            ItemNotFound => "item-not-found",
            JidMalformed => "jid-malformed",
            NotAcceptable => "not-acceptable",
            NotAllowed => "not-allowed",
            NotAuthorized => "not-authorized",
            PolicyViolation => "policy-violation",
            RecipientUnavailable => "recipient-unavailable",
            Redirect(_) => "redirect",
            RegistrationRequired => "registration-required",
            RemoteServerNotFound => "remote-server-not-found",
            RemoteServerTimeout => "remote-server-timeout",
            ResourceConstraint => "resource-constraint",
            ServiceUnavailable => "service-unavailable",
            SubscriptionRequired => "subscription-required",
            UndefinedCondition => "undefined-condition",
            UnexpectedRequest => "unexpected-request",
        }
    }

    /// The condition with this element name, if it is one of RFC 6120's (`gone` and
    /// `redirect` without an address).
    pub fn from_name(name: &str) -> Option<Self> {
        use StanzaErrorCondition::*;
        Some(match name {
            "bad-request" => BadRequest,
            "conflict" => Conflict,
            "feature-not-implemented" => FeatureNotImplemented,
            "forbidden" => Forbidden,
            "gone" => Gone(None),
            "internal-server-error" => InternalServerError,
            "item-not-found" => ItemNotFound,
            "jid-malformed" => JidMalformed,
            "not-acceptable" => NotAcceptable,
            "not-allowed" => NotAllowed,
            "not-authorized" => NotAuthorized,
            "policy-violation" => PolicyViolation,
            "recipient-unavailable" => RecipientUnavailable,
            "redirect" => Redirect(None),
            "registration-required" => RegistrationRequired,
            "remote-server-not-found" => RemoteServerNotFound,
            "remote-server-timeout" => RemoteServerTimeout,
            "resource-constraint" => ResourceConstraint,
            "service-unavailable" => ServiceUnavailable,
            "subscription-required" => SubscriptionRequired,
            "undefined-condition" => UndefinedCondition,
            "unexpected-request" => UnexpectedRequest,
            _ => return None,
        })
    }

    /// The error type RFC 6120 §8.3.3 uses with this condition; assumed when a received
    /// error has no valid `type`. `cancel` for `undefined-condition`, which has none.
    pub fn default_type(&self) -> ErrorType {
        use StanzaErrorCondition::*;
        match self {
            BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect(_) => {
                ErrorType::Modify
            }
            Forbidden | NotAuthorized | RegistrationRequired | SubscriptionRequired => {
                ErrorType::Auth
            }
            RecipientUnavailable | RemoteServerTimeout | ResourceConstraint | UnexpectedRequest => {
                ErrorType::Wait
            }
            Conflict
            | FeatureNotImplemented
            | Gone(_)
            | InternalServerError
            | ItemNotFound
            | NotAllowed
            | RemoteServerNotFound
            | ServiceUnavailable
            | UndefinedCondition => ErrorType::Cancel,
        }
    }

    /// The address carried by `gone` or `redirect`.
    pub fn uri(&self) -> Option<&str> {
        match self {
            StanzaErrorCondition::Gone(uri) | StanzaErrorCondition::Redirect(uri) => uri.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for StanzaErrorCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(uri) = self.uri() {
            write!(f, " ({uri})")?;
        }
        Ok(())
    }
}

/// A stanza error (RFC 6120 §8.3): the `<error/>` child of a stanza of type `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StanzaError {
    /// What the requester should do.
    pub kind: ErrorType,
    /// The defined condition.
    pub condition: StanzaErrorCondition,
    /// Human-readable text (for logs; not meant to be shown to users as is).
    pub text: Option<String>,
    /// The entity that generated the error, if it said.
    pub by: Option<Jid>,
    /// An application-specific condition, as `(element name, namespace)`.
    pub app_specific: Option<(String, String)>,
}

impl StanzaError {
    /// An error with this type and condition, and no text.
    pub fn new(kind: ErrorType, condition: StanzaErrorCondition) -> Self {
        Self {
            kind,
            condition,
            text: None,
            by: None,
            app_specific: None,
        }
    }

    /// Adds descriptive text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds an application-specific condition element `<name xmlns='ns'/>`.
    pub fn with_app_specific(mut self, name: impl Into<String>, ns: impl Into<String>) -> Self {
        self.app_specific = Some((name.into(), ns.into()));
        self
    }

    /// Reads an `<error/>` element, leniently: an unknown or missing condition is
    /// `undefined-condition`, a missing or unknown `type` the condition's
    /// [default](StanzaErrorCondition::default_type), an invalid `by` is dropped. Of several
    /// `<text/>`s, the one in the error's language is taken (as for [`Message::body`](super::Message::body)).
    pub fn from_element(el: ElementRef<'_>) -> StanzaError {
        let condition = el
            .children()
            .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
            .map_or(StanzaErrorCondition::UndefinedCondition, |c| {
                let uri = || {
                    let t = c.text();
                    let t = t.trim();
                    (!t.is_empty()).then(|| t.to_owned())
                };
                match StanzaErrorCondition::from_name(c.name()) {
                    Some(StanzaErrorCondition::Gone(_)) => StanzaErrorCondition::Gone(uri()),
                    Some(StanzaErrorCondition::Redirect(_)) => {
                        StanzaErrorCondition::Redirect(uri())
                    }
                    Some(other) => other,
                    None => StanzaErrorCondition::UndefinedCondition,
                }
            });
        let kind = el
            .attr("type")
            .and_then(|t| ErrorType::from_name(t.trim()))
            .unwrap_or_else(|| condition.default_type());
        let lang = el.lang();
        let text = child_for_lang(el, "text", ns::XMPP_STANZAS, lang.as_deref())
            .map(|t| t.text().into_owned());
        let by = el.attr("by").and_then(|b| Jid::parse(&b).ok());
        let app_specific = el
            .children()
            .find(|c| c.ns() != ns::XMPP_STANZAS)
            .map(|c| (c.name().to_owned(), c.ns().to_owned()));
        StanzaError {
            kind,
            condition,
            text,
            by,
            app_specific,
        }
    }

    /// The `<error/>` element, in `jabber:client`, to put in a stanza of type `error`.
    ///
    /// Characters XML cannot carry in the text are replaced by U+FFFD; an application-specific
    /// condition whose name is not a valid XML name is left out.
    pub fn to_builder(&self) -> Builder {
        let mut error = Builder::new("error", ns::JABBER_CLIENT)
            .attr("type", Cow::Borrowed(self.kind.name()))
            .attr_opt("by", self.by.as_ref());
        let mut condition = Builder::new(self.condition.name(), ns::XMPP_STANZAS);
        if let Some(uri) = self.condition.uri() {
            condition = condition.text(xml_safe(uri).into_owned());
        }
        error = error.child(condition);
        if let Some(text) = &self.text {
            error = error
                .child(Builder::new("text", ns::XMPP_STANZAS).text(xml_safe(text).into_owned()));
        }
        if let Some((name, ns)) = &self.app_specific {
            let app = Builder::new(name.clone(), xml_safe(ns).into_owned());
            if app.to_bytes("").is_ok() {
                error = error.child(app);
            }
        }
        error
    }
}

/// An error with this condition and the type RFC 6120 uses with it
/// ([`StanzaErrorCondition::default_type`]).
impl From<StanzaErrorCondition> for StanzaError {
    fn from(condition: StanzaErrorCondition) -> Self {
        StanzaError::new(condition.default_type(), condition)
    }
}

impl fmt::Display for StanzaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.condition, self.kind)?;
        if let Some((name, _)) = &self.app_specific {
            write!(f, " <{name}/>")?;
        }
        if let Some(by) = &self.by {
            write!(f, " by {by}")?;
        }
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StanzaError {}

/// The error response to an IQ request: `<iq type='error' id='…' to='…'>` with `error`
/// (RFC 6120 §8.2.3). `to` is the request's `from`, left out when the request had none
/// (it then came from the user's own account or server). Public as [`Iq::error_reply`].
pub(super) fn error_reply(iq: &Iq, error: &StanzaError) -> Builder {
    Builder::new("iq", ns::JABBER_CLIENT)
        .attr("type", Cow::Borrowed(IqType::Error.name()))
        .attr("id", &iq.id)
        .attr_opt("to", iq.from.as_ref())
        .child(error.to_builder())
}

/// `s` with the characters XML 1.0 cannot carry (controls other than tab, newline and
/// carriage return; U+FFFE, U+FFFF) replaced by U+FFFD.
pub(crate) fn xml_safe(s: &str) -> Cow<'_, str> {
    let ok = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if s.chars().all(ok) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if ok(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

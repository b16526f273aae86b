//! Stream errors (RFC 6120 §4.9): the defined conditions (§4.9.3), and the error as received
//! in `<stream:error/>` or sent before closing.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use crate::client::stanza::{child_for_lang, xml_safe};
use crate::ns;
use crate::xml::{Builder, Element};

/// A defined stream error condition of RFC 6120 §4.9.3.
///
/// The XML layer maps each of its refusals to one of these (see
/// [`XmlError::condition`](crate::xml::XmlError::condition)); the client core sends it to the
/// server before closing, and parses the conditions a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamErrorCondition {
    /// `bad-format`: XML that cannot be processed.
    BadFormat,
    /// `bad-namespace-prefix`: an unsupported or missing namespace prefix.
    BadNamespacePrefix,
    /// `conflict`: a new stream conflicts with this one.
    Conflict,
    /// `connection-timeout`: no traffic for too long.
    ConnectionTimeout,
    /// `host-gone`: the host named in `to` is no longer served.
    HostGone,
    /// `host-unknown`: the host named in `to` is not served.
    HostUnknown,
    /// `improper-addressing`: a stanza lacks a required `to` or `from`.
    ImproperAddressing,
    /// `internal-server-error`: the server is misconfigured or failed.
    InternalServerError,
    /// `invalid-from`: the `from` address is not authorized.
    InvalidFrom,
    /// `invalid-namespace`: wrong stream namespace or unsupported content namespace.
    InvalidNamespace,
    /// `invalid-xml`: XML that is invalid against the schema.
    InvalidXml,
    /// `not-authorized`: data sent before the stream was authenticated.
    NotAuthorized,
    /// `not-well-formed`: XML that is not well-formed (XML 1.0 or XML namespaces).
    NotWellFormed,
    /// `policy-violation`: a local policy was violated (for example a size limit).
    PolicyViolation,
    /// `remote-connection-failed`: a remote entity needed for the stream is unreachable.
    RemoteConnectionFailed,
    /// `reset`: the stream is being reset (for example after a security change).
    Reset,
    /// `resource-constraint`: the server lacks resources to serve the stream.
    ResourceConstraint,
    /// `restricted-xml`: XML features that XMPP forbids (comments, PIs, DTDs, entities).
    RestrictedXml,
    /// `see-other-host`: connect to another host instead.
    SeeOtherHost,
    /// `system-shutdown`: the server is shutting down.
    SystemShutdown,
    /// `undefined-condition`: none of the defined conditions applies.
    UndefinedCondition,
    /// `unsupported-encoding`: not UTF-8, or invalid UTF-8.
    UnsupportedEncoding,
    /// `unsupported-feature`: a mandatory-to-negotiate feature is not supported.
    UnsupportedFeature,
    /// `unsupported-stanza-type`: a first-level child the receiver does not support.
    UnsupportedStanzaType,
    /// `unsupported-version`: the stream version is not supported.
    UnsupportedVersion,
}

const NAMES: [(StreamErrorCondition, &str); 25] = {
    use StreamErrorCondition::*;
    [
        (BadFormat, "bad-format"),
        (BadNamespacePrefix, "bad-namespace-prefix"),
        (Conflict, "conflict"),
        (ConnectionTimeout, "connection-timeout"),
        (HostGone, "host-gone"),
        (HostUnknown, "host-unknown"),
        (ImproperAddressing, "improper-addressing"),
        (InternalServerError, "internal-server-error"),
        (InvalidFrom, "invalid-from"),
        (InvalidNamespace, "invalid-namespace"),
        (InvalidXml, "invalid-xml"),
        (NotAuthorized, "not-authorized"),
        (NotWellFormed, "not-well-formed"),
        (PolicyViolation, "policy-violation"),
        (RemoteConnectionFailed, "remote-connection-failed"),
        (Reset, "reset"),
        (ResourceConstraint, "resource-constraint"),
        (RestrictedXml, "restricted-xml"),
        (SeeOtherHost, "see-other-host"),
        (SystemShutdown, "system-shutdown"),
        (UndefinedCondition, "undefined-condition"),
        (UnsupportedEncoding, "unsupported-encoding"),
        (UnsupportedFeature, "unsupported-feature"),
        (UnsupportedStanzaType, "unsupported-stanza-type"),
        (UnsupportedVersion, "unsupported-version"),
    ]
};

impl StreamErrorCondition {
    /// Every condition RFC 6120 defines.
    pub const ALL: [StreamErrorCondition; 25] = {
        let mut all = [StreamErrorCondition::BadFormat; 25];
        let mut i = 0;
        while i < 25 {
            all[i] = NAMES[i].0;
            i += 1;
        }
        all
    };

    /// The element name of the condition, as sent on the wire.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("undefined-condition", |(_, n)| n)
    }

    /// The condition with this element name, if it is one of RFC 6120's.
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }
}

impl fmt::Display for StreamErrorCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stream error (RFC 6120 §4.9): received from the server in `<stream:error/>`, or to be
/// sent to it before closing the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamError {
    /// The defined condition.
    pub condition: StreamErrorCondition,
    /// Descriptive text (for logs).
    pub text: Option<String>,
    /// The language of `text`.
    pub lang: Option<String>,
    /// An application-specific condition, as `(element name, namespace)`.
    pub app_specific: Option<(String, String)>,
    /// For `see-other-host`, the address to connect to instead, as given: a domain name or
    /// IP address, possibly with a port (`example.net`, `[2001:db8::1]:5222`).
    pub see_other_host: Option<String>,
}

impl StreamError {
    /// An error with this condition and nothing else.
    pub fn new(condition: StreamErrorCondition) -> Self {
        Self {
            condition,
            text: None,
            lang: None,
            app_specific: None,
            see_other_host: None,
        }
    }

    /// Adds descriptive text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Reads a `<stream:error/>`, leniently: an unknown or missing condition is
    /// `undefined-condition`. Of several `<text/>`s, the one without `xml:lang` or in the
    /// stream's language is taken; `lang` is the language of that text.
    pub fn from_element(el: &Element) -> StreamError {
        let cond_el = el
            .children()
            .find(|c| c.ns() == ns::XMPP_STREAMS && c.name() != "text");
        let condition = cond_el
            .and_then(|c| StreamErrorCondition::from_name(c.name()))
            .unwrap_or(StreamErrorCondition::UndefinedCondition);
        let see_other_host = cond_el
            .filter(|_| condition == StreamErrorCondition::SeeOtherHost)
            .and_then(|c| {
                let t = c.text();
                let t = t.trim();
                (!t.is_empty()).then(|| t.to_owned())
            });
        let text_el = child_for_lang(el.as_ref(), "text", ns::XMPP_STREAMS, el.lang().as_deref());
        let app_specific = el
            .children()
            .find(|c| c.ns() != ns::XMPP_STREAMS)
            .map(|c| (c.name().to_owned(), c.ns().to_owned()));
        StreamError {
            condition,
            text: text_el.map(|t| t.text().into_owned()),
            lang: text_el.and_then(|t| t.lang()).map(Cow::into_owned),
            app_specific,
            see_other_host,
        }
    }

    /// The `<stream:error>…</stream:error>` to send, for a stream that binds the `stream`
    /// prefix (as client streams do).
    ///
    /// Never fails: characters XML cannot carry are replaced by U+FFFD, and an
    /// application-specific condition whose name is not a valid XML name is left out.
    pub fn to_bytes(&self) -> Bytes {
        fn push(out: &mut Vec<u8>, b: &Builder) {
            let len = out.len();
            if b.write_to(out, ns::JABBER_CLIENT).is_err() {
                out.truncate(len);
            }
        }
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"<stream:error>");
        let mut condition = Builder::new(self.condition.name(), ns::XMPP_STREAMS);
        if self.condition == StreamErrorCondition::SeeOtherHost {
            if let Some(host) = &self.see_other_host {
                condition = condition.text(xml_safe(host).into_owned());
            }
        }
        push(&mut out, &condition);
        if let Some(text) = &self.text {
            let mut t = Builder::new("text", ns::XMPP_STREAMS);
            if let Some(lang) = &self.lang {
                t = t.attr_ns("lang", ns::XML, xml_safe(lang).into_owned());
            }
            push(&mut out, &t.text(xml_safe(text).into_owned()));
        }
        if let Some((name, ns)) = &self.app_specific {
            push(
                &mut out,
                &Builder::new(name.clone(), xml_safe(ns).into_owned()),
            );
        }
        out.extend_from_slice(b"</stream:error>");
        out.into()
    }
}

impl From<StreamErrorCondition> for StreamError {
    fn from(condition: StreamErrorCondition) -> Self {
        StreamError::new(condition)
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.condition.name())?;
        if let Some(host) = &self.see_other_host {
            write!(f, " ({host})")?;
        }
        if let Some((name, _)) = &self.app_specific {
            write!(f, " <{name}/>")?;
        }
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (c, n) in NAMES {
            assert_eq!(c.name(), n);
            assert_eq!(StreamErrorCondition::from_name(n), Some(c));
        }
        assert_eq!(StreamErrorCondition::from_name("nope"), None);
    }
}

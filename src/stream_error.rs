//! Stream error conditions (RFC 6120 §4.9.3).

use std::fmt;

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

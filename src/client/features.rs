//! Stream features (RFC 6120 §4.3.2) as the client needs them.

use std::fmt;

use crate::ns;
use crate::xml::Element;

/// What a `<stream:features/>` offered. Unknown features are kept in `element`.
///
/// `Debug` and `Display` list what was offered (not the element's bytes):
/// `starttls(required) mechanisms=[SCRAM-SHA-1, PLAIN] bind sm rosterver`.
#[derive(Clone)]
#[non_exhaustive]
pub struct StreamFeatures {
    /// STARTTLS offered; `Some(true)` when marked `<required/>`.
    pub starttls: Option<bool>,
    /// SASL mechanism names offered.
    pub mechanisms: Vec<String>,
    /// Channel-binding types advertised (XEP-0440), if the server advertised any.
    pub channel_binding_types: Option<Vec<String>>,
    /// Resource binding offered.
    pub bind: bool,
    /// Legacy session establishment offered; `Some(true)` when marked `<optional/>`.
    pub session: Option<bool>,
    /// Stream management (XEP-0198, `urn:xmpp:sm:3`).
    pub stream_management: bool,
    /// Client state indication (XEP-0352).
    pub csi: bool,
    /// Roster versioning (RFC 6121 §2.6).
    pub roster_versioning: bool,
    /// Subscription pre-approval (RFC 6121 §3.4).
    pub pre_approval: bool,
    /// The server's entity capabilities (XEP-0115): `(node, ver)`.
    pub caps: Option<(String, String)>,
    /// In-band registration (XEP-0077).
    pub register: bool,
    /// The features element as received.
    pub element: Element,
}

impl StreamFeatures {
    pub(crate) fn parse(element: Element) -> Self {
        let mut f = StreamFeatures {
            starttls: None,
            mechanisms: Vec::new(),
            channel_binding_types: None,
            bind: false,
            session: None,
            stream_management: false,
            csi: false,
            roster_versioning: false,
            pre_approval: false,
            caps: None,
            register: false,
            // Kept for the whole session: a copy of its own, so that it does not keep alive
            // the read block and index block it was parsed into.
            element: element.detached(),
        };
        for child in element.children() {
            match (child.ns(), child.name()) {
                (ns::XMPP_TLS, "starttls") => {
                    f.starttls = Some(child.has_child("required", ns::XMPP_TLS));
                }
                (ns::XMPP_SASL, "mechanisms") => {
                    f.mechanisms = child
                        .children()
                        .filter(|m| m.is("mechanism", ns::XMPP_SASL))
                        .map(|m| m.text().trim().to_owned())
                        .collect();
                }
                (ns::SASL_CB, "sasl-channel-binding") => {
                    let types = child
                        .children()
                        .filter(|c| c.is("channel-binding", ns::SASL_CB))
                        .filter_map(|c| c.attr("type").map(|t| t.into_owned()))
                        .collect();
                    f.channel_binding_types = Some(types);
                }
                (ns::XMPP_BIND, "bind") => f.bind = true,
                (ns::XMPP_SESSION, "session") => {
                    f.session = Some(child.has_child("optional", ns::XMPP_SESSION))
                }
                (ns::SM3, "sm") => f.stream_management = true,
                (ns::CSI, "csi") => f.csi = true,
                (ns::ROSTERVER, "ver") => f.roster_versioning = true,
                (ns::PRE_APPROVAL, "sub") => f.pre_approval = true,
                (ns::CAPS, "c") => {
                    if let (Some(node), Some(ver)) = (child.attr("node"), child.attr("ver")) {
                        f.caps = Some((node.into_owned(), ver.into_owned()));
                    }
                }
                (ns::REGISTER_FEATURE, "register") => f.register = true,
                _ => {}
            }
        }
        f
    }

    /// Whether the legacy `<session/>` must be established after binding (offered and not
    /// marked `<optional/>`: RFC 3921 §3, draft-cridland-xmpp-session).
    pub fn session_required(&self) -> bool {
        self.session == Some(false)
    }
}

impl fmt::Display for StreamFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        match self.starttls {
            Some(true) => parts.push("starttls(required)".into()),
            Some(false) => parts.push("starttls".into()),
            None => {}
        }
        if !self.mechanisms.is_empty() {
            parts.push(format!("mechanisms=[{}]", self.mechanisms.join(", ")));
        }
        if let Some(types) = &self.channel_binding_types {
            parts.push(format!("channel-binding=[{}]", types.join(", ")));
        }
        let flags = [
            (self.bind, "bind"),
            (self.session == Some(false), "session(required)"),
            (self.session == Some(true), "session(optional)"),
            (self.stream_management, "sm"),
            (self.csi, "csi"),
            (self.roster_versioning, "rosterver"),
            (self.pre_approval, "pre-approval"),
            (self.register, "register"),
        ];
        parts.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| n.to_string()),
        );
        if let Some((node, ver)) = &self.caps {
            parts.push(format!("caps={node}#{ver}"));
        }
        if parts.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

impl fmt::Debug for StreamFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamFeatures({self})")
    }
}

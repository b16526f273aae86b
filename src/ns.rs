//! Namespace names used by the crate, one constant each.

/// The `xml` prefix's namespace (always bound, never declared).
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
/// The `xmlns` prefix's namespace (reserved for declarations).
pub const XMLNS: &str = "http://www.w3.org/2000/xmlns/";
/// RFC 6120: the stream namespace.
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// RFC 6120: the content namespace of client-to-server streams.
pub const JABBER_CLIENT: &str = "jabber:client";
/// RFC 6120: the content namespace of server-to-server streams.
pub const JABBER_SERVER: &str = "jabber:server";
/// RFC 6120 §4.9: stream error conditions.
pub const XMPP_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// RFC 6120 §5: STARTTLS.
pub const XMPP_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// RFC 6120 §6: SASL.
pub const XMPP_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// RFC 6120 §7: resource binding.
pub const XMPP_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// RFC 6120 §8.3: stanza error conditions.
pub const XMPP_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// RFC 3921 §3: legacy session establishment.
pub const XMPP_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0440: SASL channel-binding type capability.
pub const SASL_CB: &str = "urn:xmpp:sasl-cb:0";
/// XEP-0198: Stream Management, version 3.
pub const SM3: &str = "urn:xmpp:sm:3";
/// XEP-0352: Client State Indication.
pub const CSI: &str = "urn:xmpp:csi:0";
/// RFC 6121 §2.6: the roster versioning stream feature.
pub const ROSTERVER: &str = "urn:xmpp:features:rosterver";
/// RFC 6121 §3.4: the subscription pre-approval stream feature.
pub const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
/// XEP-0115: Entity Capabilities.
pub const CAPS: &str = "http://jabber.org/protocol/caps";
/// XEP-0077: the in-band registration stream feature.
pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// XEP-0199: XMPP Ping.
pub const PING: &str = "urn:xmpp:ping";

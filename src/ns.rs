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
/// RFC 6121 §2: the roster.
pub const ROSTER: &str = "jabber:iq:roster";
/// XEP-0030: Service Discovery, information about an entity.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030: Service Discovery, the items of an entity.
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0390: Entity Capabilities 2.0.
pub const CAPS2: &str = "urn:xmpp:caps";
/// XEP-0300: hash functions (the `<hash/>` of caps 2.0 and other XEPs).
pub const HASHES: &str = "urn:xmpp:hashes:2";
/// XEP-0004: Data Forms.
pub const DATA_FORMS: &str = "jabber:x:data";
/// XEP-0077: In-Band Registration.
pub const REGISTER: &str = "jabber:iq:register";
/// XEP-0066: Out of Band Data (the URL of a registration web page, for one).
pub const OOB: &str = "jabber:x:oob";
/// XEP-0158: CAPTCHA forms.
pub const CAPTCHA: &str = "urn:xmpp:captcha";
/// XEP-0231: Bits of Binary (CAPTCHA images, for one).
pub const BOB: &str = "urn:xmpp:bob";
/// XEP-0221: Data Forms Media Element.
pub const MEDIA_ELEMENT: &str = "urn:xmpp:media-element";
/// XEP-0078: legacy non-SASL authentication.
pub const LEGACY_AUTH: &str = "jabber:iq:auth";
/// XEP-0054: vcard-temp.
pub const VCARD: &str = "vcard-temp";
/// XEP-0153: the avatar hash in presence.
pub const VCARD_UPDATE: &str = "vcard-temp:x:update";
/// XEP-0060: Publish-Subscribe.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060: Publish-Subscribe event notifications.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// XEP-0060: Publish-Subscribe node configuration and publish options.
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// XEP-0084: User Avatar, the data node.
pub const AVATAR_DATA: &str = "urn:xmpp:avatar:data";
/// XEP-0084: User Avatar, the metadata node.
pub const AVATAR_METADATA: &str = "urn:xmpp:avatar:metadata";
/// XEP-0280: Message Carbons.
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// XEP-0297: Stanza Forwarding (the wrapper of carbons and archived messages).
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0334: Message Processing Hints (`<no-copy/>`, `<no-store/>`...).
pub const HINTS: &str = "urn:xmpp:hints";
/// XEP-0203: Delayed Delivery.
pub const DELAY: &str = "urn:xmpp:delay";
/// XEP-0184: Message Delivery Receipts.
pub const RECEIPTS: &str = "urn:xmpp:receipts";
/// XEP-0085: Chat State Notifications.
pub const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0092: Software Version.
pub const VERSION: &str = "jabber:iq:version";
/// XEP-0319: Last User Interaction in Presence (idle).
pub const IDLE: &str = "urn:xmpp:idle:1";
/// XEP-0172: User Nickname.
pub const NICK: &str = "http://jabber.org/protocol/nick";
/// XEP-0045: Multi-User Chat.
pub const MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045: Multi-User Chat, the occupant's view.
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0313: Message Archive Management.
pub const MAM: &str = "urn:xmpp:mam:2";
/// XEP-0191: Blocking Command.
pub const BLOCKING: &str = "urn:xmpp:blocking";
/// XEP-0388: Extensible SASL Profile (SASL2).
pub const SASL2: &str = "urn:xmpp:sasl:2";
/// XEP-0484: Fast Authentication Streamlining Tokens.
pub const FAST: &str = "urn:xmpp:fast:0";

//! The wire log: every top-level element sent and received, at `trace` level under the target
//! `xmpp_sansio::wire`, with secrets redacted: SASL and SASL2 payloads, FAST tokens, and
//! passwords in registration, legacy authentication and data forms.
//!
//! Nothing here runs unless a subscriber listens at that level: the check is one atomic load.

use std::fmt;

use super::forms::is_secret_field;
use crate::ns;
use crate::xml::{Builder, Element, ElementRef, Limits, Node, StreamEvent, StreamReader};

/// The `tracing` target of the wire log.
pub(crate) const TARGET: &str = "xmpp_sansio::wire";

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

/// Logs a received top-level element.
pub(super) fn received(el: &Element) {
    if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
        tracing::trace!(target: TARGET, "<- {}", Shown::Element(el));
    }
}

/// Logs bytes sent: a top-level element, a stream header or end tag, or white space.
pub(super) fn sent(bytes: &[u8]) {
    if tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
        tracing::trace!(target: TARGET, "-> {}", Shown::Sent(bytes));
    }
}

enum Shown<'a> {
    Element(&'a Element),
    Sent(&'a [u8]),
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Element(el) => show_element(f, el),
            Shown::Sent(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let structural = text.trim().is_empty()
                    || text.starts_with("<?xml")
                    || text.starts_with("<stream:stream")
                    || text.starts_with("</stream:stream");
                if structural || !may_hold_secrets(bytes) {
                    return f.write_str(&text);
                }
                match parse(bytes) {
                    Some(el) => show_element(f, &el),
                    // Never guess: what cannot be parsed is not shown.
                    None => write!(
                        f,
                        "[{} bytes not shown: could not be redacted]",
                        bytes.len()
                    ),
                }
            }
        }
    }
}

fn show_element(f: &mut fmt::Formatter<'_>, el: &Element) -> fmt::Result {
    if !holds_secrets(el.as_ref()) {
        return f.write_str(&String::from_utf8_lossy(el.as_bytes()));
    }
    let mut copy = el.to_builder();
    redact(&mut copy, false);
    match copy.to_bytes(ns::JABBER_CLIENT) {
        Ok(bytes) => f.write_str(&String::from_utf8_lossy(&bytes)),
        Err(_) => write!(f, "<{}/> [not shown: could not be redacted]", el.name()),
    }
}

/// A cheap test on outbound bytes before parsing them: every secret lives in one of these
/// namespaces or fields.
fn may_hold_secrets(bytes: &[u8]) -> bool {
    const MARKERS: [&[u8]; 7] = [
        b"xmpp-sasl",
        b"urn:xmpp:sasl:",
        b"urn:xmpp:fast",
        b"jabber:iq:register",
        b"jabber:iq:auth",
        b"jabber:x:data",
        b"jabber.org/protocol/muc",
    ];
    MARKERS
        .iter()
        .any(|m| memchr::memmem::find(bytes, m).is_some())
}

/// Parses one serialized top-level element as if it came on a client stream.
fn parse(bytes: &[u8]) -> Option<Element> {
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    reader.feed(bytes);
    match (reader.next_event(), reader.next_event()) {
        (Ok(Some(StreamEvent::Header(_))), Ok(Some(StreamEvent::Element(el)))) => Some(el),
        _ => None,
    }
}

/// Namespaces whose every text and token is a secret.
fn secret_namespace(ns: &str) -> bool {
    matches!(ns, ns::XMPP_SASL | ns::SASL2 | ns::FAST)
}

/// Elements of registration, legacy authentication and MUC (room passwords) that carry
/// secrets.
fn secret_field(name: &str, ns: &str) -> bool {
    match ns {
        ns::REGISTER | ns::LEGACY_AUTH => matches!(
            name,
            "password" | "old_password" | "digest" | "key" | "token"
        ),
        ns::MUC | ns::MUC_USER => name == "password",
        _ => false,
    }
}

fn holds_secrets(el: ElementRef<'_>) -> bool {
    if secret_namespace(el.ns()) || secret_field(el.name(), el.ns()) {
        return true;
    }
    if el.is("field", ns::DATA_FORMS)
        && is_secret_field(el.attr("var").as_deref(), el.attr("type").as_deref())
    {
        return true;
    }
    el.children().any(holds_secrets)
}

/// Replaces secrets in `b`; `secret` when an ancestor made all of its text secret.
fn redact(b: &mut Builder, secret: bool) {
    let secret = secret
        || secret_namespace(b.ns())
        || secret_field(b.name(), b.ns())
        || (b.name() == "field"
            && b.ns() == ns::DATA_FORMS
            && is_secret_field(b.get_attr("var"), b.get_attr("type")));
    if secret_namespace(b.ns()) {
        for (name, _, value) in b.attrs_mut() {
            if name == "token" {
                *value = REDACTED.into();
            }
        }
    }
    for node in b.nodes_mut() {
        match node {
            Node::Text(t) if secret && !t.trim().is_empty() => *t = REDACTED.into(),
            Node::Text(_) => {}
            Node::Element(child) => redact(child, secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(bytes: &[u8]) -> String {
        Shown::Sent(bytes).to_string()
    }

    #[test]
    fn secrets_are_redacted_and_the_rest_is_shown_as_is() {
        let auth = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABzZWNyZXQ=</auth>";
        assert_eq!(
            shown(auth),
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth>"
        );
        let register = b"<iq type='set' id='r'><query xmlns='jabber:iq:register'>\
            <username>bill</username><password>Calliope</password></query></iq>";
        let out = shown(register);
        assert!(
            out.contains("<username>bill</username>") && !out.contains("Calliope"),
            "{out}"
        );
        let form = b"<iq type='set' id='r'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
            <field var='username'><value>bill</value></field>\
            <field var='password' type='text-private'><value>Calliope</value></field>\
            <field var='pin' type='text-private'><value>1234</value></field></x></query></iq>";
        let out = shown(form);
        assert!(out.contains("<value>bill</value>"), "{out}");
        assert!(!out.contains("Calliope") && !out.contains("1234"), "{out}");
        let fast = b"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'>\
            <initial-response>c2VjcmV0</initial-response><fast xmlns='urn:xmpp:fast:0' token='abc'/></authenticate>";
        let out = shown(fast);
        assert!(!out.contains("c2VjcmV0") && !out.contains("'abc'"), "{out}");
        let chat =
            b"<message to='romeo@example.net'><body>password: no secret here</body></message>";
        assert_eq!(shown(chat), String::from_utf8_lossy(chat));
        assert_eq!(shown(b" "), " ");
        assert_eq!(shown(b"</stream:stream>"), "</stream:stream>");
    }

    #[test]
    fn submissions_the_crate_builds_keep_their_private_fields_recognisable() {
        use crate::client::forms::{DataForm, Field, FieldType, FormType};
        let mut form = DataForm::new(FormType::Form);
        form.fields
            .push(Field::new("FORM_TYPE", FieldType::Hidden).with_value("urn:x"));
        form.fields.push(Field::new("pin", FieldType::TextPrivate));
        form.set("pin", "4321");
        let bytes = form
            .submission()
            .to_builder()
            .to_bytes(ns::JABBER_CLIENT)
            .unwrap();
        let out = shown(&bytes);
        assert!(!out.contains("4321"), "{out}");
        assert!(
            out.contains("<field var='FORM_TYPE' type='hidden'>"),
            "{out}"
        );
        // And in `Debug`.
        let debug = format!("{:?}", form.submission());
        assert!(
            !debug.contains("4321") && debug.contains("urn:x"),
            "{debug}"
        );
    }

    #[test]
    fn room_passwords_are_redacted() {
        let join = b"<presence to='room@muc.example.com/juliet'><x xmlns='http://jabber.org/protocol/muc'>\
            <password>cauldronburn</password></x></presence>";
        let out = shown(join);
        assert!(!out.contains("cauldronburn"), "{out}");
    }

    #[test]
    fn what_cannot_be_parsed_is_not_shown() {
        let out = shown(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>c2VjcmV0");
        assert!(!out.contains("c2VjcmV0"), "{out}");
    }
}

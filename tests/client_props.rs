//! Property tests of the client core: however the server's bytes are chunked, the client
//! does exactly the same things.

mod harness;

use std::time::Duration;

use harness::{config, Pair, Script, Seen};
use proptest::prelude::*;
use xmpp_sansio::client::stanza::{IqType, MessageType};
use xmpp_sansio::xml::Builder;

/// SCRAM payloads carry a random nonce: mask them so runs compare.
fn mask(seen: &[Seen]) -> Vec<Seen> {
    seen.iter()
        .map(|s| match s {
            Seen::Send(b) if b.starts_with("<auth ") || b.starts_with("<response ") => {
                let end = b.find('>').unwrap_or(0);
                Seen::Send(format!("{}>…", &b[..end]))
            }
            other => other.clone(),
        })
        .collect()
}

const TRAFFIC: &str = "<message from='romeo@example.net/orchard' type='chat' id='m1'><body>Wherefore art thou, Romeo? 😀 &amp; &#x263A;</body></message>\
    <presence from='romeo@example.net/orchard'><show>dnd</show><status>busy</status></presence>\
    <iq type='get' id='p1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq> \
    <iq type='get' id='v1' from='romeo@example.net/orchard'><query xmlns='jabber:iq:version'/></iq>\n\
    <hint xmlns='urn:example:nonza'/>\
    <message from='nurse@example.com' type='groupchat'><body><![CDATA[<tag> & more]]></body></message>";

/// A whole session: negotiation, traffic both ways, an IQ round trip, a timeout, close.
fn session(mechanisms: Vec<&'static str>, chunks: Vec<usize>) -> Vec<Seen> {
    let script = Script {
        mechanisms,
        ..Script::default()
    };
    let mut pair = Pair::new(config(), script);
    pair.chunks = chunks;
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    pair.server_sends(TRAFFIC);
    let romeo = "romeo@example.net/orchard".parse().unwrap();
    pair.client
        .send_message(pair.now, &romeo, MessageType::Chat, "It is the east")
        .unwrap();
    let id = pair
        .client
        .send_iq(
            pair.now,
            Some(&romeo),
            IqType::Get,
            Builder::new("query", "jabber:iq:version"),
        )
        .unwrap();
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='romeo@example.net/orchard'/>"
    ));
    // Unanswered: it times out.
    pair.client
        .send_iq(
            pair.now,
            Some(&romeo),
            IqType::Get,
            Builder::new("query", "jabber:iq:last"),
        )
        .unwrap();
    pair.advance(Duration::from_secs(31));
    pair.client.close(pair.now);
    pair.drive();
    assert!(pair.client.is_closed());
    mask(&pair.seen)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunking_never_changes_what_the_client_does(
        chunks in proptest::collection::vec(1usize..300, 1..12),
        scram in any::<bool>(),
    ) {
        let mechanisms = if scram { vec!["SCRAM-SHA-1"] } else { vec!["PLAIN"] };
        let whole = session(mechanisms.clone(), Vec::new());
        prop_assert_eq!(&session(mechanisms, chunks), &whole);
    }
}

#[test]
fn one_byte_reads_change_nothing() {
    for mechanisms in [vec!["PLAIN"], vec!["SCRAM-SHA-256"]] {
        assert_eq!(
            session(mechanisms.clone(), vec![1]),
            session(mechanisms, Vec::new())
        );
    }
}

#[test]
fn the_session_exercises_every_kind_of_action() {
    let seen = session(vec!["PLAIN"], Vec::new());
    let text = format!("{seen:?}");
    for needle in [
        "StartTls",
        "online juliet@example.com/balcony",
        "message from",
        "presence from",
        "nonza hint",
        "iq response",
        "iq timeout",
        "service-unavailable",
        "disconnected Closed",
        "Close",
    ] {
        assert!(text.contains(needle), "{needle} missing from {seen:#?}");
    }
}

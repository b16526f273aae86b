//! Message carbons (XEP-0280) through the client, against the scripted server: enabling,
//! the XEP's examples unwrapped, forged wrappers dropped, the private hint.

mod harness;

use harness::{config, Pair, Script};
use xmpp_sansio::client::carbons::Carbon;
use xmpp_sansio::client::stanza::{MessageType, OutgoingMessage};
use xmpp_sansio::client::{Config, Event};

fn online(config: Config) -> Pair {
    Pair::online(config, Script::default())
}

fn messages(pair: &Pair) -> Vec<&xmpp_sansio::client::stanza::Message> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// XEP-0280 §7, Example 12 (to our resource instead of the XEP's).
const RECEIVED: &str = "<message xmlns='jabber:client' from='juliet@example.com' \
    to='juliet@example.com/balcony' type='chat'>\
    <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
    <message xmlns='jabber:client' from='romeo@montague.example/home' \
    to='juliet@example.com/chamber' type='chat'>\
    <body>Wherefore art thou, Romeo?</body><thread>0e3141cd80894871a68e6fe6b1ec56fa</thread>\
    </message></forwarded></received></message>";

/// XEP-0280 §8, Example 13.
const SENT: &str = "<message xmlns='jabber:client' from='juliet@example.com' \
    to='juliet@example.com/balcony' type='chat'>\
    <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
    <message xmlns='jabber:client' to='romeo@montague.example/garden' \
    from='juliet@example.com/chamber' type='chat'>\
    <body>Neither, fair saint, if either thee dislike.</body>\
    <thread>0e3141cd80894871a68e6fe6b1ec56fa</thread></message></forwarded></sent></message>";

#[test]
fn carbons_are_enabled_once_online() {
    let pair = online(config());
    assert!(pair.sent().contains("<enable xmlns='urn:xmpp:carbons:2'/>"));
    assert!(pair.client.carbons_enabled());
    // Refused by the server: off, and nothing else happens.
    let mut pair = Pair::new(config(), Script::default());
    pair.server.auto_iq = false;
    pair.drive();
    let id = pair.sent_iq_id("<enable xmlns='urn:xmpp:carbons:2'/>");
    pair.server_sends(&format!(
        "<iq type='error' id='{id}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    assert!(!pair.client.carbons_enabled());
    assert!(pair.client.is_online());
    // Switched off: not asked for.
    let mut config = config();
    config.carbons = false;
    assert!(!online(config).sent().contains("urn:xmpp:carbons:2"));
}

#[test]
fn the_xep_examples_are_unwrapped_with_the_inner_addressing() {
    let mut pair = online(config());
    pair.server_sends(RECEIVED);
    pair.server_sends(SENT);
    let got = messages(&pair);
    assert_eq!(got.len(), 2);
    let received = got[0];
    assert_eq!(received.carbon, Some(Carbon::Received));
    assert_eq!(
        received.from.as_ref().unwrap().as_str(),
        "romeo@montague.example/home"
    );
    assert_eq!(
        received.to.as_ref().unwrap().as_str(),
        "juliet@example.com/chamber"
    );
    assert_eq!(
        received.body().as_deref(),
        Some("Wherefore art thou, Romeo?")
    );
    assert_eq!(
        received.thread().as_deref(),
        Some("0e3141cd80894871a68e6fe6b1ec56fa")
    );
    assert_eq!(received.kind, MessageType::Chat);
    let sent = got[1];
    assert_eq!(sent.carbon, Some(Carbon::Sent));
    assert_eq!(
        sent.to.as_ref().unwrap().as_str(),
        "romeo@montague.example/garden"
    );
    assert_eq!(
        sent.body().as_deref(),
        Some("Neither, fair saint, if either thee dislike.")
    );
    // A message that is not a carbon is untouched.
    pair.server_sends(
        "<message from='romeo@montague.example/home' type='chat'><body>hi</body></message>",
    );
    let plain = *messages(&pair).last().unwrap();
    assert_eq!(plain.carbon, None);
}

#[test]
fn forged_wrappers_are_dropped_and_reported() {
    let mut pair = online(config());
    // XEP-0280 §11: anyone can send a wrapper; only our account's count. Our full JID is
    // not our account either.
    for from in [
        "mallory@evil.example",
        "juliet@example.com/other",
        "example.com",
    ] {
        pair.server_sends(
            &RECEIVED.replace("from='juliet@example.com'", &format!("from='{from}'")),
        );
        assert!(
            matches!(pair.events.last(), Some(Event::CarbonRefused { from: Some(f) }) if f.as_str() == from),
            "{from}: {:?}",
            pair.events.last()
        );
    }
    // The namespace written with a character reference, or bound to a prefix: still a
    // wrapper (the quick search of the bytes must not let it through as a message).
    for forged in [
        "<message from='mallory@evil.example'><received xmlns='urn:xmpp:carbons&#58;2'>\
         <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
         from='romeo@example.net/r' to='juliet@example.com/balcony'><body>hi</body></message>\
         </forwarded></received></message>",
        "<message from='mallory@evil.example' xmlns:c='urn:xmpp:carbons&#x3a;2'><c:sent>\
         <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
         from='romeo@example.net/r' to='juliet@example.com/balcony'><body>hi</body></message>\
         </forwarded></c:sent></message>",
    ] {
        pair.server_sends(forged);
        assert!(
            matches!(pair.events.last(), Some(Event::CarbonRefused { .. })),
            "{forged}: {:?}",
            pair.events.last()
        );
    }
    // A wrapper with nothing valid inside.
    pair.server_sends(
        "<message from='juliet@example.com'><received xmlns='urn:xmpp:carbons:2'/></message>",
    );
    assert!(matches!(
        pair.events.last(),
        Some(Event::CarbonRefused { .. })
    ));
    assert!(messages(&pair).is_empty());
}

#[test]
fn with_carbons_off_a_wrapper_is_an_ordinary_message() {
    let mut config = config();
    config.carbons = false;
    let mut pair = online(config);
    pair.server_sends(RECEIVED);
    let got = messages(&pair);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].carbon, None);
    assert_eq!(got[0].from.as_ref().unwrap().as_str(), "juliet@example.com");
}

#[test]
fn private_messages_carry_both_hints() {
    let mut pair = online(config());
    let romeo = "romeo@montague.example".parse().unwrap();
    pair.client
        .send_element(pair.now, OutgoingMessage::chat(&romeo, "just us").private())
        .unwrap();
    pair.drive();
    assert!(pair.sent().ends_with(
        "<message to='romeo@montague.example' type='chat'><body>just us</body>\
         <private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>"
    ));
}

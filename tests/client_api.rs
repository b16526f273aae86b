//! The application-facing API of the core: IQ outcomes as one event per request, namespaces
//! claimed from the start, reply helpers, outgoing presence, builders. (The wire log is in
//! `wire_log.rs`.)

mod harness;

use std::time::Duration;

use harness::{config, Pair, Script};
use xmpp_sansio::client::stanza::{
    ErrorType, Iq, IqType, OutgoingPresence, PresenceType, Show, StanzaError, StanzaErrorCondition,
};
use xmpp_sansio::client::{CommandError, Config, Event, IqError};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::ns;
use xmpp_sansio::xml::{Builder, Limits, StreamEvent, StreamReader};

fn online_with(config: Config) -> Pair {
    Pair::online(config, Script::default())
}

fn ser(b: impl Into<Builder>) -> String {
    String::from_utf8(b.into().to_bytes(ns::JABBER_CLIENT).unwrap().to_vec()).unwrap()
}

/// Parses one element as a server would send it.
fn received_iq(xml: &str) -> Iq {
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    reader.feed(xml.as_bytes());
    let _header = reader.next_event().unwrap();
    let Some(StreamEvent::Element(el)) = reader.next_event().unwrap() else {
        panic!("no element in {xml}")
    };
    Iq::from_element(el).unwrap()
}

const ROSTER_PUSH: &str = "<iq type='set' id='push1'><query xmlns='jabber:iq:roster'>\
    <item jid='nurse@example.com' subscription='none'/></query></iq>";

#[test]
fn namespaces_in_the_config_reach_the_application_from_the_first_stanza() {
    // With the roster service off and no claim, a roster push is refused as RFC 6120 §8.4
    // says.
    let mut no_roster = config();
    no_roster.roster.enabled = false;
    let mut pair = online_with(no_roster.clone());
    pair.server_sends(ROSTER_PUSH);
    assert!(
        pair.sent().contains(
            "<iq type='error' id='push1'><error type='cancel'>\
             <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ),
        "{}",
        pair.sent()
    );
    assert!(!pair.events.iter().any(|e| matches!(e, Event::IqRequest(_))));

    // Claimed in the configuration: the first push after binding is the application's.
    let mut pair = online_with(no_roster.handle_iq_namespace(ns::ROSTER));
    let sent_before = pair.sent().len();
    pair.server_sends(ROSTER_PUSH);
    let Some(Event::IqRequest(push)) = pair.events.last() else {
        panic!("{:?}", pair.events.last())
    };
    assert_eq!(push.id, "push1");
    assert_eq!(
        &pair.sent()[sent_before..],
        "",
        "nothing answered for the application"
    );
    let push = push.clone();
    pair.client.reply_iq(pair.now, &push, Ok(None)).unwrap();
    pair.drive();
    assert!(pair.sent().ends_with("<iq type='result' id='push1'/>"));
}

#[test]
fn each_request_gets_exactly_one_outcome_and_the_session_end_fails_the_rest_in_order() {
    let mut pair = online_with(config());
    pair.server.auto_iq = false;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let payload = Builder::new("query", ns::VERSION).attr("n", i);
            pair.client
                .send_iq(pair.now, None, IqType::Get, payload)
                .unwrap()
        })
        .collect();
    // One answered, then the server goes away.
    pair.server_sends(&format!("<iq type='result' id='{}'/>", ids[1]));
    pair.server_sends("</stream:stream>");
    let outcomes: Vec<(&str, Result<(), &IqError>)> = pair
        .events
        .iter()
        .filter_map(|e| match e {
            Event::IqResponse { id, result } => Some((id.as_str(), result.as_ref().map(drop))),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (ids[1].as_str(), Ok(())),
            (ids[0].as_str(), Err(&IqError::Disconnected)),
            (ids[2].as_str(), Err(&IqError::Disconnected)),
        ]
    );
    // ...all before the session's own end.
    assert!(matches!(
        pair.events.last(),
        Some(Event::Disconnected { .. })
    ));
    // Over: commands say so, and a request's error says the session ended.
    let late = pair
        .client
        .send_iq(pair.now, None, IqType::Get, Builder::new("q", "urn:x"));
    assert_eq!(late, Err(CommandError::Disconnected));
    assert_eq!(
        IqError::from(CommandError::Disconnected),
        IqError::Disconnected
    );
}

#[test]
fn pending_requests_are_bounded() {
    let mut config = config();
    config.max_pending_iqs = 2;
    let mut pair = online_with(config);
    pair.server.auto_iq = false;
    for _ in 0..2 {
        pair.client
            .send_iq(pair.now, None, IqType::Get, Builder::new("q", "urn:x"))
            .unwrap();
    }
    pair.drive();
    let sent = pair.sent().len();
    let third = pair
        .client
        .send_iq(pair.now, None, IqType::Get, Builder::new("q", "urn:x"));
    assert_eq!(third, Err(CommandError::TooManyPendingIqs(2)));
    pair.drive();
    assert_eq!(pair.sent().len(), sent, "a refused request sends nothing");
    // A timeout frees a slot.
    pair.advance(Duration::from_secs(30));
    pair.client
        .send_iq(pair.now, None, IqType::Get, Builder::new("q", "urn:x"))
        .unwrap();
}

#[test]
fn reply_helpers_answer_the_sender_with_its_id() {
    let iq = received_iq(
        "<iq type='get' id='info1' from='romeo@example.net/orchard' to='juliet@example.com/balcony'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    );
    assert_eq!(
        ser(iq.result_reply(None)),
        "<iq type='result' id='info1' to='romeo@example.net/orchard'/>"
    );
    assert_eq!(
        ser(iq.result_reply(Some(Builder::new("query", ns::DISCO_INFO)))),
        "<iq type='result' id='info1' to='romeo@example.net/orchard'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    );
    // A condition alone takes the type RFC 6120 §8.3.3 gives it.
    assert_eq!(
        ser(iq.error_reply(StanzaErrorCondition::ItemNotFound)),
        "<iq type='error' id='info1' to='romeo@example.net/orchard'><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    );
    let custom = StanzaError::new(ErrorType::Wait, StanzaErrorCondition::ResourceConstraint)
        .with_text("busy");
    assert!(ser(iq.error_reply(custom)).contains("<error type='wait'>"));
    // A request from our own account (no `from`) is answered without `to`.
    let push = received_iq(ROSTER_PUSH);
    assert_eq!(
        ser(push.result_reply(None)),
        "<iq type='result' id='push1'/>"
    );
}

#[test]
fn outgoing_presence_is_rfc6121_presence() {
    let romeo: Jid = "romeo@example.net/orchard".parse().unwrap();
    assert_eq!(ser(OutgoingPresence::available()), "<presence/>");
    assert_eq!(
        ser(OutgoingPresence::available()
            .show(Show::Dnd)
            .status_in("nicht stören", "de")
            .priority(-1)),
        "<presence><show>dnd</show><status xml:lang='de'>nicht stören</status>\
         <priority>-1</priority></presence>"
    );
    assert_eq!(
        ser(OutgoingPresence::unavailable().status("gone")),
        "<presence type='unavailable'><status>gone</status></presence>"
    );
    // Subscription stanzas go to the bare JID (RFC 6121 §3.1.1).
    for (p, kind) in [
        (OutgoingPresence::subscribe(&romeo), "subscribe"),
        (OutgoingPresence::subscribed(&romeo), "subscribed"),
        (OutgoingPresence::unsubscribe(&romeo), "unsubscribe"),
        (OutgoingPresence::unsubscribed(&romeo), "unsubscribed"),
    ] {
        assert_eq!(p.kind().name(), Some(kind));
        assert_eq!(
            ser(p),
            format!("<presence to='romeo@example.net' type='{kind}'/>")
        );
    }
    // Directed presence goes where it is told, full JID included.
    assert_eq!(
        ser(OutgoingPresence::available().to(&romeo).id("d1")),
        "<presence to='romeo@example.net/orchard' id='d1'/>"
    );
    assert_eq!(PresenceType::Available.name(), None);
    // Through the client, in order, online only.
    let mut pair = online_with(config());
    pair.client
        .send_presence(pair.now, OutgoingPresence::available().show(Show::Chat))
        .unwrap();
    pair.drive();
    assert!(pair
        .sent()
        .contains("<presence><show>chat</show><c xmlns='http://jabber.org/protocol/caps'"));
}

#[test]
fn builders_take_jids_and_borrowed_text() {
    let to: Jid = "juliet@example.com/balcony".parse().unwrap();
    let body = String::from("a & b");
    let lang: &str = &String::from("en");
    let msg = Builder::new("message", ns::JABBER_CLIENT)
        .attr("to", &to)
        .attr("id", body.len())
        .attr_ns("lang", ns::XML, lang)
        .attr_opt("type", None::<&str>)
        .text_child("body", &body);
    assert_eq!(
        ser(msg),
        "<message to='juliet@example.com/balcony' id='5' xml:lang='en'><body>a &amp; b</body></message>"
    );
}

#[test]
fn online_events_and_features_print_a_summary_not_the_element() {
    let pair = online_with(config());
    let Some(Event::Online { features, .. }) = pair.events.first() else {
        panic!("{:?}", pair.events.first())
    };
    let shown = format!("{features:?}");
    assert!(
        shown.starts_with("StreamFeatures(") && shown.contains("bind"),
        "{shown}"
    );
    assert!(!shown.contains('<'), "{shown}");
}

// ---- the wire log ----

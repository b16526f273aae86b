//! Stream management (XEP-0198) on a virtual clock: enabling, counting both ways,
//! acknowledgements, the unacknowledged queue, resumption and its failures, and the
//! recorded exchanges of both servers in every chunking.

mod common;
mod harness;

use std::time::{Duration, Instant};

use harness::{config, Pair, Script, Seen};
use proptest::prelude::*;
use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::{
    Client, CommandError, Config, DisconnectReason, Event, ReconnectConfig, StreamManagementConfig,
};
use xmpp_sansio::jid::Jid;

fn sm_script() -> Script {
    Script {
        sm: true,
        ..Script::default()
    }
}

fn reconnecting() -> Config {
    let mut c = config();
    c.reconnect = ReconnectConfig::default();
    c
}

fn romeo() -> Jid {
    "romeo@example.net/orchard".parse().unwrap()
}

/// Online with stream management, every timer drained, nothing unacknowledged.
fn online(config: Config, script: Script) -> Pair {
    let mut pair = Pair::online(config, script);
    assert!(pair.server.sm.enabled, "{:#?}", pair.seen);
    pair.advance(Duration::from_secs(6));
    assert_eq!(pair.client.unacknowledged(), 0);
    pair
}

fn send(pair: &mut Pair, body: &str) {
    pair.client
        .send_message(pair.now, &romeo(), MessageType::Chat, body)
        .unwrap();
    pair.drive();
}

/// Bodies of the messages handed back as not delivered, in order.
fn not_delivered(pair: &Pair) -> Vec<String> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::NotDelivered(el) => Some(
                el.get_child("body", "jabber:client")
                    .map(|b| b.text().into_owned())
                    .unwrap_or_else(|| format!("<{}/>", el.name())),
            ),
            _ => None,
        })
        .collect()
}

/// How many times the client sent a message with this body.
fn times_sent(pair: &Pair, body: &str) -> usize {
    pair.sent().matches(&format!("<body>{body}</body>")).count()
}

/// Cuts the connection and lets the reconnection run, after the delay it announced.
fn cut_and_reconnect(pair: &mut Pair) {
    pair.cut();
    let delay = pair.events.iter().rev().find_map(|e| match e {
        Event::Reconnecting { delay, .. } => Some(*delay),
        _ => None,
    });
    let delay = delay.unwrap_or_else(|| panic!("no reconnection: {:#?}", pair.seen));
    pair.advance(delay);
}

#[test]
fn enabled_after_binding_before_any_stanza() {
    let pair = online(config(), sm_script());
    let sent = pair.sent();
    let enable = sent
        .find("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .unwrap();
    let bind = sent.find("urn:ietf:params:xml:ns:xmpp-bind").unwrap();
    let roster = sent.find("jabber:iq:roster").unwrap();
    assert!(bind < enable && enable < roster, "{sent}");
    // Not offered: not asked for.
    let pair = Pair::online(config(), Script::default());
    assert!(!pair.sent().contains("<enable xmlns='urn:xmpp:sm:3'"));
    // Switched off: not asked for.
    let mut c = config();
    c.stream_management.enabled = false;
    let pair = Pair::online(c, sm_script());
    assert!(!pair.sent().contains("<enable xmlns='urn:xmpp:sm:3'"));
}

#[test]
fn inbound_stanzas_are_counted_and_requests_answered() {
    let mut pair = online(config(), sm_script());
    pair.server_sends("<r xmlns='urn:xmpp:sm:3'/>");
    let h0 = *pair.server.sm.acks.last().unwrap();
    pair.server_sends(
        "<message from='romeo@example.net/orchard' type='chat'><body>1</body></message>\
         <presence from='romeo@example.net/orchard'/>\
         <iq type='result' id='nobody-asked' from='example.com'/>\
         <message from='not a jid@@' type='chat'/>\
         <hint xmlns='urn:example:nonza'/>\
         <r xmlns='urn:xmpp:sm:3'/>",
    );
    // Four stanzas (even the dropped ones), not the nonza.
    assert_eq!(pair.server.sm.acks.last(), Some(&(h0 + 4)));
    assert!(pair
        .sent()
        .ends_with(&format!("<a xmlns='urn:xmpp:sm:3' h='{}'/>", h0 + 4)));
    // Stream-management elements are the client's, not the application's.
    assert!(!pair
        .events
        .iter()
        .any(|e| matches!(e, Event::Nonza(el) if el.ns() == "urn:xmpp:sm:3")));
}

#[test]
fn acks_are_requested_after_five_stanzas_and_free_the_queue() {
    let mut pair = online(config(), sm_script());
    pair.server.sm.answer_r = false;
    let before = pair.server.sm.requests;
    for i in 0..4 {
        send(&mut pair, &format!("m{i}"));
    }
    assert_eq!(pair.server.sm.requests, before);
    assert_eq!(pair.client.unacknowledged(), 4);
    send(&mut pair, "m4");
    assert_eq!(pair.server.sm.requests, before + 1);
    assert!(pair.sent().ends_with("<r xmlns='urn:xmpp:sm:3'/>"));
    // A partial acknowledgement, then the rest.
    let h = pair.server.sm.received;
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{}'/>", h - 2));
    assert_eq!(pair.client.unacknowledged(), 2);
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
    assert_eq!(pair.client.unacknowledged(), 0);
    // A stale acknowledgement changes nothing.
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{}'/>", h - 3));
    assert_eq!(pair.client.unacknowledged(), 0);
    assert!(pair.client.is_online());
}

#[test]
fn a_lone_stanza_is_asked_about_after_ack_after() {
    let mut pair = online(config(), sm_script());
    let before = pair.server.sm.requests;
    send(&mut pair, "alone");
    assert_eq!(pair.server.sm.requests, before);
    pair.advance(Duration::from_millis(4_900));
    assert_eq!(pair.server.sm.requests, before);
    pair.advance(Duration::from_millis(100));
    assert_eq!(pair.server.sm.requests, before + 1);
    assert_eq!(pair.client.unacknowledged(), 0);
}

#[test]
fn a_server_that_stops_acknowledging_ends_the_connection() {
    let mut pair = online(config(), sm_script());
    pair.server.sm.answer_r = false;
    for i in 0..5 {
        send(&mut pair, &format!("m{i}"));
    }
    // Traffic from the server does not stand in for the acknowledgement.
    for _ in 0..3 {
        pair.advance(Duration::from_secs(10));
        pair.server_sends("<presence from='romeo@example.net/orchard'/>");
    }
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::NotAcknowledged)
    );
    // Without reconnection, what was not acknowledged is handed back.
    assert_eq!(not_delivered(&pair), ["m0", "m1", "m2", "m3", "m4"]);
}

#[test]
fn an_ack_beyond_what_we_sent_is_handled_count_too_high() {
    let mut pair = online(config(), sm_script());
    let sent = pair.server.sm.received;
    // Unparseable and stale counts are ignored, never a panic.
    pair.server_sends("<a xmlns='urn:xmpp:sm:3' h='-1'/><a xmlns='urn:xmpp:sm:3'/>");
    pair.server_sends("<a xmlns='urn:xmpp:sm:3' h='4294967295'/>");
    assert!(pair.client.is_online());
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{}'/>", sent + 1));
    let expected = format!(
        "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
         <handled-count-too-high xmlns='urn:xmpp:sm:3' h='{}' send-count='{sent}'/></stream:error>",
        sent + 1
    );
    assert!(pair.sent().contains(&expected), "{}", pair.sent());
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Protocol(why)) if why.contains("handled-count-too-high")
    ));
}

#[test]
fn the_queue_is_bounded_for_the_application() {
    let mut c = config();
    c.stream_management.max_unacked = 8;
    let mut pair = online(c, sm_script());
    pair.server.sm.answer_r = false;
    for i in 0..8 {
        send(&mut pair, &format!("m{i}"));
    }
    let refused = pair
        .client
        .send_message(pair.now, &romeo(), MessageType::Chat, "m8");
    assert_eq!(refused, Err(CommandError::TooManyUnacknowledged(8)));
    assert_eq!(times_sent(&pair, "m8"), 0);
    // The client's own answers still go out, up to twice the bound: beyond it the server
    // is given up on.
    let mut answered = 0;
    for i in 0..20 {
        pair.server_sends(&format!(
            "<iq type='get' id='q{i}' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
        if pair.sent().contains(&format!("id='q{i}'")) {
            answered += 1;
        }
    }
    assert_eq!(answered, 8);
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::NotAcknowledged)
    );
}

#[test]
fn resumption_sends_again_what_the_server_did_not_get_and_keeps_the_session() {
    let mut pair = online(reconnecting(), sm_script());
    pair.server_sends("<presence from='romeo@example.net/orchard'/>");
    let roster_gets = pair.sent().matches("jabber:iq:roster").count();
    pair.server.sm.answer_r = false;
    for body in ["m1", "m2", "m3"] {
        send(&mut pair, body);
    }
    // The last two were lost on the way.
    pair.server.sm.received -= 2;
    cut_and_reconnect(&mut pair);
    assert_eq!(pair.reconnections(), [true], "{:#?}", pair.seen);
    assert_eq!(pair.server.sm.resumes.len(), 1);
    assert_eq!(pair.server.sm.resumes[0].0, "sm-1");
    assert_eq!(
        [1, 2, 2].to_vec(),
        ["m1", "m2", "m3"].map(|b| times_sent(&pair, b)).to_vec()
    );
    assert!(not_delivered(&pair).is_empty());
    // Nothing fetched or announced again; the presence map is intact.
    assert_eq!(pair.sent().matches("jabber:iq:roster").count(), roster_gets);
    assert_eq!(pair.server.sm.sessions, 1);
    let presences = pair.client.presences().unwrap();
    assert_eq!(presences.contacts().count(), 1);
    // The re-sent stanzas are counted and acknowledged like any.
    assert_eq!(pair.client.unacknowledged(), 2);
    let h = pair.server.sm.received;
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
    assert_eq!(pair.client.unacknowledged(), 0);
}

#[test]
fn a_failed_resumption_binds_afresh_and_hands_back_what_was_not_acknowledged() {
    let script = Script {
        sm_resume: false,
        ..sm_script()
    };
    let mut pair = online(reconnecting(), script);
    let roster_gets = pair.sent().matches("jabber:iq:roster").count();
    let presences = pair.sent().matches("<presence").count();
    pair.server.sm.answer_r = false;
    // A request waiting for its answer when the connection goes.
    let waiting = pair.ask_version();
    for body in ["m1", "m2"] {
        send(&mut pair, body);
    }
    cut_and_reconnect(&mut pair);
    assert_eq!(pair.reconnections(), [false], "{:#?}", pair.seen);
    // The application's stanzas, in order; its request's outcome says what became of it,
    // and the client's own are resynchronised instead.
    assert_eq!(not_delivered(&pair), ["m1", "m2"]);
    assert!(pair.events.iter().any(|e| matches!(
        e,
        Event::IqResponse { id, result: Err(xmpp_sansio::client::IqError::Disconnected) }
            if *id == waiting
    )));
    // Reported before the news that the session is back.
    let order: Vec<usize> = ["NotDelivered", "Reconnected"]
        .iter()
        .map(|k| {
            pair.events
                .iter()
                .position(|e| format!("{e:?}").starts_with(k))
                .unwrap()
        })
        .collect();
    assert!(order[0] < order[1]);
    // Resynchronised: roster (with its version), presence, a new SM session.
    assert_eq!(
        pair.sent().matches("jabber:iq:roster").count(),
        roster_gets + 1
    );
    assert!(pair
        .sent()
        .contains("<query xmlns='jabber:iq:roster' ver='v0'/>"));
    assert_eq!(pair.sent().matches("<presence").count(), presences + 1);
    assert_eq!(pair.server.sm.sessions, 2);
    assert_eq!(times_sent(&pair, "m1"), 1);
}

#[test]
fn a_failed_resumption_with_h_hands_back_only_what_it_did_not_cover() {
    let script = Script {
        sm_resume: false,
        ..sm_script()
    };
    let mut pair = online(reconnecting(), script);
    pair.server.sm.answer_r = false;
    pair.server.sm.failed_with_h = true;
    for body in ["m1", "m2", "m3"] {
        send(&mut pair, body);
    }
    pair.server.sm.received -= 2;
    cut_and_reconnect(&mut pair);
    assert_eq!(not_delivered(&pair), ["m2", "m3"]);
    assert_eq!(pair.reconnections(), [false]);
}

#[test]
fn resumed_for_another_session_is_a_protocol_violation() {
    let mut pair = online(reconnecting(), sm_script());
    pair.server.sm.resumed_previd = Some("someone-else".into());
    cut_and_reconnect(&mut pair);
    // A server that breaks the protocol is not retried.
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Protocol(why)) if why.contains("someone-else")
    ));
    assert!(pair.sent().ends_with("</stream:stream>"));
}

#[test]
fn after_the_servers_window_the_session_starts_afresh() {
    let mut pair = online(reconnecting(), sm_script());
    pair.auto_connect = false;
    pair.server.sm.answer_r = false;
    send(&mut pair, "m1");
    pair.cut();
    // The harness's server keeps sessions 300 s.
    pair.advance(Duration::from_secs(301));
    pair.connect();
    assert!(pair.server.sm.resumes.is_empty());
    assert_eq!(not_delivered(&pair), ["m1"]);
    assert_eq!(pair.reconnections(), [false]);
}

#[test]
fn stanzas_sent_while_reconnecting_go_out_once_resumed() {
    let mut pair = online(reconnecting(), sm_script());
    pair.auto_connect = false;
    pair.cut();
    assert!(pair.client.is_reconnecting());
    send(&mut pair, "while-down");
    assert_eq!(times_sent(&pair, "while-down"), 0);
    pair.advance(Duration::from_secs(1));
    pair.connect();
    assert_eq!(pair.reconnections(), [true]);
    assert_eq!(times_sent(&pair, "while-down"), 1);
    assert_eq!(pair.client.unacknowledged(), 1);
}

#[test]
fn a_resumed_session_is_the_same_in_every_chunking() {
    let run = |chunks: Vec<usize>| {
        let mut pair = Pair::new(reconnecting(), sm_script());
        pair.chunks = chunks;
        pair.drive();
        pair.server.sm.answer_r = false;
        for body in ["m1", "m2"] {
            send(&mut pair, body);
        }
        pair.server.sm.received -= 1;
        cut_and_reconnect(&mut pair);
        pair.server_sends("<r xmlns='urn:xmpp:sm:3'/>");
        pair.seen
            .iter()
            .map(|s| match s {
                // SCRAM nonces differ between runs.
                Seen::Send(t) if t.starts_with("<auth") || t.starts_with("<response") => {
                    "sasl".to_owned()
                }
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let whole = run(Vec::new());
    assert!(
        whole.iter().any(|s| s.contains("Reconnected")),
        "{whole:#?}"
    );
    for size in [1, 2, 3, 7, 64] {
        assert_eq!(run(vec![size]), whole, "reads of {size}");
    }
}

/// The servers' recorded exchange (`<enabled/>`, an IQ result, `<a h='1'/>`, `<r/>`) is
/// answered as the recorded client did (`<a h='1'/>`), in every chunking.
#[test]
fn the_recorded_exchanges_in_every_chunking() {
    for server in ["prosody", "ejabberd"] {
        let t = common::load(&format!("{server}-17-stream-management.xml"));
        let bytes = t.all_server_bytes();
        for size in [usize::MAX, 1, 2, 3, 7, 64] {
            let mut pair = Pair::new(config(), sm_script());
            pair.server.sm.answer_enable = false;
            pair.drive();
            assert!(pair.client.is_online());
            let unacked = pair.client.unacknowledged();
            assert!(unacked >= 1);
            for chunk in bytes.chunks(size) {
                pair.client.handle_input(pair.now, chunk);
            }
            pair.drive();
            assert!(pair.client.is_online(), "{server}, reads of {size}");
            assert!(
                pair.sent().ends_with("<a xmlns='urn:xmpp:sm:3' h='1'/>"),
                "{server}, reads of {size}: {}",
                pair.sent()
            );
            assert_eq!(pair.client.unacknowledged(), unacked - 1);
        }
    }
}

// ---- every stanza acknowledged or handed back, exactly once ----

#[derive(Debug, Clone)]
enum Op {
    Send,
    Ack,
    /// The connection drops, losing the last `lost` stanzas in flight; the server then
    /// resumes, refuses, or refuses with its `h`.
    Cut {
        lost: usize,
        answer: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Send),
        2 => Just(Op::Ack),
        1 => (0usize..4, 0u8..3).prop_map(|(lost, answer)| Op::Cut { lost, answer }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_stanza_is_acknowledged_or_handed_back_exactly_once(ops in prop::collection::vec(op(), 1..40)) {
        let mut pair = online(reconnecting(), sm_script());
        pair.server.sm.answer_r = false;
        let mut sent = Vec::new();
        // What the server really got, stanza by stanza: bodies, in order.
        let mut got: Vec<String> = Vec::new();
        let mut seen_by_server = pair.server.received.len();
        // Stanzas the server acknowledged so far (it cannot lose those).
        let mut acked_h = pair.server.sm.received;
        let mut blind = false;
        let collect = |pair: &Pair, seen: &mut usize, got: &mut Vec<String>| {
            for el in &pair.server.received[*seen..] {
                if let Some(b) = el.split("<body>").nth(1).and_then(|r| r.split("</body>").next()) {
                    got.push(b.to_owned());
                }
            }
            *seen = pair.server.received.len();
        };
        for op in ops {
            match op {
                Op::Send => {
                    let body = format!("m{}", sent.len());
                    if pair.client.send_message(pair.now, &romeo(), MessageType::Chat, &body).is_ok() {
                        sent.push(body);
                    }
                    pair.drive();
                }
                Op::Ack => {
                    let h = pair.server.sm.received;
                    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
                    acked_h = h;
                }
                Op::Cut { lost, answer } => {
                    collect(&pair, &mut seen_by_server, &mut got);
                    // Only messages can be lost here (their bodies are what is tracked), and
                    // only what the server has not acknowledged.
                    let lost = lost
                        .min(pair.server.sm.received.wrapping_sub(acked_h) as usize)
                        .min(pair.server.received.iter().rev().take_while(|e| e.starts_with("<message")).count());
                    for _ in 0..lost {
                        got.pop();
                    }
                    pair.server.sm.received -= lost as u32;
                    pair.server.script.sm_resume = answer == 0;
                    pair.server.sm.failed_with_h = answer == 2;
                    blind |= answer == 1;
                    cut_and_reconnect(&mut pair);
                    prop_assert!(pair.client.is_online(), "{:#?}", pair.seen);
                    acked_h = pair.server.sm.received;
                    if answer != 0 {
                        acked_h = 0;
                    }
                }
            }
        }
        // The server acknowledges everything at the end.
        let h = pair.server.sm.received;
        pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
        collect(&pair, &mut seen_by_server, &mut got);
        prop_assert_eq!(pair.client.unacknowledged(), 0);
        let reported = not_delivered(&pair);
        let mut unique = reported.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), reported.len(), "reported twice: {:?}", reported);
        let mut got_sorted = got.clone();
        got_sorted.sort();
        got_sorted.dedup();
        prop_assert_eq!(got_sorted.len(), got.len(), "received twice: {:?}", got);
        for body in &sent {
            let arrived = got.contains(body);
            let handed_back = reported.contains(body);
            // Never lost; both only where a refusal without `h` left it unknown.
            prop_assert!(arrived || handed_back, "{} lost", body);
            prop_assert!(!(arrived && handed_back) || blind, "{} both arrived and handed back", body);
        }
    }
}

#[test]
fn the_config_defaults_are_what_the_docs_say() {
    let sm = StreamManagementConfig::default();
    assert!(sm.enabled && sm.resume);
    assert_eq!((sm.ack_every, sm.ack_after), (5, Duration::from_secs(5)));
    assert_eq!((sm.max_unacked, sm.max_unacked_bytes), (1000, 1 << 20));
    let c = Client::new(Config::new("a@b.c".parse().unwrap(), "p"), Instant::now());
    assert!(c.config().reconnect.enabled);
}

// ---- found in review ----

#[test]
fn stanzas_held_through_a_failed_resumption_go_out_once_after_the_resync() {
    let script = Script {
        sm_resume: false,
        ..sm_script()
    };
    let mut pair = online(reconnecting(), script);
    pair.auto_connect = false;
    pair.cut();
    send(&mut pair, "held");
    pair.advance(Duration::from_secs(1));
    pair.connect();
    assert_eq!(pair.reconnections(), [false]);
    assert_eq!(times_sent(&pair, "held"), 1);
    // After the resynchronisation, counted once, and acknowledged like the rest.
    let sent = pair.sent();
    assert!(sent.rfind("<body>held</body>").unwrap() > sent.rfind("<presence").unwrap());
    assert!(not_delivered(&pair).is_empty());
    let h = pair.server.sm.received;
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
    assert_eq!(pair.client.unacknowledged(), 0);
}

#[test]
fn an_unprompted_ack_leaves_no_timer_in_the_past() {
    let mut pair = online(config(), sm_script());
    send(&mut pair, "one");
    let h = pair.server.sm.received;
    pair.server_sends(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"));
    assert_eq!(pair.client.unacknowledged(), 0);
    pair.advance(Duration::from_secs(10));
    let next = pair.client.poll_timeout().unwrap();
    assert!(next > pair.now, "{next:?} is not after {:?}", pair.now);
}

#[test]
fn client_state_is_told_again_after_resumption() {
    let script = Script {
        csi: true,
        ..sm_script()
    };
    let mut pair = online(reconnecting(), script);
    pair.client.set_active(pair.now, false).unwrap();
    pair.drive();
    cut_and_reconnect(&mut pair);
    assert_eq!(pair.reconnections(), [true]);
    assert_eq!(
        pair.sent()
            .matches("<inactive xmlns='urn:xmpp:csi:0'/>")
            .count(),
        2
    );
}

#[test]
fn a_presence_changed_while_reconnecting_is_sent_once_resumed() {
    use xmpp_sansio::client::stanza::{OutgoingPresence, Show};
    let mut pair = online(reconnecting(), sm_script());
    pair.auto_connect = false;
    pair.cut();
    pair.client
        .send_presence(pair.now, OutgoingPresence::available().show(Show::Dnd))
        .unwrap();
    pair.advance(Duration::from_secs(1));
    pair.connect();
    assert_eq!(pair.reconnections(), [true]);
    assert_eq!(pair.sent().matches("<show>dnd</show>").count(), 1);
}

//! Reconnection on a virtual clock: the backoff schedule and its jitter, which reasons end
//! the session and which are retried, commands while reconnecting, a fresh session's
//! resynchronisation, SCRAM keys reused, and client state indication.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{config, Pair, Script, Seen};
use xmpp_sansio::client::stanza::{MessageType, OutgoingPresence, Show};
use xmpp_sansio::client::{
    CommandError, Config, DisconnectReason, Event, IqError, Password, ReconnectConfig,
};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::xml::Builder;
use xmpp_sansio::StreamErrorCondition;

fn reconnecting() -> Config {
    let mut c = config();
    c.reconnect = ReconnectConfig::default();
    c.reconnect.min_delay = Duration::from_secs(1);
    c.reconnect.max_delay = Duration::from_secs(8);
    c
}

fn romeo() -> Jid {
    "romeo@example.net/orchard".parse().unwrap()
}

/// `(attempt, delay)` of every `Reconnecting` event so far.
fn attempts(pair: &Pair) -> Vec<(u32, Duration)> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting { attempt, delay, .. } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

fn connects(pair: &Pair) -> usize {
    pair.seen
        .iter()
        .filter(|s| matches!(s, Seen::Connect(_)))
        .count()
}

fn transport_failure() -> DisconnectReason {
    DisconnectReason::Transport("connection refused".into())
}

#[test]
fn the_backoff_doubles_with_jitter_up_to_the_cap() {
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.auto_connect = false;
    pair.cut();
    let mut expected_step = Duration::from_secs(1);
    for attempt in 1..=6u32 {
        let &(n, delay) = attempts(&pair).last().unwrap();
        assert_eq!(n, attempt);
        // Equal jitter: in the upper half of the step.
        assert!(
            delay >= expected_step / 2 && delay <= expected_step,
            "attempt {attempt}: {delay:?} not within half of {expected_step:?}"
        );
        assert!(pair.client.is_reconnecting());
        // Nothing is asked for before the delay is over; then exactly one connection.
        let before = connects(&pair);
        pair.advance(delay.saturating_sub(Duration::from_millis(1)));
        assert_eq!(connects(&pair), before);
        assert_eq!(
            pair.client.poll_timeout(),
            Some(pair.now + Duration::from_millis(1))
        );
        pair.advance(Duration::from_millis(1));
        assert_eq!(connects(&pair), before + 1);
        pair.connect_asked = None;
        pair.client
            .handle_connect_failed(pair.now, transport_failure())
            .unwrap();
        pair.drive();
        expected_step = (expected_step * 2).min(Duration::from_secs(8));
    }
    // The core refuses a connection nobody asked for.
    assert!(pair.client.handle_connected(pair.now).is_err());
}

#[test]
fn the_jitter_differs_between_clients() {
    let delays: Vec<Duration> = (0..16)
        .map(|seed| {
            let mut c = reconnecting();
            c.seed = seed;
            let mut pair = Pair::online(c, Script::default());
            pair.auto_connect = false;
            pair.cut();
            attempts(&pair)[0].1
        })
        .collect();
    let mut distinct = delays.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 8, "{delays:?}");
}

#[test]
fn a_connection_that_was_up_a_while_is_retried_soon() {
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.advance(Duration::from_secs(61));
    pair.cut();
    // Below `min_delay` (1 s here), anywhere: sessions a server drops together spread out.
    let [(1, first)] = attempts(&pair)[..] else {
        panic!("{:?}", attempts(&pair))
    };
    assert!(first < Duration::from_secs(1), "{first:?}");
    pair.advance(first);
    assert_eq!(connects(&pair), 1);
    assert_eq!(pair.reconnections(), [false]);
    // The second loss in a row backs off.
    pair.cut();
    assert!(attempts(&pair)[1].1 >= Duration::from_millis(500));
}

#[test]
fn final_reasons_end_the_session_and_retryable_ones_reconnect() {
    let stream_error = |condition: &str, extra: &str| {
        format!(
            "<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{extra}</{condition}></stream:error>"
        )
    };
    for condition in [
        "conflict",
        "not-authorized",
        "host-unknown",
        "policy-violation",
    ] {
        let mut pair = Pair::online(reconnecting(), Script::default());
        pair.server_sends(&stream_error(condition, ""));
        assert!(attempts(&pair).is_empty(), "{condition}");
        assert!(
            matches!(pair.disconnect_reason(), Some(DisconnectReason::StreamError(e)) if e.condition.name() == condition),
            "{condition}: {:?}",
            pair.disconnect_reason()
        );
    }
    for condition in ["system-shutdown", "reset", "connection-timeout"] {
        let mut pair = Pair::online(reconnecting(), Script::default());
        pair.server_sends(&stream_error(condition, ""));
        assert_eq!(attempts(&pair).len(), 1, "{condition}");
        assert_eq!(pair.disconnect_reason(), None);
    }
    // A redirect: to its host.
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.auto_connect = false;
    pair.server_sends(&stream_error("see-other-host", "other.example.com:5223"));
    pair.advance(Duration::from_secs(1));
    assert_eq!(
        pair.connect_asked,
        Some(Some("other.example.com:5223".into()))
    );
    // A server that closes the stream without an error means it.
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.server_sends("</stream:stream>");
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::ServerClosed)
    );
    // A first login that fails is never retried.
    let mut c = reconnecting();
    c.password = "wrong".into();
    let mut pair = Pair::new(c, Script::default());
    pair.drive();
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Auth(_))
    ));
    assert!(attempts(&pair).is_empty());
}

#[test]
fn is_retryable_says_which() {
    use xmpp_sansio::client::stanza::StreamError;
    let stream = |c| DisconnectReason::StreamError(StreamError::new(c));
    for retry in [
        DisconnectReason::ConnectionLost,
        DisconnectReason::Transport("reset".into()),
        DisconnectReason::PingTimeout,
        DisconnectReason::NotAcknowledged,
        DisconnectReason::NegotiationTimeout("authenticating"),
        stream(StreamErrorCondition::SystemShutdown),
        stream(StreamErrorCondition::SeeOtherHost),
    ] {
        assert!(retry.is_retryable(), "{retry:?}");
    }
    for end in [
        DisconnectReason::Closed,
        DisconnectReason::ServerClosed,
        DisconnectReason::AccountRemoved,
        DisconnectReason::Tls("certificate".into()),
        DisconnectReason::Protocol("bad".into()),
        stream(StreamErrorCondition::Conflict),
        stream(StreamErrorCondition::NotAuthorized),
        stream(StreamErrorCondition::PolicyViolation),
        stream(StreamErrorCondition::HostUnknown),
    ] {
        assert!(!end.is_retryable(), "{end:?}");
    }
}

#[test]
fn attempts_are_capped_when_asked() {
    let mut c = reconnecting();
    c.reconnect.max_attempts = Some(2);
    let mut pair = Pair::online(c, Script::default());
    pair.auto_connect = false;
    pair.cut();
    for _ in 0..2 {
        pair.advance(Duration::from_secs(2));
        pair.connect_asked = None;
        pair.client
            .handle_connect_failed(pair.now, transport_failure())
            .unwrap();
        pair.drive();
    }
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::GaveUp { attempts: 2, last }) if *last == transport_failure()
    ));
    assert!(pair.client.is_closed());
    // A final failure of a reconnection ends it at once.
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.auto_connect = false;
    pair.cut();
    pair.advance(Duration::from_secs(1));
    let tls = DisconnectReason::Tls("the certificate does not verify".into());
    pair.client
        .handle_connect_failed(pair.now, tls.clone())
        .unwrap();
    pair.drive();
    assert_eq!(pair.disconnect_reason(), Some(tls));
}

#[test]
fn commands_wait_for_the_next_connection_within_the_bound() {
    let mut c = reconnecting();
    c.stream_management.max_unacked = 2;
    let mut pair = Pair::online(c, Script::default());
    pair.auto_connect = false;
    pair.cut();
    assert!(!pair.client.is_online());
    let id = pair
        .client
        .send_message(pair.now, &romeo(), MessageType::Chat, "later")
        .unwrap();
    let iq = pair.ask_version();
    assert_eq!(
        pair.client
            .send_message(pair.now, &romeo(), MessageType::Chat, "too many"),
        Err(CommandError::TooManyUnacknowledged(2))
    );
    // A nonza cannot wait.
    assert!(matches!(
        pair.client
            .send_element(pair.now, Builder::new("hint", "urn:example:nonza")),
        Err(CommandError::NotOnline(_))
    ));
    pair.drive();
    assert!(!pair.sent().contains("later"));
    pair.advance(Duration::from_secs(1));
    pair.connect();
    assert_eq!(pair.reconnections(), [false]);
    let sent = pair.sent();
    assert_eq!(sent.matches("<body>later</body>").count(), 1);
    assert!(sent.contains(&format!("id='{id}'")) && sent.contains(&format!("id='{iq}'")));
    // After the resynchronisation (the presence), not before.
    let presence = sent.rfind("<presence").unwrap();
    assert!(sent.rfind("<body>later</body>").unwrap() > presence);
    // The request that waited is still waiting for its answer, not failed.
    assert!(!pair
        .events
        .iter()
        .any(|e| matches!(e, Event::IqResponse { id, .. } if *id == iq)));
}

#[test]
fn closing_while_reconnecting_hands_back_what_waited() {
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.auto_connect = false;
    pair.cut();
    pair.client
        .send_message(pair.now, &romeo(), MessageType::Chat, "never")
        .unwrap();
    pair.client.close(pair.now);
    pair.drive();
    assert_eq!(pair.disconnect_reason(), Some(DisconnectReason::Closed));
    assert!(pair
        .events
        .iter()
        .any(|e| matches!(e, Event::NotDelivered(el) if el.name() == "message")));
    pair.advance(Duration::from_secs(60));
    assert_eq!(connects(&pair), 0);
    assert!(pair.client.poll_timeout().is_none());
}

#[test]
fn a_fresh_session_resynchronises() {
    let script = Script {
        csi: true,
        ..Script::default()
    };
    let mut pair = Pair::online(reconnecting(), script);
    pair.client
        .send_presence(pair.now, OutgoingPresence::available().show(Show::Away))
        .unwrap();
    pair.client.set_active(pair.now, false).unwrap();
    let asked = pair.ask_version();
    pair.server_sends("<presence from='romeo@example.net/orchard'/>");
    pair.drive();
    let before = pair.sent().len();
    pair.cut();
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.reconnections(), [false]);
    let after = &pair.sent()[before..];
    // Roster with its version, carbons, our presence as it was, our state.
    assert!(
        after.contains("<query xmlns='jabber:iq:roster' ver='v0'/>"),
        "{after}"
    );
    assert!(after.contains("urn:xmpp:carbons:2"), "{after}");
    assert!(after.contains("<show>away</show>"), "{after}");
    assert_eq!(
        after.matches("<inactive xmlns='urn:xmpp:csi:0'/>").count(),
        1
    );
    // The request from the old connection will not be answered.
    assert!(pair.events.iter().any(|e| matches!(
        e,
        Event::IqResponse { id, result: Err(IqError::Disconnected) } if *id == asked
    )));
    // Contacts' presence comes again from the server.
    assert_eq!(pair.client.presences().unwrap().contacts().count(), 0);
    // The roster outlived the connection.
    assert!(pair.client.roster().is_some());
}

#[test]
fn a_reconnection_reuses_the_scram_keys() {
    // The password is right the first time only: a reconnection that needed it would fail.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut c = reconnecting();
    c.password = Password::Provider(Arc::new(move || {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            harness::PASSWORD.to_owned()
        } else {
            "not-the-password".to_owned()
        }
    }));
    let script = Script {
        mechanisms: vec!["SCRAM-SHA-256"],
        ..Script::default()
    };
    let mut pair = Pair::online(c, script);
    pair.cut();
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.reconnections(), [false], "{:#?}", pair.events);
    assert!(pair.client.is_online());
    // A changed password drops them: the server now derives its keys from the new one
    // (with the same salt and count), so keys kept from the old one would fail.
    pair.client.change_password(pair.now, "new-one").unwrap();
    pair.drive();
    assert_eq!(pair.server.script.password, "new-one");
    pair.advance(Duration::from_secs(61));
    pair.cut();
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.reconnections(), [false, false], "{:#?}", pair.events);
    assert!(pair.client.is_online());
}

#[test]
fn client_state_is_sent_on_change_only() {
    let script = Script {
        csi: true,
        ..Script::default()
    };
    let mut pair = Pair::online(config(), script);
    assert!(pair.client.is_active());
    pair.client.set_active(pair.now, true).unwrap();
    pair.client.set_active(pair.now, false).unwrap();
    pair.client.set_active(pair.now, false).unwrap();
    pair.drive();
    assert_eq!(
        pair.sent()
            .matches("<inactive xmlns='urn:xmpp:csi:0'/>")
            .count(),
        1
    );
    assert!(!pair.sent().contains("<active"));
    pair.client.set_active(pair.now, true).unwrap();
    pair.drive();
    assert!(pair.sent().ends_with("<active xmlns='urn:xmpp:csi:0'/>"));
    // Not offered: said so.
    let mut pair = Pair::online(config(), Script::default());
    assert_eq!(
        pair.client.set_active(pair.now, false),
        Err(CommandError::NotSupported(
            "client state indication (XEP-0352)"
        ))
    );
}

// ---- found in review ----

#[test]
fn nothing_reconnects_after_the_application_closed() {
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.server.script.answer_close = false;
    pair.client.close(pair.now);
    pair.drive();
    // The peer resets the connection instead of closing the stream.
    pair.client
        .handle_transport_error(pair.now, &"connection reset by peer");
    pair.drive();
    assert!(attempts(&pair).is_empty());
    assert!(pair.client.is_closed());
    // Nor a retryable stream error while closing.
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.server.script.answer_close = false;
    pair.client.close(pair.now);
    pair.server_sends(
        "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    assert!(attempts(&pair).is_empty());
    assert!(pair.client.is_closed());
}

#[test]
fn a_request_made_while_reconnecting_survives_a_failed_attempt() {
    let mut pair = Pair::online(reconnecting(), Script::default());
    pair.auto_connect = false;
    pair.cut();
    let id = pair.ask_version();
    pair.advance(Duration::from_secs(1));
    pair.connect_asked = None;
    pair.client
        .handle_connect_failed(pair.now, transport_failure())
        .unwrap();
    pair.advance(Duration::from_secs(2));
    pair.connect();
    assert_eq!(pair.reconnections(), [false]);
    // Sent on the new connection and waiting for its answer, not failed.
    assert!(pair.sent().contains(&format!("id='{id}'")));
    assert!(!pair
        .events
        .iter()
        .any(|e| matches!(e, Event::IqResponse { id: i, .. } if *i == id)));
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='romeo@example.net/orchard'/>"
    ));
    assert!(pair
        .events
        .iter()
        .any(|e| matches!(e, Event::IqResponse { id: i, result: Ok(_) } if *i == id)));
}

#[test]
fn a_server_that_drops_us_right_after_login_is_backed_off_from() {
    let mut pair = Pair::online(reconnecting(), Script::default());
    for _ in 0..4 {
        pair.cut();
        let &(_, delay) = attempts(&pair).last().unwrap();
        pair.advance(delay);
        assert!(pair.client.is_online());
    }
    let numbers: Vec<u32> = attempts(&pair).iter().map(|a| a.0).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    // Once a connection stays up a while, the count starts over.
    pair.advance(Duration::from_secs(61));
    pair.cut();
    let &(attempt, delay) = attempts(&pair).last().unwrap();
    assert_eq!(attempt, 1);
    assert!(delay < Duration::from_secs(1), "{delay:?}");
}

/// Sessions dropped together by a server after a long while come back spread over the
/// first step, not in the same instant (found by the load example: 2,000 sessions
/// reconnecting at once to a struggling server).
#[test]
fn sessions_dropped_together_after_a_long_while_come_back_spread_out() {
    let mut delays = Vec::new();
    for seed in 0..50 {
        let mut c = reconnecting();
        c.seed = seed;
        let mut pair = Pair::online(c, Script::default());
        pair.advance(Duration::from_secs(61));
        pair.cut();
        delays.push(attempts(&pair)[0].1);
    }
    assert!(
        delays.iter().all(|d| *d < Duration::from_secs(1)),
        "{delays:?}"
    );
    let early = delays
        .iter()
        .filter(|d| **d < Duration::from_millis(500))
        .count();
    assert!((10..=40).contains(&early), "{delays:?}");
    let mut distinct = delays.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 40, "{delays:?}");
}

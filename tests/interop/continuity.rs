//! Session continuity against the real servers, through both adapters: connections cut by
//! a loopback proxy mid-conversation and resumed (XEP-0198) with nothing lost or
//! duplicated; a server restart, after which the session starts afresh and resynchronises;
//! `conflict` from a second login with our resource, which is not fought back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::proxy::Proxy;
use super::servers::{Kind, Server};
use super::suite::{account, config, start, starttls, wait_blocking, WAIT};
use xmpp_sansio::client::roster::{RosterEvent, RosterItem};
use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::{Config, DisconnectReason, Event};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::blocking::Connection;
use xmpp_sansio::net::{tokio as xtokio, ConnectOptions, Trust};
use xmpp_sansio::StreamErrorCondition;

/// Reconnection on (the default) with short delays, so that the tests do not wait.
fn continuity(jid: &Jid, resource: &str) -> Config {
    let mut c = config(jid, resource);
    c.reconnect.min_delay = Duration::from_millis(100);
    c.reconnect.max_delay = Duration::from_millis(800);
    c
}

fn through(proxy: &Proxy, server: &Server) -> ConnectOptions {
    ConnectOptions::new()
        .host("127.0.0.1", proxy.port())
        .trust(Trust::pem_file(server.ca_pem_path()).unwrap())
}

fn proxy_to(server: &Server) -> Proxy {
    Proxy::start(SocketAddr::from(([127, 0, 0, 1], server.starttls_port())))
}

/// A runtime whose worker drives the tokio adapter while the test thread drives the
/// blocking one.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// What one side saw: message bodies (each time one arrived), reconnections, stanzas
/// handed back.
#[derive(Debug, Default)]
struct Seen {
    bodies: HashMap<String, usize>,
    reconnected: Vec<bool>,
    reconnecting: usize,
    not_delivered: usize,
}

impl Seen {
    fn take(&mut self, event: Event) {
        match event {
            Event::Message(m) => {
                if let Some(body) = m.body() {
                    *self.bodies.entry(body.into_owned()).or_default() += 1;
                }
            }
            Event::Reconnected { resumed, .. } => self.reconnected.push(resumed),
            Event::Reconnecting { .. } => self.reconnecting += 1,
            Event::NotDelivered(_) => self.not_delivered += 1,
            Event::Disconnected { reason } => panic!("the session ended: {reason}"),
            _ => {}
        }
    }

    fn has_all(&self, bodies: &[String]) -> bool {
        bodies.iter().all(|b| self.bodies.contains_key(b))
    }
}

/// Takes the blocking connection's events until `done`, then a little longer (a duplicate
/// would come right after).
fn gather_blocking(conn: &Connection, seen: &mut Seen, what: &str, done: impl Fn(&Seen) -> bool) {
    let until = Instant::now() + WAIT;
    while !done(seen) {
        let left = until.saturating_duration_since(Instant::now());
        match conn.next_event_timeout(left) {
            Ok(Some(e)) => seen.take(e),
            Ok(None) => panic!("blocking: the session ended waiting for {what}"),
            Err(_) => panic!("blocking: timed out waiting for {what}: {seen:?}"),
        }
    }
    while let Ok(Some(e)) = conn.next_event_timeout(Duration::from_millis(300)) {
        seen.take(e);
    }
}

async fn gather_tokio(
    events: &mut xtokio::Events,
    seen: &mut Seen,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    let until = tokio::time::Instant::now() + WAIT;
    while !done(seen) {
        match tokio::time::timeout_at(until, events.next()).await {
            Ok(Some(e)) => seen.take(e),
            Ok(None) => panic!("tokio: the session ended waiting for {what}"),
            Err(_) => panic!("tokio: timed out waiting for {what}: {seen:?}"),
        }
    }
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        seen.take(e);
    }
}

fn bodies(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// Alice (tokio) and Bob (blocking) talk through proxies; each link is cut mid-flow in turn
/// while both keep sending. Each session resumes, and every message arrives exactly once.
fn cut_links_resume(kind: Kind) {
    let server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    let (pa, pb) = (proxy_to(&server), proxy_to(&server));
    let rt = runtime();
    let (a, mut a_events) = rt
        .block_on(xtokio::connect(
            continuity(&alice, "a"),
            &through(&pa, &server),
        ))
        .unwrap();
    let b = Connection::connect(continuity(&bob, "b"), &through(&pb, &server)).unwrap();
    let (a_jid, b_jid) = (a.jid().clone(), b.jid().clone());
    let (mut a_seen, mut b_seen) = (Seen::default(), Seen::default());
    let send_a = |range: std::ops::Range<usize>| {
        for body in bodies("a", range) {
            rt.block_on(a.send_message(&b_jid, MessageType::Chat, &body))
                .unwrap();
        }
    };
    let send_b = |range: std::ops::Range<usize>| {
        for body in bodies("b", range) {
            b.send_message(&a_jid, MessageType::Chat, &body).unwrap();
        }
    };

    // Both talk; Alice's link is cut in the middle; both go on (Alice's wait for her new
    // connection, Bob's for the server to give Alice her session back).
    send_a(0..5);
    send_b(0..5);
    pa.cut();
    send_a(5..10);
    send_b(5..10);
    let want_b = bodies("b", 0..10);
    rt.block_on(gather_tokio(
        &mut a_events,
        &mut a_seen,
        "Bob's messages, resumed",
        |s| s.has_all(&want_b) && !s.reconnected.is_empty(),
    ));
    let want_a = bodies("a", 0..10);
    gather_blocking(&b, &mut b_seen, "Alice's messages", |s| s.has_all(&want_a));
    assert_eq!(a_seen.reconnected, [true], "tokio: resumed, not fresh");

    // Now Bob's link (the blocking adapter).
    send_b(10..15);
    pb.cut();
    send_a(10..15);
    send_b(15..20);
    let want_a = bodies("a", 0..15);
    gather_blocking(&b, &mut b_seen, "Alice's messages, resumed", |s| {
        s.has_all(&want_a) && !s.reconnected.is_empty()
    });
    let want_b = bodies("b", 0..20);
    rt.block_on(gather_tokio(
        &mut a_events,
        &mut a_seen,
        "Bob's messages",
        |s| s.has_all(&want_b),
    ));
    assert_eq!(b_seen.reconnected, [true], "blocking: resumed, not fresh");

    for (who, seen) in [("Alice", &a_seen), ("Bob", &b_seen)] {
        let twice: Vec<_> = seen.bodies.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{who} got duplicates: {twice:?}");
        assert_eq!(seen.not_delivered, 0, "{who}: nothing is handed back");
    }
    assert_eq!(a_seen.bodies.len(), 20);
    assert_eq!(b_seen.bodies.len(), 15);
    assert_eq!((pa.connections(), pb.connections()), (2, 2));
    // Everything was acknowledged in the end.
    let unacked = |c: &xmpp_sansio::client::Client| c.unacknowledged();
    let until = Instant::now() + WAIT;
    while rt.block_on(a.call(move |c, _| unacked(c))).unwrap() > 0 || b.call(|c, _| unacked(c)) > 0
    {
        assert!(Instant::now() < until, "stanzas left unacknowledged");
        let _ = b.next_event_timeout(Duration::from_millis(100));
    }
}

/// The server restarts: both adapters reconnect (after refused attempts while it is down),
/// resumption fails (the server forgot the session), and a fresh session resynchronises.
fn restart_fresh(kind: Kind) {
    let mut server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    let rt = runtime();
    let (a, mut a_events) = rt
        .block_on(xtokio::connect(continuity(&alice, "a"), &starttls(&server)))
        .unwrap();
    let b = Connection::connect(continuity(&bob, "b"), &starttls(&server)).unwrap();
    let item = RosterItem::new(&bob).with_name("Bob");
    rt.block_on(a.roster_set(item)).unwrap();

    server
        .restart()
        .unwrap_or_else(|e| panic!("restarting: {e}"));
    let fresh = |e: &Event| matches!(e, Event::Reconnected { resumed: false, .. });
    let mut a_after = Vec::new();
    rt.block_on(async {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            let e = tokio::time::timeout_at(until, a_events.next())
                .await
                .expect("tokio: no fresh session in time")
                .expect("tokio: the session ended");
            let done = fresh(&e);
            a_after.push(format!("{e:?}"));
            if done {
                break;
            }
        }
    });
    assert!(
        a_after.iter().any(|e| e.starts_with("Reconnecting")),
        "{a_after:#?}"
    );
    wait_blocking(&b, "a fresh session", fresh);
    // Resynchronised: the roster came again (with its version), the roster still knows
    // Bob, and both are reachable.
    let loaded = |e: &Event| matches!(e, Event::Roster(RosterEvent::Loaded { .. }));
    rt.block_on(super::suite::wait_tokio(
        &mut a_events,
        "the roster again",
        loaded,
    ));
    let roster = rt.block_on(a.roster()).unwrap();
    assert!(roster.items().any(|i| i.jid == bob), "{roster:?}");
    let (a_jid, b_jid) = (a.jid().clone(), b.jid().clone());
    rt.block_on(a.send_message(&b_jid, MessageType::Chat, "after"))
        .unwrap();
    let got = |e: &Event| matches!(e, Event::Message(m) if m.body().as_deref() == Some("after"));
    wait_blocking(&b, "a message after the restart", got);
    b.send_message(&a_jid, MessageType::Chat, "back").unwrap();
    let got = |e: &Event| matches!(e, Event::Message(m) if m.body().as_deref() == Some("back"));
    rt.block_on(super::suite::wait_tokio(&mut a_events, "a reply", got));
}

/// A second login with our resource takes it (`conflict`): the first client does not
/// reconnect to take it back, on either adapter.
fn conflict_not_fought(kind: Kind) {
    let server = start(kind);
    let alice = account(&server, "alice");
    let rt = runtime();
    let is_conflict = |reason: &DisconnectReason| matches!(reason, DisconnectReason::StreamError(e) if e.condition == StreamErrorCondition::Conflict);

    // Blocking first, then tokio with the same resource.
    let first = Connection::connect(continuity(&alice, "same"), &starttls(&server)).unwrap();
    let second = rt
        .block_on(xtokio::connect(
            continuity(&alice, "same"),
            &starttls(&server),
        ))
        .unwrap();
    let mut reconnecting = false;
    let reason = loop {
        match first.next_event_timeout(WAIT) {
            Ok(Some(Event::Disconnected { reason })) => break reason,
            Ok(Some(Event::Reconnecting { .. })) => reconnecting = true,
            Ok(Some(_)) => {}
            other => panic!("blocking: no end after the conflict: {other:?}"),
        }
    };
    assert!(is_conflict(&reason), "blocking: {reason:?}");
    assert!(!reconnecting, "blocking: reconnected after conflict");
    drop(second);

    // Tokio first, then blocking.
    let (first, mut events) = rt
        .block_on(xtokio::connect(
            continuity(&alice, "same2"),
            &starttls(&server),
        ))
        .unwrap();
    let _second = Connection::connect(continuity(&alice, "same2"), &starttls(&server)).unwrap();
    let (reason, reconnecting) = rt.block_on(async {
        let mut reconnecting = false;
        loop {
            match tokio::time::timeout(WAIT, events.next()).await {
                Ok(Some(Event::Disconnected { reason })) => return (reason, reconnecting),
                Ok(Some(Event::Reconnecting { .. })) => reconnecting = true,
                Ok(Some(_)) => {}
                other => panic!("tokio: no end after the conflict: {other:?}"),
            }
        }
    });
    assert!(is_conflict(&reason), "tokio: {reason:?}");
    assert!(!reconnecting, "tokio: reconnected after conflict");
    drop(first);
}

interop! {
    prosody_cut_links_resume => cut_links_resume(Kind::Prosody);
    ejabberd_cut_links_resume => cut_links_resume(Kind::Ejabberd);
    prosody_restart_fresh => restart_fresh(Kind::Prosody);
    ejabberd_restart_fresh => restart_fresh(Kind::Ejabberd);
    prosody_conflict_not_fought => conflict_not_fought(Kind::Prosody);
    ejabberd_conflict_not_fought => conflict_not_fought(Kind::Ejabberd);
}

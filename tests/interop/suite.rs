//! The interop scenarios; see `tests/interop.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::servers::{Kind, Server};
use xmpp_sansio::client::sasl::{AuthError, Mechanism, SaslCondition};
use xmpp_sansio::client::stanza::{
    Iq, IqType, MessageType, OutgoingPresence, PresenceType, StanzaErrorCondition,
};
use xmpp_sansio::client::{Config, DisconnectReason, Event, IqError};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::blocking::{Connection, Elapsed};
use xmpp_sansio::net::{tokio as xtokio, ConnectOptions, Error, Trust};
use xmpp_sansio::xml::Builder;
use xmpp_sansio::{ns, StreamErrorCondition};

pub(super) const WAIT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "interop-secret-1";

pub(super) fn start(kind: Kind) -> Server {
    if !Server::installed(kind) {
        panic!(
            "{} is not installed, so the interop suite cannot run. Install the servers with \
             `apt-get install prosody ejabberd lua-sec lua-unbound` (Debian 12), or run \
             `scripts/test.sh`, which does that and then runs every test.",
            kind.name()
        );
    }
    Server::start(kind).unwrap_or_else(|e| panic!("starting {}: {e}", kind.name()))
}

/// A new account on `server`, unique within this test process, registered in-band
/// (XEP-0077) as a user of the crate would: both servers allow it, so no admin command is
/// needed.
pub(super) fn account(server: &Server, name: &str) -> Jid {
    static N: AtomicUsize = AtomicUsize::new(0);
    let user = format!("{name}{}", N.fetch_add(1, Ordering::SeqCst));
    let jid: Jid = format!("{user}@{}", server.domain()).parse().unwrap();
    Connection::register(
        Config::new(jid.clone(), PASSWORD),
        &starttls(server),
        |_| {},
    )
    .unwrap_or_else(|e| panic!("registering {user}: {e}\n{}", server.log_tail()));
    jid
}

pub(super) fn config(jid: &Jid, resource: &str) -> Config {
    let mut config = Config::new(jid.clone(), PASSWORD);
    config.resource = Some(resource.to_owned());
    config
}

pub(super) fn starttls(server: &Server) -> ConnectOptions {
    ConnectOptions::new()
        .host("127.0.0.1", server.starttls_port())
        .trust(Trust::pem_file(server.ca_pem_path()).unwrap())
}

fn direct_tls(server: &Server) -> ConnectOptions {
    starttls(server).direct_tls("127.0.0.1", server.direct_tls_port())
}

/// The strongest SCRAM we support among what each server offers by default.
fn strongest_scram(kind: Kind) -> Mechanism {
    match kind {
        Kind::Prosody => Mechanism::ScramSha1,
        Kind::Ejabberd => Mechanism::ScramSha256,
    }
}

fn disco_info() -> Builder {
    Builder::new("query", ns::DISCO_INFO)
}

fn ping() -> Builder {
    Builder::new("ping", ns::PING)
}

fn version_query() -> Builder {
    Builder::new("query", ns::VERSION)
}

/// The XEP-0092 answer the interop clients give.
fn version_answer() -> Builder {
    Builder::new("query", ns::VERSION)
        .text_child("name", "xmpp-sansio interop")
        .text_child("version", "1")
}

fn has_server_identity(iq: &Iq) -> bool {
    iq.kind == IqType::Result
        && iq.payload().is_some_and(|q| {
            q.children()
                .any(|c| c.name() == "identity" && c.attr("category").as_deref() == Some("server"))
        })
}

fn version_name(iq: &Iq) -> Option<String> {
    let query = iq.payload()?;
    Some(query.get_child("name", ns::VERSION)?.text().into_owned())
}

fn stanza_condition(result: Result<Iq, IqError>) -> StanzaErrorCondition {
    match result {
        Err(IqError::Stanza(e)) => e.condition,
        other => panic!("expected a stanza error, got {other:?}"),
    }
}

fn is_body(event: &Event, from: &Jid, body: &str) -> bool {
    matches!(event, Event::Message(m)
        if m.from.as_ref() == Some(from) && m.body().as_deref() == Some(body))
}

fn is_presence_from(event: &Event, from: &Jid) -> bool {
    matches!(event, Event::Presence(p)
        if p.from.as_ref() == Some(from) && p.kind == PresenceType::Available)
}

fn is_version_request(event: &Event) -> bool {
    matches!(event, Event::IqRequest(iq) if iq.payload().is_some_and(|p| p.ns() == ns::VERSION))
}

/// Alice answers XEP-0092 version requests herself, from the first stanza on.
fn answering_config(jid: &Jid, resource: &str) -> Config {
    config(jid, resource).handle_iq_namespace(ns::VERSION)
}

// ---- blocking ----

pub(super) fn wait_blocking(conn: &Connection, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match conn.next_event_timeout(left) {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(Event::Disconnected { reason })) => {
                panic!("disconnected waiting for {what}: {reason}")
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the session ended waiting for {what}"),
            Err(Elapsed) => panic!("timed out waiting for {what}"),
        }
    }
}

fn session_blocking(kind: Kind) {
    let server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    let a = Connection::connect(answering_config(&alice, "a"), &starttls(&server))
        .unwrap_or_else(|e| panic!("alice: {e}\n{}", server.log_tail()));
    let b = Connection::connect(config(&bob, "b"), &starttls(&server)).unwrap();
    for conn in [&a, &b] {
        let (secure, mechanism) = conn.call(|c, _| (c.is_secure(), c.mechanism()));
        assert!(secure);
        assert_eq!(mechanism, Some(strongest_scram(kind)));
    }
    let (a_jid, b_jid) = (a.jid().clone(), b.jid().clone());
    assert_eq!(a_jid.as_str(), format!("{alice}/a"));

    // Presence: the server reflects our own initial presence; directed presence reaches bob.
    a.send_presence(OutgoingPresence::available()).unwrap();
    wait_blocking(&a, "own presence", |e| is_presence_from(e, &a_jid));
    b.send_presence(OutgoingPresence::available().status("here"))
        .unwrap();
    a.send_presence(OutgoingPresence::available().to(&b_jid))
        .unwrap();
    wait_blocking(&b, "alice's directed presence", |e| {
        is_presence_from(e, &a_jid)
    });

    // Messages both ways.
    a.send_message(&b_jid, MessageType::Chat, "hello bob")
        .unwrap();
    wait_blocking(&b, "alice's message", |e| is_body(e, &a_jid, "hello bob"));
    b.send_message(&a_jid, MessageType::Chat, "hi alice")
        .unwrap();
    wait_blocking(&a, "bob's message", |e| is_body(e, &b_jid, "hi alice"));

    // Awaited IQ round trips with the server: disco#info and ping.
    let domain = a_jid.domain_jid();
    let info = a.request(Some(&domain), IqType::Get, disco_info()).unwrap();
    assert!(has_server_identity(&info), "{:?}", info.element);
    a.request(Some(&domain), IqType::Get, ping()).unwrap();

    // Bob asks alice's version: alice's reader thread answers while bob waits on his.
    let answering = {
        let a = a.clone();
        std::thread::spawn(move || {
            let Event::IqRequest(iq) = wait_blocking(&a, "the version request", is_version_request)
            else {
                unreachable!()
            };
            a.reply_iq(&iq, Ok(Some(version_answer()))).unwrap();
        })
    };
    let version = b
        .request(Some(&a_jid), IqType::Get, version_query())
        .unwrap();
    assert_eq!(
        version_name(&version).as_deref(),
        Some("xmpp-sansio interop")
    );
    answering.join().unwrap();
    // Bob does not answer version requests: alice's request gets service-unavailable, from
    // bob's client, which answers while a thread of bob's reads.
    let bob_reads = {
        let b = b.clone();
        std::thread::spawn(move || {
            let mut last = None;
            while let Some(event) = b.next_event() {
                last = Some(event);
            }
            last
        })
    };
    let refused = a.request(Some(&b_jid), IqType::Get, version_query());
    assert_eq!(
        stanza_condition(refused),
        StanzaErrorCondition::ServiceUnavailable
    );

    for conn in [&a, &b] {
        conn.close().unwrap();
        let reason = conn.call(|c, _| c.disconnect_reason().cloned());
        assert_eq!(reason, Some(DisconnectReason::Closed));
    }
    // Bob's reader saw the session end, and its loop ended.
    let last = bob_reads.join().unwrap();
    assert!(
        matches!(
            last,
            Some(Event::Disconnected {
                reason: DisconnectReason::Closed
            })
        ),
        "{last:?}"
    );
}

// ---- tokio ----

pub(super) async fn wait_tokio(
    events: &mut xtokio::Events,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match events.next().await {
                Some(e) if pred(&e) => return e,
                Some(Event::Disconnected { reason }) => {
                    panic!("disconnected waiting for {what}: {reason}")
                }
                Some(_) => {}
                None => panic!("events ended waiting for {what}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits for the session to end; returns why.
pub(super) async fn end_tokio(events: &mut xtokio::Events) -> DisconnectReason {
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match events.next().await {
                Some(Event::Disconnected { reason }) => return reason,
                Some(_) => {}
                None => panic!("events ended without Disconnected"),
            }
        }
    });
    end.await.expect("the session did not end in time")
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn session_tokio(kind: Kind) {
    let server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    runtime().block_on(async {
        let (a, mut a_events) = xtokio::connect(answering_config(&alice, "a"), &starttls(&server))
            .await
            .unwrap_or_else(|e| panic!("alice: {e}\n{}", server.log_tail()));
        let (b, mut b_events) = xtokio::connect(config(&bob, "b"), &starttls(&server))
            .await
            .unwrap();
        for handle in [&a, &b] {
            let (secure, mechanism) = handle
                .call(|c, _| (c.is_secure(), c.mechanism()))
                .await
                .unwrap();
            assert!(secure);
            assert_eq!(mechanism, Some(strongest_scram(kind)));
        }
        let (a_jid, b_jid) = (a.jid().clone(), b.jid().clone());

        a.send_presence(OutgoingPresence::available())
            .await
            .unwrap();
        wait_tokio(&mut a_events, "own presence", |e| {
            is_presence_from(e, &a_jid)
        })
        .await;
        b.send_presence(OutgoingPresence::available())
            .await
            .unwrap();
        a.send_presence(OutgoingPresence::available().to(&b_jid))
            .await
            .unwrap();
        wait_tokio(&mut b_events, "alice's directed presence", |e| {
            is_presence_from(e, &a_jid)
        })
        .await;

        a.send_message(&b_jid, MessageType::Chat, "hello bob")
            .await
            .unwrap();
        wait_tokio(&mut b_events, "alice's message", |e| {
            is_body(e, &a_jid, "hello bob")
        })
        .await;
        b.send_message(&a_jid, MessageType::Chat, "hi alice")
            .await
            .unwrap();
        wait_tokio(&mut a_events, "bob's message", |e| {
            is_body(e, &b_jid, "hi alice")
        })
        .await;

        let domain = a_jid.domain_jid();
        let info = a
            .request(Some(&domain), IqType::Get, disco_info())
            .await
            .unwrap();
        assert!(has_server_identity(&info), "{:?}", info.element);
        a.request(Some(&domain), IqType::Get, ping()).await.unwrap();

        // Bob asks alice's version while alice's task answers it.
        let asking = b.request(Some(&a_jid), IqType::Get, version_query());
        let answering = async {
            let Event::IqRequest(iq) =
                wait_tokio(&mut a_events, "the version request", is_version_request).await
            else {
                unreachable!()
            };
            a.reply_iq(&iq, Ok(Some(version_answer()))).await.unwrap();
        };
        let (version, ()) = tokio::join!(asking, answering);
        assert_eq!(
            version_name(&version.unwrap()).as_deref(),
            Some("xmpp-sansio interop")
        );
        let refused = a.request(Some(&b_jid), IqType::Get, version_query()).await;
        assert_eq!(
            stanza_condition(refused),
            StanzaErrorCondition::ServiceUnavailable
        );

        for (handle, mut events) in [(a, a_events), (b, b_events)] {
            handle.close().await.unwrap();
            assert_eq!(end_tokio(&mut events).await, DisconnectReason::Closed);
        }
    });
}

// ---- both adapters: direct TLS, wrong password, a server that goes away ----

fn direct_tls_both(kind: Kind) {
    let server = start(kind);
    let alice = account(&server, "alice");
    let conn = Connection::connect(config(&alice, "d1"), &direct_tls(&server))
        .unwrap_or_else(|e| panic!("blocking direct TLS: {e}\n{}", server.log_tail()));
    assert!(conn.call(|c, _| c.is_secure()));
    conn.close().unwrap();
    runtime().block_on(async {
        let (handle, _events) = xtokio::connect(config(&alice, "d2"), &direct_tls(&server))
            .await
            .unwrap_or_else(|e| panic!("tokio direct TLS: {e}\n{}", server.log_tail()));
        handle.close().await.unwrap();
    });
}

fn wrong_password_both(kind: Kind) {
    let server = start(kind);
    let alice = account(&server, "alice");
    let mut config = Config::new(alice, "not the password");
    config.resource = Some("w".into());
    let blocking = Connection::connect(config.clone(), &starttls(&server)).map(drop);
    let tokio = runtime()
        .block_on(xtokio::connect(config, &starttls(&server)))
        .map(drop);
    for result in [blocking, tokio] {
        assert!(
            matches!(
                &result,
                Err(Error::Auth(AuthError::Failure {
                    condition: SaslCondition::NotAuthorized,
                    ..
                }))
            ),
            "{result:?}"
        );
    }
}

/// Without reconnection (the continuity tests have it on), a stopped server ends the session.
fn stopped_mid_session_both(kind: Kind) {
    let mut server = start(kind);
    let alice = account(&server, "alice");
    let once = |resource| {
        let mut c = config(&alice, resource);
        c.reconnect = xmpp_sansio::client::ReconnectConfig::disabled();
        c
    };
    let conn = Connection::connect(once("s1"), &starttls(&server)).unwrap();
    let rt = runtime();
    let (_handle, mut events) = rt
        .block_on(xtokio::connect(once("s2"), &starttls(&server)))
        .unwrap();
    server.stop();
    let typed = |reason: &DisconnectReason| match reason {
        DisconnectReason::StreamError(e) => e.condition == StreamErrorCondition::SystemShutdown,
        DisconnectReason::ServerClosed
        | DisconnectReason::ConnectionLost
        | DisconnectReason::Transport(_) => true,
        _ => false,
    };
    let until = Instant::now() + WAIT;
    let reason = loop {
        match conn.next_event_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Some(Event::Disconnected { reason })) => break reason,
            Ok(Some(_)) => {}
            other => panic!("blocking: no disconnect after the server stopped: {other:?}"),
        }
    };
    assert!(
        conn.next_event().is_none(),
        "the obvious loop ends after Disconnected"
    );
    assert!(typed(&reason), "blocking: {reason:?}");
    let reason = rt.block_on(end_tokio(&mut events));
    assert!(typed(&reason), "tokio: {reason:?}");
}

/// STARTTLS spoken to the direct-TLS port and direct TLS to the STARTTLS port: each a typed
/// error naming the endpoint, through both adapters.
fn wrong_port_both(kind: Kind) {
    let server = start(kind);
    let alice = account(&server, "alice");
    let trust = Trust::pem_file(server.ca_pem_path()).unwrap();
    let swapped = [
        ConnectOptions::new()
            .host("127.0.0.1", server.direct_tls_port())
            .trust(trust.clone()),
        ConnectOptions::new()
            .direct_tls("127.0.0.1", server.starttls_port())
            .trust(trust),
    ];
    for options in &swapped {
        let blocking = Connection::connect(config(&alice, "p1"), options).map(drop);
        let tokio = runtime()
            .block_on(xtokio::connect(config(&alice, "p2"), options))
            .map(drop);
        for result in [blocking, tokio] {
            match result {
                // Either answer names the endpoint and says what to use instead.
                Err(
                    e @ (Error::ProtocolMismatch { .. } | Error::ClosedBeforeStreamHeader { .. }),
                ) => {
                    let text = e.to_string();
                    assert!(text.starts_with("127.0.0.1:"), "{text}");
                    assert!(text.contains("ConnectOptions::"), "{text}");
                }
                other => panic!("{:?}: {other:?}", options.server),
            }
        }
    }
}

interop! {
    prosody_blocking_session => session_blocking(Kind::Prosody);
    prosody_tokio_session => session_tokio(Kind::Prosody);
    prosody_direct_tls => direct_tls_both(Kind::Prosody);
    prosody_wrong_password => wrong_password_both(Kind::Prosody);
    prosody_stopped_mid_session => stopped_mid_session_both(Kind::Prosody);
    prosody_wrong_port => wrong_port_both(Kind::Prosody);
    ejabberd_blocking_session => session_blocking(Kind::Ejabberd);
    ejabberd_tokio_session => session_tokio(Kind::Ejabberd);
    ejabberd_direct_tls => direct_tls_both(Kind::Ejabberd);
    ejabberd_wrong_password => wrong_password_both(Kind::Ejabberd);
    ejabberd_stopped_mid_session => stopped_mid_session_both(Kind::Ejabberd);
    ejabberd_wrong_port => wrong_port_both(Kind::Ejabberd);
}

//! Awaited IQ requests through both adapters, over loopback TLS against the scripted server:
//! answered, answered with an error, timed out, abandoned, and outstanding when the
//! connection drops; the events that arrive meanwhile are all delivered, in order; and the
//! blocking adapter used from several threads at once.
#![cfg(all(feature = "tokio", feature = "blocking"))]

mod harness;
mod loopback;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{Script, Server};
use loopback::{runtime, FakeServer, Reaction};
use xmpp_sansio::client::stanza::{Iq, IqType, MessageType, StanzaErrorCondition};
use xmpp_sansio::client::{Config, DisconnectReason, Event, IqError};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::blocking::{Connection, Elapsed};
use xmpp_sansio::net::tokio as xtokio;
use xmpp_sansio::xml::Builder;

const ROMEO: &str = "romeo@example.net/orchard";
const TEST_NS: &str = "urn:test:requests";
const FLOOD: usize = 50;
/// More events than the tokio adapter holds before it stops reading when nobody awaits.
const DELUGE: usize = 1000;

fn romeo() -> Jid {
    ROMEO.parse().unwrap()
}

/// A request the scripted peer handles as `what` says: `answer`, `error`, `flood` (messages
/// first, then the answer), `later` (answered when the client sends "release"), `silent`.
fn query(what: &str) -> Builder {
    Builder::new("query", TEST_NS).attr("do", what)
}

fn attr<'a>(el: &'a str, name: &str) -> &'a str {
    let start = el.find(&format!(" {name}='")).unwrap() + name.len() + 3;
    &el[start..start + el[start..].find('\'').unwrap()]
}

/// Romeo, as the scripted server plays him.
fn romeo_peer() -> impl FnMut(&str, &mut Server) -> Reaction + Send + 'static {
    let held = Arc::new(Mutex::new(Vec::<String>::new()));
    move |el, server| {
        let result = |id: &str| {
            format!(
                "<iq type='result' id='{id}' from='{ROMEO}'><query xmlns='{TEST_NS}'><said>yes</said></query></iq>"
            )
        };
        if el.starts_with("<iq") && el.contains(TEST_NS) {
            let id = attr(el, "id").to_owned();
            match attr(el, "do") {
                "answer" => server.send(&result(&id)),
                "error" => server.send(&format!(
                    "<iq type='error' id='{id}' from='{ROMEO}'><error type='cancel'>\
                     <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                )),
                "flood" | "deluge" => {
                    let n = if attr(el, "do") == "flood" {
                        FLOOD
                    } else {
                        DELUGE
                    };
                    for i in 0..n {
                        server.send(&format!(
                            "<message from='{ROMEO}' type='chat'><body>{i}</body></message>"
                        ));
                    }
                    server.send(&result(&id));
                }
                "later" => held.lock().unwrap().push(id),
                _ => {}
            }
        }
        if el.starts_with("<message") && el.contains("<body>release</body>") {
            for id in held.lock().unwrap().drain(..) {
                server.send(&result(&id));
            }
            server.send(&format!(
                "<message from='{ROMEO}' type='chat'><body>released</body></message>"
            ));
        }
        if el.starts_with("<message") && el.contains("<body>ping</body>") {
            server.send(&format!(
                "<message from='{ROMEO}' type='chat'><body>pong</body></message>"
            ));
        }
        if el.starts_with("<message") && el.contains("<body>crash</body>") {
            return Reaction::Drop;
        }
        Reaction::Continue
    }
}

fn said(iq: &Iq) -> Option<String> {
    let query = iq.payload()?;
    Some(query.get_child("said", TEST_NS)?.text().into_owned())
}

fn body(event: &Event) -> Option<String> {
    match event {
        Event::Message(m) => m.body().map(|b| b.into_owned()),
        _ => None,
    }
}

/// The harness's account with the services off: these tests are about requests and the
/// events around them, and the services' own events (the roster loading) would be among
/// them.
fn config() -> Config {
    let mut config = harness::config();
    config.roster.enabled = false;
    config.presence.enabled = false;
    config.carbons = false;
    config.disco.enabled = false;
    config
}

/// Long enough for the answered requests of a test over debug-build TLS on a busy machine,
/// short enough to wait for the unanswered one.
fn short_iq_timeout() -> Config {
    let mut config = config();
    config.timeouts.iq = Duration::from_secs(2);
    config
}

// ---- tokio ----

#[test]
fn tokio_requests_are_answered_refused_timed_out_and_keep_events_in_order() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(short_iq_timeout(), &opts).await.unwrap();
        let to = Some(&romeo());
        let answer = handle.request(to, IqType::Get, query("answer")).await.unwrap();
        assert_eq!(said(&answer).as_deref(), Some("yes"));
        let refused = handle.request(to, IqType::Get, query("error")).await;
        assert!(
            matches!(&refused, Err(IqError::Stanza(e)) if e.condition == StanzaErrorCondition::ItemNotFound),
            "{refused:?}"
        );
        let silent = handle.request(to, IqType::Get, query("silent")).await;
        assert_eq!(silent.map(drop), Err(IqError::Timeout));
        // Messages that arrive while a request is awaited stay in the event stream, in order;
        // the response itself is not an event.
        let flooded = handle.request(to, IqType::Get, query("flood")).await.unwrap();
        assert_eq!(said(&flooded).as_deref(), Some("yes"));
        let mut bodies = Vec::new();
        while bodies.len() < FLOOD {
            let event = events.next().await.unwrap();
            assert!(!matches!(event, Event::IqResponse { .. }), "{event:?}");
            bodies.extend(body(&event));
        }
        let expected: Vec<String> = (0..FLOOD).map(|i| i.to_string()).collect();
        assert_eq!(bodies, expected);
        // A request that is not a request is refused before anything is sent.
        let bad = handle.request(to, IqType::Result, query("answer")).await;
        assert!(matches!(bad, Err(IqError::NotSent(_))), "{bad:?}");
        handle.close().await.unwrap();
    });
}

#[test]
fn tokio_an_abandoned_request_leaves_no_trace() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        let waiting = handle.request(Some(&romeo()), IqType::Get, query("later"));
        let gave_up = tokio::time::timeout(Duration::from_millis(200), waiting).await;
        assert!(gave_up.is_err(), "the peer holds the answer back");
        // Another request meanwhile changes nothing for the abandoned one.
        let answer = handle.request(Some(&romeo()), IqType::Get, query("answer"));
        assert!(answer.await.is_ok());
        // The answer comes after the caller gave up: it is discarded, not an event.
        handle
            .send_message(&romeo(), MessageType::Chat, "release")
            .await
            .unwrap();
        loop {
            let event = events.next().await.unwrap();
            assert!(!matches!(event, Event::IqResponse { .. }), "{event:?}");
            if body(&event).as_deref() == Some("released") {
                break;
            }
        }
        // The session is unharmed.
        let answer = handle.request(Some(&romeo()), IqType::Get, query("answer"));
        assert!(answer.await.is_ok());
        handle.close().await.unwrap();
    });
}

#[test]
fn tokio_outstanding_requests_end_with_the_session() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        let to = romeo();
        let first = handle.request(Some(&to), IqType::Get, query("silent"));
        let second = handle.request(Some(&to), IqType::Get, query("silent"));
        let crash = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            handle
                .send_message(&to, MessageType::Chat, "crash")
                .await
                .unwrap();
        };
        let (first, second, ()) = tokio::join!(first, second, crash);
        assert_eq!(first.map(drop), Err(IqError::Disconnected));
        assert_eq!(second.map(drop), Err(IqError::Disconnected));
        let mut last = None;
        while let Some(event) = events.next().await {
            last = Some(event);
        }
        assert!(matches!(last, Some(Event::Disconnected { .. })), "{last:?}");
        // After the end, requests fail the same way at once.
        let late = handle
            .request(Some(&to), IqType::Get, query("answer"))
            .await;
        assert_eq!(late.map(drop), Err(IqError::Disconnected));
    });
}

#[test]
fn tokio_events_are_a_stream() {
    use futures_core::Stream;
    fn is_stream<S: Stream<Item = Event> + Unpin>(_: &S) {}
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        is_stream(&events);
        handle
            .send_message(&romeo(), MessageType::Chat, "ping")
            .await
            .unwrap();
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx));
        assert_eq!(body(&next.await.unwrap()).as_deref(), Some("pong"));
        handle.close().await.unwrap();
    });
}

// ---- blocking ----

#[test]
fn blocking_requests_are_answered_refused_timed_out_and_keep_events_in_order() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let conn = Connection::connect(short_iq_timeout(), &server.options()).unwrap();
    let to = Some(&romeo());
    let answer = conn.request(to, IqType::Get, query("answer")).unwrap();
    assert_eq!(said(&answer).as_deref(), Some("yes"));
    let refused = conn.request(to, IqType::Get, query("error"));
    assert!(
        matches!(&refused, Err(IqError::Stanza(e)) if e.condition == StanzaErrorCondition::ItemNotFound),
        "{refused:?}"
    );
    let silent = conn.request(to, IqType::Get, query("silent"));
    assert_eq!(silent.map(drop), Err(IqError::Timeout));
    let flooded = conn.request(to, IqType::Get, query("flood")).unwrap();
    assert_eq!(said(&flooded).as_deref(), Some("yes"));
    let mut bodies = Vec::new();
    while bodies.len() < FLOOD {
        let event = conn
            .next_event_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert!(!matches!(event, Event::IqResponse { .. }), "{event:?}");
        bodies.extend(body(&event));
    }
    let expected: Vec<String> = (0..FLOOD).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected);
    conn.close().unwrap();
}

#[test]
fn blocking_outstanding_requests_end_with_the_session() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let conn = Connection::connect(config(), &server.options()).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let conn = conn.clone();
            std::thread::spawn(move || conn.request(Some(&romeo()), IqType::Get, query("silent")))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    conn.send_message(&romeo(), MessageType::Chat, "crash")
        .unwrap();
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap().map(drop), Err(IqError::Disconnected));
    }
    let mut last = None;
    while let Some(event) = conn.next_event() {
        last = Some(event);
    }
    assert!(
        matches!(
            last,
            Some(Event::Disconnected {
                reason: DisconnectReason::ConnectionLost | DisconnectReason::Transport(_)
            })
        ),
        "{last:?}"
    );
}

#[test]
fn blocking_another_thread_sends_and_requests_while_one_waits_for_events() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let conn = Connection::connect(config(), &server.options()).unwrap();
    // The main thread waits for events; nothing has arrived yet.
    let reader = {
        let conn = conn.clone();
        std::thread::spawn(move || {
            let mut bodies = Vec::new();
            while bodies.len() < 2 {
                match conn.next_event_timeout(Duration::from_secs(10)) {
                    Ok(Some(event)) => bodies.extend(body(&event)),
                    other => panic!("{other:?}"),
                }
            }
            bodies
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // Sending does not wait for the reader's read; the answer reaches the reader.
    conn.send_message(&romeo(), MessageType::Chat, "ping")
        .unwrap();
    // A request from this thread is answered through the reader, which hands it over.
    let answer = conn
        .request(Some(&romeo()), IqType::Get, query("answer"))
        .unwrap();
    assert_eq!(said(&answer).as_deref(), Some("yes"));
    conn.send_message(&romeo(), MessageType::Chat, "ping")
        .unwrap();
    assert_eq!(reader.join().unwrap(), ["pong", "pong"]);
    // With nobody else reading, a request reads for itself.
    let answer = conn
        .request(Some(&romeo()), IqType::Get, query("answer"))
        .unwrap();
    assert_eq!(said(&answer).as_deref(), Some("yes"));
    assert_eq!(
        conn.next_event_timeout(Duration::from_millis(50)).map(drop),
        Err(Elapsed)
    );
    conn.close().unwrap();
}

#[test]
fn blocking_dropping_every_clone_closes_the_session() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let conn = Connection::connect(config(), &server.options()).unwrap();
    let other = conn.clone();
    drop(conn);
    other
        .send_message(&romeo(), MessageType::Chat, "still here")
        .unwrap();
    drop(other);
    let log = server.finish();
    assert!(log.client_closed);
    assert!(log.received.iter().any(|e| e.contains("still here")));
}

#[test]
fn a_request_is_answered_behind_more_events_than_the_adapters_hold() {
    // The application awaits a request without reading events; the answer comes after more
    // messages than the tokio adapter holds before it stops reading when nobody awaits.
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        let answer = handle.request(Some(&romeo()), IqType::Get, query("deluge"));
        assert_eq!(said(&answer.await.unwrap()).as_deref(), Some("yes"));
        let mut count = 0;
        while count < DELUGE {
            count += usize::from(body(&events.next().await.unwrap()).is_some());
        }
        handle.close().await.unwrap();
    });
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let conn = Connection::connect(config(), &server.options()).unwrap();
    let answer = conn.request(Some(&romeo()), IqType::Get, query("deluge"));
    assert_eq!(said(&answer.unwrap()).as_deref(), Some("yes"));
    let mut count = 0;
    while count < DELUGE {
        count += usize::from(body(&conn.next_event().unwrap()).is_some());
    }
    conn.close().unwrap();
}

#[test]
fn blocking_timers_set_by_another_thread_fire_while_one_thread_reads() {
    // No keepalive and no ping: the reading thread has no deadline of its own.
    let mut config = short_iq_timeout();
    config.timeouts.keepalive = None;
    config.timeouts.ping_after = None;
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let conn = Connection::connect(config, &server.options()).unwrap();
    let reader = {
        let conn = conn.clone();
        std::thread::spawn(move || conn.next_event_timeout(Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(100));
    // Sent from this thread while the other is blocked in a read: its timeout still fires.
    let id = conn
        .send_iq(Some(&romeo()), IqType::Get, query("silent"))
        .unwrap();
    let event = reader.join().unwrap();
    assert!(
        matches!(&event, Ok(Some(Event::IqResponse { id: i, result: Err(IqError::Timeout) })) if *i == id),
        "{event:?}"
    );
    conn.close().unwrap();
}

#[test]
fn tokio_a_panic_in_call_is_the_callers_and_the_session_goes_on() {
    let server = FakeServer::start(Script::default(), false, romeo_peer());
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        let panicking = handle.clone();
        let task = tokio::spawn(async move {
            panicking
                .call(|_, _| -> () { panic!("a bug in the application's closure") })
                .await
        });
        assert!(task.await.unwrap_err().is_panic());
        handle
            .send_message(&romeo(), MessageType::Chat, "ping")
            .await
            .unwrap();
        assert_eq!(body(&events.next().await.unwrap()).as_deref(), Some("pong"));
        handle.close().await.unwrap();
    });
}

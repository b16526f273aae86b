//! Both adapters end to end over loopback TCP and real TLS, against the scripted server of
//! `tests/harness` (real SCRAM): STARTTLS and direct TLS, certificate trust, typed errors,
//! redirects, timeouts, a server that dies, in-band registration, and (tokio) cancel-safety
//! and backpressure.
//! The same paths against real Prosody and ejabberd are in `tests/interop.rs`.
#![cfg(all(feature = "tokio", feature = "blocking"))]

mod harness;
mod loopback;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use harness::{config, Script, Server};
use loopback::{identity, runtime, FakeServer, Reaction};
use xmpp_sansio::client::roster::RosterEvent;
use xmpp_sansio::client::sasl::AuthError;
use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::{CommandError, Config, DisconnectReason, Event};
use xmpp_sansio::net::blocking::{Connection, Elapsed};
use xmpp_sansio::net::{tokio as xtokio, ConnectOptions, Error, Trust};
use xmpp_sansio::StreamErrorCondition;

const ROMEO: &str = "romeo@example.net/orchard";

/// Answers a message whose body is "ping" with "pong", and one with "flood" with `n`
/// messages.
fn responder(flood: usize) -> impl FnMut(&str, &mut Server) -> Reaction + Send + 'static {
    move |el, server| {
        if el.starts_with("<message") && el.contains("<body>ping</body>") {
            server.send(&format!(
                "<message from='{ROMEO}' to='juliet@example.com/balcony' type='chat'><body>pong</body></message>"
            ));
        }
        if el.starts_with("<message") && el.contains("<body>flood</body>") {
            for i in 0..flood {
                server.send(&format!(
                    "<message from='{ROMEO}' type='chat' id='f{i}'><body>{i}</body></message>"
                ));
            }
        }
        if el.starts_with("<message") && el.contains("<body>crash</body>") {
            return Reaction::Drop;
        }
        if el.starts_with("<message") && el.contains("<body>stall</body>") {
            // Stop reading for a while, as a peer that hangs does.
            std::thread::sleep(Duration::from_secs(20));
            return Reaction::Drop;
        }
        Reaction::Continue
    }
}

fn body(event: &Event) -> Option<String> {
    match event {
        Event::Message(m) => m.body().map(|b| b.into_owned()),
        _ => None,
    }
}

/// Reads events until `Disconnected` (10 s at most) and returns why.
fn end_blocking(conn: &Connection) -> DisconnectReason {
    loop {
        match conn.next_event_timeout(Duration::from_secs(10)) {
            Ok(Some(Event::Disconnected { reason })) => return reason,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the events ended without Disconnected"),
            Err(Elapsed) => panic!("no Disconnected within 10 s"),
        }
    }
}

/// Takes events until `Disconnected` (10 s at most) and returns why.
async fn end_tokio(events: &mut xtokio::Events) -> DisconnectReason {
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.next().await {
                Some(Event::Disconnected { reason }) => return reason,
                Some(_) => {}
                None => panic!("events ended without Disconnected"),
            }
        }
    });
    end.await.expect("no Disconnected within 10 s")
}

// ---- the full path, both adapters ----

#[test]
fn blocking_starttls_scram_bind_message_round_trip_and_clean_close() {
    let server = FakeServer::start(Script::default(), false, responder(0));
    let conn = Connection::connect(config(), &server.options()).unwrap();
    assert_eq!(conn.jid().as_str(), "juliet@example.com/balcony");
    assert!(conn.call(|c, _| c.is_secure()));
    // `connect` returning is the news of being online: no Online event follows; the
    // roster service's does.
    let event = conn
        .next_event_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, Event::Roster(RosterEvent::Loaded { .. })),
        "{event:?}"
    );
    // Then the server's description (XEP-0030), fetched by the discovery service.
    let event = conn.next_event_timeout(Duration::from_secs(10));
    assert!(
        matches!(&event, Ok(Some(Event::ServerInfo(info))) if info.has_identity("server", "im")),
        "{event:?}"
    );
    assert!(conn.call(|c, _| c.server_info().is_some()));
    conn.send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "ping")
        .unwrap();
    let event = conn
        .next_event_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(body(&event).as_deref(), Some("pong"));
    // Nothing else comes: the timeout is reported as such.
    assert_eq!(
        conn.next_event_timeout(Duration::from_millis(50))
            .map(|_| ()),
        Err(Elapsed)
    );
    conn.close().unwrap();
    assert_eq!(
        conn.call(|c, _| c.disconnect_reason().cloned()),
        Some(DisconnectReason::Closed)
    );
    // The obvious loop sees Disconnected, then ends.
    let mut rest = Vec::new();
    while let Some(event) = conn.next_event() {
        rest.push(event);
    }
    assert!(
        matches!(
            &rest[..],
            [Event::Disconnected {
                reason: DisconnectReason::Closed
            }]
        ),
        "{rest:?}"
    );
    assert!(conn.next_event().is_none());
    assert_eq!(
        conn.send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "late"),
        Err(CommandError::Disconnected)
    );
    let log = server.finish();
    assert!(log.client_closed);
    // SCRAM-SHA-256 with gs2 flag `y`: the adapter reported TLS 1.3 channel-binding data
    // (tls-exporter), and the server offered no -PLUS.
    let auth = log
        .received
        .iter()
        .find(|e| e.starts_with("<auth"))
        .unwrap();
    assert!(auth.contains("mechanism='SCRAM-SHA-256'"), "{auth}");
    let payload = &auth[auth.find('>').unwrap() + 1..auth.rfind('<').unwrap()];
    let first = BASE64.decode(payload).unwrap();
    assert!(
        first.starts_with(b"y,,n=juliet,r="),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
}

#[test]
fn tokio_starttls_scram_bind_message_round_trip_and_clean_close() {
    let server = FakeServer::start(Script::default(), false, responder(0));
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        assert_eq!(handle.jid().as_str(), "juliet@example.com/balcony");
        // `connect` returning is the news of being online: no Online event follows; the
        // roster service's does.
        let event = events.next().await.unwrap();
        assert!(
            matches!(event, Event::Roster(RosterEvent::Loaded { .. })),
            "{event:?}"
        );
        let event = events.next().await;
        assert!(
            matches!(&event, Some(Event::ServerInfo(info)) if info.has_feature("urn:xmpp:carbons:2")),
            "{event:?}"
        );
        handle
            .send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "ping")
            .await
            .unwrap();
        let event = events.next().await.unwrap();
        assert_eq!(body(&event).as_deref(), Some("pong"));
        handle.close().await.unwrap();
        let Some(Event::Disconnected { reason }) = events.next().await else {
            panic!("no Disconnected")
        };
        assert_eq!(reason, DisconnectReason::Closed);
        assert!(events.next().await.is_none());
        // The session is over: commands say so.
        let r = handle
            .send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "late")
            .await;
        assert_eq!(r, Err(CommandError::Disconnected));
    });
    assert!(server.finish().client_closed);
}

#[test]
fn direct_tls_offers_alpn_and_skips_starttls() {
    for tokio in [false, true] {
        let server = FakeServer::start(Script::default(), true, responder(0));
        let opts = server.options().direct_tls("127.0.0.1", server.port());
        if tokio {
            runtime().block_on(async {
                let (handle, _events) = xtokio::connect(config(), &opts).await.unwrap();
                handle.close().await.unwrap();
            });
        } else {
            let conn = Connection::connect(config(), &opts).unwrap();
            conn.close().unwrap();
        }
        let log = server.finish();
        assert_eq!(
            log.alpn.as_deref(),
            Some(&b"xmpp-client"[..]),
            "tokio: {tokio}"
        );
        assert!(!log.received.iter().any(|e| e.contains("starttls")));
    }
}

// ---- certificates ----

fn connect_both(opts: &ConnectOptions, config: Config) -> (Result<(), Error>, Result<(), Error>) {
    let blocking = Connection::connect(config.clone(), opts).map(|c| c.close().unwrap());
    let tokio = runtime().block_on(async {
        let (handle, _events) = xtokio::connect(config, opts).await?;
        Ok(handle.close().await?)
    });
    (blocking, tokio)
}

#[test]
fn a_self_signed_certificate_is_refused_by_default_with_a_tls_error() {
    let first = FakeServer::plain();
    let second = FakeServer::plain();
    let opts = |s: &FakeServer| ConnectOptions::new().host("127.0.0.1", s.port());
    let blocking = Connection::connect(config(), &opts(&first));
    let tokio = runtime().block_on(xtokio::connect(config(), &opts(&second)));
    for result in [blocking.map(drop), tokio.map(drop)] {
        match result {
            Err(e @ Error::Tls { .. }) => {
                let text = e.to_string();
                let Error::Tls { server_name, .. } = e else {
                    unreachable!()
                };
                assert_eq!(server_name, "example.com");
                assert!(
                    text.contains("not signed by a CA in the trust store")
                        && text.contains("Trust::pem_file"),
                    "{text}"
                );
            }
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }
    // No credential reached the server.
    for log in [first.finish(), second.finish()] {
        assert!(log.tls_failed);
        assert!(!log.received.iter().any(|e| e.contains("<auth")));
    }
}

#[test]
fn a_ca_file_or_the_testing_escape_hatch_is_trusted() {
    let dir = std::env::temp_dir().join(format!("xmpp-sansio-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, &identity().cert_pem).unwrap();
    let from_file = Trust::pem_file(&pem).unwrap();
    for trust in [from_file, Trust::DangerousAcceptAnyCertificateForTesting] {
        let (a, b) = (FakeServer::plain(), FakeServer::plain());
        let opts = |s: &FakeServer| {
            ConnectOptions::new()
                .host("127.0.0.1", s.port())
                .trust(trust.clone())
        };
        Connection::connect(config(), &opts(&a))
            .unwrap()
            .close()
            .unwrap();
        runtime().block_on(async {
            let (handle, _events) = xtokio::connect(config(), &opts(&b)).await.unwrap();
            handle.close().await.unwrap();
        });
    }
    // A file without certificates is a configuration error, not a panic.
    std::fs::write(&pem, "not a certificate").unwrap();
    assert!(matches!(Trust::pem_file(&pem), Err(Error::TlsConfig(_))));
    assert!(matches!(
        Trust::pem_file(dir.join("missing.pem")),
        Err(Error::TlsConfig(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- typed failures ----

#[test]
fn wrong_password_is_a_typed_auth_error() {
    let script = Script {
        password: "something else",
        ..Script::default()
    };
    let (a, b) = (
        FakeServer::start(script.clone(), false, responder(0)),
        FakeServer::start(script, false, responder(0)),
    );
    let blocking = Connection::connect(config(), &a.options());
    let tokio = runtime().block_on(xtokio::connect(config(), &b.options()));
    for result in [blocking.map(drop), tokio.map(drop)] {
        assert!(
            matches!(result, Err(Error::Auth(AuthError::Failure { .. }))),
            "{result:?}"
        );
    }
}

#[test]
fn nothing_listening_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = ConnectOptions::new().host("127.0.0.1", port);
    let (blocking, tokio) = connect_both(&opts, config());
    for result in [blocking, tokio] {
        match result {
            Err(Error::Connect { endpoint, source }) => {
                assert_eq!(endpoint, format!("127.0.0.1:{port} (STARTTLS)"));
                assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_silent_server_is_a_negotiation_timeout() {
    let mut config = config();
    config.timeouts.negotiation = Duration::from_secs(1);
    for tokio in [false, true] {
        let (addr, _thread) = loopback::silent();
        let opts = ConnectOptions::new().host("127.0.0.1", addr.port());
        let result = if tokio {
            runtime()
                .block_on(xtokio::connect(config.clone(), &opts))
                .map(drop)
        } else {
            Connection::connect(config.clone(), &opts).map(drop)
        };
        assert!(
            matches!(&result, Err(Error::Negotiation(r)) if matches!(**r, DisconnectReason::NegotiationTimeout(_))),
            "{result:?}"
        );
    }
}

#[test]
fn see_other_host_is_followed_to_the_new_server() {
    for tokio in [false, true] {
        let server = FakeServer::plain();
        let target = format!("127.0.0.1:{}", server.port());
        let (redirector, count) = loopback::redirector(move || target.clone());
        let opts = server.options().host("127.0.0.1", redirector.port());
        if tokio {
            runtime().block_on(async {
                let (handle, _events) = xtokio::connect(config(), &opts).await.unwrap();
                handle.close().await.unwrap();
            });
        } else {
            Connection::connect(config(), &opts)
                .unwrap()
                .close()
                .unwrap();
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(server.finish().client_closed);
    }
}

#[test]
fn redirect_loops_end_after_max_redirects() {
    for tokio in [false, true] {
        let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
        let own = port.clone();
        let (addr, count) =
            loopback::redirector(move || format!("127.0.0.1:{}", own.get().unwrap()));
        port.set(addr.port()).unwrap();
        let mut opts = ConnectOptions::new().host("127.0.0.1", addr.port());
        opts.max_redirects = 2;
        let result = if tokio {
            runtime()
                .block_on(xtokio::connect(config(), &opts))
                .map(drop)
        } else {
            Connection::connect(config(), &opts).map(drop)
        };
        assert!(
            matches!(result, Err(Error::TooManyRedirects(2))),
            "{result:?}"
        );
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}

#[test]
fn a_stream_error_while_negotiating_is_typed() {
    // A see-other-host without an address cannot be followed: it is a stream error.
    let (addr, _) = loopback::redirector(String::new);
    let opts = ConnectOptions::new().host("127.0.0.1", addr.port());
    let (blocking, tokio) = connect_both(&opts, config());
    for result in [blocking, tokio] {
        assert!(
            matches!(&result, Err(Error::Stream(e)) if e.condition == StreamErrorCondition::SeeOtherHost),
            "{result:?}"
        );
    }
}

#[test]
fn a_server_that_dies_mid_session_is_a_typed_disconnect_not_a_hang() {
    let server = FakeServer::start(Script::default(), false, responder(0));
    let conn = Connection::connect(config(), &server.options()).unwrap();
    conn.send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "crash")
        .unwrap();
    let reason = end_blocking(&conn);
    assert!(
        matches!(
            reason,
            DisconnectReason::ConnectionLost | DisconnectReason::Transport(_)
        ),
        "{reason:?}"
    );
    drop(server);

    let server = FakeServer::start(Script::default(), false, responder(0));
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        handle
            .send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "crash")
            .await
            .unwrap();
        let reason = end_tokio(&mut events).await;
        assert!(
            matches!(
                reason,
                DisconnectReason::ConnectionLost | DisconnectReason::Transport(_)
            ),
            "{reason:?}"
        );
    });
}

// ---- tokio: select! and backpressure ----

#[test]
fn tokio_events_survive_select_cancellation() {
    const N: usize = 500;
    let server = FakeServer::start(Script::default(), false, responder(N));
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        handle
            .send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "flood")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut ticks = 0;
        while got.len() < N {
            tokio::select! {
                event = events.next() => {
                    if let Some(b) = body(&event.unwrap()) {
                        got.push(b.parse::<usize>().unwrap());
                    }
                }
                // A competing branch that often wins: each time, `next` is cancelled.
                () = tokio::task::yield_now() => ticks += 1,
            }
        }
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "lost or reordered");
        assert!(ticks > 0);
        handle.close().await.unwrap();
    });
}

#[test]
fn tokio_commands_go_through_while_the_application_is_not_reading_events() {
    // The server sends far more than the event channel holds while the application only
    // sends; the driver must keep taking commands (no deadlock) and lose nothing.
    const N: usize = 2000;
    let server = FakeServer::start(Script::default(), false, responder(N));
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        let to = ROMEO.parse().unwrap();
        handle
            .send_message(&to, MessageType::Chat, "flood")
            .await
            .unwrap();
        let sending = async {
            for i in 0..200 {
                handle
                    .send_message(&to, MessageType::Chat, &format!("m{i}"))
                    .await
                    .unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(20), sending)
            .await
            .expect("commands blocked behind unread events");
        let mut count = 0;
        while count < N {
            if body(&events.next().await.unwrap()).is_some() {
                count += 1;
            }
        }
        handle.close().await.unwrap();
    });
    let log = server.finish();
    assert_eq!(
        log.received
            .iter()
            .filter(|e| e.starts_with("<message"))
            .count(),
        201
    );
}

#[test]
fn tokio_dropping_every_handle_closes_the_session() {
    let server = FakeServer::plain();
    let opts = server.options();
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        drop(handle);
        assert_eq!(end_tokio(&mut events).await, DisconnectReason::Closed);
    });
    assert!(server.finish().client_closed);
}

// ---- robustness ----

#[test]
fn unbounded_timeouts_are_accepted_by_both_adapters() {
    let mut config = config();
    config.timeouts.negotiation = Duration::MAX;
    config.timeouts.iq = Duration::MAX;
    for tokio in [false, true] {
        let server = FakeServer::start(Script::default(), true, responder(0));
        let opts = server.options().direct_tls("127.0.0.1", server.port());
        if tokio {
            runtime().block_on(async {
                let (handle, _events) = xtokio::connect(config.clone(), &opts).await.unwrap();
                handle.close().await.unwrap();
            });
        } else {
            Connection::connect(config.clone(), &opts)
                .unwrap()
                .close()
                .unwrap();
        }
        assert!(server.finish().client_closed);
    }
}

#[test]
fn blocking_zero_timeout_polls_still_read() {
    let server = FakeServer::start(Script::default(), false, responder(0));
    let conn = Connection::connect(config(), &server.options()).unwrap();
    conn.send_message(&ROMEO.parse().unwrap(), MessageType::Chat, "ping")
        .unwrap();
    // A game loop polling with a zero timeout: the answer must come through.
    let start = std::time::Instant::now();
    let mut got = None;
    while got.is_none() && start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(event)) = conn.next_event_timeout(Duration::ZERO) {
            got = body(&event);
        }
    }
    assert_eq!(got.as_deref(), Some("pong"));
    conn.close().unwrap();
}

/// Sends 1 MiB messages to a server that stopped reading, until the session ends.
const BIG: usize = 1 << 20;

#[test]
fn a_peer_that_stops_reading_ends_the_session_after_the_write_timeout() {
    let to: xmpp_sansio::jid::Jid = ROMEO.parse().unwrap();
    let big = "x".repeat(BIG);
    let is_timeout = |reason: &DisconnectReason| matches!(reason, DisconnectReason::Transport(t) if t.contains("timed out"));

    let server = FakeServer::start(Script::default(), false, responder(0));
    let mut opts = server.options();
    opts.write_timeout = Duration::from_millis(500);
    let conn = Connection::connect(config(), &opts).unwrap();
    conn.send_message(&to, MessageType::Chat, "stall").unwrap();
    for _ in 0..256 {
        if conn.call(|c, _| c.is_closed()) {
            break;
        }
        let _ = conn.send_message(&to, MessageType::Chat, &big);
    }
    let reason = end_blocking(&conn);
    assert!(is_timeout(&reason), "{reason:?}");

    let server = FakeServer::start(Script::default(), false, responder(0));
    let mut opts = server.options();
    opts.write_timeout = Duration::from_millis(500);
    runtime().block_on(async move {
        let (handle, mut events) = xtokio::connect(config(), &opts).await.unwrap();
        handle
            .send_message(&to, MessageType::Chat, "stall")
            .await
            .unwrap();
        for _ in 0..256 {
            if handle
                .send_message(&to, MessageType::Chat, &big)
                .await
                .is_err()
            {
                break;
            }
        }
        let reason = end_tokio(&mut events).await;
        assert!(is_timeout(&reason), "{reason:?}");
    });
}

// ---- in-band registration (XEP-0077) ----

/// A server whose registration form is `form` (set once STARTTLS is asked for, before the
/// form is requested).
fn registrar(form: &'static str) -> FakeServer {
    FakeServer::start(Script::default(), false, move |el, server| {
        if el.starts_with("<starttls") {
            server.register_form = form.to_owned();
        }
        Reaction::Continue
    })
}

/// The registration the client submitted, as the server received it.
fn submitted(log: &loopback::Log) -> &str {
    log.received
        .iter()
        .find(|el| el.contains("jabber:iq:register") && el.contains("type='set'"))
        .map_or("", String::as_str)
}

#[test]
fn both_adapters_register_an_account_and_return_its_jid() {
    let (a, b) = (
        registrar(harness::EJABBERD_REGISTER_FORM),
        registrar(harness::EJABBERD_REGISTER_FORM),
    );
    let blocking = Connection::register(config(), &a.options(), |_| {}).unwrap();
    let tokio = runtime()
        .block_on(xtokio::register(config(), &b.options(), |_| {}))
        .unwrap();
    for (jid, server) in [(blocking, a), (tokio, b)] {
        assert_eq!(jid, config().jid.bare());
        let log = server.finish();
        let set = submitted(&log);
        assert!(set.contains("<username>juliet</username>"), "{set}");
        assert!(log.client_closed, "registration only closes the stream");
    }
}

#[test]
fn connect_with_register_registers_then_logs_in_on_the_same_stream() {
    use xmpp_sansio::client::register::{Register, RegistrationEvent};
    let registering = || {
        let mut c = config();
        c.register = Some(Register::Automatic { then_login: true });
        c
    };
    let registered = |e: &Event| matches!(e, Event::Registration(RegistrationEvent::Registered { jid }) if *jid == config().jid.bare());
    let a = registrar(harness::PROSODY_REGISTER_FORM);
    let conn = Connection::connect(registering(), &a.options()).unwrap();
    let first = conn.next_event().unwrap();
    assert!(registered(&first), "{first:?}");
    conn.close().unwrap();
    // Returning from `connect` was the news of being online: no `Online` after it.
    let mut rest = Vec::new();
    while let Some(e) = conn.next_event() {
        rest.push(e);
    }
    assert!(
        !rest.iter().any(|e| matches!(e, Event::Online { .. })),
        "{rest:?}"
    );
    assert!(submitted(&a.finish()).contains("jabber:x:data"));

    let b = registrar(harness::PROSODY_REGISTER_FORM);
    runtime().block_on(async {
        let (handle, mut events) = xtokio::connect(registering(), &b.options()).await.unwrap();
        let first = events.next().await.unwrap();
        assert!(registered(&first), "{first:?}");
        handle.close().await.unwrap();
        let mut rest = Vec::new();
        while let Some(e) = events.next().await {
            rest.push(e);
        }
        assert!(
            !rest.iter().any(|e| matches!(e, Event::Online { .. })),
            "{rest:?}"
        );
    });
    assert!(submitted(&b.finish()).contains("jabber:x:data"));
}

#[test]
fn a_form_nobody_fills_is_a_typed_error_and_a_filled_one_registers() {
    use xmpp_sansio::client::register::RegistrationError;
    const WITH_EMAIL: &str = "<username/><password/><email/>";
    let unfilled = |r: Result<xmpp_sansio::jid::Jid, Error>| match r {
        Err(Error::Registration(RegistrationError::UnfilledFields(fields))) => {
            assert_eq!(fields, ["email"])
        }
        other => panic!("{other:?}"),
    };
    let (a, b) = (registrar(WITH_EMAIL), registrar(WITH_EMAIL));
    unfilled(Connection::register(config(), &a.options(), |_| {}));
    unfilled(runtime().block_on(xtokio::register(config(), &b.options(), |_| {})));
    for server in [a, b] {
        assert_eq!(submitted(&server.finish()), "", "nothing submitted");
    }

    let fill = |form: &mut xmpp_sansio::client::register::RegistrationForm| {
        form.fill("email", "juliet@capulet.example");
    };
    let (a, b) = (registrar(WITH_EMAIL), registrar(WITH_EMAIL));
    Connection::register(config(), &a.options(), fill).unwrap();
    runtime()
        .block_on(xtokio::register(config(), &b.options(), fill))
        .unwrap();
    for server in [a, b] {
        let log = server.finish();
        assert!(
            submitted(&log).contains("<email>juliet@capulet.example</email>"),
            "{}",
            submitted(&log)
        );
    }
}

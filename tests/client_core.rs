//! The client core against a scripted in-memory server with real SCRAM verification: every
//! success path and every failure branch of negotiation, and the session services.

mod harness;

use std::time::Duration;

use harness::{config, BindReply, Pair, Script, Seen, Tamper, DOMAIN, USER};
use xmpp_sansio::client::sasl::{AuthError, ChannelBinding, Mechanism, SaslCondition};
use xmpp_sansio::client::stanza::{IqType, MessageType, OutgoingPresence, StanzaErrorCondition};
use xmpp_sansio::client::{CommandError, DisconnectReason, Event, IqError, TlsInfo, TlsPolicy};
use xmpp_sansio::xml::{Builder, XmlErrorKind};
use xmpp_sansio::StreamErrorCondition;

fn online() -> Pair {
    Pair::online(config(), Script::default())
}

#[test]
fn negotiates_starttls_scram_sha_256_bind_and_goes_online() {
    let pair = online();
    assert_eq!(
        pair.client.jid().unwrap().as_str(),
        format!("{USER}@{DOMAIN}/balcony")
    );
    assert_eq!(pair.client.mechanism(), Some(Mechanism::ScramSha256));
    assert!(pair.client.is_secure());
    // The order of what the driver was asked: header, <starttls/>, then StartTls, then a new
    // header (now with `from`), auth, ..., Online last.
    let starttls = pair
        .seen
        .iter()
        .position(|s| matches!(s, Seen::Send(b) if b.contains("<starttls")))
        .unwrap();
    assert!(
        matches!(&pair.seen[starttls + 1], Seen::StartTls(name) if name == DOMAIN),
        "{:#?}",
        pair.seen
    );
    let Seen::Send(first) = &pair.seen[0] else {
        panic!()
    };
    assert!(!first.contains("from="), "no from before TLS: {first}");
    assert!(pair.sent().contains(&format!("from='{USER}@{DOMAIN}'")));
    assert!(pair.sent().contains("mechanism='SCRAM-SHA-256'"));
    assert!(pair.sent().contains("<resource>balcony</resource>"));
    assert!(
        !pair.sent().contains("xmpp-session"),
        "optional session not established"
    );
    // Online first; then what the services started once online.
    assert!(matches!(pair.events.first(), Some(Event::Online { .. })));
    assert!(pair.events[1..]
        .iter()
        .all(|e| matches!(e, Event::Roster(_) | Event::ServerInfo(_))));
}

#[test]
fn scram_sha_1_and_plain_when_that_is_all_the_server_offers() {
    let script = Script {
        mechanisms: vec!["SCRAM-SHA-1", "PLAIN"],
        ..Script::default()
    };
    let pair = Pair::online(config(), script);
    assert_eq!(pair.client.mechanism(), Some(Mechanism::ScramSha1));
    let script = Script {
        mechanisms: vec!["PLAIN"],
        ..Script::default()
    };
    let pair = Pair::online(config(), script);
    assert_eq!(pair.client.mechanism(), Some(Mechanism::Plain));
}

#[test]
fn scram_plus_with_tls_exporter_binding() {
    let binding = b"exported keying material, 32 by".to_vec();
    let script = Script {
        mechanisms: vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"],
        cb_types: Some(vec!["tls-exporter"]),
        server_binding: binding.clone(),
        ..Script::default()
    };
    let mut pair = Pair::new(config(), script.clone());
    pair.tls_info = TlsInfo::with_channel_binding(ChannelBinding::TlsExporter(binding));
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    assert_eq!(pair.client.mechanism(), Some(Mechanism::ScramSha256Plus));
    // A man in the middle terminates TLS: the two sides see different binding data.
    let mut pair = Pair::new(config(), script);
    pair.tls_info =
        TlsInfo::with_channel_binding(ChannelBinding::TlsExporter(b"attacker's session".to_vec()));
    pair.drive();
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Auth(AuthError::Failure { .. }))
    ));
}

#[test]
fn legacy_session_is_established_when_not_optional() {
    let script = Script {
        session: Some(false),
        ..Script::default()
    };
    let pair = Pair::online(config(), script);
    assert!(pair
        .sent()
        .contains("<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>"));
}

#[test]
fn server_assigned_resource() {
    let mut c = config();
    c.jid = format!("{USER}@{DOMAIN}").parse().unwrap();
    let pair = Pair::online(c, Script::default());
    assert_eq!(pair.client.jid().unwrap().resource(), Some("generated"));
}

#[test]
fn missing_starttls_fails_before_any_credential_is_sent() {
    let script = Script {
        starttls: false,
        ..Script::default()
    };
    let mut pair = Pair::new(config(), script);
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::TlsNotOffered)
    );
    assert!(!pair.sent().contains("<auth"), "{}", pair.sent());
    assert!(
        !pair.sent().contains(USER),
        "not even the username: {}",
        pair.sent()
    );
    assert!(pair.client.is_closed());
    assert_eq!(
        pair.seen.last(),
        Some(&Seen::Event(format!(
            "disconnected {:?}",
            DisconnectReason::TlsNotOffered
        )))
    );
}

#[test]
fn plaintext_is_possible_only_by_explicit_opt_in() {
    let script = Script {
        starttls: false,
        mechanisms: vec!["PLAIN"],
        ..Script::default()
    };
    let mut c = config();
    c.tls = TlsPolicy::DangerousPlaintextAllowed;
    // Without TLS, only SCRAM unless PLAIN in clear is allowed too: stripping STARTTLS must
    // not make the client send its password.
    let mut pair = Pair::new(c.clone(), script.clone());
    pair.drive();
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Auth(AuthError::NoMechanism { .. }))
    ));
    assert!(!pair.sent().contains("<auth"));
    let scram = Script {
        starttls: false,
        ..Script::default()
    };
    let pair = Pair::online(c.clone(), scram);
    assert_eq!(pair.client.mechanism(), Some(Mechanism::ScramSha256));
    c.dangerous_plain_without_tls = true;
    let pair = Pair::online(c, script);
    assert!(!pair.client.is_secure());
    assert_eq!(pair.client.mechanism(), Some(Mechanism::Plain));
}

#[test]
fn plaintext_after_proceed_is_an_attack() {
    let script = Script {
        after_proceed: Some("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"),
        ..Script::default()
    };
    let mut pair = Pair::new(config(), script);
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::PlaintextAfterProceed)
    );
    assert!(
        !pair.seen.iter().any(|s| matches!(s, Seen::StartTls(_))),
        "no TLS on a tainted stream"
    );
    assert!(!pair.sent().contains("<auth"));
}

#[test]
fn plaintext_arriving_while_tls_starts_is_an_attack() {
    let mut pair = Pair::new(config(), Script::default());
    pair.step_until(false, |(asked_tls, _)| asked_tls);
    pair.client.handle_input(pair.now, b"<injected/>");
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::PlaintextAfterProceed)
    );
}

#[test]
fn mechanism_downgrade_is_refused() {
    let mut c = config();
    c.sasl.pinned = Some(Mechanism::ScramSha256);
    let script = Script {
        mechanisms: vec!["SCRAM-SHA-1", "PLAIN"],
        ..Script::default()
    };
    let mut pair = Pair::new(c, script);
    pair.drive();
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Auth(AuthError::Downgrade { .. }))
    ));
    assert!(!pair.sent().contains("<auth"));
}

#[test]
fn no_acceptable_mechanism() {
    let mut c = config();
    c.sasl.allowed = vec![Mechanism::ScramSha256];
    let script = Script {
        mechanisms: vec!["PLAIN", "X-OAUTH2"],
        ..Script::default()
    };
    let mut pair = Pair::new(c, script);
    pair.drive();
    let Some(DisconnectReason::Auth(AuthError::NoMechanism { offered })) = pair.disconnect_reason()
    else {
        panic!("{:?}", pair.disconnect_reason())
    };
    assert_eq!(offered, vec!["PLAIN".to_owned(), "X-OAUTH2".to_owned()]);
}

#[test]
fn wrong_password_is_a_typed_failure_with_the_servers_text() {
    let script = Script {
        password: "the-real-one",
        ..Script::default()
    };
    let mut pair = Pair::new(config(), script);
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Auth(AuthError::Failure {
            condition: SaslCondition::NotAuthorized,
            text: Some("nope".into())
        }))
    );
    assert!(!pair.client.is_online());
}

fn scram_failure(tamper: Tamper) -> Option<DisconnectReason> {
    let mut pair = Pair::new(
        config(),
        Script {
            tamper,
            ..Script::default()
        },
    );
    pair.drive();
    assert!(!pair.client.is_online());
    assert!(pair
        .events
        .iter()
        .all(|e| !matches!(e, Event::Online { .. })));
    pair.disconnect_reason()
}

#[test]
fn bad_server_signature_fails_even_after_success() {
    assert_eq!(
        scram_failure(Tamper::Signature),
        Some(DisconnectReason::Auth(AuthError::ServerSignature))
    );
    assert_eq!(
        scram_failure(Tamper::MissingSignature),
        Some(DisconnectReason::Auth(AuthError::ServerSignature))
    );
    assert_eq!(
        scram_failure(Tamper::FinalError("invalid-proof")),
        Some(DisconnectReason::Auth(AuthError::ServerError(
            "invalid-proof".into()
        )))
    );
}

#[test]
fn server_final_as_a_challenge_is_accepted() {
    let pair = Pair::online(
        config(),
        Script {
            tamper: Tamper::FinalAsChallenge,
            ..Script::default()
        },
    );
    assert_eq!(pair.client.mechanism(), Some(Mechanism::ScramSha256));
}

#[test]
fn bad_server_nonce_aborts() {
    let mut pair = Pair::new(
        config(),
        Script {
            tamper: Tamper::ServerNonce,
            ..Script::default()
        },
    );
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Auth(AuthError::ServerNonce))
    );
    assert!(pair
        .sent()
        .contains("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    assert!(
        !pair.sent().contains("<response"),
        "no proof sent to an impostor"
    );
}

#[test]
fn absurd_iteration_counts_are_refused() {
    for n in [0, 1, 4095, 10_000_000] {
        let reason = scram_failure(Tamper::Iterations(n));
        assert!(
            matches!(reason, Some(DisconnectReason::Auth(AuthError::IterationCount { count, .. })) if count == n),
            "{n}: {reason:?}"
        );
    }
}

#[test]
fn bind_conflict_and_bad_bind_results() {
    let mut pair = Pair::new(
        config(),
        Script {
            bind: BindReply::Error("conflict"),
            ..Script::default()
        },
    );
    pair.drive();
    let Some(DisconnectReason::Bind(error)) = pair.disconnect_reason() else {
        panic!("{:?}", pair.disconnect_reason())
    };
    assert_eq!(error.condition, StanzaErrorCondition::Conflict);

    let mut pair = Pair::new(
        config(),
        Script {
            bind: BindReply::OtherJid("mallory@example.com/x"),
            ..Script::default()
        },
    );
    pair.drive();
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Protocol(_))
    ));
}

#[test]
fn every_stream_error_condition_is_typed_with_its_text() {
    use StreamErrorCondition::SeeOtherHost;
    assert_eq!(StreamErrorCondition::ALL.len(), 25);
    for condition in StreamErrorCondition::ALL {
        let mut pair = online();
        let body = if condition == SeeOtherHost {
            "[2001:db8::1]:5222"
        } else {
            ""
        };
        pair.server_sends(&format!(
            "<stream:error><{name} xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{body}</{name}>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>because</text>\
             <escape-your-data xmlns='urn:example:app'/></stream:error>",
            name = condition.name()
        ));
        let Some(DisconnectReason::StreamError(e)) = pair.disconnect_reason() else {
            panic!("{condition}: {:?}", pair.disconnect_reason())
        };
        assert_eq!(e.condition, condition);
        assert_eq!(e.text.as_deref(), Some("because"));
        assert_eq!(
            e.app_specific,
            Some(("escape-your-data".into(), "urn:example:app".into()))
        );
        if condition == SeeOtherHost {
            assert_eq!(e.see_other_host.as_deref(), Some("[2001:db8::1]:5222"));
        }
        assert!(pair.sent().ends_with("</stream:stream>"));
        assert_eq!(pair.seen.iter().filter(|s| **s == Seen::Close).count(), 1);
    }
}

#[test]
fn malformed_xml_from_the_server_gets_the_right_stream_error() {
    let cases = [
        (
            "<message><body>x</message>",
            StreamErrorCondition::NotWellFormed,
        ),
        (
            "<message><!-- hi --></message>",
            StreamErrorCondition::RestrictedXml,
        ),
        (
            "<message>&nbsp;</message>",
            StreamErrorCondition::RestrictedXml,
        ),
        ("<p:message/>", StreamErrorCondition::BadNamespacePrefix),
    ];
    for (input, condition) in cases {
        let mut pair = online();
        pair.server_sends(input);
        let Some(DisconnectReason::InvalidXml(e)) = pair.disconnect_reason() else {
            panic!("{input}: {:?}", pair.disconnect_reason())
        };
        assert_eq!(e.condition(), condition, "{input}");
        let tail = format!(
            "<stream:error><{} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
            condition.name()
        );
        assert!(pair.sent().ends_with(&tail), "{input}: {}", pair.sent());
        // Inert afterwards.
        pair.client
            .handle_input(pair.now, b"<message><body>more</body></message>");
        assert!(pair.client.poll_action().is_none());
        assert!(matches!(
            pair.client
                .send_message(pair.now, &"a@b".parse().unwrap(), MessageType::Chat, "x"),
            Err(CommandError::Disconnected)
        ));
    }
    // Oversized: policy-violation.
    let mut c = config();
    c.limits.max_element_size = 4096;
    let mut pair = Pair::online(c, Script::default());
    pair.server_sends(&format!(
        "<message><body>{}</body></message>",
        "x".repeat(5000)
    ));
    let Some(DisconnectReason::InvalidXml(e)) = pair.disconnect_reason() else {
        panic!()
    };
    assert_eq!(e.kind(), &XmlErrorKind::ElementTooLarge { limit: 4096 });
}

#[test]
fn messages_and_presence_arrive_as_typed_events() {
    let mut pair = online();
    pair.server_sends(
        "<message from='romeo@example.net/orchard' to='juliet@example.com/balcony' type='chat' id='m1'>\
         <body>Art thou not Romeo, and a Montague?</body></message>\
         <presence from='romeo@example.net/orchard'><show>away</show><priority>5</priority></presence>",
    );
    let n = pair.events.len();
    let Event::Message(m) = &pair.events[n - 2] else {
        panic!("{:?}", pair.events)
    };
    assert_eq!(
        m.from.as_ref().unwrap().as_str(),
        "romeo@example.net/orchard"
    );
    assert_eq!(m.kind, MessageType::Chat);
    assert_eq!(
        m.body().as_deref(),
        Some("Art thou not Romeo, and a Montague?")
    );
    assert!(matches!(&pair.events[n - 1], Event::Presence(p) if p.priority == 5));
}

#[test]
fn iq_responses_are_matched_by_id_and_sender() {
    let mut pair = online();
    pair.server.auto_iq = false;
    let romeo = "romeo@example.net/orchard".parse().unwrap();
    let id = pair
        .client
        .send_iq(
            pair.now,
            Some(&romeo),
            IqType::Get,
            Builder::new("query", "http://jabber.org/protocol/disco#info"),
        )
        .unwrap();
    let before = pair.events.len();
    // Spoofed: right id, wrong sender; and no sender at all (that would be our server).
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='mallory@example.org/x'/>"
    ));
    pair.server_sends(&format!("<iq type='result' id='{id}'/>"));
    assert_eq!(
        pair.events.len(),
        before,
        "spoofed responses are not responses"
    );
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='romeo@example.net/orchard'/>"
    ));
    assert!(
        matches!(pair.events.last(), Some(Event::IqResponse { id: i, result: Ok(iq) }) if *i == id && iq.id == id)
    );
    // A second, late copy is ignored.
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='romeo@example.net/orchard'/>"
    ));
    assert_eq!(pair.events.len(), before + 1);

    // Requests to our own server may be answered with no from, our domain, or our JIDs.
    for from in [
        "",
        " from='example.com'",
        " from='juliet@example.com'",
        " from='juliet@example.com/balcony'",
    ] {
        let id = pair
            .client
            .send_iq(
                pair.now,
                None,
                IqType::Get,
                Builder::new("query", "jabber:iq:roster"),
            )
            .unwrap();
        pair.server_sends(&format!("<iq type='result' id='{id}'{from}/>"));
        assert!(
            matches!(pair.events.last(), Some(Event::IqResponse { id: i, result: Ok(_) }) if *i == id),
            "{from}"
        );
    }
    // ...but not from anyone else.
    let id = pair
        .client
        .send_iq(
            pair.now,
            None,
            IqType::Get,
            Builder::new("query", "jabber:iq:roster"),
        )
        .unwrap();
    let before = pair.events.len();
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='romeo@example.net'/>"
    ));
    assert_eq!(pair.events.len(), before);
}

#[test]
fn iq_errors_carry_the_stanza_error() {
    let mut pair = online();
    let id = pair
        .client
        .send_iq(
            pair.now,
            None,
            IqType::Set,
            Builder::new("query", "jabber:iq:register"),
        )
        .unwrap();
    pair.server_sends(&format!(
        "<iq type='error' id='{id}'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>The requested username already exists.</text></error></iq>"
    ));
    let Some(Event::IqResponse {
        id: answered,
        result: Err(IqError::Stanza(error)),
    }) = pair.events.last()
    else {
        panic!("{:?}", pair.events.last())
    };
    assert_eq!(*answered, id);
    assert_eq!(error.condition, StanzaErrorCondition::Conflict);
    assert_eq!(
        error.text.as_deref(),
        Some("The requested username already exists.")
    );
}

#[test]
fn iq_requests_time_out() {
    let mut pair = online();
    let id = pair
        .client
        .send_iq(
            pair.now,
            None,
            IqType::Get,
            Builder::new("query", "jabber:iq:version"),
        )
        .unwrap();
    pair.advance(Duration::from_secs(29));
    assert!(!pair
        .events
        .iter()
        .any(|e| matches!(e, Event::IqResponse { .. })));
    pair.advance(Duration::from_secs(1));
    assert!(matches!(
        pair.events.last(),
        Some(Event::IqResponse { id: t, result: Err(IqError::Timeout) }) if *t == id
    ));
    // A late response is ignored.
    let before = pair.events.len();
    pair.server_sends(&format!("<iq type='result' id='{id}'/>"));
    assert_eq!(pair.events.len(), before);
}

#[test]
fn unhandled_requests_get_service_unavailable_handled_ones_reach_the_app() {
    let mut pair = online();
    pair.server_sends("<iq type='get' id='v1' from='romeo@example.net/orchard'><query xmlns='jabber:iq:version'/></iq>");
    assert!(
        pair.sent().contains(
            "<iq type='error' id='v1' to='romeo@example.net/orchard'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ),
        "{}",
        pair.sent()
    );
    pair.client.handle_iq_namespace("jabber:iq:version");
    pair.server_sends("<iq type='get' id='v2' from='romeo@example.net/orchard'><query xmlns='jabber:iq:version'/></iq>");
    let Some(Event::IqRequest(request)) = pair.events.last() else {
        panic!("{:?}", pair.events.last())
    };
    let request = request.clone();
    let reply = Builder::new("query", "jabber:iq:version")
        .child(Builder::new("name", "jabber:iq:version").text("xmpp-sansio"));
    pair.client
        .reply_iq(pair.now, &request, Ok(Some(reply)))
        .unwrap();
    pair.drive();
    assert!(pair.sent().contains(
        "<iq type='result' id='v2' to='romeo@example.net/orchard'><query xmlns='jabber:iq:version'><name>xmpp-sansio</name></query></iq>"
    ));
}

#[test]
fn server_pings_are_answered() {
    let mut pair = online();
    pair.server_sends(
        "<iq type='get' id='p1' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    assert!(pair
        .sent()
        .ends_with("<iq type='result' id='p1' to='example.com'/>"));
}

#[test]
fn keepalive_ping_and_ping_timeout() {
    let mut pair = online();
    pair.server.auto_iq = false;
    let sent_before = pair.sent().len();
    pair.advance(Duration::from_secs(60));
    assert_eq!(
        &pair.sent()[sent_before..],
        " ",
        "whitespace keepalive after 60 s idle"
    );
    pair.advance(Duration::from_secs(60));
    assert!(
        pair.sent().contains("<ping xmlns='urn:xmpp:ping'/>"),
        "ping after 120 s of silence"
    );
    pair.advance(Duration::from_secs(29));
    assert!(pair.client.is_online());
    pair.advance(Duration::from_secs(1));
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::PingTimeout)
    );
}

#[test]
fn an_answered_ping_keeps_the_session_alive() {
    let mut pair = online();
    for _ in 0..10 {
        pair.advance(Duration::from_secs(60));
    }
    assert!(pair.client.is_online());
    assert!(pair.sent().matches("urn:xmpp:ping").count() >= 3);
    assert!(
        !pair
            .events
            .iter()
            .any(|e| matches!(e, Event::IqResponse { .. })),
        "our own pings are not events"
    );
}

#[test]
fn commands_before_online_are_refused_and_change_nothing() {
    let mut pair = Pair::new(config(), Script::default());
    let romeo = "romeo@example.net".parse().unwrap();
    let queued_before = pair.client.poll_timeout();
    assert!(matches!(
        pair.client
            .send_message(pair.now, &romeo, MessageType::Chat, "too early"),
        Err(CommandError::NotOnline(_))
    ));
    assert!(matches!(
        pair.client
            .send_iq(pair.now, None, IqType::Get, Builder::new("q", "urn:x")),
        Err(CommandError::NotOnline(_))
    ));
    assert_eq!(pair.client.poll_timeout(), queued_before);
    pair.drive();
    assert!(!pair.sent().contains("too early"));
    assert!(pair.client.is_online());
}

#[test]
fn invalid_commands_are_refused() {
    let mut pair = online();
    assert!(matches!(
        pair.client
            .send_presence(pair.now, Builder::new("message", "jabber:client")),
        Err(CommandError::InvalidStanza(_))
    ));
    assert!(matches!(
        pair.client
            .send_iq(pair.now, None, IqType::Result, Builder::new("q", "urn:x")),
        Err(CommandError::InvalidStanza(_))
    ));
    let romeo = "romeo@example.net".parse().unwrap();
    assert!(matches!(
        pair.client
            .send_message(pair.now, &romeo, MessageType::Chat, "nul \u{0} byte"),
        Err(CommandError::Build(_))
    ));
}

#[test]
fn messages_are_sent_after_everything_queued_before_them() {
    let mut pair = online();
    let romeo = "romeo@example.net".parse().unwrap();
    pair.client
        .send_presence(pair.now, OutgoingPresence::available())
        .unwrap();
    pair.client
        .send_message(pair.now, &romeo, MessageType::Chat, "one")
        .unwrap();
    pair.client
        .send_message(pair.now, &romeo, MessageType::Chat, "two & <three>")
        .unwrap();
    pair.client.close(pair.now);
    pair.drive();
    let sent = pair.sent();
    let p = sent.rfind("<presence><c ").unwrap();
    let one = sent.find(">one<").unwrap();
    let two = sent.find("two &amp; &lt;three&gt;").unwrap();
    assert!(p < one && one < two && two < sent.rfind("</stream:stream>").unwrap());
    assert_eq!(pair.disconnect_reason(), Some(DisconnectReason::Closed));
}

#[test]
fn close_in_every_phase() {
    // Close after the n-th exchange of negotiation, for every n until online.
    for steps in 0..12 {
        let mut pair = Pair::new(config(), Script::default());
        for _ in 0..steps {
            pair.step(true);
        }
        pair.client.close(pair.now);
        pair.drive();
        assert_eq!(
            pair.disconnect_reason(),
            Some(DisconnectReason::Closed),
            "after {steps} steps"
        );
        // Our stream is closed properly; only between <proceed/> and the TLS handshake is
        // there no stream to close.
        let sent = pair.sent();
        assert!(
            sent.ends_with("</stream:stream>")
                || sent.ends_with("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            "after {steps} steps: {sent}"
        );
        assert!(pair.client.is_closed());
    }
}

#[test]
fn close_waits_for_the_server_then_gives_up() {
    let mut pair = Pair::online(
        config(),
        Script {
            answer_close: false,
            ..Script::default()
        },
    );
    pair.client.close(pair.now);
    pair.drive();
    assert!(
        !pair.client.is_closed(),
        "waiting for the server's </stream:stream>"
    );
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.disconnect_reason(), Some(DisconnectReason::Closed));
}

#[test]
fn server_closing_first_is_answered() {
    let mut pair = online();
    pair.server_sends("</stream:stream>");
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::ServerClosed)
    );
    assert!(pair.sent().ends_with("</stream:stream>"));
    assert_eq!(pair.seen.iter().filter(|s| **s == Seen::Close).count(), 1);
}

#[test]
fn eof_and_negotiation_timeout() {
    let mut pair = Pair::new(config(), Script::default());
    pair.client.handle_eof(pair.now);
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::ConnectionLost)
    );

    // A server that never answers.
    let mut pair = Pair::new(config(), Script::default());
    pair.transport_closed = true;
    pair.drive();
    pair.transport_closed = false;
    assert!(pair.client.poll_timeout().is_some());
    pair.advance(Duration::from_secs(29));
    assert!(pair.disconnect_reason().is_none());
    pair.advance(Duration::from_secs(1));
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::NegotiationTimeout(_))
    ));
    assert!(pair.client.poll_timeout().is_none());
}

#[test]
fn spurious_timeouts_do_nothing() {
    let mut pair = online();
    let sent = pair.sent().len();
    let events = pair.events.len();
    for _ in 0..100 {
        pair.client.handle_timeout(pair.now);
    }
    pair.drive();
    assert_eq!(pair.sent().len(), sent);
    assert_eq!(pair.events.len(), events);
}

#[test]
fn unexpected_elements_during_negotiation_are_protocol_errors() {
    let mut pair = Pair::new(config(), Script::default());
    pair.server.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message><body>hi</body></message>");
    pair.client
        .handle_input(pair.now, &std::mem::take(&mut pair.server.out));
    assert!(matches!(
        pair.client.disconnect_reason(),
        Some(DisconnectReason::Protocol(_))
    ));
}

#[test]
fn wrong_content_namespace_or_version() {
    let mut pair = Pair::new(config(), Script::default());
    pair.client.handle_input(pair.now, b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
    assert!(matches!(
        pair.client.disconnect_reason(),
        Some(DisconnectReason::Protocol(_))
    ));
    pair.drive();
    assert!(pair.sent().contains("<invalid-namespace"));

    let mut pair = Pair::new(config(), Script::default());
    pair.client.handle_input(
        pair.now,
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    pair.drive();
    assert!(pair.sent().contains("<unsupported-version"));
}

#[test]
fn starttls_refused() {
    let mut pair = Pair::new(
        config(),
        Script {
            refuse_tls: true,
            ..Script::default()
        },
    );
    pair.drive();
    assert_eq!(pair.disconnect_reason(), Some(DisconnectReason::TlsRefused));
    assert!(!pair.sent().contains("<auth"));
}

#[test]
fn failing_while_tls_starts_sends_nothing_more_in_plaintext() {
    let mut pair = Pair::new(config(), Script::default());
    // Up to StartTls, and then the handshake never completes.
    pair.step_until(false, |(asked_tls, _)| asked_tls);
    pair.now += Duration::from_secs(30);
    pair.client.handle_timeout(pair.now);
    let rest: Vec<_> = std::iter::from_fn(|| pair.client.poll_action()).collect();
    assert!(
        matches!(
            rest.as_slice(),
            [
                xmpp_sansio::client::Action::Close,
                xmpp_sansio::client::Action::Event(Event::Disconnected { .. })
            ]
        ),
        "{rest:?}"
    );
}

#[test]
fn tls_established_without_being_asked_is_refused() {
    let mut pair = Pair::new(config(), Script::default());
    assert!(matches!(
        pair.client.handle_tls_established(pair.now, TlsInfo::new()),
        Err(CommandError::Unexpected(_))
    ));
    assert!(!pair.client.is_secure());
    pair.drive();
    assert!(pair.client.is_online());
    assert!(pair
        .client
        .handle_tls_established(pair.now, TlsInfo::new())
        .is_err());
}

#[test]
fn session_errors_and_missing_bind() {
    let script = Script {
        session: Some(false),
        session_error: Some("forbidden"),
        ..Script::default()
    };
    let mut pair = Pair::new(config(), script);
    pair.drive();
    let Some(DisconnectReason::Session(e)) = pair.disconnect_reason() else {
        panic!("{:?}", pair.disconnect_reason())
    };
    assert_eq!(e.condition, StanzaErrorCondition::Forbidden);

    let mut pair = Pair::new(
        config(),
        Script {
            offer_bind: false,
            ..Script::default()
        },
    );
    pair.drive();
    assert!(matches!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Protocol(_))
    ));
    assert!(pair.sent().contains("<unsupported-feature"));
}

#[test]
fn stanzas_overtaking_the_bind_result_are_delivered_once_online() {
    let script = Script {
        before_bind_result: Some(
            "<message from='romeo@example.net/orchard'><body>early</body></message>",
        ),
        ..Script::default()
    };
    let pair = Pair::online(config(), script);
    let online = pair
        .events
        .iter()
        .position(|e| matches!(e, Event::Online { .. }))
        .unwrap();
    assert!(
        matches!(&pair.events[online + 1], Event::Message(m) if m.body().as_deref() == Some("early"))
    );
}

#[test]
fn stream_errors_and_server_close_during_negotiation() {
    let mut pair = Pair::new(config(), Script::default());
    pair.server.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
        <stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>other.example.com:5222</see-other-host></stream:error>");
    pair.client
        .handle_input(pair.now, &std::mem::take(&mut pair.server.out));
    let Some(DisconnectReason::StreamError(e)) = pair.client.disconnect_reason().cloned() else {
        panic!()
    };
    assert_eq!(e.see_other_host.as_deref(), Some("other.example.com:5222"));

    let mut pair = Pair::new(config(), Script::default());
    pair.client.handle_input(pair.now, b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'></stream:stream>");
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::ServerClosed)
    );
}

#[test]
fn sasl_failure_conditions_are_typed() {
    for (name, condition) in [
        ("account-disabled", SaslCondition::AccountDisabled),
        ("credentials-expired", SaslCondition::CredentialsExpired),
        (
            "temporary-auth-failure",
            SaslCondition::TemporaryAuthFailure,
        ),
        ("mechanism-too-weak", SaslCondition::MechanismTooWeak),
    ] {
        let mut pair = Pair::new(
            config(),
            Script {
                mechanisms: vec!["SCRAM-SHA-1"],
                ..Script::default()
            },
        );
        // Run until the client sent <auth/>, then answer with the failure.
        pair.server.script.password = "unused";
        pair.step_until(true, |(_, sent_auth)| sent_auth);
        pair.server.out.clear();
        let failure = format!("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{name}/><text xml:lang='en'>why</text></failure>");
        pair.client.handle_input(pair.now, failure.as_bytes());
        assert_eq!(
            pair.client.disconnect_reason(),
            Some(&DisconnectReason::Auth(AuthError::Failure {
                condition,
                text: Some("why".into())
            }))
        );
    }
}

#[test]
fn closing_still_delivers_what_the_server_finishes_sending() {
    let mut pair = Pair::online(
        config(),
        Script {
            answer_close: false,
            ..Script::default()
        },
    );
    pair.client.close(pair.now);
    pair.drive();
    pair.server_sends(
        "<message from='romeo@example.net/orchard'><body>parting</body></message></stream:stream>",
    );
    let n = pair.events.len();
    assert!(
        matches!(&pair.events[n - 2], Event::Message(m) if m.body().as_deref() == Some("parting"))
    );
    assert_eq!(pair.disconnect_reason(), Some(DisconnectReason::Closed));
    // Commands while closing are refused.
    let mut pair = Pair::online(
        config(),
        Script {
            answer_close: false,
            ..Script::default()
        },
    );
    pair.client.close(pair.now);
    let romeo = "romeo@example.net".parse().unwrap();
    assert!(matches!(
        pair.client
            .send_message(pair.now, &romeo, MessageType::Chat, "x"),
        Err(CommandError::Unexpected(_))
    ));
    pair.client.handle_eof(pair.now);
    assert_eq!(
        pair.client.disconnect_reason(),
        Some(&DisconnectReason::Closed)
    );
}

#[test]
fn iq_sets_and_childless_requests_get_errors() {
    let mut pair = online();
    pair.server_sends("<iq type='set' id='s1' from='romeo@example.net/orchard'><query xmlns='urn:example:x'/></iq>");
    assert!(pair.sent().contains("<iq type='error' id='s1' to='romeo@example.net/orchard'><error type='cancel'><service-unavailable"));
    pair.server_sends("<iq type='get' id='e1' from='romeo@example.net/orchard'/>");
    assert!(pair.sent().contains(
        "<iq type='error' id='e1' to='romeo@example.net/orchard'><error type='modify'><bad-request"
    ));
}

#[test]
fn extreme_durations_neither_panic_nor_spin() {
    let mut c = config();
    c.timeouts.negotiation = Duration::MAX;
    c.timeouts.iq = Duration::MAX;
    c.timeouts.close = Duration::MAX;
    c.timeouts.keepalive = Some(Duration::ZERO);
    c.timeouts.ping_after = Some(Duration::MAX);
    let mut pair = Pair::online(c, Script::default());
    pair.client
        .send_iq(pair.now, None, IqType::Get, Builder::new("q", "urn:x"))
        .unwrap();
    pair.drive();
    let sent = pair.sent().len();
    for _ in 0..100 {
        pair.client.handle_timeout(pair.now);
    }
    pair.drive();
    assert_eq!(pair.sent().len(), sent, "a zero keepalive must not spin");
    pair.advance(Duration::from_secs(1));
    assert_eq!(&pair.sent()[sent..], " ");
}

#[test]
fn an_unwritable_language_is_left_out_of_the_header() {
    let mut c = config();
    c.lang = "en\u{0}".into();
    let mut pair = Pair::new(c, Script::default());
    let Some(xmpp_sansio::client::Action::Send(header)) = pair.client.poll_action() else {
        panic!()
    };
    let header = String::from_utf8(header.to_vec()).unwrap();
    assert!(!header.contains("xml:lang"), "{header}");
    pair.server.feed(header.as_bytes());
    assert!(pair.server.errors.is_empty(), "{:?}", pair.server.errors);
}

#[test]
fn direct_tls_skips_starttls_and_says_who_we_are_at_once() {
    let mut pair = Pair::new(config(), Script::default());
    pair.client = xmpp_sansio::client::Client::new_over_tls(config(), pair.now, TlsInfo::new());
    pair.server.tls = true;
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    assert!(pair.client.is_secure());
    assert!(!pair.sent().contains("<starttls"), "{}", pair.sent());
    assert!(!pair.seen.iter().any(|s| matches!(s, Seen::StartTls(_))));
    let Seen::Send(first) = &pair.seen[0] else {
        panic!("{:#?}", pair.seen)
    };
    assert!(
        first.contains(&format!("from='{USER}@{DOMAIN}'")),
        "{first}"
    );
}

#[test]
fn a_transport_error_ends_the_session_and_nothing_more_is_sent() {
    let mut pair = online();
    let sent_before = pair.seen.len();
    pair.client
        .handle_transport_error(pair.now, &"connection reset by peer");
    pair.drive();
    assert_eq!(
        pair.disconnect_reason(),
        Some(DisconnectReason::Transport(
            "connection reset by peer".into()
        ))
    );
    assert!(!pair.seen[sent_before..]
        .iter()
        .any(|s| matches!(s, Seen::Send(_))));
    // Once over, a second report changes nothing.
    pair.client.handle_transport_error(pair.now, &"again");
    assert!(pair.client.poll_action().is_none());
}

/// `n` chat messages from distinct senders, numbered in their bodies.
fn many_messages(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "<message from='u{i}@{DOMAIN}/r' to='{USER}@{DOMAIN}/balcony' type='chat' \
                 id='m{i}'><body>{i}</body></message>"
            )
        })
        .collect()
}

fn bodies_in(events: impl Iterator<Item = Event>) -> Vec<usize> {
    events
        .filter_map(|e| match e {
            Event::Message(m) => m.body().map(|b| b.parse().unwrap()),
            _ => None,
        })
        .collect()
}

/// A read of thousands of stanzas does not queue thousands of actions: `handle_input` stops
/// at a bound and `poll_action` parses the rest, in order, with nothing lost; input that
/// arrives meanwhile goes behind it.
#[test]
fn a_huge_read_is_parsed_as_the_actions_are_polled() {
    let mut pair = online();
    let now = pair.now;
    let first = many_messages(2000);
    pair.client.handle_input(now, first.as_bytes());
    let second = format!("<message from='late@{DOMAIN}/r' type='chat'><body>2000</body></message>");
    pair.client.handle_input(now, second.as_bytes());
    let mut actions = Vec::new();
    while let Some(a) = pair.client.poll_action() {
        actions.push(a);
    }
    let events = actions.into_iter().filter_map(|a| match a {
        xmpp_sansio::client::Action::Event(e) => Some(e),
        _ => None,
    });
    assert_eq!(bodies_in(events), (0..=2000).collect::<Vec<_>>());
}

/// Input left for `poll_action` is handled before any later input: an end of file right
/// after a huge read still delivers every stanza first.
#[test]
fn input_left_for_later_comes_before_the_end_of_file() {
    let mut pair = online();
    let now = pair.now;
    pair.client.handle_input(now, many_messages(500).as_bytes());
    pair.client.handle_eof(now);
    let mut events = Vec::new();
    while let Some(a) = pair.client.poll_action() {
        if let xmpp_sansio::client::Action::Event(e) = a {
            events.push(e);
        }
    }
    let disconnected = events
        .iter()
        .position(|e| matches!(e, Event::Disconnected { .. }))
        .expect("disconnected");
    assert_eq!(disconnected, events.len() - 1, "the end comes last");
    assert_eq!(bodies_in(events.into_iter()), (0..500).collect::<Vec<_>>());
}

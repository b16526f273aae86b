//! The client core fed what Prosody and ejabberd really sent (tests/fixtures/), whole and in
//! every chunking. SCRAM exchanges cannot be replayed (the client draws a fresh nonce), so the
//! recordings drive the phases around authentication: STARTTLS, and the online session.

mod common;
mod harness;

use std::time::Instant;

use xmpp_sansio::client::caps::CapsHash;
use xmpp_sansio::client::{Action, Client, Config};

fn actions(client: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(a) = client.poll_action() {
        out.push(match a {
            Action::Send(b) => format!("send {}", String::from_utf8_lossy(&b)),
            Action::StartTls { server_name } => format!("starttls {server_name}"),
            Action::Event(e) => format!("event {}", harness::summarize(&e)),
            Action::Close => "close".to_owned(),
            Action::Connect { to } => format!("connect {to:?}"),
        });
    }
    out
}

/// Feeds `bytes` in reads of `size` and collects every action.
fn run(client: &mut Client, now: Instant, bytes: &[u8], size: usize) -> Vec<String> {
    let mut out = actions(client);
    for chunk in bytes.chunks(size.max(1)) {
        client.handle_input(now, chunk);
        out.extend(actions(client));
    }
    out
}

#[test]
fn starttls_against_recorded_servers() {
    for server in ["prosody", "ejabberd"] {
        let t = common::load(&format!("{server}-02-starttls.xml"));
        let features = common::load(&format!("{server}-01-stream-features-before-tls.xml"));
        let mut bytes = features.server_bytes().remove(0);
        bytes.extend(
            t.chunks
                .iter()
                .filter(|c| c.from_server && !c.tls)
                .flat_map(|c| c.data.clone()),
        );
        let mut whole = None;
        for size in [usize::MAX, 1, 2, 3, 7, 64] {
            let now = Instant::now();
            let config = Config::new("capture@localhost/res".parse().unwrap(), "pw");
            let mut client = Client::new(config, now);
            let got = run(&mut client, now, &bytes, size);
            assert!(
                got.iter()
                    .any(|a| a.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")),
                "{server}: {got:#?}"
            );
            assert_eq!(
                got.last().map(String::as_str),
                Some("starttls localhost"),
                "{server}: {got:#?}"
            );
            match &whole {
                None => whole = Some(got),
                Some(w) => assert_eq!(&got, w, "{server}, reads of {size}"),
            }
        }
    }
}

#[test]
fn recorded_session_traffic_is_handled_online() {
    for server in ["prosody", "ejabberd"] {
        for phase in [
            "12-roster-get",
            "13-roster-set-and-push",
            "14-presence-with-caps",
            "15-vcard-set-get",
            "16-disco-info-server",
            "17-stream-management",
        ] {
            let t = common::load(&format!("{server}-{phase}.xml"));
            // The recorded account becomes the harness's, so that what the server sent "from
            // our account" (ejabberd's roster pushes) is from ours.
            let mut bytes = as_harness_account(&t.all_server_bytes());
            // After our caps presence the servers ask for our `node#ver` (ejabberd from our
            // full JID, Prosody from our bare JID): the recorded client's, made ours.
            let own = Client::new(harness::config(), Instant::now())
                .own_disco_info()
                .unwrap()
                .clone();
            let our_node = format!(
                "https://crates.io/crates/xmpp-sansio#{}",
                CapsHash::Sha1.compute(&own).unwrap()
            );
            if phase == "14-presence-with-caps" {
                let text = String::from_utf8(bytes).unwrap().replace(
                    "https://example.test/interop-capture#WNDbSWpOP9QRW3Jz1YdRzIlGDR4=",
                    &our_node,
                );
                bytes = text.into_bytes();
            }
            let mut whole = None;
            for size in [usize::MAX, 1, 5, 100] {
                let mut pair = harness::Pair::online(harness::config(), harness::Script::default());
                let now = pair.now;
                let got = run(&mut pair.client, now, &bytes, size);
                assert!(pair.client.is_online(), "{server}-{phase}: {got:#?}");
                assert!(
                    !got.iter().any(|a| a.contains("disconnected")),
                    "{server}-{phase}: {got:#?}"
                );
                // The services took what is theirs.
                if phase == "13-roster-set-and-push" {
                    let roster = pair.client.roster().unwrap();
                    let bob = roster.items().find(|i| i.jid.as_str().starts_with("bob_"));
                    assert_eq!(
                        bob.map(|i| (i.name.as_deref(), i.groups.clone())),
                        Some((Some("Bob"), vec!["Friends".to_owned()])),
                        "{server}"
                    );
                    assert!(
                        got.iter()
                            .any(|a| a.starts_with("send <iq type='result' id=")),
                        "{server}: the push is acknowledged: {got:#?}"
                    );
                }
                if phase == "14-presence-with-caps" {
                    let map = pair.client.presences().unwrap();
                    assert_eq!(map.contacts().count(), 1, "{server}");
                }
                match &whole {
                    None => whole = Some(got),
                    Some(w) => assert_eq!(&got, w, "{server}-{phase}, reads of {size}"),
                }
            }
            let got = whole.unwrap();
            if phase == "14-presence-with-caps" {
                assert!(
                    got.iter().any(|a| a.starts_with("event presence")),
                    "{server}: {got:#?}"
                );
                let answer = got
                    .iter()
                    .find(|a| a.contains(&format!("node='{our_node}'")))
                    .unwrap_or_else(|| panic!("{server}: the caps query unanswered: {got:#?}"));
                assert!(
                    answer.starts_with("send <iq type='result' id=")
                        && answer
                            .contains("<identity category='client' type='pc' name='xmpp-sansio'/>")
                        && answer.contains("<feature var='http://jabber.org/protocol/caps'/>"),
                    "{server}: {answer}"
                );
            }
            if phase == "16-disco-info-server" || phase == "12-roster-get" {
                // Results for requests this client never sent are not responses.
                assert!(
                    !got.iter().any(|a| a.contains("iq response")),
                    "{server}-{phase}: {got:#?}"
                );
            }
        }
    }
}

/// `bytes` with the recorded account (`capture_<hex>@localhost`) replaced by the harness's.
fn as_harness_account(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("capture_") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "capture_".len()..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        match after[hex..].strip_prefix("@localhost") {
            Some(tail) => {
                out.push_str(&format!("{}@{}", harness::USER, harness::DOMAIN));
                rest = tail;
            }
            None => {
                out.push_str("capture_");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

#[test]
fn recorded_roster_pushes_from_another_account_are_refused() {
    // ejabberd sends pushes `from` the account's bare JID; recorded for another account,
    // they are not ours.
    let t = common::load("ejabberd-13-roster-set-and-push.xml");
    let mut pair = harness::Pair::online(harness::config(), harness::Script::default());
    let now = pair.now;
    let got = run(&mut pair.client, now, &t.all_server_bytes(), usize::MAX);
    assert!(
        got.iter()
            .any(|a| a.contains("PushRefused") && a.contains("NotFromAccount")),
        "{got:#?}"
    );
    assert!(
        got.iter().any(|a| a.contains("service-unavailable")),
        "{got:#?}"
    );
    assert!(!pair
        .client
        .roster()
        .unwrap()
        .items()
        .any(|i| i.jid.as_str().starts_with("bob_")));
}

#[test]
fn recorded_stream_errors_end_the_session_typed() {
    for server in ["prosody", "ejabberd"] {
        let t = common::load(&format!("{server}-20-stream-error-not-well-formed.xml"));
        let bytes = t.all_server_bytes();
        let mut pair = harness::Pair::online(harness::config(), harness::Script::default());
        let now = pair.now;
        let got = run(&mut pair.client, now, &bytes, usize::MAX);
        let reason = pair.client.disconnect_reason().cloned();
        let Some(xmpp_sansio::client::DisconnectReason::StreamError(e)) = reason else {
            panic!("{server}: {got:#?}")
        };
        assert_eq!(
            e.condition,
            xmpp_sansio::StreamErrorCondition::NotWellFormed,
            "{server}"
        );
        assert!(got.iter().any(|a| a == "close"));
    }
}

/// The recorded element containing `needle` (the first top-level element that does), with
/// its `id` replaced by `id`.
fn recorded_answer(bytes: &[u8], needle: &str, id: &str) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {text}"));
    let start = text[..at].rfind("<iq").unwrap();
    let end = start
        + text[start..]
            .find("</iq>")
            .map_or_else(|| text[start..].find("/>").unwrap() + 2, |e| e + 5);
    // The recorded server's domain becomes the harness's.
    let element = text[start..end].replace("'localhost'", &format!("'{}'", harness::DOMAIN));
    let element = element.as_str();
    let id_at = element.find(" id=").unwrap() + 5;
    let quote = element.as_bytes()[id_at - 1] as char;
    let id_end = id_at + element[id_at..].find(quote).unwrap();
    format!("{}{id}{}", &element[..id_at], &element[id_end..])
}

#[test]
fn recorded_registrations_are_handled_in_every_chunking() {
    use xmpp_sansio::client::register::{Register, RegistrationError, RegistrationEvent};
    use xmpp_sansio::client::{DisconnectReason, Event};
    for server in ["prosody", "ejabberd"] {
        let form = common::load(&format!("{server}-04-register-form.xml")).all_server_bytes();
        let submit = common::load(&format!("{server}-05-register-submit.xml")).all_server_bytes();
        let conflict =
            common::load(&format!("{server}-06-register-conflict.xml")).all_server_bytes();
        for size in [usize::MAX, 1, 5, 64] {
            let mut config = harness::config();
            config.register = Some(Register::Automatic { then_login: true });
            // Registered, then logged in.
            let mut pair = harness::Pair::new(config.clone(), harness::Script::default());
            pair.chunks = vec![size];
            pair.server.register_silent = true;
            pair.drive();
            let answer = recorded_answer(&form, "jabber:iq:register", &pair.sent_iq_id(""));
            pair.server_sends(&answer);
            assert!(
                pair.sent().contains("<username>juliet</username>")
                    || pair.sent().contains("<value>juliet</value>"),
                "{server}"
            );
            let answer = recorded_answer(&submit, "type='result'", &pair.sent_iq_id(""));
            pair.server_sends(&answer);
            assert!(
                pair.client.is_online(),
                "{server}, reads of {size}: {:#?}",
                pair.seen
            );
            assert!(pair
                .events
                .iter()
                .any(|e| matches!(e, Event::Registration(RegistrationEvent::Registered { .. }))));
            // The name is taken: typed, with the server's text.
            let mut pair = harness::Pair::new(config, harness::Script::default());
            pair.chunks = vec![size];
            pair.server.register_silent = true;
            pair.drive();
            let answer = recorded_answer(&form, "jabber:iq:register", &pair.sent_iq_id(""));
            pair.server_sends(&answer);
            let answer = recorded_answer(&conflict, "<conflict", &pair.sent_iq_id(""));
            pair.server_sends(&answer);
            let Some(DisconnectReason::Registration(RegistrationError::Conflict(Some(text)))) =
                pair.disconnect_reason()
            else {
                panic!("{server}: {:?}", pair.disconnect_reason())
            };
            assert!(text.contains("exists"), "{server}: {text}");
        }
    }
}

#[test]
fn recorded_account_removals_end_the_session_as_removals() {
    use xmpp_sansio::client::DisconnectReason;
    for server in ["prosody", "ejabberd"] {
        let recorded = common::load(&format!("{server}-22-register-remove.xml")).all_server_bytes();
        let recorded = as_harness_account(&recorded);
        for size in [usize::MAX, 1, 5, 64] {
            let mut pair = harness::Pair::online(harness::config(), harness::Script::default());
            pair.chunks = vec![size];
            pair.server.register_silent = true;
            pair.client.remove_account(pair.now).unwrap();
            pair.drive();
            let id = pair.sent_iq_id("");
            let text = String::from_utf8(recorded.clone())
                .unwrap()
                .replace("remove1", &id);
            pair.server_sends(&text);
            assert_eq!(
                pair.disconnect_reason(),
                Some(DisconnectReason::AccountRemoved),
                "{server}, reads of {size}"
            );
        }
    }
}

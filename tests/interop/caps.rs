//! Service discovery and entity capabilities against real servers, through both adapters:
//! the server's description, typed queries, two clients of this crate resolving and verifying
//! each other's caps (XEP-0390 preferred, so the SHA-256 hash is what is checked), a feature
//! change re-announced, and a client without caps support (a raw legacy `<c/>`) resolved per
//! entity.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::servers::Kind;
use super::suite::{account, config, runtime, start, starttls, wait_tokio, WAIT};
use xmpp_sansio::client::caps::{CapsEvent, CapsHash};
use xmpp_sansio::client::stanza::OutgoingPresence;
use xmpp_sansio::client::Event;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::blocking::Connection;
use xmpp_sansio::net::tokio as xtokio;
use xmpp_sansio::ns;
use xmpp_sansio::xml::Builder;

const ALICE_FEATURE: &str = "urn:example:interop:alice";
const BOB_FEATURE: &str = "urn:example:interop:bob";
const LATER_FEATURE: &str = "urn:example:interop:later";

/// Reads a blocking connection's events on a thread of its own, so that it answers what it
/// is asked (disco#info) while the test waits on the other adapter.
struct Pump {
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pump {
    /// `answer`: the `disco#info` query to answer requests with, for a connection that
    /// claimed the namespace (a client answering by hand).
    fn new(conn: &Connection, answer: Option<Builder>) -> Self {
        let (events, stop) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let thread = {
            let (conn, events, stop) = (conn.clone(), events.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match conn.next_event_timeout(Duration::from_millis(50)) {
                        Ok(Some(Event::IqRequest(iq))) if answer.is_some() => {
                            let _ = conn.reply_iq(&iq, Ok(answer.clone()));
                        }
                        Ok(Some(e)) => events.lock().unwrap().push(e),
                        Ok(None) => break,
                        Err(_) => {}
                    }
                }
            })
        };
        Self {
            events,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits (without blocking the tokio runtime) for an event matching `pred`.
    async fn wait(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let until = Instant::now() + WAIT;
        loop {
            {
                let mut events = self.events.lock().unwrap();
                if let Some(at) = events.iter().position(&pred) {
                    return events.remove(at);
                }
            }
            assert!(Instant::now() < until, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn resolved<'a>(jid: &'a Jid, feature: &'static str) -> impl Fn(&Event) -> bool + 'a {
    move |e| matches!(e, Event::Caps(CapsEvent::Resolved { jid: j, info }) if j == jid && info.has_feature(feature))
}

fn caps_both(kind: Kind) {
    let server = start(kind);
    let (alice, bob, carol) = (
        account(&server, "alice"),
        account(&server, "bob"),
        account(&server, "carol"),
    );
    let mut bob_config = config(&bob, "b");
    bob_config.disco.features.push(BOB_FEATURE.to_owned());
    let b = Connection::connect(bob_config, &starttls(&server)).unwrap();
    // Carol's client has no caps support: she announces legacy caps (no hash) and answers
    // disco#info by hand.
    let mut carol_config = config(&carol, "c").handle_iq_namespace(ns::DISCO_INFO);
    carol_config.caps.enabled = false;
    let c = Connection::connect(carol_config, &starttls(&server)).unwrap();
    let carol_answer = Builder::new("query", ns::DISCO_INFO)
        .child(
            Builder::new("identity", ns::DISCO_INFO)
                .attr("category", "client")
                .attr("type", "console"),
        )
        .child(Builder::new("feature", ns::DISCO_INFO).attr("var", ns::DISCO_INFO));
    // The server's description and our account's, through the blocking adapter.
    let info = b.disco_info(Some(&bob.domain_jid()), None).unwrap();
    assert!(info.has_identity("server", "im"), "{kind:?}: {info:?}");
    let account = b.disco_info(None, None).unwrap();
    assert!(
        account.has_identity("account", "registered"),
        "{kind:?}: {account:?}"
    );
    let (bob_pump, carol_pump) = (Pump::new(&b, None), Pump::new(&c, Some(carol_answer)));
    runtime().block_on(async {
        let mut alice_config = config(&alice, "a");
        alice_config.disco.features.push(ALICE_FEATURE.to_owned());
        let (a, mut ae) = xtokio::connect(alice_config, &starttls(&server)).await.unwrap();
        // Fetched once online by the discovery service, on both adapters.
        wait_tokio(&mut ae, "the server's description", |e| {
            matches!(e, Event::ServerInfo(i) if i.has_identity("server", "im"))
        })
        .await;
        assert!(a.server_info().await.is_some());
        bob_pump
            .wait("bob's server description", |e| matches!(e, Event::ServerInfo(_)))
            .await;
        assert!(b.server_info().unwrap().has_feature(ns::DISCO_INFO));
        let items = a.disco_items(Some(&alice.domain_jid()), None).await;
        assert!(items.is_ok(), "{kind:?}: {items:?}");

        // Directed presence both ways: each resolves and verifies the other's caps.
        a.send_presence(OutgoingPresence::available().to(b.jid()))
            .await
            .unwrap();
        b.send_presence(OutgoingPresence::available().to(a.jid()))
            .unwrap();
        let learned = bob_pump
            .wait("alice's caps learned", |e| {
                matches!(e, Event::Caps(CapsEvent::Learned { info, .. }) if info.has_feature(ALICE_FEATURE))
            })
            .await;
        let Event::Caps(CapsEvent::Learned { key, .. }) = learned else {
            unreachable!()
        };
        assert_eq!(key.hash, CapsHash::Ecaps2Sha256, "{kind:?}");
        bob_pump
            .wait("alice's caps resolved", resolved(a.jid(), ALICE_FEATURE))
            .await;
        wait_tokio(&mut ae, "bob's caps resolved", resolved(b.jid(), BOB_FEATURE)).await;
        assert_eq!(a.supports(b.jid(), BOB_FEATURE).await, Ok(true));
        assert_eq!(b.supports(a.jid(), BOB_FEATURE), Ok(false));
        assert!(b.caps_of(a.jid()).unwrap().has_feature(ns::CAPS));
        // Asked directly, typed, through each adapter.
        let asked = a.disco_info(Some(b.jid()), None).await.unwrap();
        assert!(asked.has_feature(BOB_FEATURE));
        // (On a thread of its own: alice's driver runs on this one.)
        let (b2, alice_full) = (b.clone(), a.jid().clone());
        let asked = tokio::task::spawn_blocking(move || b2.disco_info(Some(&alice_full), None))
            .await
            .unwrap()
            .unwrap();
        assert!(asked.has_feature(ALICE_FEATURE));

        // A new feature changes alice's caps; her next presence carries them.
        a.set_feature(LATER_FEATURE, true).await.unwrap();
        a.send_presence(OutgoingPresence::available().to(b.jid()))
            .await
            .unwrap();
        bob_pump
            .wait("alice's new caps", resolved(a.jid(), LATER_FEATURE))
            .await;

        // A client without caps support: resolved per entity from its own answer.
        let raw = Builder::new("presence", ns::JABBER_CLIENT)
            .attr("to", a.jid())
            .child(
                Builder::new("c", ns::CAPS)
                    .attr("node", "http://example.org/raw-client")
                    .attr("ver", "1.0"),
            );
        c.send_element(raw).unwrap();
        let event = wait_tokio(&mut ae, "carol's caps", |e| {
            matches!(e, Event::Caps(CapsEvent::Resolved { jid, .. }) if jid == c.jid())
        })
        .await;
        let Event::Caps(CapsEvent::Resolved { info, .. }) = event else {
            unreachable!()
        };
        assert!(info.has_identity("client", "console"), "{kind:?}: {info:?}");
        a.close().await.unwrap();
    });
    assert!(!carol_pump
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Caps(_))));
    drop((bob_pump, carol_pump));
    b.close().unwrap();
    c.close().unwrap();
}

interop! {
    prosody_caps => caps_both(Kind::Prosody);
    ejabberd_caps => caps_both(Kind::Ejabberd);
}

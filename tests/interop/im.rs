//! The IM services against real servers, through both adapters: subscribing both ways with
//! the roster pushes and presences each side sees, editing the roster, a second login with
//! the stored roster version, carbons between two resources, pre-approval where offered.

use super::servers::Kind;
use super::suite::{account, config, runtime, start, starttls, wait_blocking, wait_tokio};
use xmpp_sansio::client::carbons::Carbon;
use xmpp_sansio::client::presence::SubscriptionEvent;
use xmpp_sansio::client::roster::{RosterEvent, RosterItem, StoredRoster, Subscription};
use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::{CommandError, Event};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::blocking::Connection;
use xmpp_sansio::net::tokio as xtokio;

fn roster_update(contact: &Jid, sub: Subscription, ask: bool) -> impl Fn(&Event) -> bool + '_ {
    move |e| {
        matches!(e, Event::Roster(RosterEvent::Updated { item, .. })
            if item.jid == *contact && item.subscription == sub && item.ask == ask)
    }
}

fn requested_by(contact: &Jid) -> impl Fn(&Event) -> bool + '_ {
    move |e| {
        matches!(e, Event::Subscription(SubscriptionEvent::Requested { from, answered: None, .. })
            if from == contact)
    }
}

fn approved_by(contact: &Jid) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Subscription(SubscriptionEvent::Approved { from }) if from == contact)
}

fn available(contact: &Jid) -> impl Fn(&Event) -> bool + '_ {
    move |e| {
        matches!(e, Event::Presence(p) if p.from.as_ref().is_some_and(|f| f.bare() == *contact)
            && p.kind == xmpp_sansio::client::stanza::PresenceType::Available)
    }
}

type Wanted<'a> = (&'a str, &'a dyn Fn(&Event) -> bool);

/// Reads events until each of `wanted` has matched one, in any order.
fn wait_all(conn: &Connection, wanted: &[Wanted<'_>]) {
    let mut seen = vec![false; wanted.len()];
    let until = std::time::Instant::now() + super::suite::WAIT;
    while seen.contains(&false) {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match conn.next_event_timeout(left) {
            Ok(Some(event)) => {
                for (seen, (_, matches)) in seen.iter_mut().zip(wanted) {
                    *seen |= matches(&event);
                }
            }
            other => {
                let missing: Vec<&str> = wanted
                    .iter()
                    .zip(&seen)
                    .filter(|(_, s)| !**s)
                    .map(|((what, _), _)| *what)
                    .collect();
                panic!("waiting for {missing:?}: {other:?}");
            }
        }
    }
}

/// As [`wait_all`], for the tokio adapter.
async fn wait_all_tokio(events: &mut xtokio::Events, wanted: &[Wanted<'_>]) {
    let mut seen = vec![false; wanted.len()];
    let all = async {
        while seen.contains(&false) {
            let event = events.next().await.expect("the events ended");
            for (seen, (_, matches)) in seen.iter_mut().zip(wanted) {
                *seen |= matches(&event);
            }
        }
    };
    if tokio::time::timeout(super::suite::WAIT, all).await.is_err() {
        let names: Vec<&str> = wanted.iter().map(|(what, _)| *what).collect();
        panic!("timed out waiting for all of {names:?}");
    }
}

fn loaded(e: &Event) -> bool {
    matches!(e, Event::Roster(RosterEvent::Loaded { .. }))
}

// ---- subscriptions both ways, the roster edited, a second login (blocking) ----

fn subscriptions_and_roster_blocking(kind: Kind) {
    let server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    let a = Connection::connect(config(&alice, "a"), &starttls(&server)).unwrap();
    let b = Connection::connect(config(&bob, "b"), &starttls(&server)).unwrap();
    wait_blocking(&a, "alice's roster", loaded);
    wait_blocking(&b, "bob's roster", loaded);

    // Alice asks; her roster shows the pending ask; bob is asked and approves.
    a.subscribe(&bob).unwrap();
    wait_blocking(
        &a,
        "the ask in alice's roster",
        roster_update(&bob, Subscription::None, true),
    );
    wait_blocking(&b, "alice's request", requested_by(&alice));
    b.approve(&alice).unwrap();
    // These three come in an order that differs between servers.
    wait_all(
        &a,
        &[
            ("bob's approval", &approved_by(&bob)),
            (
                "'to' in alice's roster",
                &roster_update(&bob, Subscription::To, false),
            ),
            ("bob's presence", &available(&bob)),
        ],
    );
    // And the other way: both.
    b.subscribe(&alice).unwrap();
    wait_blocking(&a, "bob's request", requested_by(&bob));
    a.approve(&bob).unwrap();
    wait_blocking(
        &a,
        "'both' in alice's roster",
        roster_update(&bob, Subscription::Both, false),
    );
    wait_blocking(
        &b,
        "'both' in bob's roster",
        roster_update(&alice, Subscription::Both, false),
    );
    assert_eq!(
        a.roster().unwrap().get(&bob).unwrap().subscription,
        Subscription::Both
    );
    assert!(a.best_presence(&bob).is_some(), "the presence map has bob");

    // Edit an item: name and group, then rename, then remove.
    let carol: Jid = format!("carol@{}", server.domain()).parse().unwrap();
    a.roster_set(
        RosterItem::new(&carol)
            .with_name("Carol")
            .with_group("Friends"),
    )
    .unwrap();
    wait_blocking(&a, "carol added", |e| {
        matches!(e, Event::Roster(RosterEvent::Updated { item, .. })
            if item.jid == carol && item.name.as_deref() == Some("Carol") && item.groups == ["Friends"])
    });
    a.roster_set(
        RosterItem::new(&carol)
            .with_name("Caroline")
            .with_group("Work"),
    )
    .unwrap();
    wait_blocking(&a, "carol renamed", |e| {
        matches!(e, Event::Roster(RosterEvent::Updated { item, .. })
            if item.name.as_deref() == Some("Caroline") && item.groups == ["Work"])
    });
    assert_eq!(a.roster().unwrap().groups(), ["Work"]);
    a.roster_remove(&carol).unwrap();
    wait_blocking(
        &a,
        "carol removed",
        |e| matches!(e, Event::Roster(RosterEvent::Removed { jid, .. }) if *jid == carol),
    );

    // A second login with what the first one kept.
    let roster = a.roster().unwrap();
    let stored = roster
        .version()
        .map(|v| StoredRoster::new(v, roster.items().cloned().collect()));
    a.close().unwrap();
    b.close().unwrap();
    let stored = stored.expect("both servers version rosters (rosterver)");
    let mut again = config(&alice, "a2");
    again.roster.stored = Some(stored);
    let a = Connection::connect(again, &starttls(&server)).unwrap();
    let Event::Roster(RosterEvent::Loaded { items, cached, .. }) =
        wait_blocking(&a, "the roster again", loaded)
    else {
        unreachable!()
    };
    // Unchanged since: an empty result (the stored copy is current), or the same items.
    assert!(cached || items.iter().any(|i| i.jid == bob), "{items:?}");
    assert_eq!(
        a.roster().unwrap().get(&bob).unwrap().subscription,
        Subscription::Both
    );
    a.close().unwrap();
}

// ---- the same, shorter, through tokio; carbons; pre-approval ----

fn subscriptions_tokio(kind: Kind) {
    let server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    runtime().block_on(async {
        let (a, mut ae) = xtokio::connect(config(&alice, "a"), &starttls(&server)).await.unwrap();
        let (b, mut be) = xtokio::connect(config(&bob, "b"), &starttls(&server)).await.unwrap();
        wait_tokio(&mut ae, "alice's roster", loaded).await;
        wait_tokio(&mut be, "bob's roster", loaded).await;
        a.subscribe(&bob).await.unwrap();
        wait_tokio(&mut be, "alice's request", requested_by(&alice)).await;
        b.approve(&alice).await.unwrap();
        wait_all_tokio(
            &mut ae,
            &[
                ("bob's approval", &approved_by(&bob)),
                ("bob's presence", &available(&bob)),
            ],
        )
        .await;
        b.subscribe(&alice).await.unwrap();
        wait_tokio(&mut ae, "bob's request", requested_by(&bob)).await;
        a.approve(&bob).await.unwrap();
        wait_tokio(&mut be, "'both' in bob's roster", roster_update(&alice, Subscription::Both, false))
            .await;
        wait_tokio(&mut ae, "'both' in alice's roster", roster_update(&bob, Subscription::Both, false))
            .await;
        let roster = a.roster().await.unwrap();
        assert_eq!(roster.get(&bob).unwrap().subscription, Subscription::Both);
        a.roster_set(RosterItem::new(&bob).with_name("Bob")).await.unwrap();
        wait_tokio(&mut ae, "bob named", |e| {
            matches!(e, Event::Roster(RosterEvent::Updated { item, .. }) if item.name.as_deref() == Some("Bob"))
        })
        .await;
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
}

/// Two resources of alice: what one sends and receives reaches the other as carbons.
fn carbons_both(kind: Kind) {
    let server = start(kind);
    let (alice, bob) = (account(&server, "alice"), account(&server, "bob"));
    // One resource on each adapter.
    let phone = Connection::connect(config(&alice, "phone"), &starttls(&server)).unwrap();
    let b = Connection::connect(config(&bob, "b"), &starttls(&server)).unwrap();
    runtime().block_on(async {
        let (desk, mut de) = xtokio::connect(config(&alice, "desk"), &starttls(&server))
            .await
            .unwrap();
        // The answer to the enable request comes after the roster's.
        wait_tokio(&mut de, "the desk's roster", loaded).await;
        let until = std::time::Instant::now() + super::suite::WAIT;
        while !desk.call(|c, _| c.carbons_enabled()).await.unwrap() {
            assert!(
                std::time::Instant::now() < until,
                "{kind:?}: carbons never enabled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        wait_blocking(&phone, "the phone's roster", loaded);
        let until = std::time::Instant::now() + super::suite::WAIT;
        while !phone.call(|c, _| c.carbons_enabled()) {
            assert!(
                std::time::Instant::now() < until,
                "{kind:?}: carbons never enabled"
            );
            let _ = phone.next_event_timeout(std::time::Duration::from_millis(20));
        }
        // Bob writes to the phone; the desk gets a copy.
        b.send_message(phone.jid(), MessageType::Chat, "to your phone")
            .unwrap();
        let Event::Message(copy) = wait_tokio(
            &mut de,
            "the received carbon",
            |e| matches!(e, Event::Message(m) if m.body().as_deref() == Some("to your phone")),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(copy.carbon, Some(Carbon::Received));
        assert_eq!(copy.from.as_ref().map(Jid::bare), Some(bob.clone()));
        // The phone writes to bob; the desk gets a copy of that too.
        phone
            .send_message(&bob, MessageType::Chat, "from my phone")
            .unwrap();
        let Event::Message(copy) = wait_tokio(
            &mut de,
            "the sent carbon",
            |e| matches!(e, Event::Message(m) if m.body().as_deref() == Some("from my phone")),
        )
        .await
        else {
            unreachable!()
        };
        assert_eq!(copy.carbon, Some(Carbon::Sent));
        assert_eq!(copy.to.as_ref().map(Jid::bare), Some(bob.clone()));
        desk.close().await.unwrap();
    });
    phone.close().unwrap();
    b.close().unwrap();
}

/// Pre-approval (RFC 6121 §3.4): Prosody offers it, ejabberd 23.01 does not.
fn pre_approval_both(kind: Kind) {
    let server = start(kind);
    let (alice, dave) = (account(&server, "alice"), account(&server, "dave"));
    let a = Connection::connect(config(&alice, "a"), &starttls(&server)).unwrap();
    let d = Connection::connect(config(&dave, "d"), &starttls(&server)).unwrap();
    wait_blocking(&a, "alice's roster", loaded);
    wait_blocking(&d, "dave's roster", loaded);
    let offered = a.call(|c, _| c.features().is_some_and(|f| f.pre_approval));
    match kind {
        Kind::Prosody => assert!(offered, "Prosody offers pre-approval"),
        Kind::Ejabberd => assert!(!offered, "ejabberd 23.01 does not offer pre-approval"),
    }
    if !offered {
        assert!(matches!(
            a.preapprove(&dave),
            Err(CommandError::NotSupported(_))
        ));
        return;
    }
    a.preapprove(&dave).unwrap();
    // Prosody 0.12 pushes the item without `approved='true'` (RFC 6121 §3.4.2 asks for it),
    // so only the push itself is checked.
    wait_blocking(
        &a,
        "the pre-approval in alice's roster",
        |e| matches!(e, Event::Roster(RosterEvent::Updated { item, .. }) if item.jid == dave),
    );
    // Dave asks and is approved by the server at once: alice's application is not asked.
    d.subscribe(&alice).unwrap();
    wait_blocking(&d, "the approval", approved_by(&alice));
    a.close().unwrap();
    d.close().unwrap();
}

interop! {
    prosody_subscriptions_and_roster_blocking => subscriptions_and_roster_blocking(Kind::Prosody);
    prosody_subscriptions_tokio => subscriptions_tokio(Kind::Prosody);
    prosody_carbons => carbons_both(Kind::Prosody);
    prosody_pre_approval => pre_approval_both(Kind::Prosody);
    ejabberd_subscriptions_and_roster_blocking => subscriptions_and_roster_blocking(Kind::Ejabberd);
    ejabberd_subscriptions_tokio => subscriptions_tokio(Kind::Ejabberd);
    ejabberd_carbons => carbons_both(Kind::Ejabberd);
    ejabberd_pre_approval => pre_approval_both(Kind::Ejabberd);
}

// ---- in-band registration (XEP-0077) ----

/// Register, register and log in on one stream, log in, register the same name again, change the password (the old one then
/// fails), remove the account (then logging in fails): through the blocking adapter, or
/// through tokio.
fn registration(kind: Kind, tokio: bool) {
    use xmpp_sansio::client::register::{Register, RegistrationError, RegistrationEvent};
    use xmpp_sansio::client::sasl::{AuthError, SaslCondition};
    use xmpp_sansio::client::DisconnectReason;
    use xmpp_sansio::net::Error;

    let server = start(kind);
    let jid: Jid = format!("reg{}@{}", u8::from(tokio), server.domain())
        .parse()
        .unwrap();
    let fresh = || {
        let mut c = xmpp_sansio::client::Config::new(jid.clone(), "first-pass");
        c.resource = Some("r".into());
        c
    };
    let rt = runtime();
    let register = |config| {
        if tokio {
            rt.block_on(xtokio::register(config, &starttls(&server), |_| {}))
        } else {
            Connection::register(config, &starttls(&server), |_| {})
        }
    };
    assert_eq!(register(fresh()).unwrap(), jid.bare());
    // Register and log in on the same stream, as `connect` with `config.register` does.
    let mut both = fresh();
    both.jid = format!("both{}@{}", u8::from(tokio), server.domain())
        .parse()
        .unwrap();
    both.register = Some(Register::Automatic { then_login: true });
    let registered = |e: &Event| matches!(e, Event::Registration(RegistrationEvent::Registered { jid }) if *jid == both.jid.bare());
    if tokio {
        rt.block_on(async {
            let (handle, mut events) = xtokio::connect(both.clone(), &starttls(&server))
                .await
                .unwrap();
            assert_eq!(handle.jid().bare(), both.jid.bare());
            super::suite::wait_tokio(&mut events, "registered", registered).await;
            handle.close().await.unwrap();
        });
    } else {
        let conn = Connection::connect(both.clone(), &starttls(&server)).unwrap();
        wait_blocking(&conn, "registered", registered);
        conn.close().unwrap();
    }
    // The same name again: typed conflict.
    match register(fresh()) {
        Err(Error::Registration(RegistrationError::Conflict(_))) => {}
        other => panic!("{kind:?}: {other:?}"),
    }
    // Log in, change the password (through the adapter under test); the configuration
    // follows.
    let is_changed =
        |e: &Event| matches!(e, Event::Registration(RegistrationEvent::PasswordChanged));
    let second = |p: xmpp_sansio::client::Password| matches!(p, xmpp_sansio::client::Password::Fixed(p) if p == "second-pass");
    if tokio {
        rt.block_on(async {
            let (handle, mut events) = xtokio::connect(fresh(), &starttls(&server)).await.unwrap();
            handle.change_password("second-pass").await.unwrap();
            wait_tokio(&mut events, "the password change", is_changed).await;
            let password = handle
                .call(|c, _| c.config().password.clone())
                .await
                .unwrap();
            assert!(second(password), "{kind:?}");
            handle.close().await.unwrap();
        });
    } else {
        let conn = Connection::connect(fresh(), &starttls(&server)).unwrap();
        conn.change_password("second-pass").unwrap();
        wait_blocking(&conn, "the password change", is_changed);
        assert!(
            second(conn.call(|c, _| c.config().password.clone())),
            "{kind:?}"
        );
        conn.close().unwrap();
    }
    let old = Connection::connect(fresh(), &starttls(&server)).map(drop);
    assert!(
        matches!(
            old,
            Err(Error::Auth(AuthError::Failure {
                condition: SaslCondition::NotAuthorized,
                ..
            }))
        ),
        "{kind:?}: the old password: {old:?}"
    );
    let mut new = fresh();
    new.password = "second-pass".into();
    // Removal ends the session as a success.
    if tokio {
        rt.block_on(async {
            let (handle, mut events) = xtokio::connect(new.clone(), &starttls(&server))
                .await
                .unwrap();
            handle.remove_account().await.unwrap();
            let reason = super::suite::end_tokio(&mut events).await;
            assert_eq!(reason, DisconnectReason::AccountRemoved, "{kind:?}");
        });
    } else {
        let conn = Connection::connect(new.clone(), &starttls(&server)).unwrap();
        conn.remove_account().unwrap();
        let Event::Disconnected { reason } = wait_blocking(&conn, "the end", |e| {
            matches!(e, Event::Disconnected { .. })
        }) else {
            unreachable!()
        };
        assert_eq!(reason, DisconnectReason::AccountRemoved, "{kind:?}");
    }
    let gone = Connection::connect(new, &starttls(&server)).map(drop);
    assert!(
        matches!(gone, Err(Error::Auth(_))),
        "{kind:?}: after removal: {gone:?}"
    );
}

fn registration_blocking(kind: Kind) {
    registration(kind, false)
}

fn registration_tokio(kind: Kind) {
    registration(kind, true)
}

interop! {
    prosody_registration_blocking => registration_blocking(Kind::Prosody);
    prosody_registration_tokio => registration_tokio(Kind::Prosody);
    ejabberd_registration_blocking => registration_blocking(Kind::Ejabberd);
    ejabberd_registration_tokio => registration_tokio(Kind::Ejabberd);
}

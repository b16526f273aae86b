//! The presence service (RFC 6121 §3–4) through the client, against the scripted server:
//! initial presence, every subscription flow and the policy variants, pre-approval, the
//! presence map under resource churn, its bounds, and a property that no churn breaks them.

mod harness;

use harness::{config, Pair, Script};
use proptest::prelude::*;
use xmpp_sansio::client::presence::{PresenceLimits, SubscriptionEvent, SubscriptionPolicy};
use xmpp_sansio::client::stanza::{OutgoingPresence, Show};
use xmpp_sansio::client::{CommandError, Config, Event};
use xmpp_sansio::jid::Jid;

fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

/// Romeo is in the roster with a subscription both ways; the nurse is one we asked.
const ROSTER: &str = "<query xmlns='jabber:iq:roster' ver='1'>\
    <item jid='romeo@example.net' subscription='both'/>\
    <item jid='nurse@example.com' subscription='none' ask='subscribe'/></query>";

fn online(config: Config, script: Script) -> Pair {
    let mut pair = Pair::new(config, script);
    pair.server.roster_reply = ROSTER.to_owned();
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    pair
}

fn subscription_events(pair: &Pair) -> Vec<&SubscriptionEvent> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Subscription(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn initial_presence_follows_the_roster_request_as_configured() {
    let pair = online(config(), Script::default());
    let sent = pair.sent();
    let roster = sent.find("jabber:iq:roster").unwrap();
    assert!(
        sent[roster..].contains("<presence><c xmlns='http://jabber.org/protocol/caps'"),
        "{sent}"
    );

    let mut away = config();
    away.presence.initial = Some(OutgoingPresence::available().show(Show::Away).priority(-1));
    let pair = online(away, Script::default());
    assert!(pair
        .sent()
        .contains("<presence><show>away</show><priority>-1</priority><c "));

    let mut silent = config();
    silent.presence.initial = None;
    let pair = online(silent, Script::default());
    assert!(!pair.sent().contains("<presence"));
}

#[test]
fn the_map_follows_resources_and_picks_the_best() {
    let mut pair = online(config(), Script::default());
    let romeo = jid("romeo@example.net");
    pair.server_sends(
        "<presence from='romeo@example.net/orchard'><priority>1</priority></presence>\
         <presence from='romeo@example.net/garden'><show>away</show><priority>1</priority></presence>\
         <presence from='romeo@example.net/phone'><show>chat</show><priority>0</priority></presence>",
    );
    let map = pair.client.presences().unwrap();
    assert_eq!(map.resources(&romeo).len(), 3);
    // Priority first, then availability: the orchard (1, available) beats the garden
    // (1, away) and the phone (0, chat).
    assert_eq!(
        map.best(&romeo).unwrap().jid.as_str(),
        "romeo@example.net/orchard"
    );
    // A new presence of a resource replaces the old one.
    pair.server_sends(
        "<presence from='romeo@example.net/orchard'><show>xa</show><priority>1</priority><status>asleep</status></presence>",
    );
    let map = pair.client.presences().unwrap();
    assert_eq!(map.resources(&romeo).len(), 3);
    assert_eq!(
        map.best(&romeo).unwrap().jid.as_str(),
        "romeo@example.net/garden"
    );
    let orchard = map
        .resources(&romeo)
        .iter()
        .find(|r| r.jid.as_str().ends_with("orchard"))
        .unwrap();
    assert_eq!(
        (orchard.show, orchard.status.as_deref()),
        (Some(Show::Xa), Some("asleep"))
    );
    // Unavailable and error presences end a resource; unavailable from the bare JID ends all.
    pair.server_sends("<presence from='romeo@example.net/garden' type='unavailable'/>");
    pair.server_sends(
        "<presence from='romeo@example.net/phone' type='error'><error type='cancel'>\
         <remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    );
    let map = pair.client.presences().unwrap();
    assert_eq!(map.resources(&romeo).len(), 1);
    pair.server_sends("<presence from='romeo@example.net' type='unavailable'/>");
    let map = pair.client.presences().unwrap();
    assert!(!map.is_available(&romeo));
    assert_eq!(map.bytes(), 0);
    // Every presence was also an event.
    let presences = pair
        .events
        .iter()
        .filter(|e| matches!(e, Event::Presence(_)))
        .count();
    assert_eq!(presences, 7);
}

#[test]
fn our_own_other_resources_and_strangers_are_tracked_too() {
    let mut pair = online(config(), Script::default());
    pair.server_sends(
        "<presence from='juliet@example.com/phone'/>\
         <presence from='tybalt@example.org/sword' to='juliet@example.com/balcony'/>",
    );
    let map = pair.client.presences().unwrap();
    assert!(map.is_available(&jid("juliet@example.com")));
    assert!(map.is_available(&jid("tybalt@example.org")));
    // The stanza is kept, copied, for its payloads.
    let best = map.best(&jid("tybalt@example.org")).unwrap();
    assert_eq!(
        best.element.as_bytes().as_ref(),
        b"<presence from='tybalt@example.org/sword' to='juliet@example.com/balcony'/>"
    );
}

#[test]
fn the_map_is_bounded_and_keeps_contacts_before_strangers() {
    let mut config = config();
    let mut limits = PresenceLimits::default();
    limits.max_contacts = 2;
    limits.max_resources = 2;
    config.presence.limits = limits;
    let mut pair = online(config, Script::default());
    pair.server_sends(
        "<presence from='s1@example.org/a'/><presence from='s2@example.org/a'/>\
         <presence from='s3@example.org/a'/>",
    );
    let map = pair.client.presences().unwrap();
    assert_eq!(map.contacts().count(), 2, "a third stranger does not fit");
    assert!(!map.is_available(&jid("s3@example.org")));
    // A contact from the roster makes room by dropping a stranger.
    pair.server_sends("<presence from='romeo@example.net/orchard'/>");
    let map = pair.client.presences().unwrap();
    assert_eq!(map.contacts().count(), 2);
    assert!(map.is_available(&jid("romeo@example.net")));
    // Resources per contact.
    pair.server_sends(
        "<presence from='romeo@example.net/b'/><presence from='romeo@example.net/c'/>",
    );
    let map = pair.client.presences().unwrap();
    assert_eq!(map.resources(&jid("romeo@example.net")).len(), 2);
    // Every presence still reached the application.
    let presences = pair
        .events
        .iter()
        .filter(|e| matches!(e, Event::Presence(_)))
        .count();
    assert_eq!(presences, 6);
}

#[test]
fn the_map_is_emptied_when_the_connection_ends() {
    let mut pair = online(config(), Script::default());
    pair.server_sends("<presence from='romeo@example.net/orchard'/>");
    pair.server_sends("</stream:stream>");
    assert_eq!(pair.client.presences().unwrap().contacts().count(), 0);
}

#[test]
fn subscription_requests_follow_the_policy() {
    let request = |from: &str| {
        format!("<presence from='{from}' type='subscribe'><status>hi</status></presence>")
    };
    // Ask (the default): an event, no answer.
    let mut pair = online(config(), Script::default());
    let sent = pair.sent().len();
    pair.server_sends(&request("benvolio@example.net"));
    assert_eq!(
        subscription_events(&pair),
        [&SubscriptionEvent::Requested {
            from: jid("benvolio@example.net"),
            status: Some("hi".into()),
            answered: None
        }]
    );
    assert_eq!(&pair.sent()[sent..], "");
    // The application approves (RFC 6121 §3.1.4 Example 17), or denies.
    pair.client
        .approve(pair.now, &jid("benvolio@example.net/x"))
        .unwrap();
    pair.client
        .deny(pair.now, &jid("mercutio@example.com"))
        .unwrap();
    pair.drive();
    assert!(pair.sent().ends_with(
        "<presence to='benvolio@example.net' type='subscribed'/><presence to='mercutio@example.com' type='unsubscribed'/>"
    ));

    for (policy, from, answer) in [
        (
            SubscriptionPolicy::AcceptAll,
            "benvolio@example.net",
            Some(true),
        ),
        (
            SubscriptionPolicy::DenyAll,
            "romeo@example.net",
            Some(false),
        ),
        // Known: in the roster and asked, or subscribed to.
        (
            SubscriptionPolicy::AcceptKnown,
            "nurse@example.com",
            Some(true),
        ),
        (
            SubscriptionPolicy::AcceptKnown,
            "romeo@example.net",
            Some(true),
        ),
        (
            SubscriptionPolicy::AcceptKnown,
            "benvolio@example.net",
            None,
        ),
    ] {
        let mut config = config();
        config.presence.subscriptions = policy;
        let mut pair = online(config, Script::default());
        let sent = pair.sent().len();
        pair.server_sends(&request(from));
        let expected = match answer {
            Some(true) => format!("<presence to='{from}' type='subscribed'/>"),
            Some(false) => format!("<presence to='{from}' type='unsubscribed'/>"),
            None => String::new(),
        };
        assert_eq!(&pair.sent()[sent..], expected, "{policy:?} {from}");
        assert!(matches!(
            subscription_events(&pair)[..],
            [SubscriptionEvent::Requested { answered, .. }] if *answered == answer
        ));
    }
}

#[test]
fn answers_to_our_requests_are_events_and_unsolicited_ones_are_not() {
    let mut pair = online(config(), Script::default());
    pair.client
        .subscribe(pair.now, &jid("nurse@example.com"))
        .unwrap();
    pair.drive();
    assert!(pair
        .sent()
        .ends_with("<presence to='nurse@example.com' type='subscribe'/>"));
    // We asked the nurse (the roster says `ask`): her approval is news.
    pair.server_sends("<presence from='nurse@example.com' type='subscribed'/>");
    // Nobody asked Tybalt.
    pair.server_sends("<presence from='tybalt@example.org' type='subscribed'/>");
    pair.server_sends("<presence from='romeo@example.net' type='unsubscribed'/>");
    pair.server_sends("<presence from='romeo@example.net/orchard' type='unsubscribe'/>");
    assert_eq!(
        subscription_events(&pair),
        [
            &SubscriptionEvent::Approved {
                from: jid("nurse@example.com")
            },
            &SubscriptionEvent::Revoked {
                from: jid("romeo@example.net")
            },
            &SubscriptionEvent::Unsubscribed {
                from: jid("romeo@example.net")
            },
        ]
    );
    // Our side of the other flows (RFC 6121 §3.2, §3.3).
    pair.client
        .unsubscribe(pair.now, &jid("romeo@example.net"))
        .unwrap();
    pair.client
        .cancel(pair.now, &jid("romeo@example.net"))
        .unwrap();
    pair.drive();
    assert!(pair.sent().ends_with(
        "<presence to='romeo@example.net' type='unsubscribe'/><presence to='romeo@example.net' type='unsubscribed'/>"
    ));
}

#[test]
fn pre_approval_only_where_the_server_offers_it() {
    let mut pair = online(config(), Script::default());
    let sent = pair.sent().len();
    assert!(matches!(
        pair.client
            .preapprove(pair.now, &jid("benvolio@example.net")),
        Err(CommandError::NotSupported(_))
    ));
    pair.drive();
    assert_eq!(&pair.sent()[sent..], "");
    let script = Script {
        pre_approval: true,
        ..Script::default()
    };
    let mut pair = online(config(), script);
    pair.client
        .preapprove(pair.now, &jid("benvolio@example.net"))
        .unwrap();
    pair.drive();
    assert!(pair
        .sent()
        .ends_with("<presence to='benvolio@example.net' type='subscribed'/>"));
}

#[test]
fn with_the_service_off_presence_is_delivered_as_it_comes() {
    let mut config = config();
    config.presence.enabled = false;
    let mut pair = online(config, Script::default());
    assert!(!pair.sent().contains("<presence"));
    pair.server_sends("<presence from='benvolio@example.net' type='subscribe'/><presence from='romeo@example.net/orchard'/>");
    assert!(pair.client.presences().is_none());
    assert!(subscription_events(&pair).is_empty());
    let presences = pair
        .events
        .iter()
        .filter(|e| matches!(e, Event::Presence(_)))
        .count();
    assert_eq!(presences, 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn no_churn_breaks_the_bounds(
        churn in proptest::collection::vec((0u8..12, 0u8..4, any::<bool>(), 0usize..200), 1..120),
    ) {
        let mut config = config();
        let mut limits = PresenceLimits::default();
        limits.max_contacts = 5;
        limits.max_resources = 3;
        limits.max_bytes = 600;
        config.presence.limits = limits;
        let mut pair = online(config, Script::default());
        let mut stanzas = String::new();
        for (contact, resource, available, padding) in &churn {
            let from = if *contact < 2 {
                // Two roster contacts, the rest strangers.
                ["romeo@example.net", "nurse@example.com"][*contact as usize].to_owned()
            } else {
                format!("s{contact}@example.org")
            };
            if *available {
                stanzas.push_str(&format!(
                    "<presence from='{from}/r{resource}'><status>{}</status></presence>",
                    "x".repeat(*padding)
                ));
            } else {
                stanzas.push_str(&format!("<presence from='{from}/r{resource}' type='unavailable'/>"));
            }
        }
        pair.server_sends(&stanzas);
        let map = pair.client.presences().unwrap();
        prop_assert!(map.contacts().count() <= 5);
        prop_assert!(map.bytes() <= 600);
        let mut total = 0;
        for contact in map.contacts() {
            let resources = map.resources(contact);
            prop_assert!(!resources.is_empty() && resources.len() <= 3);
            total += resources.iter().map(|r| r.element.as_bytes().len()).sum::<usize>();
        }
        prop_assert_eq!(total, map.bytes());
    }
}

#[test]
fn an_approval_after_the_roster_push_that_granted_it_is_still_news() {
    // ejabberd pushes the item (ask cleared, subscription 'to') before the presence.
    let mut pair = online(config(), Script::default());
    pair.server_sends(
        "<iq type='set' id='p1'><query xmlns='jabber:iq:roster'>\
         <item jid='nurse@example.com' subscription='to'/></query></iq>\
         <presence from='nurse@example.com' type='subscribed'/>",
    );
    assert_eq!(
        subscription_events(&pair),
        [&SubscriptionEvent::Approved {
            from: jid("nurse@example.com")
        }]
    );
}

#[test]
fn with_the_roster_off_the_policy_still_answers_and_approvals_are_news() {
    let mut config = config();
    config.roster.enabled = false;
    config.presence.subscriptions = SubscriptionPolicy::AcceptAll;
    let mut pair = online(config, Script::default());
    pair.server_sends("<presence from='benvolio@example.net' type='subscribe'/>");
    assert!(pair
        .sent()
        .contains("<presence to='benvolio@example.net' type='subscribed'/>"));
    // Nothing to check an approval against: the server's filtering (RFC 6121 §3.1.6) is
    // trusted.
    pair.server_sends("<presence from='romeo@example.net' type='subscribed'/>");
    let events = subscription_events(&pair);
    assert!(
        matches!(
            events[..],
            [
                SubscriptionEvent::Requested {
                    answered: Some(true),
                    ..
                },
                SubscriptionEvent::Approved { .. }
            ]
        ),
        "{events:?}"
    );
}

//! The roster service (RFC 6121 §2) through the client, against the scripted server: the
//! RFC's examples as test vectors, versioning, pushes and who may send them, limits, and a
//! model check that any sequence of pushes leaves the roster their net effect.

mod harness;

use std::collections::BTreeMap;

use harness::{config, Pair, Script};
use proptest::prelude::*;
use xmpp_sansio::client::roster::{
    Refusal, RosterEvent, RosterItem, RosterLimits, StoredRoster, Subscription,
};
use xmpp_sansio::client::{Config, Event, IqError};
use xmpp_sansio::jid::Jid;

fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

/// A pair driven online with the roster get answered by `reply` (the inside of the result).
fn online(config: Config, script: Script, reply: &str) -> Pair {
    let mut pair = Pair::new(config, script);
    pair.server.roster_reply = reply.to_owned();
    pair.drive();
    assert!(pair.client.is_online(), "{:#?}", pair.seen);
    pair
}

fn roster_events(pair: &Pair) -> Vec<&RosterEvent> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Roster(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The one roster event so far, a `Loaded`: its item count, version and whether it was the
/// stored roster.
fn loaded(pair: &Pair) -> (usize, Option<&str>, bool) {
    let [RosterEvent::Loaded {
        items,
        version,
        cached,
    }] = &roster_events(pair)[..]
    else {
        panic!("not one Loaded: {:?}", pair.events)
    };
    (items.len(), version.as_deref(), *cached)
}

/// RFC 6121 §2.1.4, Example 2 (with §2.6.3's version).
const RFC_ROSTER: &str = "<query xmlns='jabber:iq:roster' ver='ver11'>\
    <item jid='romeo@example.net' name='Romeo' subscription='both'><group>Friends</group></item>\
    <item jid='mercutio@example.com' name='Mercutio' subscription='from'/>\
    <item jid='benvolio@example.net' name='Benvolio' subscription='both'/></query>";

/// The roster get the client sent.
fn roster_get(pair: &Pair) -> String {
    let sent = pair.sent();
    let start = sent
        .find("<query xmlns='jabber:iq:roster'")
        .expect("no roster get");
    sent[start..start + sent[start..].find('>').unwrap() + 1].to_owned()
}

#[test]
fn the_roster_is_fetched_before_initial_presence_and_replaced_by_the_result() {
    let pair = online(config(), Script::default(), RFC_ROSTER);
    let sent = pair.sent();
    let get = sent.find("jabber:iq:roster").unwrap();
    let presence = sent.rfind("<presence").unwrap();
    assert!(get < presence, "roster first (RFC 6121 §2.2): {sent}");
    assert_eq!(loaded(&pair), (3, Some("ver11"), false));
    let roster = pair.client.roster().unwrap();
    assert!(roster.is_loaded());
    let romeo = roster.get(&jid("romeo@example.net/orchard")).unwrap();
    assert_eq!(romeo.name.as_deref(), Some("Romeo"));
    assert_eq!(romeo.subscription, Subscription::Both);
    assert_eq!(romeo.groups, ["Friends"]);
    assert_eq!(
        roster
            .get(&jid("mercutio@example.com"))
            .unwrap()
            .subscription,
        Subscription::From
    );
    assert_eq!(roster.groups(), ["Friends"]);
    assert_eq!(roster.in_group("Friends").count(), 1);
    assert_eq!(roster.version(), Some("ver11"));
}

fn stored() -> StoredRoster {
    StoredRoster::new(
        "ver7",
        vec![
            RosterItem::new(&jid("romeo@example.net")).with_name("Romeo"),
            RosterItem::new(&jid("nurse@example.com")).with_group("Servants"),
        ],
    )
}

#[test]
fn a_versioned_login_keeps_the_stored_roster_when_the_server_says_unchanged() {
    let mut config = config();
    config.roster.stored = Some(stored());
    let mut pair = online(config, Script::default(), "");
    assert_eq!(
        roster_get(&pair),
        "<query xmlns='jabber:iq:roster' ver='ver7'/>"
    );
    assert_eq!(loaded(&pair), (2, Some("ver7"), true));

    // RFC 6121 §2.6.3: the changes come as pushes, each with its version.
    pair.server_sends(
        "<iq id='a78b4q6ha463' to='juliet@example.com/balcony' type='set'>\
         <query xmlns='jabber:iq:roster' ver='ver8'>\
         <item jid='benvolio@example.net' name='Benvolio' subscription='both'/></query></iq>",
    );
    pair.server_sends(
        "<iq id='a78b4q6ha464' to='juliet@example.com/balcony' type='set'>\
         <query xmlns='jabber:iq:roster' ver='ver9'>\
         <item jid='nurse@example.com' subscription='remove'/></query></iq>",
    );
    assert!(pair
        .sent()
        .ends_with("<iq type='result' id='a78b4q6ha463'/><iq type='result' id='a78b4q6ha464'/>"));
    let events = roster_events(&pair);
    assert!(
        matches!(events[1], RosterEvent::Updated { item, version } if item.jid == jid("benvolio@example.net") && version.as_deref() == Some("ver8"))
    );
    assert!(
        matches!(events[2], RosterEvent::Removed { jid: j, version } if *j == jid("nurse@example.com") && version.as_deref() == Some("ver9"))
    );
    let roster = pair.client.roster().unwrap();
    let jids: Vec<&str> = roster.items().map(|i| i.jid.as_str()).collect();
    assert_eq!(jids, ["benvolio@example.net", "romeo@example.net"]);
    assert_eq!(roster.version(), Some("ver9"));
}

#[test]
fn a_full_result_replaces_the_stored_roster() {
    let mut config = config();
    config.roster.stored = Some(stored());
    let pair = online(config, Script::default(), RFC_ROSTER);
    let roster = pair.client.roster().unwrap();
    assert_eq!(roster.len(), 3);
    assert!(roster.get(&jid("nurse@example.com")).is_none());
}

#[test]
fn versioning_is_asked_for_only_when_offered_and_bootstrapped_with_an_empty_version() {
    // Offered, nothing stored: `ver=''` starts versioning (RFC 6121 §2.6.2).
    let pair = online(config(), Script::default(), RFC_ROSTER);
    assert_eq!(
        roster_get(&pair),
        "<query xmlns='jabber:iq:roster' ver=''/>"
    );
    // Not offered: no `ver`, even with a stored roster, and the result replaces it.
    let mut config = config();
    config.roster.stored = Some(stored());
    let script = Script {
        rosterver: false,
        ..Script::default()
    };
    let pair = online(config, script, "<query xmlns='jabber:iq:roster'/>");
    assert_eq!(roster_get(&pair), "<query xmlns='jabber:iq:roster'/>");
    assert!(pair.client.roster().unwrap().is_empty());
    assert_eq!(pair.client.roster().unwrap().version(), None);
}

const PUSH: &str = "<query xmlns='jabber:iq:roster' ver='ver99'>\
    <item jid='tybalt@example.org' subscription='none'/></query>";

#[test]
fn pushes_are_taken_only_from_our_account() {
    let mut pair = online(config(), Script::default(), RFC_ROSTER);
    // No `from`, and our bare JID: taken, acknowledged.
    for (i, from) in ["", " from='juliet@example.com'"].iter().enumerate() {
        pair.server_sends(&format!("<iq type='set' id='ok{i}'{from}>{PUSH}</iq>"));
        assert!(pair.sent().ends_with(&format!(
            "<iq type='result' id='ok{i}'{}/>",
            from.replace("from", "to")
        )));
    }
    let roster = pair.client.roster().unwrap();
    assert!(roster.get(&jid("tybalt@example.org")).is_some());
    assert_eq!(roster.version(), Some("ver99"));
    // Anyone else, our own full JID included (RFC 6121 §2.1.6 names the bare JID): refused
    // with service-unavailable, nothing changes, not even the version.
    for (i, from) in [
        "juliet@example.com/other",
        "example.com",
        "mallory@example.org",
    ]
    .iter()
    .enumerate()
    {
        let push = PUSH.replace("tybalt", "mallory").replace("ver99", "evil");
        pair.server_sends(&format!(
            "<iq type='set' id='bad{i}' from='{from}'>{push}</iq>"
        ));
        assert!(
            pair.sent().ends_with(&format!(
                "<iq type='error' id='bad{i}' to='{from}'><error type='cancel'>\
                 <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            )),
            "{}",
            pair.sent()
        );
        assert!(matches!(
            pair.events.last(),
            Some(Event::Roster(RosterEvent::PushRefused { from: Some(f), why: Refusal::NotFromAccount })) if f.as_str() == *from
        ));
    }
    let roster = pair.client.roster().unwrap();
    assert!(roster.get(&jid("mallory@example.org")).is_none());
    assert_eq!(roster.version(), Some("ver99"));
}

#[test]
fn malformed_pushes_are_bad_requests_and_change_nothing() {
    let mut pair = online(config(), Script::default(), RFC_ROSTER);
    for (i, query) in [
        // Two items (RFC 6121 §2.1.6: exactly one).
        "<query xmlns='jabber:iq:roster'><item jid='a@example.org'/><item jid='b@example.org'/></query>",
        // None.
        "<query xmlns='jabber:iq:roster'/>",
        // No JID, an invalid one, a full one.
        "<query xmlns='jabber:iq:roster'><item name='x'/></query>",
        "<query xmlns='jabber:iq:roster'><item jid='@@'/></query>",
        "<query xmlns='jabber:iq:roster'><item jid='a@example.org/res'/></query>",
        "<query xmlns='jabber:iq:roster'><item jid='a@example.org' subscription='maybe'/></query>",
    ]
    .iter()
    .enumerate()
    {
        pair.server_sends(&format!("<iq type='set' id='m{i}'>{query}</iq>"));
        assert!(
            pair.sent().ends_with(&format!(
                "<iq type='error' id='m{i}'><error type='modify'>\
                 <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            )),
            "{query}: {}",
            pair.sent()
        );
        assert!(matches!(
            pair.events.last(),
            Some(Event::Roster(RosterEvent::PushRefused { why: Refusal::Malformed(_), .. }))
        ));
    }
    assert_eq!(pair.client.roster().unwrap().len(), 3);
}

#[test]
fn limits_bound_the_roster() {
    let mut config = config();
    let mut limits = RosterLimits::default();
    limits.max_items = 2;
    limits.max_groups = 1;
    limits.max_text_len = 8;
    config.roster.limits = limits;
    let mut pair = online(config, Script::default(), RFC_ROSTER);
    let events = roster_events(&pair);
    assert!(matches!(events[0], RosterEvent::Loaded { items, .. } if items.len() == 2));
    assert!(matches!(
        events[1],
        RosterEvent::ItemsSkipped {
            count: 1,
            why: Refusal::LimitReached(_)
        }
    ));
    // A new item past the limit is refused (resource-constraint); a change is fine.
    pair.server_sends(&format!("<iq type='set' id='l1'>{PUSH}</iq>"));
    assert!(pair.sent().ends_with(
        "<iq type='error' id='l1'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    let held = pair
        .client
        .roster()
        .unwrap()
        .items()
        .next()
        .unwrap()
        .jid
        .clone();
    pair.server_sends(&format!(
        "<iq type='set' id='l2'><query xmlns='jabber:iq:roster'><item jid='{held}' name='short'/></query></iq>"
    ));
    assert!(pair.sent().ends_with("<iq type='result' id='l2'/>"));
    // Too long a name, too many groups.
    for (i, item) in [
        format!("<item jid='{held}' name='a name far too long'/>"),
        format!("<item jid='{held}'><group>a</group><group>b</group></item>"),
    ]
    .iter()
    .enumerate()
    {
        pair.server_sends(&format!(
            "<iq type='set' id='t{i}'><query xmlns='jabber:iq:roster'>{item}</query></iq>"
        ));
        assert!(matches!(
            pair.events.last(),
            Some(Event::Roster(RosterEvent::PushRefused {
                why: Refusal::LimitReached(_),
                ..
            }))
        ));
    }
    let roster = pair.client.roster().unwrap();
    assert_eq!(roster.len(), 2);
    assert_eq!(roster.get(&held).unwrap().name.as_deref(), Some("short"));
}

#[test]
fn sets_and_removals_are_requests_answered_by_iq_response() {
    let mut pair = online(config(), Script::default(), RFC_ROSTER);
    pair.server.auto_iq = false;
    // RFC 6121 §2.3.1, Example 6.
    let nurse = RosterItem::new(&jid("nurse@example.com/x"))
        .with_name("Nurse")
        .with_group("Servants");
    let id = pair.client.roster_set(pair.now, nurse).unwrap();
    pair.drive();
    assert!(pair.sent().ends_with(&format!(
        "<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'>\
         <item jid='nurse@example.com' name='Nurse'><group>Servants</group></item></query></iq>"
    )));
    pair.server_sends(&format!(
        "<iq type='error' id='{id}'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    assert!(matches!(
        pair.events.last(),
        Some(Event::IqResponse { id: i, result: Err(IqError::Stanza(e)) })
            if *i == id && e.condition == xmpp_sansio::client::stanza::StanzaErrorCondition::NotAcceptable
    ));
    // RFC 6121 §2.5.2, Example 13.
    let id = pair
        .client
        .roster_remove(pair.now, &jid("nurse@example.com"))
        .unwrap();
    pair.drive();
    assert!(pair.sent().ends_with(&format!(
        "<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'>\
         <item jid='nurse@example.com' subscription='remove'/></query></iq>"
    )));
}

#[test]
fn a_failed_fetch_is_reported_and_the_roster_outlives_the_connection() {
    let mut pair = Pair::new(config(), Script::default());
    pair.server.auto_iq = false;
    pair.drive();
    let id = pair.sent_iq_id("jabber:iq:roster");
    pair.server_sends(&format!(
        "<iq type='error' id='{id}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    assert!(matches!(
        pair.events.last(),
        Some(Event::Roster(RosterEvent::LoadFailed(IqError::Stanza(_))))
    ));
    assert!(!pair.client.roster().unwrap().is_loaded());

    let mut pair = online(config(), Script::default(), RFC_ROSTER);
    pair.server_sends("</stream:stream>");
    assert!(pair.client.is_closed());
    assert_eq!(
        pair.client.roster().unwrap().len(),
        3,
        "session state stays"
    );
}

#[test]
fn with_the_service_off_nothing_is_fetched() {
    let mut config = config();
    config.roster.enabled = false;
    let pair = online(config, Script::default(), RFC_ROSTER);
    assert!(!pair.sent().contains("jabber:iq:roster"));
    assert!(pair.client.roster().is_none());
}

// ---- the model check ----

/// A push, as the model sees it: `None` removes.
#[derive(Debug, Clone)]
struct ModelPush {
    contact: u8,
    item: Option<(Option<String>, u8, Vec<String>)>,
}

fn push_strategy() -> impl Strategy<Value = ModelPush> {
    let item = (
        proptest::option::of("[a-z]{1,6}"),
        0u8..4,
        proptest::collection::vec("[A-Z][a-z]{0,4}", 0..3),
    );
    (0u8..6, proptest::option::weighted(0.8, item))
        .prop_map(|(contact, item)| ModelPush { contact, item })
}

const SUBSCRIPTIONS: [&str; 4] = ["none", "to", "from", "both"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_pushes_leaves_their_net_effect(
        pushes in proptest::collection::vec(push_strategy(), 1..30),
    ) {
        let mut pair = online(config(), Script::default(), "<query xmlns='jabber:iq:roster' ver='0'/>");
        let mut model: BTreeMap<String, (Option<String>, Subscription, Vec<String>)> = BTreeMap::new();
        for (n, push) in pushes.iter().enumerate() {
            let contact = format!("c{}@example.org", push.contact);
            let item = match &push.item {
                None => {
                    model.remove(&contact);
                    format!("<item jid='{contact}' subscription='remove'/>")
                }
                Some((name, sub, groups)) => {
                    let mut unique: Vec<String> = Vec::new();
                    for g in groups {
                        if !unique.contains(g) {
                            unique.push(g.clone());
                        }
                    }
                    let subscription = [Subscription::None, Subscription::To, Subscription::From, Subscription::Both][*sub as usize];
                    model.insert(contact.clone(), (name.clone(), subscription, unique));
                    let name_attr = name.as_ref().map(|n| format!(" name='{n}'")).unwrap_or_default();
                    let groups: String = groups.iter().map(|g| format!("<group>{g}</group>")).collect();
                    format!("<item jid='{contact}'{name_attr} subscription='{}'>{groups}</item>", SUBSCRIPTIONS[*sub as usize])
                }
            };
            pair.server_sends(&format!(
                "<iq type='set' id='p{n}'><query xmlns='jabber:iq:roster' ver='{n}'>{item}</query></iq>"
            ));
        }
        let roster = pair.client.roster().unwrap();
        let got: BTreeMap<String, (Option<String>, Subscription, Vec<String>)> = roster
            .items()
            .map(|i| (i.jid.to_string(), (i.name.clone(), i.subscription, i.groups.clone())))
            .collect();
        prop_assert_eq!(got, model);
        let last = (pushes.len() - 1).to_string();
        prop_assert_eq!(roster.version(), Some(last.as_str()));
    }
}

#[test]
fn nothing_is_sent_after_our_end_tag_not_even_a_push_reply() {
    // RFC 6120 §4.4: once we closed, stanzas may still arrive, but we send nothing more.
    let script = Script {
        answer_close: false,
        ..Script::default()
    };
    let mut pair = online(config(), script, RFC_ROSTER);
    pair.client.close(pair.now);
    pair.drive();
    pair.server_sends(
        "<iq type='set' id='late'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com'/></query></iq>\
         <iq type='get' id='ping' from='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    let sent = pair.sent();
    assert!(sent.ends_with("</stream:stream>"), "{sent}");
}

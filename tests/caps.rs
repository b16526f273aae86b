//! Service discovery (XEP-0030) and entity capabilities (XEP-0115, XEP-0390): the XEPs'
//! examples and a real server's recording as test vectors, the order-independence of the
//! hashes, the responder, and resolution through the client against the scripted server:
//! verified and cached once, poisoning refused, floods bounded, legacy caps per entity.

mod common;
mod harness;

use std::sync::Arc;
use std::time::Duration;

use common::element;
use harness::{config, Pair, Script};
use proptest::prelude::*;
use xmpp_sansio::client::caps::{CapsEvent, CapsFailure, CapsHash, CapsKey, CapsLimits};
use xmpp_sansio::client::disco::{DiscoInfo, DiscoItem, Identity};
use xmpp_sansio::client::forms::{DataForm, Field, FieldType, FormLimits, FormType};
use xmpp_sansio::client::{Config, Event};
use xmpp_sansio::jid::Jid;

fn info(query: &str) -> DiscoInfo {
    DiscoInfo::parse(element(query).as_ref(), &FormLimits::default()).unwrap()
}

fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

/// XEP-0115 §5.2 (the disco#info of §1.2).
const XEP0115_SIMPLE: &str = "<query xmlns='http://jabber.org/protocol/disco#info'>\
    <identity category='client' name='Exodus 0.9.1' type='pc'/>\
    <feature var='http://jabber.org/protocol/caps'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='http://jabber.org/protocol/muc'/></query>";

/// XEP-0115 §5.3.
const XEP0115_COMPLEX: &str = "<query xmlns='http://jabber.org/protocol/disco#info'>\
    <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
    <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
    <feature var='http://jabber.org/protocol/caps'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='http://jabber.org/protocol/muc'/>\
    <x xmlns='jabber:x:data' type='result'>\
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
      <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>\
      <field var='os'><value>Mac</value></field>\
      <field var='os_version'><value>10.5.1</value></field>\
      <field var='software'><value>Psi</value></field>\
      <field var='software_version'><value>0.11</value></field>\
    </x></query>";

/// XEP-0390 §4.5, the simple example.
const XEP0390_SIMPLE: &str = "<query xmlns='http://jabber.org/protocol/disco#info'>\
    <identity category='client' name='BombusMod' type='mobile'/>\
    <feature var='http://jabber.org/protocol/si'/>\
    <feature var='http://jabber.org/protocol/bytestreams'/>\
    <feature var='http://jabber.org/protocol/chatstates'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='urn:xmpp:ping'/>\
    <feature var='jabber:iq:time'/>\
    <feature var='jabber:iq:privacy'/>\
    <feature var='jabber:iq:version'/>\
    <feature var='http://jabber.org/protocol/rosterx'/>\
    <feature var='urn:xmpp:time'/>\
    <feature var='jabber:x:oob'/>\
    <feature var='http://jabber.org/protocol/ibb'/>\
    <feature var='http://jabber.org/protocol/si/profile/file-transfer'/>\
    <feature var='urn:xmpp:receipts'/>\
    <feature var='jabber:iq:roster'/>\
    <feature var='jabber:iq:last'/></query>";

/// XEP-0390 §4.5, the complex example.
const XEP0390_COMPLEX: &str = "<query xmlns='http://jabber.org/protocol/disco#info'>\
    <identity category='client' name='Tkabber' type='pc' xml:lang='en'/>\
    <identity category='client' name='Ткаббер' type='pc' xml:lang='ru'/>\
    <feature var='games:board'/>\
    <feature var='http://jabber.org/protocol/activity'/>\
    <feature var='http://jabber.org/protocol/activity+notify'/>\
    <feature var='http://jabber.org/protocol/bytestreams'/>\
    <feature var='http://jabber.org/protocol/chatstates'/>\
    <feature var='http://jabber.org/protocol/commands'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='http://jabber.org/protocol/evil'/>\
    <feature var='http://jabber.org/protocol/feature-neg'/>\
    <feature var='http://jabber.org/protocol/geoloc'/>\
    <feature var='http://jabber.org/protocol/geoloc+notify'/>\
    <feature var='http://jabber.org/protocol/ibb'/>\
    <feature var='http://jabber.org/protocol/iqibb'/>\
    <feature var='http://jabber.org/protocol/mood'/>\
    <feature var='http://jabber.org/protocol/mood+notify'/>\
    <feature var='http://jabber.org/protocol/rosterx'/>\
    <feature var='http://jabber.org/protocol/si'/>\
    <feature var='http://jabber.org/protocol/si/profile/file-transfer'/>\
    <feature var='http://jabber.org/protocol/tune'/>\
    <feature var='http://www.facebook.com/xmpp/messages'/>\
    <feature var='http://www.xmpp.org/extensions/xep-0084.html#ns-metadata+notify'/>\
    <feature var='jabber:iq:avatar'/>\
    <feature var='jabber:iq:browse'/>\
    <feature var='jabber:iq:dtcp'/>\
    <feature var='jabber:iq:filexfer'/>\
    <feature var='jabber:iq:ibb'/>\
    <feature var='jabber:iq:inband'/>\
    <feature var='jabber:iq:jidlink'/>\
    <feature var='jabber:iq:last'/>\
    <feature var='jabber:iq:oob'/>\
    <feature var='jabber:iq:privacy'/>\
    <feature var='jabber:iq:roster'/>\
    <feature var='jabber:iq:time'/>\
    <feature var='jabber:iq:version'/>\
    <feature var='jabber:x:data'/>\
    <feature var='jabber:x:event'/>\
    <feature var='jabber:x:oob'/>\
    <feature var='urn:xmpp:avatar:metadata+notify'/>\
    <feature var='urn:xmpp:ping'/>\
    <feature var='urn:xmpp:receipts'/>\
    <feature var='urn:xmpp:time'/>\
    <x xmlns='jabber:x:data' type='result'>\
      <field type='hidden' var='FORM_TYPE'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
      <field var='software'><value>Tkabber</value></field>\
      <field var='software_version'><value>0.11.1-svn-20111216-mod (Tcl/Tk 8.6b2)</value></field>\
      <field var='os'><value>Windows</value></field>\
      <field var='os_version'><value>XP</value></field>\
    </x></query>";

/// What ejabberd 23.01 asked for after the recorded client's caps presence, and the
/// recorded client's answer (tests/fixtures/ejabberd-14-presence-with-caps.xml).
const RECORDED: &str = "<query xmlns='http://jabber.org/protocol/disco#info'>\
    <identity category='client' type='bot' name='interop-capture'/>\
    <feature var='http://jabber.org/protocol/caps'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='urn:xmpp:ping'/></query>";

#[test]
fn the_xeps_examples_and_a_recorded_client_hash_as_published() {
    let sha1 = |q| CapsHash::Sha1.compute(&info(q)).unwrap();
    assert_eq!(sha1(XEP0115_SIMPLE), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    assert_eq!(sha1(XEP0115_COMPLEX), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    assert_eq!(sha1(RECORDED), "WNDbSWpOP9QRW3Jz1YdRzIlGDR4=");
    let ecaps2 = |hash: CapsHash, q| hash.compute(&info(q)).unwrap();
    assert_eq!(
        ecaps2(CapsHash::Ecaps2Sha256, XEP0390_SIMPLE),
        "kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8="
    );
    assert_eq!(
        ecaps2(CapsHash::Ecaps2Sha3_256, XEP0390_SIMPLE),
        "79mdYAfU9rEdTOcWDO7UEAt6E56SUzk/g6TnqUeuD9Q="
    );
    assert_eq!(
        ecaps2(CapsHash::Ecaps2Sha256, XEP0390_COMPLEX),
        "u79ZroNJbdSWhdSp311mddz44oHHPsEBntQ5b1jqBSY="
    );
    assert_eq!(
        ecaps2(CapsHash::Ecaps2Sha3_256, XEP0390_COMPLEX),
        "XpUJzLAc93258sMECZ3FJpebkzuyNXDzRNwQog8eycg="
    );
}

#[test]
fn ill_formed_descriptions_are_not_hashed() {
    let dup_feature = XEP0115_SIMPLE.replace(
        "<feature var='http://jabber.org/protocol/muc'/>",
        "<feature var='http://jabber.org/protocol/muc'/><feature var='http://jabber.org/protocol/muc'/>",
    );
    let dup_identity = XEP0115_SIMPLE.replace(
        "<feature var='http://jabber.org/protocol/caps'/>",
        "<identity category='client' name='Exodus 0.9.1' type='pc'/><feature var='http://jabber.org/protocol/caps'/>",
    );
    let form = "<x xmlns='jabber:x:data' type='result'>\
        <field var='FORM_TYPE' type='hidden'><value>urn:x</value></field></x>";
    let dup_form = XEP0115_SIMPLE.replace("</query>", &format!("{form}{form}</query>"));
    let two_form_types = XEP0115_SIMPLE.replace(
        "</query>",
        "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>\
         <value>urn:x</value><value>urn:y</value></field></x></query>",
    );
    for (what, query) in [
        ("a feature twice", dup_feature),
        ("an identity twice", dup_identity),
        ("two forms of one FORM_TYPE", dup_form),
        ("a FORM_TYPE with two values", two_form_types),
    ] {
        for hash in [CapsHash::Sha1, CapsHash::Ecaps2Sha256] {
            assert_eq!(hash.compute(&info(&query)), None, "{what}");
        }
    }
    // XEP-0115 §5.4: a form without a hidden FORM_TYPE is left out of the hash, not an error.
    let untyped = XEP0115_SIMPLE.replace(
        "</query>",
        "<x xmlns='jabber:x:data' type='result'><field var='os'><value>Mac</value></field></x></query>",
    );
    assert_eq!(
        CapsHash::Sha1.compute(&info(&untyped)).unwrap(),
        "QgayPKawpkPSDYmwT/WM94uAlu0="
    );
    // XEP-0390 §4.1 step 3: it cannot be hashed there.
    assert_eq!(CapsHash::Ecaps2Sha256.compute(&info(&untyped)), None);
}

fn arb_info() -> impl Strategy<Value = DiscoInfo> {
    let text = "[a-zA-Z0-9:/#._ Ψ-]{0,12}";
    let identities = prop::collection::btree_set(
        (
            text,
            text,
            prop::option::of("[a-z]{2}"),
            prop::option::of(text),
        ),
        1..4,
    );
    let features = prop::collection::btree_set(text, 0..8);
    let forms = prop::collection::btree_map(
        text,
        prop::collection::btree_map(text, prop::collection::vec(text, 0..3), 0..4),
        0..3,
    );
    (identities, features, forms).prop_map(|(identities, features, forms)| {
        let mut info = DiscoInfo::new(
            identities
                .into_iter()
                .map(|(c, t, lang, name)| {
                    let mut i = Identity::new(c, t);
                    i.lang = lang;
                    i.name = name;
                    i
                })
                .collect(),
        );
        info.features = features.into_iter().collect();
        info.extensions = forms
            .into_iter()
            .map(|(form_type, fields)| {
                let mut form = DataForm::new(FormType::Result);
                form.fields
                    .push(Field::new("FORM_TYPE", FieldType::Hidden).with_value(form_type));
                for (var, values) in fields.into_iter().filter(|(v, _)| v != "FORM_TYPE") {
                    let mut field = Field::new(var, FieldType::TextMulti);
                    field.values = values;
                    form.fields.push(field);
                }
                form
            })
            .collect();
        info
    })
}

proptest! {
    /// The hashes do not depend on the order identities, features, forms, fields or values
    /// arrive in.
    #[test]
    fn hashes_do_not_depend_on_order(info in arb_info(), seed in any::<u64>()) {
        let mut shuffled = info.clone();
        let mut rng = seed;
        let mut shuffle = |n: usize| -> Vec<usize> {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (rng >> 33) as usize % (i + 1));
            }
            order
        };
        let order = shuffle(shuffled.identities.len());
        shuffled.identities = order.iter().map(|&i| info.identities[i].clone()).collect();
        let order = shuffle(shuffled.features.len());
        shuffled.features = order.iter().map(|&i| info.features[i].clone()).collect();
        let order = shuffle(shuffled.extensions.len());
        shuffled.extensions = order.iter().map(|&i| info.extensions[i].clone()).collect();
        for form in &mut shuffled.extensions {
            let order = shuffle(form.fields.len());
            form.fields = order.iter().map(|&i| form.fields[i].clone()).collect();
            for field in &mut form.fields {
                let order = shuffle(field.values.len());
                field.values = order.iter().map(|&i| field.values[i].clone()).collect();
            }
        }
        for hash in [CapsHash::Sha1, CapsHash::Ecaps2Sha256, CapsHash::Ecaps2Sha3_256] {
            prop_assert_eq!(hash.compute(&info), hash.compute(&shuffled));
        }
    }
}

// ---- through the client ----

const ROMEO: &str = "romeo@example.net/orchard";
const BENVOLIO: &str = "benvolio@example.net/home";
const TYBALT: &str = "tybalt@example.org/sword";

fn online(config: Config) -> Pair {
    let mut pair = Pair::online(config, Script::default());
    pair.events.clear();
    pair
}

fn caps_events(pair: &Pair) -> Vec<&CapsEvent> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Caps(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// An available presence from `from` announcing XEP-0115 `ver`.
fn caps_presence(from: &str, ver: &str) -> String {
    format!(
        "<presence from='{from}'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
         node='http://code.google.com/p/exodus' ver='{ver}'/></presence>"
    )
}

/// `from`'s answer to the last caps query the client sent it.
fn answer(pair: &mut Pair, from: &str, query: &str) {
    let id = pair.sent_iq_id(&format!("to='{from}'"));
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='{from}'>{query}</iq>"
    ));
}

fn queries_to(pair: &Pair, to: &str) -> usize {
    pair.sent()
        .matches(&format!(
            "to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'"
        ))
        .count()
}

const EXODUS: &str = "QgayPKawpkPSDYmwT/WM94uAlu0=";

#[test]
fn our_presence_carries_our_caps_and_disco_answers_for_them() {
    let mut config = config();
    config.disco.identities = vec![Identity::new("client", "bot").with_name("interop-capture")];
    config.disco.features = vec!["urn:example:x".to_owned()];
    config.disco.items = vec![DiscoItem::new(jid("pubsub.example.com")).with_name("news")];
    let mut pair = online(config);
    let own = pair.client.own_disco_info().unwrap().clone();
    let ver = CapsHash::Sha1.compute(&own).unwrap();
    let ecaps2 = CapsHash::Ecaps2Sha256.compute(&own).unwrap();
    let sent = pair.sent();
    assert!(
        sent.contains(&format!(
            "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
             node='https://crates.io/crates/xmpp-sansio' ver='{ver}'/>\
             <c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>{ecaps2}</hash></c>"
        )),
        "{sent}"
    );
    for feature in [
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/caps",
        "urn:xmpp:caps",
        "urn:xmpp:ping",
        "urn:example:x",
    ] {
        assert!(own.has_feature(feature), "{feature}");
    }
    let request = |id: &str, node: Option<&str>| {
        let node = node.map_or(String::new(), |n| format!(" node='{n}'"));
        format!(
            "<iq type='get' id='{id}' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info'{node}/></iq>"
        )
    };
    let description = "<identity category='client' type='bot' name='interop-capture'/>\
        <feature var='http://jabber.org/protocol/caps'/>";
    // Plain, by the caps node (as ejabberd asks after our presence), by the ecaps2 node.
    pair.server_sends(&request("d1", None));
    let caps_node = format!("https://crates.io/crates/xmpp-sansio#{ver}");
    pair.server_sends(&request("d2", Some(&caps_node)));
    let ecaps2_node = format!("urn:xmpp:caps#sha-256.{ecaps2}");
    pair.server_sends(&request("d3", Some(&ecaps2_node)));
    pair.server_sends(&request(
        "d4",
        Some("https://crates.io/crates/xmpp-sansio#stale"),
    ));
    let sent = pair.sent();
    for (id, node) in [
        ("d1", None),
        ("d2", Some(&caps_node)),
        ("d3", Some(&ecaps2_node)),
    ] {
        let node = node.map_or(String::new(), |n| format!(" node='{n}'"));
        let expected = format!(
            "<iq type='result' id='{id}' to='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info'{node}>{description}"
        );
        assert!(sent.contains(&expected), "{expected} not in {sent}");
    }
    assert!(
        sent.contains(&format!(
            "<iq type='error' id='d4' to='{ROMEO}'><error type='cancel'><item-not-found"
        )),
        "{sent}"
    );
    // What we answer hashes to what we announced.
    let answer_start = sent.find("<iq type='result' id='d2'").unwrap();
    let answer_end = answer_start + sent[answer_start..].find("</iq>").unwrap() + 5;
    let iq =
        xmpp_sansio::client::stanza::Iq::from_element(element(&sent[answer_start..answer_end]))
            .unwrap();
    let answered = DiscoInfo::from_iq(&iq).unwrap();
    assert_eq!(CapsHash::Sha1.compute(&answered).unwrap(), ver);
    assert_eq!(CapsHash::Ecaps2Sha256.compute(&answered).unwrap(), ecaps2);
    // Items: ours, and no nodes.
    pair.server_sends(&format!(
        "<iq type='get' id='i1' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>\
         <iq type='get' id='i2' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#items' node='x'/></iq>"
    ));
    let sent = pair.sent();
    assert!(sent.contains(&format!(
        "<iq type='result' id='i1' to='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#items'>\
         <item jid='pubsub.example.com' name='news'/></query></iq>"
    )), "{sent}");
    assert!(sent
        .contains("id='i2' to='romeo@example.net/orchard'><error type='cancel'><item-not-found"));
}

#[test]
fn a_feature_change_recomputes_and_rebroadcasts_our_caps() {
    let mut pair = online(config());
    let before = CapsHash::Sha1
        .compute(pair.client.own_disco_info().unwrap())
        .unwrap();
    pair.client
        .send_presence(
            pair.now,
            xmpp_sansio::client::stanza::OutgoingPresence::available().status("here"),
        )
        .unwrap();
    pair.client
        .set_feature(pair.now, "urn:xmpp:jingle:1", true)
        .unwrap();
    pair.drive();
    let own = pair.client.own_disco_info().unwrap().clone();
    assert!(own.has_feature("urn:xmpp:jingle:1"));
    let after = CapsHash::Sha1.compute(&own).unwrap();
    assert_ne!(before, after);
    let sent = pair.sent();
    let last = &sent[sent.rfind("<presence").unwrap()..];
    assert!(
        last.starts_with("<presence><status>here</status><c ") && last.contains(&after),
        "the last broadcast goes out again with the new caps: {last}"
    );
    // No change, nothing sent.
    let len = pair.sent().len();
    pair.client
        .set_feature(pair.now, "urn:xmpp:jingle:1", true)
        .unwrap();
    pair.drive();
    assert_eq!(pair.sent().len(), len);
}

#[test]
fn a_verified_answer_is_cached_and_serves_every_entity_announcing_it() {
    let mut pair = online(config());
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    assert!(pair.sent().contains(&format!(
        "to='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#{EXODUS}'/>"
    )));
    // A second entity announcing the same ver while the query is out is not asked.
    pair.server_sends(&caps_presence(BENVOLIO, EXODUS));
    assert_eq!(queries_to(&pair, BENVOLIO), 0);
    answer(&mut pair, ROMEO, XEP0115_SIMPLE);
    let events = caps_events(&pair);
    assert!(
        matches!(events[0], CapsEvent::Learned { key, .. } if *key == CapsKey::new(CapsHash::Sha1, EXODUS))
    );
    let resolved: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            CapsEvent::Resolved { jid, .. } => Some(jid.to_string()),
            _ => None,
        })
        .collect();
    // Everyone announcing it, in a fixed order.
    assert_eq!(resolved, [BENVOLIO, ROMEO]);
    assert_eq!(
        pair.client
            .supports(&jid(ROMEO), "http://jabber.org/protocol/muc"),
        Some(true)
    );
    assert_eq!(
        pair.client.supports(&jid(BENVOLIO), "urn:xmpp:jingle:1"),
        Some(false)
    );
    assert_eq!(
        pair.client.supports(&jid(TYBALT), "urn:xmpp:jingle:1"),
        None
    );
    // Later announcements of a cached ver resolve without a query; repeats are not news.
    pair.events.clear();
    pair.server_sends(&caps_presence(TYBALT, EXODUS));
    pair.server_sends(&caps_presence(TYBALT, EXODUS));
    assert_eq!(queries_to(&pair, TYBALT), 0);
    assert_eq!(caps_events(&pair).len(), 1);
    // Going offline forgets the entity's caps.
    pair.server_sends(&format!("<presence from='{TYBALT}' type='unavailable'/>"));
    assert!(pair.client.caps_of(&jid(TYBALT)).is_none());
}

#[test]
fn a_contact_answering_other_features_does_not_poison_the_ver() {
    let mut pair = online(config());
    // Tybalt announces Exodus' ver (under a bogus node), and Romeo the same while Tybalt
    // is asked.
    pair.server_sends(
        &caps_presence(TYBALT, EXODUS).replace("http://code.google.com/p/exodus", "bogus"),
    );
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    assert_eq!(queries_to(&pair, ROMEO), 0);
    // Tybalt answers with more than Exodus has.
    let lie = XEP0115_SIMPLE.replace("</query>", "<feature var='urn:evil'/></query>");
    answer(&mut pair, TYBALT, &lie);
    let events = caps_events(&pair);
    assert!(
        matches!(events[0], CapsEvent::Failed { jid, reason: CapsFailure::Mismatch } if jid.as_str() == TYBALT),
        "{events:?}"
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, CapsEvent::Learned { .. })));
    assert!(pair.client.caps_of(&jid(TYBALT)).is_none());
    // The next entity announcing the ver is asked instead, for its own node, and its
    // truthful answer counts.
    assert_eq!(queries_to(&pair, ROMEO), 1);
    assert!(pair.sent().contains(&format!(
        "to='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#{EXODUS}'/>"
    )));
    answer(&mut pair, ROMEO, XEP0115_SIMPLE);
    assert!(!pair
        .client
        .caps_of(&jid(ROMEO))
        .unwrap()
        .has_feature("urn:evil"));
    // The liar announced that ver: what it stands for is the verified description, not
    // what the liar answered.
    assert!(!pair
        .client
        .caps_of(&jid(TYBALT))
        .unwrap()
        .has_feature("urn:evil"));
    // An answer from someone not asked is not an answer.
    pair.events.clear();
    pair.server_sends(&caps_presence(BENVOLIO, "wHZ3YTjMDnuhC2VK7ojP9tOcN0c="));
    let id = pair.sent_iq_id(&format!("to='{BENVOLIO}'"));
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='{TYBALT}'>{XEP0115_SIMPLE}</iq>"
    ));
    assert!(caps_events(&pair).is_empty(), "{:?}", pair.events);
}

#[test]
fn a_flood_of_distinct_vers_sends_bounded_queries_and_holds_bounded_state() {
    let mut config = config();
    config.caps.limits = CapsLimits::default();
    let limits = config.caps.limits;
    let mut pair = online(config);
    let sent_before = pair.sent().len();
    let mut flood = String::new();
    for i in 0..5000 {
        flood.push_str(&caps_presence(
            &format!("bot{i}@evil.example/r"),
            &format!("{i:027}="),
        ));
    }
    pair.server_sends(&flood);
    let queries = pair.sent()[sent_before..]
        .matches("<query xmlns='http://jabber.org/protocol/disco#info'")
        .count();
    assert_eq!(
        queries, limits.max_in_flight,
        "no more queries than may be in flight"
    );
    let busy = caps_events(&pair)
        .iter()
        .filter(|e| {
            matches!(
                e,
                CapsEvent::Failed {
                    reason: CapsFailure::Busy,
                    ..
                }
            )
        })
        .count();
    assert_eq!(busy, 5000 - limits.max_in_flight - limits.max_deferred);
    // Unanswered, the queries time out; the queue then drains at the configured rate.
    pair.events.clear();
    pair.advance(Duration::from_secs(31));
    let queries = pair.sent()[sent_before..]
        .matches("<query xmlns='http://jabber.org/protocol/disco#info'")
        .count();
    assert_eq!(queries, 2 * limits.max_in_flight);
    let timeouts = caps_events(&pair)
        .iter()
        .filter(|e| {
            matches!(
                e,
                CapsEvent::Failed {
                    reason: CapsFailure::Query(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(timeouts, limits.max_in_flight);
}

#[test]
fn the_query_rate_is_bounded_and_queued_queries_go_out_in_time() {
    let mut config = config();
    config.caps.limits.burst = 2;
    config.caps.limits.interval = Duration::from_secs(1);
    let mut pair = online(config);
    for (i, who) in [ROMEO, BENVOLIO, TYBALT].into_iter().enumerate() {
        pair.server_sends(&caps_presence(who, &format!("{i:027}=")));
    }
    assert_eq!(queries_to(&pair, ROMEO) + queries_to(&pair, BENVOLIO), 2);
    assert_eq!(queries_to(&pair, TYBALT), 0);
    let deadline = pair.client.poll_timeout().unwrap();
    assert!(deadline <= pair.now + Duration::from_secs(1));
    pair.advance(Duration::from_secs(1));
    assert_eq!(queries_to(&pair, TYBALT), 1);
}

#[test]
fn legacy_and_unverifiable_caps_are_resolved_per_entity_and_never_cached() {
    let mut pair = online(config());
    let legacy = |from: &str| {
        format!(
            "<presence from='{from}'><c xmlns='http://jabber.org/protocol/caps' \
             node='http://example.org/legacy' ver='1.0'/></presence>"
        )
    };
    pair.server_sends(&legacy(ROMEO));
    pair.server_sends(&legacy(BENVOLIO));
    assert_eq!(queries_to(&pair, ROMEO), 1);
    assert_eq!(queries_to(&pair, BENVOLIO), 1, "each entity is asked");
    assert!(pair.sent().contains("node='http://example.org/legacy#1.0'"));
    answer(&mut pair, ROMEO, XEP0115_SIMPLE);
    let events = caps_events(&pair);
    assert!(
        matches!(events.as_slice(), [CapsEvent::Resolved { jid, .. }] if jid.as_str() == ROMEO),
        "{events:?}"
    );
    assert!(pair.client.caps_of(&jid(ROMEO)).is_some());
    // A hash we do not implement is handled the same way.
    pair.server_sends(&format!(
        "<presence from='{TYBALT}'><c xmlns='http://jabber.org/protocol/caps' hash='md5' \
         node='http://example.org/x' ver='abc'/></presence>"
    ));
    assert_eq!(queries_to(&pair, TYBALT), 1);
}

#[test]
fn ecaps2_is_preferred_and_verified() {
    let mut pair = online(config());
    pair.server_sends(&format!(
        "<presence from='{ROMEO}'>\
         <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='{EXODUS}'/>\
         <c xmlns='urn:xmpp:caps'>\
         <hash xmlns='urn:xmpp:hashes:2' algo='sha3-256'>79mdYAfU9rEdTOcWDO7UEAt6E56SUzk/g6TnqUeuD9Q=</hash>\
         <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=</hash>\
         </c></presence>"
    ));
    assert!(pair
        .sent()
        .contains("node='urn:xmpp:caps#sha-256.kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8='"));
    answer(&mut pair, ROMEO, XEP0390_SIMPLE);
    let events = caps_events(&pair);
    assert!(
        matches!(events[0], CapsEvent::Learned { key, .. } if key.hash == CapsHash::Ecaps2Sha256),
        "{events:?}"
    );
    assert_eq!(
        pair.client.supports(&jid(ROMEO), "urn:xmpp:receipts"),
        Some(true)
    );
}

#[test]
fn known_caps_load_from_the_config_checked_against_their_hash() {
    let mut config = config();
    let exodus = info(XEP0115_SIMPLE);
    let mut wrong = exodus.clone();
    wrong.features.push("urn:evil".to_owned());
    config.caps.known = vec![
        (CapsKey::new(CapsHash::Sha1, EXODUS), exodus),
        (
            CapsKey::new(CapsHash::Sha1, "q07IKJEyjvHSyhy//CH0CxmKi8w="),
            wrong,
        ),
    ];
    let mut pair = online(config);
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    assert_eq!(queries_to(&pair, ROMEO), 0);
    assert!(matches!(
        caps_events(&pair)[..],
        [CapsEvent::Resolved { .. }]
    ));
    pair.server_sends(&caps_presence(BENVOLIO, "q07IKJEyjvHSyhy//CH0CxmKi8w="));
    assert_eq!(
        queries_to(&pair, BENVOLIO),
        1,
        "the wrong entry was dropped"
    );
}

#[test]
fn the_servers_description_is_fetched_once_online() {
    let pair = Pair::online(config(), Script::default());
    let info: &Arc<DiscoInfo> = pair.client.server_info().unwrap();
    assert!(info.has_identity("server", "im"));
    assert!(info.has_feature("urn:xmpp:carbons:2"));
    assert!(pair
        .events
        .iter()
        .any(|e| matches!(e, Event::ServerInfo(i) if Arc::ptr_eq(i, info))));
}

#[test]
fn with_discovery_off_requests_are_refused_and_nothing_is_announced() {
    let mut config = config();
    config.disco.enabled = false;
    let mut pair = online(config);
    assert!(!pair.sent().contains("http://jabber.org/protocol/caps"));
    pair.server_sends(&format!(
        "<iq type='get' id='d1' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    ));
    assert!(pair.sent().contains(
        "id='d1' to='romeo@example.net/orchard'><error type='cancel'><service-unavailable"
    ));
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    assert_eq!(queries_to(&pair, ROMEO), 0);
}

#[test]
fn implausible_and_oversized_announcements_are_not_held() {
    let mut pair = online(config());
    let sent = pair.sent().len();
    let long_node = "n".repeat(300);
    pair.server_sends(&format!(
        "<presence from='{ROMEO}'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='x' ver='{}'/></presence>\
         <presence from='{BENVOLIO}'><c xmlns='http://jabber.org/protocol/caps' node='{long_node}' ver='1'/></presence>\
         <presence from='{TYBALT}'><c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>short</hash></c></presence>",
        "A".repeat(5000)
    ));
    assert!(
        !pair.sent()[sent..].contains("disco#info"),
        "{}",
        &pair.sent()[sent..]
    );
    assert!(caps_events(&pair).is_empty());
}

#[test]
fn nothing_is_asked_after_our_stream_end() {
    let mut pair = online(config());
    pair.server.script.answer_close = false;
    pair.client.close(pair.now);
    pair.drive();
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    let sent = pair.sent();
    assert!(sent.ends_with("</stream:stream>"), "{sent}");
}

#[test]
fn a_dropped_announcement_is_asked_again_when_repeated() {
    let mut config = config();
    config.caps.limits.burst = 1;
    config.caps.limits.max_deferred = 0;
    config.caps.limits.interval = Duration::from_secs(1);
    let mut pair = online(config);
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    pair.server_sends(&caps_presence(BENVOLIO, "q07IKJEyjvHSyhy//CH0CxmKi8w="));
    assert!(matches!(
        caps_events(&pair)[..],
        [CapsEvent::Failed {
            reason: CapsFailure::Busy,
            ..
        }]
    ));
    assert_eq!(queries_to(&pair, BENVOLIO), 0);
    pair.advance(Duration::from_secs(2));
    answer(&mut pair, ROMEO, XEP0115_SIMPLE);
    pair.server_sends(&caps_presence(BENVOLIO, "q07IKJEyjvHSyhy//CH0CxmKi8w="));
    assert_eq!(queries_to(&pair, BENVOLIO), 1);
}

#[test]
fn entities_leave_and_the_tracked_set_is_bounded() {
    let mut config = config();
    config.caps.limits.max_peers = 2;
    config.caps.known = vec![(CapsKey::new(CapsHash::Sha1, EXODUS), info(XEP0115_SIMPLE))];
    let mut pair = online(config);
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    pair.server_sends(&caps_presence(BENVOLIO, EXODUS));
    pair.server_sends(&caps_presence(TYBALT, EXODUS));
    assert!(pair.client.caps_of(&jid(TYBALT)).is_none());
    assert!(matches!(
        caps_events(&pair).last(),
        Some(CapsEvent::Failed { reason: CapsFailure::Busy, jid }) if jid.as_str() == TYBALT
    ));
    // An error presence ends an entity's caps as unavailable does; room is made.
    pair.server_sends(&format!("<presence from='{ROMEO}' type='error'/>"));
    assert!(pair.client.caps_of(&jid(ROMEO)).is_none());
    pair.server_sends(&caps_presence(TYBALT, EXODUS));
    assert!(pair.client.caps_of(&jid(TYBALT)).is_some());
}

#[test]
fn our_previous_caps_node_is_still_answered_and_service_features_are_not_the_apps() {
    let mut pair = online(config());
    let old = CapsHash::Sha1
        .compute(pair.client.own_disco_info().unwrap())
        .unwrap();
    pair.client
        .set_feature(pair.now, "urn:example:new", true)
        .unwrap();
    assert_eq!(
        pair.client
            .set_feature(pair.now, "http://jabber.org/protocol/caps", false),
        Err(xmpp_sansio::client::CommandError::InvalidStanza(
            "that feature belongs to a service of the client"
        ))
    );
    assert!(pair
        .client
        .set_feature(pair.now, "bad\u{0}feature", true)
        .is_err());
    pair.server_sends(&format!(
        "<iq type='get' id='old' from='{ROMEO}'><query xmlns='http://jabber.org/protocol/disco#info' \
         node='https://crates.io/crates/xmpp-sansio#{old}'/></iq>"
    ));
    let sent = pair.sent();
    let reply = &sent[sent.find("id='old'").unwrap()..];
    assert!(
        reply.starts_with("id='old' to='romeo@example.net/orchard'><query"),
        "{reply}"
    );
    assert!(!reply[..reply.find("</iq>").unwrap()].contains("urn:example:new"));
}

#[test]
fn caps_traffic_gives_the_same_actions_in_every_chunking() {
    // A first run learns the ids of the client's queries (they are seeded).
    let mut pair = online(config());
    pair.server_sends(&caps_presence(ROMEO, EXODUS));
    let romeo_id = pair.sent_iq_id(&format!("to='{ROMEO}'"));
    let traffic = format!(
        "{}{}<iq type='result' id='{romeo_id}' from='{ROMEO}'>{XEP0115_SIMPLE}</iq>\
         <presence from='{TYBALT}'><c xmlns='http://jabber.org/protocol/caps' node='legacy' ver='1'/></presence>\
         <iq type='get' id='q' from='{TYBALT}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\
         <presence from='{ROMEO}' type='unavailable'/>",
        caps_presence(ROMEO, EXODUS),
        caps_presence(BENVOLIO, EXODUS),
    );
    let mut whole: Option<(Vec<String>, String)> = None;
    for size in [0, 1, 2, 3, 7, 64] {
        let mut pair = online(config());
        if size > 0 {
            pair.chunks = vec![size];
        }
        let before = pair.sent().len();
        pair.server_sends(&traffic);
        let events: Vec<String> = pair.events.iter().map(harness::summarize).collect();
        let sent = pair.sent()[before..].to_owned();
        assert!(events.iter().any(|e| e.contains("Learned")), "{events:#?}");
        match &whole {
            None => whole = Some((events, sent)),
            Some((e, s)) => {
                assert_eq!(&events, e, "reads of {size}");
                assert_eq!(&sent, s, "reads of {size}");
            }
        }
    }
}

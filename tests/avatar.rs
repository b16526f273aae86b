//! vCard-based avatars (XEP-0153) through the client against the scripted server: our hash
//! in every available presence (none before our vCard is known), a new avatar announced
//! once the server takes it; contacts' avatars fetched, verified and cached, mismatches and
//! oversized photos refused, spoofed answers ignored, fetches bounded.

mod harness;

use std::time::Duration;

use base64::Engine as _;
use harness::{config, Pair, Script};
use xmpp_sansio::client::avatar::{Avatar, AvatarEvent, AvatarFailure};
use xmpp_sansio::client::pep_avatar::AvatarImage;
use xmpp_sansio::client::vcard::VCardError;
use xmpp_sansio::client::{Config, Event};
use xmpp_sansio::jid::Jid;

const ROMEO: &str = "romeo@example.net";
const BENVOLIO: &str = "benvolio@example.net";

fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

fn png(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect()
}

/// Online, with Romeo, Benvolio and Tybalt in the roster (only contacts' avatars are
/// fetched).
fn online(config: Config) -> Pair {
    let mut pair = Pair::new(config, Script::default());
    pair.server.roster_reply = "<query xmlns='jabber:iq:roster' ver='1'>\
        <item jid='romeo@example.net' subscription='both'/>\
        <item jid='benvolio@example.net' subscription='both'/>\
        <item jid='tybalt@example.org' subscription='both'/></query>"
        .to_owned();
    pair.drive();
    assert!(pair.client.is_online());
    pair.events.clear();
    pair
}

fn avatar_events(pair: &Pair) -> Vec<&AvatarEvent> {
    pair.events
        .iter()
        .filter_map(|e| match e {
            Event::Avatar(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn announce(from: &str, hash: &str) -> String {
    format!(
        "<presence from='{from}/phone'><x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>"
    )
}

fn vcard_with(data: &[u8]) -> String {
    format!(
        "<vCard xmlns='vcard-temp'><FN>R</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{}</BINVAL></PHOTO></vCard>",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

/// `from` answers the last vCard fetch sent to it.
fn answer(pair: &mut Pair, from: &str, vcard: &str) {
    let id = pair.sent_iq_id(&format!("to='{from}'><vCard"));
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='{from}'>{vcard}</iq>"
    ));
}

fn fetches_to(pair: &Pair, to: &str) -> usize {
    pair.sent()
        .matches(&format!("to='{to}'><vCard xmlns='vcard-temp'/>"))
        .count()
}

#[test]
fn our_hash_is_announced_once_known_and_follows_our_vcard() {
    let mut pair = Pair::new(config(), Script::default());
    pair.drive();
    let sent = pair.sent();
    // Initial presence goes out before our vCard is known: no <photo/> (§4.1)...
    let first = sent.find("<presence>").unwrap();
    assert!(
        sent[first..].contains("<x xmlns='vcard-temp:x:update'/></presence>"),
        "{sent}"
    );
    // ...and again once the server said we have none: an empty <photo/>.
    assert!(
        sent.contains("<x xmlns='vcard-temp:x:update'><photo/></x></presence>"),
        "{sent}"
    );
    // A new avatar: our vCard is set with it, and presence carries its hash once the
    // server took it.
    pair.events.clear();
    let image = png(7, 500);
    let id = pair
        .client
        .set_avatar(pair.now, Some(("image/png", &image)))
        .unwrap();
    pair.drive();
    let hash = Avatar::new("image/png", image.clone()).hash;
    let sent = pair.sent();
    assert!(
        sent.contains("<PHOTO><TYPE>image/png</TYPE><BINVAL>"),
        "{sent}"
    );
    assert!(
        sent.ends_with(&format!(
            "<x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>"
        )),
        "{sent}"
    );
    assert!(
        pair.events
            .iter()
            .any(|e| matches!(e, Event::IqResponse { id: i, result: Ok(_) } if *i == id)),
        "the application gets the outcome of its set: {:?}",
        pair.events
    );
    // Removing it announces an empty photo again.
    pair.client.set_avatar(pair.now, None).unwrap();
    pair.drive();
    assert!(pair
        .sent()
        .ends_with("<x xmlns='vcard-temp:x:update'><photo/></x></presence>"));
}

#[test]
fn a_contacts_avatar_is_fetched_verified_cached_and_shared() {
    let mut pair = online(config());
    let image = png(3, 2000);
    let hash = Avatar::new("image/png", image.clone()).hash;
    pair.server_sends(&announce(ROMEO, &hash));
    assert_eq!(fetches_to(&pair, ROMEO), 1, "{}", pair.sent());
    // Nobody else may answer for Romeo.
    let id = pair.sent_iq_id(&format!("to='{ROMEO}'><vCard"));
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='mallory@example.org'>{}</iq>",
        vcard_with(&png(9, 10))
    ));
    assert!(avatar_events(&pair).is_empty());
    answer(&mut pair, ROMEO, &vcard_with(&image));
    let events = avatar_events(&pair);
    let [AvatarEvent::Updated { jid: who, avatar }] = events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(who.as_str(), ROMEO);
    assert_eq!(
        (avatar.hash.as_str(), &avatar.data[..]),
        (hash.as_str(), &image[..])
    );
    assert_eq!(pair.client.avatar_of(&jid(ROMEO)).unwrap().hash, hash);
    // The same hash again: not news. From another contact: from the cache.
    pair.events.clear();
    pair.server_sends(&announce(ROMEO, &hash));
    pair.server_sends(&announce(BENVOLIO, &hash));
    assert_eq!(fetches_to(&pair, BENVOLIO), 0);
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Updated { jid, .. }] if jid.as_str() == BENVOLIO
    ));
    // No avatar any more.
    pair.events.clear();
    pair.server_sends(&format!(
        "<presence from='{ROMEO}/phone'><x xmlns='vcard-temp:x:update'><photo/></x></presence>"
    ));
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Removed { jid }] if jid.as_str() == ROMEO
    ));
    assert!(pair.client.avatar_of(&jid(ROMEO)).is_none());
}

#[test]
fn a_photo_that_does_not_match_or_is_too_large_is_refused() {
    let mut config = config();
    config.avatars.max_photo = 1000;
    let mut pair = online(config);
    let announced = Avatar::new("image/png", png(3, 100)).hash;
    pair.server_sends(&announce(ROMEO, &announced));
    answer(&mut pair, ROMEO, &vcard_with(&png(5, 100)));
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Failed {
            reason: AvatarFailure::Mismatch,
            ..
        }]
    ));
    assert!(pair.client.avatar_of(&jid(ROMEO)).is_none());
    // Not cached under that hash: the next contact announcing it is asked.
    pair.server_sends(&announce(BENVOLIO, &announced));
    assert_eq!(fetches_to(&pair, BENVOLIO), 1);
    pair.events.clear();
    let big = png(3, 2000);
    pair.server_sends(&announce(
        "tybalt@example.org",
        &Avatar::new("image/png", big.clone()).hash,
    ));
    answer(&mut pair, "tybalt@example.org", &vcard_with(&big));
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Failed {
            reason: AvatarFailure::VCard(VCardError::PhotoTooLarge(1000)),
            ..
        }]
    ));
}

#[test]
fn fetches_are_bounded_and_rate_limited() {
    let mut config = config();
    config.avatars.limits.max_in_flight = 2;
    config.avatars.limits.max_deferred = 3;
    config.avatars.limits.burst = 2;
    config.avatars.limits.interval = Duration::from_secs(1);
    // Without the roster service every sender counts (with it, only contacts would).
    config.roster.enabled = false;
    let mut pair = online(config);
    let before = pair.sent().len();
    let mut flood = String::new();
    for i in 0..100 {
        flood.push_str(&announce(
            &format!("bot{i}@evil.example"),
            &format!("{i:040x}"),
        ));
    }
    pair.server_sends(&flood);
    let fetches = |pair: &Pair| {
        pair.sent()[before..]
            .matches("<vCard xmlns='vcard-temp'/>")
            .count()
    };
    assert_eq!(fetches(&pair), 2);
    let busy = avatar_events(&pair)
        .iter()
        .filter(|e| {
            matches!(
                e,
                AvatarEvent::Failed {
                    reason: AvatarFailure::Busy,
                    ..
                }
            )
        })
        .count();
    assert_eq!(busy, 100 - 2 - 3);
    // Unanswered, they time out; the queue drains at the rate.
    pair.advance(Duration::from_secs(31));
    assert_eq!(fetches(&pair), 4);
}

#[test]
fn known_avatars_load_checked_against_their_hash() {
    let mut config = config();
    let image = png(11, 300);
    let good = Avatar::new("image/png", image.clone());
    let mut forged = Avatar::new("image/png", png(12, 300));
    forged.hash = Avatar::new("image/png", png(13, 300)).hash;
    config.avatars.known = vec![good.clone(), forged.clone()];
    let mut pair = online(config);
    pair.server_sends(&announce(ROMEO, &good.hash));
    assert_eq!(fetches_to(&pair, ROMEO), 0);
    assert_eq!(pair.client.avatar_of(&jid(ROMEO)), Some(&good));
    pair.server_sends(&announce(BENVOLIO, &forged.hash));
    assert_eq!(
        fetches_to(&pair, BENVOLIO),
        1,
        "the forged entry was dropped"
    );
}

#[test]
fn strangers_and_room_occupants_cannot_make_us_fetch() {
    let mut pair = online(config());
    let hash = Avatar::new("image/png", png(3, 10)).hash;
    pair.server_sends(&announce("stranger@evil.example", &hash));
    pair.server_sends(&format!(
        "<presence from='room@muc.example.net/romeo'><x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>"
    ));
    assert!(!pair.sent().contains("to='stranger@evil.example'><vCard"));
    assert!(!pair.sent().contains("to='room@muc.example.net'><vCard"));
    assert!(avatar_events(&pair).is_empty());
}

#[test]
fn a_newer_hash_announced_while_fetching_is_fetched_next() {
    let mut pair = online(config());
    let (old, new) = (png(3, 50), png(5, 50));
    let (old_hash, new_hash) = (
        Avatar::new("image/png", old.clone()).hash,
        Avatar::new("image/png", new.clone()).hash,
    );
    pair.server_sends(&announce(ROMEO, &old_hash));
    pair.server_sends(&announce(ROMEO, &new_hash));
    assert_eq!(fetches_to(&pair, ROMEO), 1);
    // The first answer already holds the new photo: verified against what Romeo
    // announces now, and reported.
    answer(&mut pair, ROMEO, &vcard_with(&new));
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Updated { avatar, .. }] if avatar.hash == new_hash
    ));
    // Had it held the old photo, the new hash would have been fetched next.
    pair.events.clear();
    pair.server_sends(&announce(BENVOLIO, &old_hash));
    pair.server_sends(&announce(
        BENVOLIO,
        &Avatar::new("image/png", png(9, 50)).hash,
    ));
    answer(&mut pair, BENVOLIO, &vcard_with(&old));
    assert_eq!(fetches_to(&pair, BENVOLIO), 2);
}

#[test]
fn another_of_our_resources_with_another_photo_makes_us_fetch_our_vcard_again() {
    let mut pair = online(config());
    let before = pair.sent().matches("<iq type='get' id='").count();
    let hash = Avatar::new("image/png", png(3, 10)).hash;
    pair.server_sends(&format!(
        "<presence from='juliet@example.com/phone'><x xmlns='vcard-temp:x:update'><photo>{hash}</photo></x></presence>"
    ));
    let sent = pair.sent();
    let last_get = &sent[sent.rfind("<iq type='get'").unwrap()..];
    assert!(
        last_get.contains("<vCard xmlns='vcard-temp'/>") && !last_get.contains(" to="),
        "{last_get}"
    );
    assert_eq!(sent.matches("<iq type='get' id='").count(), before + 1);
}

// ---- PEP avatars (XEP-0084) ----

fn metadata_notification(from: &str, infos: &str) -> String {
    format!(
        "<message from='{from}' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>\
         <items node='urn:xmpp:avatar:metadata'><item id='x'><metadata xmlns='urn:xmpp:avatar:metadata'>{infos}\
         </metadata></item></items></event></message>"
    )
}

fn data_item(id: &str, data: &[u8]) -> String {
    format!(
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'>\
         <item id='{id}'><data xmlns='urn:xmpp:avatar:data'>{}</data></item></items></pubsub>",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

#[test]
fn pep_metadata_makes_us_fetch_the_png_and_verify_hash_and_size() {
    let mut pair = online(config());
    // We ask for the notifications (XEP-0163 §4): in our caps.
    assert!(pair
        .client
        .own_disco_info()
        .unwrap()
        .has_feature("urn:xmpp:avatar:metadata+notify"));
    let png_bytes = png(3, 700);
    let png_avatar = Avatar::new("image/png", png_bytes.clone());
    let webp_id = Avatar::new("image/webp", png(4, 10)).hash;
    pair.server_sends(&metadata_notification(
        ROMEO,
        &format!(
            "<info id='{webp_id}' type='image/webp' bytes='10'/>\
             <info id='{}' type='image/png' bytes='700' width='64' height='64'/>\
             <info id='{webp_id}' type='image/gif' url='https://example.net/a.gif'/>",
            png_avatar.hash
        ),
    ));
    // Every offer is exposed; the PNG is fetched from the data node.
    let events = avatar_events(&pair);
    let [AvatarEvent::Offered { offered, .. }] = events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(offered.len(), 3);
    assert_eq!(offered[1].size, Some((64, 64)));
    let sent = pair.sent();
    assert!(sent.contains(&format!(
        "to='{ROMEO}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='{}'/></items></pubsub></iq>",
        png_avatar.hash
    )), "{sent}");
    let id = pair.sent_iq_id("urn:xmpp:avatar:data");
    pair.events.clear();
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='{ROMEO}'>{}</iq>",
        data_item(&png_avatar.hash, &png_bytes)
    ));
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Updated { avatar, .. }] if *avatar == png_avatar
    ));
    // A size other than announced is refused, even with the right hash elsewhere.
    pair.events.clear();
    let other = png(5, 30);
    let other_hash = Avatar::new("image/png", other.clone()).hash;
    pair.server_sends(&metadata_notification(
        BENVOLIO,
        &format!("<info id='{other_hash}' type='image/png' bytes='31'/>"),
    ));
    let id = pair.sent_iq_id(&format!("to='{BENVOLIO}'><pubsub"));
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='{BENVOLIO}'>{}</iq>",
        data_item(&other_hash, &other)
    ));
    assert!(matches!(
        avatar_events(&pair).last(),
        Some(AvatarEvent::Failed {
            reason: AvatarFailure::Mismatch,
            ..
        })
    ));
    // Disabled: empty metadata.
    pair.events.clear();
    pair.server_sends(&metadata_notification(ROMEO, ""));
    assert!(matches!(
        avatar_events(&pair)[..],
        [AvatarEvent::Removed { jid }] if jid.as_str() == ROMEO
    ));
    // Notifications from full JIDs (not an account's PEP service) or strangers: ignored.
    pair.events.clear();
    pair.server_sends(&metadata_notification(
        "romeo@example.net/orchard",
        &format!("<info id='{other_hash}' type='image/png'/>"),
    ));
    pair.server_sends(&metadata_notification(
        "stranger@evil.example",
        &format!("<info id='{other_hash}' type='image/png'/>"),
    ));
    assert!(avatar_events(&pair).is_empty());
}

#[test]
fn publishing_a_pep_avatar_is_data_then_metadata_under_one_id() {
    let mut pair = online(config());
    pair.server.auto_iq = false;
    let image = png(7, 100);
    let hash = Avatar::new("image/png", image.clone()).hash;
    let id = pair
        .client
        .publish_avatar(
            pair.now,
            Some(AvatarImage::new("image/png", &image).with_size(32, 32)),
        )
        .unwrap();
    pair.drive();
    let sent = pair.sent();
    assert!(
        sent.contains(&format!(
        "<publish node='urn:xmpp:avatar:data'><item id='{hash}'><data xmlns='urn:xmpp:avatar:data'>"
    )),
        "{sent}"
    );
    assert!(sent.contains("<value>http://jabber.org/protocol/pubsub#publish-options</value>"));
    assert!(
        !sent.contains("urn:xmpp:avatar:metadata'><item"),
        "metadata waits for the data"
    );
    pair.server_sends(&format!("<iq type='result' id='{id}'/>"));
    let sent = pair.sent();
    assert!(sent.contains(&format!(
        "<publish node='urn:xmpp:avatar:metadata'><item id='{hash}'><metadata xmlns='urn:xmpp:avatar:metadata'>\
         <info id='{hash}' type='image/png' bytes='100' width='32' height='32'/></metadata></item></publish>"
    )), "{sent}");
    assert!(pair
        .events
        .iter()
        .all(|e| !matches!(e, Event::IqResponse { .. })));
    let meta = pair.sent_iq_id("urn:xmpp:avatar:metadata");
    pair.server_sends(&format!("<iq type='result' id='{meta}'/>"));
    let outcomes: Vec<_> = pair
        .events
        .iter()
        .filter_map(|e| match e {
            Event::IqResponse { id, result } => Some((id.clone(), result.is_ok())),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [(id, true)], "one outcome, under the id returned");
}

#[test]
fn one_image_announced_both_ways_is_fetched_once() {
    // XEP-0398: a server may publish a vCard photo over PEP too (or the contact does both):
    // the same hash from the other source is not news.
    let mut pair = online(config());
    let image = png(3, 40);
    let hash = Avatar::new("image/png", image.clone()).hash;
    pair.server_sends(&announce(ROMEO, &hash));
    pair.server_sends(&metadata_notification(
        ROMEO,
        &format!("<info id='{hash}' type='image/png' bytes='40'/>"),
    ));
    let sent = pair.sent();
    assert_eq!(fetches_to(&pair, ROMEO), 1);
    assert!(
        !sent.contains("<items node='urn:xmpp:avatar:data'>"),
        "{sent}"
    );
    answer(&mut pair, ROMEO, &vcard_with(&image));
    let updated = avatar_events(&pair)
        .iter()
        .filter(|e| matches!(e, AvatarEvent::Updated { .. }))
        .count();
    assert_eq!(updated, 1);
}

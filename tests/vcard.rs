//! vcard-temp (XEP-0054): the XEP's example read field by field, what the model does not
//! know written back unchanged, photos decoded within a limit, "no vCard" told apart from
//! failures, the servers' recorded answers, and requests through the client.

mod common;
mod harness;

use common::element;
use harness::{config, Pair, Script};
use xmpp_sansio::client::stanza::{Iq, IqType, StanzaError, StanzaErrorCondition};
use xmpp_sansio::client::vcard::{Photo, VCard, VCardError};
use xmpp_sansio::client::{Event, IqError};

fn result(vcard: &str) -> Iq {
    Iq::from_element(element(&format!("<iq type='result' id='v1'>{vcard}</iq>"))).unwrap()
}

/// XEP-0054 §3.1, Example 2 (trimmed of its repeats), with a field the model does not know.
const STPETER: &str = "<vCard xmlns='vcard-temp'>\
    <FN>Peter Saint-Andre</FN>\
    <N><FAMILY>Saint-Andre</FAMILY><GIVEN>Peter</GIVEN><MIDDLE/></N>\
    <NICKNAME>stpeter</NICKNAME>\
    <URL>http://www.xmpp.org/xsf/people/stpeter.shtml</URL>\
    <BDAY>1966-08-06</BDAY>\
    <ORG><ORGNAME>XMPP Standards Foundation</ORGNAME><ORGUNIT/></ORG>\
    <TITLE>Executive Director</TITLE>\
    <ROLE>Patron Saint</ROLE>\
    <TEL><WORK/><VOICE/><NUMBER>303-308-3282</NUMBER></TEL>\
    <ADR><WORK/><EXTADD>Suite 600</EXTADD><STREET>1899 Wynkoop Street</STREET>\
      <LOCALITY>Denver</LOCALITY><REGION>CO</REGION><PCODE>80202</PCODE><CTRY>USA</CTRY></ADR>\
    <EMAIL><INTERNET/><PREF/><USERID>stpeter@jabber.org</USERID></EMAIL>\
    <JABBERID>stpeter@jabber.org</JABBERID>\
    <DESC>More information about me is located on my personal website.</DESC>\
    <GEO><LAT>39.75</LAT><LON>-104.99</LON></GEO>\
    <x xmlns='urn:example:private' note='kept'>as it was</x>\
    </vCard>";

#[test]
fn the_xeps_example_reads_field_by_field() {
    let card = VCard::from_iq(&result(STPETER)).unwrap();
    assert_eq!(card.full_name.as_deref(), Some("Peter Saint-Andre"));
    let name = card.name.as_ref().unwrap();
    assert_eq!(name.family.as_deref(), Some("Saint-Andre"));
    assert_eq!(name.given.as_deref(), Some("Peter"));
    assert_eq!(name.middle, None, "an empty part is no part");
    assert_eq!(card.nickname.as_deref(), Some("stpeter"));
    assert_eq!(card.birthday.as_deref(), Some("1966-08-06"));
    assert_eq!(
        card.organization.as_ref().map(|o| o.name.as_str()),
        Some("XMPP Standards Foundation")
    );
    assert_eq!(card.title.as_deref(), Some("Executive Director"));
    assert_eq!(card.role.as_deref(), Some("Patron Saint"));
    assert_eq!(card.telephones[0].number, "303-308-3282");
    assert_eq!(card.telephones[0].kinds, ["WORK", "VOICE"]);
    let adr = &card.addresses[0];
    assert_eq!(adr.kinds, ["WORK"]);
    assert_eq!(adr.street.as_deref(), Some("1899 Wynkoop Street"));
    assert_eq!(adr.locality.as_deref(), Some("Denver"));
    assert_eq!(adr.postal_code.as_deref(), Some("80202"));
    assert_eq!(adr.country.as_deref(), Some("USA"));
    assert_eq!(card.emails[0].address, "stpeter@jabber.org");
    assert_eq!(card.emails[0].kinds, ["INTERNET", "PREF"]);
    assert_eq!(card.jabber_id.as_deref(), Some("stpeter@jabber.org"));
    assert!(card
        .description
        .as_deref()
        .unwrap()
        .starts_with("More information"));
    assert_eq!(card.display_name().as_deref(), Some("Peter Saint-Andre"));
    assert_eq!(card.other.len(), 2, "GEO and the private element are kept");
}

#[test]
fn a_set_after_a_get_loses_nothing() {
    let card = VCard::from_iq(&result(STPETER)).unwrap();
    let written = String::from_utf8(
        card.to_builder()
            .to_bytes("jabber:client")
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        written.contains("<GEO><LAT>39.75</LAT><LON>-104.99</LON></GEO>"),
        "{written}"
    );
    assert!(
        written.contains("<x xmlns='urn:example:private' note='kept'>as it was</x>"),
        "{written}"
    );
    // Read back, it is the same vCard.
    let again = VCard::from_iq(&result(&written)).unwrap();
    assert_eq!(again, card);
    // Non-ASCII survives both ways.
    let mut card = VCard::default();
    card.full_name = Some("Jürgen Ωmega 山田".to_owned());
    card.note = Some("a < b & c".to_owned());
    let written = String::from_utf8(
        card.to_builder()
            .to_bytes("jabber:client")
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(VCard::from_iq(&result(&written)).unwrap(), card);
}

#[test]
fn photos_decode_within_the_limit() {
    let png: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&png)
    };
    // vCards wrap BINVAL in lines.
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect();
    let vcard = format!(
        "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>\n{}\n</BINVAL></PHOTO></vCard>",
        wrapped.join("\n")
    );
    let card = VCard::from_iq(&result(&vcard)).unwrap();
    let Some(Photo::Inline { mime, data }) = &card.photo else {
        panic!("{card:?}")
    };
    assert_eq!((mime.as_str(), data), ("image/png", &png));
    assert_eq!(
        card.photo.as_ref().unwrap().sha1_hex().unwrap().len(),
        40,
        "lowercase hex SHA-1"
    );
    // Over the limit: not decoded, said why, and the rest of the vCard is read.
    let small = VCard::from_iq_within(&result(&vcard), 2999).unwrap();
    assert_eq!(small.photo, None);
    assert_eq!(
        small.unreadable_photo,
        Some(VCardError::PhotoTooLarge(2999))
    );
    assert_eq!(small.other.len(), 1, "the PHOTO is kept as it came");
    assert!(VCard::from_iq_within(&result(&vcard), 3000).is_ok());
    let external = "<vCard xmlns='vcard-temp'><PHOTO><EXTVAL>https://example.com/a.png</EXTVAL></PHOTO></vCard>";
    assert_eq!(
        VCard::from_iq(&result(external)).unwrap().photo,
        Some(Photo::External("https://example.com/a.png".to_owned()))
    );
    let broken = "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>@@@</BINVAL></PHOTO></vCard>";
    assert!(matches!(
        VCard::from_iq(&result(broken)).unwrap().unreadable_photo,
        Some(VCardError::Malformed(_))
    ));
}

#[test]
fn no_vcard_is_told_apart_from_failures() {
    assert_eq!(
        VCard::from_iq(&result("<vCard xmlns='vcard-temp'/>")),
        Err(VCardError::NotFound)
    );
    let not_found = IqError::Stanza(Box::new(StanzaError::from(
        StanzaErrorCondition::ItemNotFound,
    )));
    assert_eq!(VCardError::from(not_found), VCardError::NotFound);
    let unavailable = IqError::Stanza(Box::new(StanzaError::from(
        StanzaErrorCondition::ServiceUnavailable,
    )));
    assert!(matches!(
        VCardError::from(unavailable),
        VCardError::Request(IqError::Stanza(_))
    ));
    assert_eq!(
        VCardError::from(IqError::Timeout),
        VCardError::Request(IqError::Timeout)
    );
}

#[test]
fn the_servers_recorded_answers_read() {
    for server in ["prosody", "ejabberd"] {
        let t = common::load(&format!("{server}-15-vcard-set-get.xml"));
        let text = String::from_utf8(t.all_server_bytes()).unwrap();
        let at = text.rfind("<iq").unwrap();
        let iq = Iq::from_element(element(&text[at..])).unwrap();
        assert_eq!(iq.kind, IqType::Result);
        let card = VCard::from_iq(&iq).unwrap();
        assert_eq!(card.full_name.as_deref(), Some("Capture User"), "{server}");
        assert_eq!(card.nickname.as_deref(), Some("capture"), "{server}");
        // Prosody adds an `N` with every part empty.
        if let Some(name) = &card.name {
            assert_eq!(name.family, None, "{server}");
        }
        assert!(card.other.is_empty(), "{server}: {card:?}");
    }
}

#[test]
fn requests_go_out_and_answers_count_only_from_the_entity_asked() {
    let mut pair = Pair::online(config(), Script::default());
    pair.events.clear();
    let romeo = "romeo@example.net".parse().unwrap();
    let id = pair.client.vcard_get(pair.now, Some(&romeo)).unwrap();
    pair.drive();
    assert!(pair.sent().contains(&format!(
        "<iq type='get' id='{id}' to='romeo@example.net'><vCard xmlns='vcard-temp'/></iq>"
    )));
    // From someone else: not the answer.
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='mallory@example.org'>{STPETER}</iq>"
    ));
    assert!(pair.events.is_empty(), "{:?}", pair.events);
    pair.server_sends(&format!(
        "<iq type='result' id='{id}' from='romeo@example.net'>{STPETER}</iq>"
    ));
    let Some(Event::IqResponse { result: Ok(iq), .. }) = pair.events.first() else {
        panic!("{:?}", pair.events)
    };
    assert_eq!(
        VCard::from_iq(iq).unwrap().nickname.as_deref(),
        Some("stpeter")
    );
    // Ours: set, then the server's empty result.
    let mut card = VCard::default();
    card.full_name = Some("Juliet Capulet".to_owned());
    let id = pair.client.vcard_set(pair.now, &card).unwrap();
    pair.drive();
    assert!(pair.sent().contains(&format!(
        "<iq type='set' id='{id}'><vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN></vCard></iq>"
    )));
}

#[test]
fn what_the_model_cannot_hold_is_kept_whole() {
    // XEP-0153 §4.4: a PHOTO without an image is no photo (and stays as it was); the old
    // `<EMAIL>address</EMAIL>` form is read; a structured field with more than the model
    // keeps (a second NUMBER, an attribute, a foreign child) is kept whole.
    let vcard = "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL/></PHOTO>\
        <EMAIL>old@example.org</EMAIL>\
        <TEL><HOME/><NUMBER>1</NUMBER><NUMBER>2</NUMBER></TEL>\
        <ADR xml:lang='de'><STREET>Straße</STREET></ADR>\
        <N><GIVEN>A</GIVEN><x xmlns='urn:example:n'/></N></vCard>";
    let card = VCard::from_iq(&result(vcard)).unwrap();
    assert_eq!(card.photo, None);
    assert_eq!(card.emails[0].address, "old@example.org");
    assert!(card.telephones.is_empty() && card.addresses.is_empty() && card.name.is_none());
    let written = String::from_utf8(
        card.to_builder()
            .to_bytes("jabber:client")
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for kept in [
        "<PHOTO><TYPE>image/png</TYPE><BINVAL/></PHOTO>",
        "<TEL><HOME/><NUMBER>1</NUMBER><NUMBER>2</NUMBER></TEL>",
        "<ADR xml:lang='de'><STREET>Straße</STREET></ADR>",
        "<N><GIVEN>A</GIVEN><x xmlns='urn:example:n'/></N>",
    ] {
        assert!(written.contains(kept), "{kept} not in {written}");
    }
}

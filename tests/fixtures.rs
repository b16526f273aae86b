//! The stream reader over what Prosody and ejabberd really sent (tests/fixtures/).

mod common;

use common::{all_names, drive, load};
use xmpp_sansio::xml::Limits;

#[test]
fn every_transcript_parses_without_error() {
    let names = all_names();
    assert!(names.len() >= 40, "fixtures missing: {names:?}");
    for name in names {
        for phase in load(&name).server_bytes() {
            let events = drive(&phase, &[usize::MAX], Limits::default());
            assert!(
                !events.iter().any(|e| e.starts_with("error")),
                "{name}: {:#?}",
                events
            );
        }
    }
}

#[test]
fn chunking_never_changes_the_events() {
    for name in all_names() {
        for phase in load(&name).server_bytes() {
            let whole = drive(&phase, &[usize::MAX], Limits::default());
            assert_eq!(
                drive(&phase, &[1], Limits::default()),
                whole,
                "{name}: 1-byte chunks"
            );
            assert_eq!(
                drive(&phase, &[2, 3, 5, 7, 11, 13], Limits::default()),
                whole,
                "{name}"
            );
            // A spread of single split points (every one for short phases).
            let step = (phase.len() / 200).max(1);
            for split in (1..phase.len()).step_by(step) {
                let sizes = [split, usize::MAX];
                assert_eq!(
                    drive(&phase, &sizes, Limits::default()),
                    whole,
                    "{name} split at {split}"
                );
            }
        }
    }
}

#[test]
fn full_session_events_look_right() {
    let t = load("prosody-full-session.xml");
    let phases = t.server_bytes();
    // Several connections, each a plaintext phase then a TLS phase.
    assert!(phases.len() >= 6, "{}", phases.len());
    let plain = drive(&phases[0], &[usize::MAX], Limits::default());
    assert!(plain[0].starts_with("header"), "{plain:?}");
    assert!(
        plain[0].contains("content_namespace: Some(\"jabber:client\")"),
        "{plain:?}"
    );
    assert!(
        plain
            .iter()
            .any(|e| e.contains("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")),
        "{plain:?}"
    );
    let tls: Vec<String> = phases[1..]
        .iter()
        .flat_map(|p| drive(p, &[usize::MAX], Limits::default()))
        .collect();
    let headers = tls.iter().filter(|e| e.starts_with("header")).count();
    assert!(headers >= 2, "stream restarted after SASL: {tls:#?}");
    assert!(
        tls.iter()
            .any(|e| e.contains("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'")),
        "{tls:#?}"
    );
    assert!(
        tls.iter()
            .any(|e| e.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>")),
        "{tls:#?}"
    );
}

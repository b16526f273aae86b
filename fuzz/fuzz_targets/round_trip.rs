//! parse → to_builder → serialize → parse must give back the same element, for every element
//! the reader accepts from arbitrary input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};

const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en'>";

fn elements(data: &[u8]) -> Vec<xmpp_sansio::xml::Builder> {
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER);
    r.feed(data);
    let mut out = Vec::new();
    while let Ok(Some(ev)) = r.next_event() {
        if let StreamEvent::Element(el) = ev {
            out.push(el.to_builder());
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    for el in elements(data) {
        let bytes = el.to_bytes("jabber:client").expect("a parsed element serializes");
        let again = elements(&bytes);
        assert_eq!(again, vec![el]);
    }
});

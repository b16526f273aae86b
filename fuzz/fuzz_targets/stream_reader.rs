//! The stream reader on arbitrary bytes in an arbitrary chunking.
//!
//! Input layout: byte 0 picks whether a valid stream header is fed first (bit 0) and small
//! limits (bit 1); bytes 1..=8 are chunk sizes, cycled; the rest is the stream. Besides "no
//! panic, no hang", it checks that the whole input fed at once gives the same events and the
//! same error as the chunked feeding, and that buffered bytes stay within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>";

fn run(data: &[u8], sizes: &[u8], header: bool, limits: Limits) -> Vec<String> {
    let mut r = StreamReader::new(limits);
    let mut out = Vec::new();
    if header {
        r.feed(HEADER);
    }
    let mut pos = 0;
    let mut i = 0;
    loop {
        let n = if sizes.is_empty() { data.len() } else { usize::from(sizes[i % sizes.len()]).max(1) };
        let n = n.min(data.len() - pos);
        i += 1;
        r.feed(&data[pos..pos + n]);
        pos += n;
        assert!(r.buffered().len() <= limits.max_element_size + n + HEADER.len() + 1);
        loop {
            match r.next_event() {
                Ok(Some(StreamEvent::Element(el))) => {
                    // Exercise the accessors on whatever was accepted.
                    let _ = (el.name(), el.ns(), el.text(), el.lang());
                    for c in el.children() {
                        let _ = (c.attrs().count(), c.text());
                    }
                    out.push(format!("{:?}", el));
                }
                Ok(Some(ev)) => out.push(format!("{ev:?}")),
                Ok(None) => break,
                Err(e) => {
                    let _ = e.condition();
                    out.push(format!("error {e:?}"));
                    return out;
                }
            }
        }
        if pos >= data.len() {
            return out;
        }
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 9 {
        return;
    }
    let header = input[0] & 1 != 0;
    let mut limits = Limits::default();
    if input[0] & 2 != 0 {
        limits.max_element_size = 256;
        limits.max_depth = 4;
        limits.max_attributes = 8;
    }
    let sizes = &input[1..9];
    let data = &input[9..];
    let chunked = run(data, sizes, header, limits);
    let whole = run(data, &[], header, limits);
    assert_eq!(chunked, whole);
});

//! Property tests of the XML layer: chunking invariance, build/serialize/parse round trips,
//! and arbitrary input never panicking or holding more memory than the limit.

mod common;

use proptest::prelude::*;
use xmpp_sansio::ns;
use xmpp_sansio::xml::{Builder, Limits, Node, StreamEvent, StreamReader};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' version='1.0'>";

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9._-]{0,8}",
        Just("body".to_owned()),
        Just("x".to_owned()),
        "[\u{C0}-\u{D6}\u{3001}-\u{3010}\u{4E00}-\u{4E20}][a-z\u{B7}\u{4E00}-\u{4E10}]{0,3}",
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(ns::JABBER_CLIENT.to_owned()),
        Just("urn:xmpp:test".to_owned()),
        Just("http://jabber.org/protocol/caps".to_owned()),
        Just(String::new()),
        "urn:[a-z&<'\"]{1,6}",
    ]
}

/// Text with every character that needs escaping, non-ASCII, emoji and line ends.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 ]{1,12}",
            Just("<".to_owned()),
            Just(">".to_owned()),
            Just("&".to_owned()),
            Just("'".to_owned()),
            Just("\"".to_owned()),
            Just("]]>".to_owned()),
            Just("\r\n".to_owned()),
            Just("\r".to_owned()),
            Just("\n".to_owned()),
            Just("\t".to_owned()),
            Just("é€😀日本語".to_owned()),
            Just("\u{FFFD}\u{E000}\u{10FFFF}".to_owned()),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn element() -> impl Strategy<Value = Builder> {
    let leaf = (
        name(),
        namespace(),
        proptest::collection::vec((name(), text()), 0..4),
        text(),
    )
        .prop_map(|(n, ns, attrs, t)| {
            let mut b = Builder::new(n, ns);
            for (k, v) in attrs {
                b.set_attr(k, v);
            }
            b.text(t)
        });
    leaf.prop_recursive(4, 32, 5, |inner| {
        (
            name(),
            namespace(),
            proptest::option::of(text()),
            proptest::option::of((name(), text())),
            proptest::collection::vec(
                prop_oneof![
                    inner.prop_map(Node::Element),
                    text().prop_map(|t| Node::Text(t.into()))
                ],
                0..5,
            ),
        )
            .prop_map(|(n, ns, lang, nsattr, children)| {
                let mut b = Builder::new(n, ns);
                if let Some(lang) = lang {
                    b.set_attr_ns("lang", ns::XML, lang);
                }
                if let Some((k, v)) = nsattr {
                    b.set_attr_ns(k, "urn:xmpp:attr", v);
                }
                for c in children {
                    b.push(c);
                }
                b
            })
    })
}

fn parse_all(bytes: &[u8], chunks: &[usize]) -> Vec<Builder> {
    let mut r = StreamReader::new(Limits::default());
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let n = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .clamp(1, bytes.len() - pos);
        i += 1;
        r.feed(&bytes[pos..pos + n]);
        pos += n;
        while let Some(ev) = r.next_event().expect("valid stream") {
            if let StreamEvent::Element(el) = ev {
                assert_eq!(el.as_bytes().len(), el.as_bytes().len());
                out.push(el.to_builder());
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// build → serialize → parse gives back the same element.
    #[test]
    fn round_trip(el in element()) {
        let mut stream = HEADER.as_bytes().to_vec();
        el.write_to(&mut stream, ns::JABBER_CLIENT).unwrap();
        let parsed = parse_all(&stream, &[usize::MAX]);
        prop_assert_eq!(parsed, vec![el]);
    }

    /// Every descendant taken out on its own (`to_element`) is the same element as in place.
    #[test]
    fn descendants_taken_out_are_the_same_elements(el in element()) {
        let mut stream = HEADER.as_bytes().to_vec();
        el.write_to(&mut stream, ns::JABBER_CLIENT).unwrap();
        let mut r = StreamReader::new(Limits::default());
        r.feed(&stream);
        let _header = r.next_event().unwrap();
        let Some(StreamEvent::Element(parsed)) = r.next_event().unwrap() else {
            panic!("no element");
        };
        fn check(e: xmpp_sansio::xml::ElementRef<'_>) -> Result<(), TestCaseError> {
            let alone = e.to_element().expect("a descendant taken out");
            prop_assert_eq!(alone.to_builder(), e.to_builder());
            prop_assert_eq!(alone.lang(), e.lang());
            for child in e.children() {
                check(child)?;
            }
            Ok(())
        }
        check(parsed.as_ref())?;
    }

    /// Any chunking of a stream, one-byte chunks included, yields the same elements.
    #[test]
    fn chunking_is_invisible(els in proptest::collection::vec(element(), 1..6),
                             chunks in proptest::collection::vec(1usize..64, 1..20),
                             keepalives in proptest::collection::vec(0usize..3, 6)) {
        let mut stream = HEADER.as_bytes().to_vec();
        for (i, el) in els.iter().enumerate() {
            stream.extend(std::iter::repeat_n(b' ', keepalives[i % keepalives.len()]));
            el.write_to(&mut stream, ns::JABBER_CLIENT).unwrap();
        }
        let whole = parse_all(&stream, &[usize::MAX]);
        prop_assert_eq!(&whole, &els);
        prop_assert_eq!(&parse_all(&stream, &chunks), &whole);
        prop_assert_eq!(&parse_all(&stream, &[1]), &whole);
    }

    /// Arbitrary bytes, after a valid header or not, never panic, always terminate, and never
    /// make the reader hold more than the element limit plus one chunk.
    #[test]
    fn arbitrary_bytes_are_handled(prefix in any::<bool>(),
                                   data in proptest::collection::vec(any::<u8>(), 0..2048),
                                   chunk in 1usize..300) {
        let mut limits = Limits::default();
        limits.max_element_size = 512;
        let mut r = StreamReader::new(limits);
        if prefix {
            r.feed(HEADER.as_bytes());
        }
        for piece in data.chunks(chunk) {
            r.feed(piece);
            prop_assert!(r.buffered().len() <= 512 + chunk + HEADER.len());
            let mut steps = 0;
            while let Ok(Some(_)) = r.next_event() {
                steps += 1;
                prop_assert!(steps <= data.len() + 2);
            }
        }
    }

    /// Arbitrary bytes inside an element of a valid stream: same events for any chunking,
    /// errors included.
    #[test]
    fn chunking_is_invisible_for_garbage(data in "[<>/a-c '\"=&;#x!\\[\\]CDAT?-]{0,80}", split in 0usize..80) {
        let mut stream = HEADER.as_bytes().to_vec();
        stream.extend_from_slice(b"<m>");
        stream.extend_from_slice(data.as_bytes());
        stream.extend_from_slice(b"</m>");
        let whole = common::drive(&stream, &[usize::MAX], Limits::default());
        let split = HEADER.len() + split.min(data.len());
        prop_assert_eq!(&common::drive(&stream, &[split, usize::MAX], Limits::default()), &whole);
        prop_assert_eq!(&common::drive(&stream, &[1], Limits::default()), &whole);
    }
}

//! The stream reader: RFC 6120 examples, each restricted-XML refusal, each limit.

use xmpp_sansio::xml::{Element, Limits, StreamEvent, StreamReader, XmlError, XmlErrorKind};
use xmpp_sansio::{ns, StreamErrorCondition as Cond};

const HEADER: &str =
    "<?xml version='1.0'?><stream:stream from='im.example.com' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' \
    to='juliet@im.example.com' version='1.0' xml:lang='en' xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams'>";

fn read_all(reader: &mut StreamReader) -> Result<Vec<StreamEvent>, XmlError> {
    let mut out = Vec::new();
    while let Some(ev) = reader.next_event()? {
        out.push(ev);
    }
    Ok(out)
}

/// The elements of `body` sent after the standard header, or the first error.
fn elements(body: &str) -> Result<Vec<Element>, XmlError> {
    elements_with(body, Limits::default())
}

fn elements_with(body: &str, limits: Limits) -> Result<Vec<Element>, XmlError> {
    let mut r = StreamReader::new(limits);
    r.feed(HEADER.as_bytes());
    r.feed(body.as_bytes());
    Ok(read_all(&mut r)?
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::Element(el) => Some(el),
            _ => None,
        })
        .collect())
}

fn one(body: &str) -> Element {
    let mut els = elements(body).expect("valid");
    assert_eq!(els.len(), 1);
    els.remove(0)
}

fn refused(body: &str) -> XmlError {
    elements(body).expect_err("must be refused")
}

#[track_caller]
fn assert_refused(body: &str, kind: XmlErrorKind, cond: Cond) {
    let e = refused(body);
    assert_eq!(e.kind(), &kind, "{body}");
    assert_eq!(e.condition(), cond, "{body}");
}

#[test]
fn rfc6120_stream_header_and_message() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(
        b"<message from='juliet@example.com/balcony' id='ju2ba41c' to='romeo@example.net' \
          type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>\n \
          </stream:stream>",
    );
    let evs = read_all(&mut r).unwrap();
    let StreamEvent::Header(h) = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(h.from.as_deref(), Some("im.example.com"));
    assert_eq!(h.to.as_deref(), Some("juliet@im.example.com"));
    assert_eq!(h.id.as_deref(), Some("++TR84Sm6A3hnt3Q065SnAbbk3Y="));
    assert_eq!(h.version.as_deref(), Some("1.0"));
    assert_eq!(h.lang.as_deref(), Some("en"));
    assert_eq!(h.content_namespace.as_deref(), Some("jabber:client"));
    let StreamEvent::Element(m) = &evs[1] else {
        panic!("{evs:?}")
    };
    assert!(m.is("message", ns::JABBER_CLIENT));
    assert_eq!(m.attr("type").as_deref(), Some("chat"));
    assert_eq!(m.attr("id").as_deref(), Some("ju2ba41c"));
    assert_eq!(m.lang().as_deref(), Some("en"));
    let body = m.get_child("body", ns::JABBER_CLIENT).unwrap();
    assert_eq!(body.text(), "Art thou not Romeo, and a Montague?");
    assert_eq!(body.lang().as_deref(), Some("en"));
    assert!(matches!(evs[2], StreamEvent::End));
    assert_eq!(evs.len(), 3);
}

#[test]
fn rfc6120_prefix_free_canonicalization() {
    // RFC 6120 §4.8.2: no content namespace on the header, each stanza qualified.
    let mut r = StreamReader::new(Limits::default());
    r.feed(
        b"<stream from='juliet@im.example.com' to='im.example.com' version='1.0' xml:lang='en' \
          xmlns='http://etherx.jabber.org/streams'><message xmlns='jabber:client'><body>foo</body>\
          </message></stream>",
    );
    let evs = read_all(&mut r).unwrap();
    let StreamEvent::Header(h) = &evs[0] else {
        panic!()
    };
    assert_eq!(h.content_namespace.as_deref(), Some(ns::STREAM));
    let StreamEvent::Element(m) = &evs[1] else {
        panic!()
    };
    assert!(m.is("message", ns::JABBER_CLIENT));
    assert!(m.get_child("body", ns::JABBER_CLIENT).is_some());
    assert!(matches!(evs[2], StreamEvent::End));
}

#[test]
fn any_prefix_may_name_the_stream_namespace() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'><s:features/></s:stream>");
    let evs = read_all(&mut r).unwrap();
    let StreamEvent::Element(f) = &evs[1] else {
        panic!()
    };
    assert!(f.is("features", ns::STREAM));
    assert_eq!(f.as_ref().prefix(), Some("s"));
    assert!(matches!(evs[2], StreamEvent::End));
}

#[test]
fn namespaces_resolve_through_prefixes_defaults_and_redeclarations() {
    let el = one(
        "<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@b'/>\
         <x:y xmlns:x='urn:x' x:attr='1' plain='2'><inner/><x:inner xmlns:x='urn:other'/></x:y>\
         <reset xmlns=''><deep/></reset></query><stream:error/></iq>",
    );
    assert!(el.is("iq", ns::JABBER_CLIENT));
    let q = el.get_child("query", "jabber:iq:roster").unwrap();
    assert!(q.get_child("item", "jabber:iq:roster").is_some());
    let y = q.get_child("y", "urn:x").unwrap();
    assert_eq!(y.attr_ns("attr", "urn:x").as_deref(), Some("1"));
    assert_eq!(
        y.attr("attr"),
        None,
        "a prefixed attribute is not the unprefixed one"
    );
    assert_eq!(y.attr("plain").as_deref(), Some("2"));
    let inner: Vec<_> = y.children().map(|c| (c.name(), c.ns())).collect();
    assert_eq!(
        inner,
        [("inner", "jabber:iq:roster"), ("inner", "urn:other")]
    );
    let reset = q.get_child("reset", "").unwrap();
    assert!(reset.get_child("deep", "").is_some());
    assert!(el.get_child("error", ns::STREAM).is_some());
    assert_eq!(
        y.namespace_declarations().collect::<Vec<_>>(),
        [("x", "urn:x")]
    );
}

#[test]
fn escaped_namespace_names_are_unescaped() {
    let el = one("<a xmlns='urn:a&amp;b'><b/></a>");
    assert_eq!(el.ns(), "urn:a&b");
    assert_eq!(el.children().next().unwrap().ns(), "urn:a&b");
}

#[test]
fn xml_lang_is_inherited() {
    let el =
        one("<message xml:lang='de'><body>Hallo</body><body xml:lang='fr'>Salut</body></message>");
    let langs: Vec<_> = el
        .children()
        .map(|b| b.lang().unwrap().into_owned())
        .collect();
    assert_eq!(langs, ["de", "fr"]);
    let el = one("<presence><status>x</status></presence>");
    assert_eq!(
        el.get_child("status", ns::JABBER_CLIENT)
            .unwrap()
            .lang()
            .as_deref(),
        Some("en")
    );
}

#[test]
fn text_and_attributes_are_unescaped_and_normalized() {
    let el = one(
        "<message to='a&amp;b&#x40;c' x='line\nbreak\ttab' y='&#xA;'><body>1 &lt; 2 &gt; 0 &amp; &quot;q&quot; &apos;a&apos; \
         &#233;&#x1F600;\r\nnext\rline<![CDATA[<raw> & ]]]]>done</body></message>",
    );
    assert_eq!(el.attr("to").as_deref(), Some("a&b@c"));
    assert_eq!(el.attr("x").as_deref(), Some("line break tab"));
    assert_eq!(el.attr("y").as_deref(), Some("\n"));
    let body = el.get_child("body", ns::JABBER_CLIENT).unwrap();
    assert_eq!(
        body.text(),
        "1 < 2 > 0 & \"q\" 'a' é😀\nnext\nline<raw> & ]]done"
    );
}

#[test]
fn plain_values_are_borrowed_not_copied() {
    let el = one("<message id='abc'><body>plain</body></message>");
    assert!(matches!(
        el.attr("id"),
        Some(std::borrow::Cow::Borrowed("abc"))
    ));
    assert!(matches!(
        el.get_child("body", ns::JABBER_CLIENT).unwrap().text(),
        std::borrow::Cow::Borrowed("plain")
    ));
}

#[test]
fn as_bytes_is_the_exact_input() {
    let src = "<presence  from = \"a@b/c\" ><show>away</show><c xmlns='http://jabber.org/protocol/caps' ver='x='/></presence >";
    let el = one(&format!("  \n{src}\n "));
    assert_eq!(&el.as_bytes()[..], src.as_bytes());
}

#[test]
fn whitespace_keepalives_produce_nothing() {
    assert!(elements(" \n\t\r\n   ").unwrap().is_empty());
    assert_eq!(elements(" <a/> \n <b/>\n").unwrap().len(), 2);
}

#[test]
fn self_closing_stream_header_is_a_header_and_an_end() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>");
    let evs = read_all(&mut r).unwrap();
    assert!(matches!(
        evs.as_slice(),
        [StreamEvent::Header(_), StreamEvent::End]
    ));
}

#[test]
fn restricted_xml_is_refused() {
    use XmlErrorKind::*;
    assert_refused("<a><!-- hi --></a>", Comment, Cond::RestrictedXml);
    assert_refused("<!-- hi --><a/>", Comment, Cond::RestrictedXml);
    assert_refused(
        "<a><?pi x?></a>",
        ProcessingInstruction,
        Cond::RestrictedXml,
    );
    assert_refused(
        "<?xml version='1.0'?>",
        ProcessingInstruction,
        Cond::RestrictedXml,
    );
    assert_refused("<a><!DOCTYPE a></a>", Doctype, Cond::RestrictedXml);
    assert_refused(
        "<a>&nbsp;</a>",
        UndeclaredEntity("nbsp".into()),
        Cond::RestrictedXml,
    );
    assert_refused(
        "<a b='&ent;'/>",
        UndeclaredEntity("ent".into()),
        Cond::RestrictedXml,
    );
    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<!DOCTYPE stream><stream:stream>");
    assert_eq!(r.next_event().unwrap_err().kind(), &Doctype);
}

#[test]
fn malformed_references_are_refused() {
    for body in [
        "<a>&;</a>",
        "<a>&#;</a>",
        "<a>&#xZZ;</a>",
        "<a>& b</a>",
        "<a>&a b;</a>",
        "<a b='&'/>",
    ] {
        let e = refused(body);
        assert_eq!(e.kind(), &XmlErrorKind::MalformedReference, "{body}");
        assert_eq!(e.condition(), Cond::NotWellFormed);
    }
    assert_refused(
        "<a>&#0;</a>",
        XmlErrorKind::InvalidChar(0),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a>&#xFFFE;</a>",
        XmlErrorKind::InvalidChar(0xFFFE),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a>&#xD800;</a>",
        XmlErrorKind::InvalidChar(0xD800),
        Cond::NotWellFormed,
    );
}

#[test]
fn invalid_characters_are_refused() {
    use XmlErrorKind::InvalidChar;
    assert_refused("<a>\u{1}</a>", InvalidChar(1), Cond::NotWellFormed);
    assert_refused("<a b='\u{8}'/>", InvalidChar(8), Cond::NotWellFormed);
    assert_refused("<a>\u{FFFF}</a>", InvalidChar(0xFFFF), Cond::NotWellFormed);
    assert_refused(
        "<a><![CDATA[\u{0}]]></a>",
        InvalidChar(0),
        Cond::NotWellFormed,
    );
    assert!(refused("<a\u{1}/>").condition() == Cond::NotWellFormed);
}

#[test]
fn invalid_utf8_is_refused_but_split_characters_are_not() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"<a>\xff</a>");
    let e = read_all(&mut r).unwrap_err();
    assert_eq!(e.kind(), &XmlErrorKind::InvalidUtf8);
    assert_eq!(e.condition(), Cond::UnsupportedEncoding);
    assert_eq!(e.offset(), HEADER.len() as u64 + 3);
    // The same found by the framer (the element arrives a byte at a time), not in place.
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    let mut result = Ok(Vec::new());
    for b in b"<a>x\xff</a>" {
        r.feed(&[*b]);
        result = read_all(&mut r);
        if result.is_err() {
            break;
        }
    }
    let e = result.unwrap_err();
    assert_eq!(e.kind(), &XmlErrorKind::InvalidUtf8);
    assert_eq!(e.offset(), HEADER.len() as u64 + 4);
    // A four-byte character split across every possible pair of reads.
    let body = "<a b='😀'>😀</a>".as_bytes();
    for split in 1..body.len() {
        let mut r = StreamReader::new(Limits::default());
        r.feed(HEADER.as_bytes());
        r.feed(&body[..split]);
        let mut evs = read_all(&mut r).unwrap();
        r.feed(&body[split..]);
        evs.extend(read_all(&mut r).unwrap());
        let StreamEvent::Element(a) = &evs[1] else {
            panic!()
        };
        assert_eq!(a.text(), "😀");
        assert_eq!(a.attr("b").as_deref(), Some("😀"));
    }
}

#[test]
fn structure_errors_are_refused() {
    use XmlErrorKind::*;
    assert_refused(
        "<message><body>unclosed</message></message>",
        MismatchedEndTag {
            expected: "body".into(),
            found: "message".into(),
        },
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a b='1' b='2'/>",
        DuplicateAttribute("b".into()),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
        DuplicateAttribute("q:x".into()),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a xmlns='u' xmlns='v'/>",
        DuplicateAttribute("xmlns".into()),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<p:a/>",
        UnboundPrefix("p".into()),
        Cond::BadNamespacePrefix,
    );
    assert_refused(
        "<a p:b='1'/>",
        UnboundPrefix("p".into()),
        Cond::BadNamespacePrefix,
    );
    assert_refused(
        "<a><p:b xmlns:p='u'/><p:c/></a>",
        UnboundPrefix("p".into()),
        Cond::BadNamespacePrefix,
    );
    assert_refused(
        "<a>x]]>y</a>",
        Malformed("']]>' is not allowed in text"),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a b='<'/>",
        Malformed("'<' is not allowed in attribute values"),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a b=c/>",
        Malformed("expected a quoted attribute value"),
        Cond::NotWellFormed,
    );
    assert_refused(
        "<a b='1'c='2'/>",
        Malformed("expected white space, '>' or '/>' in a tag"),
        Cond::NotWellFormed,
    );
    assert_refused("<1a/>", Malformed("expected a name"), Cond::NotWellFormed);
    assert_refused(
        "<a:/>",
        Malformed("a qualified name must not end with ':'"),
        Cond::NotWellFormed,
    );
    assert_refused("hello", TextOutsideStanza, Cond::BadFormat);
    assert_refused("<![CDATA[x]]>", TextOutsideStanza, Cond::BadFormat);
    assert_refused(
        "<a><!ELEMENT a></a>",
        Malformed("'<!' that does not start a CDATA section"),
        Cond::NotWellFormed,
    );
    for decl in [
        "<a xmlns:xmlns='u'/>",
        "<a xmlns:xml='u'/>",
        "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
        "<a xmlns:p=''/>",
    ] {
        assert_eq!(refused(decl).condition(), Cond::NotWellFormed, "{decl}");
    }
}

#[test]
fn stream_level_errors() {
    use XmlErrorKind::*;
    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<stream:stream xmlns:stream='urn:wrong'>");
    let e = r.next_event().unwrap_err();
    assert_eq!(e.kind(), &InvalidStreamHeader("{urn:wrong}stream".into()));
    assert_eq!(e.condition(), Cond::InvalidNamespace);

    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<?xml version='1.0' encoding='ISO-8859-1'?>");
    assert_eq!(
        r.next_event().unwrap_err().condition(),
        Cond::UnsupportedEncoding
    );

    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<?xml version='2.0'?>");
    assert_eq!(
        r.next_event().unwrap_err().kind(),
        &MalformedDeclaration("unsupported XML version")
    );

    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"</stream:other>");
    let e = read_all(&mut r).unwrap_err();
    assert!(matches!(e.kind(), MismatchedEndTag { .. }), "{e}");

    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"</stream:stream> \n<a/>");
    let e = read_all(&mut r).unwrap_err();
    assert_eq!(e.kind(), &DataAfterStreamEnd);
}

#[test]
fn errors_are_sticky() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"<a><!-- x --></a>");
    let e = read_all(&mut r).unwrap_err();
    r.feed(b"<b/>");
    assert_eq!(r.next_event().unwrap_err(), e);
    assert_eq!(r.next_event().unwrap_err(), e);
    assert!(r.buffered().is_empty());
}

#[test]
fn error_offsets_point_at_the_problem() {
    let e = refused("<a>ok</a><b>&bad;</b>");
    assert_eq!(e.offset(), (HEADER.len() + "<a>ok</a><b>".len()) as u64);
    let e = refused("<a><!-- x --></a>");
    assert_eq!(e.offset(), (HEADER.len() + 3) as u64);
}

#[test]
fn size_limit_bounds_memory() {
    let mut limits = Limits::default();
    limits.max_element_size = 4096;
    // An element that is just within the limit passes.
    let fits = format!("<a>{}</a>", "x".repeat(4096 - 7));
    assert_eq!(elements_with(&fits, limits).unwrap().len(), 1);
    let over = format!("<a>{}</a>", "x".repeat(4096 - 6));
    let e = elements_with(&over, limits).unwrap_err();
    assert_eq!(e.kind(), &XmlErrorKind::ElementTooLarge { limit: 4096 });
    assert_eq!(e.condition(), Cond::PolicyViolation);
    // A peer that never closes its element is stopped as soon as the limit is crossed,
    // whatever the chunk size, and the reader holds no more than limit + one chunk.
    for chunk in [1usize, 100, 4000, 70_000] {
        let mut r = StreamReader::new(limits);
        r.feed(HEADER.as_bytes());
        r.feed(b"<a b='");
        let data = vec![b'y'; chunk];
        let mut fed = 0;
        let err = loop {
            assert!(
                r.buffered().len() <= 4096 + chunk + 64,
                "{}",
                r.buffered().len()
            );
            match r.next_event() {
                Ok(_) => {}
                Err(e) => break e,
            }
            r.feed(&data);
            fed += chunk;
            assert!(fed < 1 << 20, "never refused");
        };
        assert_eq!(err.kind(), &XmlErrorKind::ElementTooLarge { limit: 4096 });
    }
    // The header is bounded too.
    let mut r = StreamReader::new(limits);
    r.feed(format!("<stream:stream a='{}", "z".repeat(5000)).as_bytes());
    assert_eq!(
        r.next_event().unwrap_err().kind(),
        &XmlErrorKind::ElementTooLarge { limit: 4096 }
    );
}

#[test]
fn depth_and_attribute_limits() {
    let mut limits = Limits::default();
    limits.max_depth = 3;
    // The stream header has six attributes.
    limits.max_attributes = 7;
    assert!(elements_with("<a><b><c/></b></a>", limits).is_ok());
    let e = elements_with("<a><b><c><d/></c></b></a>", limits).unwrap_err();
    assert_eq!(e.kind(), &XmlErrorKind::TooDeep { limit: 3 });
    assert_eq!(e.condition(), Cond::PolicyViolation);
    assert!(elements_with("<a a='1' b='2' c='3' d='4' e='5' f='6' g='7'/>", limits).is_ok());
    let e = elements_with(
        "<a a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8'/>",
        limits,
    )
    .unwrap_err();
    assert_eq!(e.kind(), &XmlErrorKind::TooManyAttributes { limit: 7 });
    // Depth is refused while framing, before the element is complete.
    let mut r = StreamReader::new(limits);
    r.feed(HEADER.as_bytes());
    r.feed(b"<a><b><c><d>");
    let e = read_all(&mut r).unwrap_err();
    assert_eq!(e.kind(), &XmlErrorKind::TooDeep { limit: 3 });
}

#[test]
fn reset_keeps_bytes_of_the_next_stream() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='2'><x/>");
    assert!(matches!(
        r.next_event().unwrap(),
        Some(StreamEvent::Header(_))
    ));
    let Some(StreamEvent::Element(s)) = r.next_event().unwrap() else {
        panic!()
    };
    assert_eq!(s.name(), "success");
    r.reset();
    let Some(StreamEvent::Header(h)) = r.next_event().unwrap() else {
        panic!()
    };
    assert_eq!(h.id.as_deref(), Some("2"));
    assert!(matches!(
        r.next_event().unwrap(),
        Some(StreamEvent::Element(_))
    ));
}

#[test]
fn bytes_after_proceed_stay_visible() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><injected/>");
    read_all(&mut r).ok();
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><injected/>");
    let _ = r.next_event().unwrap();
    let Some(StreamEvent::Element(p)) = r.next_event().unwrap() else {
        panic!()
    };
    assert_eq!(p.name(), "proceed");
    assert_eq!(r.buffered(), b"<injected/>");
    assert_eq!(&r.take_buffered()[..], b"<injected/>");
    assert!(r.buffered().is_empty());
}

#[test]
fn whitespace_before_a_restarted_streams_declaration_is_accepted() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(b" \n<?xml version='1.0' encoding='utf-8' standalone='yes'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>");
    assert!(matches!(
        r.next_event().unwrap(),
        Some(StreamEvent::Header(_))
    ));
}

#[test]
fn a_mismatched_end_tag_is_refused_as_it_arrives() {
    // As ejabberd does (fixture 20): no waiting for a balance that may never come.
    let mut r = StreamReader::new(Limits::default());
    r.feed(HEADER.as_bytes());
    r.feed(b"<message to='nobody@localhost'><body>unclosed</message>");
    let e = read_all(&mut r).unwrap_err();
    assert_eq!(
        e.kind(),
        &XmlErrorKind::MismatchedEndTag {
            expected: "body".into(),
            found: "message".into()
        }
    );
    assert_eq!(e.condition(), Cond::NotWellFormed);
}

#[test]
fn every_size_limit_around_every_construct_is_safe() {
    // Found by fuzzing: a tag starting right at the size limit.
    let body = "<a x='1'><b/><![CDATA[c]]></a></stream:stream>";
    for max in 0..body.len() + 4 {
        let mut limits = Limits::default();
        limits.max_element_size = max;
        for chunk in [1, 3, usize::MAX] {
            let mut r = StreamReader::new(limits);
            r.feed(HEADER.as_bytes());
            let _ = read_all(&mut r);
            for piece in body.as_bytes().chunks(chunk.min(body.len())) {
                r.feed(piece);
                let _ = read_all(&mut r);
            }
        }
    }
}

/// Runs the reader over `data` after the fuzz target's stream header, fed in the pieces that
/// `cuts` (ascending offsets into `data`) mark; the events, then the error if any.
fn outcome_with_cuts(data: &[u8], cuts: &[usize], limits: Limits) -> Vec<String> {
    const FUZZ_HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>";
    let mut r = StreamReader::new(limits);
    r.feed(FUZZ_HEADER);
    let mut out = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([&data.len()]) {
        r.feed(&data[from..to]);
        from = to;
        loop {
            match r.next_event() {
                Ok(Some(ev)) => out.push(format!("{ev:?}")),
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("error {e:?}"));
                    return out;
                }
            }
        }
    }
    out
}

#[test]
fn fuzz_finding_markup_at_the_size_limit_gives_one_error_in_every_chunking() {
    // `stream_reader` fuzz input (byte 0: header and small limits; 1..=8: chunk sizes): a
    // `<![CDAVA[` starting one byte before the 256-byte limit was refused as malformed when the
    // bytes after the limit had arrived and as too large when they had not.
    let input = include_bytes!("fuzz-regressions/stream_reader-chunking-861ef377");
    let data = &input[9..];
    let mut limits = Limits::default();
    limits.max_element_size = 256;
    limits.max_depth = 4;
    limits.max_attributes = 8;
    let whole = outcome_with_cuts(data, &[], limits);
    assert!(
        whole
            .last()
            .is_some_and(|e| e.contains("ElementTooLarge { limit: 256 }, offset: 134")),
        "{whole:?}"
    );
    let bytewise: Vec<usize> = (1..data.len()).collect();
    assert_eq!(outcome_with_cuts(data, &bytewise, limits), whole);
    for cut in 1..data.len() {
        assert_eq!(
            outcome_with_cuts(data, &[cut], limits),
            whole,
            "cut at {cut}"
        );
    }
}

/// `Element::attr_shared` gives a view of the element's bytes, or the unescaped copy.
#[test]
fn shared_attribute_values_view_the_element() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    r.feed(b"<message id='ab12' type='x&amp;y'/>");
    assert!(matches!(r.next_event(), Ok(Some(StreamEvent::Header(_)))));
    let Ok(Some(StreamEvent::Element(el))) = r.next_event() else {
        panic!("no element")
    };
    let id = el.attr_shared("id").unwrap();
    assert_eq!(id, "ab12");
    let whole = el.as_bytes().as_ptr_range();
    assert!(
        whole.contains(&id.as_bytes().as_ptr()),
        "a view, not a copy"
    );
    assert_eq!(el.attr_shared("type").unwrap(), "x&y");
    assert!(el.attr_shared("to").is_none());
}

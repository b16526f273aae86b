//! The outbound builder and serializer.

use xmpp_sansio::ns;
use xmpp_sansio::xml::{BuildError, Builder, Limits, StreamEvent, StreamReader};

fn ser(b: &Builder, default_ns: &str) -> String {
    String::from_utf8(b.to_bytes(default_ns).unwrap().to_vec()).unwrap()
}

#[test]
fn namespaces_are_declared_only_where_they_change() {
    let iq = Builder::new("iq", ns::JABBER_CLIENT)
        .attr("type", "set")
        .attr("id", "b1")
        .child(
            Builder::new("bind", ns::XMPP_BIND)
                .child(Builder::new("resource", ns::XMPP_BIND).text("balcony")),
        );
    assert_eq!(
        ser(&iq, ns::JABBER_CLIENT),
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>balcony</resource></bind></iq>"
    );
    assert_eq!(
        ser(&iq, ""),
        "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>balcony</resource></bind></iq>"
    );
    // Back into no namespace.
    let x = Builder::new("a", "urn:a").child(Builder::new("b", ""));
    assert_eq!(ser(&x, ""), "<a xmlns='urn:a'><b xmlns=''/></a>");
}

#[test]
fn attributes_and_text_are_escaped() {
    let b = Builder::new("m", "")
        .attr("q", "it's \"x\" <&> \t\n\r")
        .text("a<b & c>d ]]> \r\n 'quoted' \"too\"");
    assert_eq!(
        ser(&b, ""),
        "<m q='it&apos;s &quot;x&quot; &lt;&amp;&gt; &#x9;&#xA;&#xD;'>\
         a&lt;b &amp; c&gt;d ]]&gt; &#xD;\n 'quoted' \"too\"</m>"
    );
}

#[test]
fn namespaced_attributes_get_prefixes() {
    let b = Builder::new("body", ns::JABBER_CLIENT)
        .attr_ns("lang", ns::XML, "de")
        .attr_ns("id", "urn:xmpp:sid:0", "x1")
        .attr_ns("by", "urn:xmpp:sid:0", "me");
    assert_eq!(
        ser(&b, ns::JABBER_CLIENT),
        "<body xml:lang='de' xmlns:ns0='urn:xmpp:sid:0' ns0:id='x1' ns0:by='me'/>"
    );
}

#[test]
fn set_attr_replaces_and_text_merges() {
    let mut b = Builder::new("x", "")
        .attr("a", "1")
        .text("he")
        .text("")
        .text("llo");
    b.set_attr("a", "2");
    assert_eq!(b.get_attr("a"), Some("2"));
    assert_eq!(b.nodes().len(), 1);
    assert_eq!(ser(&b, ""), "<x a='2'>hello</x>");
}

#[test]
fn invalid_names_and_characters_are_errors_not_panics() {
    let bad_name = Builder::new("not a name", "");
    assert_eq!(
        bad_name.to_bytes(""),
        Err(BuildError::InvalidName("not a name".into()))
    );
    let bad_attr = Builder::new("a", "").attr("x:y", "1");
    assert_eq!(
        bad_attr.to_bytes(""),
        Err(BuildError::InvalidName("x:y".into()))
    );
    let nul = Builder::new("a", "").text("nul\u{0}byte");
    assert!(matches!(nul.to_bytes(""), Err(BuildError::InvalidChar(_))));
    let ffff = Builder::new("a", "").attr("v", "\u{FFFF}");
    assert!(matches!(ffff.to_bytes(""), Err(BuildError::InvalidChar(_))));
}

#[test]
fn received_elements_convert_to_builders() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\
        <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><c xmlns='http://jabber.org/protocol/caps' \
        hash='sha-1' node='n' ver='v='/></stream:features>");
    let _header = r.next_event().unwrap();
    let Some(StreamEvent::Element(f)) = r.next_event().unwrap() else {
        panic!()
    };
    let b = f.to_builder();
    assert_eq!(b.name(), "features");
    assert_eq!(b.ns(), ns::STREAM);
    assert_eq!(b.children().count(), 2);
    assert_eq!(
        ser(&b, ns::JABBER_CLIENT),
        "<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
         <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v='/></features>"
    );
}

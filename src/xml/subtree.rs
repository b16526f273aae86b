//! A descendant taken out as a top-level element of its own (a forwarded message, a carbon):
//! the same bytes, sliced, parsed again in the namespaces and language it had in place.

use std::sync::Arc;

use super::element::{Element, ElementRef, Kind, Scope, ESCAPED, NO_PARENT};
use super::parser::Parser;

impl ElementRef<'_> {
    /// This descendant as an element of its own, with the namespaces and `xml:lang` it has
    /// here. Its bytes are a slice of this element's (no copy); they are indexed again,
    /// which costs what receiving them did. `None` only if the index and the bytes disagree,
    /// which the parser rules out.
    pub fn to_element(&self) -> Option<Element> {
        let el = self.element();
        let idx = self.index();
        let (start, end) = self.byte_range()?;
        let mut scope = Scope {
            bindings: el.scope.bindings.clone(),
            lang: self.lang().map(|l| l.into()),
        };
        // The declarations of the ancestors, outermost first: they are in scope here.
        let mut ancestors = Vec::new();
        let mut cur = el.nodes.get(idx as usize)?.e;
        while cur != NO_PARENT {
            ancestors.push(cur);
            cur = el.nodes.get(cur as usize)?.e;
        }
        for &a in ancestors.iter().rev() {
            let mut i = a as usize + 1;
            while let Some(n) = el.nodes.get(i) {
                match n.kind {
                    Kind::NsDecl => {
                        let prefix = el.str_at(n.a, n.b);
                        let uri = if n.flags & ESCAPED != 0 {
                            el.extra.get(n.ns as usize).map_or("", |s| s)
                        } else {
                            el.str_at(n.d, n.e)
                        };
                        if prefix != "xml" {
                            scope.bindings.push((prefix.into(), uri.into()));
                        }
                    }
                    Kind::Attr => {}
                    _ => break,
                }
                i += 1;
            }
        }
        let bytes = el.bytes.slice(start..end);
        // These bytes passed the stream's limits (whatever they were configured to) as part
        // of the whole element: the part cannot exceed them.
        let mut parser = Parser::new(usize::MAX, usize::MAX);
        parser.parse_element(bytes, &Arc::new(scope), 0).ok()
    }

    /// Where this element's bytes start and end within the top-level element's.
    fn byte_range(&self) -> Option<(usize, usize)> {
        let el = self.element();
        let idx = self.index() as usize;
        let root = el.nodes.get(idx)?;
        let start = (root.a as usize).checked_sub(1)?;
        let last_idx = root.d as usize - 1;
        let last = el.nodes.get(last_idx)?;
        // After the last node in document order come only the rest of its tag and the
        // end tags of the elements still open there: those whose subtree ends with ours.
        let mut open = (idx..=last_idx)
            .filter_map(|i| el.nodes.get(i))
            .filter(|n| n.kind == Kind::Element && n.d == root.d)
            .count();
        let bytes = el.as_bytes();
        let (mut pos, in_tag) = match last.kind {
            Kind::Text => (last.b as usize, false),
            Kind::CData => (last.b as usize + "]]>".len(), false),
            // Past the value's closing quote.
            Kind::Attr | Kind::NsDecl => (last.e as usize + 1, true),
            Kind::Element => (last.b as usize, true),
        };
        let skip_ws = |pos: &mut usize| {
            while bytes.get(*pos).is_some_and(|b| b.is_ascii_whitespace()) {
                *pos += 1;
            }
        };
        if in_tag {
            skip_ws(&mut pos);
            match bytes.get(pos..pos + 2)? {
                [b'/', b'>'] => {
                    open -= 1;
                    pos += 2;
                }
                [b'>', _] => pos += 1,
                _ => return None,
            }
        }
        while open > 0 {
            skip_ws(&mut pos);
            if bytes.get(pos..pos + 2)? != b"</" {
                return None;
            }
            pos += memchr::memchr(b'>', bytes.get(pos..)?)? + 1;
            open -= 1;
        }
        Some((start, pos))
    }
}

#[cfg(test)]
mod tests {
    use crate::xml::{Limits, StreamEvent, StreamReader};

    fn element(body: &str) -> crate::xml::Element {
        let mut r = StreamReader::new(Limits::default());
        r.feed(
            b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en'>",
        );
        r.feed(body.as_bytes());
        let _ = r.next_event().unwrap();
        let Some(StreamEvent::Element(el)) = r.next_event().unwrap() else {
            panic!()
        };
        el
    }

    #[test]
    fn a_descendant_is_sliced_with_its_namespaces_and_language() {
        let outer = element(
            "<message xmlns:f='urn:xmpp:forward:0' xml:lang='de'><received xmlns='urn:xmpp:carbons:2'>\
             <f:forwarded><message xmlns='jabber:client' from='a@b/c'><body>hi &amp; bye</body>\
             <f:x a='1'/><empty/><cdata><![CDATA[<x>]]></cdata></message>  </f:forwarded></received></message>",
        );
        let forwarded = outer.children().next().unwrap().children().next().unwrap();
        let inner = forwarded.children().next().unwrap();
        let detached = inner.to_element().unwrap();
        assert_eq!(
            &detached.as_bytes()[..],
            &b"<message xmlns='jabber:client' from='a@b/c'><body>hi &amp; bye</body>\
               <f:x a='1'/><empty/><cdata><![CDATA[<x>]]></cdata></message>"[..]
        );
        assert!(detached.is("message", "jabber:client"));
        assert_eq!(
            detached.get_child("body", "jabber:client").unwrap().text(),
            "hi & bye"
        );
        // The prefix declared on an ancestor still resolves.
        assert!(detached.get_child("x", "urn:xmpp:forward:0").is_some());
        assert_eq!(detached.lang().as_deref(), Some("de"));
        // Every shape of ending: self-closing, attributes last, text last, CDATA last.
        for (i, child) in inner.children().enumerate() {
            let alone = child.to_element().unwrap();
            assert_eq!(alone.name(), child.name(), "{i}");
            assert_eq!(alone.text(), child.text(), "{i}");
        }
        let empty_with_attr = element("<a><b x='1' y=\"2\" ></b><c x='&apos;'/></a>");
        for child in empty_with_attr.children() {
            let alone = child.to_element().unwrap();
            assert_eq!(alone.as_ref().attrs().count(), child.attrs().count());
        }
    }
}

//! A descendant taken out as a top-level element of its own (a forwarded message, a carbon):
//! the same bytes, sliced, parsed again in the namespaces and language it had in place.

use std::sync::Arc;

use bytes::BytesMut;

use super::element::{Element, ElementRef, Kind, Scope, ESCAPED, LOCAL, NO_PARENT};
use super::parser::{encode, Parser};

impl ElementRef<'_> {
    /// This descendant as an element of its own, with the namespaces and `xml:lang` it has
    /// here. Its bytes are a slice of this element's (no copy); they are indexed again,
    /// which costs what receiving them did. `None` only if the index and the bytes disagree,
    /// which the parser rules out.
    pub fn to_element(&self) -> Option<Element> {
        let (start, end) = self.byte_range()?;
        self.rebased(start, end)
            .or_else(|| self.reparsed(start, end))
    }

    /// [`Self::to_element`] by parsing the subtree's bytes again, in the scope it has here.
    fn reparsed(&self, start: usize, end: usize) -> Option<Element> {
        let el = self.element();
        let idx = self.index();
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
        let bytes = el.bytes.as_bytes().slice(start..end);
        // These bytes passed the stream's limits (whatever they were configured to) as part
        // of the whole element: the part cannot exceed them.
        let mut parser = Parser::new(usize::MAX, usize::MAX);
        parser.parse_element(bytes, &Arc::new(scope), 0).ok()
    }

    /// The fast way to [`Self::to_element`], when the subtree needs nothing of its
    /// ancestors but the stream's scope: its index nodes copied with their offsets moved, no
    /// second parse. `None` when a prefix it uses is declared on an ancestor, or an ancestor
    /// sets another `xml:lang` than the stream's.
    fn rebased(&self, start: usize, end: usize) -> Option<Element> {
        let el = self.element();
        let idx = self.index();
        let root = el.nodes.get(idx as usize)?;
        if let Some(parent) = self.parent() {
            if parent.lang().as_deref() != el.scope.lang.as_deref() {
                return None;
            }
        }
        let shift = u32::try_from(start).ok()?;
        let mut nodes = Vec::with_capacity((root.d - idx) as usize);
        for i in idx..root.d {
            let mut n = el.nodes.get(i as usize)?;
            if n.ns & LOCAL != 0 {
                // Declared on a node of the subtree (else the ancestors are needed).
                n.ns = LOCAL | (n.ns & !LOCAL).checked_sub(idx)?;
            }
            n.a = n.a.checked_sub(shift)?;
            n.b = n.b.checked_sub(shift)?;
            match n.kind {
                Kind::Element => {
                    n.d -= idx;
                    n.e = if i == idx {
                        NO_PARENT
                    } else {
                        n.e.checked_sub(idx)?
                    };
                }
                Kind::Attr | Kind::NsDecl => {
                    n.d = n.d.checked_sub(shift)?;
                    n.e = n.e.checked_sub(shift)?;
                }
                Kind::Text | Kind::CData => {}
            }
            nodes.push(n);
        }
        Some(Element {
            bytes: el.bytes.slice_ref(el.bytes.get(start..end)?),
            nodes: encode(&mut BytesMut::new(), &nodes, true),
            extra: el.extra.clone(),
            scope: el.scope.clone(),
        })
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
        assert!(
            inner.rebased(0, 0).is_none(),
            "a prefix of an ancestor: parsed again"
        );
        for child in empty_with_attr.children() {
            let alone = child.to_element().unwrap();
            assert_eq!(alone.as_ref().attrs().count(), child.attrs().count());
        }
    }

    /// Every descendant taken out by moving its index is what parsing it again gives.
    #[test]
    fn rebasing_equals_parsing_again() {
        let docs = [
            "<message from='a@b/c' type='chat'><received xmlns='urn:xmpp:carbons:2'>\
             <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='x@y/z' \
             to='a@b/c' id='i&amp;1'><body>hi &lt; there</body><p:x xmlns:p='urn:p' p:a='1' \
             b='&#x41;'><![CDATA[<raw>]]><y/>tail</p:x></message></forwarded></received></message>",
            "<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='A'>\
             <group>G1</group></item><item jid='c@d'/></query></iq>",
            "<presence><c xmlns='http://jabber.org/protocol/caps' ver='v' node='n'/>\
             <x xmlns='vcard-temp:x:update'><photo>abc</photo></x><status xml:lang='fr'>s</status></presence>",
        ];
        for doc in docs {
            let el = element(doc);
            let mut stack = vec![el.as_ref()];
            let mut checked = 0;
            while let Some(e) = stack.pop() {
                stack.extend(e.children());
                let (start, end) = e.byte_range().unwrap();
                let Some(fast) = e.rebased(start, end) else {
                    continue;
                };
                let slow = e.reparsed(start, end).unwrap();
                assert_eq!(fast.as_bytes(), slow.as_bytes());
                assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{doc}");
                assert_eq!(fast.lang(), slow.lang());
                let ns = |x: &crate::xml::Element| {
                    let mut all = vec![];
                    let mut s = vec![x.as_ref()];
                    while let Some(e) = s.pop() {
                        all.push((e.name().to_owned(), e.ns().to_owned()));
                        all.extend(e.attrs().map(|a| (a.name().to_owned(), a.ns().to_owned())));
                        s.extend(e.children());
                    }
                    all
                };
                assert_eq!(ns(&fast), ns(&slow));
                checked += 1;
            }
            assert!(checked >= 2, "{doc}");
        }
    }
}

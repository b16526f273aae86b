//! Received elements: the bytes as they arrived plus a compact index into them.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use super::escape::{unescape_attr, unescape_text};
use crate::ns;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    zerocopy::IntoBytes,
    zerocopy::TryFromBytes,
    zerocopy::Immutable,
)]
#[repr(u8)]
pub(crate) enum Kind {
    /// `a..b` qualified name, `c()` start of the local name, `d` index one past the subtree,
    /// `e` parent index (`NO_PARENT` for the root).
    Element,
    /// `a..b` qualified name, `c()` start of the local name, `d..e` raw value.
    Attr,
    /// A namespace declaration: `a..b` the declared prefix (empty for the default namespace),
    /// `d..e` raw value; with `ESCAPED`, `ns` indexes the unescaped value in `Element::extra`.
    NsDecl,
    /// `a..b` raw character data.
    Text,
    /// `a..b` content of a CDATA section.
    CData,
}

/// The raw bytes differ from the value (references, or white space to normalize).
pub(crate) const ESCAPED: u8 = 1;

pub(crate) const NO_PARENT: u32 = u32::MAX;

/// Namespace ids: 0 is "no namespace", 1 the `xml` namespace; with `OUTER` set, an index
/// into the stream header's declarations; with `LOCAL` set, the index of an `NsDecl` node.
pub(crate) const NO_NS: u32 = 0;
pub(crate) const XML_NS: u32 = 1;
pub(crate) const OUTER: u32 = 1 << 30;
pub(crate) const LOCAL: u32 = 1 << 31;

/// One entry of an element's index. `repr(C)` without padding (24 bytes), so that a run
/// of nodes is copied into a [`NodeIndex`] as bytes, and read back with a check of `kind`
/// only (zerocopy: no `unsafe` here).
#[derive(Debug, Clone, Copy, zerocopy::IntoBytes, zerocopy::TryFromBytes, zerocopy::Immutable)]
#[repr(C)]
pub(crate) struct Node {
    pub kind: Kind,
    pub flags: u8,
    /// Offset of the local name from `a` (names are at most 64 KiB).
    pub local: u16,
    /// Namespace id; for an escaped `NsDecl`, the index of its value in `Element::extra`.
    pub ns: u32,
    pub a: u32,
    pub b: u32,
    pub d: u32,
    pub e: u32,
}

impl Node {
    /// Bytes of one encoded node in a [`NodeIndex`].
    pub(crate) const SIZE: usize = 24;

    /// Start of the local name.
    #[inline]
    pub(crate) fn c(&self) -> u32 {
        self.a + u32::from(self.local)
    }
}

/// An element's index: its nodes, encoded, in a slice of a block the parser shares between
/// the elements it parses one after another, so that an element's index costs no allocation
/// of its own (and an `Element` stays small to move).
#[derive(Clone, Default)]
pub(crate) struct NodeIndex(Bytes);

impl NodeIndex {
    /// The nodes encoded in `bytes` (whole nodes, from `Node::encode`).
    pub(crate) fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// `nodes` appended to `block` as bytes.
    #[inline]
    pub(crate) fn encode(block: &mut BytesMut, nodes: &[Node]) {
        block.extend_from_slice(zerocopy::IntoBytes::as_bytes(nodes));
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<Node> {
        let start = i.checked_mul(Node::SIZE)?;
        let bytes = self.0.get(start..start.checked_add(Node::SIZE)?)?;
        zerocopy::TryFromBytes::try_read_from_bytes(bytes).ok()
    }

    /// The node at `i`; an index never refers past its own nodes, but an empty text node
    /// stands in rather than a panic.
    #[inline]
    pub(crate) fn at(&self, i: u32) -> Node {
        self.get(i as usize).unwrap_or(Node {
            kind: Kind::Text,
            flags: 0,
            local: 0,
            ns: NO_NS,
            a: 0,
            b: 0,
            d: 0,
            e: 0,
        })
    }

    /// A copy with a block of its own.
    fn detached(&self) -> Self {
        Self(Bytes::copy_from_slice(&self.0))
    }
}

/// Namespace declarations and `xml:lang` of the stream header, shared by every element of
/// the stream.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// `(prefix, namespace)`, in declaration order; prefix "" is the default namespace.
    pub bindings: Vec<(Box<str>, Box<str>)>,
    pub lang: Option<Box<str>>,
}

impl Scope {
    pub(crate) fn lookup(&self, prefix: &[u8]) -> Option<u32> {
        let i = self
            .bindings
            .iter()
            .rposition(|(p, _)| p.as_bytes() == prefix)?;
        if self.bindings[i].1.is_empty() {
            Some(NO_NS)
        } else {
            Some(OUTER | i as u32)
        }
    }
}

/// A top-level element (stanza or nonza) as received.
///
/// It holds the bytes it was parsed from (a [`Bytes`] slice of the read buffer, not a copy)
/// and an index of its names, attributes and text, so accessors return `&str` slices of the
/// input. Attribute values and text are unescaped on access and allocate only if they
/// contain references or white space to normalize. Cloning shares the bytes and the index (both
/// reference-counted).
///
/// Namespaces are resolved: [`Element::ns`] is the namespace name, whichever prefix or
/// default declaration (here or in the stream header) it came from.
#[derive(Clone)]
pub struct Element {
    /// The element's bytes, validated as UTF-8 once by the parser: the type keeps that
    /// proof, so text handed out is sliced (at ASCII delimiters) and never checked again.
    pub(crate) bytes: ByteString,
    pub(crate) nodes: NodeIndex,
    /// Unescaped namespace names for the rare declarations that contain references.
    pub(crate) extra: Box<[Box<str>]>,
    pub(crate) scope: Arc<Scope>,
}

/// A borrowed view of an element inside an [`Element`] (the element itself or a descendant).
#[derive(Clone, Copy)]
pub struct ElementRef<'a> {
    el: &'a Element,
    idx: u32,
}

/// An attribute of an element. Namespace declarations (`xmlns`, `xmlns:p`) are not attributes.
#[derive(Clone, Copy)]
pub struct Attribute<'a> {
    el: &'a Element,
    idx: u32,
}

/// A child node: an element or a run of text.
#[derive(Clone, Copy)]
pub enum Child<'a> {
    /// A child element.
    Element(ElementRef<'a>),
    /// Character data, as one run between two tags, or one CDATA section.
    Text(Text<'a>),
}

/// A run of character data in an element.
#[derive(Clone, Copy)]
pub struct Text<'a> {
    el: &'a Element,
    idx: u32,
}

impl Element {
    /// A view of this element, for the methods shared with its descendants.
    pub fn as_ref(&self) -> ElementRef<'_> {
        ElementRef { el: self, idx: 0 }
    }

    /// The bytes of this element exactly as received.
    ///
    /// Namespace declarations made on the stream header (the default `jabber:client`, the
    /// `stream` prefix) are not part of them; [`ElementRef::to_builder`] gives a copy that
    /// can be serialized on its own.
    pub fn as_bytes(&self) -> &Bytes {
        self.bytes.as_bytes()
    }

    /// The local name (without prefix).
    pub fn name(&self) -> &str {
        self.as_ref().name()
    }

    /// The namespace name, or `""` for an element in no namespace.
    pub fn ns(&self) -> &str {
        self.as_ref().ns()
    }

    /// Whether the element has this local name and namespace.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.as_ref().is(name, ns)
    }

    /// The value of the attribute with this name and no namespace.
    pub fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        self.as_ref().attr(name)
    }

    /// The value of the attribute with this local name (no namespace), as
    /// [`Self::attr`], but owned and without a copy: it shares the element's bytes (unless
    /// the value holds character references).
    pub fn attr_shared(&self, name: &str) -> Option<ByteString> {
        self.as_ref().attribute(name).map(|a| a.value_shared())
    }

    /// `text` as a view of the element's bytes if it lies within them, else a copy.
    fn share(&self, text: &str) -> ByteString {
        let base = self.bytes.as_ptr() as usize;
        let at = text.as_ptr() as usize;
        if at >= base && at + text.len() <= base + self.bytes.len() {
            return self.bytes.slice_ref(text);
        }
        ByteString::from(text)
    }

    /// The first child element with this local name and namespace.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<ElementRef<'_>> {
        self.as_ref().get_child(name, ns)
    }

    /// The child elements, in order.
    pub fn children(&self) -> Children<'_> {
        self.as_ref().children()
    }

    /// The text directly inside the element (its text children concatenated).
    pub fn text(&self) -> Cow<'_, str> {
        self.as_ref().text()
    }

    /// The language of the element's content: its `xml:lang`, else the nearest ancestor's,
    /// else the stream header's.
    pub fn lang(&self) -> Option<Cow<'_, str>> {
        self.as_ref().lang()
    }

    /// A copy that owns its bytes (one allocation), so that keeping it long does not keep
    /// alive the whole read buffer it was parsed from.
    pub fn detached(&self) -> Element {
        Element {
            bytes: ByteString::from(&*self.bytes),
            nodes: self.nodes.detached(),
            extra: self.extra.clone(),
            scope: self.scope.clone(),
        }
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_ref(), f)
    }
}

impl<'a> ElementRef<'a> {
    #[inline]
    fn node(&self) -> Node {
        self.el.nodes.at(self.idx)
    }

    /// The top-level element this is part of.
    pub(crate) fn element(&self) -> &'a Element {
        self.el
    }

    /// This element's index in the top-level element's nodes.
    pub(crate) fn index(&self) -> u32 {
        self.idx
    }

    /// The qualified name as written, such as `stream:features` or `body`.
    pub fn qname(&self) -> &'a str {
        let n = self.node();
        self.el.str_at(n.a, n.b)
    }

    /// The local name (without prefix).
    pub fn name(&self) -> &'a str {
        let n = self.node();
        self.el.str_at(n.c(), n.b)
    }

    /// The prefix as written, if any.
    pub fn prefix(&self) -> Option<&'a str> {
        let n = self.node();
        (n.local > 0).then(|| self.el.str_at(n.a, n.c() - 1))
    }

    /// The namespace name, or `""` for an element in no namespace.
    pub fn ns(&self) -> &'a str {
        self.el.ns_str(self.node().ns)
    }

    /// Whether the element has this local name and namespace.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        // The name as bytes: comparing needs no char-boundary check.
        let n = self.node();
        self.el.bytes_at(n.c(), n.b) == name.as_bytes() && self.el.ns_str(n.ns) == ns
    }

    /// The value of the attribute with this name and no namespace.
    pub fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        self.attribute(name).map(|a| a.value())
    }

    /// The attribute with this name and no namespace.
    fn attribute(&self, name: &str) -> Option<Attribute<'a>> {
        self.attrs().find(|a| a.is_plain(name))
    }

    /// The value of the attribute with this local name and namespace.
    pub fn attr_ns(&self, name: &str, ns: &str) -> Option<Cow<'a, str>> {
        self.attrs()
            .find(|a| {
                let n = a.node();
                self.el.bytes_at(n.c(), n.b) == name.as_bytes() && self.el.ns_str(n.ns) == ns
            })
            .map(|a| a.value())
    }

    /// The attributes, in document order (namespace declarations excluded).
    pub fn attrs(&self) -> Attributes<'a> {
        Attributes {
            el: self.el,
            next: self.idx + 1,
        }
    }

    /// The child elements, in order.
    pub fn children(&self) -> Children<'a> {
        Children(self.child_nodes())
    }

    /// The child nodes (elements and text), in order.
    pub fn child_nodes(&self) -> ChildNodes<'a> {
        let end = self.node().d;
        let mut next = self.idx + 1;
        while next < end && matches!(self.el.nodes.at(next).kind, Kind::Attr | Kind::NsDecl) {
            next += 1;
        }
        ChildNodes {
            el: self.el,
            next,
            end,
        }
    }

    /// The first child element with this local name and namespace.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<ElementRef<'a>> {
        self.children().find(|c| c.is(name, ns))
    }

    /// Whether a child element with this local name and namespace exists.
    pub fn has_child(&self, name: &str, ns: &str) -> bool {
        self.get_child(name, ns).is_some()
    }

    /// The text directly inside the element: its text children concatenated. Borrows when
    /// there is at most one run of text and it needs no unescaping.
    pub fn text(&self) -> Cow<'a, str> {
        let mut texts = self.child_nodes().filter_map(|c| match c {
            Child::Text(t) => Some(t),
            Child::Element(_) => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        let mut out = first.value();
        for t in texts {
            out.to_mut().push_str(&t.value());
        }
        out
    }

    /// The language of the element's content: its `xml:lang`, else the nearest ancestor's,
    /// else the stream header's.
    pub fn lang(&self) -> Option<Cow<'a, str>> {
        let mut cur = Some(*self);
        while let Some(el) = cur {
            if let Some(lang) = el.attr_ns("lang", ns::XML) {
                return Some(lang);
            }
            cur = el.parent();
        }
        self.el.scope.lang.as_deref().map(Cow::Borrowed)
    }

    /// The parent element, if this is not the top-level element.
    pub fn parent(&self) -> Option<ElementRef<'a>> {
        let p = self.node().e;
        (p != NO_PARENT).then_some(ElementRef {
            el: self.el,
            idx: p,
        })
    }

    /// Namespace declarations made on this element, as `(prefix, namespace)`; the prefix is
    /// `""` for a default namespace declaration.
    pub fn namespace_declarations(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let el = self.el;
        let start = self.idx as usize + 1;
        (start..)
            .map_while(move |i| el.nodes.get(i))
            .enumerate()
            .take_while(|(_, n)| matches!(n.kind, Kind::Attr | Kind::NsDecl))
            .filter(|(_, n)| n.kind == Kind::NsDecl)
            .map(move |(i, n)| (el.str_at(n.a, n.b), el.ns_str(LOCAL | (start + i) as u32)))
    }
}

impl fmt::Debug for ElementRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("name", &self.name())
            .field("ns", &self.ns())
            .field(
                "attrs",
                &self
                    .attrs()
                    .map(|a| (a.name(), a.value()))
                    .collect::<Vec<_>>(),
            )
            .field("children", &self.child_nodes().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Debug for Child<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Child::Element(e) => fmt::Debug::fmt(e, f),
            Child::Text(t) => fmt::Debug::fmt(&t.value(), f),
        }
    }
}

impl<'a> Attribute<'a> {
    fn node(&self) -> Node {
        self.el.nodes.at(self.idx)
    }

    /// The local name (without prefix).
    pub fn name(&self) -> &'a str {
        let n = self.node();
        self.el.str_at(n.c(), n.b)
    }

    /// The qualified name as written, such as `xml:lang`.
    pub fn qname(&self) -> &'a str {
        let n = self.node();
        self.el.str_at(n.a, n.b)
    }

    /// The namespace name, or `""` for the usual unprefixed attribute.
    pub fn ns(&self) -> &'a str {
        self.el.ns_str(self.node().ns)
    }

    /// The value, unescaped and normalized.
    pub fn value(&self) -> Cow<'a, str> {
        let n = self.node();
        let raw = self.el.str_at(n.d, n.e);
        if n.flags & ESCAPED == 0 {
            Cow::Borrowed(raw)
        } else {
            unescape_attr(raw)
        }
    }

    /// Whether this is the attribute `name` in no namespace (the usual unprefixed one).
    #[inline]
    pub(crate) fn is_plain(&self, name: &str) -> bool {
        let n = self.node();
        n.ns == NO_NS && self.el.bytes_at(n.c(), n.b) == name.as_bytes()
    }

    /// The value as [`Element::attr_shared`] gives it: a view of the element's bytes.
    pub(crate) fn value_shared(&self) -> ByteString {
        match self.value() {
            Cow::Borrowed(value) => self.el.share(value),
            Cow::Owned(value) => ByteString::from(value),
        }
    }

    /// The value exactly as written between the quotes.
    pub fn raw_value(&self) -> &'a str {
        let n = self.node();
        self.el.str_at(n.d, n.e)
    }
}

impl<'a> Text<'a> {
    /// The text, with references resolved and line ends normalized.
    pub fn value(&self) -> Cow<'a, str> {
        let n = self.el.nodes.at(self.idx);
        let raw = self.el.str_at(n.a, n.b);
        match (n.kind, n.flags & ESCAPED != 0) {
            (_, false) => Cow::Borrowed(raw),
            (Kind::CData, true) => Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n")),
            (_, true) => unescape_text(raw),
        }
    }

    /// Whether this run came from a CDATA section.
    pub fn is_cdata(&self) -> bool {
        self.el.nodes.at(self.idx).kind == Kind::CData
    }
}

/// Iterator over the attributes of an element.
pub struct Attributes<'a> {
    el: &'a Element,
    next: u32,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        loop {
            let n = self.el.nodes.get(self.next as usize)?;
            let idx = self.next;
            match n.kind {
                Kind::Attr => {
                    self.next += 1;
                    return Some(Attribute { el: self.el, idx });
                }
                Kind::NsDecl => self.next += 1,
                _ => return None,
            }
        }
    }
}

/// Iterator over the child nodes of an element.
pub struct ChildNodes<'a> {
    el: &'a Element,
    next: u32,
    end: u32,
}

impl<'a> Iterator for ChildNodes<'a> {
    type Item = Child<'a>;

    fn next(&mut self) -> Option<Child<'a>> {
        if self.next >= self.end {
            return None;
        }
        let idx = self.next;
        let n = self.el.nodes.get(idx as usize)?;
        if n.kind == Kind::Element {
            self.next = n.d;
            Some(Child::Element(ElementRef { el: self.el, idx }))
        } else {
            self.next += 1;
            Some(Child::Text(Text { el: self.el, idx }))
        }
    }
}

/// Iterator over the child elements of an element.
pub struct Children<'a>(ChildNodes<'a>);

impl<'a> Iterator for Children<'a> {
    type Item = ElementRef<'a>;

    fn next(&mut self) -> Option<ElementRef<'a>> {
        loop {
            if let Child::Element(e) = self.0.next()? {
                return Some(e);
            }
        }
    }
}

impl Element {
    /// The text between two offsets. The bytes are known UTF-8 and the parser records
    /// offsets only at ASCII delimiters, so slicing checks two char boundaries and no more;
    /// an offset off a boundary (a bug) gives `""`, not a panic.
    #[inline]
    pub(crate) fn str_at(&self, start: u32, end: u32) -> &str {
        self.bytes
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// Whether namespace `ns` may be used in this element: its bytes name it, an escaped
    /// declaration might, or the stream header declared it. False means it is certainly
    /// absent, which a service checks before walking the element's children.
    pub(crate) fn may_use_namespace(&self, ns: &memchr::memmem::Finder<'_>) -> bool {
        !self.extra.is_empty()
            || ns.find(self.bytes.as_bytes()).is_some()
            || self
                .scope
                .bindings
                .iter()
                .any(|(_, uri)| uri.as_bytes() == ns.needle())
    }

    #[inline]
    pub(crate) fn bytes_at(&self, start: u32, end: u32) -> &[u8] {
        self.bytes
            .as_bytes()
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    pub(crate) fn ns_str(&self, id: u32) -> &str {
        if id & LOCAL != 0 {
            let Some(n) = self.nodes.get((id & !LOCAL) as usize) else {
                return "";
            };
            if n.flags & ESCAPED != 0 {
                self.extra.get(n.ns as usize).map_or("", |s| s)
            } else {
                self.str_at(n.d, n.e)
            }
        } else if id & OUTER != 0 {
            self.scope
                .bindings
                .get((id & !OUTER) as usize)
                .map_or("", |(_, ns)| ns)
        } else if id == XML_NS {
            ns::XML
        } else {
            ""
        }
    }
}

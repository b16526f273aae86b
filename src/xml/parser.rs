//! Well-formedness, namespaces and the element index, over one complete top-level element.
//!
//! The framer hands over slices that it believes hold exactly one element; this pass checks
//! everything XML and XML namespaces require (and what RFC 6120 §11 restricts) and records
//! where names, attributes and text are. It never trusts the framer: a slice that is not one
//! well-formed element is an error here, not a panic.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use smallvec::SmallVec;

use super::chars::{self};
use super::cursor::Cursor;
use super::element::{
    Element, Kind, Node, NodeIndex, Scope, ESCAPED, LOCAL, NO_NS, NO_PARENT, XML_NS,
};
use super::error::{XmlError, XmlErrorKind};
use super::escape::unescape_attr;
use crate::ns;

/// Scratch nodes reserved for a burst of input (most stanzas have fewer).
const SCRATCH_NODES: usize = 32;

/// The block the elements' indexes are written to, one after another: about a dozen
/// stanzas' worth, so an index costs a twelfth of an allocation; a retained element keeps
/// its block alive (`Element::detached` copies its index out).
const INDEX_BLOCK: usize = 4096;

#[derive(Clone, Copy)]
struct Open {
    node: u32,
    bindings: u32,
}

/// A prefix binding made inside the element being parsed: `pa..pb` is the prefix.
#[derive(Clone, Copy)]
struct Binding {
    pa: u32,
    pb: u32,
    ns: u32,
}

/// Reusable parse state, so that steady-state parsing allocates only the element index.
#[derive(Default)]
pub(crate) struct Parser {
    /// The elements open, innermost last: inline up to a depth stanzas rarely pass.
    open: SmallVec<[Open; 8]>,
    /// Prefixes bound inside the element (most stanzas bind none).
    bindings: SmallVec<[Binding; 4]>,
    scratch: Vec<Node>,
    /// Where finished elements' indexes are encoded (see `INDEX_BLOCK`).
    index: BytesMut,
    /// The next index goes into a block of its own size (set when the block is let go of).
    index_exact: bool,
    extra: Vec<Box<str>>,
    token_start: usize,
    /// Lengths of the index, bindings and `extra` at `token_start`.
    marks: (usize, usize, usize),
    /// Where the last [`Self::parse`] that ran out of input could be resumed by the framer:
    /// the start of the token it was in.
    resume_at: Option<usize>,
    pub max_depth: usize,
    pub max_attributes: usize,
}

type Result<T> = std::result::Result<T, XmlError>;

impl Parser {
    pub(crate) fn new(max_depth: usize, max_attributes: usize) -> Self {
        Self {
            max_depth,
            max_attributes,
            index_exact: true,
            ..Self::default()
        }
    }

    /// Parses one complete top-level element; `base` is the stream offset of `bytes[0]`.
    pub(crate) fn parse_element(
        &mut self,
        bytes: Bytes,
        scope: &Arc<Scope>,
        base: u64,
    ) -> Result<Element> {
        let text = utf8(bytes, base)?;
        self.parse(text.as_bytes(), scope, base, true)?;
        Ok(self.finish(text, scope))
    }

    /// Parses the top-level element at the start of `s` into the parser's scratch index and
    /// returns its length. With `whole`, `s` must be exactly one element; without, `s` may
    /// end early or go on past the element, and any error means "use the framer instead".
    /// It does not check UTF-8: turning the element's bytes into text ([`utf8`]) does.
    pub(crate) fn parse(
        &mut self,
        s: &[u8],
        scope: &Scope,
        base: u64,
        whole: bool,
    ) -> Result<usize> {
        // A whole element whose beginning was parsed in place continues where that stopped.
        let start = match self.resume_at.take() {
            Some(at) if whole => at,
            _ => {
                self.clear();
                0
            }
        };
        let mut cur = Cursor {
            s,
            pos: start,
            base,
            hit_end: Default::default(),
        };
        let mut nodes = std::mem::take(&mut self.scratch);
        if nodes.capacity() == 0 {
            // Released at rest (`release`): one allocation for the burst that follows.
            nodes.reserve(SCRATCH_NODES);
        }
        let mut extra = std::mem::take(&mut self.extra);
        let result = self.parse_nodes(&mut cur, &mut nodes, &mut extra, scope);
        if result.is_err() && !whole && cur.hit_end.get() {
            // Forget the unfinished token; the rest is kept for when the element is whole.
            let (n, b, e) = self.marks;
            nodes.truncate(n);
            self.bindings.truncate(b);
            extra.truncate(e);
            self.resume_at = Some(self.token_start);
        }
        self.scratch = nodes;
        self.extra = extra;
        result?;
        if whole && cur.pos != s.len() {
            return Err(cur.malformed("data after the end of the element"));
        }
        Ok(cur.pos)
    }

    /// Lets go of the scratch space when no element is in progress (the input is drained),
    /// so that a session at rest holds none, however large its largest element was.
    pub(crate) fn release(&mut self) {
        if self.resume_at.is_none() {
            self.clear();
            self.open = SmallVec::new();
            self.bindings = SmallVec::new();
            self.scratch = Vec::new();
            self.index = BytesMut::new();
            self.index_exact = true;
            self.extra = Vec::new();
        }
    }

    /// Forgets any partly parsed element.
    pub(crate) fn clear(&mut self) {
        self.open.clear();
        self.bindings.clear();
        self.scratch.clear();
        self.extra.clear();
        self.resume_at = None;
    }

    /// If the last [`Self::parse`] (not `whole`) failed only because the element has not fully
    /// arrived: where the framer can take over, and the qualified-name spans of the elements
    /// open there (outermost first). Everything before that point was found well-formed, and
    /// the next `whole` parse of this element continues from there.
    pub(crate) fn resume_point(&self) -> Option<(usize, impl Iterator<Item = (u32, u32)> + '_)> {
        let at = self.resume_at?;
        let names = self.open.iter().map(|o| {
            let n = &self.scratch[o.node as usize];
            (n.a, n.b)
        });
        Some((at, names))
    }

    /// The element whose index the last successful [`Self::parse`] left, over `bytes`.
    pub(crate) fn finish(&mut self, bytes: ByteString, scope: &Arc<Scope>) -> Element {
        let extra = if self.extra.is_empty() {
            Box::default()
        } else {
            std::mem::take(&mut self.extra).into_boxed_slice()
        };
        Element {
            bytes,
            // The first element after the block was let go of (a read after a quiet spell,
            // often the only element of it) gets an index of exactly its size; the next ones
            // share blocks.
            nodes: encode(
                &mut self.index,
                &self.scratch,
                std::mem::take(&mut self.index_exact),
            ),
            extra,
            scope: scope.clone(),
        }
    }

    fn parse_nodes(
        &mut self,
        cur: &mut Cursor<'_>,
        nodes: &mut Vec<Node>,
        extra: &mut Vec<Box<str>>,
        scope: &Scope,
    ) -> Result<()> {
        loop {
            self.token_start = cur.pos;
            self.marks = (nodes.len(), self.bindings.len(), extra.len());
            match cur.peek() {
                None => return Err(cur.malformed("element is not closed")),
                Some(b'<') => match cur.get(cur.pos + 1) {
                    Some(b'/') => {
                        self.end_tag(cur, nodes)?;
                        if self.open.is_empty() {
                            return Ok(());
                        }
                    }
                    Some(b'!') => self.bang(cur, nodes)?,
                    Some(b'?') => return Err(cur.err(XmlErrorKind::ProcessingInstruction)),
                    _ => {
                        let empty = self.start_tag(cur, nodes, extra, scope)?;
                        if empty && self.open.is_empty() {
                            return Ok(());
                        }
                    }
                },
                Some(_) if self.open.is_empty() => {
                    return Err(cur.err(XmlErrorKind::TextOutsideStanza))
                }
                Some(_) => text(cur, nodes)?,
            }
        }
    }

    /// Parses a lone start tag (the stream header) as an element with no children.
    pub(crate) fn parse_start_tag(&mut self, bytes: Bytes, base: u64) -> Result<Element> {
        let bytes = utf8(bytes, base)?;
        self.clear();
        let scope = Arc::new(Scope::default());
        let mut cur = Cursor {
            s: bytes.as_bytes(),
            pos: 0,
            base,
            hit_end: Default::default(),
        };
        self.open.clear();
        self.bindings.clear();
        let mut nodes = Vec::new();
        let mut extra = Vec::new();
        self.start_tag(&mut cur, &mut nodes, &mut extra, &scope)?;
        let len = nodes.len() as u32;
        if let Some(root) = nodes.first_mut() {
            root.d = len;
        }
        Ok(Element {
            bytes,
            nodes: encode(&mut BytesMut::new(), &nodes, true),
            extra: extra.into(),
            scope,
        })
    }

    /// Checks an end tag against `expected` (the stream header's qualified name).
    pub(crate) fn check_end_tag(s: &[u8], expected: &str, base: u64) -> Result<()> {
        let mut cur = Cursor {
            s,
            pos: 2,
            base,
            hit_end: Default::default(),
        };
        let (a, _, b) = cur.qname()?;
        cur.skip_ws();
        cur.expect(b'>', "expected '>' to close the end tag")?;
        let found = &s[a as usize..b as usize];
        if found != expected.as_bytes() {
            return Err(cur.err(XmlErrorKind::MismatchedEndTag {
                expected: expected.to_owned(),
                found: String::from_utf8_lossy(found).into_owned(),
            }));
        }
        Ok(())
    }

    /// Returns whether the tag was an empty-element tag.
    fn start_tag(
        &mut self,
        cur: &mut Cursor<'_>,
        nodes: &mut Vec<Node>,
        extra: &mut Vec<Box<str>>,
        scope: &Scope,
    ) -> Result<bool> {
        cur.pos += 1;
        if self.open.len() >= self.max_depth {
            return Err(cur.err(XmlErrorKind::TooDeep {
                limit: self.max_depth,
            }));
        }
        let (a, c, b) = cur.qname()?;
        let idx = nodes.len() as u32;
        let parent = self.open.last().map_or(NO_PARENT, |o| o.node);
        nodes.push(Node {
            kind: Kind::Element,
            flags: 0,
            local: (c - a) as u16,
            ns: NO_NS,
            a,
            b,
            d: 0,
            e: parent,
        });
        let bindings_before = self.bindings.len() as u32;
        let mut count = 0;
        let empty = loop {
            let had_ws = cur.skip_ws();
            match cur.peek() {
                Some(b'>') => {
                    cur.pos += 1;
                    break false;
                }
                Some(b'/') => {
                    cur.pos += 1;
                    cur.expect(b'>', "expected '>' after '/' in a tag")?;
                    break true;
                }
                None => return Err(cur.malformed("tag is not closed")),
                Some(_) if !had_ws => {
                    return Err(cur.malformed("expected white space, '>' or '/>' in a tag"))
                }
                Some(_) => {}
            }
            count += 1;
            if count > self.max_attributes {
                return Err(cur.err(XmlErrorKind::TooManyAttributes {
                    limit: self.max_attributes,
                }));
            }
            let (qa, qc, qb) = cur.qname()?;
            cur.skip_ws();
            cur.expect(b'=', "expected '=' after an attribute name")?;
            cur.skip_ws();
            let quote = match cur.peek() {
                Some(q @ (b'"' | b'\'')) => q,
                _ => return Err(cur.malformed("expected a quoted attribute value")),
            };
            cur.pos += 1;
            let (va, vb, flags) = cur.attr_value(quote)?;
            let qname = &cur.s[qa as usize..qb as usize];
            let is_default_decl = qname == b"xmlns";
            if is_default_decl || (qc > qa && &cur.s[qa as usize..qc as usize - 1] == b"xmlns") {
                let (pa, pb) = if is_default_decl { (qb, qb) } else { (qc, qb) };
                self.declare(cur, nodes, extra, (pa, pb), (va, vb, flags), qa)?;
            } else {
                nodes.push(Node {
                    kind: Kind::Attr,
                    flags,
                    ns: NO_NS,
                    a: qa,
                    b: qb,
                    local: (qc - qa) as u16,
                    d: va,
                    e: vb,
                });
            }
        };
        // Names are resolved once the tag's own declarations are known.
        let first_attr = idx as usize + 1;
        nodes[idx as usize].ns = self.resolve(cur, scope, a, c, true)?;
        for n in &mut nodes[first_attr..] {
            if n.kind == Kind::Attr && n.local > 0 {
                n.ns = self.resolve(cur, scope, n.a, n.c(), false)?;
            }
        }
        if nodes.len() - first_attr > 1 {
            check_duplicates(cur, &nodes[first_attr..], nodes, extra, scope)?;
        }
        if empty {
            nodes[idx as usize].d = nodes.len() as u32;
            self.bindings.truncate(bindings_before as usize);
        } else {
            self.open.push(Open {
                node: idx,
                bindings: bindings_before,
            });
        }
        Ok(empty)
    }

    /// Records a namespace declaration of prefix `pa..pb` (empty: the default namespace).
    fn declare(
        &mut self,
        cur: &Cursor<'_>,
        nodes: &mut Vec<Node>,
        extra: &mut Vec<Box<str>>,
        (pa, pb): (u32, u32),
        (va, vb, flags): (u32, u32, u8),
        qa: u32,
    ) -> Result<()> {
        use XmlErrorKind::InvalidNamespaceDeclaration as Invalid;
        let s = cur.s;
        let at = |what| XmlError::new(Invalid(what), cur.base + u64::from(qa));
        let prefix = &s[pa as usize..pb as usize];
        let raw = &s[va as usize..vb as usize];
        let mut extra_idx = 0;
        let value: &[u8] = if flags & ESCAPED != 0 {
            extra_idx = extra.len() as u32;
            let unescaped = unescape_attr(std::str::from_utf8(raw).unwrap_or_default());
            extra.push(unescaped.as_ref().into());
            extra.last().map_or(b"", |v| v.as_bytes())
        } else {
            raw
        };
        if prefix == b"xmlns" {
            return Err(at("the prefix 'xmlns' must not be declared"));
        }
        if (prefix == b"xml") != (value == ns::XML.as_bytes()) {
            return Err(at("the prefix 'xml' is bound to its namespace and only it"));
        }
        if value == ns::XMLNS.as_bytes() {
            return Err(at("the xmlns namespace must not be declared"));
        }
        if !prefix.is_empty() && value.is_empty() {
            return Err(at("a prefix must not be bound to the empty namespace name"));
        }
        let idx = nodes.len() as u32;
        let ns = if value.is_empty() {
            NO_NS
        } else if prefix == b"xml" {
            XML_NS
        } else {
            LOCAL | idx
        };
        nodes.push(Node {
            kind: Kind::NsDecl,
            flags,
            local: 0,
            ns: extra_idx,
            a: pa,
            b: pb,
            d: va,
            e: vb,
        });
        self.bindings.push(Binding { pa, pb, ns });
        Ok(())
    }

    /// The namespace id of the prefix at `a..c-1` (none when `c == a`).
    fn resolve(
        &self,
        cur: &Cursor<'_>,
        scope: &Scope,
        a: u32,
        c: u32,
        element: bool,
    ) -> Result<u32> {
        let s = cur.s;
        let prefix: &[u8] = if c > a {
            &s[a as usize..c as usize - 1]
        } else {
            b""
        };
        if prefix.is_empty() && !element {
            return Ok(NO_NS);
        }
        if prefix == b"xml" {
            return Ok(XML_NS);
        }
        if let Some(b) = self
            .bindings
            .iter()
            .rev()
            .find(|b| &s[b.pa as usize..b.pb as usize] == prefix)
        {
            return Ok(b.ns);
        }
        if let Some(ns) = scope.lookup(prefix) {
            return Ok(ns);
        }
        if prefix.is_empty() {
            return Ok(NO_NS);
        }
        Err(XmlError::new(
            XmlErrorKind::UnboundPrefix(String::from_utf8_lossy(prefix).into_owned()),
            cur.base + u64::from(a),
        ))
    }

    fn end_tag(&mut self, cur: &mut Cursor<'_>, nodes: &mut [Node]) -> Result<()> {
        let tag_start = cur.pos;
        cur.pos += 2;
        let (a, _, b) = cur.qname()?;
        cur.skip_ws();
        cur.expect(b'>', "expected '>' to close the end tag")?;
        let Some(open) = self.open.pop() else {
            return Err(cur.malformed("end tag without a start tag"));
        };
        let len = nodes.len() as u32;
        let n = &mut nodes[open.node as usize];
        let expected = &cur.s[n.a as usize..n.b as usize];
        let found = &cur.s[a as usize..b as usize];
        if expected != found {
            return Err(XmlError::new(
                XmlErrorKind::MismatchedEndTag {
                    expected: String::from_utf8_lossy(expected).into_owned(),
                    found: String::from_utf8_lossy(found).into_owned(),
                },
                cur.base + tag_start as u64,
            ));
        }
        n.d = len;
        self.bindings.truncate(open.bindings as usize);
        Ok(())
    }

    /// `<!`: a CDATA section, or a comment or DOCTYPE (both refused).
    fn bang(&mut self, cur: &mut Cursor<'_>, nodes: &mut Vec<Node>) -> Result<()> {
        let rest = &cur.s[cur.pos..];
        if rest.starts_with(b"<!--") {
            return Err(cur.err(XmlErrorKind::Comment));
        }
        if rest.starts_with(b"<!DOCTYPE") {
            return Err(cur.err(XmlErrorKind::Doctype));
        }
        if !rest.starts_with(b"<![CDATA[") {
            // The same decision the framer makes (framer.rs, `State::Bang`).
            let undecided = rest.len() < 9
                && [&b"<![CDATA["[..], b"<!DOCTYPE", b"<!--"]
                    .iter()
                    .any(|p| p.starts_with(rest));
            if undecided {
                cur.hit_end.set(true);
            }
            return Err(cur.malformed("'<!' that does not start a CDATA section"));
        }
        if self.open.is_empty() {
            return Err(cur.err(XmlErrorKind::TextOutsideStanza));
        }
        let start = cur.pos + 9;
        let Some(len) = memchr::memmem::find(&cur.s[start..], b"]]>") else {
            cur.hit_end.set(true);
            return Err(cur.malformed("CDATA section is not closed"));
        };
        let end = start + len;
        cur.pos = start;
        let mut flags = 0;
        while cur.pos < end {
            cur.skip_plain_run(&chars::CDATA, chars::CDATA_SPECIALS);
            if cur.pos >= end {
                break;
            }
            let b = cur.s[cur.pos];
            match chars::CDATA[b as usize] {
                chars::NORMALIZE => {
                    flags = ESCAPED;
                    cur.pos += 1;
                }
                chars::EF => cur.check_ef()?,
                _ => return Err(cur.err(XmlErrorKind::InvalidChar(b.into()))),
            }
        }
        let parent = self.open.last().map_or(NO_PARENT, |o| o.node);
        nodes.push(Node {
            kind: Kind::CData,
            flags,
            ns: NO_NS,
            a: start as u32,
            b: end as u32,
            local: 0,
            d: 0,
            e: parent,
        });
        cur.pos = end + 3;
        Ok(())
    }
}

/// A run of character data up to the next `<`.
fn text(cur: &mut Cursor<'_>, nodes: &mut Vec<Node>) -> Result<()> {
    let start = cur.pos;
    let mut flags = 0;
    loop {
        cur.skip_plain_run(&chars::TEXT, chars::TEXT_SPECIALS);
        // Text never ends an element: without a `<` the run is not complete.
        let Some(b) = cur.peek() else {
            return Err(cur.malformed("element is not closed"));
        };
        match chars::TEXT[b as usize] {
            chars::LT => break,
            chars::AMP => {
                cur.reference()?;
                flags = ESCAPED;
            }
            chars::RSQB => {
                let rest = &cur.s[cur.pos..];
                if rest.len() < 3 && b"]]>".starts_with(rest) {
                    cur.hit_end.set(true);
                }
                if rest.starts_with(b"]]>") {
                    return Err(cur.malformed("']]>' is not allowed in text"));
                }
                cur.pos += 1;
            }
            chars::NORMALIZE => {
                flags = ESCAPED;
                cur.pos += 1;
            }
            chars::EF => cur.check_ef()?,
            _ => return Err(cur.err(XmlErrorKind::InvalidChar(b.into()))),
        }
    }
    nodes.push(Node {
        kind: Kind::Text,
        flags,
        ns: NO_NS,
        a: start as u32,
        b: cur.pos as u32,
        local: 0,
        d: 0,
        e: 0,
    });
    Ok(())
}

/// `nodes` encoded at the end of `block` (a new block if it has no room: of exactly their
/// size if `exact`) and split off.
pub(crate) fn encode(block: &mut BytesMut, nodes: &[Node], exact: bool) -> NodeIndex {
    let len = nodes.len() * Node::SIZE;
    if block.capacity() - block.len() < len {
        *block = BytesMut::with_capacity(if exact { len } else { len.max(INDEX_BLOCK) });
    }
    NodeIndex::encode(block, nodes);
    NodeIndex::new(block.split().freeze())
}

/// `bytes` as text, validated once here: the type carries the proof, so what is sliced from
/// it later is not checked again.
///
/// The crate's one `unsafe`: `ByteString::try_from` would validate with std's checker,
/// which over the inbound corpus costs 17 M instructions more than SIMD validation (the
/// online client 6% slower in all); so the SIMD check runs and the conversion is unchecked.
#[allow(unsafe_code)]
pub(crate) fn utf8(bytes: Bytes, base: u64) -> Result<ByteString> {
    check_utf8(&bytes, base)?;
    debug_assert!(std::str::from_utf8(&bytes).is_ok());
    // SAFETY: `check_utf8` has just validated exactly these bytes, and `Bytes` is immutable.
    Ok(unsafe { ByteString::from_bytes_unchecked(bytes) })
}

fn check_utf8(s: &[u8], base: u64) -> Result<()> {
    // The SIMD validator is several times faster than std's on non-ASCII text; its error
    // carries no position, so the slower one finds where the problem is.
    if simdutf8::basic::from_utf8(s).is_ok() {
        return Ok(());
    }
    let at = std::str::from_utf8(s).err().map_or(0, |e| e.valid_up_to());
    Err(XmlError::new(XmlErrorKind::InvalidUtf8, base + at as u64))
}

/// XML forbids the same qualified name twice on a tag; XML namespaces also forbid the same
/// expanded name (two prefixes bound to one namespace).
fn check_duplicates(
    cur: &Cursor<'_>,
    attrs: &[Node],
    nodes: &[Node],
    extra: &[Box<str>],
    scope: &Scope,
) -> Result<()> {
    let s = cur.s;
    let span = |a: u32, b: u32| &s[a as usize..b as usize];
    // Names are short: lengths first (most differ there), then an inline loop, which beats
    // calling memcmp.
    let same = |(a, b): (u32, u32), (c, d): (u32, u32)| {
        b.wrapping_sub(a) == d.wrapping_sub(c)
            && span(a, b).iter().zip(span(c, d)).all(|(x, y)| x == y)
    };
    for (i, x) in attrs.iter().enumerate() {
        for y in &attrs[..i] {
            let duplicate = match (x.kind, y.kind) {
                (Kind::Attr, Kind::Attr) => {
                    same((x.a, x.b), (y.a, y.b))
                        || (x.ns != NO_NS
                            && y.ns != NO_NS
                            && same((x.c(), x.b), (y.c(), y.b))
                            && ns_name(s, nodes, extra, scope, x.ns)
                                == ns_name(s, nodes, extra, scope, y.ns))
                }
                (Kind::NsDecl, Kind::NsDecl) => same((x.a, x.b), (y.a, y.b)),
                _ => false,
            };
            if duplicate {
                let name = if x.kind == Kind::NsDecl && x.a == x.b {
                    "xmlns".to_owned()
                } else if x.kind == Kind::NsDecl {
                    format!("xmlns:{}", String::from_utf8_lossy(span(x.a, x.b)))
                } else {
                    String::from_utf8_lossy(span(x.a, x.b)).into_owned()
                };
                return Err(XmlError::new(
                    XmlErrorKind::DuplicateAttribute(name),
                    cur.base + u64::from(x.a),
                ));
            }
        }
    }
    Ok(())
}

/// The namespace name of an id while the element is still being built.
fn ns_name<'a>(
    s: &'a [u8],
    nodes: &[Node],
    extra: &'a [Box<str>],
    scope: &'a Scope,
    id: u32,
) -> &'a [u8] {
    if id & LOCAL != 0 {
        match nodes.get((id & !LOCAL) as usize) {
            Some(n) if n.flags & ESCAPED != 0 => {
                extra.get(n.ns as usize).map_or(b"", |x| x.as_bytes())
            }
            Some(n) => &s[n.d as usize..n.e as usize],
            None => b"",
        }
    } else if id & super::element::OUTER != 0 {
        scope
            .bindings
            .get((id & !super::element::OUTER) as usize)
            .map_or(b"", |(_, ns)| ns.as_bytes())
    } else if id == XML_NS {
        ns::XML.as_bytes()
    } else {
        b""
    }
}

/// Parses the XML declaration `<?xml version='1.0' encoding='UTF-8' standalone='yes'?>`.
pub(crate) fn parse_declaration(s: &[u8], base: u64) -> Result<()> {
    use XmlErrorKind::MalformedDeclaration as Bad;
    check_utf8(s, base)?;
    let mut cur = Cursor {
        s,
        pos: 0,
        base,
        hit_end: Default::default(),
    };
    let err = |cur: &Cursor<'_>, what| cur.err(Bad(what));
    if !s.starts_with(b"<?xml") {
        return Err(cur.err(XmlErrorKind::ProcessingInstruction));
    }
    cur.pos = 5;
    let mut seen = 0; // 1: version, 2: encoding, 3: standalone
    loop {
        let had_ws = cur.skip_ws();
        if s[cur.pos..].starts_with(b"?>") && cur.pos + 2 == s.len() {
            break;
        }
        if !had_ws {
            return Err(if seen == 0 {
                cur.err(XmlErrorKind::ProcessingInstruction)
            } else {
                err(&cur, "expected white space between pseudo-attributes")
            });
        }
        let (a, _, b) = cur
            .qname()
            .map_err(|_| err(&cur, "expected a pseudo-attribute"))?;
        cur.skip_ws();
        cur.expect(b'=', "expected '='")
            .map_err(|_| err(&cur, "expected '='"))?;
        cur.skip_ws();
        let quote = match cur.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Err(err(&cur, "expected a quoted value")),
        };
        let vstart = cur.pos + 1;
        let Some(len) = memchr::memchr(quote, &s[vstart..]) else {
            return Err(err(&cur, "unterminated value"));
        };
        let value = std::str::from_utf8(&s[vstart..vstart + len]).unwrap_or_default();
        cur.pos = vstart + len + 1;
        match (&s[a as usize..b as usize], seen) {
            (b"version", 0) => {
                let minor = value.strip_prefix("1.").unwrap_or("");
                if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(&cur, "unsupported XML version"));
                }
                seen = 1;
            }
            (b"encoding", 1) => {
                if !value.eq_ignore_ascii_case("UTF-8") {
                    return Err(cur.err(XmlErrorKind::UnsupportedEncoding(value.to_owned())));
                }
                seen = 2;
            }
            (b"standalone", 1 | 2) => {
                if value != "yes" && value != "no" {
                    return Err(err(&cur, "standalone must be 'yes' or 'no'"));
                }
                seen = 3;
            }
            _ => return Err(err(&cur, "unexpected pseudo-attribute")),
        }
    }
    if seen == 0 {
        return Err(err(&cur, "the version is missing"));
    }
    Ok(())
}

//! Outbound elements: an owned tree with a serializer that escapes correctly and declares
//! namespaces only where they change.

use std::borrow::Cow;

use bytes::Bytes;

use super::chars::is_ncname;
use super::element::ElementRef;
use super::escape::{escape_attr, escape_text};
use super::{Child, UnrepresentableChar};
use crate::jid::Jid;
use crate::ns;

type Str = Cow<'static, str>;

/// What a [`Builder`] takes as an attribute value or as text: `&str` and `&String` (copied),
/// `String` and `Cow<'static, str>` (moved), a [`Jid`] or `&Jid`, `char`, and integers.
///
/// ```
/// use xmpp_sansio::{jid::Jid, ns, xml::Builder};
///
/// let to: Jid = "juliet@example.com/balcony".parse()?;
/// let body = String::from("hi");
/// let msg = Builder::new("message", ns::JABBER_CLIENT)
///     .attr("to", &to)
///     .child(Builder::new("body", ns::JABBER_CLIENT).text(body.as_str()));
/// assert_eq!(
///     &msg.to_bytes(ns::JABBER_CLIENT)?[..],
///     b"<message to='juliet@example.com/balcony'><body>hi</body></message>"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait IntoText {
    /// The text, owned.
    fn into_text(self) -> Cow<'static, str>;
}

impl IntoText for &str {
    fn into_text(self) -> Str {
        Cow::Owned(self.to_owned())
    }
}

impl IntoText for &String {
    fn into_text(self) -> Str {
        Cow::Owned(self.clone())
    }
}

impl IntoText for String {
    fn into_text(self) -> Str {
        Cow::Owned(self)
    }
}

impl IntoText for Cow<'static, str> {
    fn into_text(self) -> Str {
        self
    }
}

impl IntoText for &Jid {
    fn into_text(self) -> Str {
        Cow::Owned(self.as_str().to_owned())
    }
}

impl IntoText for Jid {
    fn into_text(self) -> Str {
        Cow::Owned(self.as_str().to_owned())
    }
}

impl IntoText for &bytestring::ByteString {
    fn into_text(self) -> Str {
        Cow::Owned(self.to_string())
    }
}

impl IntoText for bytestring::ByteString {
    fn into_text(self) -> Str {
        Cow::Owned(self.to_string())
    }
}

impl IntoText for char {
    fn into_text(self) -> Str {
        Cow::Owned(self.to_string())
    }
}

macro_rules! integer_text {
    ($($t:ty),*) => {$(
        impl IntoText for $t {
            fn into_text(self) -> Str {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
integer_text!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

/// An element to send, built from owned or `'static` strings.
///
/// ```
/// use xmpp_sansio::{ns, xml::Builder};
///
/// let msg = Builder::new("message", ns::JABBER_CLIENT)
///     .attr("to", "juliet@example.com")
///     .attr("type", "chat")
///     .child(Builder::new("body", ns::JABBER_CLIENT).text("1 < 2 & \"quotes\""));
/// let bytes = msg.to_bytes(ns::JABBER_CLIENT)?;
/// assert_eq!(
///     &bytes[..],
///     b"<message to='juliet@example.com' type='chat'><body>1 &lt; 2 &amp; \"quotes\"</body></message>"
/// );
/// # Ok::<(), xmpp_sansio::xml::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    name: Str,
    ns: Str,
    /// `(local name, namespace, value)`; the namespace is `""` for ordinary attributes.
    attrs: Vec<(Str, Str, Str)>,
    children: Vec<Node>,
}

/// A child of a [`Builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Builder),
    /// Character data (escaped when serialized).
    Text(Str),
}

/// Why an element could not be serialized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An element or attribute name that is not an XML name without a colon.
    #[error("'{0}' is not a valid XML element or attribute name")]
    InvalidName(String),
    /// Text or an attribute value with a character XML 1.0 cannot carry (such as U+0000).
    #[error(transparent)]
    InvalidChar(#[from] UnrepresentableChar),
}

impl Builder {
    /// An element with this local name in this namespace (`""` for none).
    pub fn new(name: impl Into<Str>, ns: impl Into<Str>) -> Self {
        Self {
            name: name.into(),
            ns: ns.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Sets an attribute without namespace (replacing one of the same name).
    pub fn attr(self, name: impl Into<Str>, value: impl IntoText) -> Self {
        self.attr_ns(name, "", value)
    }

    /// Sets the attribute `name` if `value` is `Some`.
    pub fn attr_opt(self, name: impl Into<Str>, value: Option<impl IntoText>) -> Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Sets a namespaced attribute, such as `xml:lang` (`attr_ns("lang", ns::XML, "en")`).
    pub fn attr_ns(
        mut self,
        name: impl Into<Str>,
        ns: impl Into<Str>,
        value: impl IntoText,
    ) -> Self {
        self.set_attr_ns(name, ns, value);
        self
    }

    /// Appends a child element.
    pub fn child(mut self, child: Builder) -> Self {
        self.push(Node::Element(child));
        self
    }

    /// Appends text.
    pub fn text(mut self, text: impl IntoText) -> Self {
        self.push(Node::Text(text.into_text()));
        self
    }

    /// Appends a child element `<name>text</name>` in the same namespace as this one: the
    /// common shape of simple fields (`<body/>`, `<status/>`, `<username/>`).
    pub fn text_child(self, name: impl Into<Str>, text: impl IntoText) -> Self {
        let child = Builder::new(name, self.ns.clone()).text(text);
        self.child(child)
    }

    /// Sets an attribute without namespace, in place.
    pub fn set_attr(&mut self, name: impl Into<Str>, value: impl IntoText) {
        self.set_attr_ns(name, "", value);
    }

    /// Sets a namespaced attribute, in place.
    pub fn set_attr_ns(&mut self, name: impl Into<Str>, ns: impl Into<Str>, value: impl IntoText) {
        let (name, ns, value) = (name.into(), ns.into(), value.into_text());
        match self
            .attrs
            .iter_mut()
            .find(|(n, s, _)| *n == name && *s == ns)
        {
            Some(slot) => slot.2 = value,
            None => self.attrs.push((name, ns, value)),
        }
    }

    /// Appends a child node; text next to text is merged, empty text dropped.
    pub fn push(&mut self, node: Node) {
        match node {
            Node::Text(t) if t.is_empty() => {}
            Node::Text(t) => match self.children.last_mut() {
                Some(Node::Text(prev)) => prev.to_mut().push_str(&t),
                _ => self.children.push(Node::Text(t)),
            },
            el => self.children.push(el),
        }
    }

    /// The local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace name.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The value of the attribute with this name and no namespace.
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, s, _)| n == name && s.is_empty())
            .map(|(_, _, v)| &**v)
    }

    /// The attributes as `(local name, namespace, value)`.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.attrs.iter().map(|(n, s, v)| (&**n, &**s, &**v))
    }

    /// The child nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// The child nodes, to change in place.
    pub(crate) fn nodes_mut(&mut self) -> &mut Vec<Node> {
        &mut self.children
    }

    /// The attributes as `(local name, namespace, value)`, to change in place.
    pub(crate) fn attrs_mut(&mut self) -> impl Iterator<Item = (&str, &str, &mut Str)> {
        self.attrs.iter_mut().map(|(n, s, v)| (&**n, &**s, v))
    }

    /// The child elements.
    pub fn children(&self) -> impl Iterator<Item = &Builder> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Serializes the element for a context whose default namespace is `default_ns` (on a
    /// client stream: [`ns::JABBER_CLIENT`]; for a standalone document: `""`).
    pub fn to_bytes(&self, default_ns: &str) -> Result<Bytes, BuildError> {
        let mut out = Vec::with_capacity(128);
        self.write_to(&mut out, default_ns)?;
        Ok(out.into())
    }

    /// Appends the serialization to `out`. On error `out` may hold a partial element.
    pub fn write_to(&self, out: &mut Vec<u8>, default_ns: &str) -> Result<(), BuildError> {
        if !is_ncname(&self.name) {
            return Err(BuildError::InvalidName(self.name.to_string()));
        }
        out.push(b'<');
        out.extend_from_slice(self.name.as_bytes());
        if self.ns != default_ns {
            out.extend_from_slice(b" xmlns='");
            escape_attr(out, &self.ns)?;
            out.push(b'\'');
        }
        // Namespaced attributes other than xml:* get prefixes declared here.
        let mut prefixes: Vec<&str> = Vec::new();
        for (name, ns, value) in &self.attrs {
            if !is_ncname(name) {
                return Err(BuildError::InvalidName(name.to_string()));
            }
            out.push(b' ');
            if *ns == ns::XML {
                out.extend_from_slice(b"xml:");
            } else if !ns.is_empty() {
                let i = match prefixes.iter().position(|p| p == ns) {
                    Some(i) => i,
                    None => {
                        prefixes.push(ns);
                        let i = prefixes.len() - 1;
                        out.extend_from_slice(format!("xmlns:ns{i}='").as_bytes());
                        escape_attr(out, ns)?;
                        out.extend_from_slice(b"' ");
                        i
                    }
                };
                out.extend_from_slice(format!("ns{i}:").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"='");
            escape_attr(out, value)?;
            out.push(b'\'');
        }
        if self.children.is_empty() {
            out.extend_from_slice(b"/>");
            return Ok(());
        }
        out.push(b'>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write_to(out, &self.ns)?,
                Node::Text(t) => escape_text(out, t)?,
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(self.name.as_bytes());
        out.push(b'>');
        Ok(())
    }
}

impl ElementRef<'_> {
    /// An owned copy to modify or serialize on its own; adjacent text runs are merged.
    pub fn to_builder(&self) -> Builder {
        let mut b = Builder::new(self.name().to_owned(), self.ns().to_owned());
        for a in self.attrs() {
            b.attrs.push((
                a.name().to_owned().into(),
                a.ns().to_owned().into(),
                a.value().into_owned().into(),
            ));
        }
        for child in self.child_nodes() {
            b.push(match child {
                Child::Element(e) => Node::Element(e.to_builder()),
                Child::Text(t) => Node::Text(t.value().into_owned().into()),
            });
        }
        b
    }
}

impl super::Element {
    /// An owned copy to modify or serialize on its own; see [`ElementRef::to_builder`].
    pub fn to_builder(&self) -> Builder {
        self.as_ref().to_builder()
    }
}

impl From<Builder> for Node {
    fn from(b: Builder) -> Self {
        Node::Element(b)
    }
}

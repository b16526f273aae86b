//! The incremental stream reader: bytes in, stream header / elements / stream end out.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use super::element::{Element, Scope};
use super::error::{XmlError, XmlErrorKind};
use super::framer::{Frame, Framer};
use super::parser::{parse_declaration, utf8, Parser};
use crate::ns;

/// Bounds on what a peer may make the reader hold or walk.
///
/// Exceeding one is a `policy-violation` stream error. Memory held by the reader stays
/// within `max_element_size` plus the bytes of the last [`StreamReader::feed`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest top-level element (or stream header), in bytes. Default: 1 MiB.
    pub max_element_size: usize,
    /// Deepest nesting inside a top-level element (the element itself is depth 1).
    /// Default: 64.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element. Default: 64.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_element_size: 1 << 20,
            max_depth: 64,
            max_attributes: 64,
        }
    }
}

/// The attributes of a received stream header (`<stream:stream ...>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamHeader {
    /// `from`: who sends the stream (for a client, the server's domain).
    pub from: Option<String>,
    /// `to`: whom the stream is for.
    pub to: Option<String>,
    /// `id`: the stream id.
    pub id: Option<String>,
    /// `version`: `1.0` for RFC 6120 streams; absent for pre-XMPP-1.0 peers.
    pub version: Option<String>,
    /// `xml:lang`: the default language of the stream.
    pub lang: Option<String>,
    /// The default namespace declared on the header (the content namespace, normally
    /// `jabber:client`).
    pub content_namespace: Option<String>,
}

/// What the reader produced.
// Boxing the element would cost an allocation per stanza to save a memcpy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// The stream header arrived (and with it the stream's namespace declarations).
    Header(StreamHeader),
    /// A complete top-level element (a stanza or a nonza such as `<stream:features/>`).
    Element(Element),
    /// The peer closed the stream with `</stream:stream>`.
    End,
}

/// An incremental reader of one XMPP stream.
///
/// Feed it bytes as they arrive, in chunks of any size, and pull events until it returns
/// `Ok(None)`. Work is linear in the bytes received: a chunk boundary anywhere, even inside a
/// multi-byte character, changes nothing. Errors are sticky and carry the stream error
/// condition to send.
///
/// ```
/// use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};
///
/// let mut reader = StreamReader::new(Limits::default());
/// reader.feed(b"<stream:stream xmlns='jabber:client' ");
/// assert!(reader.next_event()?.is_none()); // the header is not complete yet
/// reader.feed(b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
/// reader.feed(b"<message><body>hi &amp; bye</body></message>");
/// let Some(StreamEvent::Header(header)) = reader.next_event()? else { panic!() };
/// assert_eq!(header.version.as_deref(), Some("1.0"));
/// let Some(StreamEvent::Element(msg)) = reader.next_event()? else { panic!() };
/// assert!(msg.is("message", "jabber:client"));
/// assert_eq!(msg.get_child("body", "jabber:client").unwrap().text(), "hi & bye");
/// # Ok::<(), xmpp_sansio::xml::XmlError>(())
/// ```
pub struct StreamReader {
    buf: BytesMut,
    framer: Framer,
    parser: Parser,
    limits: Limits,
    /// Stream offset of `buf[0]`.
    offset: u64,
    scope: Option<Arc<Scope>>,
    /// Qualified name of the stream header, which the end tag must repeat.
    stream_qname: Box<str>,
    pending_end: bool,
    error: Option<XmlError>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("offset", &self.offset)
            .field("buffered", &self.buf.len())
            .field("header_seen", &self.scope.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// A reader expecting the start of a stream.
    pub fn new(limits: Limits) -> Self {
        Self {
            // Sized by what arrives: elements are split off it without copying, and a session
            // at rest holds no buffer (see `advance`).
            buf: BytesMut::new(),
            framer: Framer::new(),
            parser: Parser::new(limits.max_depth, limits.max_attributes),
            limits,
            offset: 0,
            scope: None,
            stream_qname: Box::from(""),
            pending_end: false,
            error: None,
        }
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends received bytes. Nothing is parsed until [`Self::next_event`] is called; after an
    /// error the bytes are dropped.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let needed = self.buf.len() + data.len();
        // Reuses the block in place when the elements split off it are gone (the usual case).
        if self.buf.capacity() < needed && !self.buf.try_reclaim(data.len()) {
            // Grown by half what it holds rather than doubled: a large element arriving in
            // pieces costs at most about 1.5 times its size in buffer. Room for another
            // input of this size, so that small reads do not each allocate.
            let slack = (self.buf.len() / 2).max(data.len());
            let mut grown = BytesMut::with_capacity(needed + slack);
            grown.extend_from_slice(&self.buf);
            self.buf = grown;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next event, `Ok(None)` when more input is needed.
    ///
    /// Call it until it returns `Ok(None)` after every [`Self::feed`].
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = self.advance();
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.buf = BytesMut::new();
        }
        result
    }

    /// Starts a new stream (after STARTTLS or SASL success): the next thing expected is a
    /// stream header. Bytes already fed but not yet consumed are kept: they belong to the new
    /// stream. Byte offsets in errors restart at 0.
    pub fn reset(&mut self) {
        self.framer = Framer::new();
        self.scope = None;
        self.stream_qname = Box::from("");
        self.pending_end = false;
        self.error = None;
        self.offset = 0;
        self.parser.clear();
    }

    /// Bytes fed but not consumed yet. After `<proceed/>` (STARTTLS) this must be empty:
    /// anything else arrived in plaintext after the switch and must not be trusted.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Discards and returns the unconsumed bytes, and starts afresh as [`Self::reset`] does.
    pub fn take_buffered(&mut self) -> Bytes {
        self.reset();
        self.buf.split().freeze()
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.framer.shift(n);
        self.offset += n as u64;
    }

    fn advance(&mut self) -> Result<Option<StreamEvent>, XmlError> {
        if self.pending_end {
            self.pending_end = false;
            return Ok(Some(StreamEvent::End));
        }
        loop {
            if let Some(el) = self.parse_in_place()? {
                return Ok(Some(StreamEvent::Element(el)));
            }
            let frame = self
                .framer
                .next(
                    &self.buf,
                    self.limits.max_element_size,
                    self.limits.max_depth,
                )
                .map_err(|(kind, pos)| XmlError::new(kind, self.offset + pos as u64))?;
            match frame {
                Frame::Incomplete => {
                    let n = self.framer.discardable();
                    if n > 0 {
                        self.consume(n);
                    }
                    if self.buf.is_empty() {
                        // Drained: let go of the block (elements still alive keep only their
                        // own part of it), so an idle session holds no read buffer.
                        self.buf = BytesMut::new();
                        self.parser.release();
                    }
                    return Ok(None);
                }
                Frame::Declaration { start, end } => {
                    parse_declaration(&self.buf[start..end], self.offset + start as u64)?;
                    self.consume(end);
                }
                Frame::Header { start, end, empty } => {
                    let header = self.header(start, end)?;
                    self.consume(end);
                    self.pending_end = empty;
                    return Ok(Some(StreamEvent::Header(header)));
                }
                Frame::Element { start, end } => {
                    let base = self.offset + start as u64;
                    self.consume(start);
                    let bytes = self.buf.split_to(end - start).freeze();
                    self.framer.shift(end - start);
                    self.offset += (end - start) as u64;
                    let Some(scope) = &self.scope else {
                        let kind = XmlErrorKind::Malformed("element before the stream header");
                        return Err(XmlError::new(kind, base));
                    };
                    let el = self.parser.parse_element(bytes, scope, base)?;
                    return Ok(Some(StreamEvent::Element(el)));
                }
                Frame::StreamEnd { start, end } => {
                    Parser::check_end_tag(
                        &self.buf[start..end],
                        &self.stream_qname,
                        self.offset + start as u64,
                    )?;
                    self.consume(end);
                    return Ok(Some(StreamEvent::End));
                }
            }
        }
    }

    /// The fast path: when a top-level element starts in the buffer, parse it right there,
    /// a single pass over its bytes. If it has not fully arrived, the framer continues from
    /// where the parse stopped; if it is malformed or too large, the framer takes it from its
    /// `<`, so results never depend on how the input was chunked.
    fn parse_in_place(&mut self) -> Result<Option<Element>, XmlError> {
        let Some(scope) = self.scope.as_ref() else {
            return Ok(None);
        };
        let Some(at) = self.framer.element_start(&self.buf) else {
            return Ok(None);
        };
        let window = &self.buf[at..self.buf.len().min(at + self.limits.max_element_size)];
        let base = self.offset + at as u64;
        match self.parser.parse(window, scope, base, false) {
            Ok(len) => {
                self.framer.skip(len);
                self.buf.advance(at);
                let bytes = self.buf.split_to(len).freeze();
                self.framer.shift(at + len);
                self.offset += (at + len) as u64;
                // Bytes >= 0x80 never decide structure, so validating the element's bytes
                // after parsing it is equivalent to validating first (as the framer's way
                // does), and reports the same position.
                let text = utf8(bytes, base)?;
                Ok(Some(self.parser.finish(text, scope)))
            }
            Err(_) => {
                if let Some((resume, open)) = self.parser.resume_point() {
                    self.framer.resume(resume, open);
                }
                Ok(None)
            }
        }
    }

    fn header(&mut self, start: usize, end: usize) -> Result<StreamHeader, XmlError> {
        let base = self.offset + start as u64;
        let tag = Bytes::copy_from_slice(&self.buf[start..end]);
        let el = self.parser.parse_start_tag(tag, base)?;
        let root = el.as_ref();
        if !root.is("stream", ns::STREAM) {
            let name = match root.ns() {
                "" => root.qname().to_owned(),
                ns => format!("{{{ns}}}{}", root.name()),
            };
            return Err(XmlError::new(XmlErrorKind::InvalidStreamHeader(name), base));
        }
        let mut scope = Scope::default();
        for (prefix, uri) in root.namespace_declarations() {
            scope.bindings.push((prefix.into(), uri.into()));
        }
        let attr = |name: &str| root.attr(name).map(|v| v.into_owned());
        let lang = root.attr_ns("lang", ns::XML).map(|v| v.into_owned());
        scope.lang = lang.as_deref().map(Box::from);
        let header = StreamHeader {
            from: attr("from"),
            to: attr("to"),
            id: attr("id"),
            version: attr("version"),
            lang,
            content_namespace: scope
                .bindings
                .iter()
                .rev()
                .find(|(p, _)| p.is_empty())
                .map(|(_, uri)| uri.to_string())
                .filter(|uri| !uri.is_empty()),
        };
        self.stream_qname = root.qname().into();
        self.scope = Some(Arc::new(scope));
        Ok(header)
    }
}

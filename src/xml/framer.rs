//! Finds where top-level elements end, resumably and in one pass over the bytes.
//!
//! The framer keeps its scan position and state between inputs, so bytes are looked at once
//! however the stream is chunked. It tracks only what decides element boundaries — tags,
//! quoted attribute values, CDATA sections, nesting depth — and refuses the constructs that
//! RFC 6120 §11 forbids as soon as it sees them. Everything else is checked by the parser
//! on the complete element.

use memchr::{memchr, memchr3};

use super::chars::is_ws;
use super::error::XmlErrorKind;

/// What the framer found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// More input is needed.
    Incomplete,
    /// The XML declaration at `buf[start..end]` (it can only start the stream).
    Declaration { start: usize, end: usize },
    /// The stream header's start tag at `buf[start..end]`; `empty` for `<stream:stream/>`.
    Header {
        start: usize,
        end: usize,
        empty: bool,
    },
    /// A complete top-level element at `buf[start..end]`.
    Element { start: usize, end: usize },
    /// The stream's end tag at `buf[start..end]`.
    StreamEnd { start: usize, end: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tags.
    Text,
    /// Just after a `<`.
    Lt,
    /// Inside a start tag, outside quotes.
    StartTag,
    /// Inside a quoted attribute value.
    Quote(u8),
    EndTag,
    /// After `<!`, deciding between CDATA and forbidden markup.
    Bang,
    CData,
    /// Inside the XML declaration.
    Declaration,
}

#[derive(Debug)]
pub(crate) struct Framer {
    pos: usize,
    state: State,
    /// Open elements, the stream element included: 0 before the header, 1 between stanzas.
    depth: usize,
    /// Start of the construct being framed (the stream header or a top-level element).
    start: usize,
    /// The `<` of the tag being scanned.
    lt: usize,
    /// Nothing but white space has been seen yet: an XML declaration may come.
    at_stream_start: bool,
    ended: bool,
    /// Names of the open elements inside the current top-level element, as offsets from
    /// `start`, so that a mismatched end tag is refused when it arrives, not when (if ever)
    /// the nesting balances out.
    open: Vec<(u32, u32)>,
}

pub(crate) type FrameResult = Result<Frame, (XmlErrorKind, usize)>;

impl Framer {
    pub(crate) fn new() -> Self {
        Self {
            pos: 0,
            state: State::Text,
            depth: 0,
            start: 0,
            lt: 0,
            at_stream_start: true,
            ended: false,
            open: Vec::new(),
        }
    }

    /// Between stanzas, skips white space and returns where the next top-level element
    /// starts if its first tag has begun arriving. The caller may then parse it directly,
    /// and on success [`Self::skip`] it; otherwise [`Self::next`] frames it as usual.
    pub(crate) fn element_start(&mut self, buf: &[u8]) -> Option<usize> {
        if self.state != State::Text || self.depth != 1 {
            return None;
        }
        let rest = &buf[self.pos..];
        self.pos += rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
        match buf.get(self.pos..self.pos + 2) {
            Some([b'<', next]) if !matches!(next, b'/' | b'!' | b'?') => Some(self.pos),
            _ => None,
        }
    }

    /// The caller parsed the element at [`Self::element_start`] well-formed up to `start + at`
    /// where its input ended, with the elements named by `open` (spans relative to `start`)
    /// open there: continue framing from that point instead of from `start`.
    pub(crate) fn resume(&mut self, at: usize, open: impl Iterator<Item = (u32, u32)>) {
        let start = self.pos;
        self.open.clear();
        self.open.extend(open);
        if self.open.is_empty() {
            // Still in the first tag: frame the element from its start.
            return;
        }
        self.depth = 1 + self.open.len();
        self.start = start;
        self.lt = start + at;
        self.pos = start + at;
    }

    /// The caller consumed a top-level element of `len` bytes at [`Self::element_start`].
    pub(crate) fn skip(&mut self, len: usize) {
        self.pos += len;
    }

    /// Bytes at the front of the buffer that are no longer needed.
    pub(crate) fn discardable(&self) -> usize {
        if self.state == State::Text && self.depth <= 1 {
            self.pos
        } else {
            self.start
        }
    }

    /// The caller removed `n` bytes (at most [`Self::discardable`], or a whole frame) from the
    /// front of the buffer.
    pub(crate) fn shift(&mut self, n: usize) {
        self.pos -= n;
        self.start = self.start.saturating_sub(n);
        self.lt = self.lt.saturating_sub(n);
    }

    /// Scans on from where the last call stopped. `max_size` bounds every frame; `max_depth`
    /// bounds nesting inside a top-level element.
    pub(crate) fn next(&mut self, buf: &[u8], max_size: usize, max_depth: usize) -> FrameResult {
        loop {
            match self.state {
                State::Text if self.depth >= 2 => {
                    let window = self.window(buf, max_size);
                    match memchr(b'<', &buf[self.pos..window]) {
                        Some(i) => {
                            self.lt = self.pos + i;
                            self.pos = self.lt + 1;
                            self.state = State::Lt;
                        }
                        None => {
                            self.pos = window;
                            return self.incomplete(buf, max_size);
                        }
                    }
                }
                State::Text => {
                    // Between stanzas (or before the header) only white space may appear.
                    let rest = &buf[self.pos..];
                    let ws = rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len());
                    // White space before the XML declaration is not XML, but a keepalive
                    // sent just before a stream restart puts it there; accept it.
                    self.pos += ws;
                    let Some(&b) = buf.get(self.pos) else {
                        return Ok(Frame::Incomplete);
                    };
                    if self.ended {
                        return Err((XmlErrorKind::DataAfterStreamEnd, self.pos));
                    }
                    if b != b'<' {
                        let kind = if self.depth == 0 {
                            XmlErrorKind::Malformed("expected the stream header")
                        } else {
                            XmlErrorKind::TextOutsideStanza
                        };
                        return Err((kind, self.pos));
                    }
                    self.start = self.pos;
                    self.lt = self.pos;
                    self.pos += 1;
                    self.open.clear();
                    self.state = State::Lt;
                }
                State::Lt => {
                    // Like every look at the input, bounded by the size window: a decision
                    // taken on bytes past it would depend on whether they had arrived yet.
                    let window = self.window(buf, max_size);
                    let Some(&b) = buf[..window].get(self.pos) else {
                        return self.incomplete(buf, max_size);
                    };
                    let may_declare = std::mem::replace(&mut self.at_stream_start, false);
                    match b {
                        b'/' => {
                            if self.depth == 0 {
                                return Err((
                                    XmlErrorKind::Malformed("expected the stream header"),
                                    self.lt,
                                ));
                            }
                            self.pos += 1;
                            self.state = State::EndTag;
                        }
                        b'!' => self.state = State::Bang,
                        b'?' if may_declare => {
                            self.pos += 1;
                            self.state = State::Declaration;
                        }
                        b'?' => return Err((XmlErrorKind::ProcessingInstruction, self.lt)),
                        _ => self.state = State::StartTag,
                    }
                }
                State::StartTag => {
                    let window = self.window(buf, max_size);
                    let Some(i) = memchr3(b'>', b'"', b'\'', &buf[self.pos..window]) else {
                        self.pos = window;
                        return self.incomplete(buf, max_size);
                    };
                    let at = self.pos + i;
                    self.pos = at + 1;
                    if buf[at] != b'>' {
                        self.state = State::Quote(buf[at]);
                        continue;
                    }
                    self.state = State::Text;
                    let empty = at > self.lt + 1 && buf[at - 1] == b'/';
                    if self.depth == 0 {
                        self.depth = 1;
                        if empty {
                            self.depth = 0;
                            self.ended = true;
                        }
                        return self.frame(
                            Frame::Header {
                                start: self.start,
                                end: self.pos,
                                empty,
                            },
                            max_size,
                        );
                    }
                    // Depth of this element inside its top-level element: stream is depth 1.
                    if self.depth > max_depth {
                        return Err((XmlErrorKind::TooDeep { limit: max_depth }, self.lt));
                    }
                    if empty {
                        if self.depth == 1 {
                            let frame = Frame::Element {
                                start: self.start,
                                end: self.pos,
                            };
                            return self.frame(frame, max_size);
                        }
                    } else {
                        self.depth += 1;
                        let name = tag_name(buf, self.lt + 1);
                        self.open.push((
                            (name.start - self.start) as u32,
                            (name.end - self.start) as u32,
                        ));
                    }
                }
                State::Quote(q) => {
                    let window = self.window(buf, max_size);
                    match memchr(q, &buf[self.pos..window]) {
                        Some(i) => {
                            self.pos += i + 1;
                            self.state = State::StartTag;
                        }
                        None => {
                            self.pos = window;
                            return self.incomplete(buf, max_size);
                        }
                    }
                }
                State::EndTag => {
                    let window = self.window(buf, max_size);
                    let Some(i) = memchr(b'>', &buf[self.pos..window]) else {
                        self.pos = window;
                        return self.incomplete(buf, max_size);
                    };
                    self.pos += i + 1;
                    self.state = State::Text;
                    self.depth -= 1;
                    if let Some((a, b)) = self.open.pop() {
                        let expected = &buf[self.start + a as usize..self.start + b as usize];
                        let found = &buf[tag_name(buf, self.lt + 2)];
                        if expected != found {
                            let kind = XmlErrorKind::MismatchedEndTag {
                                expected: String::from_utf8_lossy(expected).into_owned(),
                                found: String::from_utf8_lossy(found).into_owned(),
                            };
                            return Err((kind, self.lt));
                        }
                    }
                    match self.depth {
                        1 => {
                            let frame = Frame::Element {
                                start: self.start,
                                end: self.pos,
                            };
                            return self.frame(frame, max_size);
                        }
                        0 => {
                            self.ended = true;
                            return Ok(Frame::StreamEnd {
                                start: self.lt,
                                end: self.pos,
                            });
                        }
                        _ => {}
                    }
                }
                State::Bang => {
                    const CDATA: &[u8] = b"<![CDATA[";
                    const DOCTYPE: &[u8] = b"<!DOCTYPE";
                    let window = self.window(buf, max_size);
                    let have = &buf[self.lt..window.min(self.lt + CDATA.len())];
                    if have.len() >= 4 && have.starts_with(b"<!--") {
                        return Err((XmlErrorKind::Comment, self.lt));
                    }
                    if have == DOCTYPE {
                        return Err((XmlErrorKind::Doctype, self.lt));
                    }
                    if have == CDATA {
                        if self.depth < 2 {
                            return Err((XmlErrorKind::TextOutsideStanza, self.lt));
                        }
                        self.pos = self.lt + CDATA.len();
                        self.state = State::CData;
                        continue;
                    }
                    let undecided = have.len() < CDATA.len()
                        && (CDATA.starts_with(have)
                            || DOCTYPE.starts_with(have)
                            || b"<!--".starts_with(have));
                    if undecided {
                        return self.incomplete(buf, max_size);
                    }
                    return Err((
                        XmlErrorKind::Malformed("'<!' that does not start a CDATA section"),
                        self.lt,
                    ));
                }
                State::CData => {
                    let window = self.window(buf, max_size);
                    let Some(i) = memchr(b'>', &buf[self.pos..window]) else {
                        self.pos = window;
                        return self.incomplete(buf, max_size);
                    };
                    let at = self.pos + i;
                    self.pos = at + 1;
                    if at >= self.lt + 11 && &buf[at - 2..at] == b"]]" {
                        self.state = State::Text;
                    }
                }
                State::Declaration => {
                    let window = self.window(buf, max_size);
                    let Some(i) = memchr(b'>', &buf[self.pos..window]) else {
                        self.pos = window;
                        return self.incomplete(buf, max_size);
                    };
                    let at = self.pos + i;
                    self.pos = at + 1;
                    if buf[at - 1] == b'?' && at >= self.lt + 3 {
                        self.state = State::Text;
                        return self.frame(
                            Frame::Declaration {
                                start: self.start,
                                end: self.pos,
                            },
                            max_size,
                        );
                    }
                }
            }
        }
    }

    /// Scanning stops at the size limit, so a hostile peer cannot make us scan (or keep)
    /// more than that for one element.
    fn window(&self, buf: &[u8], max_size: usize) -> usize {
        // Never before `pos`: a tag's first bytes may already lie past the limit.
        let limit = self.start.saturating_add(max_size).saturating_add(1);
        buf.len().min(limit).max(self.pos)
    }

    fn incomplete(&self, buf: &[u8], max_size: usize) -> FrameResult {
        if buf.len() - self.start > max_size {
            return Err((
                XmlErrorKind::ElementTooLarge { limit: max_size },
                self.start,
            ));
        }
        Ok(Frame::Incomplete)
    }

    fn frame(&self, frame: Frame, max_size: usize) -> FrameResult {
        if self.pos - self.start > max_size {
            return Err((
                XmlErrorKind::ElementTooLarge { limit: max_size },
                self.start,
            ));
        }
        Ok(frame)
    }
}

/// The name of the tag whose name starts at `from`: up to white space, `/` or `>`.
fn tag_name(buf: &[u8], from: usize) -> std::ops::Range<usize> {
    let rest = buf.get(from..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&b| is_ws(b) || b == b'/' || b == b'>')
        .unwrap_or(rest.len());
    from..from + len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the framer over `input` fed in `chunk`-byte steps, the header with no limit and
    /// the rest with `max`; returns the frames, or stops at the first error.
    fn frames(input: &[u8], chunk: usize, max: usize) -> Vec<Result<Frame, XmlErrorKind>> {
        let mut f = Framer::new();
        let mut out = Vec::new();
        let mut end = 0;
        let mut limit = usize::MAX;
        while end < input.len() {
            end = (end + chunk).min(input.len());
            loop {
                match f.next(&input[..end], limit, 8) {
                    Ok(Frame::Incomplete) => break,
                    Ok(frame) => {
                        if matches!(frame, Frame::Header { .. }) {
                            limit = max;
                        }
                        out.push(Ok(frame));
                    }
                    Err((kind, _)) => {
                        out.push(Err(kind));
                        return out;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_limit_at_every_construct_is_safe_and_exact() {
        let header = b"<?xml version='1.0'?><s:stream xmlns:s='http://etherx.jabber.org/streams'>";
        let body = b"<a x='>'><b/><![CDATA[<c>]]></a> <d></d></s:stream>";
        let input = [&header[..], &body[..]].concat();
        for max in 0..body.len() + 2 {
            let whole = frames(&input, input.len(), max);
            for chunk in [1, 2, 5] {
                assert_eq!(frames(&input, chunk, max), whole, "max {max} chunk {chunk}");
            }
            let too_large = whole
                .iter()
                .any(|f| matches!(f, Err(XmlErrorKind::ElementTooLarge { .. })));
            assert_eq!(too_large, max < 32, "max {max}: {whole:?}");
        }
    }

    #[test]
    fn markup_cut_by_the_size_limit_is_judged_on_the_window_alone() {
        // Found by fuzzing: `<!` or `<?` right at the limit was refused as malformed when the
        // bytes after it had arrived, and as too large when they had not.
        let header = b"<s:stream xmlns:s='http://etherx.jabber.org/streams'>";
        for tail in [
            "<![CDAVA[",
            "<?pi?>",
            "<!-- c -->",
            "<!DOCTYPE x>",
            "<![CDATA[x]]></a>",
        ] {
            for pad in 0..12 {
                let body = format!("<a>{}{tail}", "x".repeat(pad));
                let input = [&header[..], body.as_bytes()].concat();
                for max in 0..body.len() + 2 {
                    let whole = frames(&input, input.len(), max);
                    for chunk in [1, 2, 3, 7] {
                        assert_eq!(frames(&input, chunk, max), whole, "{body} max {max}");
                    }
                }
            }
        }
    }

    #[test]
    fn frames_of_a_small_stream() {
        let input = b"<?xml version='1.0'?><stream><a x='/>'/> <b><c/>t</b></stream>";
        let got = frames(input, input.len(), 1000);
        assert_eq!(
            got,
            vec![
                Ok(Frame::Declaration { start: 0, end: 21 }),
                Ok(Frame::Header {
                    start: 21,
                    end: 29,
                    empty: false
                }),
                Ok(Frame::Element { start: 29, end: 40 }),
                Ok(Frame::Element { start: 41, end: 53 }),
                Ok(Frame::StreamEnd { start: 53, end: 62 }),
            ]
        );
    }
}

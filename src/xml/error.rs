//! Errors of the XML stream layer.

use crate::StreamErrorCondition;

/// Why the stream reader refused its input, and where.
///
/// Errors are sticky: after one, the reader returns the same error forever. Each maps to the
/// stream error condition RFC 6120 prescribes ([`XmlError::condition`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset} of the stream)")]
pub struct XmlError {
    kind: XmlErrorKind,
    offset: u64,
}

impl XmlError {
    pub(crate) fn new(kind: XmlErrorKind, offset: u64) -> Self {
        Self { kind, offset }
    }

    /// What was wrong.
    pub fn kind(&self) -> &XmlErrorKind {
        &self.kind
    }

    /// Byte offset, counted from the start of the current stream (it restarts at 0 after
    /// [`StreamReader::reset`](crate::xml::StreamReader::reset)), where the problem was found.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The stream error condition to send to the peer for this error (RFC 6120 §4.9.3).
    pub fn condition(&self) -> StreamErrorCondition {
        self.kind.condition()
    }
}

/// What the stream reader refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlErrorKind {
    /// The bytes are not valid UTF-8 (RFC 6120 §11.6).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A character that XML 1.0 does not allow, literally or by reference.
    #[error("character U+{0:04X} is not allowed in XML")]
    InvalidChar(u32),
    /// An XML comment; RFC 6120 §11.1 forbids them.
    #[error("XML comments are not allowed in XMPP")]
    Comment,
    /// A processing instruction other than the leading XML declaration (RFC 6120 §11.1).
    #[error("processing instructions are not allowed in XMPP")]
    ProcessingInstruction,
    /// A document type declaration (RFC 6120 §11.1).
    #[error("DOCTYPE declarations are not allowed in XMPP")]
    Doctype,
    /// A reference to an entity other than the five predefined ones (RFC 6120 §11.1).
    #[error("reference to undeclared entity '&{0};'")]
    UndeclaredEntity(String),
    /// A `&` that does not start a well-formed entity or character reference.
    #[error("malformed entity or character reference")]
    MalformedReference,
    /// An end tag that does not match the open element.
    #[error("end tag </{found}> does not match <{expected}>")]
    MismatchedEndTag {
        /// The qualified name of the open element.
        expected: String,
        /// The qualified name in the end tag.
        found: String,
    },
    /// The same attribute twice on one element (by qualified or by expanded name).
    #[error("duplicate attribute '{0}'")]
    DuplicateAttribute(String),
    /// A namespace prefix that no declaration in scope binds.
    #[error("namespace prefix '{0}' is not declared")]
    UnboundPrefix(String),
    /// A namespace declaration that XML namespaces forbid (for example rebinding `xmlns`).
    #[error("invalid namespace declaration: {0}")]
    InvalidNamespaceDeclaration(&'static str),
    /// Syntax that is not well-formed XML; the text says what was expected.
    #[error("malformed XML: {0}")]
    Malformed(&'static str),
    /// Character data directly inside the stream element (only white space may appear there).
    #[error("text outside of any stanza")]
    TextOutsideStanza,
    /// A top-level element (or the stream header) larger than the configured limit.
    #[error("element exceeds the limit of {limit} bytes")]
    ElementTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// Elements nested deeper than the configured limit.
    #[error("elements nested deeper than the limit of {limit}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// More attributes on one element than the configured limit.
    #[error("more than {limit} attributes on one element")]
    TooManyAttributes {
        /// The configured limit.
        limit: usize,
    },
    /// The XML declaration names an encoding other than UTF-8.
    #[error("unsupported encoding '{0}' (XMPP uses UTF-8)")]
    UnsupportedEncoding(String),
    /// The XML declaration is malformed or names an XML version other than 1.0.
    #[error("malformed XML declaration: {0}")]
    MalformedDeclaration(&'static str),
    /// The stream header is not `<stream>` qualified by `http://etherx.jabber.org/streams`.
    #[error("stream header is <{0}>, not <stream/> in the streams namespace")]
    InvalidStreamHeader(String),
    /// Non-white-space data after the end of the stream.
    #[error("data after the end of the stream")]
    DataAfterStreamEnd,
}

impl XmlErrorKind {
    /// The stream error condition RFC 6120 prescribes for this refusal.
    pub fn condition(&self) -> StreamErrorCondition {
        use XmlErrorKind::*;
        match self {
            InvalidUtf8 | UnsupportedEncoding(_) => StreamErrorCondition::UnsupportedEncoding,
            Comment | ProcessingInstruction | Doctype | UndeclaredEntity(_) => {
                StreamErrorCondition::RestrictedXml
            }
            UnboundPrefix(_) => StreamErrorCondition::BadNamespacePrefix,
            InvalidStreamHeader(_) => StreamErrorCondition::InvalidNamespace,
            ElementTooLarge { .. } | TooDeep { .. } | TooManyAttributes { .. } => {
                StreamErrorCondition::PolicyViolation
            }
            TextOutsideStanza => StreamErrorCondition::BadFormat,
            InvalidChar(_)
            | MalformedReference
            | MismatchedEndTag { .. }
            | DuplicateAttribute(_)
            | InvalidNamespaceDeclaration(_)
            | Malformed(_)
            | MalformedDeclaration(_)
            | DataAfterStreamEnd => StreamErrorCondition::NotWellFormed,
        }
    }
}

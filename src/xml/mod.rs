//! The XML stream layer: an incremental reader of restricted XML (RFC 6120 §11), zero-copy
//! received elements, and a builder and serializer for outbound elements.
//!
//! [`StreamReader`] turns bytes into a [`StreamHeader`], top-level [`Element`]s and the end of
//! the stream. [`Builder`] makes elements to send.

mod builder;
mod chars;
mod cursor;
mod element;
mod error;
mod escape;
mod framer;
mod parser;
mod reader;
mod subtree;

pub use builder::{BuildError, Builder, IntoText, Node};
pub use element::{Attribute, Attributes, Child, ChildNodes, Children, Element, ElementRef, Text};
pub use error::{XmlError, XmlErrorKind};
pub use escape::UnrepresentableChar;
pub use reader::{Limits, StreamEvent, StreamHeader, StreamReader};

pub(crate) use escape::escape_attr as escape_attr_value;

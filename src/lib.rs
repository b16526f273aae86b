//! A sans-IO XMPP client core.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod jid;
pub mod ns;
pub mod stream_error;
pub mod xml;

pub use stream_error::StreamErrorCondition;

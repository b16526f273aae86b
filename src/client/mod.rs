//! The sans-IO client: a state machine from stream header to an authenticated, bound session.

pub mod sasl;
pub mod stanza;

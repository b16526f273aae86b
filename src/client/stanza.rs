//! Stanzas.

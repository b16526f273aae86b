//! STARTTLS (RFC 6120 §5).

use std::time::Instant;

use bytes::Bytes;

use super::{Action, Client, DisconnectReason, Phase, TlsPolicy};
use crate::ns;
use crate::xml::Element;
use crate::StreamErrorCondition;

impl Client {
    /// Features arrived on an unencrypted stream.
    pub(super) fn negotiate_tls(&mut self, now: Instant) {
        let offered = self.features.as_ref().is_some_and(|f| f.starttls.is_some());
        if offered {
            tracing::debug!("STARTTLS");
            self.send(
                now,
                Bytes::from_static(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            );
            self.phase = Phase::ExpectProceed;
            return;
        }
        match self.config.tls {
            TlsPolicy::Required => {
                // Nothing sensitive has been sent: only the stream header, without `from`.
                self.fail(
                    now,
                    DisconnectReason::TlsNotOffered,
                    Some(StreamErrorCondition::PolicyViolation),
                );
            }
            TlsPolicy::DangerousPlaintextAllowed => {
                tracing::warn!("no STARTTLS offered: going on unencrypted, as the policy allows");
                self.register_or_authenticate(now)
            }
        }
    }

    /// `<proceed/>` or `<failure/>` after our `<starttls/>`.
    pub(super) fn on_starttls_answer(&mut self, now: Instant, el: &Element) {
        if el.is("proceed", ns::XMPP_TLS) {
            // Anything after <proceed/> in the same read came in plaintext after the switch:
            // an injection (the classic STARTTLS command-injection attack), never data.
            if !self
                .reader
                .buffered()
                .iter()
                .all(|b| b.is_ascii_whitespace())
            {
                self.fail(now, DisconnectReason::PlaintextAfterProceed, None);
                return;
            }
            // Certificates and SNI use the ASCII (A-label) form of the domain (RFC 6125).
            let domain = self.config.jid.domain();
            let server_name = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned());
            tracing::debug!(%server_name, "<proceed/>: the driver starts TLS");
            self.actions.push_back(Action::StartTls { server_name });
            self.phase = Phase::ExpectTls;
        } else if el.is("failure", ns::XMPP_TLS) {
            // RFC 6120 §5.4.2.2: the server closes the stream after <failure/>.
            self.fail(now, DisconnectReason::TlsRefused, None);
        } else {
            let what = format!("<{}/> ({}) instead of <proceed/>", el.name(), el.ns());
            self.protocol_violation(now, what);
        }
    }
}

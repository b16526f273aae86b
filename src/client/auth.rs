//! SASL authentication (RFC 6120 §6), around the mechanism guards in [`super::sasl`].

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;

use super::sasl::{self, AuthError, Offer, SaslCondition, SaslSession};
use super::{Client, DisconnectReason, Phase, TlsPolicy};
use crate::ns;
use crate::xml::{Builder, Element};

impl Client {
    /// Features with `<mechanisms/>` arrived on a stream we may authenticate on.
    pub(super) fn start_auth(&mut self, now: Instant) {
        let Some(features) = &self.features else {
            return;
        };
        let offer = Offer {
            mechanisms: &features.mechanisms,
            channel_binding_types: features.channel_binding_types.as_deref(),
        };
        let binding = self.tls.as_ref().and_then(|t| t.channel_binding.as_ref());
        let plaintext_ok = self.config.tls == TlsPolicy::DangerousPlaintextAllowed
            && self.config.dangerous_plain_without_tls;
        let started = sasl::choose(
            &offer,
            &self.config.sasl,
            binding,
            self.secure,
            plaintext_ok,
        )
        .and_then(|mechanism| {
            let username = self.config.jid.local().ok_or(AuthError::Credentials(
                "the JID has no localpart to authenticate",
            ))?;
            let offers_plus = features.mechanisms.iter().any(|m| m.ends_with("-PLUS"));
            let password = self.config.password.get();
            SaslSession::start_with_keys(
                mechanism,
                username,
                &password,
                binding,
                offers_plus,
                &self.config.sasl,
                self.scram_keys.as_ref(),
            )
        });
        match started {
            Ok((session, initial)) => {
                let mechanism = session.mechanism();
                tracing::debug!(
                    mechanism = mechanism.name(),
                    offered = ?features.mechanisms,
                    allowed = ?self.config.sasl.allowed,
                    channel_binding = ?binding.map(|b| b.type_name()),
                    secure = self.secure,
                    "SASL: the strongest mechanism both sides allow"
                );
                let mut auth =
                    Builder::new("auth", ns::XMPP_SASL).attr("mechanism", mechanism.name());
                // RFC 6120 §6.4.2: "=" is an empty initial response.
                auth = auth.text(if initial.is_empty() {
                    "=".to_owned()
                } else {
                    BASE64.encode(&initial)
                });
                self.send_element_internal(now, &auth);
                self.mechanism = Some(mechanism);
                self.phase = Phase::ExpectSasl(Box::new(session));
            }
            Err(e) => self.fail(now, DisconnectReason::Auth(e), None),
        }
    }

    /// `<challenge/>`, `<success/>` or `<failure/>`.
    pub(super) fn on_sasl(&mut self, now: Instant, el: &Element) {
        let Phase::ExpectSasl(session) = &mut self.phase else {
            return;
        };
        match el.name() {
            "challenge" => match decode(&el.text()).and_then(|p| session.challenge(&p)) {
                Ok(response) => {
                    let mut r = Builder::new("response", ns::XMPP_SASL);
                    if !response.is_empty() {
                        r = r.text(BASE64.encode(&response));
                    }
                    self.send_element_internal(now, &r);
                }
                Err(e) => self.abort_auth(now, e),
            },
            "success" => match decode(&el.text()).and_then(|p| session.success(&p)) {
                Ok(()) => {
                    tracing::debug!(
                        "SASL success: server signature verified; restarting the stream"
                    );
                    self.authenticated = true;
                    // Verified: a reconnect can skip PBKDF2 for the same salt and count, and
                    // accepts nothing weaker than this mechanism.
                    if let Some(keys) = session.derived_keys() {
                        self.scram_keys = Some(keys);
                    }
                    let mechanism = session.mechanism();
                    self.config.sasl.pinned.get_or_insert(mechanism);
                    // RFC 6120 §6.4.6: restart the stream; the bytes after <success/> belong
                    // to the new stream (so the reader keeps them).
                    self.reader.reset();
                    self.open_stream(now);
                }
                // The server believes we are in; we do not believe it is the server.
                Err(e) => self.fail(now, DisconnectReason::Auth(e), None),
            },
            "failure" => {
                let condition = el
                    .children()
                    .find(|c| c.ns() == ns::XMPP_SASL && c.name() != "text")
                    .map_or(SaslCondition::NotAuthorized, |c| {
                        SaslCondition::from_name(c.name())
                    });
                let text = el
                    .get_child("text", ns::XMPP_SASL)
                    .map(|t| t.text().into_owned());
                self.fail(
                    now,
                    DisconnectReason::Auth(AuthError::Failure { condition, text }),
                    None,
                );
            }
            other => {
                let what = format!("<{other}/> in the SASL namespace while authenticating");
                self.protocol_violation(now, what);
            }
        }
    }

    /// Our side gives up: `<abort/>` (RFC 6120 §6.4.4), then close.
    fn abort_auth(&mut self, now: Instant, error: AuthError) {
        self.send(
            now,
            Bytes::from_static(b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
        );
        self.fail(now, DisconnectReason::Auth(error), None);
    }
}

/// SASL payloads are base64; empty or "=" is no data.
fn decode(text: &str) -> Result<Vec<u8>, AuthError> {
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    BASE64
        .decode(text)
        .map_err(|_| AuthError::Malformed("SASL data from the server is not valid base64"))
}

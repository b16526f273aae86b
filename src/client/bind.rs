//! Resource binding (RFC 6120 §7) and the legacy session (RFC 3921 §3).

use std::time::Instant;

use super::session::Origin;
use super::stanza::{ErrorType, Iq, IqType, StanzaError, StanzaErrorCondition};
use super::{Client, DisconnectReason, Event, IqError, Phase};
use crate::jid::Jid;
use crate::ns;
use crate::xml::{Builder, Element};

impl Client {
    /// Features after authentication: bind a resource.
    pub(super) fn start_bind(&mut self, now: Instant) {
        if !self.features.as_ref().is_some_and(|f| f.bind) {
            let what = "no resource binding offered after authentication".to_owned();
            let condition = Some(crate::StreamErrorCondition::UnsupportedFeature);
            self.fail(now, DisconnectReason::Protocol(what), condition);
            return;
        }
        let resource = self
            .config
            .resource
            .clone()
            .or_else(|| self.config.jid.resource().map(str::to_owned));
        let mut bind = Builder::new("bind", ns::XMPP_BIND);
        if let Some(resource) = resource {
            bind = bind.child(Builder::new("resource", ns::XMPP_BIND).text(resource));
        }
        tracing::debug!("binding a resource");
        let id = self.send_negotiation_iq(now, IqType::Set, bind);
        self.phase = Phase::ExpectBind(id);
    }

    /// An IQ while binding or establishing the session.
    pub(super) fn on_bind_answer(&mut self, now: Instant, el: Element) {
        let expected = match &self.phase {
            Phase::ExpectBind(id) | Phase::ExpectSession(id) => id.clone(),
            _ => return,
        };
        let iq = match Iq::from_element(el) {
            Ok(iq) => iq,
            Err(e) => {
                return self.protocol_violation(now, format!("invalid IQ while binding: {e}"))
            }
        };
        // Only our server (no `from`, its domain, or our account) answers these.
        let from_server = iq
            .from
            .as_ref()
            .is_none_or(|f| f.as_str() == self.config.jid.domain() || *f == self.config.jid.bare());
        if iq.id != expected || !from_server || !matches!(iq.kind, IqType::Result | IqType::Error) {
            // Not the answer: a request gets the error it deserves, anything else is dropped.
            if matches!(iq.kind, IqType::Get | IqType::Set) {
                let error =
                    StanzaError::new(ErrorType::Wait, StanzaErrorCondition::UnexpectedRequest);
                self.send_element_internal(now, &iq.error_reply(error));
            }
            return;
        }
        let binding = matches!(self.phase, Phase::ExpectBind(_));
        if iq.kind == IqType::Error {
            let error = iq.error().unwrap_or_else(|| {
                StanzaError::new(ErrorType::Cancel, StanzaErrorCondition::UndefinedCondition)
            });
            let reason = if binding {
                DisconnectReason::Bind(error)
            } else {
                DisconnectReason::Session(error)
            };
            self.fail(now, reason, None);
            return;
        }
        if binding {
            let bound = iq
                .element
                .get_child("bind", ns::XMPP_BIND)
                .and_then(|b| b.get_child("jid", ns::XMPP_BIND))
                .map(|j| j.text().trim().to_owned());
            let jid = match bound.as_deref().map(Jid::parse) {
                Some(Ok(jid)) if jid.is_full() && jid.bare() == self.config.jid.bare() => jid,
                Some(Ok(jid)) => {
                    let what = format!(
                        "bound {jid}, which is not a full JID of {}",
                        self.config.jid.bare()
                    );
                    return self.protocol_violation(now, what);
                }
                Some(Err(e)) => {
                    return self.protocol_violation(now, format!("bound JID is invalid: {e}"))
                }
                None => return self.protocol_violation(now, "bind result without <jid/>".into()),
            };
            self.jid = Some(jid);
            if self.features.as_ref().is_some_and(|f| f.session_required()) {
                let session = Builder::new("session", ns::XMPP_SESSION);
                let id = self.send_negotiation_iq(now, IqType::Set, session);
                self.phase = Phase::ExpectSession(id);
                return;
            }
        }
        self.go_online(now);
    }

    fn go_online(&mut self, now: Instant) {
        let (Some(jid), Some(features)) = (self.jid.clone(), self.features.clone()) else {
            return;
        };
        tracing::debug!(%jid, "online");
        let resync = self.was_online;
        if resync {
            // A fresh session after a lost one: what died with the old session goes first
            // (before going online, so that the services' reactions to the failed requests
            // below cannot send anything yet): contacts' presence comes again, requests that
            // went out on the old connection will not be answered, the server assumes us
            // active.
            let broadcast = self.services.last_broadcast.take();
            self.services.connection_lost();
            self.services.last_broadcast = broadcast;
            let connection = self.reconnect.connection;
            for (id, owner) in self.session.clear_before(connection) {
                self.deliver_outcome(now, owner, id, Err(IqError::Disconnected));
            }
            self.csi.fresh_session();
        }
        self.phase = Phase::Online;
        self.last_recv = now;
        if resync {
            self.back_online(now, false);
        } else {
            self.reconnect.online_since = Some(now);
            self.emit(Event::Online { jid, features });
        }
        self.was_online = true;
        // XEP-0198 §3: enable after binding, before any stanza, so that all are counted.
        let sm = &self.config.stream_management;
        if sm.enabled && self.features.as_ref().is_some_and(|f| f.stream_management) {
            let enable = self.sm.enable(sm);
            self.send_element_internal(now, &enable);
        }
        // What the application sent while no connection was up goes after the
        // resynchronisation.
        let held = self.sm.take_held();
        self.start_services(now, resync);
        self.sync_csi(now);
        for (bytes, report) in held {
            if !self.is_online() {
                // The connection failed meanwhile: wait for the next one.
                self.sm.hold(bytes, report);
                continue;
            }
            let origin = if report {
                Origin::App
            } else {
                Origin::AppRequest
            };
            self.send_stanza(now, bytes, origin);
        }
        if !self.is_online() {
            return;
        }
        self.session.sent_now(self.reconnect.connection);
        for el in std::mem::take(&mut self.early_stanzas) {
            self.on_stanza(now, el);
        }
    }
}

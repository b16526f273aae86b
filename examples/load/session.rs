//! The task each session online runs: it reads the session's events until the end, counts
//! readiness, subscription steps and the messages received, and records what went wrong.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use xmpp_sansio::client::caps::CapsEvent;
use xmpp_sansio::client::roster::RosterEvent;
use xmpp_sansio::client::stanza::{MessageType, PresenceType};
use xmpp_sansio::client::{DisconnectReason, Event};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::tokio::Events;

use crate::{add, Phase, Shared};

/// What a subscription goes through, as the subscriber sees it.
#[derive(Clone, Copy)]
enum Step {
    Approved,
    Presence,
    Capabilities,
}

/// One session's events until it ends: readiness, subscriptions, messages received (each
/// body once: another copy is a duplicate), and anything that went wrong.
pub async fn read_events(index: usize, mut events: Events, shared: Arc<Shared>) {
    let c = &shared.counts;
    let mine: HashSet<usize> = shared.contacts_of(index).collect();
    let (mut roster, mut server_info) = (false, false);
    // Per contact, the steps seen (indexed by `Step`).
    let mut steps: HashMap<usize, [bool; 3]> = HashMap::new();
    let mut note = |jid: &Jid, step: Step| {
        let Some(contact) = shared.index_of(jid).filter(|j| mine.contains(j)) else {
            return;
        };
        let done = steps.entry(contact).or_default();
        if !std::mem::replace(&mut done[step as usize], true) {
            add(match step {
                Step::Approved => &c.subscribed,
                Step::Presence => &c.presences,
                Step::Capabilities => &c.capabilities,
            });
            if done.iter().all(|d| *d) {
                add(&c.settled);
            }
        }
    };
    let mut received = HashSet::new();
    while let Some(event) = events.next().await {
        let was_ready = roster && server_info;
        match event {
            Event::Roster(RosterEvent::Loaded { items, .. }) => {
                roster = true;
                // A server used before, with the same prefix: subscriptions already there.
                for item in items.iter().filter(|i| i.subscription.to()) {
                    note(&item.jid, Step::Approved);
                }
            }
            Event::Roster(RosterEvent::Updated { item, .. }) if item.subscription.to() => {
                note(&item.jid, Step::Approved)
            }
            Event::Roster(RosterEvent::LoadFailed(e)) => shared.fail(format!("roster: {e}")),
            Event::ServerInfo(_) => server_info = true,
            Event::Presence(p) if p.kind == PresenceType::Available => {
                if let Some(from) = &p.from {
                    note(from, Step::Presence);
                }
            }
            Event::Caps(CapsEvent::Resolved { jid, .. }) => note(&jid, Step::Capabilities),
            Event::Caps(CapsEvent::Failed { reason, .. }) => {
                shared.fail(format!("capabilities: {reason}"))
            }
            Event::Message(m) if m.kind == MessageType::Error => {
                let why = m.error().map(|e| e.condition.to_string());
                shared.fail(format!("message bounced: {}", why.unwrap_or_default()));
            }
            Event::Message(m) if m.carbon.is_none() => {
                let Some(body) = m.body() else { continue };
                let sender = m.from.as_ref().and_then(|f| shared.index_of(f));
                let mut words = body.strip_prefix("load ").unwrap_or_default().split(' ');
                let mut number = || words.next().and_then(|w| w.parse::<usize>().ok());
                match (sender, number(), number()) {
                    (Some(sender), Some(from), Some(seq))
                        if sender == from && shared.contacts_of(from).any(|c| c == index) =>
                    {
                        if received.insert((from, seq)) {
                            add(&c.received)
                        } else {
                            add(&c.duplicates)
                        }
                    }
                    _ => shared.fail("message: not one this run sent to this session"),
                }
            }
            Event::Reconnecting { reason, .. } => shared.fail(format!(
                "{}: connection lost: {reason}",
                shared.phase().name()
            )),
            Event::NotDelivered(_) => shared.fail(format!(
                "{}: a stanza may not have been delivered (connection lost)",
                shared.phase().name()
            )),
            Event::Disconnected { reason } => {
                if reason == DisconnectReason::Closed && shared.phase() == Phase::Close {
                    add(&c.closed);
                } else {
                    let phase = shared.phase().name();
                    shared.fail(format!("{phase}: disconnected: {reason}"));
                }
            }
            _ => {}
        }
        if !was_ready && roster && server_info {
            add(&c.ready);
        }
    }
}

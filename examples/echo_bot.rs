//! A bot on the tokio adapter, in the shape most bots take: log in (the core fetches the
//! roster and announces presence by itself), publish a vCard, answer disco#info, accept
//! subscriptions, and echo every chat message. Exits 0 when the session ends cleanly, 1
//! otherwise.
//!
//! ```text
//! cargo run --features tokio --example echo_bot -- --jid bot@localhost --password secret
//! ```

mod common;

use xmpp_sansio::client::presence::SubscriptionPolicy;
use xmpp_sansio::client::roster::RosterEvent;
use xmpp_sansio::client::stanza::StanzaErrorCondition::ItemNotFound;
use xmpp_sansio::client::stanza::{IqType, MessageType, OutgoingPresence};
use xmpp_sansio::client::{DisconnectReason, Event};
use xmpp_sansio::net::tokio::connect;
use xmpp_sansio::{ns, xml::Builder};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = common::parse(&common::usage("echo_bot"), &[]);
    // disco#info requests are the bot's to answer, from the first stanza on; every
    // subscription request is approved; this is the presence announced once online.
    let mut config = args.config().handle_iq_namespace(ns::DISCO_INFO);
    config.presence.subscriptions = SubscriptionPolicy::AcceptAll;
    config.presence.initial = Some(OutgoingPresence::available().status("I repeat what you say"));
    let (bot, mut events) = connect(config, &args.options()?).await?;

    let vcard = Builder::new("vCard", ns::VCARD).text_child("FN", "Echo Bot");
    bot.request(None, IqType::Set, vcard).await?;
    eprintln!("echoing as {}", bot.jid());

    while let Some(event) = events.next().await {
        match event {
            Event::Roster(RosterEvent::Loaded { items, .. }) => {
                eprintln!("roster: {} contacts", items.len());
            }
            Event::IqRequest(iq) => {
                // Only the bot itself is described; nodes (caps) are not.
                let reply = match iq.payload() {
                    Some(query) if query.attr("node").is_none() => Ok(Some(disco_info())),
                    _ => Err(ItemNotFound.into()),
                };
                bot.reply_iq(&iq, reply).await?;
            }
            Event::Message(m) if matches!(m.kind, MessageType::Chat | MessageType::Normal) => {
                // Carbons of our other resources' messages are not echoed.
                if let (Some(from), Some(body), None) = (&m.from, m.body(), m.carbon) {
                    bot.send_message(from, m.kind, &body).await?;
                }
            }
            Event::Disconnected { reason } => {
                eprintln!("disconnected: {reason}");
                if !matches!(
                    reason,
                    DisconnectReason::Closed | DisconnectReason::ServerClosed
                ) {
                    return Err(reason.into());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// XEP-0030: who the bot is and what it does.
fn disco_info() -> Builder {
    let identity = Builder::new("identity", ns::DISCO_INFO)
        .attr("category", "client")
        .attr("type", "bot")
        .attr("name", "Echo Bot");
    let feature = |var| Builder::new("feature", ns::DISCO_INFO).attr("var", var);
    Builder::new("query", ns::DISCO_INFO)
        .child(identity)
        .child(feature(ns::DISCO_INFO))
}

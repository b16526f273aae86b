//! A bot on the tokio adapter, in the shape most bots take: log in (the core fetches the
//! roster, announces presence with its caps and answers disco#info by itself), say it is a
//! bot, publish a vCard, accept subscriptions, and echo every chat message. Exits 0 when the session ends cleanly, 1
//! otherwise.
//!
//! ```text
//! cargo run --features tokio --example echo_bot -- --jid bot@localhost --password secret
//! ```

mod common;

use xmpp_sansio::client::disco::Identity;
use xmpp_sansio::client::presence::SubscriptionPolicy;
use xmpp_sansio::client::roster::RosterEvent;
use xmpp_sansio::client::stanza::{IqType, MessageType, OutgoingPresence};
use xmpp_sansio::client::{DisconnectReason, Event};
use xmpp_sansio::net::tokio::connect;
use xmpp_sansio::{ns, xml::Builder};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let args = common::parse(&common::usage("echo_bot"), &[]);
    // The bot describes itself as one (disco#info answers and caps say so); every
    // subscription request is approved; this is the presence announced once online.
    let mut config = args.config();
    config.disco.identities = vec![Identity::new("client", "bot").with_name("Echo Bot")];
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

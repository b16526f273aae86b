//! An echo bot over the tokio adapter: answers every chat message with the same body, and
//! accepts every subscription request. Runs until killed or disconnected.
//!
//! ```text
//! cargo run --features tokio --example echo_bot -- --jid bot@localhost --password secret
//! ```

mod common;

use std::process::exit;

use xmpp_sansio::client::stanza::{MessageType, PresenceType};
use xmpp_sansio::client::Event;
use xmpp_sansio::net::tokio::connect;
use xmpp_sansio::xml::Builder;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let usage = format!(
        "usage: echo_bot --jid JID --password PASSWORD [options]\n\noptions:\n{}",
        common::COMMON_USAGE
    );
    let args = common::parse(&usage, &[]);
    let options = args.options().unwrap_or_else(|e| fail(&e));
    let (handle, mut events) = connect(args.config(), &options)
        .await
        .unwrap_or_else(|e| fail(&e));
    handle
        .send_presence(Builder::new("presence", "jabber:client"))
        .await
        .unwrap_or_else(|e| fail(&e));
    eprintln!("echoing as {}", handle.jid());
    while let Some(event) = events.next().await {
        match event {
            Event::Message(m) if matches!(m.kind, MessageType::Chat | MessageType::Normal) => {
                if let (Some(from), Some(body)) = (&m.from, m.body()) {
                    if let Err(e) = handle.send_message(from, m.kind, &body).await {
                        eprintln!("could not answer {from}: {e}");
                    }
                }
            }
            Event::Presence(p) if p.kind == PresenceType::Subscribe => {
                if let Some(from) = &p.from {
                    let answer = Builder::new("presence", "jabber:client")
                        .attr("to", from.bare().as_str().to_owned())
                        .attr("type", "subscribed");
                    let _ = handle.send_presence(answer).await;
                }
            }
            Event::Disconnected { reason } => {
                eprintln!("disconnected: {reason}");
                exit(if reason == xmpp_sansio::client::DisconnectReason::Closed {
                    0
                } else {
                    1
                });
            }
            _ => {}
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    exit(1)
}

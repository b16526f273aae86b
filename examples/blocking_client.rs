//! The blocking adapter: log in (the client fetches the roster and announces presence
//! itself), optionally send one message, print what arrives for a while, close. No async
//! runtime in sight.
//!
//! ```text
//! cargo run --features blocking --example blocking_client -- --jid alice@localhost \
//!     --password secret --to bob@localhost --message hello --wait 5
//! ```

mod common;

use std::process::exit;
use std::time::{Duration, Instant};

use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::Event;
use xmpp_sansio::net::blocking::{Connection, Elapsed};

fn main() {
    common::init_logging();
    let usage = format!(
        "usage: blocking_client --jid JID --password PASSWORD [--to JID --message TEXT] [--wait SECONDS]\n\noptions:\n{}",
        common::COMMON_USAGE
    );
    let args = common::parse(&usage, &["--to", "--message", "--wait"]);
    let options = args.options().unwrap_or_else(|e| fail(&e));
    let conn = Connection::connect(args.config(), &options).unwrap_or_else(|e| fail(&e));
    println!("online as {}", conn.jid());
    if let (Some(to), Some(text)) = (&args.to, &args.message) {
        conn.send_message(to, MessageType::Chat, text)
            .unwrap_or_else(|e| fail(&e));
        println!("-> {to}: {text}");
    }
    let until = Instant::now() + Duration::from_secs(args.wait.unwrap_or(3));
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match conn.next_event_timeout(left) {
            Err(Elapsed) => break,
            Ok(None) => exit(1),
            Ok(Some(Event::Message(m))) => {
                let from = m.from.as_ref().map_or("", |j| j.as_str()).to_owned();
                println!("{from}: {}", m.body().unwrap_or_default());
            }
            Ok(Some(Event::Presence(p))) => {
                let from = p.from.as_ref().map_or("", |j| j.as_str()).to_owned();
                let kind = p.kind.name().unwrap_or("available");
                println!("presence: {from} is {kind}");
            }
            Ok(Some(Event::Disconnected { reason })) => fail(&reason),
            Ok(Some(_)) => {}
        }
    }
    conn.close().unwrap_or_else(|e| fail(&e));
    println!("closed");
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {e}");
    exit(1)
}

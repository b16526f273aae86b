//! A command-line chat client over the tokio adapter.
//!
//! Logs in, prints the roster and what arrives, and sends each line of stdin to `--to`.
//! End of stdin closes the session. Exit status: 0 after a clean close, 1 on any error
//! (the message says which), 2 on bad usage.
//!
//! ```text
//! cargo run --features tokio --example chat -- --jid alice@localhost --password secret \
//!     --host 127.0.0.1 --port 5222 --ca-file server.pem --to bob@localhost
//! ```

mod common;

use std::process::exit;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use xmpp_sansio::client::stanza::{Iq, IqType, MessageType, OutgoingPresence};
use xmpp_sansio::client::{DisconnectReason, Event};
use xmpp_sansio::net::tokio::{connect, Handle};
use xmpp_sansio::ns;
use xmpp_sansio::xml::Builder;

const USAGE: &str = "usage: chat --jid JID --password PASSWORD [options]

Logs in, prints the roster and incoming messages, and sends each line of stdin to --to.

options:
  --to CONTACT              where lines from stdin go
  --keepalive SECONDS       send a whitespace keepalive after this long without sending
  --json                    one JSON object per event on stdout (for scripts)
  --register                register the account first (XEP-0077; not implemented yet)
";

/// How the example reports: human-readable lines or one JSON object per line.
struct Out {
    json: bool,
}

impl Out {
    fn emit(&self, value: serde_json::Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }

    fn fail(&self, what: &str, error: &dyn std::fmt::Display) -> ! {
        self.emit(
            json!({"event": "error", "what": what, "error": error.to_string()}),
            || format!("error: {what}: {error}"),
        );
        eprintln!("error: {what}: {error}");
        exit(1)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    common::init_logging();
    let usage = format!("{USAGE}{}", common::COMMON_USAGE);
    let args = common::parse(&usage, &["--to", "--keepalive", "--json", "--register"]);
    let out = Out { json: args.json };
    if args.register {
        eprintln!("error: --register: in-band registration (XEP-0077) is not implemented yet");
        exit(2);
    }
    let options = args
        .options()
        .unwrap_or_else(|e| out.fail("configuration", &e));
    let (handle, mut events) = connect(args.config(), &options)
        .await
        .unwrap_or_else(|e| out.fail("connecting", &e));

    let jid = handle.jid();
    out.emit(json!({"event": "online", "jid": jid.as_str()}), || {
        format!("online as {jid}")
    });

    // The roster first (RFC 6121 §2.2), then say we are here.
    let roster = handle
        .request(None, IqType::Get, Builder::new("query", ns::ROSTER))
        .await
        .unwrap_or_else(|e| out.fail("asking for the roster", &e));
    show_roster(&roster, &out);
    handle
        .send_presence(OutgoingPresence::available())
        .await
        .unwrap_or_else(|e| out.fail("sending presence", &e));

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            // Both are cancel-safe: nothing is lost when the other branch wins.
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => send_line(&handle, &args.to, &line, &out).await,
                Ok(None) => {
                    stdin_open = false;
                    let _ = handle.close().await;
                }
                Err(e) => out.fail("reading stdin", &e),
            },
            event = events.next() => match event {
                Some(event) => on_event(event, &out),
                None => exit(1),
            },
        }
    }
}

async fn send_line(handle: &Handle, to: &Option<xmpp_sansio::jid::Jid>, line: &str, out: &Out) {
    let Some(to) = to else {
        eprintln!("(no --to given: line not sent)");
        return;
    };
    if line.is_empty() {
        return;
    }
    match handle.send_message(to, MessageType::Chat, line).await {
        Ok(id) => out.emit(
            json!({"event": "sent", "to": to.as_str(), "id": id, "body": line}),
            || format!("-> {to}: {line}"),
        ),
        Err(e) => out.fail("sending a message", &e),
    }
}

fn show_roster(iq: &Iq, out: &Out) {
    let items: Vec<_> = iq
        .payload()
        .map(|q| {
            q.children()
                .filter(|c| c.name() == "item")
                .map(|c| {
                    json!({
                        "jid": c.attr("jid").unwrap_or_default(),
                        "name": c.attr("name"),
                        "subscription": c.attr("subscription").unwrap_or("none".into()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let human = || {
        let mut s = format!("roster: {} contact(s)", items.len());
        for item in &items {
            s.push_str(&format!(
                "\n  {} ({})",
                item["jid"].as_str().unwrap_or_default(),
                item["subscription"].as_str().unwrap_or_default()
            ));
        }
        s
    };
    out.emit(json!({"event": "roster", "items": items}), human);
}

fn on_event(event: Event, out: &Out) {
    match event {
        Event::Message(m) => {
            let from = m.from.as_ref().map_or("", |j| j.as_str()).to_owned();
            if let Some(body) = m.body() {
                out.emit(
                    json!({"event": "message", "from": from, "type": m.kind.name(), "body": body}),
                    || format!("{from}: {body}"),
                );
            }
        }
        Event::Presence(p) => {
            let from = p.from.as_ref().map_or("", |j| j.as_str()).to_owned();
            let kind = p.kind.name().unwrap_or("available");
            out.emit(
                json!({"event": "presence", "from": from, "type": kind, "status": p.status}),
                || format!("presence: {from} is {kind}"),
            );
        }
        Event::Disconnected { reason } => {
            let clean = reason == DisconnectReason::Closed;
            out.emit(
                json!({"event": "disconnected", "reason": reason.to_string(), "clean": clean}),
                || format!("disconnected: {reason}"),
            );
            if clean {
                exit(0);
            }
            eprintln!("error: disconnected: {reason}");
            exit(1);
        }
        _ => {}
    }
}

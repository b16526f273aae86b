//! A command-line chat client over the tokio adapter.
//!
//! Logs in, prints the roster (with each contact's subscription, presence and vCard name)
//! and what arrives: messages (carbons marked), presences, subscription requests, roster
//! changes, contacts' avatars (hash, type, size). Lines from stdin are commands (`/add JID
//! [name]`, `/remove JID`, `/approve JID`, `/deny JID`, `/status [chat|away|xa|dnd|online]
//! [text]`, `/avatar PATH`) or messages to `--to`. End of
//! stdin closes the session. Exit status: 0 after a clean close, 1 on any error (the message
//! says which), 2 on bad usage.
//!
//! ```text
//! cargo run --features tokio --example chat -- --jid alice@localhost --password secret \
//!     --host 127.0.0.1 --port 5222 --ca-file server.pem --to bob@localhost
//! ```

mod common;

use std::process::exit;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use xmpp_sansio::client::avatar::AvatarEvent;
use xmpp_sansio::client::carbons::Carbon;
use xmpp_sansio::client::pep_avatar::AvatarImage;
use xmpp_sansio::client::presence::SubscriptionEvent;
use xmpp_sansio::client::register::{Register, RegistrationEvent};
use xmpp_sansio::client::roster::{RosterEvent, RosterItem};
use xmpp_sansio::client::stanza::{MessageType, OutgoingPresence, Show};
use xmpp_sansio::client::{DisconnectReason, Event};
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::tokio::{connect, Handle};

const USAGE: &str = "usage: chat --jid JID --password PASSWORD [options]

Logs in, prints the roster and what arrives, and reads stdin: commands
  /add JID [NAME]   add a contact and ask for its presence
  /remove JID       remove a contact
  /approve JID      let JID see our presence      /deny JID   refuse
  /status [chat|away|xa|dnd|online] [TEXT]
  /avatar PATH      publish this image as our avatar (vCard and PEP)
and any other line is a message to --to.

options:
  --to CONTACT              where lines from stdin go
  --keepalive SECONDS       send a whitespace keepalive after this long without sending
  --json                    one JSON object per event on stdout (for scripts)
  --register                create the account first (in-band registration, XEP-0077)
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
    let options = args
        .options()
        .unwrap_or_else(|e| out.fail("configuration", &e));
    // The core fetches the roster and announces our presence once online.
    let mut config = args.config();
    if args.register {
        // Registered with the JID and password given, then logged in on the same stream.
        config.register = Some(Register::Automatic { then_login: true });
    }
    let (handle, mut events) = connect(config, &options)
        .await
        .unwrap_or_else(|e| out.fail("connecting", &e));
    let jid = handle.jid();
    out.emit(json!({"event": "online", "jid": jid.as_str()}), || {
        format!("online as {jid}")
    });

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            // Both are cancel-safe: nothing is lost when the other branch wins.
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => on_line(&handle, &args.to, line.trim(), &out).await,
                Ok(None) => {
                    stdin_open = false;
                    let _ = handle.close().await;
                }
                Err(e) => out.fail("reading stdin", &e),
            },
            event = events.next() => match event {
                Some(event) => on_event(&handle, event, &out).await,
                None => exit(1),
            },
        }
    }
}

/// A command, or a message to `--to`.
async fn on_line(handle: &Handle, to: &Option<Jid>, line: &str, out: &Out) {
    if line.is_empty() {
        return;
    }
    let mut words = line.split_whitespace();
    let command = line.starts_with('/').then(|| words.next()).flatten();
    let contact = || -> Option<Jid> {
        let jid = words.clone().next()?.parse();
        jid.map_err(|e| eprintln!("not a JID: {e}")).ok()
    };
    let done = match command {
        Some("/add") => {
            let Some(contact) = contact() else { return };
            let name: Vec<&str> = words.clone().skip(1).collect();
            let mut item = RosterItem::new(&contact);
            if !name.is_empty() {
                item = item.with_name(name.join(" "));
            }
            match handle.roster_set(item).await {
                Ok(()) => handle.subscribe(&contact).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Some("/remove") => match contact() {
            Some(contact) => handle
                .roster_remove(&contact)
                .await
                .map_err(|e| e.to_string()),
            None => return,
        },
        Some("/approve") => match contact() {
            Some(contact) => handle.approve(&contact).await.map_err(|e| e.to_string()),
            None => return,
        },
        Some("/deny") => match contact() {
            Some(contact) => handle.deny(&contact).await.map_err(|e| e.to_string()),
            None => return,
        },
        Some("/status") => {
            let mut presence = OutgoingPresence::available();
            let mut rest: Vec<&str> = words.collect();
            let show = match rest.first().copied() {
                Some("online") => None,
                Some(word) => Show::from_name(word),
                None => None,
            };
            if show.is_some() || rest.first() == Some(&"online") {
                rest.remove(0);
            }
            if let Some(show) = show {
                presence = presence.show(show);
            }
            if !rest.is_empty() {
                presence = presence.status(rest.join(" "));
            }
            handle
                .send_presence(presence)
                .await
                .map_err(|e| e.to_string())
        }
        Some("/avatar") => {
            let Some(path) = words.next() else {
                eprintln!("usage: /avatar PATH");
                return;
            };
            // Both ways: in our vCard (XEP-0153) and over PEP (XEP-0084).
            match std::fs::read(path) {
                Ok(image) => {
                    let kind = image_type(path);
                    let vcard = handle.set_avatar(Some((kind, &image))).await;
                    let pep = handle
                        .publish_avatar(Some(AvatarImage::new(kind, &image)))
                        .await;
                    vcard.and(pep).map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("reading {path}: {e}")),
            }
        }
        Some(other) => {
            eprintln!("unknown command {other} (/add, /remove, /approve, /deny, /status, /avatar)");
            return;
        }
        None => return send_line(handle, to, line, out).await,
    };
    match done {
        Ok(()) => out.emit(json!({"event": "done", "command": line}), || {
            format!("ok: {line}")
        }),
        Err(e) => out.emit(
            json!({"event": "failed", "command": line, "error": e}),
            || format!("failed: {line}: {e}"),
        ),
    }
}

/// The media type of an image file, by its extension.
fn image_type(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    match lower.rsplit('.').next() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// Each contact's name to show, from its vCard (FN, else NICKNAME), fetched in the
/// background so that the session goes on meanwhile.
fn print_vcard_names(handle: &Handle, contacts: Vec<Jid>, json: bool) {
    let handle = handle.clone();
    tokio::spawn(async move {
        let out = Out { json };
        for jid in contacts {
            let name = match handle.vcard(Some(&jid)).await {
                Ok(card) => card.display_name(),
                Err(_) => None,
            };
            out.emit(
                json!({"event": "vcard", "jid": jid.as_str(), "name": name}),
                || format!("{jid} is {}", name.as_deref().unwrap_or("(no vCard name)")),
            );
        }
    });
}

async fn send_line(handle: &Handle, to: &Option<Jid>, line: &str, out: &Out) {
    let Some(to) = to else {
        eprintln!("(no --to given: line not sent)");
        return;
    };
    match handle.send_message(to, MessageType::Chat, line).await {
        Ok(id) => out.emit(
            json!({"event": "sent", "to": to.as_str(), "id": id, "body": line}),
            || format!("-> {to}: {line}"),
        ),
        Err(e) => out.fail("sending a message", &e),
    }
}

fn item_json(item: &RosterItem) -> Value {
    json!({
        "jid": item.jid.as_str(),
        "name": item.name,
        "subscription": item.subscription.name(),
        "ask": item.ask,
        "groups": item.groups,
    })
}

async fn on_event(handle: &Handle, event: Event, out: &Out) {
    match event {
        Event::Roster(RosterEvent::Loaded { items, version, cached }) => {
            let list: Vec<Value> = items.iter().map(item_json).collect();
            print_vcard_names(handle, items.iter().map(|i| i.jid.clone()).collect(), out.json);
            out.emit(
                json!({"event": "roster", "items": list, "version": version, "cached": cached}),
                || {
                    let mut s = format!("roster: {} contact(s)", items.len());
                    for item in &items {
                        let pending = if item.ask { ", asked" } else { "" };
                        s.push_str(&format!("\n  {} ({}{pending})", item.jid, item.subscription.name()));
                    }
                    s
                },
            );
        }
        Event::Roster(RosterEvent::Updated { item, .. }) => out.emit(
            json!({"event": "roster-update", "item": item_json(&item)}),
            || format!("roster: {} is now {}", item.jid, item.subscription.name()),
        ),
        Event::Roster(RosterEvent::Removed { jid, .. }) => out.emit(
            json!({"event": "roster-remove", "jid": jid.as_str()}),
            || format!("roster: {jid} removed"),
        ),
        Event::Subscription(SubscriptionEvent::Requested { from, status, answered }) => out.emit(
            json!({"event": "subscription-request", "from": from.as_str(), "status": status, "answered": answered}),
            || format!("{from} asks to see your presence (/approve {from} or /deny {from})"),
        ),
        Event::Subscription(other) => out.emit(
            json!({"event": "subscription", "detail": format!("{other:?}")}),
            || format!("subscription: {other:?}"),
        ),
        Event::Message(m) => {
            let from = m.from.as_ref().map_or("", |j| j.as_str()).to_owned();
            let carbon = m.carbon.map(|c| match c {
                Carbon::Received => "received",
                Carbon::Sent => "sent",
            });
            if let Some(body) = m.body() {
                out.emit(
                    json!({"event": "message", "from": from, "type": m.kind.name(), "body": body, "carbon": carbon}),
                    || match carbon {
                        Some("sent") => format!("(sent elsewhere) -> {:?}: {body}", m.to),
                        Some(_) => format!("(received elsewhere) {from}: {body}"),
                        None => format!("{from}: {body}"),
                    },
                );
            }
        }
        Event::Presence(p) => {
            let Some(from) = p.from.clone() else { return };
            let kind = p.kind.name().unwrap_or("available");
            // The contact's best resource now, from the presence map.
            let best = handle.best_presence(&from).await;
            let best_json = best.as_ref().map(|b| {
                json!({"jid": b.jid.as_str(), "show": b.show.map(|s| s.name()), "status": b.status})
            });
            out.emit(
                json!({"event": "presence", "from": from.as_str(), "type": kind, "status": p.status, "best": best_json}),
                || match &best {
                    Some(b) => format!(
                        "presence: {from} is {kind}; {} best at {} ({})",
                        from.bare(),
                        b.jid,
                        b.show.map_or("available", |s| s.name())
                    ),
                    None => format!("presence: {from} is {kind}; {} is offline", from.bare()),
                },
            );
        }
        Event::Registration(RegistrationEvent::Registered { jid }) => out.emit(
            json!({"event": "registered", "jid": jid.as_str()}),
            || format!("registered {jid}"),
        ),
        Event::Avatar(AvatarEvent::Updated { jid, avatar }) => out.emit(
            json!({"event": "avatar", "jid": jid.as_str(), "hash": avatar.hash, "type": avatar.mime, "size": avatar.data.len()}),
            || format!("avatar: {jid} shows {} ({} bytes, {})", avatar.mime, avatar.data.len(), avatar.hash),
        ),
        Event::Avatar(AvatarEvent::Removed { jid }) => out.emit(
            json!({"event": "avatar-removed", "jid": jid.as_str()}),
            || format!("avatar: {jid} has none now"),
        ),
        Event::Avatar(AvatarEvent::Offered { jid, offered }) => out.emit(
            json!({"event": "avatar-offered", "jid": jid.as_str(), "types": offered.iter().map(|i| i.mime.as_str()).collect::<Vec<_>>()}),
            || format!("avatar: {jid} offers {} image(s)", offered.len()),
        ),
        Event::Avatar(AvatarEvent::Failed { jid, hash, reason }) => out.emit(
            json!({"event": "avatar-failed", "jid": jid.as_str(), "hash": hash, "reason": reason.to_string()}),
            || format!("avatar: {jid}'s {hash} not shown: {reason}"),
        ),
        Event::Reconnecting { attempt, delay, reason } => out.emit(
            json!({"event": "reconnecting", "attempt": attempt, "delay_ms": delay.as_millis() as u64, "reason": reason.to_string()}),
            || format!("connection lost ({reason}): reconnecting in {delay:?} (attempt {attempt})"),
        ),
        Event::Reconnected { jid, resumed } => out.emit(
            json!({"event": "reconnected", "jid": jid.as_str(), "resumed": resumed}),
            || format!("back online as {jid} ({})", if resumed { "session resumed" } else { "fresh session" }),
        ),
        Event::NotDelivered(stanza) => out.emit(
            json!({"event": "not-delivered", "stanza": stanza.name(), "id": stanza.attr("id").map(|i| i.into_owned())}),
            || format!("may not have been delivered: <{}> {:?}", stanza.name(), stanza.attr("id")),
        ),
        Event::CarbonRefused { from } => out.emit(
            json!({"event": "carbon-refused", "from": from.as_ref().map(Jid::as_str)}),
            || format!("a forged carbon from {from:?} was dropped"),
        ),
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
